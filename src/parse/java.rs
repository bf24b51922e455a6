//! `java`: the default layouts of log4j, logback and Spring Boot, with stack traces.
//!
//! | layout | example |
//! |---|---|
//! | Spring Boot 2 | `2026-11-27 10:00:00.123  ERROR 1234 --- [           main] c.e.Foo   : msg` |
//! | Spring Boot 3 | `2026-11-27T10:00:00.123+09:00 ERROR 1234 --- [app] [main] c.e.Foo : msg` |
//! | logback, log4j2 | `10:00:00.123 [main] ERROR c.e.Foo - msg` (a date may precede the time) |
//! | log4j | `2026-11-27 10:00:00,123 ERROR [main] c.e.Foo: msg`, `… c.e.Foo:42 - msg` |
//! | Kafka-style log4j | `[2026-11-27 10:00:00,123] ERROR msg (c.e.Foo)` |
//!
//! A record starts with a timestamp (`[`-bracketed or not; date and time, or time alone, with
//! `.` or `,` before the fraction and any zone), followed in any order by the level word
//! (required), bracket blocks, a pid and Spring's `---`, then the logger and its separator
//! (` : `, `: `, ` - `). Without a logger before the message, a `(logger)` ending the first
//! line is taken (Kafka).
//!
//! Fields: `timestamp` (as written), `level` (as written; [`super::Level`] normalises it),
//! `pid`, `app` (Spring Boot 3's application name), `thread` (padding trimmed), `logger`,
//! `message` (everything after the separator, continuation lines included), `exception` (the
//! first `x.y.ZException`, `x.y.ZError` or `x.y.ZThrowable` of the message and trace) and
//! `root_cause` (the class of the last `Caused by:`, else the exception itself).
//!
//! The built-in multiline rule ([`MULTILINE_START`]) joins every line that does not start with
//! a timestamp (`\tat …`, `Caused by: …`, `... 42 more`, the exception line, indented
//! continuations) onto the record above.

use std::sync::LazyLock;

use memchr::memmem;

use super::scan::{clock, first_line_end, is_ident_byte, iso_datetime, Cursor, Schema};
use super::{FieldId, Level, LineParser, ParseError, Record};

/// Start of a record, for the built-in multiline rule.
pub const MULTILINE_START: &str = r"^\[?(\d{4}-\d\d-\d\d[ T])?\d\d:\d\d:\d\d";

const E_TIMESTAMP: ParseError = ParseError("java: the line does not start with a timestamp");
const E_LEVEL: ParseError = ParseError("java: no level word after the timestamp");

const TIMESTAMP: FieldId = 0;
const LEVEL: FieldId = 1;
const PID: FieldId = 2;
const APP: FieldId = 3;
const THREAD: FieldId = 4;
const LOGGER: FieldId = 5;
const MESSAGE: FieldId = 6;
const EXCEPTION: FieldId = 7;
const ROOT_CAUSE: FieldId = 8;

static SCHEMA: Schema = Schema {
    names: &[
        "timestamp",
        "level",
        "pid",
        "app",
        "thread",
        "logger",
        "message",
        "exception",
        "root_cause",
    ],
    aliases: &[
        ("exception_class", "exception"),
        ("severity", "level"),
        ("class", "logger"),
    ],
};

/// At most this many bracket blocks are read in a header (Spring Boot 3 has three).
const MAX_BLOCKS: usize = 4;

/// Parser for Java application log records.
#[derive(Debug, Clone, Default)]
pub struct JavaParser;

impl JavaParser {
    /// The parser (it has no settings).
    pub fn new() -> Self {
        JavaParser
    }
}

