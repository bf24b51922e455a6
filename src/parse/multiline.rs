//! Joining physical lines into records: application logs with stack traces.
//!
//! A line matching the `start` regex begins a record; the lines that follow and do not match
//! (`java.io.IOException: ...`, `\tat com.x.Y(Y.java:10)`, nginx FastCGI `PHP message:` lines)
//! are appended to it, joined with `\n`. A record is emitted when the next one starts or on
//! [`Joiner::flush`] (the caller flushes after its idle timeout and at end of input).
//!
//! Limits: a record holds at most `max_lines` lines and `max_bytes` bytes. A first line longer
//! than `max_bytes` is cut; a continuation that does not fit is dropped from the record (still
//! consumed: it never becomes a record of its own). A continuation with nothing pending (the
//! file began mid-trace) is emitted as its own record.

use regex::bytes::Regex;
use serde::Deserialize;

use super::seq_regex::SeqRegex;
use super::BuildError;

/// Default `max_lines`.
pub const DEFAULT_MAX_LINES: usize = 500;
/// Default `max_bytes`.
pub const DEFAULT_MAX_BYTES: usize = 65536;

/// The `multiline:` section of a source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))] // config key docs test
#[serde(deny_unknown_fields)]
pub struct MultilineSpec {
    /// A line matching this regex starts a new record.
    pub start: String,
    /// At most this many lines per record (default 500).
    pub max_lines: Option<usize>,
    /// At most this many bytes per record (default 65536).
    pub max_bytes: Option<usize>,
    /// Emit a pending record after this long without a new line (parsed by the caller).
    pub timeout: Option<String>,
}

impl MultilineSpec {
    /// A joiner for this spec, with the defaults filled in.
    pub fn joiner(&self) -> Result<Joiner, BuildError> {
        Joiner::new(
            &self.start,
            self.max_lines.unwrap_or(DEFAULT_MAX_LINES),
            self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
        )
    }
}

/// Joins continuation lines onto the line that starts their record.
#[derive(Debug)]
pub struct Joiner {
    start: Regex,
    /// The start pattern's fast path (a `^\d{4}-` test stops at the first byte of `\tat ...`).
    seq: Option<SeqRegex>,
    max_lines: usize,
    max_bytes: usize,
    buf: Vec<u8>,
    lines: usize,
    pending: bool,
    truncated: bool,
    truncated_records: u64,
}

impl Joiner {
    /// A joiner whose records start at lines matching `start`. Limits below 1 count as 1.
    pub fn new(start: &str, max_lines: usize, max_bytes: usize) -> Result<Joiner, BuildError> {
        Ok(Joiner::with_regex(Regex::new(start)?, max_lines, max_bytes))
    }

