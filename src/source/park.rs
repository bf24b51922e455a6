//! Staying within the descriptor budget ([`super::fds`]): idle files are *parked* (their
//! descriptor closed; identity, offset and partial line kept) and reopened by identity (device
//! + inode, looked up at their path, else in their directory) when they must be read.

use std::fs;
use std::os::unix::fs::DirEntryExt;
use std::time::Instant;

use super::decide::State;
use super::fds::{self, Fd};
use super::fingerprint::{file_id, FileId};
use super::tailer::Tailer;
use super::{TailEvent, TailSink};

impl Tailer {
    /// Before opening a file: if the budget is used up, park this source's idle files, the
    /// longest idle first, down to 7/8 of the budget, then its held files. Files being drained
    /// are never parked (their bytes may have no name left). True if there is room: if not,
    /// what was to be opened waits for a later look.
    pub(super) fn make_room(&mut self) -> bool {
        if !fds::over_budget() {
            return true;
        }
        let target = fds::max_open_files() * 7 / 8;
        let mut idle: Vec<(Instant, FileId)> = self
            .table
            .files
            .iter()
            .filter(|(_, f)| f.file.is_some() && f.state == State::Active)
            .map(|(id, f)| (f.last_growth, *id))
            .collect();
        idle.sort_unstable();
        for (_, id) in idle {
            if fds::open_now() <= target {
                break;
            }
            if let Some(f) = self.table.files.get_mut(&id) {
                // Reads after write events do not `fstat`: take the size and mtime now, so that
                // the poll reopens it only if it changed while parked.
                if let Some(md) = f.file.as_deref().and_then(|fd| fd.metadata().ok()) {
                    f.seen = Some((md.len(), md.modified().ok()));
                }
                f.file = None;
            }
        }
        self.park_held()
    }

    /// Reopen a parked file by identity. False if it cannot be found (deleted, or moved out
    /// of its directory).
    pub(super) fn unpark(&mut self, id: FileId) -> bool {
        let Some(f) = self.table.files.get(&id) else {
            return false;
        };
        if f.file.is_some() {
            return true;
        }
        let candidates = [f.info.path.clone(), f.orig_path.clone()];
        let dir = f.orig_path.parent().map(std::path::Path::to_path_buf);
        if !self.make_room() {
            self.deferred = true;
            return false;
        }
        let reopen = |p: &std::path::Path| {
            fds::open(p)
                .ok()
                .filter(|file| file.metadata().is_ok_and(|md| file_id(&md) == id))
        };
        let mut found = candidates.iter().find_map(|p| reopen(p));
        // Not at its paths (a rename): look for it in its directory, which costs more.
        if found.is_none() {
            if let Some(entries) = dir.and_then(|d| fs::read_dir(d).ok()) {
                found = entries
                    .flatten()
                    .filter(|e| e.ino() == id.1)
                    .find_map(|e| reopen(&e.path()));
            }
        }
        match (found, self.table.files.get_mut(&id)) {
            (Some(file), Some(f)) => {
                f.file = Some(Fd::new(file));
                true
            }
            _ => false,
        }
    }

    /// On a scan: parked files whose path no longer leads to them are reopened where they
    /// are now (the usual rotation rules then apply), or let go if they are gone.
    pub(super) fn check_parked(&mut self, sink: &mut dyn TailSink) {
        let moved: Vec<FileId> = self
            .table
            .files
            .iter()
            .filter(|(id, f)| {
                f.file.is_none() && !fs::metadata(&f.orig_path).is_ok_and(|m| file_id(&m) == **id)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in moved {
            if self.unpark(id) {
                continue;
            }
            if let Some(f) = self.table.files.remove(&id) {
                tracing::debug!(path = %f.info.path.display(), "parked file gone");
                self.table.let_go(id, f.info.clone(), f.read_pos);
                sink.event(TailEvent::Closed { file: f.info });
            }
        }
        self.reindex();
    }
}
