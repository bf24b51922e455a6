//! Store: metric families and their series; series limits, idle expiry, and the text encoder.
//!
//! Why our own store and not the `prometheus`/`prometheus-client` crates: label values come from
//! log lines, so the key must compare values exactly (the tikv crate merges `["ab","c"]` with
//! `["a","bc"]`), the hot path must find a series from borrowed bytes without allocating a key,
//! overflow must go to an `__overflow__` series, and the exporter must render under the same lock
//! that fixes the checkpoint offsets. Values are atomics, so sources update without locks and
//! the exporter reads without stopping them.
//!
//! A series key is the label values, each as a `u32` little-endian length then the bytes
//! ([`push_label`]). Values are valid UTF-8 (the rules layer guarantees it).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hashbrown::HashTable;

pub mod encode;

/// Kind of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic sum.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Observations in cumulative buckets.
    Histogram,
}

impl Kind {
    /// The name used in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Static description of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Desc {
    /// Metric name (counters end in `_total` by convention; not enforced).
    pub name: String,
    /// `# HELP` text.
    pub help: String,
    /// Kind.
    pub kind: Kind,
    /// Label names, in key order.
    pub labels: Vec<String>,
    /// Upper bounds for histograms (sorted, finite, no `+Inf`).
    pub buckets: Vec<f64>,
}

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

/// The values of one series.
#[derive(Debug)]
pub enum Value {
    /// Counter or gauge.
    Scalar(AtomicF64),
    /// Histogram: per-bucket (non-cumulative) counts, then one more for `+Inf`.
    Histogram {
        /// Per-bucket counts, the last one for `+Inf`.
        buckets: Box<[AtomicU64]>,
        /// Sum of observations.
        sum: AtomicF64,
        /// Number of observations.
        count: AtomicU64,
    },
}

/// One labeled series.
#[derive(Debug)]
pub struct Series {
    key: Box<[u8]>,
    hash: u64,
    /// Rendered labels without braces: `a="x",b="y"` (escaped), empty when no labels.
    rendered: Box<str>,
    value: Value,
    /// Unix seconds of the last update (for idle expiry).
    touched: AtomicU64,
    /// Never expired (declared up front, or the overflow series).
    pinned: bool,
    /// Exported (false once expired, so cached handles stop counting into the void).
    live: AtomicBool,
}

impl Series {
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
    /// Record a histogram observation; `bounds` are the family's buckets.
    #[inline]
    pub fn observe(&self, bounds: &[f64], x: f64) {
        if let Value::Histogram {
            buckets,
            sum,
            count,
        } = &self.value
        {
            let i = bounds.partition_point(|b| *b < x);
            if let Some(b) = buckets.get(i) {
                b.fetch_add(1, Ordering::Relaxed);
            }
            sum.add(x);
            count.fetch_add(1, Ordering::Relaxed);
        }
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
    /// Current scalar value (0 for histograms).
    pub fn scalar(&self) -> f64 {
        match &self.value {
            Value::Scalar(v) => v.get(),
            Value::Histogram { .. } => 0.0,
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

/// Append one label value to a series key.
#[inline]
pub fn push_label(key: &mut Vec<u8>, value: &[u8]) {
    key.extend_from_slice(&(value.len() as u32).to_le_bytes());
    key.extend_from_slice(value);
}

/// Iterate the label values of a key.
pub fn key_values(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = key;
    std::iter::from_fn(move || {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let n = u32::from_le_bytes(*len) as usize;
        let v = tail.get(..n)?;
        rest = tail.get(n..).unwrap_or_default();
        Some(v)
    })
}

/// Per-process hash seed: label values come from untrusted log lines, so the seed is random
/// (crafted keys cannot be made to collide), yet the same for every table in the process, so
/// a hash computed once serves the handle cache and the family table alike.
fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        std::collections::hash_map::RandomState::new().hash_one(0x6c6f_6770_7573u64)
    })
}

/// The hash of a series key.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(seed()).hash_one(key)
}

/// Label value used for every label of the overflow series.
pub const OVERFLOW: &str = "__overflow__";

struct Inner {
    table: HashTable<Arc<Series>>,
    /// Creation order, for stable output.
    order: Vec<Arc<Series>>,
    overflow: Option<Arc<Series>>,
}

/// A metric family: its description and series.
pub struct Family {
    desc: Desc,
    limit: usize,
    inner: Mutex<Inner>,
    /// Bumped when series are removed, so holders of cached handles drop them.
    generation: AtomicU64,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("desc", &self.desc)
            .finish_non_exhaustive()
    }
}

/// What a lookup found.
pub enum Lookup {
    /// The series for the key (cache it).
    Found(Arc<Series>),
    /// The limit is reached: the overflow series (do not cache it).
    Overflow(Arc<Series>),
}

