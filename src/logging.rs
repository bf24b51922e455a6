//! The agent's own log output: a writer for `tracing-subscriber` that can neither panic nor block.
//!
//! stderr is often a pipe (journald, a container runtime, `| logger`). When its reader goes away
//! a plain `eprintln!` panics ("failed printing to stderr") and a stuck reader blocks every
//! thread that logs — sources included. Here a log event is copied into a bounded queue with
//! `try_send`; one thread drains the queue into stderr and ignores write errors. When the queue
//! is full (stderr stuck) or stderr is gone, events are dropped and counted in
//! [`LogStats::dropped`], which the agent exports as `logpulse_log_messages_dropped_total`.
//!
//! Log content is attacker-controlled: file names, paths, field values and error texts that
//! quote a line can hold newlines, terminal escape sequences and bidirectional overrides. They
//! are escaped here, once for every message, so no call site can forget: the text format writes
//! the message and every field through [`EscapedFields`] (`\n`, `\u{1b}`), and the JSON format,
//! which serde_json already escapes for control characters below U+0020, gets the rest (DEL,
//! C1 controls, U+2028/U+2029, bidi controls) as JSON `\u` escapes ([`escape_json_event`]). One
//! event is always one line.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// Events waiting for stderr before new ones are dropped.
const QUEUE: usize = 1024;

/// Counters of the log writer, shared with whoever exports them.
#[derive(Debug, Default)]
pub struct LogStats {
    dropped: AtomicU64,
    /// Events queued and not yet written (or dropped) by the writer thread.
    pending: AtomicU64,
}

impl LogStats {
    /// Log events dropped because stderr was full, stuck or closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// `MakeWriter` for `tracing-subscriber`: one queued message per event.
#[derive(Clone)]
pub struct NonBlockingStderr {
    tx: SyncSender<Vec<u8>>,
    stats: Arc<LogStats>,
    /// Events are JSON: escape what serde_json leaves raw ([`escape_json_event`]).
    json: bool,
}

impl NonBlockingStderr {
    /// Start the thread that writes to stderr. If it cannot be spawned, events are dropped and
    /// counted (the agent still runs: its metrics matter more than its logs).
    pub fn new() -> NonBlockingStderr {
        Self::with_output(io::stderr())
    }

    /// As [`NonBlockingStderr::new`], writing to `out` (tests).
    pub fn with_output(out: impl Write + Send + 'static) -> NonBlockingStderr {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let stats = Arc::new(LogStats::default());
        let s = stats.clone();
        // If the thread cannot start, the receiver goes with the closure: every send then
        // fails and is counted.
        let _ = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || drain(rx, out, &s));
        NonBlockingStderr {
            tx,
            stats,
            json: false,
        }
    }

    /// Events written through this writer are JSON lines (`--log-format json`).
    pub fn json(mut self) -> NonBlockingStderr {
        self.json = true;
        self
    }

