//! `haproxy`: HAProxy's `option httplog`, `option tcplog` and `option httplog clf` lines, told
//! apart per line, as `log stdout format raw` writes them or behind a syslog prefix
//! ending in the tag's `: ` (`Dec  6 11:00:00 lb1 haproxy[123]: …`, as rsyslog writes them).
//!
//! ```text
//! httplog  %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq [{%hr}] [{%hs}] "%r"
//! tcplog   %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
//! clf      %ci - - [%trg] "%r" %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl
//! ```
//!
//! | field | value |
//! |---|---|
//! | `remote_addr` (alias `client_ip`), `client_port` | `%ci`, `%cp` |
//! | `time_local` (aliases `accept_date`, `timestamp`) | `06/Dec/2026:11:00:00.123`, or `06/Dec/2026:11:00:00 +0000` in clf |
//! | `frontend`, `backend`, `server` | `%ft` (a `~` marks TLS), `%b`, `%s` |
//! | `time_request`, `time_queue`, `time_connect`, `time_response`, `time_active` | `TR Tw Tc Tr Ta` in ms, as written (`-1`: not reached); tcplog: `time_queue time_connect time_total` |
//! | `request_time` | `Ta` (tcplog: `Tt`) in seconds; missing when `-1` |
//! | `status` | `%ST` (not in tcplog) |
//! | `body_bytes_sent` (alias `bytes_read`) | `%B`, bytes sent to the client (a logasap `+` dropped) |
//! | `captured_request_cookie`, `captured_response_cookie` | `%CC`, `%CS` |
//! | `termination_state` | `%tsc` / `%ts` (`----`, `SD--`, …) |
//! | `actconn`, `feconn`, `beconn`, `srv_conn`, `retries`, `srv_queue`, `backend_queue` | the counters |
//! | `captured_request_headers`, `captured_response_headers` | the `{…}` blocks, when captures are configured |
//! | `request`, `request_method`, `request_uri`, `server_protocol` | `%r` (`<BADREQ>` has no method) |
//! | `http_referer`, `http_user_agent` | clf's two quoted fields, when not empty |

use super::access::split_request;
use super::scan::{Cursor, Schema};
use super::{FieldId, LineParser, ParseError, Record};

const E_LINE: ParseError = ParseError("haproxy: not an httplog, tcplog or clf line");

static SCHEMA: Schema = Schema {
    names: &[
        "remote_addr",
        "client_port",
        "time_local",
        "frontend",
        "backend",
        "server",
        "time_request",
        "time_queue",
        "time_connect",
        "time_response",
        "time_active",
        "time_total",
        "request_time",
        "status",
        "body_bytes_sent",
        "captured_request_cookie",
        "captured_response_cookie",
        "termination_state",
        "actconn",
        "feconn",
        "beconn",
        "srv_conn",
        "retries",
        "srv_queue",
        "backend_queue",
        "captured_request_headers",
        "captured_response_headers",
        "request",
        "request_method",
        "request_uri",
        "server_protocol",
        "http_referer",
        "http_user_agent",
    ],
    aliases: &[
        ("client_ip", "remote_addr"),
        ("accept_date", "time_local"),
        ("timestamp", "time_local"),
        ("bytes_read", "body_bytes_sent"),
    ],
};

const REMOTE_ADDR: FieldId = 0;
const CLIENT_PORT: FieldId = 1;
const TIME_LOCAL: FieldId = 2;
const FRONTEND: FieldId = 3;
const BACKEND: FieldId = 4;
const SERVER: FieldId = 5;
const TIME_REQUEST: FieldId = 6;
const TIME_QUEUE: FieldId = 7;
const TIME_CONNECT: FieldId = 8;
const TIME_RESPONSE: FieldId = 9;
const TIME_ACTIVE: FieldId = 10;
const TIME_TOTAL: FieldId = 11;
const REQUEST_TIME: FieldId = 12;
const STATUS: FieldId = 13;
const BYTES: FieldId = 14;
const REQ_COOKIE: FieldId = 15;
const RESP_COOKIE: FieldId = 16;
const TERMINATION: FieldId = 17;
const CONNS: [FieldId; 5] = [18, 19, 20, 21, 22];
const QUEUES: [FieldId; 2] = [23, 24];
const REQ_HEADERS: FieldId = 25;
const RESP_HEADERS: FieldId = 26;
const REQUEST: FieldId = 27;
const SPLIT: [FieldId; 3] = [28, 29, 30];
const REFERER: FieldId = 31;
const USER_AGENT: FieldId = 32;

