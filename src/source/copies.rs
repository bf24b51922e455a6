//! Copies (copytruncate). logrotate copies the file, then truncates it; the lines between our
//! last read and the truncation exist only in the copy. When a truncation is seen, the copy is
//! looked for at once: among the held files, then in the original's directory (so a copy the
//! globs do not match, `app.log-20261127` for `app.log`, is found too), and read from the
//! original's delivered position before the truncation. A matched copy seen before the
//! truncation is held ([`super::files::PendingCopy`]) until then, or until quiet (then it is
//! just another file, read from 0). New files shorter than 64 bytes are held at most 250 ms to
//! tell (a copy may be in progress). The rules are in [`super::decide`].

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Instant, SystemTime};

use super::decide::{self, State, Truncation};
use super::fds::{self, Fd};
use super::files::PendingCopy;
use super::fingerprint::{
    file_id, fingerprint_of, is_compressed, read_head, FileId, Head, HEAD_MAX,
};
use super::read::resume_mid_line;
use super::split::Splitter;
use super::tailer::Tailer;
use super::{FileInfo, TailEvent, TailSink};

/// A copy as found: its first bytes and where its original stood.
pub(super) struct CopyMatch {
    /// The original.
    pub of: FileId,
    /// Made before a truncation already seen: start here.
    pub at: Option<u64>,
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
        let mut buf = [0u8; HEAD_MAX];
        for oid in written {
            if oid == id {
                continue;
            }
            let Some(file) = self.table.files.get(&oid).and_then(|o| o.file.as_deref()) else {
                continue;
            };
            let n = read_head(file, HEAD_MAX, &mut buf).unwrap_or(0);
            if decide::same_head(head.bytes(), &buf[..n]) {
                return Some(CopyMatch { of: oid, at: None });
            }
        }
        None
    }

    /// Decide where held files start: a file too short to tell is released as soon as it is long
    /// enough and not a copy, or once quiet; a copy is released once quiet (or as soon as its
    /// original's truncation is seen, by [`Tailer::recover_copy`]).
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
            let size = c.file.metadata().map(|m| m.len()).unwrap_or(c.size);
            if size != c.size {
                c.size = size;
                c.changed = now;
            }
            if c.of.is_none() && size >= decide::MIN_COPY_HEAD as u64 {
                let mut buf = [0u8; HEAD_MAX];
                let m = read_head(&c.file, HEAD_MAX, &mut buf)
                    .ok()
                    .and_then(|n| self.copy_of(&mut Head::new(&buf[..n]), id));
                match m {
                    Some(m) if m.at.is_none() => {
                        if let Some(c) = self.table.copies.get_mut(&id) {
                            c.of = Some(m.of);
                        }
                    }
                    // A copy whose truncation was seen: start it now.
                    Some(_) => {
                        self.release(id, sink);
                        continue;
                    }
                    // Not a copy: a matched file is read like any other, an unmatched one let go.
                    None => {
                        if self.table.copies.get(&id).is_some_and(|c| c.matched) {
                            self.release(id, sink);
                        } else {
                            self.table.copies.remove(&id);
                        }
                        continue;
                    }
                }
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

    /// Start following a held file (see [`super::files::PendingCopy`]), at the original's
    /// position before a truncation the copy predates, else at 0.
    pub(super) fn release(&mut self, id: FileId, sink: &mut dyn TailSink) {
        let Some(c) = self.table.copies.get(&id) else {
            return;
        };
        let mut buf = [0u8; HEAD_MAX];
        let n = read_head(&c.file, HEAD_MAX, &mut buf).unwrap_or(0);
        let of =
            c.of.or_else(|| self.copy_of(&mut Head::new(&buf[..n]), id).map(|m| m.of));
        // Its original may have been truncated since we last looked (logrotate truncates, then
        // compresses and deletes the copy, all at once): look first. That look may find this
        // copy and release it.
        if let Some(of) = of {
            let head = &mut Head::new(&buf[..n]);
            let now = Instant::now();
            let known = self.table.files.get(&of).is_some_and(|o| {
                o.truncations
                    .iter()
                    .any(|t| decide::copy_before(head, t, now))
            });
            if !known {
                self.read(of, sink);
            }
        }
        let Some(c) = self.table.copies.remove(&id) else {
            return;
        };
        let Ok(md) = c.file.metadata() else { return };
        let n = read_head(&c.file, HEAD_MAX, &mut buf).unwrap_or(0);
        let head = &mut Head::new(&buf[..n]);
        let truncations = of
            .and_then(|of| self.table.files.get(&of))
            .map(|o| o.truncations.as_slice())
            .unwrap_or_default();
        let state = if c.matched {
            State::Active
        } else {
            State::Copy
        };
        match (decide::copy_start(head, md.len(), c.found, truncations), of) {
            (Some(offset), _) => self.start_copy(c.file, &c.path, offset, state, sink),
            // A copy never followed by a truncation holds only lines its original holds too:
            // followed from its end (`cp app.log app.log.bak`).
            (None, Some(_)) if c.matched => self.start_copy(c.file, &c.path, md.len(), state, sink),
            (None, None) if c.matched => self.start_copy(c.file, &c.path, 0, state, sink),
            // Unmatched and not the copy of a truncated file: not ours.
            (None, _) => {}
        }
    }

    /// Files created next to a followed file under a name logrotate gives its copies, that the
    /// globs do not match: open them at once (with `compress`, the copy is deleted a moment
    /// after the truncation) and hold them until a truncation tells whether they are a copy.
    pub(super) fn open_created_others(&mut self, sink: &mut dyn TailSink) {
        for path in std::mem::take(&mut self.wake.created_other) {
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let next_to_followed = self.table.files.values().any(|f| {
                f.orig_path.parent() == Some(dir)
                    && f.orig_path
                        .file_name()
                        .is_some_and(|o| decide::copy_name(name.as_bytes(), o.as_bytes()))
            });
            if !next_to_followed {
                continue;
            }
            self.make_room();
            let Ok(file) = fds::open(&path) else {
                continue;
            };
            let file = Fd::new(file);
            let Ok(md) = file.metadata() else { continue };
            let id = file_id(&md);
            if !md.is_file() || self.table.knows(&id) {
                continue;
            }
            let mut buf = [0u8; HEAD_MAX];
            let n = read_head(&file, HEAD_MAX, &mut buf).unwrap_or(0);
            if is_compressed(&buf[..n]) {
                continue;
            }
            let m = self.copy_of(&mut Head::new(&buf[..n]), id);
            if let Some(CopyMatch { at: Some(at), .. }) = m {
                self.start_copy(file, &path, at.min(md.len()), State::Copy, sink);
                continue;
            }
            if m.is_none() && n >= decide::MIN_COPY_HEAD {
                continue; // not a copy
            }
            let now = Instant::now();
            self.table.copies.insert(
                id,
                PendingCopy {
                    file,
                    path,
                    of: m.map(|m| m.of),
                    matched: false,
                    found: now,
                    size: md.len(),
                    changed: now,
                },
            );
        }
    }

    /// A truncation `t` of followed file `id` was just seen: find the copy made before it and
    /// read what it holds beyond what we delivered.
    pub(super) fn recover_copy(&mut self, id: FileId, t: &Truncation, sink: &mut dyn TailSink) {
        let now = Instant::now();
        let held: Vec<FileId> = self.table.copies.keys().copied().collect();
        for cid in held {
            let Some(c) = self.table.copies.get_mut(&cid) else {
                continue;
            };
            let mut buf = [0u8; HEAD_MAX];
            let n = read_head(&c.file, HEAD_MAX, &mut buf).unwrap_or(0);
            if decide::copy_before(&mut Head::new(&buf[..n]), t, now) {
                c.of = Some(id);
                self.release(cid, sink);
                return;
            }
        }
        let Some(dir) = self
            .table
            .files
            .get(&id)
            .and_then(|f| f.orig_path.parent().map(Path::to_path_buf))
        else {
            return;
        };
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        let recent = |md: &fs::Metadata| {
            md.modified().is_ok_and(|m| {
                SystemTime::now()
                    .duration_since(m)
                    .map_or(true, |age| age < decide::COPY_WINDOW)
            })
        };
        for e in entries.flatten() {
            let Ok(md) = e.metadata() else { continue };
            let cid = (md.dev(), md.ino());
            if !md.is_file()
                || md.len() < decide::MIN_COPY_HEAD as u64
                || !recent(&md)
                || self.table.knows(&cid)
            {
                continue;
            }
            let path = e.path();
            self.make_room();
            let Ok(file) = fds::open(&path) else {
                continue;
            };
            let file = Fd::new(file);
            let mut buf = [0u8; HEAD_MAX];
            let n = read_head(&file, HEAD_MAX, &mut buf).unwrap_or(0);
            if !decide::copy_before(&mut Head::new(&buf[..n]), t, now) {
                continue;
            }
            // Matched by the globs: followed like any file from now on; otherwise read to its
            // end and let go.
            let state = if self.patterns.matches(&path) {
                State::Active
            } else {
                State::Copy
            };
            tracing::debug!(copy = %path.display(), offset = t.pos, "copy of a truncated file");
            self.start_copy(file, &path, t.pos.min(md.len()), state, sink);
            return;
        }
    }

    /// Follow copy `file` (at `path`) from `offset` and read it at once.
    fn start_copy(
        &mut self,
        file: Fd,
        path: &Path,
        mut offset: u64,
        state: State,
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
        sink.event(TailEvent::Opened {
            file: info.clone(),
            offset,
        });
        self.insert(file, info, &md, offset, split, state);
        self.reindex();
        self.read(id, sink);
    }
}
