//! One source's line consumer: lines from the tailer (or a replayed file) → rules → store, with
//! self-metrics and the per-file offsets that checkpoints are made of.
//!
//! Lines of a batch are applied under the source's progress lock, and the file's offset moves
//! under the same lock, so a scrape that holds every progress lock sees metric values and
//! offsets that match exactly: that is what makes "checkpoint what was exported" exact.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::Multiline;
use crate::parse::Joiner;
use crate::rules::SourceRules;
use crate::source::{Checkpoint, FileInfo, Fingerprint, TailEvent, TailSink};
use crate::store::{now_ms, push_label, Desc, Kind, Label, Series, Store};

/// Per-file position, keyed by (dev, inode).
pub type FileKey = (u64, u64);

/// Offsets applied so far; locked per batch by the worker and by a scrape.
#[derive(Debug, Default)]
pub struct Progress {
    /// Files and the offset up to which their lines are applied.
    pub files: HashMap<FileKey, Checkpoint>,
    /// Entries carried over from the last run, not yet confirmed by the tailer.
    pub seeded: Vec<FileKey>,
}

/// State shared between a source's worker thread and the exporter.
#[derive(Debug)]
pub struct SourceShared {
    /// Source name.
    pub name: String,
    /// Offsets, locked around every applied batch.
    pub progress: Mutex<Progress>,
    /// Last file error, for the status page (files and lag come from the self-metrics).
    pub last_error: Mutex<Option<String>>,
    /// Per-source self-metrics.
    pub metrics: SelfMetrics,
    /// The tailer has once read everything its files held (a scan with no lag): on a first
    /// run, the history read until then is Prometheus' baseline.
    pub caught_up: std::sync::atomic::AtomicBool,
}

