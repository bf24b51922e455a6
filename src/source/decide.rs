//! Rotation, truncation and copy decisions: pure functions over what was observed (sizes, heads,
//! whether a path still leads to a file, times), so that each rule is unit-tested without a
//! filesystem. The tailer gathers the facts and acts on the answers.

use std::time::{Duration, Instant};

use super::fingerprint::{FileId, Head, HeadBytes};
use super::{Fingerprint, StartAt};

/// Shortest head (bytes) that identifies a copy of another file by content.
pub(crate) const MIN_COPY_HEAD: usize = 64;
/// How long a truncation is remembered for matching a copy made just before it.
pub(crate) const COPY_WINDOW: Duration = Duration::from_secs(60);
/// How long a dormant file must stay unseen by scans before it is let go: a directory listing
/// taken while logrotate renames may skip an entry that only moved.
pub(crate) const MISS_GRACE: Duration = Duration::from_secs(1);
/// Most truncations remembered per file (copies of earlier ones may still be found).
const MAX_TRUNCATIONS: usize = 8;
/// Longest hold of a new file too short to tell whether it is a copy being written.
pub(crate) const SHORT_HOLD: Duration = Duration::from_millis(250);

/// Where a followed file stands with respect to the path it was opened under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// The path it was opened under still leads to it.
    Active,
    /// Renamed away; drained until quiet and replaced.
    Rotated,
    /// Unlinked; drained until quiet.
    Deleted,
    /// A copy of a truncated file that the globs do not match (`app.log-20261127` for
    /// `app.log`): read from the original's position before the truncation to its end, then
    /// let go like a deleted file.
    Copy,
}

/// The state of a followed file after a look: `unlinked` (no name left), `at_orig_path` (the
/// path it was opened under leads to it; not looked at for an unlinked or deleted file).
pub(crate) fn next_state(state: State, unlinked: bool, at_orig_path: bool) -> State {
    if unlinked || state == State::Deleted {
        State::Deleted
    } else if state == State::Copy {
        State::Copy
    } else if at_orig_path {
        // Also back from Rotated (e.g. its directory was unreadable for a moment).
        State::Active
    } else {
        State::Rotated
    }
}

/// A dormant file that a scan did not see (first missed at `first_missed`, if before): when
/// it was first missed, and whether to let it go now.
pub(crate) fn dormant_missing(first_missed: Option<Instant>, now: Instant) -> (Instant, bool) {
    match first_missed {
        None => (now, false),
        Some(t) => (t, now.saturating_duration_since(t) >= MISS_GRACE),
    }
}

/// A truncation seen on a followed file: its identity and our read position just before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Truncation {
    /// Fingerprint before the truncation (the head a copy of it starts with).
    pub old: Fingerprint,
    /// The first bytes before the truncation, when known (not for a truncation found by a
    /// checkpoint after a restart, which keeps only the hash).
    pub head: Option<HeadBytes>,
    /// Read position just before it.
    pub pos: u64,
    /// When it was seen.
    pub at: Instant,
}

/// Add `t` to a file's truncation history, forgetting those too old to match a copy.
pub(crate) fn remember(history: &mut Vec<Truncation>, t: Truncation) {
    history.retain(|o| t.at.saturating_duration_since(o.at) < COPY_WINDOW);
    if history.len() >= MAX_TRUNCATIONS {
        history.remove(0);
    }
    history.push(t);
}

/// Was a followed file truncated (or rewritten in place) since we read it up to `read_pos`?
/// `head_unchanged` is asked only when the size alone does not tell.
pub(crate) fn truncated<E>(
    size: u64,
    read_pos: u64,
    head_len: u32,
    head_unchanged: impl FnOnce() -> Result<bool, E>,
) -> Result<bool, E> {
    Ok(size < read_pos || (head_len > 0 && !head_unchanged()?))
}

/// What to do with a file that is not at its path any more (rotated or deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drain {
    /// Keep draining; look again at this time.
    Until(Instant),
    /// Quiet long enough and replaced (or deleted): let it go.
    LetGo,
    /// Quiet, but nothing has replaced it at its path: keep it (a writer may still use it).
    Keep,
}

/// Draining rule: a rotated file is let go once quiet for `rotate_wait` *and* another file is at
/// its original path; a deleted one once quiet. `other_at_path` is asked only when quiet.
pub(crate) fn drain(
    state: State,
    last_growth: Instant,
    rotate_wait: Duration,
    now: Instant,
    other_at_path: impl FnOnce() -> bool,
) -> Drain {
    let due = last_growth + rotate_wait;
    if now < due {
        Drain::Until(due)
    } else if matches!(state, State::Deleted | State::Copy) || other_at_path() {
        Drain::LetGo
    } else {
        Drain::Keep
    }
}