/// Longest syslog prefix searched for the start of HAProxy's own text.
const MAX_PREFIX: usize = 512;

/// Parser for HAProxy's log formats.
#[derive(Debug, Clone, Default)]
pub struct HaproxyParser;

impl HaproxyParser {
    /// The parser (it has no settings).
    pub fn new() -> Self {
        HaproxyParser
    }
}

/// Set `id` to `s..e` unless the span is empty.
fn put(rec: &mut Record, id: FieldId, (s, e): (usize, usize)) {
    if s < e {
        rec.set(id, s, e);
    }
}

/// A space, then a token; its span.
fn next(c: &mut Cursor) -> Option<(usize, usize)> {
    c.eat(b' ').then_some(())?;
    let t = c.token();
    (t.0 < t.1).then_some(t)
}

/// A space, then the status code (digits); its span.
fn status(line: &[u8], c: &mut Cursor) -> Option<(usize, usize)> {
    let t = next(c)?;
    line.get(t.0..t.1)?
        .iter()
        .all(u8::is_ascii_digit)
        .then_some(t)
}

/// `a/b/c…` split into exactly `n` spans.
fn slashed<const N: usize>(line: &[u8], (s, e): (usize, usize)) -> Option<[(usize, usize); N]> {
    let mut out = [(0, 0); N];
    let mut start = s;
    for (k, slot) in out.iter_mut().enumerate() {
        let rest = line.get(start..e)?;
        let end = if k + 1 == N {
            if memchr::memchr(b'/', rest).is_some() {
                return None;
            }
            e
        } else {
            start + memchr::memchr(b'/', rest)?
        };
        *slot = (start, end);
        start = end + 1;
    }
    Some(out)
}

/// A number as HAProxy writes it: digits, `-1`, or with logasap's `+`. The span without `+`.
fn number(line: &[u8], (s, e): (usize, usize)) -> Option<(usize, usize)> {
    let v = line.get(s..e)?;
    let (s, v) = match v.first() {
        Some(b'+') => (s + 1, v.get(1..)?),
        _ => (s, v),
    };
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit)).then_some((s, e))
}

/// `Ta` (or `Tt`) in ms → `request_time` in seconds, in the scratch; none for `-1`.
fn seconds(line: &[u8], rec: &mut Record, (s, e): (usize, usize)) {
    let Some(ms) = line.get(s..e).filter(|v| v.iter().all(u8::is_ascii_digit)) else {
        return;
    };
    let ms = ms.get(ms.len().saturating_sub(15)..).unwrap_or(ms);
    let v = ms.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
    let mut buf = [0u8; 24];
    let mut w = &mut buf[..];
    use std::io::Write;
    if write!(w, "{}.{:03}", v / 1000, v % 1000).is_ok() {
        let n = 24 - w.len();
        rec.set_owned(REQUEST_TIME, buf.get(..n).unwrap_or_default());
    }
}

