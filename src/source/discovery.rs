//! Discovery by events: two inotify instances per tailer (writes, and everything else), read
//! by the tailer thread itself (no watcher thread, no queue, no allocation per event). The
//! thread sleeps in `poll(2)` on the inotify descriptors and on an eventfd that
//! [`Stopper::stop`] writes to.
//!
//! Events are sorted into a [`Wake`]: followed files to read (looked up by watch descriptor and
//! name, without building a path), files to open at once, renames to remember, and whether the
//! globs must be walked again (the walk itself is [`super::paths`]).

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::fingerprint::FileId;

/// Most created / renamed / other paths remembered between two scans (the scan is the
/// backstop).
const MAX_REMEMBERED: usize = 1024;
/// inotify read buffer: a few hundred events per `read`.
const EVENT_BUF: usize = 64 * 1024;

/// The stop flag and the eventfd that wakes the tailer's `poll`.
#[derive(Debug)]
struct StopSignal {
    flag: AtomicBool,
    efd: Option<OwnedFd>,
}

/// Wakes a running tailer and makes `run` return.
#[derive(Clone, Debug)]
pub struct Stopper {
    sig: Arc<StopSignal>,
}

impl Stopper {
    /// Ask the tailer to return from `run` soon (it is woken at once, mid-read included).
    pub fn stop(&self) {
        self.sig.flag.store(true, Ordering::SeqCst);
        if let Some(efd) = &self.sig.efd {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a local to an eventfd we own; a full counter (EAGAIN)
            // only means the tailer is already being woken.
            unsafe {
                libc::write(efd.as_raw_fd(), (&one as *const u64).cast(), 8);
            }
        }
    }
}

/// What the events since the last look asked for.
#[derive(Default)]
pub(crate) struct Wake {
    /// Walk the globs again (directory events, overflow).
    pub rescan: bool,
    /// The event queue overflowed: events were lost, read every file.
    pub overflow: bool,
    /// Followed files written to (may hold duplicates).
    pub dirty: Vec<FileId>,
    /// Other matched-directory paths written to (a dormant file, a file with an error).
    pub dirty_other: Vec<PathBuf>,
    /// Renames (from, to) whose source matched the globs, since the last scan.
    pub renamed: Vec<(PathBuf, PathBuf)>,
    /// Matching paths created (or renamed in) since the last look: opened at once, without
    /// waiting for the rate-limited scan, so that even a short-lived file is caught.
    pub created: Vec<PathBuf>,
    /// Other paths created in watched directories since the last look: a copy of a followed
    /// file that the globs do not match is opened at once, before it can be compressed away.
    pub created_other: Vec<PathBuf>,
    /// Moves out of a matched path, waiting for their other half (by cookie).
    moved_from: Vec<(u32, PathBuf)>,
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

/// How events are matched to what the tailer knows.
pub(crate) trait Resolve {
    /// The followed file named `name` in the directory watched as `wd`.
    fn followed(&self, wd: i32, name: &OsStr) -> Option<FileId>;
    /// Would `path` be matched by the globs?
    fn matches(&self, path: &Path) -> bool;
    /// Is a problem recorded for `path`?
    fn has_error(&self, path: &Path) -> bool;
}

/// One watched directory: its watch in each instance, and the paths it stands for (one, unless
/// linked twice).
struct Dir {
    writes: WatchDescriptor,
    changes: WatchDescriptor,
    paths: Vec<PathBuf>,
}

/// The event side of a tailer: the stop signal and two inotify instances with a watch on every
/// directory each. Writes come one event per `write(2)`: in their own queue, they can be left
/// to pile up while a pass is due anyway, while the other events (files created, renamed,
/// deleted) still wake the tailer at once.
pub(crate) struct Watch {
    sig: Arc<StopSignal>,
    /// `IN_MODIFY` only.
    writes: Option<Inotify>,
    /// Everything else.
    changes: Option<Inotify>,
    /// Watch descriptor in `writes` → the directory.
    dirs: HashMap<i32, Dir>,
    /// Watch descriptor in `changes` → that in `writes`.
    by_change: HashMap<i32, i32>,
    /// Directory → its watch descriptor in `writes`.
    watched: HashMap<PathBuf, i32>,
    /// Events are unavailable (no inotify, or its limits reached): polling only.
    pub failed: bool,
    buf: Vec<u8>,
}

const WRITES: WatchMask = WatchMask::MODIFY.union(WatchMask::ONLYDIR);
const CHANGES: WatchMask = WatchMask::ATTRIB
    .union(WatchMask::CREATE)
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

impl Watch {
    pub(crate) fn new() -> Watch {
        // SAFETY: eventfd has no memory effects; a negative result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        // SAFETY: a fresh descriptor we own.
        let efd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        Watch {
            sig: Arc::new(StopSignal {
                flag: AtomicBool::new(false),
                efd,
            }),
            writes: None,
            changes: None,
            dirs: HashMap::new(),
            by_change: HashMap::new(),
            watched: HashMap::new(),
            failed: false,
            buf: Vec::new(),
        }
    }

