//! The files a tailer knows: followed (open), held (a possible copy), dormant (let go but still
//! matched), and the path index that maps event paths to them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use super::decide::{State, Truncation};
use super::fds::Fd;
use super::fingerprint::{FileId, HeadBytes};
use super::split::Splitter;
use super::FileInfo;

/// A file being read.
pub(crate) struct Followed {
    /// `None` while parked (closed to stay within the descriptor budget; reopened by identity).
    pub file: Option<Fd>,
    pub info: FileInfo,
    /// Its first bytes (those `info.fingerprint` hashes).
    pub head: HeadBytes,
    /// Path it was opened (or last confirmed) under.
    pub orig_path: PathBuf,
    /// Next byte to read.
    pub read_pos: u64,
    /// End of the last batch handed to the sink.
    pub delivered: u64,
    pub split: Splitter,
    pub last_growth: Instant,
    /// (size, mtime) at the last check, to skip unchanged files.
    pub seen: Option<(u64, Option<SystemTime>)>,
    pub size: u64,
    pub mtime: Option<SystemTime>,
    pub state: State,
    /// Recent truncations (for matching copies made just before them).
    pub truncations: Vec<Truncation>,
}

/// A file found while running that is held before being read: its head equals a followed file's
/// (probably a copy made by `copytruncate`), or it is still too short to tell (the copy may be
/// in progress). A copy is not read until it has been quiet for `rotate_wait`; if the original
/// was truncated meanwhile, the copy is read from the original's pre-truncation position
/// (recovering the lines written between our last read and the truncation, with no duplicates),
/// otherwise from its start like any new file.
pub(crate) struct PendingCopy {
    pub file: Fd,
    pub path: PathBuf,
    /// The original, once known (`None`: too short yet to tell).
    pub of: Option<FileId>,
    /// Matched by the globs (else only read if it turns out to be a copy made before a
    /// truncation, and dropped otherwise).
    pub matched: bool,
    pub found: Instant,
    pub size: u64,
    pub changed: Instant,
}

/// A rotated file that was drained and let go but still matches the globs: never read twice.
pub(crate) struct Dormant {
    pub info: FileInfo,
    pub offset: u64,
    /// First scan that did not see it (see [`super::decide::dormant_missing`]).
    pub missed: Option<Instant>,
}

/// A file let go recently: if it shows up again (a listing that skipped it, a rename back into
/// the globs), it goes on from where it was, never from 0.
pub(crate) struct Recent {
    pub info: FileInfo,
    pub offset: u64,
    pub at: Instant,
}

/// Most files remembered as let go, and for how long.
const MAX_RECENT: usize = 4096;
const RECENT_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Every file a tailer knows, by identity.
#[derive(Default)]
pub(crate) struct FileTable {
    pub files: HashMap<FileId, Followed>,
    /// Event paths (names, and targets of symlinked names) → followed file.
    pub by_path: HashMap<PathBuf, FileId>,
    /// Symlinked matches → their targets (last scan).
    pub links: HashMap<PathBuf, PathBuf>,
    pub dormant: HashMap<FileId, Dormant>,
    pub copies: HashMap<FileId, PendingCopy>,
    /// Identities matched by the last scan.
    pub matched: HashSet<FileId>,
    /// Matched files that hold compressed data: never read (forgotten once unmatched).
    pub ignored: HashMap<FileId, PathBuf>,
    /// Files let go recently, with their offsets.
    pub recent: HashMap<FileId, Recent>,
}

impl FileTable {
    /// Is this identity followed, held or dormant?
    pub(crate) fn knows(&self, id: &FileId) -> bool {
        self.files.contains_key(id)
            || self.copies.contains_key(id)
            || self.dormant.contains_key(id)
            || self.ignored.contains_key(id)
    }

    /// Remember a file being let go at `offset`.
    pub(crate) fn let_go(&mut self, id: FileId, info: FileInfo, offset: u64) {
        let now = Instant::now();
        if self.recent.len() >= MAX_RECENT {
            self.recent
                .retain(|_, r| now.saturating_duration_since(r.at) < RECENT_TTL);
            if self.recent.len() >= MAX_RECENT {
                let oldest = self
                    .recent
                    .iter()
                    .min_by_key(|(_, r)| r.at)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.recent.remove(&k);
                }
            }
        }
        self.recent.insert(
            id,
            Recent {
                info,
                offset,
                at: now,
            },
        );
    }

    /// Rebuild the path index. A rotated file may still carry the name of the new file at its
    /// old path: the active file wins the name (files being drained are read on every wake-up
    /// anyway).
    pub(crate) fn index_paths(&mut self) {
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
}
