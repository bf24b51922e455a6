//! `nginx_error`: nginx's `error_log`.
//!
//! `2026/11/27 10:00:00 [error] 123#456: *789 MESSAGE, client: 1.2.3.4, server: x,
//! request: "GET / HTTP/1.1", upstream: "http://…", host: "x", referrer: "…"`.
//!
//! Fields: `timestamp` (as written), `level` (`debug` … `emerg`), `pid`, `tid`, `connection`
//! (the `*789` number, absent on process-level lines), `message` (the text before the
//! `, client: ` trailer nginx appends), and the trailer's values without their quotes:
//! `client`, `server`, `request` (split into `request_method request_uri server_protocol`
//! when it has that shape), `upstream`, `host` (the Host header) and `http_referer` (alias
//! `referrer`). The trailer starts at the first `, client: ` of the record; trailer keys other
//! than these (`subrequest`) are skipped.
//!
//! A record may span several lines (PHP-FPM writes its stderr with newlines in it): the
//! format's built-in multiline rule ([`MULTILINE_START`]) joins every line that does not start
//! with a timestamp onto the record above, and the trailer is then found after the last line.

use memchr::memmem;

use super::access::split_request;
use super::scan::{clock, Cursor, Schema};
use super::{FieldId, LineParser, ParseError, Record};

/// Start of a record, for the built-in multiline rule.
pub const MULTILINE_START: &str = r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[";

const E_TIMESTAMP: ParseError = ParseError("nginx_error: no YYYY/MM/DD hh:mm:ss timestamp");
const E_LEVEL: ParseError = ParseError("nginx_error: no [level]");
const E_PID: ParseError = ParseError("nginx_error: no PID#TID:");

const TIMESTAMP: FieldId = 0;
const LEVEL: FieldId = 1;
const PID: FieldId = 2;
const TID: FieldId = 3;
const CONNECTION: FieldId = 4;
const MESSAGE: FieldId = 5;
const CLIENT: FieldId = 6;
const SERVER: FieldId = 7;
const REQUEST: FieldId = 8;
const REQUEST_METHOD: FieldId = 9;
const REQUEST_URI: FieldId = 10;
const SERVER_PROTOCOL: FieldId = 11;
const UPSTREAM: FieldId = 12;
const HOST: FieldId = 13;
const HTTP_REFERER: FieldId = 14;

static SCHEMA: Schema = Schema {
    names: &[
        "timestamp",
        "level",
        "pid",
        "tid",
        "connection",
        "message",
        "client",
        "server",
        "request",
        "request_method",
        "request_uri",
        "server_protocol",
        "upstream",
        "host",
        "http_referer",
    ],
    aliases: &[("cid", "connection")],
};

/// Parser for nginx error log records.
#[derive(Debug, Clone, Default)]
pub struct NginxErrorParser;

impl NginxErrorParser {
    /// The parser (it has no settings).
    pub fn new() -> Self {
        NginxErrorParser
    }
}

impl LineParser for NginxErrorParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        SCHEMA.field(name)
    }

    fn field_count(&self) -> usize {
        SCHEMA.names.len()
    }

    fn known_fields(&self) -> Vec<String> {
        SCHEMA.known()
    }

    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        let mut c = Cursor::new(line);
        c.attempt(|c| {
            c.digits(4, 4)?;
            c.eat(b'/').then_some(())?;
            c.digits(2, 2)?;
            c.eat(b'/').then_some(())?;
            c.digits(2, 2)?;
            c.eat(b' ').then_some(())?;
            clock(c)
        })
        .ok_or(E_TIMESTAMP)?;
        rec.set(TIMESTAMP, 0, c.pos);
        if !c.eat_str(b" [") {
            return Err(E_LEVEL);
        }
        let (ls, le) = c.take_while(|b| b.is_ascii_alphabetic());
        if ls == le || !c.eat_str(b"] ") {
            return Err(E_LEVEL);
        }
        rec.set(LEVEL, ls, le);
        let (ps, pe) = c.digits(1, 20).ok_or(E_PID)?;
        if !c.eat(b'#') {
            return Err(E_PID);
        }
        let (ts, te) = c.digits(1, 20).ok_or(E_PID)?;
        if !c.eat(b':') {
            return Err(E_PID);
        }
        rec.set(PID, ps, pe);
        rec.set(TID, ts, te);
        c.eat(b' ');
        if let Some((s, e)) = c.attempt(|c| {
            c.eat(b'*').then_some(())?;
            let d = c.digits(1, 20)?;
            c.eat(b' ').then_some(d)
        }) {
            rec.set(CONNECTION, s, e);
        }
        let ms = c.pos;
        match memmem::find(c.rest(), b", client: ") {
            Some(k) => {
                rec.set(MESSAGE, ms, ms + k);
                trailer(line, ms + k + 2, rec);
            }
            None => rec.set(MESSAGE, ms, line.len()),
        }
        Ok(())
    }
}