/// What we know of a file found for the first time (by a scan or an event).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NewFile {
    /// Its size.
    pub size: u64,
    /// A dormant (or recently let go) file with this inode and head: its offset. (One whose
    /// head differs is another file on a reused inode: forgotten before deciding.)
    pub dormant: Option<u64>,
    /// A checkpoint for this inode and head: its offset.
    pub checkpoint: Option<u64>,
    /// The followed file this one is a copy of (same head of at least [`MIN_COPY_HEAD`] bytes).
    pub copy_of: Option<FileId>,
    /// It is a copy made before a truncation already seen: where it starts.
    pub copy_at: Option<u64>,
    /// A checkpoint of another inode whose head this file has (copy made while we were down).
    pub checkpoint_by_content: Option<u64>,
    /// The tailer has finished its first scan.
    pub scanned_once: bool,
    /// No checkpoints were given at all.
    pub first_run: bool,
    /// Where to start files without a checkpoint on the first run.
    pub start_at: StartAt,
}

/// Where a newly found file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The dormant file grew (or came back): go on from its offset.
    Dormant(u64),
    /// Resume from the checkpoint of this inode.
    Checkpoint(u64),
    /// The checkpointed inode is shorter than its checkpoint: truncated while we were down.
    TruncatedWhileDown,
    /// Hold it: a copy of a followed file (or too short to tell yet).
    Hold(Option<FileId>),
    /// A copy made before a truncation already seen: from the original's position before it.
    CopyAfterTruncation(u64),
    /// A copy of a checkpointed file made while we were down: read what it holds beyond.
    CopyOfCheckpoint(u64),
    /// After the last complete line (first run with `start_at: end`).
    End,
    /// From the beginning.
    Beginning,
}

/// Where a newly found file starts (see [`Start`]).
pub(crate) fn start(f: &NewFile) -> Start {
    if let Some(offset) = f.dormant {
        if f.size >= offset {
            return Start::Dormant(offset);
        }
    }
    if let Some(offset) = f.checkpoint {
        return if offset <= f.size {
            Start::Checkpoint(offset)
        } else {
            Start::TruncatedWhileDown
        };
    }
    if !f.scanned_once {
        if let Some(offset) = f.checkpoint_by_content {
            return Start::CopyOfCheckpoint(offset.min(f.size));
        }
    }
    if let Some(offset) = f.copy_at {
        return Start::CopyAfterTruncation(offset.min(f.size));
    }
    // Copies are told on the first scan too when resuming (a copy made just before a restart),
    // but not on a first run, where every file starts at `start_at`.
    if f.copy_of.is_some() && (f.scanned_once || !f.first_run) {
        return Start::Hold(f.copy_of);
    }
    if f.scanned_once {
        if f.size < MIN_COPY_HEAD as u64 {
            return Start::Hold(None);
        }
        return Start::Beginning;
    }
    if f.first_run && f.start_at == StartAt::End {
        return Start::End;
    }
    Start::Beginning
}

/// Could a new file starting with `head` be a copy of a file starting with `orig`? Their common
/// prefix (at least [`MIN_COPY_HEAD`] bytes) is equal: a copy still being written is told
/// before it is as long as the original's head.
pub(crate) fn same_head(head: &[u8], orig: &[u8]) -> bool {
    let k = head.len().min(orig.len());
    k >= MIN_COPY_HEAD && head[..k] == orig[..k]
}

/// Is `head` a copy of a file made before its truncation `t` (seen recently)?
pub(crate) fn copy_before(head: &mut Head<'_>, t: &Truncation, now: Instant) -> bool {
    now.saturating_duration_since(t.at) < COPY_WINDOW && copy_of_old(head, t)
}

fn copy_of_old(head: &mut Head<'_>, t: &Truncation) -> bool {
    match &t.head {
        // All of the old head: a file still shorter than it may yet turn out to differ (a new
        // file starting with the same banner), so it is not taken for the copy until then.
        Some(old) => {
            head.bytes().len() >= old.as_slice().len() && same_head(head.bytes(), old.as_slice())
        }
        None => {
            head.bytes().len() >= MIN_COPY_HEAD
                && t.old.head_len as usize >= MIN_COPY_HEAD
                && head.starts_with(&t.old)
        }
    }
}

