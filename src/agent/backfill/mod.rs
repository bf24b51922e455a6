//! `backfill`: old and rotated log files → the metrics' values at each step of the time the
//! lines were written → timestamped OpenMetrics for `promtool tsdb create-blocks-from
//! openmetrics`.
//!
//! Lines go through the source's own rules (the same metrics and names as `run`, so the same
//! dashboards work). Each line is parsed once: its time field is read from the parsed record,
//! then the record is applied. Files are read oldest first ([`input::order`]); each boundary is
//! recorded when the first line past it arrives, and a line that arrives late by at most the
//! out-of-order window is added to the boundaries it belongs to ([`timeline`]). Lines that
//! cannot be placed (older than the window, no parseable time, a time in the future) are
//! counted in the summary and in `logpulse_backfill_lines_dropped_total{reason}`.
//!
//! Memory is bounded by what can still change, never by the time the lines span: boundaries
//! are written out a chunk at a time as soon as no late line can reach them, and a stretch of
//! log time without lines longer than `max_gap` is skipped rather than recorded step by step.
//! A file that cannot be read to its end is reported and the others are read all the same.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{source_index, AgentError};
use crate::config::Config;
use crate::parse::time::{TimeParser, DEFAULT_FIELDS};
use crate::parse::FieldId;
use crate::rules::SourceRules;
use crate::store::{push_label, Desc, Kind, Label, Series, Store};

mod input;
pub mod progress;
mod timeline;

use timeline::Timeline;
pub use timeline::{ChunkFiles, OneFile, Sink};

/// What to backfill and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Source whose format and rules apply (default: the first).
    pub source: Option<String>,
    /// Log files, in any order.
    pub files: Vec<PathBuf>,
    /// Distance between the recorded instants.
    pub step: Duration,
    /// How late (in log time) a line may arrive and still count at its own step.
    pub window: Duration,
    /// A value that did not change is written again after this long (at most the step: every
    /// value at every step).
    pub refresh: Duration,
    /// Labels added to every series, as a scrape adds `job` and `instance`.
    pub target_labels: Vec<(String, String)>,
    /// A stretch of log time without lines longer than this is skipped: the series are
    /// recorded for `max_gap` after the latest line, then again from just before the next.
    pub max_gap: Duration,
}

/// A file that could not be read to its end, or had something worth a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIssue {
    /// The file.
    pub path: PathBuf,
    /// What happened, and what was read of it.
    pub message: String,
}

/// Where a long run stands, for a progress line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Files finished.
    pub files_done: usize,
    /// Files given.
    pub files: usize,
    /// Lines read.
    pub lines: u64,
    /// Bytes read from the files (compressed bytes for `.gz`).
    pub read_bytes: u64,
    /// Size of all files.
    pub total_bytes: u64,
    /// Log time reached (unix ms).
    pub reached: Option<i64>,
    /// Since the start.
    pub elapsed: Duration,
}

/// Totals of a backfill.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Lines read (physical lines).
    pub lines: u64,
    /// Bytes of lines read (after decompression).
    pub bytes: u64,
    /// Lines (records) that did not parse.
    pub parse_errors: u64,
    /// Lines placed at their own step, late ones included.
    pub placed: u64,
    /// Of those, lines that came out of order (applied to steps already recorded).
    pub late: u64,
    /// Dropped: older than the out-of-order window.
    pub too_old: u64,
    /// Dropped: no time field, or one that does not fit the layout.
    pub no_time: u64,
    /// Dropped: a time more than a day after now.
    pub future: u64,
    /// Lines cut at `global.max_line_bytes`.
    pub too_long: u64,
    /// Time of the earliest and latest placed line (unix ms).
    pub first: Option<i64>,
    /// See `first`.
    pub last: Option<i64>,
    /// Samples written.
    pub samples: u64,
    /// Files read, in the order read.
    pub files: usize,
    /// Stretches without lines longer than `max_gap` that were skipped.
    pub gaps: u64,
    /// Files not read to their end (open or read errors): the lines read before the error are
    /// in the output, and the other files were read.
    pub failed: Vec<FileIssue>,
    /// Files read to their end with something to say (trailing garbage after gzip data).
    pub warnings: Vec<FileIssue>,
}