impl SourceShared {
    /// Lock the progress (a poisoned lock is still consistent: updates are single steps).
    pub fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Handles to a source's self-metric series.
#[derive(Debug)]
pub struct SelfMetrics {
    /// `logpulse_lines_total`.
    pub lines: Arc<Series>,
    /// `logpulse_bytes_total`.
    pub bytes: Arc<Series>,
    /// `logpulse_parse_errors_total`.
    pub parse_errors: Arc<Series>,
    /// `logpulse_last_line_timestamp_seconds`.
    pub last_line: Arc<Series>,
    /// `logpulse_files_watched`.
    pub files: Arc<Series>,
    /// `logpulse_file_rotations_total`.
    pub rotations: Arc<Series>,
    /// `logpulse_file_truncations_total`.
    pub truncations: Arc<Series>,
    /// `logpulse_file_lag_bytes`.
    pub lag: Arc<Series>,
    /// `logpulse_file_oldest_unread_age_seconds`.
    pub age: Arc<Series>,
    /// `logpulse_lines_too_long_total`.
    pub too_long: Arc<Series>,
    /// `logpulse_read_errors_total`.
    pub read_errors: Arc<Series>,
    /// `logpulse_files_held_total`.
    pub held: Arc<Series>,
    /// `logpulse_bytes_skipped_total`.
    pub skipped: Arc<Series>,
}

impl SelfMetrics {
    /// Register (once) and declare the series of source `name` in `store`.
    pub fn new(store: &Store, name: &str) -> SelfMetrics {
        let mut key = Vec::new();
        push_label(&mut key, name.as_bytes());
        // Each handle is bound to its metric by name, next to its description.
        let m = |metric: &str, kind: Kind, help: &str| {
            let desc = Desc {
                name: metric.into(),
                help: help.into(),
                kind,
                labels: vec![Label::bounded("source")],
                buckets: vec![],
            };
            // Self-metric descriptions are fixed and unique, so registration cannot conflict.
            match store.register(desc, usize::MAX) {
                Ok(f) => f.declare(&key),
                Err(e) => unreachable!("{e}"),
            }
        };
        use Kind::{Counter, Gauge};
        SelfMetrics {
            lines: m(
                "logpulse_lines_total",
                Counter,
                "Lines read, per source (records, for multiline sources, are counted per physical line).",
            ),
            bytes: m(
                "logpulse_bytes_total",
                Counter,
                "Bytes read, per source, newlines included.",
            ),
            parse_errors: m(
                "logpulse_parse_errors_total",
                Counter,
                "Lines (or records) that did not parse, per source.",
            ),
            last_line: m(
                "logpulse_last_line_timestamp_seconds",
                Gauge,
                "Unix time when the source last delivered a line.",
            ),
            files: m("logpulse_files_watched", Gauge, "Files followed, per source."),
            rotations: m(
                "logpulse_file_rotations_total",
                Counter,
                "Rotations by rename seen, per source.",
            ),
            truncations: m(
                "logpulse_file_truncations_total",
                Counter,
                "Truncations (incl. copytruncate) seen, per source.",
            ),
            lag: m(
                "logpulse_file_lag_bytes",
                Gauge,
                "Bytes written to the source's files but not read yet.",
            ),
            age: m(
                "logpulse_file_oldest_unread_age_seconds",
                Gauge,
                "Age of the oldest unread byte of the source's files (0 when caught up).",
            ),
            too_long: m(
                "logpulse_lines_too_long_total",
                Counter,
                "Lines cut at global.max_line_bytes, per source.",
            ),
            read_errors: m(
                "logpulse_read_errors_total",
                Counter,
                "Errors opening or reading files (permission denied, I/O), per source.",
            ),
            held: m(
                "logpulse_files_held_total",
                Counter,
                "New files held unread because they start like a followed file (a possible copy), per source.",
            ),
            skipped: m(
                "logpulse_bytes_skipped_total",
                Counter,
                "Bytes not read because a followed file holds the same bytes (a copy followed from its end), per source.",
            ),
        }
    }
}

struct Join {
    joiner: Joiner,
    /// File offset where the pending record starts.
    pending_start: u64,
    /// File offset just past the last delivered line.
    delivered: u64,
    last_push: Instant,
}

/// The sink for one source.
pub struct Worker {
    rules: SourceRules,
    shared: Arc<SourceShared>,
    multiline: Option<Multiline>,
    joins: HashMap<FileKey, Join>,
    /// Log parse errors at most this often.
    last_parse_log: Option<Instant>,
}

fn key(fp: &Fingerprint) -> FileKey {
    (fp.dev, fp.ino)
}

impl Worker {
    /// A worker applying `rules`, reporting into `shared`.
    pub fn new(
        rules: SourceRules,
        shared: Arc<SourceShared>,
        multiline: Option<Multiline>,
    ) -> Worker {
        Worker {
            rules,
            shared,
            multiline,
            joins: HashMap::new(),
            last_parse_log: None,
        }
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<SourceShared> {
        &self.shared
    }

    fn apply_record(
        rules: &mut SourceRules,
        rec: &[u8],
        errors: &mut u64,
        first_err: &mut Option<String>,
    ) {
        if let Err(e) = rules.apply(rec) {
            *errors += 1;
            if first_err.is_none() {
                let shown: String =
                    String::from_utf8_lossy(&rec[..rec.len().min(200)]).into_owned();
                *first_err = Some(format!("{e}: {shown:?}"));
            }
        }
    }

    /// Log a batch's parse errors (at most every 10 s); they are counted under the progress
    /// lock with the batch's lines.
    fn log_parse_errors(&mut self, errors: u64, first_err: Option<String>, file: &FileInfo) {
        if errors == 0 {
            return;
        }
        let now = Instant::now();
        if self
            .last_parse_log
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
        {
            self.last_parse_log = Some(now);
            tracing::warn!(
                source = %self.shared.name,
                file = %file.path.display(),
                errors,
                "lines did not parse (counted in logpulse_parse_errors_total; first: {})",
                first_err.unwrap_or_default()
            );
        }
    }

    /// Emit pending multiline records that have been quiet longer than the timeout.
    fn flush_idle(&mut self, all: bool) {
        let Some(timeout) = self.multiline.as_ref().map(|m| m.timeout) else {
            return;
        };
        let shared = self.shared.clone();
        let mut progress = shared.lock();
        let mut errors = 0;
        let mut first = None;
        let rules = &mut self.rules;
        for (k, j) in self.joins.iter_mut() {
            if j.joiner.has_pending() && (all || j.last_push.elapsed() >= timeout) {
                if let Some(cp) = progress.files.get(k) {
                    rules.set_file(&cp.path);
                }
                j.joiner.flush(&mut |rec: &[u8]| {
                    Self::apply_record(rules, rec, &mut errors, &mut first)
                });
                if let Some(cp) = progress.files.get_mut(k) {
                    // Nothing pending any more: the file is applied up to what was delivered.
                    cp.offset = j.delivered;
                }
            }
        }
        if errors > 0 {
            // Before the lock is released: a scrape sees the records with their parse errors.
            self.shared.metrics.parse_errors.add(errors as f64);
        }
        drop(progress);
        if errors > 0 {
            if let Some(e) = first {
                tracing::warn!(source = %self.shared.name, "multiline record did not parse: {e}");
            }
        }
    }

    /// After a failed run of the tailer: forget pending multiline records. Their first line is
    /// where the file's offset stands, so the restarted tailer delivers them again.
    pub fn forget_pending(&mut self) {
        self.joins.clear();
    }

    /// At the end of a replay: emit every pending multiline record.
    pub fn finish(&mut self) {
        self.flush_idle(true);
    }
}

impl TailSink for Worker {
    fn batch(&mut self, file: &FileInfo, start_offset: u64, data: &[u8]) {
        let now_ms = now_ms();
        let now = now_ms / 1000;
        self.rules.set_clock_ms(now_ms);
        self.rules.set_file(&file.path);
        let fk = key(&file.fingerprint);
        let mut lines = 0u64;
        let mut errors = 0u64;
        let mut first_err = None;
        let shared = self.shared.clone();
        let mut progress = shared.lock();
        let mut end_offset = start_offset + data.len() as u64;
        match &self.multiline {
            None => {
                // memchr finds the newlines 32 bytes at a time; `split_inclusive` tested every
                // byte through a closure, which cost as much as parsing the line.
                let mut start = 0;
                for nl in memchr::memchr_iter(b'\n', data) {
                    lines += 1;
                    let line = &data[start..nl];
                    Self::apply_record(&mut self.rules, line, &mut errors, &mut first_err);
                    start = nl + 1;
                }
                if start < data.len() {
                    // The last line of a batch may come without its newline (see TailSink).
                    lines += 1;
                    let line = &data[start..];
                    Self::apply_record(&mut self.rules, line, &mut errors, &mut first_err);
                }
            }
            Some(m) => {
                let j = self.joins.entry(fk).or_insert_with(|| Join {
                    joiner: m.joiner(),
                    pending_start: start_offset,
                    delivered: 0,
                    last_push: Instant::now(),
                });
                let rules = &mut self.rules;
                let mut start = 0;
                // Newlines by memchr, as above; the last line may come without one.
                let ends = memchr::memchr_iter(b'\n', data)
                    .chain((data.last() != Some(&b'\n') && !data.is_empty()).then_some(data.len()));
                for end in ends {
                    let line_start = start_offset + start as u64;
                    let line = &data[start..end];
                    start = end + 1;
                    lines += 1;
                    let was_pending = j.joiner.has_pending();
                    let mut emitted = false;
                    j.joiner.push(line, &mut |rec: &[u8]| {
                        emitted = true;
                        Self::apply_record(rules, rec, &mut errors, &mut first_err);
                    });
                    if j.joiner.has_pending() && (!was_pending || emitted) {
                        j.pending_start = line_start;
                    }
                }
                j.last_push = Instant::now();
                j.delivered = end_offset;
                if j.joiner.has_pending() {
                    // Resume at the pending record's first line after a restart.
                    end_offset = j.pending_start;
                }
            }
        }
        match progress.files.get_mut(&fk) {
            Some(cp) => {
                cp.offset = end_offset;
                cp.fingerprint = file.fingerprint;
                if cp.path != file.path {
                    cp.path = file.path.clone();
                }
            }
            None => {
                progress.files.insert(
                    fk,
                    Checkpoint {
                        path: file.path.clone(),
                        fingerprint: file.fingerprint,
                        offset: end_offset,
                    },
                );
            }
        }
        let m = &self.shared.metrics;
        m.lines.add(lines as f64);
        m.bytes.add(data.len() as f64);
        if lines > 0 {
            // (An empty batch only moves the offset past a skipped part of a line.)
            m.last_line.set(now as f64);
        }
        if errors > 0 {
            // With the lines, before the lock is released: a scrape pauses the source between
            // batches, so it sees all of a batch's self-metrics or none of them.
            m.parse_errors.add(errors as f64);
        }
        drop(progress);
        self.log_parse_errors(errors, first_err, file);
    }

