//! PLACEHOLDER replaced by the parsers branch.
use serde::Deserialize;

/// Multiline joining settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineSpec {
    /// A line matching this regex starts a new record.
    pub start: String,
    /// Max lines per record.
    pub max_lines: Option<usize>,
    /// Max bytes per record.
    pub max_bytes: Option<usize>,
    /// Emit a pending record after this much quiet.
    pub timeout: Option<String>,
}

/// Joins continuation lines into records.
pub struct Joiner {
    pending: Vec<u8>,
}

impl Joiner {
    /// New joiner.
    pub fn new(start: &str, max_lines: usize, max_bytes: usize) -> Result<Joiner, super::BuildError> {
        let _ = (start, max_lines, max_bytes);
        Ok(Joiner { pending: Vec::new() })
    }
    /// Feed a line.
    pub fn push(&mut self, line: &[u8], emit: &mut dyn FnMut(&[u8])) {
        emit(line)
    }
    /// Emit what is pending.
    pub fn flush(&mut self, emit: &mut dyn FnMut(&[u8])) {
        let _ = emit;
        self.pending.clear()
    }
    /// Something is pending.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}
