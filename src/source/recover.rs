//! Finding a copy when its original is truncated (`copytruncate`): logrotate copies the file,
//! then truncates it; the lines between our last read and the truncation exist only in the
//! copy. When a truncation is seen, the copy is looked for at once: among the held files, then
//! in the original's directory (so a copy the globs do not match, `app.log-20261127` for
//! `app.log`, is found too), and read from the original's delivered position before the
//! truncation. Copies the globs do not match are opened on their create event and held
//! ([`super::copies`]): with `compress`, logrotate deletes them a moment after the truncation.
//! A copy is told by the original's old first bytes, all of them (up to 256), not by a prefix.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Instant, SystemTime};

use super::copies::CopyMatch;
use super::decide::{self, State, Truncation};
use super::fds::{self, Fd};
use super::fingerprint::{file_id, is_compressed, read_head, FileId, Head, HEAD_MAX};
use super::tailer::Tailer;
use super::TailSink;

impl Tailer {
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
            if !next_to_followed || !self.make_room() {
                continue;
            }
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
                self.start_copy(file, &path, at.min(md.len()), State::Copy, None, sink);
                continue;
            }
            if m.is_none() && n >= decide::MIN_COPY_HEAD {
                continue; // not a copy
            }
            self.hold(file, &md, &path, m.map(|m| m.of), false, sink);
        }
    }

    /// A truncation `t` of followed file `id` was just seen: find the copy made before it and
    /// read what it holds beyond what we delivered.
    pub(super) fn recover_copy(&mut self, id: FileId, t: &Truncation, sink: &mut dyn TailSink) {
        let now = Instant::now();
        let held: Vec<FileId> = self.table.copies.keys().copied().collect();
        for cid in held {
            if !self.unpark_held(cid) {
                continue;
            }
            let Some(c) = self.table.copies.get_mut(&cid) else {
                continue;
            };
            let Some(file) = c.file.as_deref() else {
                continue;
            };
            let mut buf = [0u8; HEAD_MAX];
            let n = read_head(file, HEAD_MAX, &mut buf).unwrap_or(0);
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
            // A copy being recovered may take a descriptor past the budget: it is read to
            // its end and let go.
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
            self.start_copy(file, &path, t.pos.min(md.len()), state, None, sink);
            return;
        }
    }
}
