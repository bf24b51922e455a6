//! Sources: paths/globs → lines, with identity, rotation, truncation and resume. No parsing here.
//!
//! A [`Tailer`] follows the files of one source and hands complete lines to a [`TailSink`] in
//! batches, with the file offset of each batch, so the caller can checkpoint exactly what it has
//! applied. Files are identified by a [`Fingerprint`] (device + inode, verified with a hash of the
//! first bytes), never by name.
//!
//! ## Guarantees (with a caller that records a checkpoint per batch and per `Opened`)
//!
//! | Situation | What the tailer does | Lines |
//! |---|---|---|
//! | Append | inotify modify event → read to EOF in 128 KiB buffers | each once |
//! | Partial last line | held until its `\n` (or delivered whole after `partial_flush` of quiet; a late `\n` then ends it, no empty line); over all files at most 64 lines' worth (64 MiB) in memory, the largest let go past it and read again | never split |
//! | Line > `max_line_bytes` | first `max_line_bytes` bytes delivered, rest skipped to `\n`, `LineTooLong`; the skipped rest is consumed as it goes (an empty batch moves the offset: no lag); a restart inside the skipped rest skips it too | cut, not split |
//! | Rename rotation (logrotate `create`) | old file drained through its open fd, writes after the rename included, until quiet for `rotate_wait` *and* a new file exists at the path; new file read from 0 | each once |
//! | Rotated sibling matched by the glob (`access.log.1` for `access.log*`) | same inode as the file already followed: never read again, also after a restart (no `Closed`, so its checkpoint stays, until it has left the glob for 1 s: a listing racing logrotate's renames may skip it); a file let go that shows up again within 10 minutes goes on from its offset | each once |
//! | Rename without create | old file followed until a new file appears at the path | each once |
//! | Delete (+ recreate) | drained through the open fd until quiet for `rotate_wait`, `Closed`; a recreated file is read from 0 | each once |
//! | Truncation (`> file`) | size < offset, or the head hash changed (truncated and rewritten past our offset between two looks): `Truncated`, read from 0 | new content once; a held partial line is dropped |
//! | copytruncate (numbered or `dateext`, copies kept or shifted, matched by the glob or not) | on the truncation, its copy (all of the original's old first bytes, up to 256) is taken from the held files or looked up in the directory, and read from the last position delivered from the original; its `Opened` comes before the original's `Truncated`; an unmatched copy is let go once read | each once, except lines written between the copy and the truncation (in neither file) |
//! | New file starting like a followed one (banner, CSV header) | held (`Held`) only while its bytes are the followed file's; read from 0 once they differ | each once |
//! | A matched copy with no truncation after it (up to 60 s), same bytes as its original | followed from its end (`Skipped`) | its lines are the original's |
//! | Compressed file (gzip, bzip2, xz, zstd, lz4, zip magic) | not followed; after a restart, a gzip file whose decompressed first bytes are a checkpoint's (rotated and compressed while down) is read from its offset | — |
//! | Agent restarted | checkpointed files resume at their offset if dev + inode + head hash match; others read from 0; a checkpointed file renamed out of the glob while down is found by inode in its old directory and drained; a copytruncate copy made while down is matched to the checkpoint by its head (or held, if its truncation is still to come), also when the original's inode holds other bytes and the copy is outside the glob | each once up to the last saved checkpoint |
//! | Inode reused by another file | head hash differs: treated as a new file, never resumed from a stale offset | — |
//! | File / directory appears later | the nearest existing ancestor is watched; the file is read from 0 | each once |
//! | More files than the descriptor budget (`fds`) | idle files parked (descriptor closed; identity, offset, partial line kept), then held files, reopened by dev + inode on their next write or changed size; draining files never parked (opening waits when only they hold the budget) | each once, unless a parked file is deleted or leaves its directory between a write and its reopening |
//! | Unreadable file | `Error` naming the path, once per state change; other files keep flowing; retried on directory events and each poll | — |
//!
//! Lines written between the copy and the truncation of a copytruncate are in neither file: no
//! tailer can deliver them. With `compress` but no `delaycompress`, the copy is compressed and
//! deleted right after the truncation; while running, lines not read by then are recovered only
//! if the copy was opened on its create event before that (after a restart, from the `.gz`).
//! Lines written to a rotated file after it was let go (quiet for
//! `rotate_wait` with a new file at its path) are read only if it still matches the glob.
//! Symlinked files are followed; the directory of their target is watched too.