    fn event(&mut self, event: TailEvent) {
        let m = &self.shared.metrics;
        match event {
            TailEvent::Opened { file, offset } => {
                tracing::info!(source = %self.shared.name, file = %file.path.display(), offset, "following file");
                let mut p = self.shared.lock();
                let k = key(&file.fingerprint);
                p.seeded.retain(|s| *s != k);
                p.files.insert(
                    k,
                    Checkpoint {
                        path: file.path,
                        fingerprint: file.fingerprint,
                        offset,
                    },
                );
            }
            TailEvent::Rotated { file } => {
                tracing::info!(source = %self.shared.name, file = %file.path.display(), "file rotated; draining the old one");
                m.rotations.add(1.0);
            }
            TailEvent::Truncated { file } => {
                tracing::warn!(source = %self.shared.name, file = %file.path.display(), "file truncated; reading from its start");
                m.truncations.add(1.0);
                self.flush_idle(true);
                let mut p = self.shared.lock();
                if let Some(cp) = p.files.get_mut(&key(&file.fingerprint)) {
                    cp.offset = 0;
                    cp.fingerprint = file.fingerprint;
                }
            }
            TailEvent::Closed { file } => {
                tracing::info!(source = %self.shared.name, file = %file.path.display(), "file closed");
                let k = key(&file.fingerprint);
                if let Some(mut j) = self.joins.remove(&k) {
                    let shared = self.shared.clone();
                    let _p = shared.lock();
                    let (mut errors, mut first) = (0, None);
                    let rules = &mut self.rules;
                    j.joiner.flush(&mut |rec: &[u8]| {
                        Self::apply_record(rules, rec, &mut errors, &mut first)
                    });
                    self.shared.metrics.parse_errors.add(errors as f64);
                }
                self.shared.lock().files.remove(&k);
            }
            TailEvent::Held { path, of } => {
                m.held.add(1.0);
                tracing::info!(source = %self.shared.name, file = %path.display(), of = %of.display(), "new file starts like a followed one: held unread until it differs from it (then read from its start) or its original is truncated (a copy)");
            }
            TailEvent::Skipped { file, of, bytes } => {
                m.skipped.add(bytes as f64);
                tracing::warn!(source = %self.shared.name, file = %file.path.display(), of = %of.display(), bytes, "file holds the same bytes as a followed one and no truncation came: a copy, followed from its end (counted in logpulse_bytes_skipped_total)");
            }
            TailEvent::LineTooLong { file } => {
                m.too_long.add(1.0);
                tracing::warn!(source = %self.shared.name, file = %file.path.display(), "line longer than global.max_line_bytes was cut");
            }
            TailEvent::Missing { path } => {
                tracing::info!(source = %self.shared.name, path = %path.display(), "file does not exist yet; it will be followed when it appears");
            }
            TailEvent::Error { path, message } => {
                m.read_errors.add(1.0);
                tracing::warn!(source = %self.shared.name, path = %path.display(), "{message}");
                *self
                    .shared
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(message);
            }
            TailEvent::Stats {
                files,
                lag_bytes,
                oldest_unread_age,
            } => {
                m.files.set(files as f64);
                m.lag.set(lag_bytes as f64);
                m.age.set(oldest_unread_age);
                if lag_bytes == 0 {
                    self.shared
                        .caught_up
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
                {
                    // The tailer has scanned: carried-over entries it did not confirm are gone.
                    let mut p = self.shared.lock();
                    let seeded = std::mem::take(&mut p.seeded);
                    for k in seeded {
                        p.files.remove(&k);
                    }
                }
                self.flush_idle(false);
            }
        }
    }
}

/// Paths and offsets of a source's progress, sorted by path, for the status page.
pub fn file_rows(p: &Progress) -> Vec<(PathBuf, u64)> {
    let mut v: Vec<_> = p
        .files
        .values()
        .map(|c| (c.path.clone(), c.offset))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A scrape pauses each source between batches (it holds the progress lock while it
    /// renders), so it sees all of a batch's self-metrics or none: never lines without their
    /// parse errors.
    #[test]
    fn a_scrape_sees_a_batchs_lines_and_parse_errors_together() {
        let c = Config::from_yaml(
            "global:\n  state_dir: /nonexistent/state\nsources:\n  - name: web\n    paths: ['/nonexistent/web.log']\n    format: combined\n    profile: http\n",
            "test.yml",
        )
        .expect("valid config");
        let (_store, _selfstore, _lines, mut workers) =
            crate::agent::build(&c, None).expect("build");
        let mut w = workers.pop().expect("one source");
        let shared = w.shared().clone();
        let file = FileInfo {
            path: "/nonexistent/web.log".into(),
            fingerprint: Fingerprint {
                dev: 1,
                ino: 2,
                head_len: 0,
                head_hash: 0,
            },
        };
        const BATCHES: u64 = 20_000;
        let writer = std::thread::spawn(move || {
            for i in 0..BATCHES {
                w.batch(&file, i * 4, b"bad\n");
            }
        });
        let m = &shared.metrics;
        let mut torn = 0;
        loop {
            let done = writer.is_finished();
            let seen = {
                let _paused = shared.lock();
                (m.lines.scalar(), m.parse_errors.scalar())
            };
            torn += u32::from(seen.0 != seen.1);
            if done {
                break;
            }
        }
        writer.join().expect("worker thread");
        assert_eq!(torn, 0, "scrapes that saw lines without their parse errors");
        assert_eq!(m.lines.scalar(), BATCHES as f64);
        assert_eq!(m.parse_errors.scalar(), BATCHES as f64);
    }
}