    /// Like [`Joiner::new`], with the start regex already compiled (once per source, shared
    /// by the joiners of its files).
    pub fn with_regex(start: Regex, max_lines: usize, max_bytes: usize) -> Joiner {
        Joiner {
            seq: SeqRegex::new(start.as_str(), false),
            start,
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1),
            buf: Vec::new(),
            lines: 0,
            pending: false,
            truncated: false,
            truncated_records: 0,
        }
    }

    /// Feed one physical line (without its `\n`). Calls `emit` for each record completed.
    pub fn push(&mut self, line: &[u8], emit: &mut dyn FnMut(&[u8])) {
        if self.starts_record(line) {
            self.flush(emit);
            let keep = line.len().min(self.max_bytes);
            self.buf
                .extend_from_slice(line.get(..keep).unwrap_or_default());
            self.truncated = keep < line.len();
            self.lines = 1;
            self.pending = true;
        } else if self.pending {
            if self.lines < self.max_lines
                && self.buf.len().saturating_add(1).saturating_add(line.len()) <= self.max_bytes
            {
                self.buf.push(b'\n');
                self.buf.extend_from_slice(line);
                self.lines += 1;
            } else {
                self.truncated = true;
            }
        } else {
            let keep = line.len().min(self.max_bytes);
            if keep < line.len() {
                self.truncated_records += 1;
            }
            emit(line.get(..keep).unwrap_or_default());
        }
    }

    fn starts_record(&self, line: &[u8]) -> bool {
        match self.seq.as_ref().and_then(|s| s.is_match(line)) {
            Some(m) => m,
            None => self.start.is_match(line),
        }
    }

    /// Emit the pending record, if any.
    pub fn flush(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if self.pending {
            emit(&self.buf);
            if self.truncated {
                self.truncated_records += 1;
            }
        }
        self.buf.clear();
        self.lines = 0;
        self.pending = false;
        self.truncated = false;
        if self.buf.capacity() > self.max_bytes.max(4096).saturating_mul(4) {
            self.buf.shrink_to(self.max_bytes);
        }
    }

    /// True when a record is waiting for more lines.
    pub fn has_pending(&self) -> bool {
        self.pending
    }

    /// How many records were cut by `max_lines`/`max_bytes` so far (for self-metrics).
    pub fn truncated_records(&self) -> u64 {
        self.truncated_records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAVA_START: &str = r"^(\[\d{4}-\d{2}-\d{2} |\d{4}-\d{2}-\d{2}[ T]\d{2}:)";

    fn join(j: &mut Joiner, lines: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for l in lines {
            j.push(l, &mut |r| out.push(r.to_vec()));
        }
        j.flush(&mut |r| out.push(r.to_vec()));
        out
    }

    #[test]
    fn log4j_stack_trace() {
        let mut j = Joiner::new(JAVA_START, 500, 65536).unwrap();
        let lines: &[&[u8]] = &[
            b"[2016-12-19 20:39:48,917] INFO Opened socket (org.apache.zookeeper.ClientCnxn)",
            b"[2016-12-19 20:39:48,918] WARN Session 0x0 for server null, unexpected error (org.apache.zookeeper.ClientCnxn)",
            b"java.io.IOException: Connection reset by peer",
            b"\tat sun.nio.ch.FileDispatcherImpl.read0(Native Method)",
            b"\tat kafka.utils.CoreUtils$$anonfun$swallow$1.apply(CoreUtils.scala:85)",
            b"2024-01-02 10:00:00.123 ERROR [main] c.x.App - boom",
            b"\tat com.x.Y(Y.java:10)",
            b"2024-01-02T10:00:01.000Z INFO ok",
        ];
        let out = join(&mut j, lines);
        assert_eq!(
            out,
            vec![
                b"[2016-12-19 20:39:48,917] INFO Opened socket (org.apache.zookeeper.ClientCnxn)".to_vec(),
                b"[2016-12-19 20:39:48,918] WARN Session 0x0 for server null, unexpected error (org.apache.zookeeper.ClientCnxn)\njava.io.IOException: Connection reset by peer\n\tat sun.nio.ch.FileDispatcherImpl.read0(Native Method)\n\tat kafka.utils.CoreUtils$$anonfun$swallow$1.apply(CoreUtils.scala:85)".to_vec(),
                b"2024-01-02 10:00:00.123 ERROR [main] c.x.App - boom\n\tat com.x.Y(Y.java:10)".to_vec(),
                b"2024-01-02T10:00:01.000Z INFO ok".to_vec(),
            ]
        );
        assert!(!j.has_pending());
        assert_eq!(j.truncated_records(), 0);
    }

    #[test]
    fn nginx_error_fastcgi_continuation() {
        let mut j = Joiner::new(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[", 500, 65536).unwrap();
        let mut out = Vec::new();
        let mut emit = |r: &[u8]| out.push(String::from_utf8_lossy(r).into_owned());
        j.push(b"2019/10/30 23:26:34 [error] 205860#205860: *180289 FastCGI sent in stderr: \"PHP message: A", &mut emit);
        assert!(j.has_pending());
        j.push(b"PHP message: B", &mut emit);
        j.push(b"PHP message: C\" while reading", &mut emit);
        j.push(
            b"2019/11/05 14:50:44 [error] 54053#0: *3 open() failed",
            &mut emit,
        );
        assert!(j.has_pending());
        j.flush(&mut emit);
        assert!(!j.has_pending());
        j.flush(&mut emit); // nothing pending: no empty record
        assert_eq!(
            out,
            vec![
                "2019/10/30 23:26:34 [error] 205860#205860: *180289 FastCGI sent in stderr: \"PHP message: A\nPHP message: B\nPHP message: C\" while reading".to_string(),
                "2019/11/05 14:50:44 [error] 54053#0: *3 open() failed".to_string(),
            ]
        );
    }

    #[test]
    fn orphan_continuations_and_empty_lines() {
        let mut j = Joiner::new(JAVA_START, 500, 65536).unwrap();
        let out = join(
            &mut j,
            &[
                b"\tat orphan.Frame(F.java:1)",
                b"",
                b"[2016-12-19 20:39:48,918] ERROR x",
                b"",
                b"\x00\xff",
            ],
        );
        assert_eq!(
            out,
            vec![
                b"\tat orphan.Frame(F.java:1)".to_vec(),
                b"".to_vec(),
                b"[2016-12-19 20:39:48,918] ERROR x\n\n\x00\xff".to_vec()
            ]
        );
    }

    #[test]
    fn limits_cut_and_consume() {
        let mut j = Joiner::new("^S", 3, 65536).unwrap();
        let out = join(&mut j, &[b"S1", b"a", b"b", b"c", b"d", b"S2", b"e"]);
        assert_eq!(out, vec![b"S1\na\nb".to_vec(), b"S2\ne".to_vec()]);
        assert_eq!(j.truncated_records(), 1);

        let mut j = Joiner::new("^S", 500, 10).unwrap();
        let out = join(
            &mut j,
            &[b"S123", b"abcd", b"efgh", b"ij", b"S0123456789ABC", b"x"],
        );
        assert_eq!(out, vec![b"S123\nabcd".to_vec(), b"S012345678".to_vec()]);
        assert_eq!(j.truncated_records(), 2);

        // a 1 MB continuation and a 1 MB header under the default limits
        let mut j = Joiner::new("^S", DEFAULT_MAX_LINES, DEFAULT_MAX_BYTES).unwrap();
        let big = vec![b'x'; 1 << 20];
        let mut header = b"S".to_vec();
        header.extend_from_slice(&big);
        let out = join(&mut j, &[b"S", &big, b"tail", &header]);
        assert_eq!(out.len(), 2);
        assert_eq!(out.first().map(Vec::as_slice), Some(&b"S\ntail"[..]));
        assert_eq!(out.get(1).map(Vec::len), Some(DEFAULT_MAX_BYTES));
        // 10k continuation lines: capped at max_lines
        let mut j = Joiner::new("^S", DEFAULT_MAX_LINES, usize::MAX).unwrap();
        let mut lines: Vec<&[u8]> = vec![b"S"];
        lines.extend(std::iter::repeat_n(&b"\tat x"[..], 10_000));
        let out = join(&mut j, &lines);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out.first().map(|r| r.split(|&b| b == b'\n').count()),
            Some(DEFAULT_MAX_LINES)
        );
        // zero limits are clamped to 1
        let mut j = Joiner::new("^S", 0, 0).unwrap();
        assert_eq!(join(&mut j, &[b"Sabc", b"d"]), vec![b"S".to_vec()]);
    }

    #[test]
    fn spec_deserialize_and_errors() {
        let spec: MultilineSpec =
            serde_json::from_str(r#"{"start":"^\\[","max_lines":10,"timeout":"2s"}"#).unwrap();
        assert_eq!(spec.max_lines, Some(10));
        assert_eq!(spec.max_bytes, None);
        assert_eq!(spec.timeout.as_deref(), Some("2s"));
        let j = spec.joiner().unwrap();
        assert_eq!((j.max_lines, j.max_bytes), (10, DEFAULT_MAX_BYTES));
        assert!(serde_json::from_str::<MultilineSpec>(r#"{"start":"x","bogus":1}"#).is_err());
        assert!(Joiner::new("(", 1, 1).is_err());
    }

    proptest::proptest! {
        /// Without hitting the limits, joining is lossless: the records, joined with `\n`, are
        /// the input lines joined with `\n`, and every record but an orphan starts with a start
        /// line. With tight limits it never panics and never exceeds them.
        #[test]
        fn lossless_and_bounded(
            lines in proptest::collection::vec(proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'S'),
                    // lines never hold `\n`: the caller split on it
                    proptest::strategy::Strategy::prop_map(proptest::num::u8::ANY, |b| if b == b'\n' { b'x' } else { b }),
                ], 0..20), 0..40),
            max_lines in 1usize..6,
            max_bytes in 1usize..60,
        ) {
            let mut j = Joiner::new("^S", usize::MAX, usize::MAX).unwrap();
            let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
            let out = join(&mut j, &refs);
            proptest::prop_assert_eq!(out.join(&b'\n'), refs.join(&b'\n'));
            for r in out.iter().skip(1) {
                // a record after the first starts with a start line, unless an orphan came first
                if !r.starts_with(b"S") {
                    proptest::prop_assert!(refs.first().is_some_and(|f| !f.starts_with(b"S")));
                }
            }
            let mut j = Joiner::new("^S", max_lines, max_bytes).unwrap();
            for r in join(&mut j, &refs) {
                proptest::prop_assert!(r.len() <= max_bytes);
                proptest::prop_assert!(r.split(|&b| b == b'\n').count() <= max_lines || !r.starts_with(b"S"));
            }
        }
    }
}
