//! `java`: the default layouts of log4j, logback, log4j2, Spring Boot, and the other
//! application logs written the same way (Zookeeper, Spark, Hadoop, Kafka, Tomcat, Python's
//! `logging`), with stack traces.
//!
//! | layout | example |
//! |---|---|
//! | Spring Boot 2 | `2026-11-27 10:00:00.123  ERROR 1234 --- [           main] c.e.Foo   : msg` |
//! | Spring Boot 3 | `2026-11-27T10:00:00.123+09:00 ERROR 1234 --- [app] [main] c.e.Foo : msg` |
//! | logback, log4j2 | `10:00:00.123 [main] ERROR c.e.Foo - msg`, `… c.e.Foo -- msg` (logback 1.3+) |
//! | log4j (Hadoop) | `2026-11-27 10:00:00,123 ERROR [main] c.e.Foo: msg`, `… c.e.Foo:42 - msg` |
//! | Kafka | `[2026-11-27 10:00:00,123] ERROR msg (c.e.Foo)` |
//! | Zookeeper | `2026-11-27 10:00:00,123 [myid:1] - ERROR [main:Foo@42] - msg` |
//! | Spark | `26/11/27 10:00:00 ERROR c.e.Foo: msg` |
//! | Tomcat | `27-Nov-2026 10:00:00.123 SEVERE [main] c.e.Foo.method msg` |
//! | Python `logging` | `2026-11-27 10:00:00,123 - name - ERROR - msg` |
//! | Elasticsearch | `[2026-11-27T10:00:00,123][ERROR][c.e.Foo] [node-1] msg` |
//!
//! A record starts with a timestamp (`[`-bracketed or not): an ISO 8601 date and time, or
//! `yy/MM/dd`, `dd-MMM-yyyy` or `dd MMM yyyy` and a time, or a time alone; `.` or `,` before
//! the fraction, any zone. Then, in any order, come the level word (required, as a word or a
//! `[LEVEL]` block), bracket blocks (nested brackets kept), ` - ` separators, a pid and
//! Spring's `---`, then the logger and its separator (` : `, `: `, ` - `, ` -- `) or a ` - `
//! alone. Without a logger before the message, a `(logger)` ending the first line is taken
//! (Kafka).
//!
//! Fields: `timestamp` (as written), `level` (as written; [`super::Level`] normalises it),
//! `pid`, `app` (Spring Boot 3's application name), `thread` (padding trimmed; Zookeeper's
//! `[thread:Class@line]` splits into thread and logger), `logger`, `message` (everything after
//! the separator, continuation lines included), `exception` (the first `x.y.ZException`,
//! `x.y.ZError` or `x.y.ZThrowable` of the message and trace) and `root_cause` (the class of
//! the last `Caused by:`, else the exception itself).
//!
//! The built-in multiline rule ([`MULTILINE_START`]) joins every line that does not start with
//! a timestamp (`\tat …`, `Caused by: …`, `... 42 more`, the exception line, indented
//! continuations) onto the record above.

use std::sync::LazyLock;

use memchr::memmem;

use super::scan::{clock, first_line_end, is_ident_byte, iso_datetime, month, Cursor, Schema};
use super::{FieldId, Level, LineParser, ParseError, Record};

/// Start of a record, for the built-in multiline rule: the timestamps [`timestamp`] reads.
/// ASCII digits (`[0-9]`, not Unicode `\d`): the regex compiles in a fraction of the time.
pub const MULTILINE_START: &str = r"^\[?(?:[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]|[0-9]{2}/[0-9]{2}/[0-9]{2} |[0-9]{2}-[A-Z][a-z]{2}-[0-9]{4} |[0-9]{2} [A-Z][a-z]{2} [0-9]{4} )?[0-9]{2}:[0-9]{2}:[0-9]{2}";

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

/// How the timestamp was written, where the rest of the header depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Other,
    /// `dd-MMM-yyyy`: Tomcat's `OneLineFormatter`, whose source (`class.method`) is followed
    /// by the message with no separator.
    Tomcat,
}

