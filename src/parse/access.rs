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

use super::bytesearch::{find_byte, quoted_end, rfind_byte};
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
#[path = "access_tests.rs"]
mod tests;