impl Family {
    fn new(desc: Desc, limit: usize) -> Family {
        Family {
            desc,
            limit,
            inner: Mutex::new(Inner {
                table: HashTable::new(),
                order: Vec::new(),
                overflow: None,
            }),
            generation: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// The description.
    pub fn desc(&self) -> &Desc {
        &self.desc
    }

    /// Changes whenever series are removed.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Updates sent to the overflow series so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the table consistent (no
        // multi-step invariants), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn make_series(&self, key: &[u8], hash: u64, pinned: bool) -> Series {
        let mut rendered = String::new();
        for (i, (name, value)) in self.desc.labels.iter().zip(key_values(key)).enumerate() {
            if i > 0 {
                rendered.push(',');
            }
            rendered.push_str(name);
            rendered.push_str("=\"");
            encode::escape_label_value(&mut rendered, &String::from_utf8_lossy(value));
            rendered.push('"');
        }
        let value = match self.desc.kind {
            Kind::Counter | Kind::Gauge => Value::Scalar(AtomicF64::default()),
            Kind::Histogram => Value::Histogram {
                buckets: (0..=self.desc.buckets.len())
                    .map(|_| AtomicU64::new(0))
                    .collect(),
                sum: AtomicF64::default(),
                count: AtomicU64::new(0),
            },
        };
        Series {
            key: key.into(),
            hash,
            rendered: rendered.into(),
            value,
            touched: AtomicU64::new(now_secs()),
            pinned,
            live: AtomicBool::new(true),
        }
    }

    /// Find or create the series for `key` (built with [`push_label`], one value per label).
    pub fn lookup(&self, key: &[u8], hash: u64) -> Lookup {
        let mut inner = self.lock();
        if let Some(s) = inner.table.find(hash, |s| &*s.key == key) {
            return Lookup::Found(s.clone());
        }
        if inner.order.len() >= self.limit {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let ov = match &inner.overflow {
                Some(s) => s.clone(),
                None => {
                    let mut k = Vec::new();
                    for _ in &self.desc.labels {
                        push_label(&mut k, OVERFLOW.as_bytes());
                    }
                    let h = key_hash(&k);
                    let s = Arc::new(self.make_series(&k, h, true));
                    inner.overflow = Some(s.clone());
                    s
                }
            };
            return Lookup::Overflow(ov);
        }
        let s = Arc::new(self.make_series(key, hash, false));
        inner.table.insert_unique(hash, s.clone(), |s| s.hash);
        inner.order.push(s.clone());
        Lookup::Found(s)
    }

    /// Create a series exported from start-up (at zero) and never expired.
    pub fn declare(&self, key: &[u8]) -> Arc<Series> {
        let hash = key_hash(key);
        let mut inner = self.lock();
        if let Some(s) = inner.table.find(hash, |s| &*s.key == key) {
            return s.clone();
        }
        let s = Arc::new(self.make_series(key, hash, true));
        inner.table.insert_unique(hash, s.clone(), |s| s.hash);
        inner.order.push(s.clone());
        s
    }

    /// Number of series (not counting the overflow series).
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// True when there are no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remove series not updated since `older_than` (unix seconds). Returns how many.
    pub fn expire(&self, older_than: u64) -> usize {
        let mut inner = self.lock();
        let before = inner.order.len();
        inner.order.retain(|s| {
            let keep = s.pinned || s.touched.load(Ordering::Relaxed) >= older_than;
            if !keep {
                s.live.store(false, Ordering::Relaxed);
            }
            keep
        });
        let removed = before - inner.order.len();
        if removed > 0 {
            inner.table.retain(|s| s.is_live());
            self.generation.fetch_add(1, Ordering::Release);
        }
        removed
    }

    /// Visit the series in creation order, then the overflow series.
    pub fn for_each(&self, mut f: impl FnMut(&Series)) {
        let inner = self.lock();
        for s in &inner.order {
            f(s);
        }
        if let Some(s) = &inner.overflow {
            f(s);
        }
    }
}

/// Current unix time in seconds.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Errors registering families.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Same name, different definition.
    #[error("metric {name:?} is defined twice with different type, labels or buckets")]
    Conflict {
        /// Metric name.
        name: String,
    },
}

/// All families, in registration order.
#[derive(Default)]
pub struct Store {
    families: Mutex<Vec<Arc<Family>>>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Register a family, or return the existing one of the same name if its definition is
    /// identical (so several sources can feed one family, told apart by a label).
    pub fn register(&self, desc: Desc, limit: usize) -> Result<Arc<Family>, StoreError> {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = fams.iter().find(|f| f.desc.name == desc.name) {
            let d = &f.desc;
            if d.kind == desc.kind && d.labels == desc.labels && d.buckets == desc.buckets {
                return Ok(f.clone());
            }
            return Err(StoreError::Conflict { name: desc.name });
        }
        let f = Arc::new(Family::new(desc, limit));
        fams.push(f.clone());
        Ok(f)
    }

