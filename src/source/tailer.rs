//! PLACEHOLDER: the real tailer replaces this file (signatures are the contract).
use super::*;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Errors setting up a tailer.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// A glob pattern is invalid.
    #[error("invalid glob {pattern:?}: {message}")]
    Glob { pattern: String, message: String },
    /// I/O error on a path.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Wakes a running tailer and makes `run` return.
#[derive(Clone, Debug)]
pub struct Stopper(Arc<AtomicBool>);
impl Stopper {
    /// Ask the tailer to return from `run` soon.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Follows the files of one source.
pub struct Tailer {
    stop: Arc<AtomicBool>,
}

impl Tailer {
    /// Prepare to follow `opts.paths`, resuming the files in `resume`.
    pub fn new(opts: TailOptions, resume: Vec<Checkpoint>) -> Result<Tailer, TailError> {
        let _ = (opts, resume);
        Ok(Tailer { stop: Arc::new(AtomicBool::new(false)) })
    }
    /// A handle to stop `run` from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }
    /// Follow files until stopped, delivering lines and events to `sink`.
    pub fn run(&mut self, sink: &mut dyn TailSink) {
        let _ = sink;
    }
}

/// Read `path` from its start to its end through `sink` (replay mode). Returns bytes read.
pub fn read_file(path: &Path, max_line_bytes: usize, sink: &mut dyn TailSink) -> Result<u64, TailError> {
    use std::io::Read;
    let _ = max_line_bytes;
    let io = |source| TailError::Io { path: path.into(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let md = f.metadata().map_err(io)?;
    let info = FileInfo { path: path.into(), fingerprint: Fingerprint { dev: 0, ino: md.len(), head_len: 0, head_hash: 0 } };
    let mut buf = vec![0u8; 1 << 20];
    let mut have = 0usize;
    let mut off = 0u64;
    loop {
        let n = f.read(&mut buf[have..]).map_err(io)?;
        if n == 0 {
            if have > 0 {
                sink.batch(&info, off, &buf[..have]);
                off += have as u64;
            }
            return Ok(off);
        }
        have += n;
        if let Some(last) = memchr::memrchr(b'\n', &buf[..have]) {
            sink.batch(&info, off, &buf[..=last]);
            off += last as u64 + 1;
            buf.copy_within(last + 1..have, 0);
            have -= last + 1;
        }
    }
}
