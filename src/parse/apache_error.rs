//! `apache_error`: Apache httpd's `ErrorLog`, in the 2.2 and the 2.4 default layouts.
//!
//! - 2.2: `[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] MESSAGE`
//! - 2.4: `[Thu Jun 27 06:58:09.169510 2019] [proxy_fcgi:error] [pid 1234:tid 5678]
//!   [client 1.2.3.4:5678] AH01071: MESSAGE`, where debug and trace levels put the source
//!   location (`mod_rewrite.c(470): `) and errors an APR status (`(70007)The timeout specified
//!   has expired: `) before the client block.
//!
//! Fields: `timestamp` (inside the brackets, as written), `module` (2.4; absent for `[:error]`),
//! `level` (`emerg` … `debug`, `trace1` … `trace8`), `pid`, `tid`, `prefix` (the source
//! location or APR status before the client block), `client` (the address; alias
//! `remote_addr`), `client_port`, `message` (after the client block, up to a trailing
//! `, referer: …`), `code` (the `AH01071` a 2.4 message starts with) and `http_referer`
//! (alias `referer`). `[remote …]` is read like `[client …]`.
//!
//! The client's port is split off `a.b.c.d:port` in both layouts; an IPv6 address with a port
//! (`::1:5678`, 2.4 writes `ip:port` without brackets) is split at its last colon only in the
//! 2.4 layout, as 2.2 never writes a port.

use memchr::memmem;

use super::scan::{clock, month, weekday, Cursor, Schema};
use super::{FieldId, LineParser, ParseError, Record};

const E_TIMESTAMP: ParseError = ParseError("apache_error: no [Www Mmm dd hh:mm:ss yyyy] timestamp");
const E_LEVEL: ParseError = ParseError("apache_error: no [level] or [module:level]");
const E_BLOCK: ParseError = ParseError("apache_error: unterminated [pid …] or [client …]");

const TIMESTAMP: FieldId = 0;
const MODULE: FieldId = 1;
const LEVEL: FieldId = 2;
const PID: FieldId = 3;
const TID: FieldId = 4;
const PREFIX: FieldId = 5;
const CLIENT: FieldId = 6;
const CLIENT_PORT: FieldId = 7;
const CODE: FieldId = 8;
const MESSAGE: FieldId = 9;
const HTTP_REFERER: FieldId = 10;

static SCHEMA: Schema = Schema {
    names: &[
        "timestamp",
        "module",
        "level",
        "pid",
        "tid",
        "prefix",
        "client",
        "client_port",
        "code",
        "message",
        "http_referer",
    ],
    aliases: &[("remote_addr", "client")],
};

/// Parser for Apache httpd error log lines.
#[derive(Debug, Clone, Default)]
pub struct ApacheErrorParser;

impl ApacheErrorParser {
    /// The parser (it has no settings).
    pub fn new() -> Self {
        ApacheErrorParser
    }
}

