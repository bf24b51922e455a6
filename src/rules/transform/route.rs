//! `transform: route`: URI → route (query and matrix parameters dropped, ids → `:id`,
//! e-mail-like segments → `:email`, markup and other non-path segments → `:invalid`, user
//! patterns first). A route is a label on `/metrics`: nothing a client chose beyond the shape
//! of a path may reach it, neither a secret (`;password=…`, `?token=…`) nor personal data (an
//! address) nor markup (`<script>`).

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
            .split(|b| *b == b'/')
            .map(without_params);
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

/// A path segment without its matrix parameters (`a;jsessionid=x` → `a`).
#[inline]
fn without_params(seg: &[u8]) -> &[u8] {
    match memchr::memchr(b';', seg) {
        Some(i) => &seg[..i],
        None => seg,
    }
}

/// Path → route: query, fragment and matrix parameters dropped, `scheme://host` dropped, user
/// patterns first; then numeric, UUID, hex, long-token and escaped segments (percent- or
/// nginx-escaped, raw non-ASCII; and such parts of dotted segments, `app.3fa9c1d2.js` →
/// `app.:id.js`) become `:id`, e-mail-like ones (`kim@example.com`) `:email`, and ones holding
/// characters a path segment does not (`<script>`, `a=b`, quotes, braces) `:invalid`.
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
    // Matrix parameters are rare: look for them once per path, not once per segment.
    let params = memchr::memchr(b';', path).is_some();
    for (n, seg) in path[1..].split(|b| *b == b'/').enumerate() {
        if n == MAX_SEGMENTS {
            out.extend_from_slice(b"/*");
            return;
        }
        out.push(b'/');
        segment(if params { without_params(seg) } else { seg }, out);
    }
}

