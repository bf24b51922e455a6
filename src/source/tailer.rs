//! The run loop: one thread per source, sleeping on the event queue of [`super::discovery`].
//!
//! On wake-up it:
//! - opens at once the files that create / rename-to events name, if they match the globs;
//! - re-globs (a *scan*, [`super::scan`]) only on directory events (create, remove, rename; at
//!   most every 20 ms), on watcher errors or a full event queue, and on the backstop poll every
//!   `poll_interval` (the only wake-up with `force_poll`, or when the watch limit is reached);
//! - reads the files named by modify events, plus every file being drained after rotation or
//!   deletion (their events may come from another directory or none at all);
//! - runs the timers: held copies ([`super::copies`]), partial-line flushes, letting go of
//!   drained files;
//! - on the poll, `fstat`s every followed file (reads only if size or mtime changed) and emits
//!   [`TailEvent::Stats`].
//!
//! Idle cost is therefore one scan (a few `readdir`/`stat`) and one `fstat` per followed file per
//! `poll_interval`, and nothing in between (measured: ~1 ms of CPU per poll for 300 files).

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::decide::{self, Drain, State};
use super::discovery::{Resolve, Stopper, Wake, Watch};
use super::fds;
use super::files::{Dormant, FileTable};
use super::fingerprint::{file_id, FileId, HeadBytes};
use super::listing::Listings;
use super::paths::Patterns;
use super::read::{flush, read_followed, truncate, Look, Outcome, BUF_SIZE};
use super::report::{ErrorLog, Problem, SCAN_PROBLEMS};
use super::split;
use super::{Checkpoint, TailError, TailEvent, TailOptions, TailSink};

/// Shortest time between two scans triggered by directory events.
const MIN_RESCAN_GAP: Duration = Duration::from_millis(20);
/// Longest duration honoured (longer ones are cut to this).
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Smallest poll interval accepted.
const MIN_POLL: Duration = Duration::from_millis(10);

/// At most one pass over written files per this interval while events keep coming (the
/// detection latency it adds is at most this).
const BATCH_INTERVAL: Duration = Duration::from_millis(100);
/// After files are created, renamed or deleted, writes are taken at once for this long:
/// logrotate's copy, truncation and renames follow each other closely, and a copy is only
/// recognised while the truncation is fresh.
const CHANGE_SPELL: Duration = Duration::from_secs(1);
/// Most memory for partial lines over a source's files (see `bound_partial_lines`).
const PARTIAL_BUDGET: usize = 64 << 20;
/// With working file events, every file is `fstat`ed at one poll in this many.
const BACKSTOP_EVERY: u32 = 10;

/// How the event side sees the tailer's files.
struct Lookup<'a> {
    table: &'a FileTable,
    patterns: &'a Patterns,
    errors: &'a ErrorLog,
}

impl Resolve for Lookup<'_> {
    fn followed(&self, wd: i32, name: &std::ffi::OsStr) -> Option<FileId> {
        self.table.by_name.get(&wd)?.get(name).copied()
    }
    fn matches(&self, path: &std::path::Path) -> bool {
        self.patterns.matches(path)
    }
    fn has_error(&self, path: &std::path::Path) -> bool {
        self.errors.has(path)
    }
}

/// Follows the files of one source.
pub struct Tailer {
    pub(super) opts: TailOptions,
    pub(super) patterns: Patterns,
    /// Checkpoints not yet matched to a file.
    pub(super) resume: Vec<Checkpoint>,
    /// No checkpoints were given: files of the first scan start at `start_at`.
    pub(super) first_run: bool,
    pub(super) scanned_once: bool,
    pub(super) table: FileTable,
    pub(super) errors: ErrorLog,
    /// Paths with an error raised by the last scan (cleared when a scan no longer sees it).
    pub(super) scan_bad: HashSet<PathBuf>,
    pub(super) buf: Vec<u8>,
    pub(super) watch: Watch,
    pub(super) wake: Wake,
    /// Every directory of the last scan is watched: events can be trusted.
    pub(super) events_cover: bool,
    /// The files of the current pass (to read, or read).
    pub(super) reading: Vec<FileId>,
    /// Files were left unopened for want of descriptors: scan again at the next poll.
    pub(super) deferred: bool,
    /// The event-name index is to be rebuilt.
    index_due: bool,
    /// First bytes of written files, read once per pass (see [`HeadCache`]).
    pub(super) heads: HeadCache,
    /// Directories listed for restart recoveries, during a scan.
    pub(super) listings: Listings,
}

