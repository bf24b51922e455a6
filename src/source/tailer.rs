//! The tailer: one thread, one inotify watcher on the pattern directories, one blocking channel.
//!
//! ## Loop
//! `run` sleeps in a blocking `recv_timeout` on a channel fed by the notify watcher and by
//! [`Stopper::stop`]. On wake-up it drains the channel and:
//! - opens at once the files that create / rename-to events name, if they match the globs;
//! - re-globs (a *scan*) only on directory events (create, remove, rename; at most every 20 ms),
//!   on watcher errors or a full event queue, and on the backstop poll every `poll_interval`
//!   (the only wake-up with `force_poll`, or when the watch limit is reached);
//! - reads the files named by modify events, plus every file being drained after rotation or
//!   deletion (their events may come from another directory or none at all);
//! - on the poll, `fstat`s every followed file (reads only if size or mtime changed) and emits
//!   [`TailEvent::Stats`].
//!
//! Idle cost is therefore one scan (a few `readdir`/`stat`) and one `fstat` per followed file per
//! `poll_interval`, and nothing in between (measured: ~1 ms of CPU per poll for 300 files).
//!
//! The watcher thread never blocks on our queue (a full queue means "rescan"), because this
//! thread waits for it when adding or removing watches. After new watches are added the
//! directories are listed again, so a file created between the listing and the watch is found.
//!
//! ## Identity and resume
//! A followed file is keyed by (dev, inode) taken from the open descriptor; its [`Fingerprint`]
//! adds an FNV-1a hash of the first `head_len` (≤ 256) bytes. A checkpoint resumes a file only if
//! dev, inode *and* head hash match. The head is re-checked whenever the file changed, so a file
//! truncated and rewritten past our offset between two looks is detected as a truncation.
//!
//! ## Rotation
//! When the path a file was opened under no longer leads to it, the file is *rotated* (renamed or
//! deleted) and is drained through its open descriptor. It is let go once it has been quiet for
//! `rotate_wait` and a different file exists at the original path (or, if deleted, once quiet).
//! If it still matches the globs (e.g. `access.log.1` for `access.log*`) it becomes *dormant*: its
//! descriptor is closed but its identity and offset are kept, so it is never read twice, and
//! [`TailEvent::Closed`] is only sent when it leaves the matched set (so the caller keeps its
//! checkpoint as long as a restart could see the file again). A dormant file that grows is
//! reopened at its offset.
//!
//! A matched file renamed out of the globs before any scan saw it (it lived shorter than the
//! time between two looks, or the tailer was stalled by its sink) is found through the rename
//! event and drained from 0 the same way.
//!
//! ## Copies (copytruncate)
//! A file found while running whose first ≥ 64 bytes equal a followed file's is held until it
//! is quiet; if the original was truncated meanwhile it is read from the original's offset before
//! the truncation, otherwise from 0. New files shorter than 64 bytes are held at most 250 ms to
//! tell (a copy may be in progress). See [`PendingCopy`].

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use memchr::memrchr;
use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use super::fingerprint::{
    file_id, fingerprint, head_eq, head_matches, read_head, FileId, HEAD_MAX,
};
use super::paths::Patterns;
use super::split::{Piece, Splitter};
use super::*;

/// Read buffer size (one batch per buffer at most).
const BUF_SIZE: usize = 128 * 1024;
/// Most bytes read from one file per wake-up before giving the others a turn.
const READ_BUDGET: u64 = 8 * 1024 * 1024;
/// Queue between the watcher thread and the tailer; when full the watcher thread waits and the
/// kernel queue absorbs the rest (overflow makes notify request a rescan).
const CHANNEL_CAP: usize = 4096;
/// Shortest head (bytes) that identifies a copy of another file by content.
const MIN_COPY_HEAD: usize = 64;
/// How long a truncation is remembered for matching a copy made just before it.
const COPY_WINDOW: Duration = Duration::from_secs(60);
/// Shortest time between two scans triggered by directory events.
const MIN_RESCAN_GAP: Duration = Duration::from_millis(20);
/// Longest hold of a new file too short to tell whether it is a copy being written.
const SHORT_HOLD: Duration = Duration::from_millis(250);
/// Longest duration honoured (longer ones are cut to this).
const FOREVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Smallest poll interval accepted.
const MIN_POLL: Duration = Duration::from_millis(10);

/// Errors setting up a tailer.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// A glob pattern is invalid.
    #[error("invalid glob {pattern:?}: {message}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// Why it is invalid.
        message: String,
    },
    /// I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An option has an unusable value.
    #[error("invalid tail options for source {source_name:?}: {message}")]
    Options {
        /// The source.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TailError + '_ {
    move |source| TailError::Io {
        path: path.to_path_buf(),
        source,
    }
}

enum Msg {
    Fs(notify::Result<notify::Event>),
    Stop,
}

/// Wakes a running tailer and makes `run` return.
#[derive(Clone, Debug)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    tx: SyncSender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Fs(e) => write!(f, "Fs({e:?})"),
            Msg::Stop => f.write_str("Stop"),
        }
    }
}

impl Stopper {
    /// Ask the tailer to return from `run` soon (it is woken at once, mid-read included).
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // If the queue is full the tailer is awake anyway and sees the flag.
        let _ = self.tx.try_send(Msg::Stop);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The path it was opened under still leads to it.
    Active,
    /// Renamed away; drained until quiet and replaced.
    Rotated,
    /// Unlinked; drained until quiet.
    Deleted,
}

