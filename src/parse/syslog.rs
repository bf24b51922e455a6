//! `syslog`: the files rsyslog, syslog-ng and sysklogd write (`/var/log/syslog`, `messages`,
//! `auth.log`, `secure`), in either RFC.
//!
//! RFC 3164 (BSD): `[<PRI>]TIMESTAMP HOST TAG[PID]: MESSAGE`, where TIMESTAMP is
//! `Mmm dd hh:mm:ss` (`Feb  3`, `Feb 03` or `Feb 3`, optional fraction) or ISO 8601 as written
//! by rsyslog's high-precision templates (`2026-11-27T10:00:00.123456+01:00`, any offset style
//! or none). The host is left out when the line has none (the token after the timestamp is
//! already `tag:`, or is macOS's `--- last message repeated …`). A TAG may hold parentheses,
//! `sshd(pam_unix)`: `program` keeps them, `service` is the program without the `(…)` suffix.
//! A line with no `tag:` has no program: its message starts after the host.
//!
//! RFC 5424: `<PRI>VERSION TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`; a `-`
//! (nil) header field is missing. `structured_data` is the raw `[id k="v" …]…` text and
//! `sd.ID.PARAM` (split at the last dot: `sd.origin@32473.ip`) one parameter's value, with
//! `\"`, `\\` and `\]` decoded. A UTF-8 BOM at the start of MSG is dropped.
//!
//! Lines starting with a space or a tab continue the message above (macOS writes object
//! dumps so): the format's built-in multiline rule ([`MULTILINE_START`]) joins them.
//!
//! Fields: `priority` (the number), `facility` and `severity` (names from PRI: `kern` …
//! `local7`, `emerg` … `debug`; alias `level`), `version`, `timestamp` (as written), `host`,
//! `program` (aliases `app`, `app_name`), `service`, `pid` (alias `procid`), `msgid`,
//! `structured_data`, `message`. Asked for by name, `auth_event` (`failure` or `login`) and
//! `auth_count` (how many) give each authentication attempt and login once across sshd's
//! and PAM's lines ([`super::auth_event`]): those two follow the records in order, so only
//! parsers that see a stream of records ask for them.

use std::cell::RefCell;

use super::auth_event::{AuthTracker, Event};
use super::scan::{clock, first_line_end, iso_datetime, month, Cursor, Schema};
use super::{FieldId, LineParser, ParseError, Record};

/// Start of a record, for the built-in multiline rule: any line that does not start with a
/// space or a tab (a syslog line starts with `<`, a month or a year).
pub const MULTILINE_START: &str = r"^[^ \t]";

const E_PRI: ParseError = ParseError("syslog: bad <PRI>");
const E_TIMESTAMP: ParseError = ParseError("syslog: no timestamp");
const E_HEADER: ParseError = ParseError("syslog: RFC 5424 header cut short");
const E_SD: ParseError = ParseError("syslog: bad structured data");

/// Field ids, in the order of [`SCHEMA`].
const PRIORITY: FieldId = 0;
const FACILITY: FieldId = 1;
const SEVERITY: FieldId = 2;
const VERSION: FieldId = 3;
const TIMESTAMP: FieldId = 4;
const HOST: FieldId = 5;
const PROGRAM: FieldId = 6;
const SERVICE: FieldId = 7;
const PID: FieldId = 8;
const MSGID: FieldId = 9;
const STRUCTURED_DATA: FieldId = 10;
const MESSAGE: FieldId = 11;
/// Derived fields, computed only when asked for.
const AUTH_EVENT: FieldId = 12;
const AUTH_COUNT: FieldId = 13;
/// The first `sd.ID.PARAM` field.
const SD_BASE: FieldId = 14;

static SCHEMA: Schema = Schema {
    names: &[
        "priority",
        "facility",
        "severity",
        "version",
        "timestamp",
        "host",
        "program",
        "service",
        "pid",
        "msgid",
        "structured_data",
        "message",
    ],
    aliases: &[
        ("level", "severity"),
        ("app", "program"),
        ("app_name", "program"),
        ("hostname", "host"),
        ("procid", "pid"),
    ],
};