/// The first bytes of followed files written to, as they are now, read once per pass: a new
/// file is compared with those that no longer start with what we know of them (truncated and
/// written again, unseen yet). Thousands of new files then cost one read per written file, not
/// one per pair.
#[derive(Default)]
pub(crate) struct HeadCache {
    looked: HashSet<FileId>,
    changed: Vec<(FileId, HeadBytes)>,
}

impl HeadCache {
    pub(crate) fn clear(&mut self) {
        self.looked.clear();
        self.changed.clear();
    }

    /// Look at `id` (first bytes now `now`, known as `known`) unless already looked at.
    pub(crate) fn look(
        &mut self,
        id: FileId,
        now: impl FnOnce() -> Option<HeadBytes>,
        known: &[u8],
    ) {
        if self.looked.insert(id) {
            if let Some(h) = now().filter(|h| h.as_slice() != known) {
                self.changed.push((id, h));
            }
        }
    }

    /// `id` was written to again: look again.
    pub(crate) fn forget(&mut self, id: &FileId) {
        if self.looked.remove(id) {
            self.changed.retain(|(o, _)| o != id);
        }
    }

    /// Written files whose first bytes changed, with them.
    pub(crate) fn changed(&self) -> &[(FileId, HeadBytes)] {
        &self.changed
    }
}

impl Tailer {
    /// Prepare to follow `opts.paths`, resuming the files in `resume`.
    pub fn new(mut opts: TailOptions, resume: Vec<Checkpoint>) -> Result<Tailer, TailError> {
        // Durations are added to `Instant`s: keep them far from overflow ("forever" ≈ 10 years).
        opts.poll_interval = opts.poll_interval.clamp(MIN_POLL, FOREVER);
        opts.rotate_wait = opts.rotate_wait.min(FOREVER);
        opts.partial_flush = opts.partial_flush.map(|d| d.min(FOREVER));
        if opts.max_line_bytes == 0 {
            return Err(TailError::Options {
                source_name: opts.source.clone(),
                message: "max_line_bytes must be at least 1".into(),
            });
        }
        let patterns = Patterns::new(&opts.paths, &opts.exclude)?;
        if !opts.force_poll {
            if let Some((base, fs)) = patterns
                .bases()
                .find_map(|b| super::paths::network_fs(b).map(|fs| (b, fs)))
            {
                tracing::info!(
                    source = %opts.source,
                    "{} is on a {fs} filesystem, where inotify misses other hosts' writes: polling every {:?}",
                    base.display(),
                    opts.poll_interval
                );
                opts.force_poll = true;
            }
        }
        Ok(Tailer {
            patterns,
            first_run: resume.is_empty(),
            resume,
            scanned_once: false,
            table: FileTable::default(),
            errors: ErrorLog::default(),
            scan_bad: HashSet::new(),
            buf: vec![0; BUF_SIZE],
            watch: Watch::new(),
            wake: Wake::default(),
            events_cover: false,
            reading: Vec::new(),
            deferred: false,
            index_due: false,
            heads: HeadCache::default(),
            listings: Listings::default(),
            opts,
        })
    }

    /// A handle to stop `run` from another thread.
    pub fn stopper(&self) -> Stopper {
        self.watch.stopper()
    }