    pub(crate) fn stopper(&self) -> Stopper {
        Stopper {
            sig: self.sig.clone(),
        }
    }

    /// The stop flag (checked between and inside reads).
    pub(crate) fn stop_flag(&self) -> &AtomicBool {
        &self.sig.flag
    }

    pub(crate) fn stopped(&self) -> bool {
        self.sig.flag.load(Ordering::SeqCst)
    }

    pub(crate) fn started(&self) -> bool {
        self.writes.is_some()
    }

    /// The watch descriptor (of the write events) of a watched directory.
    pub(crate) fn wd_of(&self, dir: &Path) -> Option<i32> {
        self.watched.get(dir).copied()
    }

    /// Are all these directories watched?
    pub(crate) fn covers(&self, dirs: &HashSet<PathBuf>) -> bool {
        !self.failed && self.writes.is_some() && dirs.iter().all(|d| self.watched.contains_key(d))
    }

    /// Start receiving events. Err: why events are unavailable.
    pub(crate) fn start(&mut self) -> Result<(), String> {
        match Inotify::init().and_then(|w| Ok((w, Inotify::init()?))) {
            Ok((w, c)) => {
                self.writes = Some(w);
                self.changes = Some(c);
                self.buf = vec![0; EVENT_BUF];
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e.to_string())
            }
        }
    }