//!
//! ## Layout
//! - `fingerprint`: identity, (dev, inode) plus an FNV-1a hash of the first ≤ 256 bytes;
//!   a checkpoint resumes a file only if all three match;
//! - `decide`: rotation, truncation, draining and copy rules as pure functions over observed
//!   facts;
//! - `paths` (globs → files and directories to watch) and `discovery` (inotify events → what
//!   to read, open or scan);
//! - `read` and `split`: reading a file from its position into batches of whole lines;
//! - `scan`, `copies`, `recover`, `resume`, `compressed`: acting on the decisions (new files,
//!   held files, copies of truncated files, checkpoints, gzip files rotated while down);
//! - `fds` and `park`: the descriptor budget, closing idle files and reopening them by identity;
//! - `tailer`: the run loop; [`checkpoint`]: the checkpoint file.
//!
//! ## Rotation
//! When the path a file was opened under no longer leads to it, the file is *rotated* (renamed or
//! deleted) and is drained through its open descriptor. It is let go once it has been quiet for
//! `rotate_wait` and a different file exists at the original path (or, if deleted, once quiet).
//! If it still matches the globs (e.g. `access.log.1` for `access.log*`) it becomes *dormant*: its
//! descriptor is closed but its identity and offset are kept, so it is never read twice, and
//! [`TailEvent::Closed`] is only sent when it leaves the matched set (so the caller keeps its
//! checkpoint as long as a restart could see the file again). A dormant file that grows is
//! reopened at its offset. A matched file renamed out of the globs before any scan saw it (it
//! lived shorter than the time between two looks, or the tailer was stalled by its sink) is
//! found through the rename event and drained from 0 the same way.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where to start in a file seen for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))] // config key docs test
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// Only lines written from now on (like `tail -F`).
    #[default]
    End,
    /// The whole file.
    Beginning,
}

/// Identity of a file: device and inode, plus a hash of its first bytes to detect inode reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub struct Fingerprint {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// How many leading bytes `head_hash` covers (grows with the file up to a fixed maximum).
    pub head_len: u32,
    /// Hash of the first `head_len` bytes.
    pub head_hash: u64,
}

/// A saved position: the file at `path` (name at the time) with `fingerprint` was applied up to
/// `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Checkpoint {
    /// Path when last seen.
    pub path: PathBuf,
    /// Identity.
    pub fingerprint: Fingerprint,
    /// Bytes applied.
    pub offset: u64,
}

/// Tailing options for one source.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Source name (for messages).
    pub source: String,
    /// Glob patterns (`*`, `?`, `[..]`, `**`); plain paths are globs too.
    pub paths: Vec<String>,
    /// Glob patterns excluded from `paths` (e.g. `*.gz`).
    pub exclude: Vec<String>,
    /// For files with no checkpoint when the source has no checkpoints at all (first run).
    pub start_at: StartAt,
    /// Backstop stat/glob poll; also the only wake-up when `force_poll`.
    pub poll_interval: Duration,
    /// Do not use inotify (network filesystems).
    pub force_poll: bool,
    /// Longer lines are cut to this many bytes (the rest up to the newline is skipped).
    pub max_line_bytes: usize,
    /// A last line with no newline is delivered after it has been left alone this long.
    /// `None`: wait for the newline forever.
    pub partial_flush: Option<Duration>,
    /// Keep reading a rotated-away or deleted file for this long after its last growth.
    pub rotate_wait: Duration,
}

/// Information about the file a batch comes from.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// Current path.
    pub path: PathBuf,
    /// Identity (its head hash may grow while the file is young).
    pub fingerprint: Fingerprint,
}