    /// Follow files until stopped, delivering lines and events to `sink`.
    pub fn run(&mut self, sink: &mut dyn TailSink) {
        if !self.opts.force_poll && !self.watch.started() && !self.watch.failed {
            if let Err(why) = self.watch.start() {
                self.inotify_unavailable(sink, &why);
            }
        }
        let poll_interval = self.opts.poll_interval;
        let mut next_poll = Instant::now();
        let mut polls: u32 = 0;
        self.wake.rescan = true;
        let mut more: Vec<FileId> = Vec::new();
        let mut last_rescan: Option<Instant> = None;
        let mut last_event: Option<Instant> = None;
        let mut changing_until = Instant::now();
        while !self.watch.stopped() {
            let now = Instant::now();
            let polling = now >= next_poll;
            // Directory events re-glob at most every MIN_RESCAN_GAP (a directory full of
            // short-lived files must not make us re-walk it thousands of times a second).
            let rescan_due = last_rescan.map_or(now, |t| t + MIN_RESCAN_GAP);
            if !self.wake.created_other.is_empty() {
                self.open_created_others(sink);
            }
            // The backstop: the globs walked again and every file looked at (fstat) at every
            // poll when events cannot be trusted (polling, a directory not watched), else at
            // one poll in BACKSTOP_EVERY, and whenever events were lost.
            let backstop = (polling
                && (!self.events_cover || polls % BACKSTOP_EVERY == 0 || self.deferred))
                || self.wake.overflow;
            let scanning = backstop || (self.wake.rescan && now >= rescan_due);
            if fds::over_budget() {
                self.make_room();
            }
            if scanning {
                self.deferred = false;
                self.wake.created.clear();
                self.rescan(sink);
                last_rescan = Some(now);
                self.wake.rescan = false;
                self.wake.scanned();
            } else if !self.wake.created.is_empty() {
                self.open_created(sink);
            }
            if polling {
                polls = polls.wrapping_add(1);
            }
            // Which files to read: those written to, those being drained (their events may
            // come from another directory or none at all), those not read to the end.
            self.reading.clear();
            let look = if backstop {
                self.wake.overflow = false;
                self.reading.extend(self.table.files.keys().copied());
                Look::Poll
            } else {
                self.reading.append(&mut self.wake.dirty);
                self.reading.append(&mut more);
                self.reading.extend(
                    self.table
                        .files
                        .iter()
                        .filter(|(_, f)| f.state != State::Active)
                        .map(|(id, _)| *id),
                );
                self.reading.sort_unstable();
                self.reading.dedup();
                Look::Event
            };
            self.wake.dirty.clear();
            // A write to a let-go rotated file that still matches (dormant): scan to reopen it.
            if !self.wake.dirty_other.is_empty() {
                let dormant = &self.table.dormant;
                if self
                    .wake
                    .dirty_other
                    .iter()
                    .any(|p| dormant.values().any(|d| d.info.path == *p))
                {
                    self.wake.rescan = true;
                }
                let mut written = std::mem::take(&mut self.wake.dirty_other);
                self.look_at_held(&written);
                written.clear();
                self.wake.dirty_other = written;
            }
            more.clear();
            for i in 0..self.reading.len() {
                let id = self.reading[i];
                if self.read_as(id, look, sink) {
                    more.push(id);
                }
                if self.watch.stopped() {
                    return;
                }
            }
            let next_timer = self.timers(sink);
            if polling {
                self.stats(sink);
                next_poll = Instant::now() + poll_interval;
            }
            // Sleep until an event, the next poll or the next timer.
            let now = Instant::now();
            let mut wake = next_poll;
            if let Some(t) = next_timer {
                wake = wake.min(t);
            }
            if self.wake.rescan {
                wake = wake.min(rescan_due);
            }
            self.index_now();
            self.heads.clear();
            // Files still to read: more than the budget, or given a name since the pass.
            let owed = !more.is_empty() || !self.wake.dirty.is_empty();
            let timeout = if !owed {
                wake.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            let done = now;
            let lookup = Lookup {
                table: &self.table,
                patterns: &self.patterns,
                errors: &self.errors,
            };
            if !self.watch.wait(timeout, &mut self.wake, &lookup, true) {
                continue;
            }
            // Writes come one event each: while they keep coming, take those of BATCH_INTERVAL
            // together, so that a trickle over many files costs one pass per interval, not one
            // per line; meanwhile they wait in their own queue and only the other events wake
            // us. The first write after a quiet spell, any other event, and writes for a while
            // after one, are taken at once (a burst of writes, then a rotation, is read as it
            // goes).
            let at = Instant::now();
            let steady = last_event.is_some_and(|t| at.duration_since(t) < BATCH_INTERVAL);
            last_event = Some(at);
            if self.wake.urgent() {
                changing_until = at + CHANGE_SPELL;
            }
            if steady && !owed && at >= changing_until {
                let until = (done + BATCH_INTERVAL).min(wake);
                loop {
                    let now = Instant::now();
                    if self.wake.urgent() {
                        changing_until = now + CHANGE_SPELL;
                        break;
                    }
                    if now >= until || self.watch.stopped() {
                        break;
                    }
                    self.watch.wait(until - now, &mut self.wake, &lookup, false);
                }
                if self.watch.read_writes(&mut self.wake, &lookup) {
                    last_event = Some(Instant::now());
                }
            }
        }
    }

    pub(super) fn inotify_unavailable(&mut self, sink: &mut dyn TailSink, why: &str) {
        let message = format!(
            "source {}: file events unavailable ({why}); falling back to polling every {:?}",
            self.opts.source, self.opts.poll_interval
        );
        let path = self
            .opts
            .paths
            .first()
            .map(PathBuf::from)
            .unwrap_or_default();
        self.errors.report(sink, &path, Problem::Events, message);
    }

    /// Read one followed file to its end (up to the budget), with a full look (`fstat`,
    /// head). True if more remains.
    pub(super) fn read(&mut self, id: FileId, sink: &mut dyn TailSink) -> bool {
        self.read_as(id, Look::Poll, sink)
    }

    /// Read one followed file to its end (up to the budget). True if more remains.
    pub(super) fn read_as(&mut self, id: FileId, look: Look, sink: &mut dyn TailSink) -> bool {
        // A file rewritten in place again and again: at most a few truncations per look.
        for _ in 0..4 {
            let Some(f) = self.table.files.get(&id) else {
                return false;
            };
            if f.file.is_none() {
                // Parked: reopened only if it changed since (a stat by path, no descriptor).
                let unchanged = fs::metadata(&f.info.path).is_ok_and(|md| {
                    file_id(&md) == id
                        && f.seen == Some((md.len(), md.modified().ok()))
                        && f.read_pos >= md.len()
                });
                if unchanged || !self.unpark(id) {
                    return false;
                }
            }
            let Some(f) = self.table.files.get_mut(&id) else {
                return false;
            };
            let err = match read_followed(f, &mut self.buf, sink, self.watch.stop_flag(), look) {
                Ok(Outcome::Truncated) => match truncate(f) {
                    Ok(t) => {
                        // The copy first: a checkpoint saved between the two events then
                        // still holds the copy's start, never the original at 0 alone.
                        self.recover_copy(id, &t, sink);
                        if let Some(f) = self.table.files.get(&id) {
                            sink.event(TailEvent::Truncated {
                                file: f.info.clone(),
                            });
                        }
                        continue;
                    }
                    Err(e) => e,
                },
                Ok(Outcome::Compressed) => {
                    self.ignore(id, sink);
                    return false;
                }
                Ok(outcome) => {
                    if self.errors.has(&f.info.path) && !self.scan_bad.contains(&f.info.path) {
                        self.errors.clear(&f.info.path, SCAN_PROBLEMS);
                    }
                    // A long partial line left in memory: check the total at once (a pass
                    // may read thousands of files).
                    let held = f.split.held_bytes();
                    if held > split::KEEP || held * 2 > self.opts.max_line_bytes {
                        self.bound_partial_lines();
                    }
                    return outcome == Outcome::More;
                }
                Err(e) => e,
            };
            let path = f.info.path.clone();
            let m = format!("cannot read {}: {err}", path.display());
            self.errors.report(sink, &path, Problem::Read, m);
            return false;
        }
        true
    }

    /// Sort the write events waiting in the queue into `wake`, without sleeping.
    pub(super) fn take_writes(&mut self) {
        self.index_now();
        let before = self.wake.dirty.len();
        let lookup = Lookup {
            table: &self.table,
            patterns: &self.patterns,
            errors: &self.errors,
        };
        self.watch.read_writes(&mut self.wake, &lookup);
        // Written again: their first bytes may have changed since looked at.
        for id in &self.wake.dirty[before..] {
            self.heads.forget(id);
        }
    }

    /// The set of followed files changed: rebuild the event-name index before events are
    /// matched to files again (once, however many files changed: rebuilding it per file made
    /// starting thousands of files quadratic).
    pub(super) fn reindex(&mut self) {
        self.index_due = true;
    }

    /// Rebuild the event-name index of the followed files, if due.
    fn index_now(&mut self) {
        if std::mem::take(&mut self.index_due) {
            let watch = &self.watch;
            self.table
                .index_paths(&|d| watch.wd_of(d), &mut self.wake.dirty);
        }
    }

    /// Stop following a file that turned out to hold compressed data.
    fn ignore(&mut self, id: FileId, sink: &mut dyn TailSink) {
        if let Some(f) = self.table.files.remove(&id) {
            tracing::debug!(path = %f.info.path.display(), "compressed file: not read");
            self.table.ignored.insert(id, f.info.path.clone());
            sink.event(TailEvent::Closed { file: f.info });
            self.reindex();
        }
    }

    /// Partial-line flushes and closing drained files. Returns the next deadline.
    fn timers(&mut self, sink: &mut dyn TailSink) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| {
            if t > now {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        // First, so that files released here get their own timers below.
        self.resolve_copies(sink, &mut at);
        let mut to_close = Vec::new();
        for (id, f) in self.table.files.iter_mut() {
            if let Some(d) = self.opts.partial_flush {
                if f.split.pending_len() > 0 {
                    let due = f.last_growth + d;
                    if now >= due {
                        flush(f, sink);
                    } else {
                        at(due);
                    }
                }
            }
            if f.state != State::Active {
                let other_at_path = || fs::metadata(&f.orig_path).is_ok_and(|m| file_id(&m) != *id);
                match decide::drain(
                    f.state,
                    f.last_growth,
                    self.opts.rotate_wait,
                    now,
                    other_at_path,
                ) {
                    Drain::Until(due) => at(due),
                    Drain::LetGo => to_close.push(*id),
                    Drain::Keep => {}
                }
            }
        }
        for id in to_close {
            self.close(id, sink);
        }
        next
    }

    /// Let go of a drained file: final read, flush the partial line, then dormant or closed.
    fn close(&mut self, id: FileId, sink: &mut dyn TailSink) {
        // Stopping: a read cut short must not look like a drained file.
        if self.watch.stopped() {
            return;
        }
        let Some(before) = self.table.files.get(&id).map(|f| f.read_pos) else {
            return;
        };
        // Errors are reported by `read`; nothing more can be read then: let it go all the same.
        if self.read(id, sink) {
            return; // still moving; try again later
        }
        match self.table.files.get(&id) {
            Some(f) if f.read_pos == before => {}
            _ => return,
        }
        let Some(mut f) = self.table.files.remove(&id) else {
            return;
        };
        // A copy's unterminated last line is a write torn by the copy (its rest went to the
        // original and was truncated away): not a line. Any other file's is a whole line.
        if f.state != State::Copy {
            flush(&mut f, sink);
        }
        if f.state == State::Rotated && self.table.matched.contains(&id) {
            self.table.dormant.insert(
                id,
                Dormant {
                    info: f.info,
                    offset: f.read_pos,
                    missed: None,
                },
            );
        } else {
            self.table.let_go(id, f.info.clone(), f.read_pos);
            sink.event(TailEvent::Closed { file: f.info });
        }
        self.reindex();
    }

    /// Partial lines are kept in memory, each up to `max_line_bytes`: over all files, at most
    /// [`PARTIAL_BUDGET`] (or a few lines, with a larger `max_line_bytes`). Past it, the
    /// largest are let go; their bytes are still in the file, read again from where the line
    /// starts the next time the file is read.
    fn bound_partial_lines(&mut self) {
        let max = self.opts.max_line_bytes;
        let budget = (64 * max).min(PARTIAL_BUDGET).max(4 * max);
        let mut total: usize = self
            .table
            .files
            .values()
            .map(|f| f.split.held_bytes())
            .sum();
        if total <= budget {
            return;
        }
        let mut large: Vec<(usize, FileId)> = self
            .table
            .files
            .iter()
            .map(|(id, f)| (f.split.held_bytes(), *id))
            .filter(|(n, _)| *n > 0)
            .collect();
        large.sort_unstable_by(|a, b| b.cmp(a));
        for (n, id) in large {
            if total <= budget / 2 {
                break;
            }
            if let Some(f) = self.table.files.get_mut(&id) {
                if let Some(start) = f.split.evict() {
                    f.read_pos = start;
                    f.tail_len = 0;
                    f.seen = None;
                }
                total = total.saturating_sub(n);
            }
        }
    }

    fn stats(&self, sink: &mut dyn TailSink) {
        let now = SystemTime::now();
        let mut lag_bytes = 0;
        let mut oldest = 0f64;
        for f in self.table.files.values() {
            let lag = f.size.saturating_sub(f.delivered);
            if lag > 0 {
                lag_bytes += lag;
                if let Some(m) = f.mtime {
                    let age = now.duration_since(m).unwrap_or_default().as_secs_f64();
                    oldest = oldest.max(age);
                }
            }
        }
        sink.event(TailEvent::Stats {
            files: self.table.files.len(),
            lag_bytes,
            oldest_unread_age: oldest,
        });
    }
}
