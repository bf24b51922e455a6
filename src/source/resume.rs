//! Resume: matching the checkpoints of the last run to the files found now, by inode and head,
//! by head alone (a copy made while we were down), or by inode next to the old path (rotated
//! out of the globs while we were down).

use std::fs;
use std::os::unix::fs::DirEntryExt;

use super::decide::{self, State};
use super::fds::{self, Fd};
use super::fingerprint::{file_id, fingerprint, head_matches, FileId, Head};
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
            let Ok(entries) = fs::read_dir(dir) else {
                self.resume.push(cp);
                continue;
            };
            let found = entries
                .flatten()
                .find(|e| e.ino() == cp.fingerprint.ino)
                .map(|e| e.path());
            let Some(path) = found else {
                self.resume.push(cp);
                continue;
            };
            self.make_room();
            let Ok(file) = fds::open(&path) else {
                self.resume.push(cp);
                continue;
            };
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
}
