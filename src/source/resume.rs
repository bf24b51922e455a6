//! Resume: matching the checkpoints of the last run to the files found now, by inode and head,
//! by head alone (a copy made while we were down), or by inode next to the old path (rotated
//! out of the globs while we were down).

use std::os::unix::ffi::OsStrExt;

use super::compressed::has_head;
use super::decide::{self, State};
use super::fds::{self, Fd};
use super::fingerprint::{file_id, fingerprint, head_matches, is_compressed, FileId, Head};
use super::read::resume_mid_line;
use super::split::Splitter;
use super::tailer::Tailer;
use super::{Checkpoint, FileInfo, TailEvent, TailSink};

impl Tailer {
    /// Index of the unused checkpoint whose identity (dev, inode, head hash) is this file's.
    pub(super) fn checkpoint_for(&self, id: FileId, head: &mut Head<'_>) -> Option<usize> {
        self.resume.iter().position(|cp| {
            (cp.fingerprint.dev, cp.fingerprint.ino) == id && head.starts_with(&cp.fingerprint)
        })
    }

    /// An unused checkpoint whose head this file has, while the checkpointed inode is not (or no
    /// longer with that head) among the matches.
    pub(super) fn checkpoint_by_content(&self, head: &mut Head<'_>) -> Option<usize> {
        if self.first_run || self.scanned_once {
            return None;
        }
        // Files whose inode has a checkpoint were handled first, so a checkpoint still unused
        // here lost its inode (or the inode's head changed).
        self.resume.iter().position(|cp| {
            let fp = &cp.fingerprint;
            fp.head_len as usize >= decide::MIN_COPY_HEAD && head.starts_with(fp)
        })
    }

    /// After the first scan: a checkpointed file that no longer matches the globs may have been
    /// rotated out while the agent was down (`access.log` → `access.log.1` with glob `access.log`).
    /// Look for its inode next to its old path and drain it from the checkpoint.
    pub(super) fn find_rotated_while_down(&mut self, sink: &mut dyn TailSink) {
        let pending: Vec<Checkpoint> = std::mem::take(&mut self.resume);
        for cp in pending {
            let id = (cp.fingerprint.dev, cp.fingerprint.ino);
            let Some(dir) = cp.path.parent() else {
                self.resume.push(cp);
                continue;
            };
            let found = self
                .listings
                .of(dir)
                .iter()
                .find(|l| l.id == id)
                .map(|l| (l.path.clone(), l.gz_head.is_some_and(|h| has_head(&h, &cp))));
            let Some((path, gz)) = found else {
                // Gone: rotated and compressed (then deleted) while we were down?
                if !self.recover_compressed(&cp, false, sink) {
                    self.resume.push(cp);
                }
                continue;
            };
            self.make_room();
            let Ok(file) = fds::open(&path) else {
                self.resume.push(cp);
                continue;
            };
            // A compressed file we were reading when we stopped (its checkpoint holds its
            // decompressed first bytes).
            if gz && file.metadata().is_ok_and(|md| file_id(&md) == id) {
                self.read_compressed(Fd::new(file), &path, cp.offset, false, sink);
                continue;
            }
            let ok = file.metadata().is_ok_and(|md| {
                file_id(&md) == id
                    && md.len() >= cp.offset
                    && head_matches(&file, &cp.fingerprint).unwrap_or(false)
            });
            if !ok || self.table.files.contains_key(&id) {
                self.resume.push(cp);
                continue;
            }
            let Ok(md) = file.metadata() else { continue };
            let Ok(fp) = fingerprint(&file, &md) else {
                continue;
            };
            let mut split = Splitter::new(self.opts.max_line_bytes);
            if resume_mid_line(&file, cp.offset, self.opts.max_line_bytes, &mut split).is_err() {
                continue;
            }
            let info = FileInfo {
                path: path.clone(),
                fingerprint: fp,
            };
            sink.event(TailEvent::Opened {
                file: info.clone(),
                offset: cp.offset,
            });
            // Found under its own name but unmatched: a copy being read when we stopped.
            let state = if path == cp.path && !self.patterns.matches(&path) {
                State::Copy
            } else {
                sink.event(TailEvent::Rotated { file: info.clone() });
                State::Rotated
            };
            self.insert(Fd::new(file), info, &md, cp.offset, split, state);
            if let Some(f) = self.table.files.get_mut(&id) {
                f.orig_path = cp.path.clone();
            }
        }
    }

    /// Restart: checkpoint `cp` names file `orig`, truncated while we were down
    /// (`copytruncate`). Its bytes past the checkpoint are in the copy logrotate made, if any:
    /// a file of the same directory, not followed, at least `cp.offset` long, starting with the
    /// checkpointed first bytes (at least 64 of them, or fewer under a name logrotate gives
    /// copies), matched by the globs or not, or that copy compressed. It is read from
    /// `cp.offset` (the newest, if several). Call before the truncation is reported, so that
    /// the copy's checkpoint is recorded first. True if one was found.
    pub(super) fn recover_checkpoint_copy(
        &mut self,
        cp: &Checkpoint,
        orig: FileId,
        sink: &mut dyn TailSink,
    ) -> bool {
        let fp = cp.fingerprint;
        let (Some(dir), Some(orig_name)) = (cp.path.parent(), cp.path.file_name()) else {
            return false;
        };
        if fp.head_len == 0 || cp.offset == 0 {
            return false; // nothing was read from it
        }
        let short = (fp.head_len as usize) < decide::MIN_COPY_HEAD;
        let followed = &self.table.files;
        let best = self
            .listings
            .of(dir)
            .iter()
            .filter(|l| {
                l.id != orig
                    && l.len >= cp.offset
                    && l.gz_head.is_none()
                    && !is_compressed(l.head.as_slice())
                    && Head::new(l.head.as_slice()).starts_with(&fp)
                    && !followed.contains_key(&l.id)
                    && (!short
                        || l.path
                            .file_name()
                            .is_some_and(|n| decide::copy_name(n.as_bytes(), orig_name.as_bytes())))
            })
            .max_by_key(|l| l.mtime)
            .map(|l| (l.path.clone(), l.id));
        let Some((path, id)) = best else {
            return self.recover_compressed(cp, true, sink);
        };
        let Ok(file) = fds::open(&path) else {
            return false;
        };
        let Some(len) = file
            .metadata()
            .ok()
            .filter(|md| file_id(md) == id)
            .map(|md| md.len())
        else {
            return false;
        };
        // The copy may have a checkpoint of its own: it was found and read (past the
        // original's checkpoint) before we stopped. What it says was delivered from it was
        // delivered; the original's position alone would read that again.
        let mut offset = cp.offset;
        let own = self.resume.iter().position(|c| {
            (c.fingerprint.dev, c.fingerprint.ino) == id
                && head_matches(&file, &c.fingerprint).unwrap_or(false)
        });
        if let Some(i) = own {
            offset = offset.max(self.resume.swap_remove(i).offset.min(len));
        }
        let state = if self.patterns.matches(&path) {
            State::Active
        } else {
            State::Copy
        };
        tracing::debug!(copy = %path.display(), offset, "copy of a file truncated while down");
        self.start_copy(Fd::new(file), &path, offset, state, None, sink);
        true
    }
}