impl HaproxyParser {
    /// `%ci:%cp [date] …` (httplog, tcplog) starting at `at`.
    fn native(line: &[u8], at: usize, rec: &mut Record) -> Option<()> {
        let mut c = Cursor { line, pos: at };
        let (s, e) = c.token();
        let client = line.get(s..e)?;
        let colon = memchr::memrchr(b':', client)?;
        let port = client.get(colon + 1..)?;
        if colon == 0 || port.is_empty() || !port.iter().all(u8::is_ascii_digit) {
            return None;
        }
        c.eat_str(b" [").then_some(())?;
        let ds = c.pos;
        let de = c.until(b']')?;
        c.pos += 1;
        let (fs, fe) = next(&mut c)?;
        let bs = next(&mut c)?;
        let [b, srv] = slashed::<2>(line, bs)?;
        let timers = next(&mut c)?;
        let t5 = slashed::<5>(line, timers);
        let t3 = slashed::<3>(line, timers);
        if let Some(t) = t5 {
            // httplog
            let status = status(line, &mut c)?;
            let bytes = number(line, next(&mut c)?)?;
            let cc = next(&mut c)?;
            let cs = next(&mut c)?;
            let tsc = next(&mut c)?;
            let conns = slashed::<5>(line, next(&mut c)?)?;
            let queues = slashed::<2>(line, next(&mut c)?)?;
            let mut headers = [(0, 0); 2];
            let mut k = 0;
            while c.eat_str(b" {") {
                let hs = c.pos;
                let he = c.until(b'}')?;
                c.pos += 1;
                if let Some(slot) = headers.get_mut(k) {
                    *slot = (hs, he);
                }
                k += 1;
            }
            c.eat_str(b" \"").then_some(())?;
            let rs = c.pos;
            let re = memchr::memrchr(b'"', line.get(rs..)?).map(|i| rs + i)?;
            for (id, span) in [
                (TIME_REQUEST, t[0]),
                (TIME_QUEUE, t[1]),
                (TIME_CONNECT, t[2]),
            ]
            .into_iter()
            .chain([(TIME_RESPONSE, t[3]), (TIME_ACTIVE, t[4])])
            {
                put(rec, id, number(line, span)?);
            }
            if let Some(ta) = number(line, t[4]) {
                seconds(line, rec, ta);
            }
            put(rec, STATUS, status);
            put(rec, BYTES, bytes);
            put(rec, REQ_COOKIE, cc);
            put(rec, RESP_COOKIE, cs);
            put(rec, TERMINATION, tsc);
            for (id, span) in CONNS.into_iter().zip(conns) {
                put(rec, id, number(line, span).unwrap_or(span));
            }
            for (id, span) in QUEUES.into_iter().zip(queues) {
                put(rec, id, span);
            }
            // One block is the request captures; a second, the response's.
            if k > 0 {
                put(rec, REQ_HEADERS, headers[0]);
            }
            if k > 1 {
                put(rec, RESP_HEADERS, headers[1]);
            }
            put(rec, REQUEST, (rs, re));
            split_request(line, rs, re, rec, SPLIT);
        } else {
            // tcplog
            let t = t3?;
            let bytes = number(line, next(&mut c)?)?;
            let ts = next(&mut c)?;
            let conns = slashed::<5>(line, next(&mut c)?)?;
            let queues = slashed::<2>(line, next(&mut c)?)?;
            for (id, span) in [(TIME_QUEUE, t[0]), (TIME_CONNECT, t[1]), (TIME_TOTAL, t[2])] {
                put(rec, id, number(line, span)?);
            }
            if let Some(tt) = number(line, t[2]) {
                seconds(line, rec, tt);
            }
            put(rec, BYTES, bytes);
            put(rec, TERMINATION, ts);
            for (id, span) in CONNS.into_iter().zip(conns) {
                put(rec, id, number(line, span).unwrap_or(span));
            }
            for (id, span) in QUEUES.into_iter().zip(queues) {
                put(rec, id, span);
            }
        }
        rec.set(REMOTE_ADDR, s, s + colon);
        rec.set(CLIENT_PORT, s + colon + 1, e);
        rec.set(TIME_LOCAL, ds, de);
        rec.set(FRONTEND, fs, fe);
        put(rec, BACKEND, b);
        put(rec, SERVER, srv);
        Some(())
    }