struct Followed {
    file: File,
    info: FileInfo,
    /// Path it was opened (or last confirmed) under.
    orig_path: PathBuf,
    /// Next byte to read.
    read_pos: u64,
    /// End of the last batch handed to the sink.
    delivered: u64,
    split: Splitter,
    last_growth: Instant,
    /// (size, mtime) at the last check, to skip unchanged files.
    seen: Option<(u64, Option<SystemTime>)>,
    size: u64,
    mtime: Option<SystemTime>,
    state: State,
    /// Last truncation: fingerprint and read position just before it, and when.
    truncated: Option<(Fingerprint, u64, Instant)>,
}

/// A file found while running that is held before being read: its head equals a followed file's
/// (probably a copy made by `copytruncate`), or it is still too short to tell (the copy may be
/// in progress). A copy is not read until it has been quiet for `rotate_wait`; if the original
/// was truncated meanwhile, the copy is read from the original's pre-truncation position
/// (recovering the lines written between our last read and the truncation, with no duplicates),
/// otherwise from its start like any new file.
struct PendingCopy {
    file: File,
    path: PathBuf,
    /// The original, once known (`None`: too short yet to tell).
    of: Option<FileId>,
    found: Instant,
    size: u64,
    changed: Instant,
}

struct Dormant {
    info: FileInfo,
    offset: u64,
}

/// Errors reported once per state change.
#[derive(Default)]
struct ErrorLog {
    current: HashMap<PathBuf, String>,
}

impl ErrorLog {
    /// Report a problem once per change of state; the sink logs and counts it.
    fn report(&mut self, sink: &mut dyn TailSink, path: &Path, message: String) {
        if self.current.get(path) == Some(&message) {
            return;
        }
        self.current.insert(path.to_path_buf(), message.clone());
        sink.event(TailEvent::Error {
            path: path.to_path_buf(),
            message,
        });
    }

    /// Report a literal path that does not exist (yet): expected, not an error.
    fn missing(&mut self, sink: &mut dyn TailSink, path: &Path) {
        let message = format!(
            "{} does not exist (waiting for it to appear)",
            path.display()
        );
        if self.current.get(path) == Some(&message) {
            return;
        }
        self.current.insert(path.to_path_buf(), message);
        sink.event(TailEvent::Missing {
            path: path.to_path_buf(),
        });
    }
    fn clear(&mut self, path: &Path) {
        self.current.remove(path);
    }
}

