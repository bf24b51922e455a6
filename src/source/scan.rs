//! Scans: walk the globs ([`super::paths`]), keep the watches in step ([`super::discovery`]),
//! notice rotations and deletions of followed files, and start following new files at the
//! position [`super::decide::start`] chooses.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::decide::{self, NewFile, Start, State, Truncation};
use super::fds::{self, Fd};
use super::files::{Followed, TAIL};
use super::fingerprint::{
    file_id, fingerprint, fingerprint_of, is_compressed, read_head, FileId, Head, HeadBytes,
    HEAD_MAX,
};
use super::paths::Scan;
use super::read::{line_aligned_end, resume_mid_line};
use super::report::{Problem, SCAN_PROBLEMS};
use super::split::Splitter;
use super::tailer::Tailer;
use super::{Checkpoint, FileInfo, TailEvent, TailSink};

impl Tailer {
    /// Watch the directories of `scan`; re-list if new watches were added. Returns the last scan.
    fn watch_scan(&mut self, sink: &mut dyn TailSink) -> Scan {
        let mut scan = self.patterns.scan();
        // A file created in a new directory between its listing and its watch has no event:
        // list again after adding watches (bounded; the poll is the backstop).
        for _ in 0..4 {
            let u = self.watch.update(&scan.dirs);
            for d in &u.watched_now {
                self.errors.clear(d, &[Problem::Watch]);
            }
            for (d, e) in u.dir_errors {
                self.errors.report(
                    sink,
                    &d,
                    Problem::Watch,
                    format!(
                        "cannot watch directory {}: {e}; polling it every {:?}",
                        d.display(),
                        self.opts.poll_interval
                    ),
                );
            }
            if let Some(why) = u.failure {
                self.inotify_unavailable(sink, &why);
            }
            if !u.added {
                break;
            }
            scan = self.patterns.scan();
        }
        self.events_cover = self.watch.covers(&scan.dirs);
        scan
    }