    /// Wait (at most `limit`) until the queued events are written: before exiting, so the last
    /// messages are not lost with the process.
    pub fn flush(&self, limit: std::time::Duration) {
        let end = std::time::Instant::now() + limit;
        while self.stats.pending.load(Ordering::Acquire) > 0 && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// The counters, for export.
    pub fn stats(&self) -> Arc<LogStats> {
        self.stats.clone()
    }
}

impl Default for NonBlockingStderr {
    fn default() -> Self {
        Self::new()
    }
}

fn drain(rx: Receiver<Vec<u8>>, mut out: impl Write, stats: &LogStats) {
    for msg in rx {
        // EPIPE, EIO, ENOSPC: nothing useful to do but count; keep draining so senders never
        // see a full queue because of a dead reader.
        if out.write_all(&msg).and_then(|()| out.flush()).is_err() {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        stats.pending.fetch_sub(1, Ordering::Release);
    }
}

/// One event's writer; tracing-subscriber formats the event into one `write_all`.
pub struct EventWriter<'a> {
    sink: &'a NonBlockingStderr,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let stats = &self.sink.stats;
        stats.pending.fetch_add(1, Ordering::Acquire);
        let msg = if self.sink.json {
            escape_json_event(buf).into_owned()
        } else {
            buf.to_vec()
        };
        match self.sink.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                stats.pending.fetch_sub(1, Ordering::Release);
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Always "written": an error here would make tracing-subscriber print to stderr itself.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for NonBlockingStderr {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { sink: self }
    }
}

/// Set up the agent's log on stderr (text, or JSON lines), filtered by `LOGPULSE_LOG` (default
/// `info`); returns the writer, whose counters `run` exports.
pub fn init(json: bool) -> NonBlockingStderr {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGPULSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let writer = NonBlockingStderr::new();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Its own fallback is eprintln!, which panics when stderr is gone.
        .log_internal_errors(false);
    if json {
        let writer = writer.json();
        b.json().with_writer(writer.clone()).init();
        writer
    } else {
        // No ANSI unless stderr is a terminal (RUSTSEC-2025-0055); on a terminal the colours
        // are the formatter's own: every value is escaped by `EscapedFields`.
        b.with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(EscapedFields)
            .with_writer(writer.clone())
            .init();
        writer
    }
}

/// Characters that must not reach a log raw: they end a line (newline, CR, U+2028/U+2029),
/// start a terminal escape sequence or ring it (C0, DEL, C1), or reorder what is shown (bidi
/// embeddings, overrides and isolates).
pub fn hazardous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Write `s` with every [`hazardous`] character escaped: `\n`, `\r`, `\t`, else `\u{1b}`.
pub fn escape_into(out: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    let mut rest = s;
    while let Some((i, c)) = rest.char_indices().find(|(_, c)| hazardous(*c)) {
        out.write_str(&rest[..i])?;
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c => write!(out, "\\u{{{:x}}}", c as u32)?,
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// `s` with every [`hazardous`] character escaped (see [`escape_into`]).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hazardous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let _ = escape_into(&mut out, s);
    Cow::Owned(out)
}

/// A message for stderr outside the log (the command line's errors, `check`'s warnings, the
/// backfill summary): every [`hazardous`] character escaped except line breaks, and every line
/// after the first indented by two spaces, so a multi-line message (a config error with its
/// snippet) stays readable and nothing it quotes can start a line of its own.
pub fn for_stderr(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hazardous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push_str("\n  ");
        }
        let _ = escape_into(&mut out, line);
    }
    Cow::Owned(out)
}

/// One formatted JSON event with the characters serde_json leaves raw (DEL, C1 controls,
/// U+2028/U+2029, bidi controls) written as `\uXXXX`, which means the same in JSON; the final
/// newline stays. Events are built as UTF-8; anything else is passed through unchanged.
pub fn escape_json_event(buf: &[u8]) -> Cow<'_, [u8]> {
    let Ok(s) = std::str::from_utf8(buf) else {
        return Cow::Borrowed(buf);
    };
    let body = s.strip_suffix('\n').unwrap_or(s);
    if !body.chars().any(hazardous) {
        return Cow::Borrowed(buf);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in body.chars() {
        if hazardous(c) {
            // All of them are in the Basic Multilingual Plane: one `\uXXXX` each.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    if body.len() < s.len() {
        out.push('\n');
    }
    Cow::Owned(out.into_bytes())
}

/// Field formatter of the text log: the message, then `name=value` for every field, each
/// escaped ([`escape_into`]) whatever its type or how it was recorded (`%`, `?`, a string, an
/// error).
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

/// The visitor of [`EscapedFields`].
pub struct EscapedVisitor<'a> {
    writer: tracing_subscriber::fmt::format::Writer<'a>,
    empty: bool,
    result: fmt::Result,
    scratch: String,
}

impl<'a> tracing_subscriber::field::MakeVisitor<tracing_subscriber::fmt::format::Writer<'a>>
    for EscapedFields
{
    type Visitor = EscapedVisitor<'a>;

    fn make_visitor(&self, writer: tracing_subscriber::fmt::format::Writer<'a>) -> Self::Visitor {
        EscapedVisitor {
            writer,
            empty: true,
            result: Ok(()),
            scratch: String::new(),
        }
    }
}

impl EscapedVisitor<'_> {
    fn put(&mut self, field: &tracing::field::Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        self.scratch.clear();
        let _ = self.scratch.write_fmt(value);
        let w = &mut self.writer;
        self.result = (|| {
            if !std::mem::take(&mut self.empty) {
                w.write_char(' ')?;
            }
            let name = field.name();
            if name != "message" {
                w.write_str(name.strip_prefix("r#").unwrap_or(name))?;
                w.write_char('=')?;
            }
            escape_into(w, &self.scratch)
        })();
    }
}

