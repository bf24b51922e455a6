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
    let _ = (path, max_line_bytes, sink);
    Ok(0)
}