/// Where a held copy starts once released: at the original's delivered position before a
/// truncation the copy predates (its head is the original's old head); `None` if it predates
/// none (a copy not followed by a truncation is just another file, read from 0 if matched).
pub(crate) fn copy_start(
    copy_head: &mut Head<'_>,
    copy_size: u64,
    found: Instant,
    truncations: &[Truncation],
) -> Option<u64> {
    truncations
        .iter()
        .rev()
        .find(|t| t.at + COPY_WINDOW > found && copy_of_old(copy_head, t))
        .map(|t| t.pos.min(copy_size))
}

/// Could a file named `name`, created next to a followed file named `orig`, be logrotate's copy
/// of it (`app.log.1`, `app.log-20261127`, or with `extension .log`, `app-20261127.log`)?
pub(crate) fn copy_name(name: &[u8], orig: &[u8]) -> bool {
    if name.len() <= orig.len() {
        return false;
    }
    if name.starts_with(orig) {
        return true;
    }
    match memchr::memrchr(b'.', orig) {
        Some(dot) if dot > 0 => name.starts_with(&orig[..dot]) && name.ends_with(&orig[dot..]),
        _ => false,
    }
}

/// When a held file is released if it stays quiet: a copy waits for the truncation of its
/// original (logrotate may take long between the two: an fsync of a big copy), up to
/// [`COPY_WINDOW`]; a file too short to tell only shows whether a copy is being written.
pub(crate) fn hold_until(of_known: bool, changed: Instant, wait: Duration) -> Instant {
    changed
        + if of_known {
            wait.max(COPY_WINDOW)
        } else {
            wait.min(SHORT_HOLD)
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::fingerprint::fnv1a;

    fn fp(head: &[u8]) -> Fingerprint {
        Fingerprint {
            dev: 1,
            ino: 2,
            head_len: head.len() as u32,
            head_hash: fnv1a(head),
        }
    }

    #[test]
    fn states() {
        use State::*;
        assert_eq!(next_state(Active, false, true), Active);
        assert_eq!(next_state(Active, false, false), Rotated);
        assert_eq!(next_state(Active, true, false), Deleted);
        assert_eq!(next_state(Rotated, false, true), Active);
        assert_eq!(next_state(Rotated, false, false), Rotated);
        assert_eq!(next_state(Deleted, false, true), Deleted);
        assert_eq!(next_state(Copy, false, true), Copy);
        assert_eq!(next_state(Copy, true, false), Deleted);
    }

    #[test]
    fn a_dormant_file_missed_once_is_kept() {
        let t0 = Instant::now();
        assert_eq!(dormant_missing(None, t0), (t0, false));
        let soon = t0 + Duration::from_millis(20);
        assert_eq!(dormant_missing(Some(t0), soon), (t0, false));
        let later = t0 + MISS_GRACE;
        assert_eq!(dormant_missing(Some(t0), later), (t0, true));
    }

    #[test]
    fn truncation_by_size_or_head() {
        let never = || -> Result<bool, ()> { panic!("head not needed") };
        assert_eq!(truncated(5, 10, 64, never), Ok(true));
        assert_eq!(truncated(10, 10, 64, || Ok::<_, ()>(true)), Ok(false));
        assert_eq!(truncated(20, 10, 64, || Ok::<_, ()>(false)), Ok(true));
        // An empty file had no head to compare.
        assert_eq!(truncated(20, 0, 0, never), Ok(false));
    }

    #[test]
    fn draining() {
        let t0 = Instant::now();
        let w = Duration::from_secs(1);
        let later = t0 + Duration::from_secs(2);
        assert_eq!(
            drain(State::Rotated, t0, w, t0, || true),
            Drain::Until(t0 + w)
        );
        assert_eq!(drain(State::Rotated, t0, w, later, || true), Drain::LetGo);
        assert_eq!(drain(State::Rotated, t0, w, later, || false), Drain::Keep);
        assert_eq!(drain(State::Deleted, t0, w, later, || false), Drain::LetGo);
        assert_eq!(drain(State::Copy, t0, w, later, || false), Drain::LetGo);
    }

    #[test]
    fn new_file_starts() {
        let base = NewFile {
            size: 100,
            ..NewFile::default()
        };
        assert_eq!(start(&base), Start::Beginning);
        let f = NewFile {
            dormant: Some(80),
            ..base
        };
        assert_eq!(start(&f), Start::Dormant(80));
        // Shorter than the dormant offset: another file on that inode, decided as new (here:
        // a copy of a followed file).
        let f = NewFile {
            dormant: Some(120),
            scanned_once: true,
            copy_of: Some((1, 2)),
            copy_at: Some(60),
            ..base
        };
        assert_eq!(start(&f), Start::CopyAfterTruncation(60));
        let f = NewFile {
            checkpoint: Some(100),
            ..base
        };
        assert_eq!(start(&f), Start::Checkpoint(100));
        let f = NewFile {
            checkpoint: Some(101),
            ..base
        };
        assert_eq!(start(&f), Start::TruncatedWhileDown);
        let f = NewFile {
            scanned_once: true,
            copy_of: Some((1, 2)),
            ..base
        };
        assert_eq!(start(&f), Start::Hold(Some((1, 2))));
        let f = NewFile {
            scanned_once: true,
            size: 10,
            ..base
        };
        assert_eq!(start(&f), Start::Hold(None));
        let f = NewFile {
            scanned_once: true,
            ..base
        };
        assert_eq!(start(&f), Start::Beginning);
        let f = NewFile {
            checkpoint_by_content: Some(150),
            ..base
        };
        assert_eq!(start(&f), Start::CopyOfCheckpoint(100));
        let f = NewFile {
            scanned_once: true,
            copy_of: Some((1, 2)),
            copy_at: Some(60),
            ..base
        };
        assert_eq!(start(&f), Start::CopyAfterTruncation(60));
        // First scan: a copy is held when resuming, read at start_at on a first run.
        let f = NewFile {
            copy_of: Some((1, 2)),
            ..base
        };
        assert_eq!(start(&f), Start::Hold(Some((1, 2))));
        let f = NewFile {
            copy_of: Some((1, 2)),
            first_run: true,
            start_at: StartAt::End,
            ..base
        };
        assert_eq!(start(&f), Start::End);
        let f = NewFile {
            first_run: true,
            start_at: StartAt::End,
            ..base
        };
        assert_eq!(start(&f), Start::End);
    }

    #[test]
    fn copy_names() {
        assert!(copy_name(b"app.log.1", b"app.log"));
        assert!(copy_name(b"app.log-20261127", b"app.log"));
        assert!(copy_name(b"app-20261127.log", b"app.log"));
        assert!(!copy_name(b"app.log", b"app.log"));
        assert!(!copy_name(b"other.log.1", b"app.log"));
        assert!(!copy_name(b"app.txt.1", b"app.log"));
    }

    #[test]
    fn copies() {
        let bytes = [b'x'; 100];
        let head = &mut Head::new(&bytes);
        let old = fp(&bytes[..80]);
        let now = Instant::now();
        assert!(same_head(&bytes, &bytes[..80]));
        assert!(same_head(&bytes[..70], &bytes), "a copy being written");
        assert!(!same_head(&bytes[..40], &bytes), "too short to tell");
        assert!(!same_head(&bytes, &bytes[..10]), "original too short");
        let mut diverging = bytes;
        diverging[65] = b'y';
        assert!(!same_head(&diverging, &bytes));
        let t = Truncation {
            old,
            head: None,
            pos: 90,
            at: now,
        };
        assert!(copy_before(head, &t, now));
        assert!(!copy_before(head, &t, now + COPY_WINDOW));
        assert_eq!(copy_start(head, 100, now, &[t]), Some(90));
        assert_eq!(copy_start(head, 50, now, &[t]), Some(50));
        assert_eq!(copy_start(head, 100, now, &[]), None);
        let other = [b'y'; 100];
        assert_eq!(copy_start(&mut Head::new(&other), 100, now, &[t]), None);
        assert_eq!(copy_start(head, 100, now + COPY_WINDOW, &[t]), None);
        // Copies of earlier truncations are still told (copies kept, `dateext`).
        let later = Truncation {
            old: fp(&other[..80]),
            head: Some(HeadBytes::new(&other[..80])),
            pos: 70,
            at: now,
        };
        assert_eq!(copy_start(head, 100, now, &[t, later]), Some(90));
        assert_eq!(
            copy_start(&mut Head::new(&other), 100, now, &[t, later]),
            Some(70)
        );
        // Shorter than the old head: not told yet (it may be a new file with the same banner).
        assert_eq!(
            copy_start(&mut Head::new(&other[..79]), 100, now, &[later]),
            None
        );
        assert!(!copy_before(&mut Head::new(&other[..79]), &later, now));
        let mut history = Vec::new();
        for i in 0..20 {
            remember(&mut history, Truncation { pos: i, ..t });
        }
        assert_eq!(history.len(), MAX_TRUNCATIONS);
        assert_eq!(history.last().map(|t| t.pos), Some(19));
        remember(
            &mut history,
            Truncation {
                at: now + COPY_WINDOW,
                ..t
            },
        );
        assert_eq!(history.len(), 1, "expired ones are forgotten");
        let w = Duration::from_secs(5);
        assert_eq!(hold_until(true, now, w), now + COPY_WINDOW);
        assert_eq!(hold_until(false, now, w), now + SHORT_HOLD);
    }
}
