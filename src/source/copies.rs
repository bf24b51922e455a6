//! Held files: is a new file a copy of a followed one (`copytruncate`), or a new file that only
//! starts alike (a banner, a CSV header, IIS W3C headers)? Equal first bytes only make it a
//! *possible* copy, held unread ([`super::files::PendingCopy`], reported as
//! [`TailEvent::Held`]). It is looked at again whenever it grows:
//! - its original's truncation is seen, and it holds the original's old first bytes (all of
//!   them): a copy, read from the original's delivered position before the truncation;
//! - its bytes differ from what its original holds at the same offsets, and the original was
//!   not truncated: a new file, read from 0;
//! - it keeps its original's bytes and no truncation comes for `COPY_WINDOW` after it went
//!   quiet: a plain copy (`cp app.log app.log.bak`), followed from its end
//!   ([`TailEvent::Skipped`]).
//!
//! New files shorter than 64 bytes are held at most 250 ms to tell (a copy may be in
//! progress). Held files count in the descriptor budget: past it they are parked like idle
//! followed files. Finding the copy when a truncation is seen is [`super::recover`]; the rules
//! are in [`super::decide`].

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use super::decide::{self, State};
use super::fds::{self, Fd};
use super::files::PendingCopy;
use super::fingerprint::{
    file_id, fingerprint_of, is_compressed, read_head, FileId, Head, HeadBytes, HEAD_MAX,
};
use super::read::resume_mid_line;
use super::split::Splitter;
use super::tailer::Tailer;
use super::{FileInfo, TailEvent, TailSink};

/// A held file's first bytes compared with its original's, at most (bytes).
const VERIFY_HEAD: u64 = 64 * 1024;
/// And its last bytes.
const VERIFY_TAIL: u64 = 4 * 1024;

/// A copy as found: its first bytes and where its original stood.
pub(super) struct CopyMatch {
    /// The original.
    pub of: FileId,
    /// Made before a truncation already seen: start here.
    pub at: Option<u64>,
}