    /// Sleep until an event, a stop or `timeout`, then sort the pending events into `wake`.
    /// With `writes` false, write events neither wake nor are read (see [`Watch::read_writes`]).
    /// Returns whether an event was seen.
    pub(crate) fn wait(
        &mut self,
        timeout: Duration,
        wake: &mut Wake,
        r: &dyn Resolve,
        writes: bool,
    ) -> bool {
        let fd = |i: &Option<Inotify>| i.as_ref().map_or(-1, |i| i.as_raw_fd());
        let mut fds = [
            libc::pollfd {
                fd: self.sig.efd.as_ref().map_or(-1, |f| f.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd(&self.changes),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if writes { fd(&self.writes) } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // Round up: waking a little early would only spin.
        let ms = if Duration::from_millis(ms as u64) < timeout {
            ms.saturating_add(1)
        } else {
            ms
        };
        if !self.stopped() {
            // SAFETY: three pollfd structs we own; a negative descriptor is ignored by poll.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, ms) };
            if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                // Cannot wait on the descriptors: do not spin.
                std::thread::sleep(timeout.min(Duration::from_millis(100)));
            }
        }
        if fds[0].revents != 0 {
            let mut v = 0u64;
            if let Some(efd) = &self.sig.efd {
                // SAFETY: reads 8 bytes into a local from our eventfd (resets its counter).
                unsafe {
                    libc::read(efd.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
                }
            }
        }
        let mut any = false;
        if fds[1].revents != 0 {
            any |= self.read_events(false, wake, r);
        }
        if fds[2].revents != 0 {
            any |= self.read_events(true, wake, r);
        }
        any
    }

    /// Sort the write events that are waiting, without sleeping. Returns whether there were any.
    pub(crate) fn read_writes(&mut self, wake: &mut Wake, r: &dyn Resolve) -> bool {
        self.read_events(true, wake, r)
    }

    /// Read and sort every pending event of one instance. Returns whether there was any.
    fn read_events(&mut self, writes: bool, wake: &mut Wake, r: &dyn Resolve) -> bool {
        let inotify = if writes {
            self.writes.as_mut()
        } else {
            self.changes.as_mut()
        };
        let Some(inotify) = inotify else {
            return false;
        };
        let mut any = false;
        let mut forget = Vec::new();
        loop {
            let events = match inotify.read_events(&mut self.buf) {
                Ok(ev) => ev,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!("reading file events: {e}");
                    wake.rescan = true;
                    break;
                }
            };
            for ev in events {
                any = true;
                // Both instances' events are told by the directory's descriptor in `writes`.
                let wd = ev.wd.get_watch_descriptor_id();
                let wd = if writes {
                    Some(wd)
                } else {
                    self.by_change.get(&wd).copied()
                };
                classify(&self.dirs, wd, ev, wake, r, &mut forget);
            }
        }
        for wd in forget {
            self.forget(wd);
        }
        any
    }

    /// Stop watching the directory of watch descriptor `wd` (in `writes`).
    fn forget(&mut self, wd: i32) {
        let Some(d) = self.dirs.remove(&wd) else {
            return;
        };
        for p in &d.paths {
            self.watched.remove(p);
        }
        self.by_change.remove(&d.changes.get_watch_descriptor_id());
        if let Some(i) = self.writes.as_mut() {
            let _ = i.watches().remove(d.writes);
        }
        if let Some(i) = self.changes.as_mut() {
            let _ = i.watches().remove(d.changes);
        }
    }

    /// Watch exactly `dirs`.
    pub(crate) fn update(&mut self, dirs: &HashSet<PathBuf>) -> WatchUpdate {
        let mut out = WatchUpdate::default();
        if self.writes.is_none() {
            return out;
        }
        let gone: Vec<PathBuf> = self
            .watched
            .keys()
            .filter(|d| !dirs.contains(*d))
            .cloned()
            .collect();
        for d in gone {
            if let Some(wd) = self.watched.remove(&d) {
                let last = self.dirs.get_mut(&wd).is_some_and(|dir| {
                    dir.paths.retain(|p| *p != d);
                    dir.paths.is_empty()
                });
                if last {
                    self.forget(wd);
                }
            }
        }
        if self.failed {
            return out;
        }
        let (Some(writes), Some(changes)) = (self.writes.as_mut(), self.changes.as_mut()) else {
            return out;
        };
        for d in dirs {
            if self.watched.contains_key(d) {
                continue;
            }
            let added = writes.watches().add(d, WRITES).and_then(|w| {
                match changes.watches().add(d, CHANGES) {
                    Ok(c) => Ok((w, c)),
                    Err(e) => {
                        let _ = writes.watches().remove(w);
                        Err(e)
                    }
                }
            });
            match added {
                Ok((w, c)) => {
                    let id = w.get_watch_descriptor_id();
                    self.by_change.insert(c.get_watch_descriptor_id(), id);
                    let dir = self.dirs.entry(id).or_insert_with(|| Dir {
                        writes: w,
                        changes: c,
                        paths: Vec::new(),
                    });
                    dir.paths.push(d.clone());
                    self.watched.insert(d.clone(), id);
                    out.watched_now.push(d.clone());
                    out.added = true;
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::ENOENT | libc::ENOTDIR) => {}
                    // Watch limit or resources exhausted: inotify is unusable from now on.
                    Some(libc::ENOSPC | libc::EMFILE | libc::ENFILE | libc::ENOMEM) => {
                        self.failed = true;
                        out.failure = Some(format!("cannot watch {}: {e}", d.display()));
                        break;
                    }
                    // This directory only (e.g. permission): it is covered by the poll.
                    _ => out.dir_errors.push((d.clone(), e.to_string())),
                },
            }
        }
        out
    }
}

/// Sort one event into `wake`; watches to forget go to `forget`.
fn classify(
    dirs: &HashMap<i32, Dir>,
    wd: Option<i32>,
    ev: inotify::Event<&OsStr>,
    wake: &mut Wake,
    r: &dyn Resolve,
    forget: &mut Vec<i32>,
) {
    let mask = ev.mask;
    if mask.contains(EventMask::Q_OVERFLOW) {
        wake.rescan = true;
        wake.overflow = true;
        return;
    }
    // Not (or no longer) a watched directory.
    let Some(wd) = wd else { return };
    if mask.intersects(EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF) {
        // The watched directory went away: watch whatever is at that path at the next scan.
        forget.push(wd);
        wake.rescan = true;
        return;
    }
    let Some(Dir { paths, .. }) = dirs.get(&wd) else {
        return;
    };
    let Some(name) = ev.name else {
        // On the directory itself (its permissions): the scan tells.
        wake.rescan = true;
        return;
    };
    if mask.contains(EventMask::ISDIR) {
        wake.rescan = true;
        return;
    }
    if mask.intersects(EventMask::MODIFY | EventMask::ATTRIB) {
        match r.followed(wd, name) {
            Some(id) => wake.dirty.push(id),
            None if wake.dirty_other.len() < MAX_REMEMBERED => {
                wake.dirty_other.extend(paths.iter().map(|d| d.join(name)));
            }
            None => wake.rescan = true,
        }
        // A chmod may make an unreadable file readable.
        if mask.contains(EventMask::ATTRIB) && paths.iter().any(|d| r.has_error(&d.join(name))) {
            wake.rescan = true;
        }
        return;
    }
    wake.rescan = true;
    for dir in paths {
        let path = dir.join(name);
        if mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
            if mask.contains(EventMask::MOVED_TO) {
                if let Some(i) = wake.moved_from.iter().position(|(c, _)| *c == ev.cookie) {
                    let (_, from) = wake.moved_from.swap_remove(i);
                    if wake.renamed.len() < MAX_REMEMBERED {
                        wake.renamed.push((from, path.clone()));
                    }
                }
            }
            if r.matches(&path) {
                if wake.created.len() < MAX_REMEMBERED {
                    wake.created.push(path);
                }
            } else if mask.contains(EventMask::CREATE) && wake.created_other.len() < MAX_REMEMBERED
            {
                // Copies are created, not renamed in.
                wake.created_other.push(path);
            }
        } else if mask.contains(EventMask::MOVED_FROM) && r.matches(&path) {
            // Remember where a matched file went: if it was renamed out of the globs before a
            // scan ever saw it (a short-lived file), the scan drains it from there.
            if wake.moved_from.len() >= MAX_REMEMBERED {
                wake.moved_from.remove(0);
            }
            wake.moved_from.push((ev.cookie, path));
        }
    }
}