const FACILITIES: [&[u8]; 24] = [
    b"kern",
    b"user",
    b"mail",
    b"daemon",
    b"auth",
    b"syslog",
    b"lpr",
    b"news",
    b"uucp",
    b"cron",
    b"authpriv",
    b"ftp",
    b"ntp",
    b"security",
    b"console",
    b"solaris-cron",
    b"local0",
    b"local1",
    b"local2",
    b"local3",
    b"local4",
    b"local5",
    b"local6",
    b"local7",
];
const SEVERITIES: [&[u8]; 8] = [
    b"emerg", b"alert", b"crit", b"err", b"warning", b"notice", b"info", b"debug",
];

/// A tag longer than this is not a tag (it is the message of a line without one).
const MAX_TAG: usize = 128;

/// An `sd.ID.PARAM` field asked for by the rules.
#[derive(Debug, Clone)]
struct SdField {
    id: Box<[u8]>,
    param: Box<[u8]>,
}

/// Parser for RFC 3164 and RFC 5424 syslog lines.
#[derive(Debug, Clone, Default)]
pub struct SyslogParser {
    sd: Vec<SdField>,
    /// Set once `auth_event` or `auth_count` is asked for.
    auth: Option<RefCell<AuthTracker>>,
}

impl SyslogParser {
    /// A parser with no structured-data fields registered.
    pub fn new() -> Self {
        Self::default()
    }

    /// `c` is on the first line of a record `end` bytes long.
    fn rfc3164(c: &mut Cursor, end: usize, rec: &mut Record) -> Result<(), ParseError> {
        let line = c.line;
        let ts = c.pos;
        let bsd = c.attempt(|c| {
            month(c)?;
            c.eat(b' ').then_some(())?;
            c.eat(b' ');
            c.digits(1, 2)?;
            c.eat(b' ').then_some(())?;
            clock(c)
        });
        if bsd.is_none() && iso_datetime(c, true).is_none() {
            return Err(E_TIMESTAMP);
        }
        rec.set(TIMESTAMP, ts, c.pos);
        if c.skip_spaces() == 0 && !c.at_end() {
            return Err(E_TIMESTAMP);
        }
        let (hs, he) = c.token();
        let host = line.get(hs..he).unwrap_or_default();
        if host == b"---" || host.ends_with(b":") {
            c.pos = hs;
        } else {
            if hs < he {
                rec.set(HOST, hs, he);
            }
            c.skip_spaces();
        }
        let ts = c.pos;
        match tag(c.rest()) {
            Some(Tag {
                program,
                pid,
                message,
            }) => {
                rec.set(PROGRAM, ts, ts + program);
                let service = c
                    .rest()
                    .get(..program)
                    .and_then(|p| memchr::memchr(b'(', p))
                    .filter(|&i| i > 0)
                    .unwrap_or(program);
                rec.set(SERVICE, ts, ts + service);
                if let Some((s, e)) = pid {
                    rec.set(PID, ts + s, ts + e);
                }
                rec.set(MESSAGE, ts + message, end);
            }
            None => rec.set(MESSAGE, ts, end),
        }
        Ok(())
    }

    /// `c` is on the first line of a record `end` bytes long.
    fn rfc5424(&self, c: &mut Cursor, end: usize, rec: &mut Record) -> Result<(), ParseError> {
        let line = c.line;
        if let Some((s, e)) = header_field(c)? {
            let mut t = Cursor {
                line: line.get(..e).unwrap_or_default(),
                pos: s,
            };
            if iso_datetime(&mut t, false).is_none() || !t.at_end() {
                return Err(E_TIMESTAMP);
            }
            rec.set(TIMESTAMP, s, e);
        }
        for id in [HOST, PROGRAM, PID, MSGID] {
            if let Some((s, e)) = header_field(c)? {
                rec.set(id, s, e);
                if id == PROGRAM {
                    let service = line
                        .get(s..e)
                        .and_then(|p| memchr::memchr(b'(', p))
                        .filter(|&i| i > 0)
                        .map_or(e, |i| s + i);
                    rec.set(SERVICE, s, service);
                }
            }
        }
        let sd = c.pos;
        if !c.eat(b'-') {
            if c.peek() != Some(b'[') {
                return Err(E_SD);
            }
            self.structured_data(c, rec)?;
            rec.set(STRUCTURED_DATA, sd, c.pos);
        }
        if c.at_end() && c.pos == end {
            return Ok(());
        }
        if !c.eat(b' ') && !c.at_end() {
            return Err(E_SD);
        }
        c.eat_str(b"\xEF\xBB\xBF");
        rec.set(MESSAGE, c.pos, end);
        Ok(())
    }