impl tracing::field::Visit for EscapedVisitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.put(field, format_args!("{value}"));
        } else {
            self.put(field, format_args!("{value:?}"));
        }
    }

    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        self.put(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.put(field, format_args!("{value:?}"));
    }
}

impl tracing_subscriber::field::VisitOutput<fmt::Result> for EscapedVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl tracing_subscriber::field::VisitFmt for EscapedVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    use tracing_subscriber::fmt::MakeWriter;

    struct Failing;
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn wait_until(mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < end, "condition not reached");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn broken_output_is_counted_not_panicked() {
        let w = NonBlockingStderr::with_output(Failing);
        for _ in 0..3 {
            w.make_writer().write_all(b"line\n").expect("never fails");
        }
        let stats = w.stats();
        wait_until(|| stats.dropped() == 3);
    }

    /// An output that blocks until released: the queue fills, then events are dropped at
    /// once instead of blocking the caller.
    struct Stuck(Arc<Mutex<()>>);
    impl Write for Stuck {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            drop(self.0.lock());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stuck_output_drops_instead_of_blocking() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().expect("lock");
        let w = NonBlockingStderr::with_output(Stuck(gate.clone()));
        let n = QUEUE as u64 + 100;
        for _ in 0..n {
            w.make_writer().write_all(b"x\n").expect("never fails");
        }
        // One event may sit in the writer thread (blocked) on top of a full queue.
        assert!(w.stats().dropped() >= 99, "dropped {}", w.stats().dropped());
        drop(held);
    }
}

#[cfg(test)]
mod escape_tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn hazardous_characters_are_escaped_the_rest_kept() {
        assert_eq!(
            escape("a\nb\r\t\x1b[2J\x07\x7f\u{85}\u{2028}\u{202e}\u{2067}한글 \\x"),
            "a\\nb\\r\\t\\u{1b}[2J\\u{7}\\u{7f}\\u{85}\\u{2028}\\u{202e}\\u{2067}한글 \\x"
        );
        assert!(matches!(escape("plain /var/log/a.log"), Cow::Borrowed(_)));
        assert_eq!(
            for_stderr("cannot open x\nFAKE\x1b[31m\n  |\n3 | a"),
            "cannot open x\n  FAKE\\u{1b}[31m\n    |\n  3 | a"
        );
    }

    #[test]
    fn json_events_keep_meaning_and_lose_raw_hazards() {
        let ev = "{\"f\":\"a\u{202e}b\u{2028}c\u{85}\"}\n";
        let out = escape_json_event(ev.as_bytes());
        let out = std::str::from_utf8(&out).expect("utf-8");
        assert_eq!(out, "{\"f\":\"a\\u202eb\\u2028c\\u0085\"}\n");
        let v: serde_json::Value = serde_json::from_str(out).expect("still JSON");
        assert_eq!(v["f"], "a\u{202e}b\u{2028}c\u{85}");
        assert!(matches!(
            escape_json_event(b"{\"a\":1}\n"),
            Cow::Borrowed(_)
        ));
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Every way a value reaches an event (message, `%`, `?`, a string, an error) is escaped.
    #[test]
    fn every_field_of_an_event_is_escaped() {
        let buf = Buf::default();
        let b2 = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_ansi(true)
            .without_time()
            .fmt_fields(EscapedFields)
            .with_writer(move || b2.clone())
            .finish();
        let evil = "x\nFAKE \x1b[31m\x07";
        let path = std::path::Path::new(evil);
        let err = io::Error::other(evil);
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(
                file = %path.display(),
                name = evil,
                dbg = ?evil,
                error = &err as &(dyn std::error::Error + 'static),
                "message {evil}"
            );
        });
        let out = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(out.matches('\n').count(), 1, "{out:?}");
        assert!(!out.contains(['\x07', '\r']), "{out:?}");
        // The only escapes left are the formatter's own colours (`ESC[` then digits and `m`).
        for (i, _) in out.match_indices('\x1b') {
            assert!(
                out[i + 1..].starts_with('[')
                    && out[i + 2..]
                        .chars()
                        .take_while(|c| *c != 'm')
                        .all(|c| c.is_ascii_digit() || c == ';'),
                "{out:?}"
            );
        }
        assert!(
            out.contains("message x\\nFAKE \\u{1b}[31m\\u{7}"),
            "{out:?}"
        );
        assert!(out.contains("file=x\\nFAKE"), "{out:?}");
        assert!(out.contains("error=x\\nFAKE"), "{out:?}");
    }
}