    /// `option httplog clf` starting at `at`.
    fn clf(line: &[u8], at: usize, rec: &mut Record) -> Option<()> {
        let mut c = Cursor { line, pos: at };
        let quoted = |c: &mut Cursor| -> Option<(usize, usize)> {
            c.eat(b' ').then_some(())?;
            if c.eat(b'"') {
                let s = c.pos;
                let e = c.until(b'"')?;
                c.pos += 1;
                Some((s, e))
            } else {
                let t = c.token();
                (t.0 < t.1).then_some(t)
            }
        };
        let client = c.token();
        (client.0 < client.1).then_some(())?;
        c.eat_str(b" - - [").then_some(())?;
        let ds = c.pos;
        let de = c.until(b']')?;
        c.pos += 1;
        c.eat_str(b" \"").then_some(())?;
        let rs = c.pos;
        // The request is followed by `" <status> `.
        let re = rs + memchr::memmem::find(line.get(rs..)?, b"\" ")?;
        c.pos = re + 1;
        let status = status(line, &mut c)?;
        let bytes = number(line, next(&mut c)?)?;
        let referer = quoted(&mut c)?;
        let agent = quoted(&mut c)?;
        let port = next(&mut c)?;
        let _ms = next(&mut c)?;
        let ft = quoted(&mut c)?;
        let b = quoted(&mut c)?;
        let srv = quoted(&mut c)?;
        let mut t = [(0, 0); 5];
        for slot in &mut t {
            *slot = number(line, next(&mut c)?)?;
        }
        let tsc = quoted(&mut c)?;
        let mut conns = [(0, 0); 5];
        for slot in &mut conns {
            *slot = next(&mut c)?;
        }
        let mut queues = [(0, 0); 2];
        for slot in &mut queues {
            *slot = next(&mut c)?;
        }
        put(rec, REQ_COOKIE, quoted(&mut c).unwrap_or_default());
        put(rec, RESP_COOKIE, quoted(&mut c).unwrap_or_default());
        rec.set(REMOTE_ADDR, client.0, client.1);
        put(rec, CLIENT_PORT, port);
        rec.set(TIME_LOCAL, ds, de);
        put(rec, REQUEST, (rs, re));
        split_request(line, rs, re, rec, SPLIT);
        put(rec, STATUS, status);
        put(rec, BYTES, bytes);
        put(rec, REFERER, referer);
        put(rec, USER_AGENT, agent);
        put(rec, FRONTEND, ft);
        put(rec, BACKEND, b);
        put(rec, SERVER, srv);
        for (id, span) in [
            TIME_REQUEST,
            TIME_QUEUE,
            TIME_CONNECT,
            TIME_RESPONSE,
            TIME_ACTIVE,
        ]
        .into_iter()
        .zip(t)
        {
            put(rec, id, span);
        }
        seconds(line, rec, t[4]);
        put(rec, TERMINATION, tsc);
        for (id, span) in CONNS.into_iter().zip(conns) {
            put(rec, id, span);
        }
        for (id, span) in QUEUES.into_iter().zip(queues) {
            put(rec, id, span);
        }
        Some(())
    }

    fn body(line: &[u8], at: usize, rec: &mut Record) -> bool {
        let clf = line
            .get(at..)
            .and_then(|r| memchr::memchr(b' ', r))
            .is_some_and(|sp| {
                line.get(at + sp..)
                    .is_some_and(|r| r.starts_with(b" - - ["))
            });
        let ok = if clf {
            Self::clf(line, at, rec)
        } else {
            Self::native(line, at, rec)
        };
        if ok.is_none() {
            rec.clear();
        }
        ok.is_some()
    }
}

impl LineParser for HaproxyParser {
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
        if Self::body(line, 0, rec) {
            return Ok(());
        }
        // Behind a syslog prefix: HAProxy's text follows the tag's `: `.
        let head = line.get(..line.len().min(MAX_PREFIX)).unwrap_or_default();
        match memchr::memmem::find(head, b": ") {
            Some(i) if Self::body(line, i + 2, rec) => Ok(()),
            _ => Err(E_LINE),
        }
    }
}

#[cfg(test)]
#[path = "haproxy_tests.rs"]
mod tests;
