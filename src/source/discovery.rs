//! Discovery by events: one inotify watcher (through `notify`) on the pattern directories,
//! feeding a bounded channel that the tailer thread sleeps on. Events are sorted into a
//! [`Wake`]: files to read, files to open at once, renames to remember, and whether the globs
//! must be walked again (the walk itself is [`super::paths`]).
//!
//! The watcher thread never blocks on our queue (a full queue means "rescan"), because the
//! tailer waits for it when adding or removing watches.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// Queue between the watcher thread and the tailer; when full the watcher thread waits and the
/// kernel queue absorbs the rest (overflow makes notify request a rescan).
const CHANNEL_CAP: usize = 4096;
/// Most created / renamed paths remembered between two scans (the scan is the backstop).
const MAX_REMEMBERED: usize = 1024;

pub(crate) enum Msg {
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

/// What the events since the last look asked for.
#[derive(Default)]
pub(crate) struct Wake {
    /// Walk the globs again (directory events, watcher errors, overflow).
    pub rescan: bool,
    /// Paths written to (or whose metadata changed).
    pub dirty: HashSet<PathBuf>,
    /// Renames (from, to) whose source matched the globs, since the last scan.
    pub renamed: Vec<(PathBuf, PathBuf)>,
    /// Matching paths created (or renamed in) since the last look: opened at once, without
    /// waiting for the rate-limited scan, so that even a short-lived file is caught.
    pub created: Vec<PathBuf>,
    /// Other paths created in watched directories since the last look: a copy of a followed
    /// file that the globs do not match is opened at once, before it can be compressed away.
    pub created_other: Vec<PathBuf>,
}

/// Outcome of [`Watch::update`].
#[derive(Default)]
pub(crate) struct WatchUpdate {
    /// New watches were added (list the directories again: a file may have been created
    /// between the listing and the watch).
    pub added: bool,
    /// Directories watched now (clear their errors).
    pub watched_now: Vec<PathBuf>,
    /// Directories that cannot be watched (polled instead): (path, message).
    pub dir_errors: Vec<(PathBuf, String)>,
    /// inotify is unusable from now on (limit reached): why.
    pub failure: Option<String>,
}

/// The event side of a tailer: the stop flag, the queue and the watcher.
pub(crate) struct Watch {
    stop: Arc<AtomicBool>,
    tx: SyncSender<Msg>,
    rx: Receiver<Msg>,
    watcher: Option<RecommendedWatcher>,
    watched: HashSet<PathBuf>,
    /// Events are unavailable (no inotify, or its limits reached): polling only.
    pub failed: bool,
    /// The watcher dropped events because the queue was full.
    overflow: Arc<AtomicBool>,
}

impl Watch {
    pub(crate) fn new() -> Watch {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CAP);
        Watch {
            stop: Arc::new(AtomicBool::new(false)),
            tx,
            rx,
            watcher: None,
            watched: HashSet::new(),
            failed: false,
            overflow: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn stopper(&self) -> Stopper {
        Stopper {
            flag: self.stop.clone(),
            tx: self.tx.clone(),
        }
    }

    /// The stop flag (checked between and inside reads).
    pub(crate) fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub(crate) fn started(&self) -> bool {
        self.watcher.is_some()
    }

    /// Start the watcher thread. Err: why events are unavailable.
    pub(crate) fn start(&mut self) -> Result<(), String> {
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
            Ok(w) => {
                self.watcher = Some(w);
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e.to_string())
            }
        }
    }