    /// A snapshot of the family list.
    pub fn families(&self) -> Vec<Arc<Family>> {
        self.families
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Expire idle series in every family; returns how many were removed.
    pub fn expire(&self, older_than: u64) -> usize {
        self.families().iter().map(|f| f.expire(older_than)).sum()
    }

    /// Render every family in the Prometheus text format (0.0.4), sorted by name.
    pub fn render(&self, out: &mut String) {
        let mut fams = self.families();
        fams.sort_by(|a, b| a.desc.name.cmp(&b.desc.name));
        for f in &fams {
            encode::family(out, f);
        }
    }
}

/// Caches series handles for one user of one family (one rule of one source), so the hot path
/// finds a series by hashing the label bytes once, with no lock and no allocation.
pub struct SeriesCache {
    family: Arc<Family>,
    generation: u64,
    table: HashTable<Arc<Series>>,
    /// Last overflow handle; overflow keys are never cached, so the cache stays bounded by the
    /// family's limit whatever the input.
    overflow: Option<Arc<Series>>,
}

impl SeriesCache {
    /// A cache in front of `family`.
    pub fn new(family: Arc<Family>) -> SeriesCache {
        let generation = family.generation();
        SeriesCache {
            family,
            generation,
            table: HashTable::new(),
            overflow: None,
        }
    }

    /// The family.
    pub fn family(&self) -> &Arc<Family> {
        &self.family
    }

    /// The series for `key` (the overflow series once the family is full).
    #[inline]
    pub fn get(&mut self, key: &[u8]) -> &Series {
        let g = self.family.generation();
        if g != self.generation {
            self.table.clear();
            self.generation = g;
        }
        let hash = key_hash(key);
        match self.table.find_entry(hash, |s| &*s.key == key) {
            Ok(e) => e.into_mut(),
            Err(absent) => match self.family.lookup(key, hash) {
                Lookup::Found(s) => absent
                    .into_table()
                    .insert_unique(hash, s, |s| s.hash)
                    .into_mut(),
                Lookup::Overflow(s) => self.overflow.insert(s),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(store: &Store, limit: usize) -> Arc<Family> {
        let desc = Desc {
            name: "t_total".into(),
            help: "t".into(),
            kind: Kind::Counter,
            labels: vec!["a".into(), "b".into()],
            buckets: vec![],
        };
        store.register(desc, limit).unwrap()
    }

    fn key(vals: &[&str]) -> Vec<u8> {
        let mut k = Vec::new();
        for v in vals {
            push_label(&mut k, v.as_bytes());
        }
        k
    }

    #[test]
    fn distinct_label_values_that_concatenate_alike_stay_distinct() {
        let store = Store::new();
        let mut c = SeriesCache::new(fam(&store, 100));
        c.get(&key(&["ab", "c"])).add(1.0);
        c.get(&key(&["a", "bc"])).add(2.0);
        let mut out = String::new();
        store.render(&mut out);
        assert!(out.contains("t_total{a=\"ab\",b=\"c\"} 1\n"), "{out}");
        assert!(out.contains("t_total{a=\"a\",b=\"bc\"} 2\n"), "{out}");
    }

    #[test]
    fn overflow_goes_to_one_series_and_is_counted() {
        let store = Store::new();
        let f = fam(&store, 2);
        let mut c = SeriesCache::new(f.clone());
        for i in 0..5 {
            c.get(&key(&["x", &i.to_string()])).add(1.0);
        }
        c.get(&key(&["x", "0"])).add(1.0);
        assert_eq!(f.len(), 2);
        assert_eq!(f.dropped(), 3);
        let mut out = String::new();
        store.render(&mut out);
        assert!(
            out.contains("t_total{a=\"__overflow__\",b=\"__overflow__\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("t_total{a=\"x\",b=\"0\"} 2\n"), "{out}");
    }

    #[test]
    fn idle_series_expire_and_caches_notice() {
        let store = Store::new();
        let f = fam(&store, 10);
        let mut c = SeriesCache::new(f.clone());
        c.get(&key(&["old", "1"])).add(1.0);
        f.declare(&key(&["pinned", "1"]));
        assert_eq!(store.expire(now_secs() + 10), 1);
        assert_eq!(f.len(), 1);
        // The cache must not hand out the expired handle.
        c.get(&key(&["old", "1"])).add(5.0);
        let mut out = String::new();
        store.render(&mut out);
        assert!(out.contains("t_total{a=\"old\",b=\"1\"} 5\n"), "{out}");
    }

    #[test]
    fn conflicting_definitions_are_rejected() {
        let store = Store::new();
        fam(&store, 1);
        let other = Desc {
            name: "t_total".into(),
            help: "t".into(),
            kind: Kind::Gauge,
            labels: vec![],
            buckets: vec![],
        };
        assert!(store.register(other, 1).is_err());
        assert!(Arc::ptr_eq(&fam(&store, 1), &fam(&store, 1)));
    }
}