/// Reasons a line is dropped, the values of `logpulse_backfill_lines_dropped_total{reason}`.
const REASONS: [&str; 3] = ["too_old", "no_time", "future"];

/// Boundaries are written out in chunks of at most this much log time...
const CHUNK_MS: i64 = 2 * 3600 * 1000;
/// ...and at most this many steps (memory: series × steps × values per step).
const CHUNK_STEPS: i64 = 480;

/// The backfill's own counters, exported beside the rules' metrics.
struct SelfSeries {
    lines: Arc<Series>,
    bytes: Arc<Series>,
    parse_errors: Arc<Series>,
    too_long: Arc<Series>,
    last_line: Arc<Series>,
    dropped: [Arc<Series>; 3],
}

impl SelfSeries {
    fn new(store: &Store, source: &str) -> SelfSeries {
        let mut key = Vec::new();
        push_label(&mut key, source.as_bytes());
        let fam = |name: &str, help: &str, labels: Vec<Label>| {
            let kind = if name.ends_with("_total") {
                Kind::Counter
            } else {
                Kind::Gauge
            };
            let desc = Desc {
                name: name.into(),
                help: help.into(),
                kind,
                labels,
                buckets: vec![],
            };
            match store.register(desc, usize::MAX) {
                Ok(f) => f,
                // Fixed, distinct descriptions in a fresh store cannot conflict.
                Err(e) => unreachable!("{e}"),
            }
        };
        let src = || vec![Label::bounded("source")];
        let dropped = fam(
            "logpulse_backfill_lines_dropped_total",
            "Lines backfill could not place in time, per source and reason (too_old: later than the out-of-order window; no_time: no parseable time; future: more than a day ahead).",
            vec![Label::bounded("source"), Label::bounded("reason")],
        );
        let with_reason = |r: &str| {
            let mut k = key.clone();
            push_label(&mut k, r.as_bytes());
            dropped.declare(&k)
        };
        SelfSeries {
            lines: fam("logpulse_lines_total", "Lines read, per source (records, for multiline sources, are counted per physical line).", src()).declare(&key),
            bytes: fam("logpulse_bytes_total", "Bytes read, per source, newlines included.", src()).declare(&key),
            parse_errors: fam("logpulse_parse_errors_total", "Lines (or records) that did not parse, per source.", src()).declare(&key),
            too_long: fam("logpulse_lines_too_long_total", "Lines cut at global.max_line_bytes, per source.", src()).declare(&key),
            last_line: fam(
                "logpulse_last_line_timestamp_seconds",
                "Unix time of the latest line placed (log time), per source.",
                src(),
            )
            .declare(&key),
            dropped: REASONS.map(with_reason),
        }
    }

    fn set(&self, s: &Summary, latest: i64) {
        self.last_line.set(latest as f64 / 1000.0);
        self.lines.set(s.lines as f64);
        self.bytes.set(s.bytes as f64);
        self.parse_errors.set(s.parse_errors as f64);
        self.too_long.set(s.too_long as f64);
        for (series, n) in self.dropped.iter().zip([s.too_old, s.no_time, s.future]) {
            series.set(n as f64);
        }
    }
}

/// One line (record) at a time → store and timeline.
struct Engine<W: Sink> {
    rules: SourceRules,
    time_fields: Vec<FieldId>,
    time: TimeParser,
    timeline: Timeline<W>,
    store: Arc<Store>,
    selfm: SelfSeries,
    step: i64,
    window: i64,
    chunk: i64,
    /// Longest stretch without lines recorded step by step.
    max_gap: i64,
    expiry: Option<i64>,
    /// Times after this are `future`.
    horizon: i64,
    /// The next boundary to record (`None` before the first placed line).
    next: Option<i64>,
    /// Latest time placed.
    max_t: i64,
    s: Summary,
    /// First write error (the run stops at the next check).
    write_error: Option<std::io::Error>,
}

