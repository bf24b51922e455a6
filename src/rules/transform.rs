//! Built-in label transforms: route, status class, status, method, device, lower-case.
//! Each writes its output into a caller-owned buffer: no allocation per line.

use memchr::memmem;

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

/// An identifier-like segment: all digits, percent-encoded or non-ASCII, a UUID, hex of 8+ with
/// a digit, a token of 16+ with a digit, or 6+ bytes at least half digits.
fn is_id(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    // One pass for every class (this runs for each path segment of every line).
    let (mut digits, mut hex, mut token) = (0, true, true);
    for &b in s {
        if b.is_ascii_digit() {
            digits += 1;
        } else if b == b'%' || !b.is_ascii() {
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

/// `503` → `5xx`; anything that is not a status code → `other`.
pub fn status_class(s: &[u8], out: &mut Vec<u8>) {
    match s {
        [d @ b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => {
            out.push(*d);
            out.extend_from_slice(b"xx");
        }
        _ => out.extend_from_slice(b"other"),
    }
}

/// A three-digit status 100–599 as is, else `other` (junk must not create series).
pub fn status(s: &[u8], out: &mut Vec<u8>) {
    match s {
        [b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => out.extend_from_slice(s),
        _ => out.extend_from_slice(b"other"),
    }
}

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
];

/// A known HTTP method as is, else `other`.
pub fn method(s: &[u8], out: &mut Vec<u8>) {
    if METHODS.contains(&s) {
        out.extend_from_slice(s);
    } else {
        out.extend_from_slice(b"other");
    }
}

/// Lower-case ASCII.
pub fn lower(s: &[u8], out: &mut Vec<u8>) {
    out.extend(s.iter().map(u8::to_ascii_lowercase));
}

/// User agent → device class, with substring finders built once.
pub struct DeviceClassifier {
    bots: Vec<memmem::Finder<'static>>,
    app: Vec<memmem::Finder<'static>>,
    mobile: Vec<memmem::Finder<'static>>,
    desktop: Vec<memmem::Finder<'static>>,
}

impl std::fmt::Debug for DeviceClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceClassifier")
    }
}

fn finders(words: &[&'static str]) -> Vec<memmem::Finder<'static>> {
    words
        .iter()
        .map(|w| memmem::Finder::new(w.as_bytes()))
        .collect()
}

impl Default for DeviceClassifier {
    fn default() -> Self {
        DeviceClassifier {
            bots: finders(&[
                "bot",
                "Bot",
                "crawl",
                "Crawl",
                "spider",
                "Spider",
                "slurp",
                "curl/",
                "Wget",
                "python-requests",
                "python-urllib",
                "Go-http-client",
                "HeadlessChrome",
                "facebookexternalhit",
                "Prometheus",
                "kube-probe",
                "ELB-HealthChecker",
                "Pingdom",
                "UptimeRobot",
                "scan",
                "Scan",
                "zgrab",
                "masscan",
                "Nmap",
            ]),
            // Native apps: HTTP stacks of iOS/Android apps, and app names followed by an OS token.
            app: finders(&[
                "CFNetwork",
                "Dalvik",
                "okhttp",
                "(iOS ",
                "(Android ",
                "; iOS ",
                "; Android ",
            ]),
            mobile: finders(&[
                "Mobile",
                "Android",
                "iPhone",
                "iPad",
                "iPod",
                "Windows Phone",
                "Opera Mini",
            ]),
            desktop: finders(&["Windows NT", "Macintosh", "X11", "Linux", "CrOS"]),
        }
    }
}

/// Device classes of recently seen user agents. A log has few distinct agents, and classifying
/// one costs up to ~40 substring searches over it; the memo answers from one hash lookup.
/// Bounded: emptied when full, so agents that never repeat cost one insert each and no memory.
#[derive(Debug, Default)]
pub struct DeviceMemo {
    /// Randomly seeded: user agents are untrusted input.
    seen: std::collections::HashMap<Box<[u8]>, &'static [u8], foldhash::fast::RandomState>,
}

/// Most agents [`DeviceMemo`] keeps, and the longest agent it keeps.
const MEMO_ENTRIES: usize = 1024;
const MEMO_MAX_LEN: usize = 512;

impl DeviceMemo {
    /// `classifier.classify(ua)`, remembered.
    #[inline]
    pub fn classify(&mut self, classifier: &DeviceClassifier, ua: &[u8]) -> &'static [u8] {
        if let Some(class) = self.seen.get(ua) {
            return class;
        }
        let class = classifier.classify(ua);
        if ua.len() <= MEMO_MAX_LEN {
            if self.seen.len() >= MEMO_ENTRIES {
                self.seen.clear();
            }
            self.seen.insert(ua.into(), class);
        }
        class
    }
}

impl DeviceClassifier {
    /// `mobile_app | mobile_web | desktop | bot | other`.
    pub fn classify(&self, ua: &[u8]) -> &'static [u8] {
        let has = |fs: &[memmem::Finder<'static>]| fs.iter().any(|f| f.find(ua).is_some());
        if ua.is_empty() || ua == b"-" {
            return b"other";
        }
        if has(&self.bots) {
            return b"bot";
        }
        let browser = ua.starts_with(b"Mozilla/") || ua.starts_with(b"Opera");
        if !browser && has(&self.app) {
            return b"mobile_app";
        }
        if browser && has(&self.mobile) {
            return b"mobile_web";
        }
        if browser && has(&self.desktop) {
            return b"desktop";
        }
        b"other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_device_classes_are_the_classes() {
        let c = DeviceClassifier::default();
        let mut memo = DeviceMemo::default();
        let uas: Vec<Vec<u8>> = (0..3000)
            .map(|i| match i % 4 {
                0 => format!("Mozilla/5.0 (iPhone; CPU iPhone OS {i}) Mobile").into_bytes(),
                1 => b"curl/8.5.0".to_vec(),
                2 => format!("App/{i} (Android 14)").into_bytes(),
                _ => vec![b'x'; 600 + i % 7],
            })
            .collect();
        for _ in 0..2 {
            for ua in &uas {
                assert_eq!(memo.classify(&c, ua), c.classify(ua));
            }
        }
        assert!(memo.seen.len() <= MEMO_ENTRIES);
    }

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

    #[test]
    fn status_and_method_are_bounded() {
        let f = |g: fn(&[u8], &mut Vec<u8>), s: &str| {
            let mut o = Vec::new();
            g(s.as_bytes(), &mut o);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(f(status_class, "503"), "5xx");
        assert_eq!(f(status_class, "200"), "2xx");
        assert_eq!(f(status_class, "-"), "other");
        assert_eq!(f(status_class, "999"), "other");
        assert_eq!(f(status, "404"), "404");
        assert_eq!(f(status, "4041"), "other");
        assert_eq!(f(method, "GET"), "GET");
        assert_eq!(f(method, "batman"), "other");
        assert_eq!(f(lower, "WaRN"), "warn");
    }

    #[test]
    fn devices() {
        let d = DeviceClassifier::default();
        let c = |ua: &str| {
            std::str::from_utf8(d.classify(ua.as_bytes()))
                .unwrap()
                .to_string()
        };
        assert_eq!(c("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"), "desktop");
        assert_eq!(c("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"), "desktop");
        assert_eq!(c("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"), "mobile_web");
        assert_eq!(c("Mozilla/5.0 (Linux; Android 14; SM-S928N) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"), "mobile_web");
        assert_eq!(c("GroupwareApp/4.2.1 (iOS 17.5; iPhone15,2)"), "mobile_app");
        assert_eq!(c("GroupwareApp/4.2.0 (Android 14; SM-S928N)"), "mobile_app");
        assert_eq!(
            c("MyApp/1.0 CFNetwork/1490.0.4 Darwin/23.2.0"),
            "mobile_app"
        );
        assert_eq!(c("okhttp/4.12.0"), "mobile_app");
        assert_eq!(
            c("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            "bot"
        );
        assert_eq!(c("curl/8.5.0"), "bot");
        assert_eq!(c("python-requests/2.32.3"), "bot");
        assert_eq!(c("-"), "other");
        assert_eq!(c("\u{fffd}\u{0}junk"), "other");
    }
}