    /// Sleep until an event or `timeout`, then sort every queued event into `wake`.
    /// False when the queue is gone (cannot happen while we hold a sender).
    pub(crate) fn wait(
        &mut self,
        timeout: Duration,
        wake: &mut Wake,
        matches: &dyn Fn(&Path) -> bool,
        has_error: &dyn Fn(&Path) -> bool,
    ) -> bool {
        let mut msg = match self.rx.recv_timeout(timeout) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return false,
        };
        loop {
            if let Some(m) = msg.take() {
                self.classify(m, wake, matches, has_error);
            }
            match self.rx.try_recv() {
                Ok(m) => msg = Some(m),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
        if self.overflow.swap(false, Ordering::SeqCst) {
            wake.rescan = true;
        }
        true
    }

    pub(crate) fn classify(
        &mut self,
        msg: Msg,
        wake: &mut Wake,
        matches: &dyn Fn(&Path) -> bool,
        has_error: &dyn Fn(&Path) -> bool,
    ) {
        let ev = match msg {
            Msg::Stop => return,
            Msg::Fs(Err(e)) => {
                tracing::debug!("watch error: {e}");
                wake.rescan = true;
                return;
            }
            Msg::Fs(Ok(ev)) => ev,
        };
        if ev.need_rescan() {
            wake.rescan = true;
            return;
        }
        match ev.kind {
            EventKind::Modify(ModifyKind::Data(_)) => wake.dirty.extend(ev.paths),
            EventKind::Modify(ModifyKind::Metadata(_)) => {
                // A chmod may make an unreadable file readable.
                if ev.paths.iter().any(|p| has_error(p)) {
                    wake.rescan = true;
                }
                wake.dirty.extend(ev.paths);
            }
            EventKind::Access(_) => {}
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                // Copies are created, not renamed in.
                let created = matches!(ev.kind, EventKind::Create(_));
                for p in ev.paths {
                    if matches(&p) {
                        if wake.created.len() < MAX_REMEMBERED {
                            wake.created.push(p);
                        }
                    } else if created && wake.created_other.len() < MAX_REMEMBERED {
                        wake.created_other.push(p);
                    }
                }
                wake.rescan = true;
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both))
                if ev.paths.len() == 2 && matches(&ev.paths[0]) =>
            {
                // Remember where a matched file went: if it was renamed out of the globs before
                // a scan ever saw it (a short-lived file), the scan drains it from there.
                if wake.renamed.len() < MAX_REMEMBERED {
                    let mut it = ev.paths.into_iter();
                    if let (Some(from), Some(to)) = (it.next(), it.next()) {
                        wake.renamed.push((from, to));
                    }
                }
                wake.rescan = true;
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
                wake.rescan = true;
            }
        }
    }

    /// Watch exactly `dirs`.
    pub(crate) fn update(&mut self, dirs: &HashSet<PathBuf>) -> WatchUpdate {
        let mut out = WatchUpdate::default();
        let Some(w) = self.watcher.as_mut() else {
            return out;
        };
        let gone: Vec<PathBuf> = self.watched.difference(dirs).cloned().collect();
        for d in gone {
            let _ = w.unwatch(&d);
            self.watched.remove(&d);
        }
        if self.failed {
            return out;
        }
        for d in dirs {
            if self.watched.contains(d) {
                continue;
            }
            match w.watch(d, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(d.clone());
                    out.watched_now.push(d.clone());
                    out.added = true;
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
                        out.dir_errors.push((d.clone(), e.to_string()));
                    }
                    // Watch limit or resources exhausted: inotify is unusable from now on.
                    _ => {
                        self.failed = true;
                        out.failure = Some(format!("cannot watch {}: {e}", d.display()));
                        break;
                    }
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, Flag, RemoveKind};

    fn ev(kind: EventKind, paths: &[&str]) -> Msg {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        Msg::Fs(Ok(e))
    }

    #[test]
    fn events_are_sorted_into_a_wake() {
        let mut w = Watch::new();
        let mut wake = Wake::default();
        let matches = |p: &Path| p.to_string_lossy().ends_with(".log");
        let no_error = |_: &Path| false;
        let data = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        w.classify(ev(data, &["/l/a.log"]), &mut wake, &matches, &no_error);
        assert!(wake.dirty.contains(Path::new("/l/a.log")) && !wake.rescan);

        let create = EventKind::Create(CreateKind::File);
        w.classify(ev(create, &["/l/b.log"]), &mut wake, &matches, &no_error);
        w.classify(ev(create, &["/l/b.txt"]), &mut wake, &matches, &no_error);
        assert_eq!(wake.created, vec![PathBuf::from("/l/b.log")]);
        assert_eq!(wake.created_other, vec![PathBuf::from("/l/b.txt")]);
        assert!(wake.rescan);

        let mut wake = Wake::default();
        let both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        w.classify(
            ev(both, &["/l/a.log", "/l/a.1"]),
            &mut wake,
            &matches,
            &no_error,
        );
        w.classify(
            ev(both, &["/l/x.1", "/l/x.2"]),
            &mut wake,
            &matches,
            &no_error,
        );
        assert_eq!(
            wake.renamed,
            vec![(PathBuf::from("/l/a.log"), PathBuf::from("/l/a.1"))]
        );

        let mut wake = Wake::default();
        let remove = EventKind::Remove(RemoveKind::File);
        w.classify(ev(remove, &["/l/a.log"]), &mut wake, &matches, &no_error);
        assert!(wake.rescan);

        let mut wake = Wake::default();
        let mut e = notify::Event::new(EventKind::Other);
        e = e.set_flag(Flag::Rescan);
        w.classify(Msg::Fs(Ok(e)), &mut wake, &matches, &no_error);
        assert!(wake.rescan);
    }

    #[test]
    fn stop_wakes_the_wait() {
        let mut w = Watch::new();
        let s = w.stopper();
        s.stop();
        let mut wake = Wake::default();
        let t = std::time::Instant::now();
        assert!(w.wait(Duration::from_secs(5), &mut wake, &|_| true, &|_| false));
        assert!(w.stopped());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