impl Wake {
    /// Events that change which files there are (created, renamed, deleted, lost events):
    /// looked at without waiting for more writes, so a copy or a rotation is followed while
    /// the lines it holds are still there to read.
    pub(crate) fn urgent(&self) -> bool {
        self.rescan
            || self.overflow
            || !self.created.is_empty()
            || !self.created_other.is_empty()
            || !self.renamed.is_empty()
    }

    /// A scan has run: forget moves whose other half never came (moved out of our
    /// directories).
    pub(crate) fn scanned(&mut self) {
        self.moved_from.clear();
        self.overflow = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::Instant;

    struct Files(HashMap<PathBuf, FileId>, HashMap<i32, PathBuf>);
    impl Resolve for Files {
        fn followed(&self, wd: i32, name: &OsStr) -> Option<FileId> {
            self.1
                .get(&wd)
                .and_then(|d| self.0.get(&d.join(name)).copied())
        }
        fn matches(&self, path: &Path) -> bool {
            path.to_string_lossy().ends_with(".log")
        }
        fn has_error(&self, _: &Path) -> bool {
            false
        }
    }

    fn wait_for(w: &mut Watch, wake: &mut Wake, r: &Files, cond: impl Fn(&Wake) -> bool) {
        let end = Instant::now() + Duration::from_secs(5);
        while !cond(wake) {
            assert!(Instant::now() < end, "event not seen");
            w.wait(Duration::from_millis(50), wake, r, true);
        }
    }

    #[test]
    fn events_are_sorted_into_a_wake() {
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path().to_path_buf();
        let a = dir.join("a.log");
        fs::write(&a, b"1\n").expect("write");
        let mut w = Watch::new();
        w.start().expect("inotify");
        let u = w.update(&HashSet::from([dir.clone()]));
        assert!(u.added && u.failure.is_none());
        let wd = w.wd_of(&dir).expect("watched");
        let r = Files(
            HashMap::from([(a.clone(), (1, 2))]),
            HashMap::from([(wd, dir.clone())]),
        );
        let mut wake = Wake::default();
        fs::OpenOptions::new()
            .append(true)
            .open(&a)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"2\n"))
            .expect("append");
        wait_for(&mut w, &mut wake, &r, |k| k.dirty.contains(&(1, 2)));

        fs::write(dir.join("b.log"), b"x").expect("create");
        fs::write(dir.join("b.txt"), b"x").expect("create");
        wait_for(&mut w, &mut wake, &r, |k| {
            k.created.contains(&dir.join("b.log")) && k.created_other.contains(&dir.join("b.txt"))
        });
        assert!(wake.rescan);

        fs::rename(&a, dir.join("a.1")).expect("rename");
        wait_for(&mut w, &mut wake, &r, |k| !k.renamed.is_empty());
        assert_eq!(wake.renamed, vec![(a.clone(), dir.join("a.1"))]);
    }

    #[test]
    fn stop_wakes_the_wait() {
        let mut w = Watch::new();
        w.start().expect("inotify");
        let s = w.stopper();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s.stop();
        });
        let mut wake = Wake::default();
        let r = Files(HashMap::new(), HashMap::new());
        w.wait(Duration::from_secs(30), &mut wake, &r, true);
        assert!(w.stopped(), "woken by the stop, not the timeout");
        t.join().expect("join");
    }
}