    /// `[id k="v" …]…`, filling the `sd.ID.PARAM` fields asked for.
    fn structured_data(&self, c: &mut Cursor, rec: &mut Record) -> Result<(), ParseError> {
        let line = c.line;
        let name_byte = |b: u8| !matches!(b, b' ' | b']' | b'=' | b'"');
        while c.eat(b'[') {
            let (is, ie) = c.take_while(name_byte);
            if is == ie {
                return Err(E_SD);
            }
            loop {
                c.skip_spaces();
                if c.eat(b']') {
                    break;
                }
                let (ns, ne) = c.take_while(name_byte);
                if ns == ne || !c.eat(b'=') || !c.eat(b'"') {
                    return Err(E_SD);
                }
                let vs = c.pos;
                let mut i = vs;
                let mut escaped = false;
                loop {
                    match line.get(i) {
                        None => return Err(E_SD),
                        Some(b'\\') => {
                            escaped = true;
                            i += 2;
                        }
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                c.pos = i + 1;
                if !matches!(c.peek(), Some(b' ' | b']')) {
                    return Err(E_SD);
                }
                if self.sd.is_empty() {
                    continue;
                }
                let (id, name) = (
                    line.get(is..ie).unwrap_or_default(),
                    line.get(ns..ne).unwrap_or_default(),
                );
                let Some(k) = self
                    .sd
                    .iter()
                    .position(|f| *f.id == *id && *f.param == *name)
                else {
                    continue;
                };
                let field = SD_BASE + k;
                if escaped {
                    let start = rec.scratch_mut().len();
                    unescape_param(line.get(vs..i).unwrap_or_default(), rec.scratch_mut());
                    let end = rec.scratch_mut().len();
                    rec.set_scratch(field, start, end);
                } else {
                    rec.set(field, vs, i);
                }
            }
        }
        Ok(())
    }
}

/// RFC 5424 PARAM-VALUE escapes: `\"`, `\\` and `\]` lose their backslash, any other keeps it.
fn unescape_param(v: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        if b == b'\\' {
            if let Some(&n @ (b'"' | b'\\' | b']')) = v.get(i + 1) {
                out.push(n);
                i += 2;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
}

/// `<PRI>`: its span (the digits) and value (0–191).
fn pri(c: &mut Cursor) -> Option<(usize, usize, usize)> {
    c.attempt(|c| {
        c.eat(b'<').then_some(())?;
        let (s, e) = c.digits(1, 3)?;
        c.eat(b'>').then_some(())?;
        let v = c
            .line
            .get(s..e)?
            .iter()
            .fold(0usize, |v, d| v * 10 + usize::from(d - b'0'));
        (v <= 191).then_some((s, e, v))
    })
}

/// One space-terminated RFC 5424 header field; `None` for the nil value `-`.
fn header_field(c: &mut Cursor) -> Result<Option<(usize, usize)>, ParseError> {
    let (s, e) = c.token();
    if s == e || !c.eat(b' ') {
        return Err(E_HEADER);
    }
    Ok((c.line.get(s..e) != Some(b"-")).then_some((s, e)))
}

/// Offsets (relative to the tag's start) of an RFC 3164 tag.
struct Tag {
    program: usize,
    pid: Option<(usize, usize)>,
    message: usize,
}

/// `prog:`, `prog[pid]:`, `sshd(pam_unix)[12]:`, `pam_unix(sudo:session):`, followed by a space
/// or the end of the line; `None` when the text does not start with a tag.
fn tag(s: &[u8]) -> Option<Tag> {
    let mut depth = 0u32;
    let mut i = 0;
    let (program, pid, colon) = loop {
        let b = *s.get(i).filter(|_| i < MAX_TAG)?;
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'[' if depth == 0 => {
                let close = i + 1 + memchr::memchr(b']', s.get(i + 1..)?)?;
                break (i, Some((i + 1, close)), close + 1);
            }
            b':' if depth == 0 => break (i, None, i),
            b' ' | b'\t' if depth == 0 => return None,
            _ => {}
        }
        i += 1;
    };
    if program == 0 || s.get(colon) != Some(&b':') {
        return None;
    }
    let message = match s.get(colon + 1) {
        None => colon + 1,
        Some(b' ') => colon + 2,
        Some(_) => return None,
    };
    Some(Tag {
        program,
        pid,
        message,
    })
}

impl LineParser for SyslogParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        if let Some(id) = SCHEMA.field(name) {
            return Some(id);
        }
        if let Some(id) = match name {
            "auth_event" => Some(AUTH_EVENT),
            "auth_count" => Some(AUTH_COUNT),
            _ => None,
        } {
            self.auth.get_or_insert_with(Default::default);
            return Some(id);
        }
        let (id, param) = name.strip_prefix("sd.")?.rsplit_once('.')?;
        if id.is_empty() || param.is_empty() {
            return None;
        }
        let (id, param) = (id.as_bytes(), param.as_bytes());
        let k = match self
            .sd
            .iter()
            .position(|f| *f.id == *id && *f.param == *param)
        {
            Some(k) => k,
            None => {
                self.sd.push(SdField {
                    id: id.into(),
                    param: param.into(),
                });
                self.sd.len() - 1
            }
        };
        Some(SD_BASE + k)
    }

    fn field_count(&self) -> usize {
        SD_BASE + self.sd.len()
    }

    fn known_fields(&self) -> Vec<String> {
        SCHEMA.known()
    }

    fn parse(&self, record: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        self.parse_record(record, rec)?;
        if let Some(Ok(mut t)) = self.auth.as_ref().map(RefCell::try_borrow_mut) {
            let get = |id| rec.get(record, id).unwrap_or_default();
            let event = t.observe(get(HOST), get(SERVICE), get(PID), get(MESSAGE));
            let (what, n): (&'static [u8], u32) = match event {
                None => return Ok(()),
                Some(Event::Failure(n)) => (b"failure", n),
                Some(Event::Login(n)) => (b"login", n),
            };
            rec.set_static(AUTH_EVENT, what);
            let mut buf = [0u8; 10];
            let mut i = buf.len();
            let mut v = n;
            loop {
                i -= 1;
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 || i == 0 {
                    break;
                }
            }
            rec.set_owned(AUTH_COUNT, buf.get(i..).unwrap_or(b"1"));
        }
        Ok(())
    }
}

impl SyslogParser {
    fn parse_record(&self, record: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        // The header is on the first line; a joined record's other lines are message.
        let header = record.get(..first_line_end(record)).unwrap_or_default();
        let end = record.len();
        let mut c = Cursor::new(header);
        if c.peek() == Some(b'<') {
            let (s, e, v) = pri(&mut c).ok_or(E_PRI)?;
            rec.set(PRIORITY, s, e);
            rec.set_static(
                FACILITY,
                FACILITIES.get(v >> 3).copied().unwrap_or_default(),
            );
            rec.set_static(SEVERITY, SEVERITIES.get(v & 7).copied().unwrap_or_default());
            let version = c.attempt(|c| {
                let d = c.digits(1, 3)?;
                c.eat(b' ').then_some(d)
            });
            if let Some((s, e)) = version {
                rec.set(VERSION, s, e);
                return self.rfc5424(&mut c, end, rec);
            }
            // Some senders put a space after PRI (and no version): read on as BSD.
            c.skip_spaces();
        }
        Self::rfc3164(&mut c, end, rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse_with(p: &SyslogParser, line: &[u8]) -> Result<BTreeMap<String, String>, ParseError> {
        let mut rec = Record::with_fields(p.field_count());
        p.parse(line, &mut rec)?;
        let mut out = BTreeMap::new();
        let names = SCHEMA
            .names
            .iter()
            .map(|s| s.to_string())
            .chain(["auth_event".to_string(), "auth_count".to_string()]);
        let sd = p.sd.iter().map(|f| {
            format!(
                "sd.{}.{}",
                String::from_utf8_lossy(&f.id),
                String::from_utf8_lossy(&f.param)
            )
        });
        for (id, name) in names.chain(sd).enumerate() {
            if let Some(v) = rec.get(line, id) {
                out.insert(name, String::from_utf8_lossy(v).into_owned());
            }
        }
        Ok(out)
    }

    fn parse(line: &[u8]) -> BTreeMap<String, String> {
        parse_with(&SyslogParser::new(), line)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)))
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bsd_with_pid_and_pam_suffix() {
        assert_eq!(
            parse(b"Nov 27 10:00:01 web1 sshd(pam_unix)[2211]: authentication failure; rhost=203.0.113.9"),
            fields(&[
                ("timestamp", "Nov 27 10:00:01"),
                ("host", "web1"),
                ("program", "sshd(pam_unix)"),
                ("service", "sshd"),
                ("pid", "2211"),
                ("message", "authentication failure; rhost=203.0.113.9"),
            ])
        );
    }

