//! One series: its key (label values), atomic values, and the marks expiry and overflow need.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::exemplar::{slots, Slot};
use super::key::key_values;

/// An `f64` updated atomically.
#[derive(Debug, Default)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    /// Current value.
    #[inline]
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    /// Replace the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed)
    }
    /// Add `d`.
    #[inline]
    pub fn add(&self, d: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + d).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(v) => cur = v,
            }
        }
    }
}

/// One histogram bucket's count, and when its exemplar was last taken (beside the count the
/// update touches anyway, so checking it costs no extra cache line).
#[derive(Debug, Default)]
pub struct Bucket {
    count: AtomicU64,
    pub(super) exemplar_at: AtomicU64,
}

impl Bucket {
    /// Observations in this bucket (not cumulative).
    #[inline]
    pub fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// The values of one series.
#[derive(Debug)]
pub enum Value {
    /// Counter or gauge.
    Scalar(AtomicF64),
    /// Histogram: per-bucket (non-cumulative) counts, then one more for `+Inf`.
    Histogram {
        /// Per-bucket counts, the last one for `+Inf`.
        buckets: Box<[Bucket]>,
        /// Sum of observations.
        sum: AtomicF64,
        /// Number of observations.
        count: AtomicU64,
    },
}

/// One labeled series.
#[derive(Debug)]
pub struct Series {
    pub(super) key: Box<[u8]>,
    pub(super) hash: u64,
    value: Value,
    /// Unix seconds of the last update (for idle expiry).
    pub(super) touched: AtomicU64,
    /// Never expired (declared up front, or the all-`__overflow__` series).
    pub(super) pinned: bool,
    /// Made by folding an update that found the family full (counted against the reserve).
    pub(super) folded: bool,
    /// Exported (false once expired, so cached handles stop counting into the void).
    live: AtomicBool,
    /// Exemplar slots: one for a counter, one per bucket for a histogram, none for a gauge.
    pub(super) exemplars: Box<[Slot]>,
    /// When a counter's exemplar was last taken (unix seconds; buckets keep their own).
    pub(super) exemplar_at: AtomicU64,
    /// How far scrapers have seen it: never, at 0 since a time, or its value ([`super::hold`]).
    pub(super) shown: AtomicU64,
}

impl Series {
    pub(super) fn new(
        key: &[u8],
        hash: u64,
        value: Value,
        exemplars: usize,
        pinned: bool,
        folded: bool,
    ) -> Self {
        Series {
            exemplars: slots(exemplars),
            exemplar_at: AtomicU64::new(0),
            key: key.into(),
            hash,
            value,
            touched: AtomicU64::new(super::now_secs()),
            pinned,
            folded,
            live: AtomicBool::new(true),
            shown: AtomicU64::new(super::hold::NEVER),
        }
    }

    /// Add to a counter or gauge.
    #[inline]
    pub fn add(&self, d: f64) {
        if let Value::Scalar(v) = &self.value {
            v.add(d)
        }
    }
    /// Set a gauge.
    #[inline]
    pub fn set(&self, x: f64) {
        if let Value::Scalar(v) = &self.value {
            v.set(x)
        }
    }
    /// Record a histogram observation; `bounds` are the family's buckets. Returns the index
    /// of the bucket it fell in (`bounds.len()` for `+Inf`), its exemplar slot.
    #[inline]
    pub fn observe(&self, bounds: &[f64], x: f64) -> usize {
        let i = bounds.partition_point(|b| *b < x);
        if let Value::Histogram {
            buckets,
            sum,
            count,
        } = &self.value
        {
            if let Some(b) = buckets.get(i) {
                b.count.fetch_add(1, Ordering::Relaxed);
            }
            sum.add(x);
            count.fetch_add(1, Ordering::Relaxed);
        }
        i
    }
    /// Mark as updated at `now` (unix seconds).
    #[inline]
    pub fn touch(&self, now: u64) {
        if self.touched.load(Ordering::Relaxed) != now {
            self.touched.store(now, Ordering::Relaxed);
        }
    }
    /// Still exported (not expired).
    #[inline]
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }
    pub(super) fn kill(&self) {
        self.live.store(false, Ordering::Relaxed);
    }
    /// The label values, in the family's label order (valid UTF-8: the rules layer makes sure).
    pub fn label_values(&self) -> impl Iterator<Item = &[u8]> {
        key_values(&self.key)
    }
    /// The series key (see [`super::push_label`]).
    pub fn key(&self) -> &[u8] {
        &self.key
    }
    /// The values, for encoders.
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// Current scalar value (0 for histograms).
    pub fn scalar(&self) -> f64 {
        match &self.value {
            Value::Scalar(v) => v.get(),
            Value::Histogram { .. } => 0.0,
        }
    }
    /// Add saved values (see [`super::pending`]): a scalar's value, or a histogram's
    /// per-bucket (not cumulative) counts, sum and count. Values of the wrong shape are ignored.
    pub(super) fn add_saved(&self, v: &super::pending::Saved) {
        use super::pending::Saved;
        match (&self.value, v) {
            (Value::Scalar(x), Saved::Scalar(d)) => x.add(*d),
            (
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                },
                Saved::Histogram {
                    buckets: b,
                    sum: s,
                    count: c,
                },
            ) if buckets.len() == b.len() => {
                for (bucket, n) in buckets.iter().zip(b) {
                    bucket.count.fetch_add(*n, Ordering::Relaxed);
                }
                sum.add(*s);
                count.fetch_add(*c, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    /// Histogram count (0 for scalars).
    pub fn count(&self) -> u64 {
        match &self.value {
            Value::Histogram { count, .. } => count.load(Ordering::Relaxed),
            Value::Scalar(_) => 0,
        }
    }
}