    pub(super) fn rescan(&mut self, sink: &mut dyn TailSink) {
        let scan = self.watch_scan(sink);

        let mut bad = HashSet::new();
        for (p, m) in &scan.errors {
            self.errors.report(
                sink,
                p,
                Problem::List,
                format!("cannot list directory {}: {m}", p.display()),
            );
            bad.insert(p.clone());
        }
        for p in &scan.missing {
            // Not while the file last seen there is being drained (rotation in progress).
            if self.table.files.values().any(|f| f.orig_path == *p) {
                continue;
            }
            // Not there is expected (it may appear); there but unusable is an error that says
            // why (a symlink loop, a directory, no permission), not "waiting for it".
            match fs::metadata(p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => self.errors.report(
                    sink,
                    p,
                    Problem::Open,
                    format!("cannot follow {}: {e}", p.display()),
                ),
                Ok(md) if !md.is_file() => self.errors.report(
                    sink,
                    p,
                    Problem::Open,
                    format!("cannot follow {}: not a regular file", p.display()),
                ),
                _ => self.errors.missing(sink, p),
            }
            bad.insert(p.clone());
        }

        let mut ids: HashMap<FileId, &PathBuf> = HashMap::new();
        for (p, md) in &scan.files {
            let id = file_id(md);
            // Hard links: prefer the name we already follow it under.
            let current = self.table.files.get(&id).is_some_and(|f| f.info.path == *p);
            if current || !ids.contains_key(&id) {
                ids.insert(id, p);
            }
        }
        self.table.matched = ids.keys().copied().collect();
        self.check_parked(sink);
        let matched = &self.table.matched;
        self.table.ignored.retain(|id, _| matched.contains(id));

        // Held files that were renamed away or deleted are followed now (from 0, or from the
        // copy offset), so that the rotation logic below drains them: never drop their lines.
        let gone: Vec<FileId> = self
            .table
            .copies
            .iter()
            .filter(|(id, c)| {
                !fs::metadata(&c.path).is_ok_and(|m| file_id(&m) == **id)
                    || c.file
                        .as_deref()
                        .is_some_and(|f| f.metadata().is_ok_and(|m| m.nlink() == 0))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.release(id, sink);
        }
        // Parked held files the listing finds grown: looked at again.
        for md in scan.files.values() {
            if let Some(c) = self.table.copies.get_mut(&file_id(md)) {
                if c.file.is_none() && md.len() != c.size {
                    c.size = md.len();
                    c.changed = Instant::now();
                    c.looked = None;
                }
            }
        }

        // Followed files: rotation, deletion, new names.
        for (id, f) in self.table.files.iter_mut() {
            let Some(file) = f.file.as_deref() else {
                continue; // parked: see `check_parked`
            };
            let unlinked = file.metadata().is_ok_and(|md| md.nlink() == 0);
            let at_orig = !unlinked
                && f.state != State::Deleted
                && fs::metadata(&f.orig_path).is_ok_and(|m| file_id(&m) == *id);
            let next = decide::next_state(f.state, unlinked, at_orig);
            if (f.state, next) == (State::Active, State::Active) {
                continue;
            }
            // Its current name, if it still matches.
            if let Some(p) = ids.get(id) {
                if **p != f.info.path {
                    f.info.path = (*p).clone();
                }
            }
            match (f.state, next) {
                (State::Active, State::Rotated) => sink.event(TailEvent::Rotated {
                    file: f.info.clone(),
                }),
                (State::Active | State::Rotated, State::Deleted) => {
                    tracing::debug!(path = %f.info.path.display(), "deleted; draining");
                }
                (State::Rotated, State::Active) => f.info.path = f.orig_path.clone(),
                _ => {}
            }
            f.state = next;
        }

        // Dormant files that left the matched set are let go (after a grace: a listing taken
        // while logrotate renames may miss one that only moved).
        let now = Instant::now();
        let mut left = Vec::new();
        for (id, d) in self.table.dormant.iter_mut() {
            match ids.get(id) {
                Some(p) => {
                    if **p != d.info.path {
                        d.info.path = (*p).clone();
                    }
                    d.missed = None;
                }
                None => {
                    let (first, gone) = decide::dormant_missing(d.missed, now);
                    d.missed = Some(first);
                    if gone {
                        left.push(*id);
                    }
                }
            }
        }
        for id in left {
            if let Some(d) = self.table.dormant.remove(&id) {
                self.table.let_go(id, d.info.clone(), d.offset);
                sink.event(TailEvent::Closed { file: d.info });
            }
        }

        // New files.
        let mut new: Vec<(&PathBuf, &Metadata)> = scan
            .files
            .iter()
            .filter(|(_, md)| {
                let id = file_id(md);
                !self.table.files.contains_key(&id) && !self.table.copies.contains_key(&id)
            })
            .collect();
        // Files whose inode has a checkpoint first: they take their checkpoint before any other
        // file is matched to a checkpoint by content.
        let cp_ids: HashSet<FileId> = self
            .resume
            .iter()
            .map(|cp| (cp.fingerprint.dev, cp.fingerprint.ino))
            .collect();
        let has_cp = |md: &Metadata| cp_ids.contains(&file_id(md));
        new.sort_by(|a, b| (!has_cp(a.1), a.0).cmp(&(!has_cp(b.1), b.0)));
        for (path, md) in new {
            let id = file_id(md);
            if let Some(d) = self.table.dormant.get(&id) {
                if md.len() == d.offset {
                    continue;
                }
            }
            if !self.make_room() {
                // No descriptor to be had now (files being drained hold them): a later scan.
                self.deferred = true;
                continue;
            }
            let file = match fds::open(path) {
                Ok(f) => f,
                Err(e) => {
                    let m = format!("cannot open {}: {e}", path.display());
                    self.errors.report(sink, path, Problem::Open, m);
                    bad.insert(path.clone());
                    continue;
                }
            };
            self.errors.clear(path, SCAN_PROBLEMS);
            if let Err(e) = self.follow_new(file, path, sink) {
                let m = format!("cannot read {}: {e}", path.display());
                self.errors.report(sink, path, Problem::Read, m);
                bad.insert(path.clone());
            }
        }

        if !self.scanned_once {
            self.scanned_once = true;
            self.find_rotated_while_down(sink);
        }
        self.follow_renamed_away(&scan.files, sink);

        for p in self.scan_bad.difference(&bad) {
            self.errors.clear(p, SCAN_PROBLEMS);
        }
        self.scan_bad = bad;
        self.table.links = scan.links;
        self.listings.clear();
        self.reindex();
    }

    /// Start following a newly matched file (open descriptor `file`, found at `path`).
    pub(super) fn follow_new(
        &mut self,
        file: File,
        path: &Path,
        sink: &mut dyn TailSink,
    ) -> io::Result<()> {
        let md = file.metadata()?;
        let id = file_id(&md);
        if self.table.files.contains_key(&id) {
            return Ok(());
        }
        let mut buf = [0u8; HEAD_MAX];
        let n = read_head(&file, HEAD_MAX, &mut buf)?;
        if is_compressed(&buf[..n]) {
            self.table.ignored.insert(id, path.to_path_buf());
            return Ok(());
        }
        let head = &mut Head::new(&buf[..n]);
        let fp = fingerprint_of(&md, head.bytes());
        let cp_inode = self.checkpoint_for(id, head);
        // A checkpoint of this inode whose first bytes it no longer has: truncated and written
        // again while we were down (`copytruncate`), or the inode reused by a new file. Either
        // way its old bytes are not here: read those past the checkpoint from its copy, if
        // logrotate made one (before this file's checkpoint is recorded).
        let mut copied_while_down = false;
        if cp_inode.is_none() {
            let same_inode = |cp: &Checkpoint| (cp.fingerprint.dev, cp.fingerprint.ino) == id;
            if let Some(i) = self.resume.iter().position(same_inode) {
                let cp = self.resume.swap_remove(i);
                copied_while_down = self.recover_checkpoint_copy(&cp, id, sink);
            }
        }
        let cp_content = self.checkpoint_by_content(head);
        // Asked of every followed file: not on a first run's first scan (nothing to copy yet).
        let copy = if self.scanned_once || !self.first_run {
            self.copy_of(head, id)
        } else {
            None
        };
        // A dormant or recently let go file on this inode: the same file if it has its head and
        // is not shorter, else another one on a reused inode (forget the old one, then decide
        // as for any file).
        let known = match (self.table.dormant.get(&id), self.table.recent.get(&id)) {
            (Some(d), _) => Some((d.offset, d.info.fingerprint)),
            (None, Some(r)) => Some((r.offset, r.info.fingerprint)),
            (None, None) => None,
        };
        let dormant = match known {
            Some((offset, fp)) if head.starts_with(&fp) && md.len() >= offset => Some(offset),
            Some(_) => {
                if let Some(d) = self.table.dormant.remove(&id) {
                    sink.event(TailEvent::Closed { file: d.info });
                }
                self.table.recent.remove(&id);
                None
            }
            None => None,
        };
        let facts = NewFile {
            size: md.len(),
            dormant,
            checkpoint: cp_inode.map(|i| self.resume[i].offset),
            copy_of: copy.as_ref().map(|m| m.of),
            copy_at: copy.as_ref().and_then(|m| m.at),
            checkpoint_by_content: cp_content.map(|i| self.resume[i].offset),
            scanned_once: self.scanned_once,
            first_run: self.first_run,
            start_at: self.opts.start_at,
        };
        let mut split = Splitter::new(self.opts.max_line_bytes);
        let max = self.opts.max_line_bytes;
        let mut truncated = None;
        let offset = match decide::start(&facts) {
            Start::Dormant(offset) => {
                self.table.dormant.remove(&id);
                self.table.recent.remove(&id);
                resume_mid_line(&file, offset, max, &mut split)?;
                offset
            }
            Start::Checkpoint(offset) => {
                if let Some(i) = cp_inode {
                    self.resume.swap_remove(i);
                }
                resume_mid_line(&file, offset, max, &mut split)?;
                offset
            }
            Start::TruncatedWhileDown => {
                if let Some(i) = cp_inode {
                    let cp = self.resume.swap_remove(i);
                    // The copy first: its checkpoint is recorded before the truncation's.
                    let recovered = self.recover_checkpoint_copy(&cp, id, sink);
                    truncated = Some((cp, recovered));
                }
                0
            }
            Start::Hold(of) => {
                self.hold(Fd::new(file), &md, path, of, true, sink);
                return Ok(());
            }
            Start::CopyAfterTruncation(offset) => {
                resume_mid_line(&file, offset, max, &mut split)?;
                offset
            }
            Start::CopyOfCheckpoint(offset) => {
                if let Some(i) = cp_content {
                    self.resume.swap_remove(i);
                }
                resume_mid_line(&file, offset, max, &mut split)?;
                offset
            }
            Start::End => line_aligned_end(&file, md.len(), &mut split)?,
            Start::Beginning => 0,
        };
        let info = FileInfo {
            path: path.to_path_buf(),
            fingerprint: fp,
        };
        sink.event(TailEvent::Opened {
            file: info.clone(),
            offset,
        });
        let was_truncated = truncated.is_some();
        self.insert(
            Fd::new(file),
            info.clone(),
            &md,
            offset,
            split,
            State::Active,
        );
        if let (Some((cp, false)), Some(f)) = (truncated, self.table.files.get_mut(&id)) {
            // No copy yet: one made before this truncation (found later) starts where the
            // checkpoint stood.
            let t = Truncation {
                old: cp.fingerprint,
                head: None,
                pos: cp.offset,
                at: Instant::now(),
            };
            decide::remember(&mut f.truncations, t);
        }
        if was_truncated || copied_while_down {
            sink.event(TailEvent::Truncated { file: info });
        }
        Ok(())
    }

    pub(super) fn insert(
        &mut self,
        file: Fd,
        info: FileInfo,
        md: &Metadata,
        offset: u64,
        split: Splitter,
        state: State,
    ) {
        let id = file_id(md);
        // Read in this pass, whatever woke it.
        self.wake.dirty.push(id);
        let mut buf = [0u8; HEAD_MAX];
        let n = read_head(&file, HEAD_MAX, &mut buf).unwrap_or(0);
        self.table.files.insert(
            id,
            Followed {
                head: HeadBytes::new(&buf[..n]),
                file: Some(file),
                orig_path: info.path.clone(),
                info,
                read_pos: offset,
                tail: [0; TAIL],
                tail_len: 0,
                delivered: offset,
                split,
                last_growth: Instant::now(),
                seen: None,
                size: md.len(),
                mtime: md.modified().ok(),
                state,
                truncations: Vec::new(),
            },
        );
    }

    /// Open newly created matching files right away (the full scan follows, rate-limited).
    pub(super) fn open_created(&mut self, sink: &mut dyn TailSink) {
        for path in std::mem::take(&mut self.wake.created) {
            let Ok(md) = fs::metadata(&path) else {
                continue;
            };
            if !md.is_file() || self.table.knows(&file_id(&md)) {
                continue;
            }
            if !self.make_room() {
                self.deferred = true;
                continue;
            }
            match fds::open(&path) {
                Ok(file) => {
                    if let Err(e) = self.follow_new(file, &path, sink) {
                        let m = format!("cannot read {}: {e}", path.display());
                        self.errors.report(sink, &path, Problem::Read, m);
                    }
                }
                // The scan reports it (once) if it persists.
                Err(_) => continue,
            }
        }
        self.reindex();
    }

    /// Files renamed from a matched path to an unmatched one that we never opened (they lived
    /// shorter than the time between two scans): follow them from 0 as rotated files, so their
    /// lines are read once and they are let go like any rotated file.
    fn follow_renamed_away(
        &mut self,
        matched: &HashMap<PathBuf, Metadata>,
        sink: &mut dyn TailSink,
    ) {
        for (from, to) in std::mem::take(&mut self.wake.renamed) {
            if matched.contains_key(&to) {
                continue; // still matched: handled as a new file by the scan
            }
            self.make_room();
            let Ok(file) = fds::open(&to) else { continue };
            let Ok(md) = file.metadata() else { continue };
            let id = file_id(&md);
            // Held as a possible copy of another file, it came from a matched path: ours.
            if self.table.copies.get(&id).is_some_and(|c| !c.matched) {
                self.table.copies.remove(&id);
            }
            if !md.is_file() || self.table.knows(&id) {
                continue;
            }
            let Ok(fp) = fingerprint(&file, &md) else {
                continue;
            };
            // Let go a moment ago (a listing skipped it): from where it was.
            let mut offset = 0;
            let mut split = Splitter::new(self.opts.max_line_bytes);
            if let Some(r) = self.table.recent.remove(&id) {
                let mut buf = [0u8; HEAD_MAX];
                let n = read_head(&file, HEAD_MAX, &mut buf).unwrap_or(0);
                if Head::new(&buf[..n]).starts_with(&r.info.fingerprint)
                    && md.len() >= r.offset
                    && resume_mid_line(&file, r.offset, self.opts.max_line_bytes, &mut split)
                        .is_ok()
                {
                    offset = r.offset;
                } else {
                    split = Splitter::new(self.opts.max_line_bytes);
                }
            }
            let info = FileInfo {
                path: to.clone(),
                fingerprint: fp,
            };
            sink.event(TailEvent::Opened {
                file: info.clone(),
                offset,
            });
            sink.event(TailEvent::Rotated { file: info.clone() });
            self.insert(Fd::new(file), info, &md, offset, split, State::Rotated);
            if let Some(f) = self.table.files.get_mut(&id) {
                f.orig_path = from;
            }
        }
    }
}