    #[test]
    fn bsd_day_padding_pri_and_tags_without_pid() {
        let a =
            parse(b"<38>Nov  3 08:00:00 db2 sudo:    alice : TTY=pts/0 ; COMMAND=/bin/ls /root");
        assert_eq!(a["priority"], "38");
        assert_eq!(a["facility"], "auth");
        assert_eq!(a["severity"], "info");
        assert_eq!(a["timestamp"], "Nov  3 08:00:00");
        assert_eq!(a["program"], "sudo");
        assert_eq!(a["service"], "sudo");
        assert!(!a.contains_key("pid"));
        assert_eq!(a["message"], "   alice : TTY=pts/0 ; COMMAND=/bin/ls /root");
        // One-space single-digit day (macOS), no host, no tag.
        let b = parse(b"Apr 4 03:39:57 --- last message repeated 1 time ---");
        assert_eq!(
            b,
            fields(&[
                ("timestamp", "Apr 4 03:39:57"),
                ("message", "--- last message repeated 1 time ---"),
            ])
        );
        // Tag straight after the timestamp: no host.
        let c = parse(b"Nov 03 08:00:00 kernel: [  12.5] eth0: link up");
        assert_eq!((c.get("host"), c["program"].as_str()), (None, "kernel"));
        assert_eq!(c["message"], "[  12.5] eth0: link up");
        // Parentheses with a colon inside do not end the tag.
        let d = parse(b"Nov 27 10:00:00 h pam_unix(sudo-i:session): session opened");
        assert_eq!(
            (d["program"].as_str(), d["service"].as_str()),
            ("pam_unix(sudo-i:session)", "pam_unix")
        );
        // Not a tag: the message starts after the host.
        let e = parse(b"Nov 27 10:00:00 h this is: free text");
        assert_eq!(
            (e.get("program"), e["message"].as_str()),
            (None, "this is: free text")
        );
        let f = parse(b"Nov 27 10:00:00 h postfix/smtpd[77]:");
        assert_eq!(
            (
                f["program"].as_str(),
                f["pid"].as_str(),
                f["message"].as_str()
            ),
            ("postfix/smtpd", "77", "")
        );
    }