/// Follows the files of one source.
pub struct Tailer {
    opts: TailOptions,
    patterns: Patterns,
    /// Checkpoints not yet matched to a file.
    resume: Vec<Checkpoint>,
    /// No checkpoints were given: files of the first scan start at `start_at`.
    first_run: bool,
    scanned_once: bool,
    stop: Arc<AtomicBool>,
    tx: SyncSender<Msg>,
    rx: Receiver<Msg>,
    files: HashMap<FileId, Followed>,
    by_path: HashMap<PathBuf, FileId>,
    /// Symlinked matches → their targets (last scan).
    links: HashMap<PathBuf, PathBuf>,
    dormant: HashMap<FileId, Dormant>,
    copies: HashMap<FileId, PendingCopy>,
    /// Identities matched by the last scan.
    matched: HashSet<FileId>,
    errors: ErrorLog,
    /// Paths with an error raised by the last scan (cleared when a scan no longer sees it).
    scan_bad: HashSet<PathBuf>,
    buf: Vec<u8>,
    watcher: Option<RecommendedWatcher>,
    watched: HashSet<PathBuf>,
    watch_failed: bool,
    /// The watcher dropped events because the queue was full.
    overflow: Arc<AtomicBool>,
    /// Renames (from, to) seen since the last scan whose source matched the globs.
    renamed: Vec<(PathBuf, PathBuf)>,
    /// Matching paths created (or renamed in) since the last look: opened at once, without
    /// waiting for the rate-limited scan, so that even a short-lived file is caught.
    created: Vec<PathBuf>,
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
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CAP);
        Ok(Tailer {
            patterns,
            first_run: resume.is_empty(),
            resume,
            scanned_once: false,
            stop: Arc::new(AtomicBool::new(false)),
            tx,
            rx,
            files: HashMap::new(),
            by_path: HashMap::new(),
            links: HashMap::new(),
            dormant: HashMap::new(),
            copies: HashMap::new(),
            matched: HashSet::new(),
            errors: ErrorLog::default(),
            scan_bad: HashSet::new(),
            buf: vec![0; BUF_SIZE],
            watcher: None,
            watched: HashSet::new(),
            watch_failed: false,
            overflow: Arc::new(AtomicBool::new(false)),
            renamed: Vec::new(),
            created: Vec::new(),
            opts,
        })
    }

    /// A handle to stop `run` from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            flag: self.stop.clone(),
            tx: self.tx.clone(),
        }
    }

    /// Follow files until stopped, delivering lines and events to `sink`.
    pub fn run(&mut self, sink: &mut dyn TailSink) {
        if !self.opts.force_poll && self.watcher.is_none() && !self.watch_failed {
            self.start_watcher(sink);
        }
        let poll_interval = self.opts.poll_interval;
        let mut next_poll = Instant::now();
        let mut rescan = true;
        let mut dirty: HashSet<PathBuf> = HashSet::new();
        let mut more: HashSet<FileId> = HashSet::new();
        let mut last_rescan: Option<Instant> = None;
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let polling = now >= next_poll;
            // Directory events re-glob at most every MIN_RESCAN_GAP (a directory full of
            // short-lived files must not make us re-walk it thousands of times a second).
            let rescan_due = last_rescan.map_or(now, |t| t + MIN_RESCAN_GAP);
            let scanning = polling || (rescan && now >= rescan_due);
            if scanning {
                self.created.clear();
                self.rescan(sink);
                last_rescan = Some(now);
                rescan = false;
            } else if !self.created.is_empty() {
                self.open_created(sink);
            }
            // Which files to read.
            let ids: Vec<FileId> = if scanning {
                self.files.keys().copied().collect()
            } else {
                let mut ids: HashSet<FileId> = dirty
                    .iter()
                    .filter_map(|p| self.by_path.get(p).copied())
                    .collect();
                ids.extend(more.iter().copied());
                ids.extend(
                    self.files
                        .iter()
                        .filter(|(_, f)| f.state != State::Active)
                        .map(|(id, _)| *id),
                );
                ids.into_iter().collect()
            };
            // A write to a let-go rotated file that still matches (dormant): scan to reopen it.
            if !scanning
                && !self.dormant.is_empty()
                && dirty.iter().any(|p| {
                    !self.by_path.contains_key(p)
                        && self.dormant.values().any(|d| d.info.path == *p)
                })
            {
                rescan = true;
            }
            dirty.clear();
            more.clear();
            for id in ids {
                if self.read(id, sink) {
                    more.insert(id);
                }
                if self.stop.load(Ordering::SeqCst) {
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
            if rescan {
                wake = wake.min(rescan_due);
            }
            let timeout = if more.is_empty() {
                wake.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            let first = match self.rx.recv_timeout(timeout) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut msg = first;
            loop {
                if let Some(m) = msg.take() {
                    self.classify(m, &mut rescan, &mut dirty);
                }
                match self.rx.try_recv() {
                    Ok(m) => msg = Some(m),
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                }
            }
            if self.overflow.swap(false, Ordering::SeqCst) {
                rescan = true;
            }
        }
    }

    fn start_watcher(&mut self, sink: &mut dyn TailSink) {
        let tx = self.tx.clone();
        let overflow = self.overflow.clone();
        // Never block the watcher thread: this thread waits for it in `watch`/`unwatch`, so a
        // blocking send into a full queue could deadlock. A dropped event sets `overflow`,
        // which makes the loop rescan and read every file (like the kernel's queue overflow).
        let handler = move |ev: notify::Result<notify::Event>| {
            if let Err(TrySendError::Full(_)) = tx.try_send(Msg::Fs(ev)) {
                overflow.store(true, Ordering::SeqCst);
            }
        };
        match RecommendedWatcher::new(handler, notify::Config::default()) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => self.inotify_unavailable(sink, &e.to_string()),
        }
    }

    fn inotify_unavailable(&mut self, sink: &mut dyn TailSink, why: &str) {
        self.watch_failed = true;
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
        self.errors.report(sink, &path, message);
    }

    fn classify(&mut self, msg: Msg, rescan: &mut bool, dirty: &mut HashSet<PathBuf>) {
        let ev = match msg {
            Msg::Stop => return,
            Msg::Fs(Err(e)) => {
                tracing::debug!(source = %self.opts.source, "watch error: {e}");
                *rescan = true;
                return;
            }
            Msg::Fs(Ok(ev)) => ev,
        };
        if ev.need_rescan() {
            *rescan = true;
            return;
        }
        match ev.kind {
            EventKind::Modify(ModifyKind::Data(_)) => dirty.extend(ev.paths),
            EventKind::Modify(ModifyKind::Metadata(_)) => {
                // A chmod may make an unreadable file readable.
                if ev.paths.iter().any(|p| self.errors.current.contains_key(p)) {
                    *rescan = true;
                }
                dirty.extend(ev.paths);
            }
            EventKind::Access(_) => {}
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                for p in ev.paths {
                    if self.created.len() < 1024 && self.patterns.matches(&p) {
                        self.created.push(p);
                    }
                }
                *rescan = true;
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both))
                if ev.paths.len() == 2 && self.patterns.matches(&ev.paths[0]) =>
            {
                // Remember where a matched file went: if it was renamed out of the globs before
                // a scan ever saw it (a short-lived file), the scan drains it from there.
                if self.renamed.len() < 1024 {
                    self.renamed
                        .push((ev.paths[0].clone(), ev.paths[1].clone()));
                }
                *rescan = true;
            }
            kind => {
                // A watched directory removed or renamed away: forget its watch so the next scan
                // watches whatever directory is at that path then (a recreated one included).
                if matches!(
                    kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                ) {
                    for p in &ev.paths {
                        if self.watched.remove(p) {
                            if let Some(w) = self.watcher.as_mut() {
                                let _ = w.unwatch(p);
                            }
                        }
                    }
                }
                *rescan = true;
            }
        }
    }

    /// Watch exactly `dirs`. Returns whether a new watch was added.
    fn update_watches(&mut self, dirs: &HashSet<PathBuf>, sink: &mut dyn TailSink) -> bool {
        let Some(w) = self.watcher.as_mut() else {
            return false;
        };
        let gone: Vec<PathBuf> = self.watched.difference(dirs).cloned().collect();
        for d in gone {
            let _ = w.unwatch(&d);
            self.watched.remove(&d);
        }
        if self.watch_failed {
            return false;
        }
        let mut added = false;
        let mut failure = None;
        let mut dir_errors = Vec::new();
        let mut watched_now = Vec::new();
        for d in dirs {
            if self.watched.contains(d) {
                continue;
            }
            match w.watch(d, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(d.clone());
                    watched_now.push(d.clone());
                    added = true;
                }
                Err(e) => match e.kind {
                    notify::ErrorKind::PathNotFound => {}
                    notify::ErrorKind::Io(ref io) if io.kind() == io::ErrorKind::NotFound => {}
                    // This directory only (e.g. permission): it is covered by the poll.
                    notify::ErrorKind::Io(ref io)
                        if !matches!(
                            io.raw_os_error(),
                            Some(libc::ENOSPC | libc::EMFILE | libc::ENFILE | libc::ENOMEM)
                        ) =>
                    {
                        dir_errors.push((d.clone(), e.to_string()));
                    }
                    // Watch limit or resources exhausted: inotify is unusable from now on.
                    _ => {
                        failure = Some(format!("cannot watch {}: {e}", d.display()));
                        break;
                    }
                },
            }
        }
        for d in watched_now {
            self.errors.clear(&d);
        }
        for (d, e) in dir_errors {
            self.errors.report(
                sink,
                &d,
                format!(
                    "cannot watch directory {}: {e}; polling it every {:?}",
                    d.display(),
                    self.opts.poll_interval
                ),
            );
        }
        if let Some(why) = failure {
            self.inotify_unavailable(sink, &why);
        }
        added
    }

    fn rescan(&mut self, sink: &mut dyn TailSink) {
        let mut scan = self.patterns.scan();
        // A file created in a new directory between its listing and its watch has no event:
        // list again after adding watches (bounded; the poll is the backstop).
        for _ in 0..4 {
            if !self.update_watches(&scan.dirs, sink) {
                break;
            }
            scan = self.patterns.scan();
        }

        let mut bad = HashSet::new();
        for (p, m) in &scan.errors {
            self.errors.report(
                sink,
                p,
                format!("cannot list directory {}: {m}", p.display()),
            );
            bad.insert(p.clone());
        }
        for p in &scan.missing {
            // Not while the file last seen there is being drained (rotation in progress).
            if self.files.values().any(|f| f.orig_path == *p) {
                continue;
            }
            self.errors.missing(sink, p);
            bad.insert(p.clone());
        }

        let mut ids: HashMap<FileId, &PathBuf> = HashMap::new();
        for (p, md) in &scan.files {
            let id = file_id(md);
            // Hard links: prefer the name we already follow it under.
            let current = self.files.get(&id).is_some_and(|f| f.info.path == *p);
            if current || !ids.contains_key(&id) {
                ids.insert(id, p);
            }
        }
        self.matched = ids.keys().copied().collect();

        // Held files that were renamed away or deleted are followed now (from 0, or from the
        // copy offset), so that the rotation logic below drains them: never drop their lines.
        let gone: Vec<FileId> = self
            .copies
            .iter()
            .filter(|(id, c)| {
                !fs::metadata(&c.path).is_ok_and(|m| file_id(&m) == **id)
                    || c.file.metadata().is_ok_and(|m| m.nlink() == 0)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.release(id, sink);
        }

        // Followed files: rotation, deletion, new names.
        for (id, f) in self.files.iter_mut() {
            if let Ok(md) = f.file.metadata() {
                if md.nlink() == 0 && f.state != State::Deleted {
                    f.state = State::Deleted;
                    tracing::debug!(path = %f.info.path.display(), "deleted; draining");
                }
            }
            if f.state == State::Active {
                let still = fs::metadata(&f.orig_path).is_ok_and(|m| file_id(&m) == *id);
                if !still {
                    f.state = State::Rotated;
                    if let Some(p) = ids.get(id) {
                        f.info.path = (*p).clone();
                    }
                    sink.event(TailEvent::Rotated {
                        file: f.info.clone(),
                    });
                }
            } else {
                if let Some(p) = ids.get(id) {
                    if **p != f.info.path {
                        f.info.path = (*p).clone();
                    }
                }
                // Back at its path (e.g. the directory was unreadable for a moment).
                if f.state == State::Rotated
                    && fs::metadata(&f.orig_path).is_ok_and(|m| file_id(&m) == *id)
                {
                    f.state = State::Active;
                    f.info.path = f.orig_path.clone();
                }
            }
        }

        for (id, d) in self.dormant.iter_mut() {
            if let Some(p) = ids.get(id) {
                if **p != d.info.path {
                    d.info.path = (*p).clone();
                }
            }
        }
        // Dormant files that left the matched set are closed for good.
        let left: Vec<FileId> = self
            .dormant
            .keys()
            .filter(|id| !self.matched.contains(id))
            .copied()
            .collect();
        for id in left {
            if let Some(d) = self.dormant.remove(&id) {
                sink.event(TailEvent::Closed { file: d.info });
            }
        }

        // New files.
        let mut new: Vec<(&PathBuf, &Metadata)> = scan
            .files
            .iter()
            .filter(|(_, md)| {
                let id = file_id(md);
                !self.files.contains_key(&id) && !self.copies.contains_key(&id)
            })
            .collect();
        // Files whose inode has a checkpoint first: they take their checkpoint before any other
        // file is matched to a checkpoint by content.
        let cp_ids: HashSet<FileId> = self
            .resume
            .iter()
            .map(|cp| (cp.fingerprint.dev, cp.fingerprint.ino))
            .collect();
        let has_cp = |md: &Metadata| cp_ids.contains(&file_id(md));
        new.sort_by(|a, b| (!has_cp(a.1), a.0).cmp(&(!has_cp(b.1), b.0)));
        for (path, md) in new {
            let id = file_id(md);
            if let Some(d) = self.dormant.get(&id) {
                if md.len() == d.offset {
                    continue;
                }
            }
            let file = match File::open(path) {
                Ok(f) => f,
                Err(e) => {
                    self.errors
                        .report(sink, path, format!("cannot open {}: {e}", path.display()));
                    bad.insert(path.clone());
                    continue;
                }
            };
            self.errors.clear(path);
            if let Err(e) = self.follow_new(file, path, sink) {
                self.errors
                    .report(sink, path, format!("cannot read {}: {e}", path.display()));
                bad.insert(path.clone());
            }
        }

        if !self.scanned_once {
            self.scanned_once = true;
            self.find_rotated_while_down(sink);
        }
        self.follow_renamed_away(&scan.files, sink);

        for p in self.scan_bad.difference(&bad) {
            self.errors.clear(p);
        }
        self.scan_bad = bad;
        self.links = scan.links;
        self.index_paths();
    }

    /// Map event paths (names, and targets of symlinked names) to followed files.
    ///
    /// A rotated file may still carry the name of the new file at its old path: the active file
    /// wins the name (files being drained are read on every wake-up anyway).
    fn index_paths(&mut self) {
        self.by_path.clear();
        for active in [false, true] {
            for (id, f) in &self.files {
                if (f.state == State::Active) != active {
                    continue;
                }
                self.by_path.insert(f.info.path.clone(), *id);
                if let Some(real) = self.links.get(&f.info.path) {
                    self.by_path.insert(real.clone(), *id);
                }
            }
        }
    }

    /// Start following a newly matched file (open descriptor `file`, found at `path`).
    fn follow_new(&mut self, file: File, path: &Path, sink: &mut dyn TailSink) -> io::Result<()> {
        let md = file.metadata()?;
        let id = file_id(&md);
        if self.files.contains_key(&id) {
            return Ok(());
        }
        let size = md.len();
        let fp = fingerprint(&file, &md)?;
        let mut split = Splitter::new(self.opts.max_line_bytes);
        let mut offset = 0;
        let mut truncated = false;
        if let Some(d) = self.dormant.remove(&id) {
            if size >= d.offset && head_matches(&file, &d.info.fingerprint)? {
                offset = d.offset;
                resume_mid_line(&file, offset, self.opts.max_line_bytes, &mut split)?;
            } else {
                // Inode reused: the dormant file is gone.
                sink.event(TailEvent::Closed { file: d.info });
            }
        } else if let Some(i) = self.checkpoint_for(&file, id)? {
            let cp = self.resume.swap_remove(i);
            if cp.offset <= size {
                offset = cp.offset;
                resume_mid_line(&file, offset, self.opts.max_line_bytes, &mut split)?;
            } else {
                truncated = true;
            }
        } else if self.scanned_once {
            let of = self.copy_of(&file, id)?;
            if of.is_some() || size < MIN_COPY_HEAD as u64 {
                let now = Instant::now();
                self.copies.insert(
                    id,
                    PendingCopy {
                        file,
                        path: path.to_path_buf(),
                        of,
                        found: now,
                        size,
                        changed: now,
                    },
                );
                return Ok(());
            }
        } else if let Some(i) = self.checkpoint_by_content(&file)? {
            // A copy of a checkpointed file (copytruncate while the agent was down): read what
            // the copy holds beyond the checkpoint.
            let cp = self.resume.swap_remove(i);
            offset = cp.offset.min(size);
            resume_mid_line(&file, offset, self.opts.max_line_bytes, &mut split)?;
        } else if self.first_run && self.opts.start_at == StartAt::End {
            offset = line_aligned_end(&file, size, &mut split)?;
        }
        let info = FileInfo {
            path: path.to_path_buf(),
            fingerprint: fp,
        };
        sink.event(TailEvent::Opened {
            file: info.clone(),
            offset,
        });
        if truncated {
            sink.event(TailEvent::Truncated { file: info.clone() });
        }
        self.insert(file, info, &md, offset, split, State::Active);
        Ok(())
    }

    fn insert(
        &mut self,
        file: File,
        info: FileInfo,
        md: &Metadata,
        offset: u64,
        split: Splitter,
        state: State,
    ) {
        let id = file_id(md);
        self.files.insert(
            id,
            Followed {
                file,
                orig_path: info.path.clone(),
                info,
                read_pos: offset,
                delivered: offset,
                split,
                last_growth: Instant::now(),
                seen: None,
                size: md.len(),
                mtime: md.modified().ok(),
                state,
                truncated: None,
            },
        );
    }

    /// The followed file this new file looks like a copy of (same head, other inode).
    fn copy_of(&self, file: &File, id: FileId) -> io::Result<Option<FileId>> {
        let mut buf = [0u8; HEAD_MAX];
        let n = read_head(file, HEAD_MAX, &mut buf)?;
        let head = &buf[..n];
        if n < MIN_COPY_HEAD {
            return Ok(None);
        }
        for (oid, o) in &self.files {
            if *oid == id {
                continue;
            }
            let fp = &o.info.fingerprint;
            if fp.head_len as usize >= MIN_COPY_HEAD && head_eq(head, fp) {
                return Ok(Some(*oid));
            }
            if let Some((old, _, at)) = &o.truncated {
                if at.elapsed() < COPY_WINDOW
                    && old.head_len as usize >= MIN_COPY_HEAD
                    && head_eq(head, old)
                {
                    return Ok(Some(*oid));
                }
            }
        }
        Ok(None)
    }

    /// An unused checkpoint whose head this file has, while the checkpointed inode is not (or no
    /// longer with that head) among the matches.
    fn checkpoint_by_content(&self, file: &File) -> io::Result<Option<usize>> {
        if self.first_run || self.resume.is_empty() {
            return Ok(None);
        }
        let mut buf = [0u8; HEAD_MAX];
        let n = read_head(file, HEAD_MAX, &mut buf)?;
        for (i, cp) in self.resume.iter().enumerate() {
            let fp = &cp.fingerprint;
            // Files whose inode has a checkpoint were handled first, so a checkpoint still
            // unused here lost its inode (or the inode's head changed).
            if fp.head_len as usize >= MIN_COPY_HEAD && head_eq(&buf[..n], fp) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Decide where held files start: a file too short to tell is released as soon as it is long
    /// enough and not a copy, or once quiet; a copy is released once quiet, at the original's
    /// pre-truncation position if the original was truncated meanwhile, else at 0.
    fn resolve_copies(&mut self, sink: &mut dyn TailSink, at: &mut dyn FnMut(Instant)) {
        let now = Instant::now();
        let mut wait = self.opts.rotate_wait;
        if self.opts.force_poll || self.watch_failed {
            wait = wait.max(self.opts.poll_interval * 2);
        }
        let ids: Vec<FileId> = self.copies.keys().copied().collect();
        for id in ids {
            let Some(c) = self.copies.get_mut(&id) else {
                continue;
            };
            let size = c.file.metadata().map(|m| m.len()).unwrap_or(c.size);
            if size != c.size {
                c.size = size;
                c.changed = now;
            }
            if c.of.is_none() && size >= MIN_COPY_HEAD as u64 {
                let of = self
                    .copies
                    .get(&id)
                    .and_then(|c| self.copy_of(&c.file, id).ok().flatten());
                match of {
                    Some(of) => {
                        if let Some(c) = self.copies.get_mut(&id) {
                            c.of = Some(of);
                        }
                    }
                    None => {
                        self.release(id, sink);
                        continue;
                    }
                }
            }
            let Some(c) = self.copies.get(&id) else {
                continue;
            };
            // A copy waits for the truncation of its original; a file too short to tell only
            // needs to show whether a copy is being written into it.
            let hold = if c.of.is_some() {
                wait
            } else {
                wait.min(SHORT_HOLD)
            };
            let due = c.changed + hold;
            if now >= due {
                self.release(id, sink);
            } else {
                at(due);
            }
        }
    }

    /// Start following a held file (see [`PendingCopy`]).
    fn release(&mut self, id: FileId, sink: &mut dyn TailSink) {
        let Some(c) = self.copies.remove(&id) else {
            return;
        };
        let Ok(md) = c.file.metadata() else { return };
        let Ok(fp) = fingerprint(&c.file, &md) else {
            return;
        };
        let mut offset = 0;
        let mut split = Splitter::new(self.opts.max_line_bytes);
        let truncation =
            c.of.and_then(|of| self.files.get(&of))
                .and_then(|o| o.truncated);
        if let Some((old, pos, when)) = truncation {
            if when + COPY_WINDOW > c.found && head_matches(&c.file, &old).unwrap_or(false) {
                offset = pos.min(md.len());
                if resume_mid_line(&c.file, offset, self.opts.max_line_bytes, &mut split).is_err() {
                    offset = 0;
                    split = Splitter::new(self.opts.max_line_bytes);
                }
            }
        }
        let info = FileInfo {
            path: c.path,
            fingerprint: fp,
        };
        sink.event(TailEvent::Opened {
            file: info.clone(),
            offset,
        });
        self.insert(c.file, info, &md, offset, split, State::Active);
        self.index_paths();
        self.read(id, sink);
    }

    /// Open newly created matching files right away (the full scan follows, rate-limited).
    fn open_created(&mut self, sink: &mut dyn TailSink) {
        for path in std::mem::take(&mut self.created) {
            let Ok(md) = fs::metadata(&path) else {
                continue;
            };
            let id = file_id(&md);
            if !md.is_file()
                || self.files.contains_key(&id)
                || self.copies.contains_key(&id)
                || self.dormant.contains_key(&id)
            {
                continue;
            }
            match File::open(&path) {
                Ok(file) => {
                    if let Err(e) = self.follow_new(file, &path, sink) {
                        self.errors.report(
                            sink,
                            &path,
                            format!("cannot read {}: {e}", path.display()),
                        );
                    }
                }
                // The scan reports it (once) if it persists.
                Err(_) => continue,
            }
        }
        self.index_paths();
    }

    /// Files renamed from a matched path to an unmatched one that we never opened (they lived
    /// shorter than the time between two scans): follow them from 0 as rotated files, so their
    /// lines are read once and they are let go like any rotated file.
    fn follow_renamed_away(
        &mut self,
        matched: &HashMap<PathBuf, Metadata>,
        sink: &mut dyn TailSink,
    ) {
        for (from, to) in std::mem::take(&mut self.renamed) {
            if matched.contains_key(&to) {
                continue; // still matched: handled as a new file by the scan
            }
            let Ok(file) = File::open(&to) else { continue };
            let Ok(md) = file.metadata() else { continue };
            let id = file_id(&md);
            if !md.is_file()
                || self.files.contains_key(&id)
                || self.dormant.contains_key(&id)
                || self.copies.contains_key(&id)
            {
                continue;
            }
            let Ok(fp) = fingerprint(&file, &md) else {
                continue;
            };
            let info = FileInfo {
                path: to.clone(),
                fingerprint: fp,
            };
            sink.event(TailEvent::Opened {
                file: info.clone(),
                offset: 0,
            });
            sink.event(TailEvent::Rotated { file: info.clone() });
            let split = Splitter::new(self.opts.max_line_bytes);
            self.insert(file, info, &md, 0, split, State::Rotated);
            if let Some(f) = self.files.get_mut(&id) {
                f.orig_path = from;
            }
        }
    }

    /// Index of the unused checkpoint whose identity (dev, inode, head hash) is this file's.
    fn checkpoint_for(&self, file: &File, id: FileId) -> io::Result<Option<usize>> {
        for (i, cp) in self.resume.iter().enumerate() {
            if (cp.fingerprint.dev, cp.fingerprint.ino) == id
                && head_matches(file, &cp.fingerprint)?
            {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// After the first scan: a checkpointed file that no longer matches the globs may have been
    /// rotated out while the agent was down (`access.log` → `access.log.1` with glob `access.log`).
    /// Look for its inode next to its old path and drain it from the checkpoint.
    fn find_rotated_while_down(&mut self, sink: &mut dyn TailSink) {
        let pending: Vec<Checkpoint> = std::mem::take(&mut self.resume);
        for cp in pending {
            let id = (cp.fingerprint.dev, cp.fingerprint.ino);
            let Some(dir) = cp.path.parent() else {
                self.resume.push(cp);
                continue;
            };
            let Ok(entries) = fs::read_dir(dir) else {
                self.resume.push(cp);
                continue;
            };
            let found = entries
                .flatten()
                .find(|e| e.ino() == cp.fingerprint.ino)
                .map(|e| e.path());
            let Some(path) = found else {
                self.resume.push(cp);
                continue;
            };
            let Ok(file) = File::open(&path) else {
                self.resume.push(cp);
                continue;
            };
            let ok = file.metadata().is_ok_and(|md| {
                file_id(&md) == id
                    && md.len() >= cp.offset
                    && head_matches(&file, &cp.fingerprint).unwrap_or(false)
            });
            if !ok || self.files.contains_key(&id) {
                self.resume.push(cp);
                continue;
            }
            let Ok(md) = file.metadata() else { continue };
            let Ok(fp) = fingerprint(&file, &md) else {
                continue;
            };
            let mut split = Splitter::new(self.opts.max_line_bytes);
            if resume_mid_line(&file, cp.offset, self.opts.max_line_bytes, &mut split).is_err() {
                continue;
            }
            let info = FileInfo {
                path: path.clone(),
                fingerprint: fp,
            };
            sink.event(TailEvent::Opened {
                file: info.clone(),
                offset: cp.offset,
            });
            sink.event(TailEvent::Rotated { file: info.clone() });
            self.insert(file, info, &md, cp.offset, split, State::Rotated);
            if let Some(f) = self.files.get_mut(&id) {
                f.orig_path = cp.path.clone();
            }
        }
    }

    /// Read one followed file to its end (up to the budget). True if more remains.
    fn read(&mut self, id: FileId, sink: &mut dyn TailSink) -> bool {
        let Some(f) = self.files.get_mut(&id) else {
            return false;
        };
        match read_followed(f, &mut self.buf, sink, &self.stop) {
            Ok(more) => {
                if self.errors.current.contains_key(&f.info.path)
                    && !self.scan_bad.contains(&f.info.path)
                {
                    self.errors.clear(&f.info.path);
                }
                more
            }
            Err(e) => {
                let path = f.info.path.clone();
                self.errors
                    .report(sink, &path, format!("cannot read {}: {e}", path.display()));
                false
            }
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
        for (id, f) in self.files.iter_mut() {
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
                let due = f.last_growth + self.opts.rotate_wait;
                if now < due {
                    at(due);
                } else if f.state == State::Deleted
                    || fs::metadata(&f.orig_path).is_ok_and(|m| file_id(&m) != *id)
                {
                    to_close.push(*id);
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
        if self.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(f) = self.files.get_mut(&id) else {
            return;
        };
        let before = f.read_pos;
        match read_followed(f, &mut self.buf, sink, &self.stop) {
            Ok(false) if f.read_pos == before => {}
            Ok(_) => return, // still moving; try again later
            Err(e) => {
                // Nothing more can be read from it: let it go all the same.
                let path = f.info.path.clone();
                self.errors
                    .report(sink, &path, format!("cannot read {}: {e}", path.display()));
            }
        }
        let Some(mut f) = self.files.remove(&id) else {
            return;
        };
        flush(&mut f, sink);
        if f.state == State::Rotated && self.matched.contains(&id) {
            self.dormant.insert(
                id,
                Dormant {
                    info: f.info,
                    offset: f.read_pos,
                },
            );
        } else {
            sink.event(TailEvent::Closed { file: f.info });
        }
        self.index_paths();
    }

    fn stats(&self, sink: &mut dyn TailSink) {
        let now = SystemTime::now();
        let mut lag_bytes = 0;
        let mut oldest = 0f64;
        for f in self.files.values() {
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
            files: self.files.len(),
            lag_bytes,
            oldest_unread_age: oldest,
        });
    }
}

fn flush(f: &mut Followed, sink: &mut dyn TailSink) {
    let info = &f.info;
    let delivered = &mut f.delivered;
    f.split.flush(&mut |p| {
        if let Piece::Data(start, d) = p {
            sink.batch(info, start, d);
            *delivered = start + d.len() as u64;
        }
    });
}

/// Check one followed file (truncation, head change) and read it to its end or the budget.
/// Returns whether more data remains.
fn read_followed(
    f: &mut Followed,
    buf: &mut [u8],
    sink: &mut dyn TailSink,
    stop: &AtomicBool,
) -> io::Result<bool> {
    let md = f.file.metadata()?;
    let size = md.len();
    let mtime = md.modified().ok();
    if f.seen == Some((size, mtime)) && f.read_pos >= size {
        return Ok(false);
    }
    f.seen = Some((size, mtime));
    f.size = size;
    f.mtime = mtime;
    let fp = f.info.fingerprint;
    let truncated = size < f.read_pos || (fp.head_len > 0 && !head_matches(&f.file, &fp)?);
    if truncated {
        f.truncated = Some((fp, f.read_pos, Instant::now()));
        f.split.reset();
        f.read_pos = 0;
        f.delivered = 0;
        f.info.fingerprint = fingerprint(&f.file, &md)?;
        sink.event(TailEvent::Truncated {
            file: f.info.clone(),
        });
    } else if (fp.head_len as usize) < HEAD_MAX && size > u64::from(fp.head_len) {
        f.info.fingerprint = fingerprint(&f.file, &md)?;
    }
    let mut budget = READ_BUDGET;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let n = match f.file.read_at(buf, f.read_pos) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let pos = f.read_pos;
        f.read_pos += n as u64;
        f.size = f.size.max(f.read_pos);
        f.last_growth = Instant::now();
        let info = &f.info;
        let delivered = &mut f.delivered;
        f.split.feed(pos, &buf[..n], &mut |p| match p {
            Piece::Data(start, d) => {
                sink.batch(info, start, d);
                *delivered = start + d.len() as u64;
            }
            Piece::TooLong => sink.event(TailEvent::LineTooLong { file: info.clone() }),
        });
        budget = budget.saturating_sub(n as u64);
        if budget == 0 {
            return Ok(true);
        }
    }
}

/// Starting "at the end": after the last newline, so a line being written is read whole.
fn line_aligned_end(file: &File, size: u64, split: &mut Splitter) -> io::Result<u64> {
    const WINDOW: u64 = 64 * 1024;
    if size == 0 {
        return Ok(0);
    }
    let from = size.saturating_sub(WINDOW);
    let mut buf = vec![0u8; (size - from) as usize];
    let n = read_full_at(file, &mut buf, from)?;
    match memrchr(b'\n', &buf[..n]) {
        Some(i) => Ok(from + i as u64 + 1),
        None if from == 0 => Ok(0),
        None => {
            split.set_skipping();
            Ok(size)
        }
    }
}

/// Resuming at `offset` after an unterminated delivered line: either a flushed partial line (a
/// newline arriving next belongs to it) or the kept prefix of a cut line (skip to its newline).
fn resume_mid_line(file: &File, offset: u64, max: usize, split: &mut Splitter) -> io::Result<()> {
    if offset == 0 {
        return Ok(());
    }
    let want = (max as u64 + 1).min(offset);
    let from = offset - want;
    let mut buf = vec![0u8; want as usize + 1];
    let n = read_full_at(file, &mut buf, from)?;
    let before = &buf[..(want as usize).min(n)];
    if before.last() == Some(&b'\n') {
        return Ok(());
    }
    let line_len = match memrchr(b'\n', before) {
        Some(i) => before.len() - i - 1,
        None if from == 0 => before.len(),
        None => before.len(), // longer than max: certainly a cut line
    };
    let next = buf.get(want as usize).filter(|_| n > want as usize);
    if line_len >= max && next != Some(&b'\n') {
        split.set_skipping();
    } else {
        split.set_after_flush();
    }
    Ok(())
}

fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read `path` from its start to its end through `sink` (replay mode). Returns bytes read.
///
/// Uses the same line splitting as the tailer; a final line without newline is delivered whole.
pub fn read_file(
    path: &Path,
    max_line_bytes: usize,
    sink: &mut dyn TailSink,
) -> Result<u64, TailError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let md = file.metadata().map_err(io_err(path))?;
    let info = FileInfo {
        path: path.to_path_buf(),
        fingerprint: fingerprint(&file, &md).map_err(io_err(path))?,
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut split = Splitter::new(max_line_bytes);
    let mut pos = 0u64;
    let mut out = |p: Piece<'_>| match p {
        Piece::Data(start, d) => sink.batch(&info, start, d),
        Piece::TooLong => sink.event(TailEvent::LineTooLong { file: info.clone() }),
    };
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path)(e)),
        };
        split.feed(pos, &buf[..n], &mut out);
        pos += n as u64;
    }
    split.flush(&mut out);
    Ok(pos)
}
