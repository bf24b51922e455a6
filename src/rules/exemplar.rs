//! What an update's exemplar says: the line's trace or request id when the source names a
//! field for it (`exemplar_field`), else a reference to the line, `line_ref="web:1f3a9c20:1234"`.
//!
//! A line reference is `{source}:{run}:{seq}`: `seq` numbers the records this source's rules
//! have applied (parsed or not), from 0, and `run` is random per compiled rule set, so a
//! reference from before a restart never names another line. This is the hook for a store of
//! recent lines: one that keeps the records it is shown under [`SourceRules::line_ref`] can
//! resolve every reference an exemplar carries.
//!
//! [`SourceRules::line_ref`]: super::SourceRules::line_ref

use std::hash::BuildHasher;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::ExemplarField;
use crate::parse::{FieldId, Record};
pub use crate::store::lines::{BadLineRef, LineRef};
use crate::store::Series;

/// Label name of a line reference in an exemplar.
pub const LINE_REF_LABEL: &str = "line_ref";

/// A run id: random per process, distinct per call.
fn new_run() -> u32 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::collections::hash_map::RandomState::new().hash_one(n) as u32
}

/// Per source: where exemplar labels come from, and the scratch to write a line reference.
#[derive(Debug)]
pub(super) struct Exemplars {
    field: Option<(FieldId, String)>,
    source: String,
    run: u32,
    /// The current record's number.
    seq: u64,
    /// The next record's number.
    next: u64,
    buf: Vec<u8>,
    /// Off where nothing shows exemplars (backfill, whose clock is the log's and would make
    /// every slot due at almost every line).
    on: bool,
}

impl Exemplars {
    pub(super) fn new(source: &str, field: Option<&ExemplarField>) -> Exemplars {
        Exemplars {
            field: field.map(|f| (f.field, f.label.clone())),
            source: source.to_string(),
            run: new_run(),
            seq: 0,
            next: 0,
            buf: Vec::with_capacity(64),
            on: true,
        }
    }

    /// Keep no exemplars from now on.
    pub(super) fn disable(&mut self) {
        self.on = false;
    }

    /// A record starts.
    #[inline]
    pub(super) fn next_record(&mut self) {
        self.seq = self.next;
        self.next += 1;
    }

    /// The current record's run and number.
    #[inline]
    pub(super) fn run_seq(&self) -> (u32, u64) {
        (self.run, self.seq)
    }

    pub(super) fn line_ref(&self) -> LineRef {
        LineRef {
            source: self.source.clone(),
            run: self.run,
            seq: self.seq,
        }
    }

    /// Give slot `slot` of `s` this record's exemplar, if the slot is due (≤ once a second).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn offer(
        &mut self,
        s: &Series,
        slot: usize,
        now: u64,
        now_ms: u64,
        line: &[u8],
        rec: &Record,
        value: f64,
    ) {
        if !self.on || !s.exemplar_due(slot, now) {
            return;
        }
        if let Some((id, label)) = &self.field {
            match rec.get(line, *id) {
                Some(v) if !v.is_empty() && v != b"-" => {
                    s.set_exemplar(slot, now, now_ms, label, v, value);
                    return;
                }
                _ => {}
            }
        }
        self.buf.clear();
        let _ = write!(self.buf, "{}:{:08x}:{}", self.source, self.run, self.seq);
        s.set_exemplar(slot, now, now_ms, LINE_REF_LABEL, &self.buf, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_differ() {
        assert_ne!(new_run(), new_run());
    }
}
