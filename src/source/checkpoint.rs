//! PLACEHOLDER replaced by the tailer branch: versioned JSON checkpoints, saved atomically.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::Checkpoint;

/// Checkpoint file errors.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// I/O.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// Corrupt.
    #[error("{path}: corrupt checkpoint file: {message}")]
    Corrupt { path: PathBuf, message: String },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct File {
    version: u32,
    sources: HashMap<String, Vec<Checkpoint>>,
}

/// Load checkpoints; a missing file is empty.
pub fn load(path: &Path) -> Result<HashMap<String, Vec<Checkpoint>>, CheckpointError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice::<File>(&b)
            .map(|f| f.sources)
            .map_err(|e| CheckpointError::Corrupt { path: path.into(), message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
        Err(source) => Err(CheckpointError::Io { path: path.into(), source }),
    }
}

/// Save atomically.
pub fn save(path: &Path, map: &HashMap<String, Vec<Checkpoint>>) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io { path: path.into(), source };
    let tmp = path.with_extension("tmp");
    let body = serde_json::to_vec(&File { version: 1, sources: map.clone() })
        .map_err(|e| CheckpointError::Corrupt { path: path.into(), message: e.to_string() })?;
    std::fs::write(&tmp, body).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