impl LineParser for JavaParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        SCHEMA.field(name)
    }

    fn field_count(&self) -> usize {
        SCHEMA.names.len()
    }

    fn known_fields(&self) -> Vec<String> {
        SCHEMA.known()
    }

    fn parse(&self, record: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        let header = record.get(..first_line_end(record)).unwrap_or_default();
        let mut c = Cursor::new(header);
        let bracketed = c.eat(b'[');
        let ts = c.pos;
        if iso_datetime(&mut c, true).is_none() && clock(&mut c).is_none() {
            return Err(E_TIMESTAMP);
        }
        rec.set(TIMESTAMP, ts, c.pos);
        if bracketed && !c.eat(b']') {
            return Err(E_TIMESTAMP);
        }
        if !matches!(c.peek(), None | Some(b' ' | b'\t')) {
            return Err(E_TIMESTAMP);
        }

        let mut blocks = [(0usize, 0usize); MAX_BLOCKS];
        let mut nblocks = 0;
        let mut level = false;
        let mut pid = false;
        let mut spring = false;
        loop {
            c.take_while(|b| b == b' ' || b == b'\t');
            if c.peek() == Some(b'[') {
                let Some(close) = memchr::memchr(b']', c.rest()).map(|i| c.pos + i) else {
                    break;
                };
                if !matches!(header.get(close + 1), None | Some(b' ' | b'\t')) {
                    break; // `[worker-1], msg`: the message starts here
                }
                if let Some(slot) = blocks.get_mut(nblocks) {
                    *slot = (c.pos + 1, close);
                    nblocks += 1;
                }
                c.pos = close + 1;
                continue;
            }
            let save = c.pos;
            let (s, e) = c.token();
            let tok = header.get(s..e).unwrap_or_default();
            if s == e {
                break;
            } else if !level && Level::parse(tok).is_some() {
                rec.set(LEVEL, s, e);
                level = true;
            } else if level && !pid && !spring && tok.iter().all(u8::is_ascii_digit) {
                rec.set(PID, s, e);
                pid = true;
            } else if tok == b"---" {
                spring = true;
            } else {
                c.pos = save;
                break;
            }
        }
        if !level {
            return Err(E_LEVEL);
        }

        let blocks = blocks.get(..nblocks).unwrap_or_default();
        // Spring Boot 3 writes `[app] [thread] [correlation]`, each part optional but the thread.
        let (app, thread) = match blocks {
            [a, t] if spring && !is_correlation(header.get(t.0..t.1).unwrap_or_default()) => {
                (Some(*a), Some(*t))
            }
            [a, t, _, ..] if spring => (Some(*a), Some(*t)),
            _ => (None, blocks.first().copied()),
        };
        for (id, span) in [(APP, app), (THREAD, thread)] {
            if let Some((s, e)) = span.and_then(|(s, e)| trim(header, s, e)) {
                rec.set(id, s, e);
            }
        }

        let ms = match logger(&mut c) {
            Some((s, e)) => {
                rec.set(LOGGER, s, e);
                c.pos
            }
            None => {
                if let Some((s, e)) = trailing_logger(header) {
                    rec.set(LOGGER, s, e);
                }
                c.pos
            }
        };
        rec.set(MESSAGE, ms, record.len());

        if let Some((s, e)) = first_exception(record, ms) {
            rec.set(EXCEPTION, s, e);
            let (rs, re) = root_cause(record, ms).unwrap_or((s, e));
            rec.set(ROOT_CAUSE, rs, re);
        }
        Ok(())
    }
}

/// `[0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331]` or a blank block: Spring Boot's
/// correlation ids, which follow the thread.
fn is_correlation(b: &[u8]) -> bool {
    b.iter()
        .all(|c| c.is_ascii_hexdigit() || *c == b'-' || *c == b' ')
        && (b.len() >= 16 || b.trim_ascii().is_empty())
}

/// `s..e` without surrounding spaces, `None` when nothing is left.
fn trim(line: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let v = line.get(s..e)?;
    let lead = v.iter().take_while(|b| **b == b' ').count();
    let trail = v.iter().rev().take_while(|b| **b == b' ').count();
    (lead + trail < v.len()).then_some((s + lead, e - trail))
}

/// A logger name and its separator (`c.e.Foo : `, `c.e.Foo: `, `c.e.Foo - `, `Foo:42 - `);
/// the cursor ends at the message. `None` (cursor unchanged) when the text does not start so.
fn logger(c: &mut Cursor) -> Option<(usize, usize)> {
    c.attempt(|c| {
        let (s, e) = c.take_while(is_ident_byte);
        if s == e {
            return None;
        }
        // log4j `%c: %m`
        if c.peek() == Some(b':') && matches!(c.peek_at(1), None | Some(b' ')) {
            c.pos += 1;
            c.eat(b' ');
            return Some((s, e));
        }
        // log4j `%c{1}:%L - %m`
        c.attempt(|c| {
            c.eat(b':').then_some(())?;
            c.digits(1, 9)
        });
        if c.skip_spaces() == 0 && !c.at_end() {
            return None;
        }
        ((c.eat(b':') || c.eat(b'-')) && (c.eat(b' ') || c.at_end())).then_some((s, e))
    })
}