/// The timestamps a record starts with; the cursor ends after it.
fn timestamp(c: &mut Cursor) -> Option<Stamp> {
    if iso_datetime(c, true).is_some() {
        return Some(Stamp::Other);
    }
    let dated = c.attempt(|c| {
        c.digits(2, 2)?;
        let stamp = match c.peek()? {
            // Spark: `yy/MM/dd`
            b'/' => {
                c.pos += 1;
                c.digits(2, 2)?;
                c.eat(b'/').then_some(())?;
                c.digits(2, 2)?;
                Stamp::Other
            }
            // Tomcat: `dd-MMM-yyyy`
            b'-' => {
                c.pos += 1;
                month(c)?;
                c.eat(b'-').then_some(())?;
                c.digits(4, 4)?;
                Stamp::Tomcat
            }
            // log4j `DATE`: `dd MMM yyyy`
            b' ' => {
                c.pos += 1;
                month(c)?;
                c.eat(b' ').then_some(())?;
                c.digits(4, 4)?;
                Stamp::Other
            }
            _ => return None,
        };
        c.eat(b' ').then_some(())?;
        clock(c)?;
        Some(stamp)
    });
    dated.or_else(|| clock(c).map(|()| Stamp::Other))
}

/// A bracket block in a header: content span, and whether it came before the level.
#[derive(Debug, Clone, Copy, Default)]
struct Block {
    s: usize,
    e: usize,
    before_level: bool,
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
        let stamp = timestamp(&mut c).ok_or(E_TIMESTAMP)?;
        rec.set(TIMESTAMP, ts, c.pos);
        if bracketed && !c.eat(b']') {
            return Err(E_TIMESTAMP);
        }
        match c.peek() {
            None | Some(b' ' | b'\t') => {}
            // Elasticsearch: `[timestamp][LEVEL ][logger]`
            Some(b'[') if bracketed => {}
            Some(_) => return Err(E_TIMESTAMP),
        }

