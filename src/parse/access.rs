//! nginx/apache access logs: `combined`, `common`, and `auto` (either, per line, plus the apache
//! `vhost_combined` prefix and trailing extras such as an appended `$request_time`).
//!
//! Hand-written with memchr: no regex, no allocation, every field a span into the line. Values
//! are kept raw (nginx `\xHH` escapes and apache `\"` are not decoded); a quoted field only ends
//! at an unescaped `"` that is followed by what the format expects next, so `\"` inside a user
//! agent or a stray quote in a scanner's request does not derail the rest of the line.
//!
//! Layout (`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`):
//!
//! ```text
//! [host] remote_addr ident remote_user [time_local] "request" status body_bytes_sent ["http_referer" "http_user_agent"] [extras]
//! ```
//!
//! `remote_addr` is everything before `ident remote_user [`, so an X-Forwarded-For list
//! (`10.0.0.2, 10.0.0.1, 127.0.0.1 - - [...]`) is kept whole.

use memchr::{memchr, memrchr};

use super::{canonical_field_name, FieldId, LineParser, ParseError, Record};

/// Field slots of the access-log parsers (fixed layout).
pub const REMOTE_ADDR: FieldId = 0;
/// `remote_user` (`%u`).
pub const REMOTE_USER: FieldId = 1;
/// `time_local`, without the brackets.
pub const TIME_LOCAL: FieldId = 2;
/// The whole request line, without the quotes.
pub const REQUEST: FieldId = 3;
/// First word of a well-formed request.
pub const REQUEST_METHOD: FieldId = 4;
/// Middle of a well-formed request (path and query).
pub const REQUEST_URI: FieldId = 5;
/// Last word of a well-formed request (`HTTP/1.1`).
pub const SERVER_PROTOCOL: FieldId = 6;
/// Status code.
pub const STATUS: FieldId = 7;
/// Response size (`-` kept as is).
pub const BODY_BYTES_SENT: FieldId = 8;
/// Referer, without the quotes.
pub const HTTP_REFERER: FieldId = 9;
/// User agent, without the quotes.
pub const HTTP_USER_AGENT: FieldId = 10;
/// `auto` only: a trailing number after the user agent.
pub const REQUEST_TIME: FieldId = 11;
/// `auto` only: apache `vhost_combined` leading virtual host.
pub const HOST: FieldId = 12;

const NAMES: [&str; 13] = [
    "remote_addr",
    "remote_user",
    "time_local",
    "request",
    "request_method",
    "request_uri",
    "server_protocol",
    "status",
    "body_bytes_sent",
    "http_referer",
    "http_user_agent",
    "request_time",
    "host",
];

/// Which access-log layout a parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    /// `combined`: referer and user agent required; anything after them is ignored.
    Combined,
    /// `common`: ends after the size; anything after it is ignored.
    Common,
    /// `combined` or `common` per line, optional vhost prefix, trailing number → `request_time`.
    Auto,
}

/// Parser for `combined`, `common` and `auto`.
#[derive(Debug, Clone)]
pub struct AccessParser {
    mode: AccessMode,
}

impl AccessParser {
    /// A parser for `mode`.
    pub fn new(mode: AccessMode) -> Self {
        AccessParser { mode }
    }

    fn slots(&self) -> usize {
        match self.mode {
            AccessMode::Common => BODY_BYTES_SENT + 1,
            AccessMode::Combined => HTTP_USER_AGENT + 1,
            AccessMode::Auto => NAMES.len(),
        }
    }
}

impl LineParser for AccessParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        let name = canonical_field_name(name);
        NAMES.get(..self.slots())?.iter().position(|n| *n == name)
    }

    fn field_count(&self) -> usize {
        self.slots()
    }

    fn known_fields(&self) -> Vec<String> {
        NAMES
            .iter()
            .take(self.slots())
            .map(|s| s.to_string())
            .collect()
    }

    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        parse_access(line, rec, self.mode)
    }
}

const E_PREFIX: ParseError = ParseError("access log: no `remote_addr ident user [time]` prefix");
const E_TIME: ParseError = ParseError("access log: unterminated [time_local]");
const E_REQUEST: ParseError = ParseError("access log: no quoted request after the time");
const E_STATUS: ParseError = ParseError("access log: no status/size after the request");
const E_REFERER: ParseError = ParseError("access log: no quoted referer and user agent");