/// What happened to the files of a source, reported for self-metrics, logs and checkpoints.
#[derive(Debug, Clone)]
pub enum TailEvent {
    /// A file is now followed, from `offset`. Record `(file.fingerprint, file.path, offset)` as
    /// its checkpoint, as for a batch: a file opened at its end delivers no batch until it
    /// grows, and without a checkpoint a restart would read it from the beginning.
    Opened {
        /// The file.
        file: FileInfo,
        /// Where reading starts.
        offset: u64,
    },
    /// The file was renamed away (rotation); it is drained before being closed.
    Rotated {
        /// The file.
        file: FileInfo,
    },
    /// The file shrank or its head changed (truncation, copytruncate); reading restarts at 0.
    /// `file.fingerprint` is the new one; the checkpoint becomes `(fingerprint, path, 0)`.
    Truncated {
        /// The file.
        file: FileInfo,
    },
    /// The file is no longer followed (drained after rotation or deletion) and no longer matches
    /// the globs; drop its checkpoint. (A drained rotated file that still matches the globs,
    /// like `access.log.1` for `access.log*`, has its descriptor closed but is not `Closed`
    /// until it leaves the matched set, so its checkpoint keeps it from being read again after
    /// a restart.)
    Closed {
        /// The file.
        file: FileInfo,
    },
    /// A new file is held, not read yet: its first bytes (at least 64) are those of the
    /// followed file `of`, so it may be a copy of it (`copytruncate`). It is read from 0 as soon
    /// as its bytes differ from `of`'s; from where `of` stood, if `of` is truncated (a copy);
    /// from its end, if it keeps `of`'s bytes and no truncation comes within 60 s (`Skipped`).
    Held {
        /// The file held.
        path: PathBuf,
        /// The followed file it starts like.
        of: PathBuf,
    },
    /// A file is followed from `bytes`, not from 0, because those bytes are the same as the
    /// followed file `of`'s (a copy of it never followed by a truncation, `cp app.log
    /// app.log.bak`): its lines are counted once, from `of`.
    Skipped {
        /// The file.
        file: FileInfo,
        /// The followed file whose bytes it holds.
        of: PathBuf,
        /// Bytes not read.
        bytes: u64,
    },
    /// A line longer than `max_line_bytes` was cut.
    LineTooLong {
        /// The file.
        file: FileInfo,
    },
    /// A path could not be read (permission, I/O error). `message` names the path and the cause.
    Error {
        /// The path at fault.
        path: PathBuf,
        /// What went wrong, naming the path.
        message: String,
    },
    /// A literal path in `paths` does not exist (yet); it is picked up when it appears.
    Missing {
        /// The path waited for.
        path: PathBuf,
    },
    /// Periodic state: files followed, bytes not yet read, age in seconds of the oldest unread byte.
    Stats {
        /// Files followed.
        files: usize,
        /// Bytes written but not read yet, over all files.
        lag_bytes: u64,
        /// Seconds since the oldest unread byte was written (0 when caught up).
        oldest_unread_age: f64,
    },
}

/// Receives lines and events from a [`Tailer`].
pub trait TailSink {
    /// `data` holds whole lines read from `file` starting at file offset `start_offset`. Each line
    /// ends with `\n`, except that the last one may have none (a partial line flushed after
    /// `partial_flush`, or the kept prefix of a line cut at `max_line_bytes`); it is a whole line
    /// all the same. After the call, everything up to `start_offset + data.len()` is delivered.
    /// `data` is empty when bytes up to `start_offset` were consumed without a line (the
    /// skipped rest of a line cut at `max_line_bytes`, a newline ending a flushed partial line):
    /// only the offset moves.
    fn batch(&mut self, file: &FileInfo, start_offset: u64, data: &[u8]);
    /// Something happened to a file.
    fn event(&mut self, event: TailEvent);
}

/// Errors setting up a tailer.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// A glob pattern is invalid.
    #[error("invalid glob {pattern:?}: {message}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// Why it is invalid.
        message: String,
    },
    /// I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An option has an unusable value.
    #[error("invalid tail options for source {source_name:?}: {message}")]
    Options {
        /// The source.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

pub mod checkpoint;
mod compressed;
mod copies;
mod decide;
mod discovery;
mod fds;
mod files;
mod fingerprint;
mod listing;
mod park;
mod paths;
mod read;
mod recover;
mod report;
mod resume;
mod scan;
mod split;
mod tailer;
pub use discovery::Stopper;
pub use fds::{max_open_files, set_max_open_files, MIN_OPEN_FILES};
pub use read::read_file;
pub use tailer::Tailer;
