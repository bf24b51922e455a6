//! Copies (copytruncate): a new file whose first ≥ 64 bytes equal a followed file's is held
//! until it is quiet; if the original was truncated meanwhile it is read from the original's
//! offset before the truncation, otherwise from 0. New files shorter than 64 bytes are held at
//! most 250 ms to tell (a copy may be in progress). See [`super::files::PendingCopy`]; the
//! rules themselves are in [`super::decide`].

use std::time::Instant;

use super::decide;
use super::fingerprint::{file_id, fingerprint_of, read_head, FileId, Head, HEAD_MAX};
use super::read::resume_mid_line;
use super::split::Splitter;
use super::tailer::Tailer;
use super::{decide::State, FileInfo, TailEvent, TailSink};

impl Tailer {
    /// The followed file a new file with first bytes `head` looks like a copy of (same head,
    /// other inode, or the head it had before a recent truncation).
    pub(super) fn copy_of(&self, head: &mut Head<'_>, id: FileId) -> Option<FileId> {
        if head.bytes().len() < decide::MIN_COPY_HEAD {
            return None;
        }
        let now = Instant::now();
        for (oid, o) in &self.table.files {
            if *oid == id {
                continue;
            }
            if decide::same_head(head, &o.info.fingerprint)
                || o.truncated
                    .is_some_and(|t| decide::copy_before(head, &t, now))
            {
                return Some(*oid);
            }
        }
        None
    }

    /// Decide where held files start: a file too short to tell is released as soon as it is long
    /// enough and not a copy, or once quiet; a copy is released once quiet, at the original's
    /// pre-truncation position if the original was truncated meanwhile, else at 0.
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
                let of = read_head(&c.file, HEAD_MAX, &mut buf)
                    .ok()
                    .and_then(|n| self.copy_of(&mut Head::new(&buf[..n]), id));
                match of {
                    Some(of) => {
                        if let Some(c) = self.table.copies.get_mut(&id) {
                            c.of = Some(of);
                        }
                    }
                    None => {
                        self.release(id, sink);
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

    /// Start following a held file (see [`super::files::PendingCopy`]).
    pub(super) fn release(&mut self, id: FileId, sink: &mut dyn TailSink) {
        let Some(c) = self.table.copies.remove(&id) else {
            return;
        };
        let Ok(md) = c.file.metadata() else { return };
        let mut buf = [0u8; HEAD_MAX];
        let Ok(n) = read_head(&c.file, HEAD_MAX, &mut buf) else {
            return;
        };
        let head = &mut Head::new(&buf[..n]);
        let fp = fingerprint_of(&md, head.bytes());
        let truncation =
            c.of.and_then(|of| self.table.files.get(&of))
                .and_then(|o| o.truncated);
        let mut offset = decide::copy_start(head, md.len(), c.found, truncation.as_ref());
        let mut split = Splitter::new(self.opts.max_line_bytes);
        if resume_mid_line(&c.file, offset, self.opts.max_line_bytes, &mut split).is_err() {
            offset = 0;
            split = Splitter::new(self.opts.max_line_bytes);
        }
        let info = FileInfo {
            path: c.path,
            fingerprint: fp,
        };
        sink.event(TailEvent::Opened {
            file: info.clone(),
            offset,
        });
        debug_assert_eq!(file_id(&md), id);
        self.insert(c.file, info, &md, offset, split, State::Active);
        self.table.index_paths();
        self.read(id, sink);
    }
}