impl LineParser for ApacheErrorParser {
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
            c.eat(b'[').then_some(())?;
            weekday(c)?;
            c.eat(b' ').then_some(())?;
            month(c)?;
            c.eat(b' ').then_some(())?;
            c.eat(b' ');
            c.digits(1, 2)?;
            c.eat(b' ').then_some(())?;
            clock(c)?;
            c.eat(b' ').then_some(())?;
            c.digits(4, 4)?;
            c.eat(b']').then_some(())
        })
        .ok_or(E_TIMESTAMP)?;
        rec.set(TIMESTAMP, 1, c.pos - 1);

        if !c.eat_str(b" [") {
            return Err(E_LEVEL);
        }
        let (bs, be) = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let mut v24 = c.eat(b':');
        let (ls, le) = if v24 {
            if be > bs {
                rec.set(MODULE, bs, be);
            }
            c.take_while(|b| b.is_ascii_alphanumeric())
        } else {
            (bs, be)
        };
        if ls == le || !c.eat(b']') {
            return Err(E_LEVEL);
        }
        rec.set(LEVEL, ls, le);
        c.eat(b' ');

        if c.eat_str(b"[pid ") {
            v24 = true;
            let (s, e) = c.take_while(|b| b.is_ascii_digit());
            rec.set(PID, s, e);
            if c.eat_str(b":tid ") {
                let (s, e) = c.take_while(|b| b.is_ascii_digit());
                rec.set(TID, s, e);
            }
            c.until(b']').ok_or(E_BLOCK)?;
            c.pos += 1;
            c.eat(b' ');
        }

        if !at_client(&c) {
            if let Some(k) = memmem::find(c.rest(), b": [client ") {
                let prefix = c.rest().get(..k).unwrap_or_default();
                if looks_like_prefix(prefix) {
                    rec.set(PREFIX, c.pos, c.pos + k);
                    c.pos += k + 2;
                }
            }
        }
        if at_client(&c) {
            c.pos += b"[client ".len();
            let s = c.pos;
            let e = c.until(b']').ok_or(E_BLOCK)?;
            c.pos += 1;
            c.eat(b' ');
            let addr = line.get(s..e).unwrap_or_default();
            let colons = memchr::memchr_iter(b':', addr).count();
            let port = memchr::memrchr(b':', addr).filter(|&i| {
                let p = addr.get(i + 1..).unwrap_or_default();
                (colons == 1 || v24)
                    && (1..=5).contains(&p.len())
                    && p.iter().all(u8::is_ascii_digit)
            });
            match port {
                Some(i) => {
                    rec.set(CLIENT, s, s + i);
                    rec.set(CLIENT_PORT, s + i + 1, e);
                }
                None => rec.set(CLIENT, s, e),
            }
        }

        let ms = c.pos;
        let me = match memmem::find(c.rest(), b", referer: ") {
            Some(k) => {
                rec.set(HTTP_REFERER, ms + k + 11, line.len());
                ms + k
            }
            None => line.len(),
        };
        rec.set(MESSAGE, ms, me);
        let mut m = c;
        if m.eat_str(b"AH") && m.digits(5, 5).is_some() && m.peek() == Some(b':') {
            rec.set(CODE, ms, m.pos);
        }
        Ok(())
    }
}

/// At `[client ` or `[remote ` (same length, so the caller skips either the same way).
fn at_client(c: &Cursor) -> bool {
    let r = c.rest();
    r.starts_with(b"[client ") || r.starts_with(b"[remote ")
}

