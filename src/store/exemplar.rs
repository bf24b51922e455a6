//! Exemplars: per counter series, and per histogram bucket, the last example update (a trace
//! or request id from the line, or a reference to the line), for OpenMetrics.
//!
//! The hot path pays one relaxed load and a compare per update ([`Series::exemplar_due`]), on a
//! cache line the update touches anyway (the series, or the bucket's count): a slot takes a new
//! exemplar at most once a second, so the lock, the copy and the formatting of a line
//! reference happen at most once a second per series and bucket, whatever the rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::series::{Series, Value};

/// OpenMetrics limit on an exemplar's label set: names and values together, in characters.
pub const MAX_EXEMPLAR_CHARS: usize = 128;

#[derive(Debug, Default)]
struct Data {
    /// Label name then value, one string so one buffer is reused.
    text: String,
    name_len: usize,
    value: f64,
    ts_ms: u64,
}

/// One exemplar slot (when it was last written is kept beside the value it describes).
#[derive(Debug, Default)]
pub(super) struct Slot {
    /// Boxed on first write: slots of buckets that never see an observation stay small.
    data: Mutex<Option<Box<Data>>>,
}

/// An exemplar as read by an encoder.
#[derive(Debug, Clone, Copy)]
pub struct Exemplar<'a> {
    /// Label name (a valid label name).
    pub name: &'a str,
    /// Label value (UTF-8, no control characters; name and value within 128 characters).
    pub label: &'a str,
    /// The update's value (a counter's increment, the observation of a bucket).
    pub value: f64,
    /// When, in unix milliseconds.
    pub ts_ms: u64,
}

impl Series {
    /// True when exemplar slot `i` (0 for a counter, the bucket index for a histogram) takes
    /// a new exemplar at `now` (unix seconds): at most once a second per slot.
    #[inline]
    pub fn exemplar_due(&self, i: usize, now: u64) -> bool {
        !self.exemplars.is_empty()
            && self
                .exemplar_at(i)
                .is_some_and(|at| at.load(Ordering::Relaxed) != now)
    }

    #[inline]
    fn exemplar_at(&self, i: usize) -> Option<&AtomicU64> {
        match self.value() {
            Value::Scalar(_) => (i == 0).then_some(&self.exemplar_at),
            Value::Histogram { buckets, .. } => buckets.get(i).map(|b| &b.exemplar_at),
        }
    }

    /// Store an exemplar in slot `i`: label `name` (a valid label name) = `label` (bytes from a
    /// line: made valid UTF-8 without control characters, cut to the 128-character limit).
    pub fn set_exemplar(
        &self,
        i: usize,
        now: u64,
        ts_ms: u64,
        name: &str,
        label: &[u8],
        value: f64,
    ) {
        let (Some(slot), Some(at)) = (self.exemplars.get(i), self.exemplar_at(i)) else {
            return;
        };
        at.store(now, Ordering::Relaxed);
        let mut g = slot.data.lock().unwrap_or_else(|e| e.into_inner());
        let d = g.get_or_insert_with(Box::default);
        d.text.clear();
        d.text.push_str(name);
        d.name_len = d.text.len();
        let room = MAX_EXEMPLAR_CHARS.saturating_sub(name.chars().count());
        for c in String::from_utf8_lossy(label).chars().take(room) {
            d.text.push(if c.is_control() { '\u{fffd}' } else { c });
        }
        d.value = value;
        d.ts_ms = ts_ms;
    }

    /// Number of exemplar slots (0: this series takes none).
    pub fn exemplar_slots(&self) -> usize {
        self.exemplars.len()
    }

    /// Call `f` with the exemplar of slot `i`, if it has one.
    pub fn with_exemplar<R>(&self, i: usize, f: impl FnOnce(Exemplar<'_>) -> R) -> Option<R> {
        let slot = self.exemplars.get(i)?;
        if self.exemplar_at(i)?.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let g = slot.data.lock().unwrap_or_else(|e| e.into_inner());
        let d = g.as_deref()?;
        let (name, label) = d.text.split_at(d.name_len);
        Some(f(Exemplar {
            name,
            label,
            value: d.value,
            ts_ms: d.ts_ms,
        }))
    }
}

/// `n` empty slots.
pub(super) fn slots(n: usize) -> Box<[Slot]> {
    (0..n).map(|_| Slot::default()).collect()
}