// Classes of a byte, for one table look-up per byte (this runs on every byte of every path).
const DIGIT: u8 = 1;
/// A hex digit (digits included).
const HEX: u8 = 1 << 1;
/// Letters, digits, `-`, `_`, `=`, `~`: what a long token (a session id, base64url) holds.
const TOKEN: u8 = 1 << 2;
/// What a path segment holds (RFC 3986 `pchar`, less `=`, `&`, `'`, `(`, `)` and `;`, which
/// shape parameters and injections rather than paths), or an escaped byte ([`ESCAPED`]).
const PATH: u8 = 1 << 3;
/// Escaped or raw bytes of something else than a path: percent- and nginx-escapes (`%ED`,
/// `\xED`), non-ASCII, control bytes (a route never carries them into a label value).
const ESCAPED: u8 = 1 << 4;
const DOT: u8 = 1 << 5;
const AT: u8 = 1 << 6;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_digit() {
            c |= DIGIT | HEX | TOKEN | PATH;
        } else if b.is_ascii_hexdigit() {
            c |= HEX | TOKEN | PATH;
        } else if b.is_ascii_alphabetic() || b == b'-' || b == b'_' || b == b'~' {
            c |= TOKEN | PATH;
        } else if b == b'=' {
            c |= TOKEN;
        } else if b == b'.' {
            c |= DOT | PATH;
        } else if b == b'@' {
            c |= AT | PATH;
        } else if matches!(b, b'!' | b'$' | b'*' | b'+' | b',' | b':') {
            c |= PATH;
        } else if b == b'%' || b == b'\\' || !b.is_ascii() || b.is_ascii_control() {
            c |= ESCAPED | PATH;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Write the route form of one segment (matrix parameters already cut), in one pass: each
/// dot-separated part is written as it ends (`:id` when it looks like one), and the whole is
/// replaced by `:email` (an `@` after the first character) or `:invalid` (a byte a path does
/// not hold, unless the undotted segment is a token id) at the end.
fn segment(seg: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let (mut seg_and, mut seg_or) = (u8::MAX, 0u8);
    let (mut part, mut p_and, mut p_or, mut digits) = (0, u8::MAX, 0u8, 0);
    for (i, &b) in seg.iter().enumerate() {
        let c = CLASS[b as usize];
        seg_and &= c;
        seg_or |= c;
        if c & DOT != 0 {
            put_part(&seg[part..i], p_and, p_or, digits, out);
            out.push(b'.');
            (part, p_and, p_or, digits) = (i + 1, u8::MAX, 0, 0);
        } else {
            p_and &= c;
            p_or |= c;
            digits += usize::from(c & DIGIT);
        }
    }
    let last_id = put_part(&seg[part..], p_and, p_or, digits, out);
    let email = seg_or & AT != 0
        && (seg.first() != Some(&b'@') || memchr::memchr(b'@', &seg[1..]).is_some());
    let odd = seg_and & PATH == 0;
    let placeholder: &[u8] = if email {
        b":email"
    } else if odd && (seg_or & DOT != 0 || !last_id) {
        b":invalid"
    } else {
        return;
    };
    out.truncate(start);
    out.extend_from_slice(placeholder);
}

/// Write one part of a segment: `:id` when [`id_part`] says so, else the part. Returns which.
#[inline]
fn put_part(part: &[u8], and: u8, or: u8, digits: usize, out: &mut Vec<u8>) -> bool {
    let id = id_part(part, and, or, digits);
    out.extend_from_slice(if id { b":id" } else { part });
    id
}

/// An identifier-like part, from its bytes' classes (`and` of all, `or` of all) and digit
/// count: escaped (see [`ESCAPED`]), all digits, a UUID, hex of 8+ with a digit, a token of
/// 16+ with a digit, or 6+ bytes at least half digits.
#[inline]
fn id_part(s: &[u8], and: u8, or: u8, digits: usize) -> bool {
    !s.is_empty()
        && (or & ESCAPED != 0
            || digits == s.len()
            || (s.len() == 36 && is_uuid(s))
            || (s.len() >= 8 && digits > 0 && and & HEX != 0)
            || (s.len() >= 16 && digits > 0 && and & TOKEN != 0)
            || (s.len() >= 6 && digits * 2 >= s.len()))
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

    /// Regression: route labels carried `;password=hunter2`, e-mail addresses and `<script>`
    /// fragments.
    #[test]
    fn secrets_addresses_and_markup_never_reach_a_route() {
        for (uri, want) in [
            ("/login;password=hunter2", "/login"),
            ("/app;jsessionid=ABC123/home?x=1", "/app/home"),
            (
                "/users/kim.lee@example.com/profile",
                "/users/:email/profile",
            ),
            ("/@vite/client", "/@vite/client"),
            (
                "/search/<script>alert(1)</script>",
                "/search/:invalid/:invalid",
            ),
            ("/a/\"onmouseover=alert(1)", "/a/:invalid"),
            // A long token with a digit is an id first; a short one is not a path either.
            ("/reset/password=hunter2", "/reset/:id"),
            ("/reset/pw=hunter2", "/reset/:invalid"),
            ("/q/a&b", "/q/:invalid"),
            ("/x/{{7*7}}", "/x/:invalid"),
            ("/drive/\\xED\\x95\\x9C.pdf", "/drive/:id.pdf"),
            ("/drive/\\xED\\x95\\x9C", "/drive/:id"),
            ("/s/eyJhbGciOiJIUzI1NiJ9abc123==", "/s/:id"),
            ("/api/v1/users/me", "/api/v1/users/me"),
            ("/a:b/c~d/e+f,g!h$i*j", "/a:b/c~d/e+f,g!h$i*j"),
        ] {
            assert_eq!(r(uri, &[]), want, "{uri}");
        }
        // Patterns match the path without its matrix parameters.
        assert_eq!(r("/drive;jsessionid=x/a", &["/drive/*"]), "/drive/*");
    }

    /// For random secrets in a query, a matrix parameter, an address or markup, the route
    /// never holds any part of them.
    #[test]
    fn a_secret_never_reaches_a_route() {
        use proptest::prelude::*;
        let value = "[a-zA-PR-Z0-9<>\\\\%'`|{}()!$*+,.:@=~_-]{0,3}";
        let secret = proptest::collection::vec(value, 1..8)
            .prop_map(|runs| runs.into_iter().fold("Q".to_string(), |s, r| s + &r + "Q"));
        let local = proptest::collection::vec("[a-zA-PR-Z0-9._%+-]{1,3}", 1..6)
            .prop_map(|runs| runs.into_iter().fold("Q".to_string(), |s, r| s + &r + "Q"));
        proptest!(|(
            s in secret,
            mail in local,
            ctx in 0usize..5,
            path in "(/[a-z]{1,6}){0,3}",
            rest in "(/[a-z]{1,6}){0,3}",
        )| {
            let uri = match ctx {
                0 => format!("{path}/x?a=1&token={s}&b=2"),
                1 => format!("{path};password={s}{rest}"),
                2 => format!("{path}/{mail}@mail.example.com{rest}"),
                3 => format!("{path}/<script>{s}</script>{rest}"),
                _ => format!("{path}/password={s}{rest}"),
            };
            let got = r(&uri, &[]);
            prop_assert!(!got.contains('Q'), "{uri:?} → {got:?}");
            prop_assert!(!got.contains(['<', '>', '"', '\'', ';', '=', '&', '?']), "{uri:?} → {got:?}");
        });
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