#[inline]
fn parse_access(line: &[u8], rec: &mut Record, mode: AccessMode) -> Result<(), ParseError> {
    // `[` that opens time_local: the first one preceded by a space.
    let mut from = 0;
    let lb = loop {
        let rest = line.get(from..).ok_or(E_PREFIX)?;
        let i = from + find_byte(b'[', rest).ok_or(E_PREFIX)?;
        if i > 0 && line.get(i - 1) == Some(&b' ') {
            break i;
        }
        from = i + 1;
    };
    // `addr ident user` before it, split from the right.
    let prefix_end = lb - 1;
    let prefix = line.get(..prefix_end).ok_or(E_PREFIX)?;
    let sp_user = rfind_byte(b' ', prefix).ok_or(E_PREFIX)?;
    let sp_ident = rfind_byte(b' ', prefix.get(..sp_user).ok_or(E_PREFIX)?).ok_or(E_PREFIX)?;
    if sp_ident == 0 {
        return Err(E_PREFIX);
    }
    let mut addr_start = 0;
    if mode == AccessMode::Auto {
        // vhost_combined: `vhost addr - - [`, one space in the address part, no list, no quote.
        let addr = prefix.get(..sp_ident).ok_or(E_PREFIX)?;
        if let Some(sp) = find_byte(b' ', addr) {
            let host_like = addr.first() != Some(&b'"')
                && find_byte(b',', addr).is_none()
                && find_byte(b' ', addr.get(sp + 1..).unwrap_or_default()).is_none();
            if host_like && sp > 0 {
                rec.set(HOST, 0, sp);
                addr_start = sp + 1;
            }
        }
    }
    rec.set(REMOTE_ADDR, addr_start, sp_ident);
    rec.set(REMOTE_USER, sp_user + 1, prefix_end);

    // [time_local]
    let ts = lb + 1;
    // `10/Oct/2023:13:55:36 +0000` is 26 bytes: check there before searching (branch-free
    // check that no `]` comes earlier, which the compiler vectorises).
    let usual = line.get(ts + 26) == Some(&b']')
        && line
            .get(ts..ts + 26)
            .is_some_and(|t| t.iter().fold(true, |ok, &c| ok & (c != b']')));
    let rb = if usual {
        ts + 26
    } else {
        ts + memchr(b']', line.get(ts..).ok_or(E_TIME)?).ok_or(E_TIME)?
    };
    rec.set(TIME_LOCAL, ts, rb);

    // "request"
    if line.get(rb + 1..rb + 3) != Some(&b" \""[..]) {
        return Err(E_REQUEST);
    }
    let rs = rb + 3;
    let re = quoted_end(line, rs, |after| {
        after.first() == Some(&b' ') && matches!(after.get(1), Some(b'0'..=b'9' | b'-'))
    })
    .ok_or(E_REQUEST)?;
    rec.set(REQUEST, rs, re);
    split_request(
        line,
        rs,
        re,
        rec,
        [REQUEST_METHOD, REQUEST_URI, SERVER_PROTOCOL],
    );

    // status body_bytes_sent
    let ss = re + 2;
    let se = token_end(line, ss);
    if se == ss {
        return Err(E_STATUS);
    }
    rec.set(STATUS, ss, se);
    let bs = se + 1;
    let be = token_end(line, bs);
    if be <= bs {
        return Err(E_STATUS);
    }
    rec.set(BODY_BYTES_SENT, bs, be);

    match mode {
        AccessMode::Common => Ok(()),
        AccessMode::Combined => match referer_agent(line, be, rec) {
            Some(_) => Ok(()),
            None => Err(E_REFERER),
        },
        AccessMode::Auto => {
            // Lenient: without a well-formed `"referer" "agent"` pair, whatever follows the size
            // is treated as extras (a cut or odd tail must not lose the status and size).
            let rest = referer_agent(line, be, rec).unwrap_or(be);
            extras(line, rest, rec);
            Ok(())
        }
    }
}

/// End of the space-delimited token starting at `start` (the line length if it runs to the end).
#[inline]
fn token_end(line: &[u8], start: usize) -> usize {
    match line.get(start..) {
        Some(rest) => find_byte(b' ', rest).map_or(line.len(), |i| start + i),
        None => start,
    }
}

/// ` "referer" "user agent"` at `p`; returns the position after the closing quote.
#[inline]
fn referer_agent(line: &[u8], p: usize, rec: &mut Record) -> Option<usize> {
    if line.get(p..p + 2) != Some(&b" \""[..]) {
        return None;
    }
    let fs = p + 2;
    let fe = quoted_end(line, fs, |after| after.starts_with(b" \""))?;
    let us = fe + 3;
    // The agent's quote is normally followed by the end of the line or a space; failing that
    // (a stray `\r`, junk glued on), take the last quote of the line.
    let ue = quoted_end(line, us, |after| matches!(after.first(), None | Some(b' ')))
        .or_else(|| memrchr(b'"', line.get(us..)?).map(|i| us + i))?;
    rec.set(HTTP_REFERER, fs, fe);
    rec.set(HTTP_USER_AGENT, us, ue);
    Some(ue + 1)
}

/// `auto` extras after the user agent: quoted fields are skipped, the first bare number is
/// `request_time`.
fn extras(line: &[u8], mut p: usize, rec: &mut Record) {
    while let Some(&b) = line.get(p) {
        if b == b' ' {
            p += 1;
            continue;
        }
        if b == b'"' {
            match quoted_end(line, p + 1, |after| {
                matches!(after.first(), None | Some(b' '))
            }) {
                Some(q) => p = q + 1,
                None => return,
            }
            continue;
        }
        let e = token_end(line, p);
        if let Some(tok) = line.get(p..e) {
            if super::is_number(tok) {
                rec.set(REQUEST_TIME, p, e);
                return;
            }
        }
        p = e;
    }
}

