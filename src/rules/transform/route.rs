//! `transform: route`: URI → route (query dropped, ids → `:id`, user patterns first).

/// A route pattern such as `/mail/read/:id` or `/drive/*`.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    text: Box<[u8]>,
    segs: Vec<Seg>,
}

#[derive(Debug, Clone)]
enum Seg {
    Lit(Box<[u8]>),
    Any,
    Rest,
}

impl RoutePattern {
    /// Compile; `:name` matches one segment, a final `*` matches the rest.
    pub fn new(p: &str) -> Result<RoutePattern, String> {
        if !p.starts_with('/') {
            return Err(format!("route pattern {p:?} must start with '/'"));
        }
        if p.chars().any(char::is_control) {
            return Err(format!("route pattern {p:?} has a control character"));
        }
        let parts: Vec<&str> = p[1..].split('/').collect();
        let mut segs = Vec::new();
        for (i, s) in parts.iter().enumerate() {
            segs.push(if *s == "*" {
                if i + 1 != parts.len() {
                    return Err(format!("route pattern {p:?}: '*' is only allowed last"));
                }
                Seg::Rest
            } else if s.starts_with(':') {
                Seg::Any
            } else {
                Seg::Lit(s.as_bytes().into())
            });
        }
        Ok(RoutePattern {
            text: p.as_bytes().into(),
            segs,
        })
    }

    fn matches(&self, path: &[u8]) -> bool {
        let mut it = path
            .strip_prefix(b"/")
            .unwrap_or(path)
            .split(|b| *b == b'/');
        for seg in &self.segs {
            match seg {
                Seg::Rest => return true,
                Seg::Any => {
                    if it.next().is_none_or(|s| s.is_empty()) {
                        return false;
                    }
                }
                Seg::Lit(l) => {
                    if it.next() != Some(&**l) {
                        return false;
                    }
                }
            }
        }
        it.next().is_none()
    }
}

/// Most segments kept in a route; deeper paths end in `/*`.
const MAX_SEGMENTS: usize = 8;

/// Path → route: query and fragment dropped, `scheme://host` dropped, user patterns first,
/// then numeric, UUID, hex, long-token and percent-encoded segments (and such parts of dotted
/// segments, `app.3fa9c1d2.js` → `app.:id.js`) become `:id`.
pub fn route(uri: &[u8], patterns: &[RoutePattern], out: &mut Vec<u8>) {
    let end = memchr::memchr2(b'?', b'#', uri).unwrap_or(uri.len());
    let mut path = &uri[..end];
    for scheme in [&b"http://"[..], b"https://"] {
        if path.len() > scheme.len() && path[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &path[scheme.len()..];
            path = match memchr::memchr(b'/', rest) {
                Some(i) => &rest[i..],
                None => b"/",
            };
        }
    }
    if path == b"*" {
        out.extend_from_slice(b"*");
        return;
    }
    if path.first() != Some(&b'/') {
        out.extend_from_slice(if path.is_empty() {
            b":none"
        } else {
            b":invalid"
        });
        return;
    }
    for p in patterns {
        if p.matches(path) {
            out.extend_from_slice(&p.text);
            return;
        }
    }
    if path == b"/" {
        out.push(b'/');
        return;
    }
    for (n, seg) in path[1..].split(|b| *b == b'/').enumerate() {
        if n == MAX_SEGMENTS {
            out.extend_from_slice(b"/*");
            return;
        }
        out.push(b'/');
        if memchr::memchr(b'.', seg).is_some() {
            for (i, part) in seg.split(|b| *b == b'.').enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(if is_id(part) { b":id" } else { part });
            }
        } else if is_id(seg) {
            out.extend_from_slice(b":id");
        } else {
            out.extend_from_slice(seg);
        }
    }
}

/// An identifier-like segment: all digits, percent-encoded, non-ASCII or with a control byte, a
/// UUID, hex of 8+ with a digit, a token of 16+ with a digit, or 6+ bytes at least half digits.
fn is_id(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    // One pass for every class (this runs for each path segment of every line).
    let (mut digits, mut hex, mut token) = (0, true, true);
    for &b in s {
        if b.is_ascii_digit() {
            digits += 1;
        } else if b == b'%' || !b.is_ascii() || b.is_ascii_control() {
            // Control bytes too: a route never carries them into a label value.
            return true;
        } else {
            hex &= b.is_ascii_hexdigit();
            token &= b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'~');
        }
    }
    digits == s.len()
        || (s.len() == 36 && is_uuid(s))
        || (s.len() >= 8 && digits > 0 && hex)
        || (s.len() >= 16 && digits > 0 && token)
        || (s.len() >= 6 && digits * 2 >= s.len())
}

fn is_uuid(s: &[u8]) -> bool {
    s.iter().enumerate().all(|(i, b)| {
        if matches!(i, 8 | 13 | 18 | 23) {
            *b == b'-'
        } else {
            b.is_ascii_hexdigit()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uri: &str, pats: &[&str]) -> String {
        let pats: Vec<RoutePattern> = pats.iter().map(|p| RoutePattern::new(p).unwrap()).collect();
        let mut out = Vec::new();
        route(uri.as_bytes(), &pats, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn routes_collapse_ids_and_drop_queries() {
        assert_eq!(
            r("/mail/view/123456?page=2&sort=date", &[]),
            "/mail/view/:id"
        );
        assert_eq!(
            r("/api/v1/approval/items/42", &[]),
            "/api/v1/approval/items/:id"
        );
        assert_eq!(
            r("/drive/550e8400-e29b-41d4-a716-446655440000/download", &[]),
            "/drive/:id/download"
        );
        assert_eq!(
            r("/static/mail/app.3fa9c1d2.js", &[]),
            "/static/mail/app.:id.js"
        );
        assert_eq!(r("/static/img/logo.png", &[]), "/static/img/logo.png");
        assert_eq!(r("/s/eyJhbGciOiJIUzI1NiJ9abc123", &[]), "/s/:id");
        assert_eq!(r("/drive/%ED%95%9C%EA%B8%80.pdf", &[]), "/drive/:id.pdf");
        assert_eq!(r("/", &[]), "/");
        assert_eq!(r("/?x=1", &[]), "/");
        assert_eq!(r("http://example.com/a/1", &[]), "/a/:id");
        assert_eq!(r("*", &[]), "*");
        assert_eq!(r("\\x16\\x03\\x01", &[]), ":invalid");
        assert_eq!(r("/a/b/c/d/e/f/g/h/i/j", &[]), "/a/b/c/d/e/f/g/h/*");
        assert_eq!(r("/api/v1/users", &[]), "/api/v1/users");
        assert_eq!(r("/a\x1b[2J/b\x7f/c", &[]), "/:id/:id/c");
    }

    #[test]
    fn route_patterns_win() {
        let p = ["/mail/read/:id", "/board/:board/post/:id", "/drive/*"];
        assert_eq!(r("/mail/read/abc?x", &p), "/mail/read/:id");
        assert_eq!(r("/board/notice/post/7", &p), "/board/:board/post/:id");
        assert_eq!(r("/drive/a/b/c", &p), "/drive/*");
        assert_eq!(r("/mail/read", &p), "/mail/read");
        assert!(RoutePattern::new("mail").is_err());
        assert!(RoutePattern::new("/a/*/b").is_err());
    }
}
