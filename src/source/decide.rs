//! Rotation, truncation and copy decisions: pure functions over what was observed (sizes, heads,
//! whether a path still leads to a file, times), so that each rule is unit-tested without a
//! filesystem. The tailer gathers the facts and acts on the answers.

use std::time::{Duration, Instant};

use super::fingerprint::{FileId, Head};
use super::{Fingerprint, StartAt};

/// Shortest head (bytes) that identifies a copy of another file by content.
pub(crate) const MIN_COPY_HEAD: usize = 64;
/// How long a truncation is remembered for matching a copy made just before it.
pub(crate) const COPY_WINDOW: Duration = Duration::from_secs(60);
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
}

/// The state of a followed file after a look: `unlinked` (no name left), `at_orig_path` (the
/// path it was opened under leads to it; not looked at for an unlinked or deleted file).
pub(crate) fn next_state(state: State, unlinked: bool, at_orig_path: bool) -> State {
    if unlinked || state == State::Deleted {
        State::Deleted
    } else if at_orig_path {
        // Also back from Rotated (e.g. its directory was unreadable for a moment).
        State::Active
    } else {
        State::Rotated
    }
}

/// A truncation seen on a followed file: its identity and our read position just before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Truncation {
    /// Fingerprint before the truncation (the head a copy of it starts with).
    pub old: Fingerprint,
    /// Read position just before it.
    pub pos: u64,
    /// When it was seen.
    pub at: Instant,
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
    } else if state == State::Deleted || other_at_path() {
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
    /// A dormant (let-go rotated) file with this inode: its offset, and whether its head is
    /// still this file's.
    pub dormant: Option<(u64, bool)>,
    /// A checkpoint for this inode and head: its offset.
    pub checkpoint: Option<u64>,
    /// The followed file this one is a copy of (same head of at least [`MIN_COPY_HEAD`] bytes).
    pub copy_of: Option<FileId>,
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
    /// The dormant file grew: go on from its offset.
    Dormant(u64),
    /// The dormant inode now holds another file: report the dormant one closed, read from 0.
    DormantReplaced,
    /// Resume from the checkpoint of this inode.
    Checkpoint(u64),
    /// The checkpointed inode is shorter than its checkpoint: truncated while we were down.
    TruncatedWhileDown,
    /// Hold it: a copy of a followed file (or too short to tell yet).
    Hold(Option<FileId>),
    /// A copy of a checkpointed file made while we were down: read what it holds beyond.
    CopyOfCheckpoint(u64),
    /// After the last complete line (first run with `start_at: end`).
    End,
    /// From the beginning.
    Beginning,
}

/// Where a newly found file starts (see [`Start`]).
pub(crate) fn start(f: &NewFile) -> Start {
    if let Some((offset, head_ok)) = f.dormant {
        return if f.size >= offset && head_ok {
            Start::Dormant(offset)
        } else {
            Start::DormantReplaced
        };
    }
    if let Some(offset) = f.checkpoint {
        return if offset <= f.size {
            Start::Checkpoint(offset)
        } else {
            Start::TruncatedWhileDown
        };
    }
    if f.scanned_once {
        if f.copy_of.is_some() || f.size < MIN_COPY_HEAD as u64 {
            return Start::Hold(f.copy_of);
        }
        return Start::Beginning;
    }
    if let Some(offset) = f.checkpoint_by_content {
        return Start::CopyOfCheckpoint(offset.min(f.size));
    }
    if f.first_run && f.start_at == StartAt::End {
        return Start::End;
    }
    Start::Beginning
}

/// Is `head` (a new file's first bytes) a copy of a file with fingerprint `fp`?
pub(crate) fn same_head(head: &mut Head<'_>, fp: &Fingerprint) -> bool {
    head.bytes().len() >= MIN_COPY_HEAD
        && fp.head_len as usize >= MIN_COPY_HEAD
        && head.starts_with(fp)
}

/// Is `head` a copy of a file made before its truncation `t` (seen recently)?
pub(crate) fn copy_before(head: &mut Head<'_>, t: &Truncation, now: Instant) -> bool {
    now.saturating_duration_since(t.at) < COPY_WINDOW && same_head(head, &t.old)
}

/// Where a held copy starts once released: at the original's read position before a truncation
/// the copy predates (its head is the original's old head), else at 0 (a copy that was not
/// followed by a truncation is just another file).
pub(crate) fn copy_start(
    copy_head: &mut Head<'_>,
    copy_size: u64,
    found: Instant,
    truncation: Option<&Truncation>,
) -> u64 {
    match truncation {
        Some(t) if t.at + COPY_WINDOW > found && copy_head.starts_with(&t.old) => {
            t.pos.min(copy_size)
        }
        _ => 0,
    }
}

/// When a held file is released if it stays quiet: a copy waits for the truncation of its
/// original (`wait`), a file too short to tell only shows whether a copy is being written.
pub(crate) fn hold_until(of_known: bool, changed: Instant, wait: Duration) -> Instant {
    changed + if of_known { wait } else { wait.min(SHORT_HOLD) }
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
    }

    #[test]
    fn new_file_starts() {
        let base = NewFile {
            size: 100,
            ..NewFile::default()
        };
        assert_eq!(start(&base), Start::Beginning);
        let f = NewFile {
            dormant: Some((80, true)),
            ..base
        };
        assert_eq!(start(&f), Start::Dormant(80));
        let f = NewFile {
            dormant: Some((120, true)),
            ..base
        };
        assert_eq!(start(&f), Start::DormantReplaced);
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
            first_run: true,
            start_at: StartAt::End,
            ..base
        };
        assert_eq!(start(&f), Start::End);
    }

    #[test]
    fn copies() {
        let bytes = [b'x'; 100];
        let head = &mut Head::new(&bytes);
        let old = fp(&bytes[..80]);
        let now = Instant::now();
        assert!(same_head(head, &old));
        assert!(
            !same_head(&mut Head::new(&bytes[..40]), &old),
            "too short to tell"
        );
        assert!(!same_head(head, &fp(&bytes[..10])), "original too short");
        let t = Truncation {
            old,
            pos: 90,
            at: now,
        };
        assert!(copy_before(head, &t, now));
        assert!(!copy_before(head, &t, now + COPY_WINDOW));
        assert_eq!(copy_start(head, 100, now, Some(&t)), 90);
        assert_eq!(copy_start(head, 50, now, Some(&t)), 50);
        assert_eq!(copy_start(head, 100, now, None), 0);
        let other = [b'y'; 100];
        assert_eq!(copy_start(&mut Head::new(&other), 100, now, Some(&t)), 0);
        assert_eq!(copy_start(head, 100, now + COPY_WINDOW, Some(&t)), 0);
        let w = Duration::from_secs(5);
        assert_eq!(hold_until(true, now, w), now + w);
        assert_eq!(hold_until(false, now, w), now + SHORT_HOLD);
    }
}