/// Are the first `size` bytes of `a` those of `b` at the same offsets (looked at: the first
/// [`VERIFY_HEAD`] and the last [`VERIFY_TAIL`] bytes)? `b` shorter than `size`: no.
pub(super) fn same_bytes(a: &File, b: &File, size: u64) -> io::Result<bool> {
    let head_end = size.min(VERIFY_HEAD);
    let tail_start = size.saturating_sub(VERIFY_TAIL).max(head_end);
    for (from, to) in [(0, head_end), (tail_start, size)] {
        let mut pos = from;
        let (mut x, mut y) = ([0u8; 4096], [0u8; 4096]);
        while pos < to {
            let want = ((to - pos) as usize).min(x.len());
            let n = read_full_at(a, &mut x[..want], pos)?;
            if n < want {
                return Ok(false); // shrank since: not what was held
            }
            let m = read_full_at(b, &mut y[..want], pos)?;
            if m < want || x[..want] != y[..want] {
                return Ok(false);
            }
            pos += want as u64;
        }
    }
    Ok(true)
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

impl Tailer {
    /// The followed file a new file with first bytes `head` looks like a copy of: same head
    /// (another inode), or the head it had before a recent truncation (then `at` is set).
    pub(super) fn copy_of(&mut self, head: &mut Head<'_>, id: FileId) -> Option<CopyMatch> {
        if head.bytes().len() < decide::MIN_COPY_HEAD {
            return None;
        }
        let found = self.copy_of_known(head, id);
        if found.is_some() {
            return found;
        }
        self.copy_of_changed(head, id)
    }

    /// [`Tailer::copy_of`] by what we know of the followed files.
    fn copy_of_known(&self, head: &mut Head<'_>, id: FileId) -> Option<CopyMatch> {
        let now = Instant::now();
        for (oid, o) in &self.table.files {
            if *oid == id {
                continue;
            }
            if o.truncations
                .iter()
                .any(|t| decide::copy_before(head, t, now))
            {
                return Some(CopyMatch {
                    of: *oid,
                    at: decide::copy_start(head, u64::MAX, now, &o.truncations),
                });
            }
            if decide::same_head(head.bytes(), o.head.as_slice()) {
                return Some(CopyMatch { of: *oid, at: None });
            }
            // A young original (truncated or created since we last read it) may already hold
            // what was copied: compare with what it holds now too.
            if let Some(file) = o
                .file
                .as_deref()
                .filter(|_| o.head.as_slice().len() < HEAD_MAX)
            {
                let mut buf = [0u8; HEAD_MAX];
                let n = read_head(file, HEAD_MAX, &mut buf).unwrap_or(0);
                if decide::same_head(head.bytes(), &buf[..n]) {
                    return Some(CopyMatch { of: *oid, at: None });
                }
            }
        }
        None
    }

    /// [`Tailer::copy_of`] by what the followed files hold now, for those written to since we
    /// last read them: one truncated and written again, then copied (logrotate's second
    /// `copytruncate` before we saw the first), has a head we do not know yet. The copy is held
    /// until that truncation is seen. Without trusted events, every followed file is looked at.
    fn copy_of_changed(&mut self, head: &mut Head<'_>, id: FileId) -> Option<CopyMatch> {
        // The truncation came before the copy: its write event is queued by now.
        self.take_writes();
        let mut written: Vec<FileId> = if self.events_cover {
            self.wake
                .dirty
                .iter()
                .chain(&self.reading)
                .copied()
                .collect()
        } else {
            self.table.files.keys().copied().collect()
        };
        written.sort_unstable();
        written.dedup();
        // A file whose first bytes are still those we know was compared by `copy_of_known`.
        for oid in written {
            let Some(o) = self.table.files.get(&oid) else {
                continue;
            };
            let Some(file) = o.file.as_deref() else {
                continue;
            };
            let now = || {
                let mut buf = [0u8; HEAD_MAX];
                let n = read_head(file, HEAD_MAX, &mut buf).ok()?;
                Some(HeadBytes::new(&buf[..n]))
            };
            self.heads.look(oid, now, o.head.as_slice());
        }
        self.heads
            .changed()
            .iter()
            .find(|(oid, h)| *oid != id && decide::same_head(head.bytes(), h.as_slice()))
            .map(|(oid, _)| CopyMatch { of: *oid, at: None })
    }

    /// Hold `file` (with metadata `md`, found at `path`) as a possible copy of `of` (`None`:
    /// too short yet to tell).
    pub(super) fn hold(
        &mut self,
        file: Fd,
        md: &Metadata,
        path: &Path,
        of: Option<FileId>,
        matched: bool,
        sink: &mut dyn TailSink,
    ) {
        let id = file_id(md);
        let c = PendingCopy::new(file, path.to_path_buf(), of, matched, md.len());
        self.table.copies.insert(id, c);
        self.report_hold(id, sink);
    }

    /// Tell the sink (once) that a matched file is held as a possible copy.
    fn report_hold(&mut self, id: FileId, sink: &mut dyn TailSink) {
        let Some(c) = self.table.copies.get_mut(&id) else {
            return;
        };
        let Some(of) = c.of.and_then(|o| self.table.files.get(&o)) else {
            return;
        };
        if c.reported || !c.matched {
            return;
        }
        c.reported = true;
        tracing::debug!(path = %c.path.display(), of = %of.info.path.display(), "held: starts like a followed file");
        sink.event(TailEvent::Held {
            path: c.path.clone(),
            of: of.info.path.clone(),
        });
    }

    /// Decide where held files start: each is looked at again when it grows ([`Tailer::judge`]);
    /// a copy is released once quiet (or as soon as its original's truncation is seen, by
    /// [`Tailer::recover_copy`]), a file too short to tell after a short while.
    pub(super) fn resolve_copies(&mut self, sink: &mut dyn TailSink, at: &mut dyn FnMut(Instant)) {
        let now = Instant::now();
        let mut wait = self.opts.rotate_wait;
        if self.opts.force_poll || self.watch.failed {
            wait = wait.max(self.opts.poll_interval * 2);
        }
        let ids: Vec<FileId> = self.table.copies.keys().copied().collect();
        for id in ids {
            let Some(c) = self.table.copies.get_mut(&id) else {
                continue;
            };
            // Parked and written to since: open it again to look.
            if c.file.is_none() && c.looked.is_none() && !self.unpark_held(id) {
                continue;
            }
            let Some(c) = self.table.copies.get_mut(&id) else {
                continue;
            };
            if let Some(md) = c.file.as_deref().and_then(|f| f.metadata().ok()) {
                if md.len() != c.size {
                    c.size = md.len();
                    c.changed = now;
                }
            }
            if c.file.is_some() && c.looked != Some(c.size) {
                c.looked = Some(c.size);
                self.judge(id, sink);
            }
            let Some(c) = self.table.copies.get(&id) else {
                continue;
            };
            let due = decide::hold_until(c.of.is_some(), c.changed, wait);
            if now >= due {
                self.release(id, sink);
            } else {
                at(due);
            }
        }
    }

    /// Look at held file `id` again: released if it is the copy of a truncation already seen,
    /// or if it is not a copy (first bytes or later bytes differ from its original's);
    /// otherwise still held, now with its original known.
    fn judge(&mut self, id: FileId, sink: &mut dyn TailSink) {
        let Some(file) = self.table.copies.get(&id).and_then(|c| c.file.as_deref()) else {
            return;
        };
        let mut buf = [0u8; HEAD_MAX];
        let Ok(n) = read_head(file, HEAD_MAX, &mut buf) else {
            return;
        };
        if n < decide::MIN_COPY_HEAD {
            return; // too short to tell (released after a short hold)
        }
        match self.copy_of(&mut Head::new(&buf[..n]), id) {
            Some(CopyMatch { at: Some(_), .. }) => self.release(id, sink),
            Some(CopyMatch { of, at: None }) => {
                if let Some(c) = self.table.copies.get_mut(&id) {
                    c.of = Some(of);
                }
                self.report_hold(id, sink);
                if self.differs(id, of, sink) {
                    self.release(id, sink);
                }
            }
            // Not a copy: a matched file is read like any other, an unmatched one let go.
            None => {
                if let Some(c) = self.table.copies.get_mut(&id) {
                    c.diverged = true;
                }
                self.release(id, sink);
            }
        }
    }

    /// Does held file `id` hold bytes its original `of` does not (at the same offsets), while
    /// `of` was not truncated? Then it is a new file (marked so). `of` is looked at first, and
    /// again before answering yes: a copy of a truncated original differs from what the
    /// original holds now, and is released by that truncation instead.
    fn differs(&mut self, id: FileId, of: FileId, sink: &mut dyn TailSink) -> bool {
        self.read(of, sink);
        if !self.table.copies.contains_key(&id) || !self.unpark(of) {
            return false; // released as a copy, or cannot tell
        }
        let (Some(c), Some(o)) = (self.table.copies.get(&id), self.table.files.get(&of)) else {
            return false;
        };
        let (Some(a), Some(b)) = (c.file.as_deref(), o.file.as_deref()) else {
            return false;
        };
        if same_bytes(a, b, c.size).unwrap_or(true) {
            return false;
        }
        self.read(of, sink);
        match self.table.copies.get_mut(&id) {
            Some(c) => {
                c.diverged = true;
                true
            }
            None => false,
        }
    }

    /// Before opening a file: park held files (oldest first) if the budget is still used up
    /// once idle followed files are parked. True if there is room.
    pub(super) fn park_held(&mut self) -> bool {
        if !fds::over_budget() {
            return true;
        }
        let target = fds::max_open_files() * 7 / 8;
        let mut held: Vec<(Instant, FileId)> = self
            .table
            .copies
            .iter()
            .filter(|(_, c)| c.file.is_some())
            .map(|(id, c)| (c.found, *id))
            .collect();
        held.sort_unstable();
        for (_, id) in held {
            if fds::open_now() <= target {
                break;
            }
            if let Some(c) = self.table.copies.get_mut(&id) {
                // Looked at again when written to (an event, or a scan that finds it grown).
                if let Some(md) = c.file.as_deref().and_then(|f| f.metadata().ok()) {
                    if md.len() != c.size {
                        c.size = md.len();
                        c.changed = Instant::now();
                    }
                }
                if c.looked != Some(c.size) {
                    c.looked = None;
                }
                c.file = None;
            }
        }
        !fds::over_budget()
    }

    /// Held files written to (by event paths): look at them again.
    pub(super) fn look_at_held(&mut self, written: &[std::path::PathBuf]) {
        if self.table.copies.is_empty() || written.is_empty() {
            return;
        }
        let by_path: std::collections::HashMap<&Path, FileId> = self
            .table
            .copies
            .iter()
            .map(|(id, c)| (c.path.as_path(), *id))
            .collect();
        let ids: Vec<FileId> = written
            .iter()
            .filter_map(|p| by_path.get(p.as_path()).copied())
            .collect();
        for id in ids {
            if let Some(c) = self.table.copies.get_mut(&id) {
                c.looked = None;
            }
        }
    }

    /// Reopen a parked held file at its path, by identity. False if it is not there any more.
    pub(super) fn unpark_held(&mut self, id: FileId) -> bool {
        let Some(c) = self.table.copies.get(&id) else {
            return false;
        };
        if c.file.is_some() {
            return true;
        }
        let path = c.path.clone();
        if !self.make_room() {
            return false;
        }
        let Ok(file) = fds::open(&path) else {
            return false;
        };
        if !file.metadata().is_ok_and(|md| file_id(&md) == id) {
            return false;
        }
        match self.table.copies.get_mut(&id) {
            Some(c) => {
                c.file = Some(Fd::new(file));
                true
            }
            None => false,
        }
    }

    /// Start following a held file (see [`super::files::PendingCopy`]), at the original's
    /// position before a truncation the copy predates, at 0 if it is a new file, else (a plain
    /// copy) at its end.
    pub(super) fn release(&mut self, id: FileId, sink: &mut dyn TailSink) {
        if !self.unpark_held(id) {
            let there = self
                .table
                .copies
                .get(&id)
                .is_some_and(|c| std::fs::metadata(&c.path).is_ok_and(|md| file_id(&md) == id));
            if !there {
                // Gone: if it is still matched somewhere, a scan finds it and decides again.
                self.table.copies.remove(&id);
            }
            // Else no descriptor to be had now: tried again later.
            return;
        }
        let Some(file) = self.table.copies.get(&id).and_then(|c| c.file.as_deref()) else {
            return;
        };
        let mut buf = [0u8; HEAD_MAX];
        let n = read_head(file, HEAD_MAX, &mut buf).unwrap_or(0);
        let held_of = self.table.copies.get(&id).and_then(|c| c.of);
        let of = held_of.or_else(|| self.copy_of(&mut Head::new(&buf[..n]), id).map(|m| m.of));
        // Its original may have been truncated since we last looked (logrotate truncates, then
        // compresses and deletes the copy, all at once): look first. That look may find this
        // copy and release it. A plain copy is compared with its original once more (it may
        // have grown while parked).
        if let Some(of) = of {
            let head = &mut Head::new(&buf[..n]);
            let now = Instant::now();
            let known = self.table.files.get(&of).is_some_and(|o| {
                o.truncations
                    .iter()
                    .any(|t| decide::copy_before(head, t, now))
            });
            let looked = self
                .table
                .copies
                .get(&id)
                .is_some_and(|c| c.diverged || c.looked == Some(c.size));
            if known {
                // The copy of a truncation being handled now: nothing to look at.
            } else if !looked {
                self.differs(id, of, sink);
            } else {
                self.read(of, sink);
            }
        }
        let Some(c) = self.table.copies.remove(&id) else {
            return;
        };
        let Some(file) = c.file else { return };
        let Ok(md) = file.metadata() else { return };
        let n = read_head(&file, HEAD_MAX, &mut buf).unwrap_or(0);
        let head = &mut Head::new(&buf[..n]);
        let original = of.and_then(|of| self.table.files.get(&of));
        let truncations = original
            .map(|o| o.truncations.as_slice())
            .unwrap_or_default();
        let of_path = original.map(|o| o.info.path.clone());
        let state = if c.matched {
            State::Active
        } else {
            State::Copy
        };
        match (
            decide::copy_start(head, md.len(), c.found, truncations),
            of_path,
        ) {
            (Some(offset), _) => self.start_copy(file, &c.path, offset, state, None, sink),
            (None, _) if c.diverged && c.matched => {
                self.start_copy(file, &c.path, 0, state, None, sink)
            }
            // A copy never followed by a truncation holds only lines its original holds too:
            // followed from its end (`cp app.log app.log.bak`).
            (None, Some(of)) if c.matched => {
                self.start_copy(file, &c.path, md.len(), state, Some(of), sink)
            }
            (None, None) if c.matched => self.start_copy(file, &c.path, 0, state, None, sink),
            // Unmatched and not the copy of a truncated file: not ours.
            (None, _) => {}
        }
    }

    /// Follow copy `file` (at `path`) from `offset` and read it at once. `same_as`: a plain
    /// copy of that followed file, whose first `offset` bytes are skipped as its own.
    pub(super) fn start_copy(
        &mut self,
        file: Fd,
        path: &Path,
        mut offset: u64,
        state: State,
        same_as: Option<std::path::PathBuf>,
        sink: &mut dyn TailSink,
    ) {
        let Ok(md) = file.metadata() else { return };
        let id = file_id(&md);
        let mut buf = [0u8; HEAD_MAX];
        let Ok(n) = read_head(&file, HEAD_MAX, &mut buf) else {
            return;
        };
        if is_compressed(&buf[..n]) {
            self.table.ignored.insert(id, path.to_path_buf());
            return;
        }
        let mut split = Splitter::new(self.opts.max_line_bytes);
        if resume_mid_line(&file, offset, self.opts.max_line_bytes, &mut split).is_err() {
            offset = 0;
            split = Splitter::new(self.opts.max_line_bytes);
        }
        let info = FileInfo {
            path: path.to_path_buf(),
            fingerprint: fingerprint_of(&md, &buf[..n]),
        };
        if let Some(of) = same_as.filter(|_| offset > 0) {
            sink.event(TailEvent::Skipped {
                file: info.clone(),
                of,
                bytes: offset,
            });
        }
        sink.event(TailEvent::Opened {
            file: info.clone(),
            offset,
        });
        self.insert(file, info, &md, offset, split, state);
        self.reindex();
        self.read(id, sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_holds_its_originals_bytes() {
        let d = tempfile::tempdir().expect("tempdir");
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let body: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        std::fs::write(&a, &body).expect("write");
        std::fs::write(&b, &body[..150_000]).expect("write");
        let (fa, fb) = (File::open(&a).expect("open"), File::open(&b).expect("open"));
        // A copy (shorter: the original grew since) holds the original's bytes.
        assert!(same_bytes(&fb, &fa, 150_000).expect("read"));
        // The original is longer than the held size: not a copy of it.
        assert!(!same_bytes(&fa, &fb, body.len() as u64).expect("read"));
        // Same start, then other lines: a new file.
        let mut other = body[..100].to_vec();
        other.extend_from_slice(b"another line\n");
        std::fs::write(&b, &other).expect("write");
        let fb = File::open(&b).expect("open");
        assert!(!same_bytes(&fb, &fa, other.len() as u64).expect("read"));
        // Differing only near its end (past the first 64 KiB): told by its last bytes.
        let mut late = body[..100_000].to_vec();
        late[99_990] = b'x';
        std::fs::write(&b, &late).expect("write");
        let fb = File::open(&b).expect("open");
        assert!(!same_bytes(&fb, &fa, late.len() as u64).expect("read"));
    }
}