        let mut blocks = [Block::default(); MAX_BLOCKS];
        let mut nblocks = 0;
        let mut level = false;
        // The level came as a `[LEVEL]` block (Elasticsearch): the next block is the logger.
        let mut level_block = false;
        let mut pid = false;
        let mut spring = false;
        // A ` - ` separator seen before the level (Zookeeper, Python), and the word between
        // two of them (Python's logger name).
        let mut dashed = false;
        let mut name: Option<(usize, usize)> = None;
        // The message follows a ` - ` after the level (Zookeeper, Python).
        let mut dash_message = false;
        loop {
            c.take_while(|b| b == b' ' || b == b'\t');
            if c.peek() == Some(b'[') {
                let Some(close) = block_end(header, c.pos) else {
                    break;
                };
                if !matches!(header.get(close + 1), None | Some(b' ' | b'\t' | b'[')) {
                    break; // `[worker-1], msg`: the message starts here
                }
                let (s, e) = (c.pos + 1, close);
                c.pos = close + 1;
                // `[LEVEL]`, `[WARN ]`: short blocks only (a thread name is rarely a level).
                if !level && e - s <= 16 {
                    let word = header.get(s..e).unwrap_or_default();
                    if Level::parse(word).is_some() {
                        if let Some((s, e)) = trim(header, s, e) {
                            rec.set(LEVEL, s, e);
                            level = true;
                            level_block = true;
                            continue;
                        }
                    }
                }
                if let Some(slot) = blocks.get_mut(nblocks) {
                    *slot = Block {
                        s,
                        e,
                        before_level: !level,
                    };
                    nblocks += 1;
                }
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
            } else if !level && tok == b"-" {
                dashed = true;
            } else if !level && dashed && name.is_none() && header.get(e..e + 3) == Some(b" - ") {
                name = Some((s, e));
            } else if level && tok == b"-" {
                dash_message = true;
                c.eat(b' ');
                break;
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
        let after = blocks
            .iter()
            .position(|b| !b.before_level)
            .unwrap_or(blocks.len());
        // The thread is the first block after the level, else the first before it
        // (Zookeeper's `[myid:1]` before the level is MDC).
        let sel = blocks
            .get(after..)
            .filter(|b| !b.is_empty())
            .unwrap_or(blocks);
        let span = |b: &Block| (b.s, b.e);
        // Spring Boot 3 writes `[app] [thread] [correlation]`, each part optional but the thread.
        let (app, thread) = match sel {
            [a, t] if spring && !is_correlation(header.get(t.s..t.e).unwrap_or_default()) => {
                (Some(span(a)), Some(span(t)))
            }
            [a, t, _, ..] if spring => (Some(span(a)), Some(span(t))),
            _ => (None, sel.first().map(span)),
        };
        let mut logger_set = false;
        if let Some((s, e)) = app.and_then(|(s, e)| trim(header, s, e)) {
            rec.set(APP, s, e);
        }
        if let Some((s, e)) = thread.and_then(|(s, e)| trim(header, s, e)) {
            // Zookeeper's `[thread:Class@line]` comes in its ` - ` layout only.
            match dashed.then(|| class_at_line(header, s, e)).flatten() {
                _ if level_block && after < blocks.len() => {
                    rec.set(LOGGER, s, e);
                    logger_set = true;
                }
                // Zookeeper: `[thread:Class@line]`
                Some((ts_end, cs, ce)) => {
                    rec.set(THREAD, s, ts_end);
                    rec.set(LOGGER, cs, ce);
                    logger_set = true;
                }
                None => rec.set(THREAD, s, e),
            }
        }

        if dash_message {
            if let Some((s, e)) = name {
                rec.set(LOGGER, s, e);
            }
        } else if let Some((s, e)) = logger(&mut c) {
            rec.set(LOGGER, s, e);
        } else if stamp == Stamp::Tomcat && !logger_set {
            if let Some((s, e)) = tomcat_source(&mut c) {
                rec.set(LOGGER, s, e);
            }
        } else if !logger_set {
            if let Some((s, e)) = trailing_logger(header) {
                rec.set(LOGGER, s, e);
            }
        }
        let ms = c.pos;
        rec.set(MESSAGE, ms, record.len());

        if let Some((s, e)) = first_exception(record, ms) {
            rec.set(EXCEPTION, s, e);
            let (rs, re) = root_cause(record, ms).unwrap_or((s, e));
            rec.set(ROOT_CAUSE, rs, re);
        }
        Ok(())
    }
}

/// The `]` closing the block opened at `open`, nested brackets included (Zookeeper's
/// `[QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774]`).
fn block_end(header: &[u8], open: usize) -> Option<usize> {
    let mut depth = 1usize;
    let mut at = open + 1;
    // Most blocks hold no bracket: the first hit is their `]`.
    loop {
        at += memchr::memchr2(b'[', b']', header.get(at..)?)?;
        if header.get(at) == Some(&b'[') {
            depth += 1;
        } else {
            depth -= 1;
            if depth == 0 {
                return Some(at);
            }
        }
        at += 1;
    }
}

/// `thread:Class@42` (log4j `%t:%C{1}@%L`): the end of the thread and the class's span.
fn class_at_line(header: &[u8], s: usize, e: usize) -> Option<(usize, usize, usize)> {
    let v = header.get(s..e)?;
    // Plain loops: thread names are a few bytes, where a memchr call costs more than the scan.
    let at = v.iter().rposition(|&b| b == b'@')?;
    let line = v.get(at + 1..)?;
    if line.is_empty() || !line.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let colon = v.get(..at)?.iter().rposition(|&b| b == b':')?;
    let class = v.get(colon + 1..at)?;
    (!class.is_empty() && class.iter().all(|&b| is_ident_byte(b))).then_some((
        s + colon,
        s + colon + 1,
        s + at,
    ))
}

/// Tomcat's `class.method` source before the message.
fn tomcat_source(c: &mut Cursor) -> Option<(usize, usize)> {
    c.attempt(|c| {
        let (s, e) = c.take_while(is_ident_byte);
        let name = c.line.get(s..e)?;
        (name.contains(&b'.') && (c.eat(b' ') || c.at_end())).then_some((s, e))
    })
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
        // `-- ` is logback 1.3's default (`-%kvp- ` with no key-value pairs).
        let sep = c.eat(b':') || (c.eat(b'-') && (c.eat(b'-') || c.peek() != Some(b'-')));
        (sep && (c.eat(b' ') || c.at_end())).then_some((s, e))
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
pub(super) fn first_exception(record: &[u8], from: usize) -> Option<(usize, usize)> {
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
pub(super) fn root_cause(record: &[u8], from: usize) -> Option<(usize, usize)> {
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
#[path = "java_tests.rs"]
mod tests;
