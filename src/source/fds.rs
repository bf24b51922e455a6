//! File descriptor budget, shared by every source of the process.
//!
//! Followed files hold a descriptor each; past the budget, the tailer closes the descriptors of
//! idle files (*parked*: their identity, offset and partial line are kept) and reopens them by
//! identity when they are written to. The budget stays below `RLIMIT_NOFILE`, so the HTTP
//! server, inotify, checkpoint writes and logging always find descriptors.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Deref;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Descriptors currently held by followed and held files.
static OPEN: AtomicUsize = AtomicUsize::new(0);
/// Configured budget (0: the default, from `RLIMIT_NOFILE`).
static LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Fewest descriptors for files accepted as a budget.
pub const MIN_OPEN_FILES: usize = 16;

/// Set the budget (`global.max_open_files`); `None`: derived from `RLIMIT_NOFILE`.
pub fn set_max_open_files(n: Option<usize>) {
    LIMIT.store(n.unwrap_or(0), Ordering::Relaxed);
}

/// The budget in force.
pub fn max_open_files() -> usize {
    match LIMIT.load(Ordering::Relaxed) {
        0 => default_budget(soft_nofile()),
        n => n,
    }
}

/// The default budget for a soft `RLIMIT_NOFILE` of `soft`: half of it is kept back up to 256
/// descriptors (HTTP connections, inotify, checkpoints, logging), the rest is for files.
pub(crate) fn default_budget(soft: u64) -> usize {
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    soft.saturating_sub((soft / 2).min(256)).max(MIN_OPEN_FILES)
}

fn soft_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0
        || r.rlim_cur == libc::RLIM_INFINITY
    {
        return 1 << 20;
    }
    r.rlim_cur
}

/// Open a log file for reading without updating its access time when allowed (`O_NOATIME`
/// needs the file's owner or CAP_FOWNER): with `relatime`, every read of a file written since
/// the last read would otherwise dirty its inode. Never blocks (`O_NONBLOCK`): a FIFO put where
/// a file was expected (`mkfifo app.log.1`) would otherwise hold the tailer in `open` until a
/// writer comes; callers look at what they opened (`fstat`) before reading. (On a regular file
/// the flag changes nothing.)
pub(crate) fn open(path: &Path) -> io::Result<File> {
    let flags = libc::O_NOATIME | libc::O_NONBLOCK | libc::O_NOCTTY;
    match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path),
        other => other,
    }
}

/// Descriptors held now.
pub(crate) fn open_now() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// Is the budget used up?
pub(crate) fn over_budget() -> bool {
    open_now() >= max_open_files()
}

/// A file descriptor counted in the budget while it lives.
#[derive(Debug)]
pub(crate) struct Fd(File);

impl Fd {
    pub(crate) fn new(file: File) -> Fd {
        OPEN.fetch_add(1, Ordering::Relaxed);
        Fd(file)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Deref for Fd {
    type Target = File;
    fn deref(&self) -> &File {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_descriptors_back() {
        assert_eq!(default_budget(512), 256);
        assert_eq!(default_budget(1024), 768);
        assert_eq!(default_budget(65_536), 65_280);
        assert_eq!(default_budget(20), MIN_OPEN_FILES);
    }

    #[test]
    fn descriptors_are_counted_while_they_live() {
        // No other unit test holds an `Fd`.
        let before = open_now();
        let f = Fd::new(tempfile::tempfile().expect("temp file"));
        assert_eq!(open_now(), before + 1);
        drop(f);
        assert_eq!(open_now(), before);
    }
}