/// How many bytes [`find_byte`] and [`rfind_byte`] search themselves before calling memchr.
const SHORT: usize = 32;

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of every byte of `w` that equals `b`, and no other bit (exact, unlike the
/// shorter "has zero byte" trick, whose borrows can mark the byte above a match).
#[inline(always)]
fn eq_mask(w: u64, b: u8) -> u64 {
    let v = w ^ (ONES * u64::from(b));
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// `memchr`, searching the first [`SHORT`] bytes 8 at a time in a `u64` first: most access-log
/// fields are a few bytes long, where the call and set-up of the SIMD search cost more than
/// the search itself (and a byte-at-a-time loop costs ~4 instructions per byte).
#[inline(always)]
pub(crate) fn find_byte(b: u8, hay: &[u8]) -> Option<usize> {
    let mut rest = hay.get(..SHORT).unwrap_or(hay);
    let mut off = 0;
    while let Some((w, tail)) = rest.split_first_chunk::<8>() {
        let m = eq_mask(u64::from_le_bytes(*w), b);
        if m != 0 {
            return Some(off + (m.trailing_zeros() / 8) as usize);
        }
        off += 8;
        rest = tail;
    }
    if let Some(i) = rest.iter().position(|&c| c == b) {
        return Some(off + i);
    }
    memchr(b, hay.get(SHORT..)?).map(|i| i + SHORT)
}

/// `memrchr`, searching the last [`SHORT`] bytes 8 at a time first.
#[inline(always)]
pub(crate) fn rfind_byte(b: u8, hay: &[u8]) -> Option<usize> {
    let cut = hay.len().saturating_sub(SHORT);
    let mut rest = hay.get(cut..).unwrap_or_default();
    while let Some((head, w)) = rest.split_last_chunk::<8>() {
        let m = eq_mask(u64::from_le_bytes(*w), b);
        if m != 0 {
            return Some(cut + head.len() + 7 - (m.leading_zeros() / 8) as usize);
        }
        rest = head;
    }
    if let Some(i) = rest.iter().rposition(|&c| c == b) {
        return Some(cut + i);
    }
    memrchr(b, hay.get(..cut)?)
}

/// Index of the `"` closing a quoted field whose content starts at `start`: the first `"` not
/// escaped by an odd run of backslashes for which `accept(bytes after it)` holds.
#[inline]
pub(crate) fn quoted_end(
    line: &[u8],
    start: usize,
    accept: impl Fn(&[u8]) -> bool,
) -> Option<usize> {
    let mut from = start;
    loop {
        let i = from + memchr(b'"', line.get(from..)?)?;
        if !escaped(line, start, i) && accept(line.get(i + 1..).unwrap_or_default()) {
            return Some(i);
        }
        from = i + 1;
    }
}

/// True when `line[i]` is preceded by an odd number of backslashes (not before `start`).
#[inline]
pub(crate) fn escaped(line: &[u8], start: usize, i: usize) -> bool {
    let mut n = 0;
    let mut j = i;
    while j > start && line.get(j - 1) == Some(&b'\\') {
        n += 1;
        j -= 1;
    }
    n % 2 == 1
}

/// Split `line[rs..re]` (a request line) into method, URI and protocol when it has the shape
/// `METHOD URI PROTO` (`GET /a b HTTP/1.1` gives the URI `/a b`); otherwise set nothing.
#[inline]
pub(crate) fn split_request(
    line: &[u8],
    rs: usize,
    re: usize,
    rec: &mut Record,
    ids: [FieldId; 3],
) {
    let Some(req) = line.get(rs..re) else { return };
    let (Some(sp1), Some(sp2)) = (find_byte(b' ', req), rfind_byte(b' ', req)) else {
        return;
    };
    if sp2 <= sp1 + 1 {
        return;
    }
    let (Some(method), Some(proto)) = (req.get(..sp1), req.get(sp2 + 1..)) else {
        return;
    };
    let method_ok = !method.is_empty()
        && method.len() <= 32
        && method
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    if !method_ok || !is_protocol(proto) {
        return;
    }
    let [m, u, p] = ids;
    rec.set(m, rs, rs + sp1);
    rec.set(u, rs + sp1 + 1, rs + sp2);
    rec.set(p, rs + sp2 + 1, re);
}

/// `HTTP/1.1`, `HTTP/2.0`, `RTSP/1.0`: uppercase letters, `/`, digits and dots.
fn is_protocol(p: &[u8]) -> bool {
    // Nearly every request says one of these; the general check below costs ~180 instructions.
    if matches!(p, b"HTTP/1.1" | b"HTTP/2.0" | b"HTTP/1.0") {
        return true;
    }
    let Some(slash) = find_byte(b'/', p) else {
        return false;
    };
    let (name, ver) = (
        p.get(..slash).unwrap_or_default(),
        p.get(slash + 1..).unwrap_or_default(),
    );
    !name.is_empty()
        && name.len() <= 16
        && name.iter().all(u8::is_ascii_uppercase)
        && ver.first().is_some_and(u8::is_ascii_digit)
        && ver.iter().all(|&b| b.is_ascii_digit() || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_at_a_time_search_agrees_with_a_plain_search() {
        // Every length around the word and SHORT boundaries, every match position, bytes
        // that differ from the needle only in the high bit or by one (borrow/carry cases).
        for len in 0..80usize {
            for needle in [b' ', b'"', 0u8, 0x80, 0xff] {
                for fill in [
                    b'a',
                    needle ^ 0x80,
                    needle.wrapping_add(1),
                    needle.wrapping_sub(1),
                ] {
                    let base = vec![fill; len];
                    let check = |hay: &[u8]| {
                        assert_eq!(
                            find_byte(needle, hay),
                            hay.iter().position(|&c| c == needle),
                            "find {needle} in {hay:?}"
                        );
                        assert_eq!(
                            rfind_byte(needle, hay),
                            hay.iter().rposition(|&c| c == needle),
                            "rfind {needle} in {hay:?}"
                        );
                    };
                    check(&base);
                    for i in 0..len {
                        let mut hay = base.clone();
                        hay[i] = needle;
                        check(&hay);
                        if i + 3 < len {
                            hay[i + 3] = needle;
                            check(&hay);
                        }
                    }
                }
            }
        }
    }

    fn parse(mode: AccessMode, line: &[u8]) -> Result<Vec<Option<String>>, ParseError> {
        let p = AccessParser::new(mode);
        let mut rec = Record::with_fields(p.field_count());
        p.parse(line, &mut rec)?;
        Ok((0..NAMES.len())
            .map(|i| {
                rec.get(line, i)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
            .collect())
    }

    /// Field values by name, `None` for missing.
    fn fields(mode: AccessMode, line: &[u8]) -> std::collections::BTreeMap<&'static str, String> {
        let v =
            parse(mode, line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
        NAMES
            .iter()
            .zip(v)
            .filter_map(|(n, v)| v.map(|v| (*n, v)))
            .collect()
    }

    fn get(mode: AccessMode, line: &[u8], name: &str) -> Option<String> {
        fields(mode, line).get(name).cloned()
    }

    const NORMAL: &[u8] = br#"203.0.113.7 - alice [10/Oct/2023:13:55:36 -0700] "GET /api/v1/items?id=3 HTTP/1.1" 200 2326 "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64)""#;

    #[test]
    fn combined_normal() {
        let f = fields(AccessMode::Combined, NORMAL);
        let want: &[(&str, &str)] = &[
            ("remote_addr", "203.0.113.7"),
            ("remote_user", "alice"),
            ("time_local", "10/Oct/2023:13:55:36 -0700"),
            ("request", "GET /api/v1/items?id=3 HTTP/1.1"),
            ("request_method", "GET"),
            ("request_uri", "/api/v1/items?id=3"),
            ("server_protocol", "HTTP/1.1"),
            ("status", "200"),
            ("body_bytes_sent", "2326"),
            ("http_referer", "https://example.com/start"),
            ("http_user_agent", "Mozilla/5.0 (X11; Linux x86_64)"),
        ];
        let want: std::collections::BTreeMap<&str, String> =
            want.iter().map(|(k, v)| (*k, v.to_string())).collect();
        assert_eq!(f, want);
        // auto gives the same on a plain combined line
        assert_eq!(fields(AccessMode::Auto, NORMAL), want);
    }

    #[test]
    fn common_normal_and_extras_ignored() {
        let line = b"::1 - - [26/Dec/2016:16:16:29 +0200] \"GET /favicon.ico HTTP/1.1\" 404 209";
        let f = fields(AccessMode::Common, line);
        assert_eq!(f.get("remote_addr").map(String::as_str), Some("::1"));
        assert_eq!(f.get("status").map(String::as_str), Some("404"));
        assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("209"));
        assert_eq!(
            f.get("request_uri").map(String::as_str),
            Some("/favicon.ico")
        );
        assert_eq!(f.len(), 9);
        // common on a combined line: the referer/UA are ignored
        let f = fields(AccessMode::Common, NORMAL);
        assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("2326"));
        assert!(!f.contains_key("http_referer"));
        // combined requires referer and UA
        assert_eq!(parse(AccessMode::Combined, line), Err(E_REFERER));
        // auto takes the common line
        assert_eq!(
            get(AccessMode::Auto, line, "body_bytes_sent").as_deref(),
            Some("209")
        );
        assert_eq!(get(AccessMode::Auto, line, "http_user_agent"), None);
    }

    #[test]
    fn field_names_and_aliases() {
        let mut p = AccessParser::new(AccessMode::Combined);
        assert_eq!(p.field("method"), Some(REQUEST_METHOD));
        assert_eq!(p.field("uri"), Some(REQUEST_URI));
        assert_eq!(p.field("path"), Some(REQUEST_URI));
        assert_eq!(p.field("protocol"), Some(SERVER_PROTOCOL));
        assert_eq!(p.field("bytes"), Some(BODY_BYTES_SENT));
        assert_eq!(p.field("size"), Some(BODY_BYTES_SENT));
        assert_eq!(p.field("referer"), Some(HTTP_REFERER));
        assert_eq!(p.field("user_agent"), Some(HTTP_USER_AGENT));
        assert_eq!(p.field("request_time"), None);
        assert_eq!(p.field("host"), None);
        assert_eq!(p.field("nope"), None);
        assert_eq!(p.field_count(), 11);
        let mut c = AccessParser::new(AccessMode::Common);
        assert_eq!(c.field("user_agent"), None);
        assert_eq!(c.field("status"), Some(STATUS));
        let mut a = AccessParser::new(AccessMode::Auto);
        assert_eq!(a.field("request_time"), Some(REQUEST_TIME));
        assert_eq!(a.field("host"), Some(HOST));
        assert_eq!(a.known_fields().len(), 13);
    }

    #[test]
    fn dash_sizes_and_dash_request() {
        // apache 408: request "-" and size "-"
        let line = b"::1 - - [26/Dec/2016:16:16:48 +0200] \"-\" 408 -";
        for mode in [AccessMode::Common, AccessMode::Auto] {
            let f = fields(mode, line);
            assert_eq!(f.get("request").map(String::as_str), Some("-"));
            assert_eq!(f.get("status").map(String::as_str), Some("408"));
            assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("-"));
            assert!(!f.contains_key("request_method"));
            assert!(!f.contains_key("request_uri"));
            assert!(!f.contains_key("server_protocol"));
        }
        let line = b"127.0.0.1 - - [02/Feb/2019:05:38:45 +0100] \"-\" 408 152 \"-\" \"-\"";
        let f = fields(AccessMode::Combined, line);
        assert_eq!(f.get("request").map(String::as_str), Some("-"));
        assert_eq!(f.get("http_referer").map(String::as_str), Some("-"));
        assert_eq!(f.get("http_user_agent").map(String::as_str), Some("-"));
    }

    #[test]
    fn empty_request() {
        let line = b"127.0.0.1 - - [12/Apr/2018:09:48:40 +0200] \"\" 400 0 \"-\" \"-\"";
        for mode in [AccessMode::Combined, AccessMode::Auto] {
            let f = fields(mode, line);
            assert_eq!(f.get("request").map(String::as_str), Some(""));
            assert_eq!(f.get("status").map(String::as_str), Some("400"));
            assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("0"));
            assert!(!f.contains_key("request_method"));
        }
    }

    #[test]
    fn xff_lists() {
        let line = b"10.0.0.2, 10.0.0.1, 127.0.0.1 - - [07/Dec/2016:11:05:07 +0100] \"GET /ocelot HTTP/1.1\" 200 571 \"-\" \"Mozilla/5.0 Firefox/49.0\"";
        for mode in [AccessMode::Combined, AccessMode::Auto] {
            let f = fields(mode, line);
            assert_eq!(
                f.get("remote_addr").map(String::as_str),
                Some("10.0.0.2, 10.0.0.1, 127.0.0.1")
            );
            assert_eq!(f.get("request_uri").map(String::as_str), Some("/ocelot"));
            assert!(!f.contains_key("host"));
        }
        // quoted list before the client address (CloudFront)
        let line = br#""10.5.102.222, 199.96.1.1, 204.246.1.1" 10.2.1.185 - - [22/Jan/2016:13:18:29 +0000] "GET /assets/x?q=100 HTTP/1.1" 200 25507 "-" "Amazon CloudFront""#;
        for mode in [AccessMode::Combined, AccessMode::Auto] {
            let f = fields(mode, line);
            assert_eq!(
                f.get("remote_addr").map(String::as_str),
                Some(r#""10.5.102.222, 199.96.1.1, 204.246.1.1" 10.2.1.185"#)
            );
            assert!(!f.contains_key("host"));
            assert_eq!(
                f.get("http_user_agent").map(String::as_str),
                Some("Amazon CloudFront")
            );
        }
        // full-form IPv6 inside the list
        let line = b"2a03:0000:10ff:f00f:0000:0000:0:8000, 10.225.192.17 10.2.2.121 - - [30/Dec/2016:06:47:09 +0000] \"GET /test.html HTTP/1.1\" 404 8571 \"-\" \"Facebot\"";
        let f = fields(AccessMode::Auto, line);
        assert_eq!(
            f.get("remote_addr").map(String::as_str),
            Some("2a03:0000:10ff:f00f:0000:0000:0:8000, 10.225.192.17 10.2.2.121")
        );
        assert!(!f.contains_key("host"));
        assert_eq!(f.get("status").map(String::as_str), Some("404"));
    }

    #[test]
    fn vhost_prefix_auto_only() {
        let line = b"vhost1.example.fr 123.123.123.123 - - [04/Jul/2019:09:20:46 +0200] \"GET / HTTP/1.1\" 200 32953 \"-\" \"Mozilla/5.0\"";
        let f = fields(AccessMode::Auto, line);
        assert_eq!(f.get("host").map(String::as_str), Some("vhost1.example.fr"));
        assert_eq!(
            f.get("remote_addr").map(String::as_str),
            Some("123.123.123.123")
        );
        assert_eq!(f.get("request_uri").map(String::as_str), Some("/"));
        let f = fields(AccessMode::Combined, line);
        assert_eq!(
            f.get("remote_addr").map(String::as_str),
            Some("vhost1.example.fr 123.123.123.123")
        );
    }

    #[test]
    fn hostnames_ipv6_and_tz() {
        let line = b"monitoring-server - - [29/May/2017:19:02:48 +0000] \"GET /status HTTP/1.1\" 200 612 \"-\" \"Mozilla/5.0\" \"-\"";
        let f = fields(AccessMode::Auto, line);
        assert_eq!(
            f.get("remote_addr").map(String::as_str),
            Some("monitoring-server")
        );
        assert!(!f.contains_key("host"));
        assert!(!f.contains_key("request_time"), "trailing \"-\" is ignored");
        assert_eq!(
            f.get("http_user_agent").map(String::as_str),
            Some("Mozilla/5.0")
        );
        let line = b"2001:db8::1 - - [26/Dec/2016:16:22:13 -0930] \"GET /hello HTTP/2.0\" 404 499 \"-\" \"curl/8\"";
        let f = fields(AccessMode::Combined, line);
        assert_eq!(
            f.get("remote_addr").map(String::as_str),
            Some("2001:db8::1")
        );
        assert_eq!(
            f.get("time_local").map(String::as_str),
            Some("26/Dec/2016:16:22:13 -0930")
        );
        assert_eq!(
            f.get("server_protocol").map(String::as_str),
            Some("HTTP/2.0")
        );
        // an IPv6 address in brackets is not the time
        let line =
            b"[2001:db8::1] - - [26/Dec/2016:16:22:13 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"";
        assert_eq!(
            get(AccessMode::Combined, line, "remote_addr").as_deref(),
            Some("[2001:db8::1]")
        );
    }

    #[test]
    fn auto_trailing_request_time() {
        let line = b"88.60.217.98 - - [24/Nov/2025:16:00:00 +0000] \"GET /api/v1/contacts/items/152910 HTTP/1.1\" 200 1724 \"https://gw.example.co.kr/\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\" 0.022";
        let f = fields(AccessMode::Auto, line);
        assert_eq!(f.get("request_time").map(String::as_str), Some("0.022"));
        assert_eq!(
            f.get("http_user_agent").map(String::as_str),
            Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
        );
        assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("1724"));
        // combined ignores it
        assert!(!fields(AccessMode::Combined, line).contains_key("request_time"));
        // after "-" extras, and with upstream time following
        let line = b"1.2.3.4 - - [24/Nov/2025:16:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\" \"-\" 1.5 0.9";
        assert_eq!(
            get(AccessMode::Auto, line, "request_time").as_deref(),
            Some("1.5")
        );
        // a non-number extra is skipped
        let line =
            b"1.2.3.4 - - [24/Nov/2025:16:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\" - 0.5";
        assert_eq!(
            get(AccessMode::Auto, line, "request_time").as_deref(),
            Some("0.5")
        );
        // common + trailing number
        let line = b"1.2.3.4 - - [24/Nov/2025:16:00:00 +0000] \"GET / HTTP/1.1\" 200 1 0.25";
        let f = fields(AccessMode::Auto, line);
        assert_eq!(f.get("request_time").map(String::as_str), Some("0.25"));
        assert!(!f.contains_key("http_referer"));
    }

    #[test]
    fn escapes_in_quoted_fields() {
        // apache \" inside the UA and the request; nginx \x22
        let line = br#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /a\"b HTTP/1.1" 200 5 "-" "Bot \"quoted\" \\" 0.1"#;
        let f = fields(AccessMode::Auto, line);
        assert_eq!(
            f.get("request").map(String::as_str),
            Some(r#"GET /a\"b HTTP/1.1"#)
        );
        assert_eq!(f.get("request_uri").map(String::as_str), Some(r#"/a\"b"#));
        assert_eq!(
            f.get("http_user_agent").map(String::as_str),
            Some(r#"Bot \"quoted\" \\"#)
        );
        assert_eq!(f.get("request_time").map(String::as_str), Some("0.1"));
        let line =
            br#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /\x22x HTTP/1.1" 200 5 "-" "a\x22b""#;
        let f = fields(AccessMode::Combined, line);
        assert_eq!(f.get("request_uri").map(String::as_str), Some(r#"/\x22x"#));
        assert_eq!(
            f.get("http_user_agent").map(String::as_str),
            Some(r#"a\x22b"#)
        );
        // an unescaped stray quote inside the request does not end it
        let line =
            br#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /a"b HTTP/1.1" 400 5 "-" "ua""#;
        assert_eq!(
            get(AccessMode::Combined, line, "request").as_deref(),
            Some(r#"GET /a"b HTTP/1.1"#)
        );
    }

    #[test]
    fn junk_requests() {
        let cases: &[&[u8]] = &[
            br#"lv|'|'|VHJvamFuX0M0NkY2RTk=|'|'|MARK|'|'|user|'|'|2013-11-22|'|'||'|'|Win XP|'|'|[endof]"#,
            br#"Gh0st\xAD\x00\x00\x00\xE0\x00\x00\x00x\x9CKS``\x98"#,
            br#"\x16\x03\x01\x00t\x01\x00\x00p\x03\x01YF}\xF6\x7F3\xD3\xA2'O"#,
            b"HELP",
            b"batman",
            b"get / http/1.1",
            b"GET /only-two",
            b"GET  HTTP/1.1",
        ];
        for req in cases {
            let mut line = b"1.2.3.4 - - [29/Jul/2023:10:26:06 -0700] \"".to_vec();
            line.extend_from_slice(req);
            line.extend_from_slice(b"\" 400 157 \"-\" \"-\"");
            let f = fields(AccessMode::Auto, &line);
            assert_eq!(f.get("request").map(|s| s.as_bytes()), Some(*req));
            assert_eq!(f.get("status").map(String::as_str), Some("400"));
            assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("157"));
            assert!(
                !f.contains_key("request_method"),
                "{}",
                String::from_utf8_lossy(req)
            );
            assert!(!f.contains_key("request_uri"));
            assert!(!f.contains_key("server_protocol"));
        }
        // URI with a space, WebDAV method
        let line = b"1.2.3.4 - - [29/Jul/2023:10:26:06 -0700] \"VERSION-CONTROL /a b HTTP/1.1\" 400 1 \"-\" \"-\"";
        let f = fields(AccessMode::Combined, line);
        assert_eq!(
            f.get("request_method").map(String::as_str),
            Some("VERSION-CONTROL")
        );
        assert_eq!(f.get("request_uri").map(String::as_str), Some("/a b"));
    }

    #[test]
    fn raw_bytes_invalid_utf8_and_nul() {
        let line = b"1.2.3.4 - us\xffer [29/Jul/2023:10:26:06 -0700] \"GET /\xc3\x28\x00x HTTP/1.1\" 200 1 \"\xfe\" \"\x00\x01\"";
        let p = AccessParser::new(AccessMode::Auto);
        let mut rec = Record::with_fields(p.field_count());
        p.parse(line, &mut rec).unwrap();
        assert_eq!(rec.get(line, REMOTE_USER), Some(&b"us\xffer"[..]));
        assert_eq!(rec.get(line, REQUEST_URI), Some(&b"/\xc3\x28\x00x"[..]));
        assert_eq!(rec.get(line, HTTP_REFERER), Some(&b"\xfe"[..]));
        assert_eq!(rec.get(line, HTTP_USER_AGENT), Some(&b"\x00\x01"[..]));
    }

    #[test]
    fn malformed_lines_are_errors() {
        let bad: &[(&[u8], ParseError)] = &[
            (b"", E_PREFIX),
            (b"\x00\x00\x00", E_PREFIX),
            (b"just some text", E_PREFIX),
            (b"[10/Oct/2023:13:55:36 +0000]", E_PREFIX),
            (b"x [10/Oct/2023:13:55:36 +0000]", E_PREFIX),
            (b"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000", E_TIME),
            (b"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000]", E_REQUEST),
            (b"1.2.3.4 - - [t] GET / HTTP/1.1 200 1", E_REQUEST),
            (b"1.2.3.4 - - [t] \"GET / HTTP/1.1", E_REQUEST),
            (b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" ", E_REQUEST),
            (b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200", E_STATUS),
            (b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 ", E_STATUS),
        ];
        for (line, err) in bad {
            for mode in [AccessMode::Common, AccessMode::Combined, AccessMode::Auto] {
                assert_eq!(
                    parse(mode, line).err(),
                    Some(err.clone()),
                    "{mode:?} {}",
                    String::from_utf8_lossy(line)
                );
            }
        }
        let line = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"unterminated";
        assert_eq!(parse(AccessMode::Combined, line), Err(E_REFERER));
        assert_eq!(
            get(AccessMode::Common, line, "status").as_deref(),
            Some("200")
        );
        // auto keeps what it has: status and size, no referer/agent
        let f = fields(AccessMode::Auto, line);
        assert_eq!(f.get("status").map(String::as_str), Some("200"));
        assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("1"));
        assert!(!f.contains_key("http_referer") && !f.contains_key("http_user_agent"));
        // only one quoted field after the size, then a number
        let line = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" 0.7";
        let f = fields(AccessMode::Auto, line);
        assert_eq!(f.get("request_time").map(String::as_str), Some("0.7"));
        assert!(!f.contains_key("http_referer"));
        // junk glued to the size stays in the size (the rules layer sees a non-number)
        let line = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1\"x";
        assert_eq!(
            get(AccessMode::Auto, line, "body_bytes_sent").as_deref(),
            Some("1\"x")
        );
    }

    #[test]
    fn very_long_line() {
        let mut line = b"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET /".to_vec();
        line.extend(std::iter::repeat_n(b'a', 1 << 20));
        line.extend_from_slice(b" HTTP/1.1\" 414 0 \"-\" \"");
        line.extend(std::iter::repeat_n(b'"', 1000));
        line.extend_from_slice(b"\" 0.5");
        let p = AccessParser::new(AccessMode::Auto);
        let mut rec = Record::with_fields(p.field_count());
        p.parse(&line, &mut rec).unwrap();
        assert_eq!(
            rec.get(&line, REQUEST_URI).map(<[u8]>::len),
            Some((1 << 20) + 1)
        );
        assert_eq!(rec.get(&line, STATUS), Some(&b"414"[..]));
        assert_eq!(rec.get(&line, HTTP_USER_AGENT).map(<[u8]>::len), Some(1000));
        assert_eq!(rec.get(&line, REQUEST_TIME), Some(&b"0.5"[..]));
        // a megabyte of '[' and spaces fails quickly without panicking
        let junk: Vec<u8> = b" [".iter().copied().cycle().take(1 << 20).collect();
        assert!(p.parse(&junk, &mut rec).is_err());
    }

    #[test]
    fn time_fast_path_is_exact() {
        // a `]` at the usual offset but after a shorter time must not be taken as its end
        let line = b"1.2.3.4 - - [short] \"GET /aaaaaaaaaaaaa]b HTTP/1.1\" 200 1 \"-\" \"-\"";
        assert_eq!(
            get(AccessMode::Combined, line, "time_local").as_deref(),
            Some("short")
        );
        assert_eq!(
            get(AccessMode::Combined, line, "request_uri").as_deref(),
            Some("/aaaaaaaaaaaaa]b")
        );
        let line =
            b"1.2.3.4 - - [2023-10-10T13:55:36.123456+02:00] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"";
        assert_eq!(
            get(AccessMode::Combined, line, "time_local").as_deref(),
            Some("2023-10-10T13:55:36.123456+02:00")
        );
    }

    #[test]
    fn crlf_is_the_callers_job() {
        // the caller strips `\r\n`; a `\r` left in stays in a bare last field, and after the
        // quoted agent it is ignored
        let base = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"".to_vec();
        assert_eq!(
            get(AccessMode::Combined, &base, "http_user_agent").as_deref(),
            Some("ua")
        );
        let mut cr = base.clone();
        cr.push(b'\r');
        assert_eq!(
            get(AccessMode::Combined, &cr, "http_user_agent").as_deref(),
            Some("ua")
        );
        let common = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1\r";
        assert_eq!(
            get(AccessMode::Common, common, "body_bytes_sent").as_deref(),
            Some("1\r")
        );
    }

    #[test]
    fn find_helpers() {
        let mut hay = vec![b'a'; 100];
        assert_eq!(find_byte(b'x', &hay), None);
        assert_eq!(rfind_byte(b'x', &hay), None);
        for at in [0, 5, 31, 32, 33, 67, 68, 99] {
            hay[at] = b'x';
            assert_eq!(find_byte(b'x', &hay), memchr(b'x', &hay), "{at}");
            assert_eq!(rfind_byte(b'x', &hay), memrchr(b'x', &hay), "{at}");
            hay[at] = b'a';
        }
        hay[10] = b'x';
        hay[90] = b'x';
        assert_eq!(find_byte(b'x', &hay), Some(10));
        assert_eq!(rfind_byte(b'x', &hay), Some(90));
        assert_eq!(find_byte(b'x', b""), None);
        assert_eq!(rfind_byte(b'x', b""), None);
    }

    #[test]
    fn record_reuse_after_clear() {
        let p = AccessParser::new(AccessMode::Auto);
        let mut rec = Record::with_fields(p.field_count());
        let a = b"h 1.1.1.1 - - [t] \"GET /x HTTP/1.1\" 200 1 \"-\" \"ua\" 0.1";
        p.parse(a, &mut rec).unwrap();
        assert_eq!(rec.get(a, HOST), Some(&b"h"[..]));
        rec.clear();
        let b = b"1.1.1.1 - - [t] \"-\" 200 1";
        p.parse(b, &mut rec).unwrap();
        assert_eq!(rec.get(b, HOST), None);
        assert_eq!(rec.get(b, REQUEST_TIME), None);
        assert_eq!(rec.get(b, REQUEST_METHOD), None);
        assert_eq!(rec.get(b, REMOTE_ADDR), Some(&b"1.1.1.1"[..]));
    }
}