/// The `(kafka.server.KafkaServer)` ending a header line.
fn trailing_logger(header: &[u8]) -> Option<(usize, usize)> {
    let h = header.trim_ascii_end();
    if !h.ends_with(b")") {
        return None;
    }
    let open = memchr::memrchr(b'(', h)?;
    let name = h.get(open + 1..h.len() - 1)?;
    (name.contains(&b'.') && name.iter().all(|&b| is_ident_byte(b)))
        .then_some((open + 1, h.len() - 1))
}

/// Searchers built once: `memmem::find_iter` builds one per call, which cost more than the
/// search on a short record.
static CLASS_SUFFIXES: LazyLock<[memmem::Finder<'static>; 3]> = LazyLock::new(|| {
    [
        memmem::Finder::new(b"Exception"),
        memmem::Finder::new(b"Error"),
        memmem::Finder::new(b"Throwable"),
    ]
});
static CAUSED_BY: LazyLock<memmem::FinderRev<'static>> =
    LazyLock::new(|| memmem::FinderRev::new(b"Caused by: "));

/// The first qualified `…Exception`, `…Error` or `…Throwable` class name from `from` on.
fn first_exception(record: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for finder in CLASS_SUFFIXES.iter() {
        let needle = finder.needle();
        let limit = best.map_or(record.len(), |b| b.1);
        let hay = record.get(from..limit).unwrap_or_default();
        for i in finder.find_iter(hay) {
            let end = from + i + needle.len();
            if let Some(start) = class_start(record, end) {
                if best.is_none_or(|b| start < b.0) {
                    best = Some((start, end));
                }
                break;
            }
        }
    }
    best
}

/// The start of a qualified class name ending at `end` (`com.x.FooException` followed by `:`,
/// a space, a bracket, a quote or the end), or `None`.
fn class_start(record: &[u8], end: usize) -> Option<usize> {
    if !matches!(
        record.get(end),
        None | Some(b':' | b' ' | b'\t' | b'\r' | b'\n' | b',' | b';' | b')' | b']' | b'"' | b'\'')
    ) {
        return None;
    }
    let head = record.get(..end)?;
    let len = head.iter().rev().take_while(|&&b| is_ident_byte(b)).count();
    let start = end - len;
    let name = record.get(start..end)?;
    let qualified = name
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && name.contains(&b'.')
        && memmem::find(name, b"..").is_none();
    qualified.then_some(start)
}