    #[test]
    fn iso_timestamps_of_high_precision_templates() {
        for (line, ts) in [
            (
                &b"2026-11-27T10:00:02.203151+02:00 web1 CRON[55]: job done"[..],
                "2026-11-27T10:00:02.203151+02:00",
            ),
            (
                b"2026-11-27T10:00:02.101+0400 web1 CRON[55]: job done",
                "2026-11-27T10:00:02.101+0400",
            ),
            (
                b"2026-11-27T10:00:02.912134 web1 CRON[55]: job done",
                "2026-11-27T10:00:02.912134",
            ),
            (
                b"<13>2026-11-27T10:00:02Z web1 CRON[55]: job done",
                "2026-11-27T10:00:02Z",
            ),
            (
                b"<166> 2026-11-27T10:00:02.756+10:00 web1 CRON[55]: job done",
                "2026-11-27T10:00:02.756+10:00",
            ),
        ] {
            let f = parse(line);
            assert_eq!(f["timestamp"], ts);
            assert_eq!(
                (f["host"].as_str(), f["program"].as_str(), f["pid"].as_str()),
                ("web1", "CRON", "55")
            );
            assert_eq!(f["message"], "job done");
        }
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let mut p = SyslogParser::new();
        let ip = p.field("sd.origin@32473.ip").unwrap();
        assert!(p.field("sd.meta.note").is_some());
        assert_eq!(p.field("sd.origin@32473.ip"), Some(ip));
        assert_eq!(p.field("sd.nodot"), None);
        let line = "<165>1 2026-11-27T10:00:00.003Z fw1.example.net evntslog - ID47 [origin@32473 ip=\"192.0.2.1\" zone=\"a[0..7\\]\"][meta note=\"say \\\"hi\\\" \\\\ \\x\" empty=\"\"] \u{feff}An application event";
        let f = parse_with(&p, line.as_bytes()).unwrap();
        assert_eq!(f["version"], "1");
        assert_eq!(
            (f["facility"].as_str(), f["severity"].as_str()),
            ("local4", "notice")
        );
        assert_eq!(f["host"], "fw1.example.net");
        assert_eq!(f["program"], "evntslog");
        assert!(!f.contains_key("pid"));
        assert_eq!(f["msgid"], "ID47");
        assert_eq!(f["sd.origin@32473.ip"], "192.0.2.1");
        assert_eq!(f["sd.meta.note"], "say \"hi\" \\ \\x");
        assert!(
            f["structured_data"].starts_with("[origin@32473 ")
                && f["structured_data"].ends_with("empty=\"\"]")
        );
        assert_eq!(f["message"], "An application event");
    }