/// The `key: value, key: "value"` pairs from `at` (which is at `client: `) to the end.
fn trailer(line: &[u8], at: usize, rec: &mut Record) {
    let mut c = Cursor { line, pos: at };
    loop {
        let (ks, ke) = c.take_while(|b| b.is_ascii_lowercase() || b == b'_');
        if ks == ke || !c.eat_str(b": ") {
            return;
        }
        let (vs, ve) = if c.eat(b'"') {
            let vs = c.pos;
            let ve = closing_quote(line, vs);
            c.pos = (ve + 1).min(line.len());
            (vs, ve)
        } else {
            let rest = c.rest();
            let ve = c.pos + memmem::find(rest, b", ").unwrap_or(rest.len());
            let vs = c.pos;
            c.pos = ve;
            (vs, ve)
        };
        let id = match line.get(ks..ke).unwrap_or_default() {
            b"client" => Some(CLIENT),
            b"server" => Some(SERVER),
            b"request" => Some(REQUEST),
            b"upstream" => Some(UPSTREAM),
            b"host" => Some(HOST),
            b"referrer" => Some(HTTP_REFERER),
            _ => None,
        };
        if let Some(id) = id {
            rec.set(id, vs, ve);
            if id == REQUEST {
                split_request(
                    line,
                    vs,
                    ve,
                    rec,
                    [REQUEST_METHOD, REQUEST_URI, SERVER_PROTOCOL],
                );
            }
        }
        if !c.eat_str(b", ") {
            return;
        }
    }
}

/// The `"` closing a value that starts at `vs`: the first one followed by the end of the record
/// or by `, key: ` (values such as the request line may hold quotes of their own).
fn closing_quote(line: &[u8], vs: usize) -> usize {
    let rest = line.get(vs..).unwrap_or_default();
    for q in memchr::memchr_iter(b'"', rest) {
        let after = rest.get(q + 1..).unwrap_or_default();
        if after.is_empty() {
            return vs + q;
        }
        if let Some(tail) = after.strip_prefix(b", ") {
            let key = tail
                .iter()
                .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
                .count();
            if key > 0 && tail.get(key..).is_some_and(|t| t.starts_with(b": ")) {
                return vs + q;
            }
        }
    }
    line.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse(line: &[u8]) -> Result<BTreeMap<&'static str, String>, ParseError> {
        let p = NginxErrorParser::new();
        let mut rec = Record::with_fields(p.field_count());
        p.parse(line, &mut rec)?;
        Ok(SCHEMA
            .names
            .iter()
            .enumerate()
            .filter_map(|(id, n)| {
                Some((*n, String::from_utf8_lossy(rec.get(line, id)?).into_owned()))
            })
            .collect())
    }

    #[test]
    fn request_error_with_full_trailer() {
        let f = parse(br#"2026/11/27 10:00:00 [error] 123#456: *789 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.7, server: shop.example, request: "GET /api/a"b HTTP/1.1", upstream: "http://10.0.0.5:8080/api/a", host: "shop.example", referrer: "https://shop.example/""#).unwrap();
        let want: BTreeMap<&str, String> = [
            ("timestamp", "2026/11/27 10:00:00"),
            ("level", "error"),
            ("pid", "123"),
            ("tid", "456"),
            ("connection", "789"),
            (
                "message",
                "connect() failed (111: Connection refused) while connecting to upstream",
            ),
            ("client", "203.0.113.7"),
            ("server", "shop.example"),
            ("request", "GET /api/a\"b HTTP/1.1"),
            ("request_method", "GET"),
            ("request_uri", "/api/a\"b"),
            ("server_protocol", "HTTP/1.1"),
            ("upstream", "http://10.0.0.5:8080/api/a"),
            ("host", "shop.example"),
            ("http_referer", "https://shop.example/"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        assert_eq!(f, want);
    }

    #[test]
    fn process_lines_and_multiline_records() {
        let f = parse(b"2026/11/27 10:00:00 [notice] 1#1: signal process started").unwrap();
        assert_eq!(f.get("connection"), None);
        assert_eq!(f["message"], "signal process started");
        let g = parse(b"2026/11/27 10:00:00 [error] 7#7: *1 FastCGI sent in stderr: \"PHP message: PHP Warning:  x in /a.php on line 3\nPHP message: PHP Notice:  y\" while reading response header from upstream, client: ::1, server: _, request: \"POST /a.php HTTP/2.0\"").unwrap();
        assert!(g["message"].ends_with("from upstream") && g["message"].contains('\n'));
        assert_eq!(
            (g["client"].as_str(), g["request_method"].as_str()),
            ("::1", "POST")
        );
        // Junk request: kept whole, not split.
        let h = parse(b"2026/11/27 10:00:00 [info] 7#7: *2 client sent invalid method, client: 1.2.3.4, server: _, request: \"\x16\x03\x01\"").unwrap();
        assert_eq!(
            (h["request"].as_str(), h.get("request_method")),
            ("\u{16}\u{3}\u{1}", None)
        );
        // Unterminated quote: the value runs to the end.
        let i = parse(b"2026/11/27 10:00:00 [warn] 7#7: *3 x, client: 1.2.3.4, request: \"GET /")
            .unwrap();
        assert_eq!(i["request"], "GET /");
    }

    #[test]
    fn not_nginx_error_lines() {
        for bad in [
            &b""[..],
            b"2026/11/27 10:00:00",
            b"2026/11/27 10:00:00 [error]",
            b"2026/11/27 10:00:00 [error] 1: x",
            b"2026-11-27 10:00:00 [error] 1#1: x",
            b"PHP message: PHP Notice: y",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn multiline_start_matches_headers_only() {
        let re = regex::Regex::new(MULTILINE_START).unwrap();
        assert!(re.is_match("2026/11/27 10:00:00 [error] 1#1: x"));
        assert!(!re.is_match("PHP message: 2026/11/27 10:00:00 [error]"));
    }
}
