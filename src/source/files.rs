//! The files a tailer knows: followed (open), held (a possible copy), dormant (let go but still
//! matched), and the path index that maps event paths to them.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::Path;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use super::decide::{State, Truncation};
use super::fds::Fd;
use super::fingerprint::{FileId, HeadBytes};
use super::split::Splitter;
use super::FileInfo;

type Fast = foldhash::fast::RandomState;

/// Bytes kept from the end of what was read.
pub(crate) const TAIL: usize = 64;

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
    /// The last bytes read (up to [`TAIL`]) before `read_pos`: read again with the new data
    /// and compared, they tell a truncation (rewritten past our offset included) without a
    /// `stat` or a second read. `tail_len` 0: not known yet.
    pub tail: [u8; TAIL],
    pub tail_len: u8,
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

/// A file found while running that is held before being read: its first bytes (at least 64)
/// are a followed file's (it may be a copy made by `copytruncate`), or it is still too short to
/// tell (a copy may be in progress). Equal first bytes are not enough to take it for a copy:
/// it is looked at again whenever it grows ([`super::copies`]). A copy is released when its
/// original's truncation is seen (read from the original's position before it, recovering the
/// lines written between our last read and the truncation, with no duplicates); a file whose
/// bytes differ from its original's is a new file, read from 0; one that keeps its original's
/// bytes and no truncation comes for `COPY_WINDOW` is a plain copy, followed from its end.
pub(crate) struct PendingCopy {
    /// `None` while parked (closed to stay within the descriptor budget; reopened at `path`
    /// by identity when it must be looked at).
    pub file: Option<Fd>,
    pub path: PathBuf,
    /// The original, once known (`None`: too short yet to tell).
    pub of: Option<FileId>,
    /// Matched by the globs (else only read if it turns out to be a copy made before a
    /// truncation, and dropped otherwise).
    pub matched: bool,
    pub found: Instant,
    pub size: u64,
    pub changed: Instant,
    /// Its size when last looked at (compared with its original).
    pub looked: Option<u64>,
    /// Its bytes differ from its original's, which was not truncated: a new file.
    pub diverged: bool,
    /// Its hold was reported (`TailEvent::Held`).
    pub reported: bool,
}

impl PendingCopy {
    pub(crate) fn new(
        file: Fd,
        path: PathBuf,
        of: Option<FileId>,
        matched: bool,
        size: u64,
    ) -> Self {
        let now = Instant::now();
        PendingCopy {
            file: Some(file),
            path,
            of,
            matched,
            found: now,
            size,
            changed: now,
            looked: None,
            diverged: false,
            reported: false,
        }
    }
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
    /// (Hashed with foldhash, randomly seeded: looked up on every event and read.)
    pub files: HashMap<FileId, Followed, Fast>,
    /// Event names (watch descriptor of the directory → name) of followed files, symlink
    /// targets included.
    pub by_name: HashMap<i32, HashMap<OsString, FileId, Fast>, Fast>,
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

    /// Rebuild the name index. A rotated file may still carry the name of the new file at its
    /// old path: the active file wins the name (files being drained are read on every wake-up
    /// anyway).
    ///
    /// Events are matched to files when they arrive, with the index of that moment: a file
    /// that gains a name here may have had its writes put down to another file, so it goes to
    /// `gained`, to be read.
    pub(crate) fn index_paths(
        &mut self,
        wd_of: &dyn Fn(&Path) -> Option<i32>,
        gained: &mut Vec<FileId>,
    ) {
        let old = std::mem::take(&mut self.by_name);
        for active in [false, true] {
            for (id, f) in &self.files {
                if (f.state == State::Active) != active {
                    continue;
                }
                let real = self.links.get(&f.info.path);
                for p in std::iter::once(&f.info.path).chain(real) {
                    let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
                        continue;
                    };
                    if let Some(wd) = wd_of(dir) {
                        self.by_name
                            .entry(wd)
                            .or_default()
                            .insert(name.to_os_string(), *id);
                    }
                }
            }
        }
        for (wd, names) in &self.by_name {
            let before = old.get(wd);
            for (name, id) in names {
                if before.and_then(|m| m.get(name)) != Some(id) {
                    gained.push(*id);
                }
            }
        }
    }
}

#[cfg(test)]
impl Followed {
    /// A file followed from its start (for tests).
    pub(crate) fn from_start(path: &Path) -> Followed {
        use super::fingerprint::fingerprint_of;
        let file = std::fs::File::open(path).expect("open");
        let md = file.metadata().expect("stat");
        Followed {
            file: Some(Fd::new(file)),
            info: FileInfo {
                path: path.to_path_buf(),
                fingerprint: fingerprint_of(&md, b""),
            },
            head: HeadBytes::new(b""),
            orig_path: path.to_path_buf(),
            read_pos: 0,
            tail: [0; TAIL],
            tail_len: 0,
            delivered: 0,
            split: Splitter::new(4096),
            last_growth: Instant::now(),
            seen: None,
            size: 0,
            mtime: None,
            state: State::Active,
            truncations: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_given_a_name_is_to_be_read() {
        let d = tempfile::tempdir().expect("tempdir");
        let (old, new) = (d.path().join("old"), d.path().join("new"));
        std::fs::write(&old, b"").expect("write");
        std::fs::write(&new, b"").expect("write");
        let mut t = FileTable::default();
        // Both carry the name app.log (the old one was renamed, which no scan has seen yet).
        let app = d.path().join("app.log");
        for (id, p) in [((1, 1), &old), ((1, 2), &new)] {
            let mut f = Followed::from_start(p);
            f.info.path = app.clone();
            t.files.insert(id, f);
        }
        let dir = d.path().to_path_buf();
        let wd_of = |p: &Path| (p == dir).then_some(7);
        let mut gained = Vec::new();
        t.index_paths(&wd_of, &mut gained);
        assert_eq!(gained.len(), 1, "one of them has the name");
        let first = gained[0];
        // The scan finds the first one rotated: the other one gets the name, and is read (its
        // writes may have been put down to the first one).
        t.files.get_mut(&first).expect("followed").state = State::Rotated;
        gained.clear();
        t.index_paths(&wd_of, &mut gained);
        let other = if first == (1, 1) { (1, 2) } else { (1, 1) };
        assert_eq!(gained, vec![other]);
        assert_eq!(t.by_name[&7][std::ffi::OsStr::new("app.log")], other);
        // Nothing changed: nothing to read.
        gained.clear();
        t.index_paths(&wd_of, &mut gained);
        assert!(gained.is_empty());
    }
}