/// The 2.4 text before the client block: `file.c(470)`, `(70007)The timeout …`, or both.
fn looks_like_prefix(p: &[u8]) -> bool {
    if memchr::memchr(b'[', p).is_some() {
        return false;
    }
    let apr = |p: &[u8]| p.first() == Some(&b'(') && p.get(1).is_some_and(u8::is_ascii_digit);
    let first = p.split(|&b| b == b' ').next().unwrap_or_default();
    apr(p)
        || (first.ends_with(b")") || first.ends_with(b"):"))
            && memchr::memchr(b'(', first).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse(line: &[u8]) -> Result<BTreeMap<&'static str, String>, ParseError> {
        let p = ApacheErrorParser::new();
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

    fn want(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn apache_22() {
        assert_eq!(
            parse(b"[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test").unwrap(),
            want(&[
                ("timestamp", "Wed Oct 11 14:32:52 2000"),
                ("level", "error"),
                ("client", "127.0.0.1"),
                ("message", "client denied by server configuration: /export/home/live/ap/htdocs/test"),
            ])
        );
        let f = parse(b"[Mon Dec 26 16:17:53 2016] [notice] Apache/2.2.22 configured -- resuming normal operations").unwrap();
        assert_eq!((f.get("client"), f["level"].as_str()), (None, "notice"));
        let g = parse(b"[Mon Dec 26 16:22:08 2016] [error] [client ::1] File does not exist: /var/www/favicon.ico, referer: http://192.0.2.72/").unwrap();
        assert_eq!((g["client"].as_str(), g.get("client_port")), ("::1", None));
        assert_eq!(g["message"], "File does not exist: /var/www/favicon.ico");
        assert_eq!(g["http_referer"], "http://192.0.2.72/");
    }

    #[test]
    fn apache_24() {
        assert_eq!(
            parse(b"[Thu Jun 27 06:58:09.169510 2019] [proxy_fcgi:error] [pid 1234:tid 5678] [client 1.2.3.4:5678] AH01071: Got error 'Primary script unknown'").unwrap(),
            want(&[
                ("timestamp", "Thu Jun 27 06:58:09.169510 2019"),
                ("module", "proxy_fcgi"),
                ("level", "error"),
                ("pid", "1234"),
                ("tid", "5678"),
                ("client", "1.2.3.4"),
                ("client_port", "5678"),
                ("code", "AH01071"),
                ("message", "AH01071: Got error 'Primary script unknown'"),
            ])
        );
        let f = parse(b"[Mon Dec 26 16:15:55.103786 2016] [core:notice] [pid 11379] AH00094: Command line: '/usr/sbin/apache2'").unwrap();
        assert_eq!(
            (f["pid"].as_str(), f.get("tid"), f.get("client")),
            ("11379", None, None)
        );
        let g = parse(b"[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 2001:db8::7:51234] File does not exist: /x").unwrap();
        assert_eq!(
            (g["client"].as_str(), g["client_port"].as_str()),
            ("2001:db8::7", "51234")
        );
        assert_eq!(g.get("code"), None);
        let h = parse(b"[Sat Nov 27 10:00:00.000001 2026] [rewrite:trace3] [pid 12:tid 34] mod_rewrite.c(470): [client 10.1.2.3:38350] 10.1.2.3 - - [x/sid#1][rid#2/initial] applying pattern '^(.*)$' to uri '/'").unwrap();
        assert_eq!(
            (
                h["prefix"].as_str(),
                h["client"].as_str(),
                h["level"].as_str()
            ),
            ("mod_rewrite.c(470)", "10.1.2.3", "trace3")
        );
        assert!(h["message"].starts_with("10.1.2.3 - - [x/sid#1]"));
        let i = parse(b"[Sat Nov 27 10:00:00.1 2026] [proxy:error] [pid 9] (70007)The timeout specified has expired: [client 192.0.2.1:80] AH01102: error reading status line").unwrap();
        assert_eq!(i["prefix"], "(70007)The timeout specified has expired");
        assert_eq!(i["code"], "AH01102");
        let j = parse(
            b"[Sat Nov 27 10:00:00 2026] [:error] [pid 9] [client 192.0.2.1:80] PHP Warning: x",
        )
        .unwrap();
        assert_eq!((j.get("module"), j["level"].as_str()), (None, "error"));
        // A message that merely mentions a client block is not a prefix.
        let k =
            parse(b"[Sat Nov 27 10:00:00 2026] [core:info] [pid 9] said hello: [client 6.6.6.6] x")
                .unwrap();
        assert_eq!((k.get("prefix"), k.get("client")), (None, None));
    }

    #[test]
    fn not_apache_error_lines() {
        for bad in [
            &b""[..],
            b"[Wed Oct 11 14:32:52 2000]",
            b"[Wed Oct 11 14:32:52 2000] error",
            b"[Wed Oct 11 14:32:52 2000] [] x",
            b"[Wed Oct 11 14:32:52 2000] [core:error] [pid 12",
            b"[Wed Oct 11 14:32:52 2000] [error] [client 1.2.3.4",
            b"[Xyz Oct 11 14:32:52 2000] [error] x",
            b"[11/Oct/2000:14:32:52 +0000] [error] x",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