impl<W: Sink> Engine<W> {
    fn record(&mut self, rec: &[u8]) {
        if self.rules.parse(rec).is_err() {
            self.s.parse_errors += 1;
            return;
        }
        let t = self
            .time_fields
            .iter()
            .find_map(|id| self.rules.value(rec, *id))
            .and_then(|v| self.time.parse(v));
        let Some(t) = t else {
            self.s.no_time += 1;
            return;
        };
        if t > self.horizon {
            self.s.future += 1;
            return;
        }
        let next = match self.next {
            Some(n) => n,
            None => self.start(t),
        };
        if t > next {
            self.advance(t);
        }
        self.rules.set_now((t / 1000).max(0) as u64);
        if t > self.next.unwrap_or(next) - self.step {
            // After the last recorded boundary: the next capture takes it in.
            self.rules.apply_parsed(rec, None);
        } else if t >= self.max_t - self.window && self.timeline.accepts(t) {
            let tl = &mut self.timeline;
            self.rules.apply_parsed(rec, Some(&mut |u| tl.patch(t, &u)));
            self.s.late += 1;
        } else {
            self.s.too_old += 1;
            return;
        }
        self.s.placed += 1;
        self.max_t = self.max_t.max(t);
        self.s.first = Some(self.s.first.map_or(t, |f| f.min(t)));
    }

    /// The first placed line, at `t`: record the boundary before it (every declared series at
    /// zero), so the first increments show in `increase()`.
    fn start(&mut self, t: i64) -> i64 {
        let b = (t - 1).div_euclid(self.step) * self.step;
        self.capture(b);
        self.max_t = t;
        self.next = Some(b + self.step);
        b + self.step
    }

    /// Record every boundary before `t`, and write out the chunks no late line can change.
    /// After a stretch without lines longer than `max_gap`, the boundaries between `max_gap`
    /// after the latest line and the window before `t` are skipped: nothing changed there, and
    /// recording them would cost memory, time and output in proportion to the gap (two lines
    /// fifty years apart are 100 million steps of 15 s).
    fn advance(&mut self, t: i64) {
        let mut next = self.next.unwrap_or(t);
        let settled = t.max(self.max_t).saturating_sub(self.window);
        if t.saturating_sub(self.max_t) > self.max_gap {
            let stop = self.max_t.saturating_add(self.max_gap);
            // The boundary before the earliest time a late line could still have.
            let resume = (t - self.window - 1).div_euclid(self.step) * self.step;
            if resume > stop.saturating_add(self.step) {
                next = self.capture_until(next, stop.saturating_add(1), settled);
                if resume > next {
                    self.s.gaps += 1;
                    next = resume;
                }
            }
        }
        next = self.capture_until(next, t, settled);
        self.next = Some(next);
    }

    /// Record the boundaries from `next` up to (not including) `end`, writing out each chunk
    /// once it is complete and settled (no line can change it any more); returns the next
    /// boundary to record.
    fn capture_until(&mut self, mut next: i64, end: i64, settled: i64) -> i64 {
        while next < end && self.write_error.is_none() {
            self.capture(next);
            next += self.step;
            self.write_settled(settled.min(next));
        }
        next
    }

    /// Write out every recorded chunk that ends at or before `upto`.
    fn write_settled(&mut self, upto: i64) {
        while self.write_error.is_none() {
            let Some(first) = self.timeline.first() else {
                return;
            };
            let end = (first.div_euclid(self.chunk) + 1) * self.chunk;
            if end > upto {
                return;
            }
            if let Err(e) = self.timeline.write_until(end - 1) {
                self.write_error = Some(e);
            }
        }
    }