/// The class named by the last `Caused by: ` of the record.
fn root_cause(record: &[u8], from: usize) -> Option<(usize, usize)> {
    let hay = record.get(from..)?;
    let at = from + CAUSED_BY.rfind(hay)? + b"Caused by: ".len();
    let len = record
        .get(at..)?
        .iter()
        .take_while(|&&b| is_ident_byte(b))
        .count();
    let name = record.get(at..at + len)?;
    (name.contains(&b'.') && name.first().is_some_and(u8::is_ascii_alphabetic))
        .then_some((at, at + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parse(line: &[u8]) -> Result<BTreeMap<&'static str, String>, ParseError> {
        let p = JavaParser::new();
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
    fn spring_boot_2_and_3() {
        assert_eq!(
            parse(b"2026-11-27 10:00:00.123  ERROR 1234 --- [           main] c.e.Foo                                  : boom").unwrap(),
            want(&[
                ("timestamp", "2026-11-27 10:00:00.123"),
                ("level", "ERROR"),
                ("pid", "1234"),
                ("thread", "main"),
                ("logger", "c.e.Foo"),
                ("message", "boom"),
            ])
        );
        assert_eq!(
            parse(b"2026-11-27T10:00:00.123+09:00 ERROR 1234 --- [shop] [nio-8080-exec-1] c.e.Foo : boom").unwrap(),
            want(&[
                ("timestamp", "2026-11-27T10:00:00.123+09:00"),
                ("level", "ERROR"),
                ("pid", "1234"),
                ("app", "shop"),
                ("thread", "nio-8080-exec-1"),
                ("logger", "c.e.Foo"),
                ("message", "boom"),
            ])
        );
        // Thread then correlation ids, no application name.
        let f = parse(b"2026-11-27T10:00:00.123Z  INFO 7 --- [main] [0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331] c.e.Foo : ok").unwrap();
        assert_eq!((f.get("app"), f["thread"].as_str()), (None, "main"));
        let g = parse(b"2026-11-27T10:00:00.123Z  INFO 7 --- [shop] [main] [                                 ] c.e.Foo : ok").unwrap();
        assert_eq!((g["app"].as_str(), g["thread"].as_str()), ("shop", "main"));
    }

    #[test]
    fn logback_log4j_kafka() {
        assert_eq!(
            parse(b"10:00:00.123 [main] ERROR c.e.Foo - msg - with dash").unwrap(),
            want(&[
                ("timestamp", "10:00:00.123"),
                ("level", "ERROR"),
                ("thread", "main"),
                ("logger", "c.e.Foo"),
                ("message", "msg - with dash"),
            ])
        );
        assert_eq!(
            parse(b"2026-11-27 10:00:00,123 WARN  [pool-1-thread-2] com.example.Foo: slow: 3 s")
                .unwrap(),
            want(&[
                ("timestamp", "2026-11-27 10:00:00,123"),
                ("level", "WARN"),
                ("thread", "pool-1-thread-2"),
                ("logger", "com.example.Foo"),
                ("message", "slow: 3 s"),
            ])
        );
        let f = parse(b"2026-11-27 10:00:00,123 INFO  Foo:42 - started").unwrap();
        assert_eq!(
            (f["logger"].as_str(), f["message"].as_str()),
            ("Foo", "started")
        );
        let k = parse(b"[2026-11-27 10:00:00,918] INFO [Broker-1], shut down completed (kafka.server.KafkaServer)").unwrap();
        assert_eq!(k["logger"], "kafka.server.KafkaServer");
        assert_eq!(
            k["message"],
            "[Broker-1], shut down completed (kafka.server.KafkaServer)"
        );
        assert_eq!(k.get("thread"), None);
        // No logger at all: the message follows the level.
        let m = parse(b"2026-11-27 10:00:00 FATAL out of memory").unwrap();
        assert_eq!(
            (m.get("logger"), m["message"].as_str()),
            (None, "out of memory")
        );
    }

    #[test]
    fn stack_trace_exception_and_root_cause() {
        let rec = b"2026-11-27 10:00:02.303 ERROR 4242 --- [exec-2] c.e.gw.Api : submit failed\n\
org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection\n\
\tat org.hibernate.Foo.handleException(Foo.java:277)\n\
\tat com.example.MyError$Inner.run(A.java:1)\n\
Caused by: org.hibernate.exception.JDBCConnectionException: no conn\n\
\t... 12 more\n\
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available\n\
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n\
\t... 42 common frames omitted";
        let f = parse(rec).unwrap();
        assert_eq!(
            f["exception"],
            "org.springframework.dao.DataAccessResourceFailureException"
        );
        assert_eq!(f["root_cause"], "java.sql.SQLTransientConnectionException");
        assert!(
            f["message"].starts_with("submit failed\norg.") && f["message"].ends_with("omitted")
        );
        // In the message itself, and an Error; no Caused by: the root cause is the exception.
        let g = parse(
            b"10:00:00.1 [t] WARN c.e.Foo - retry after java.lang.OutOfMemoryError, giving up",
        )
        .unwrap();
        assert_eq!(
            (g["exception"].as_str(), g["root_cause"].as_str()),
            ("java.lang.OutOfMemoryError", "java.lang.OutOfMemoryError")
        );
        // Not exceptions: unqualified, a method name, a plural, the logger itself.
        let h = parse(b"10:00:00.1 [t] ERROR c.e.GlobalError - MyException handleException( Errors x.Errors c.e.onError(").unwrap();
        assert_eq!(h.get("exception"), None);
    }

    #[test]
    fn not_java_records() {
        for bad in [
            &b""[..],
            b"\tat com.example.Foo.bar(Foo.java:10)",
            b"Caused by: java.io.IOException: x",
            b"2026-11-27 10:00:00.123 [main] c.e.Foo - no level",
            b"2026-11-27 10:00:00.123x ERROR",
            b"[2026-11-27 10:00:00 ERROR x",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn multiline_start_matches_headers_only() {
        let re = regex::Regex::new(MULTILINE_START).unwrap();
        for h in [
            "2026-11-27 10:00:00.123  ERROR",
            "2026-11-27T10:00:00Z",
            "10:00:00.123 [main]",
            "[2026-11-27 10:00:00,918] INFO",
        ] {
            assert!(re.is_match(h), "{h}");
        }
        for c in [
            "\tat a.B.c(B.java:1)",
            "Caused by: x.Y: z",
            "\t... 42 more",
            "java.io.IOException: x",
            "  indented",
        ] {
            assert!(!re.is_match(c), "{c}");
        }
    }
}