    #[test]
    fn rfc5424_nil_values_and_no_message() {
        let f = parse(b"<158>1 2026-11-27T10:00:00.756+10:00 host - - - -");
        assert_eq!(f.get("program"), None);
        assert_eq!(f.get("message"), None);
        let g = parse(b"<158>1 - - - - - - node1 PFE: drop");
        assert_eq!((g.get("timestamp"), g.get("host")), (None, None));
        assert_eq!(g["message"], "node1 PFE: drop");
        let h = parse(b"<27>1 2026-11-27T10:00:00-04:00 h sshd - SSHD_LOGIN_FAILED [x a=\"1\"]");
        assert_eq!(
            (h["msgid"].as_str(), h.get("message")),
            ("SSHD_LOGIN_FAILED", None)
        );
        let i = parse(b"<27>1 2026-11-27T10:00:00-04:00 h app 12 - [x a=\"1\"] ");
        assert_eq!((i["pid"].as_str(), i["message"].as_str()), ("12", ""));
    }

    #[test]
    fn joined_records_keep_the_header_on_the_first_line() {
        let f = parse(b"Dec 13 11:35:28 mac agent[21]: dump=<X\n\tstore=<Y\n\t>>");
        assert_eq!((f["host"].as_str(), f["pid"].as_str()), ("mac", "21"));
        assert_eq!(f["message"], "dump=<X\n\tstore=<Y\n\t>>");
        let g = parse(b"Dec 13 11:35:28 mac\n\tagent[21]: x");
        assert_eq!((g["host"].as_str(), g.get("program")), ("mac", None));
        assert_eq!(g["message"], "\n\tagent[21]: x");
        let h = parse(b"<13>1 - h a - - [x a=\"1\"]\n more");
        assert_eq!(h["message"], "\n more");
        let re = regex::bytes::Regex::new(MULTILINE_START).unwrap();
        assert!(re.is_match(b"Dec 13 11:35:28") && re.is_match(b"<13>1"));
        assert!(!re.is_match(b"\t>") && !re.is_match(b" x") && !re.is_match(b""));
    }

    #[test]
    fn malformed_lines_are_errors() {
        let p = SyslogParser::new();
        for bad in [
            &b""[..],
            b"hello world",
            b"<192>Nov 27 10:00:00 h p: m",
            b"<13",
            b"<13>1 2026-11-27T10:00:00Z h",
            b"<13>1 yesterday h a p m -",
            b"<13>1 2026-11-27T10:00:00Z h a p m [x a=\"1]",
            b"<13>1 2026-11-27T10:00:00Z h a p m [x a=1]",
            b"<13>1 2026-11-27T10:00:00Z h a p m -x",
            b"Nov 27 10:00:00x",
            b"\tat com.example.Foo(Foo.java:1)",
        ] {
            let mut rec = Record::with_fields(p.field_count());
            assert!(
                p.parse(bad, &mut rec).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn aliases() {
        let mut p = SyslogParser::new();
        assert_eq!(p.field("level"), Some(SEVERITY));
        assert_eq!(p.field("app"), Some(PROGRAM));
        assert_eq!(p.field("procid"), Some(PID));
        assert_eq!(p.field("nope"), None);
        assert_eq!(p.known_fields().len(), SCHEMA.names.len());
    }
}
