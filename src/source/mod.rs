//! Sources: paths/globs → lines, with identity, rotation, truncation and resume. No parsing here.
//!
//! A [`Tailer`] follows the files of one source and hands complete lines to a [`TailSink`] in
//! batches, with the file offset of each batch, so the caller can checkpoint exactly what it has
//! applied. Files are identified by a [`Fingerprint`] (device + inode, verified with a hash of the
//! first bytes), never by name.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where to start in a file seen for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
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
    Opened { file: FileInfo, offset: u64 },
    /// The file was renamed away (rotation); it is drained before being closed.
    Rotated { file: FileInfo },
    /// The file shrank or its head changed (truncation, copytruncate); reading restarts at 0.
    /// `file.fingerprint` is the new one; the checkpoint becomes `(fingerprint, path, 0)`.
    Truncated { file: FileInfo },
    /// The file is no longer followed (drained after rotation or deletion) and no longer matches
    /// the globs; drop its checkpoint. (A drained rotated file that still matches the globs,
    /// like `access.log.1` for `access.log*`, has its descriptor closed but is not `Closed`
    /// until it leaves the matched set, so its checkpoint keeps it from being read again after
    /// a restart.)
    Closed { file: FileInfo },
    /// A line longer than `max_line_bytes` was cut.
    LineTooLong { file: FileInfo },
    /// A path could not be read (permission, I/O error). `message` names the path and the cause.
    Error { path: PathBuf, message: String },
    /// Periodic state: files followed, bytes not yet read, age in seconds of the oldest unread byte.
    Stats {
        files: usize,
        lag_bytes: u64,
        oldest_unread_age: f64,
    },
}

/// Receives lines and events from a [`Tailer`].
pub trait TailSink {
    /// `data` holds whole lines read from `file` starting at file offset `start_offset`. Each line
    /// ends with `\n`, except that the last one may have none (a partial line flushed after
    /// `partial_flush`, or the kept prefix of a line cut at `max_line_bytes`); it is a whole line
    /// all the same. After the call, everything up to `start_offset + data.len()` is delivered.
    fn batch(&mut self, file: &FileInfo, start_offset: u64, data: &[u8]);
    /// Something happened to a file.
    fn event(&mut self, event: TailEvent);
}

pub mod checkpoint;
mod fingerprint;
mod paths;
mod split;
mod tailer;
pub use tailer::{read_file, Stopper, TailError, Tailer};