    fn capture(&mut self, at: i64) {
        if let Some(e) = self.expiry {
            let older = (at - e).div_euclid(1000).max(0) as u64;
            self.store.expire(older);
        }
        self.selfm.set(&self.s, self.max_t.max(0));
        self.timeline.capture(at);
    }

    /// After the last line: record the boundary at or after it, write everything.
    fn finish(mut self) -> Result<(Summary, W), std::io::Error> {
        if self.next.is_some() {
            // The boundary at or after the latest line holds every line.
            let last = self.max_t.div_euclid(self.step) * self.step;
            let last = if last < self.max_t {
                last + self.step
            } else {
                last
            };
            self.advance(last + 1);
        }
        if let Some(e) = self.write_error.take() {
            return Err(e);
        }
        self.s.last = (self.s.placed > 0).then_some(self.max_t);
        let (out, samples) = self.timeline.finish()?;
        self.s.samples = samples;
        Ok((self.s, out))
    }
}

/// Unix seconds of a file's modification time (the reference for times without a year).
fn mtime(path: &Path) -> Option<i64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    let d = m.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}

/// Read `opts.files` through one source and write timestamped OpenMetrics to `out`
/// ([`OneFile`] or [`ChunkFiles`]). `progress` is called a few times a second.
pub fn backfill<W: Sink>(
    cfg: &Config,
    opts: &Options,
    out: W,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(Summary, W), AgentError> {
    let i = source_index(cfg, opts.source.as_deref())?;
    let src = &cfg.sources[i];
    let store = Arc::new(Store::new());
    let rules_err = |error| AgentError::Rules {
        file: cfg.file.clone(),
        error,
    };
    let mut rules = SourceRules::compile(cfg, i, &store).map_err(rules_err)?;
    // The output has no exemplars, and with the log's clock every slot would be due again at
    // almost every line.
    rules.disable_exemplars();
    let time_fields: Vec<FieldId> = match &src.time.field {
        Some(f) => rules.field(f).into_iter().collect(),
        None => DEFAULT_FIELDS
            .iter()
            .filter_map(|f| rules.field(f))
            .collect(),
    };
    if time_fields.is_empty() {
        return Err(AgentError::Io {
            what: format!("{}: sources[{i}].time.field", cfg.file),
            error: std::io::Error::other(format!(
                "the format has none of the usual time fields ({}): name one with `time: {{field: …}}`",
                DEFAULT_FIELDS.join(", ")
            )),
        });
    }
    let selfstore = Store::new();
    let selfm = SelfSeries::new(&selfstore, &src.name);
    let sorted = |s: &Store| {
        let mut f = s.families();
        f.sort_by(|a, b| a.desc().name.cmp(&b.desc().name));
        f
    };
    let families = sorted(&store)
        .into_iter()
        .chain(sorted(&selfstore))
        .collect();
    let step = i64::try_from(opts.step.as_millis())
        .unwrap_or(i64::MAX / 4)
        .max(1);
    let mut engine = Engine {
        time: TimeParser::new(src.time.layout.clone(), src.time.zone),
        time_fields,
        timeline: Timeline::new(
            families,
            opts.target_labels.clone(),
            out,
            i64::try_from(opts.refresh.as_millis()).unwrap_or(i64::MAX),
            step,
        ),
        store: store.clone(),
        selfm,
        step,
        window: i64::try_from(opts.window.as_millis()).unwrap_or(i64::MAX / 4),
        chunk: (CHUNK_MS.min(CHUNK_STEPS.saturating_mul(step)) / step).max(1) * step,
        max_gap: i64::try_from(opts.max_gap.as_millis())
            .unwrap_or(i64::MAX / 4)
            .max(step),
        expiry: cfg.global.series_expiry.map(|d| d.as_millis() as i64),
        horizon: (crate::store::now_secs() as i64 + 86_400) * 1000,
        next: None,
        max_t: i64::MIN,
        s: Summary::default(),
        write_error: None,
        rules,
    };

    // Oldest first: by the first line's time, or by rotation names.
    let mut buf = Vec::new();
    let files = input::order(&opts.files, |f| {
        let mut o = input::open(f).ok()?;
        engine.time.set_reference(mtime(f)?);
        let mut first = None;
        let mut seen = 0;
        let _ = input::for_each_line(&mut o.reader, cfg.global.max_line_bytes, &mut buf, |l| {
            seen += 1;
            if engine.rules.parse(l).is_ok() {
                first = engine
                    .time_fields
                    .iter()
                    .find_map(|id| engine.rules.value(l, *id))
                    .and_then(|v| engine.time.parse(v));
            }
            first.is_none() && seen < 1000
        });
        first
    });

    let started = Instant::now();
    let mut p = Progress {
        files: files.len(),
        total_bytes: files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum(),
        ..Progress::default()
    };
    let mut last_report = started;
    let mut joiner = src.multiline.as_ref().map(|m| m.joiner());
    for f in &files {
        engine.s.files += 1;
        let mut o = match input::open(f) {
            Ok(o) => o,
            Err(e) => {
                engine.s.failed.push(FileIssue {
                    path: f.clone(),
                    message: format!("cannot read it: {e}"),
                });
                p.files_done += 1;
                continue;
            }
        };
        engine
            .time
            .set_reference(mtime(f).unwrap_or_else(|| crate::store::now_secs() as i64));
        let read_before = p.read_bytes;
        let lines_before = engine.s.lines;
        let mut n = 0u32;
        let read = input::for_each_line(&mut o.reader, cfg.global.max_line_bytes, &mut buf, |l| {
            match &mut joiner {
                None => engine.record(l),
                Some(j) => j.push(l, &mut |rec: &[u8]| engine.record(rec)),
            }
            // Counted after the line: a boundary its time records does not include it.
            engine.s.lines += 1;
            engine.s.bytes += l.len() as u64 + 1;
            n = n.wrapping_add(1);
            if n % 16_384 == 0 {
                let now = Instant::now();
                if now.duration_since(last_report) >= Duration::from_millis(250) {
                    last_report = now;
                    p.lines = engine.s.lines;
                    p.read_bytes = read_before + o.raw_read.get();
                    p.reached = engine.next.map(|_| engine.max_t);
                    p.elapsed = now - started;
                    progress(&p);
                }
            }
            engine.write_error.is_none()
        });
        // A record the file's last lines started belongs to this file, error or not.
        if let Some(j) = &mut joiner {
            j.flush(&mut |rec: &[u8]| engine.record(rec));
        }
        match read {
            Ok(stats) => engine.s.too_long += stats.too_long,
            Err(e) => engine.s.failed.push(FileIssue {
                path: f.clone(),
                message: format!(
                    "{e}; the {} lines before it are in the output, the rest of the file is not",
                    engine.s.lines - lines_before
                ),
            }),
        }
        if let Some(t) = o.trailing.get() {
            engine.s.warnings.push(FileIssue {
                path: f.clone(),
                message: format!(
                    "decompression OK; the bytes from {} on, after gzip member {}, are not gzip \
                     data and were ignored (trailing garbage)",
                    t.at, t.members
                ),
            });
        }
        p.files_done += 1;
        p.read_bytes = read_before + o.raw_read.get();
    }
    let lines = engine.s.lines;
    let (summary, out) = engine.finish().map_err(|error| AgentError::Io {
        what: "writing the output".into(),
        error,
    })?;
    p.lines = lines;
    p.reached = summary.last;
    p.elapsed = started.elapsed();
    progress(&p);
    Ok((summary, out))
}

#[cfg(test)]
mod tests;
