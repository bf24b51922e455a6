//! A metric family: its series, the series limit, and what happens past it.
//!
//! Past `limit` series, an update's *unbounded* labels (a route, a tenant, a raw field) are
//! folded into `__overflow__` while its *bounded* labels (status, method, device, a constant,
//! declared values) keep their values: under a flood of new routes, `status="500"` stays exact.
//! Folded series live in a reserve of their own beside the limit, so a flood of normal series
//! never takes their room; the bounded labels' combinations are few, so the reserve is small.
//! Should the reserve fill anyway (a label declared bounded that is not), updates go to the one
//! series whose labels are all `__overflow__`: memory stays bounded whatever the input.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hashbrown::HashTable;

use super::key::{key_hash, key_values, push_label};
use super::series::{AtomicF64, Bucket, Series, Value};
use super::{Desc, Kind, OVERFLOW};

/// Fewest series kept for folded updates, whatever the limit.
const MIN_RESERVE: usize = 64;

/// Series a family with `limit` keeps for folded updates, beside the limit (`check` adds it to
/// the most series a metric can export).
pub fn overflow_reserve(limit: usize) -> usize {
    (limit / 10).max(MIN_RESERVE)
}

struct Inner {
    table: HashTable<Arc<Series>>,
    /// Creation order, for stable output.
    order: Vec<Arc<Series>>,
    /// Series counted against the limit.
    normal: usize,
    /// Series made by folding, counted against the reserve.
    folded: usize,
    /// Per label: keeps its value when folding (bounded for every source that registered it).
    bounded: Vec<bool>,
    /// Scratch for the folded key (reused: a flood must not allocate per line).
    scratch: Vec<u8>,
}

/// A metric family: its description and series.
pub struct Family {
    desc: Desc,
    limit: usize,
    reserve: usize,
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
    /// The limit is reached: the series the update folds into (do not cache it).
    Overflow(Arc<Series>),
}

impl Family {
    pub(super) fn new(desc: Desc, limit: usize) -> Family {
        let bounded = desc.labels.iter().map(|l| l.bounded).collect();
        Family {
            desc,
            limit,
            reserve: overflow_reserve(limit),
            inner: Mutex::new(Inner {
                table: HashTable::new(),
                order: Vec::new(),
                normal: 0,
                folded: 0,
                bounded,
                scratch: Vec::new(),
            }),
            generation: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// A label is bounded only if every registration says so.
    pub(super) fn merge_bounded(&self, desc: &Desc) {
        let mut inner = self.lock();
        for (b, l) in inner.bounded.iter_mut().zip(&desc.labels) {
            *b &= l.bounded;
        }
    }

    /// The description.
    pub fn desc(&self) -> &Desc {
        &self.desc
    }

    /// Series kept for folded updates once the limit is reached.
    pub fn reserve(&self) -> usize {
        self.reserve
    }

    /// Changes whenever series are removed.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Updates folded (partly or wholly into `__overflow__`) because the limit was reached.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the table consistent (no
        // multi-step invariants), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn make_value(&self) -> Value {
        match self.desc.kind {
            Kind::Counter | Kind::Gauge => Value::Scalar(AtomicF64::default()),
            Kind::Histogram => Value::Histogram {
                buckets: (0..=self.desc.buckets.len())
                    .map(|_| Bucket::default())
                    .collect(),
                sum: AtomicF64::default(),
                count: AtomicU64::new(0),
            },
        }
    }

    fn insert(
        &self,
        inner: &mut Inner,
        key: &[u8],
        hash: u64,
        pinned: bool,
        folded: bool,
    ) -> Arc<Series> {
        let s = Arc::new(Series::new(
            key,
            hash,
            self.make_value(),
            self.desc.exemplar_slots(),
            pinned,
            folded,
        ));
        inner.table.insert_unique(hash, s.clone(), |s| s.hash);
        inner.order.push(s.clone());
        if folded {
            inner.folded += 1;
        } else {
            inner.normal += 1;
        }
        s
    }

    /// Find or create the series for `key` (built with [`push_label`], one value per label).
    pub fn lookup(&self, key: &[u8], hash: u64) -> Lookup {
        let mut inner = self.lock();
        if let Some(s) = inner.table.find(hash, |s| &*s.key == key) {
            return Lookup::Found(s.clone());
        }
        if inner.normal < self.limit {
            return Lookup::Found(self.insert(&mut inner, key, hash, false, false));
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let inner = &mut *inner;
        let mut fk = std::mem::take(&mut inner.scratch);
        fk.clear();
        let mut all_overflow = true;
        for (v, keep) in key_values(key).zip(&inner.bounded) {
            push_label(&mut fk, if *keep { v } else { OVERFLOW.as_bytes() });
            all_overflow &= !*keep || v == OVERFLOW.as_bytes();
        }
        let mut h = key_hash(&fk);
        let found = inner.table.find(h, |s| *s.key == *fk).cloned();
        let s = match found {
            Some(s) => s,
            None if inner.folded < self.reserve => self.insert(inner, &fk, h, all_overflow, true),
            None => {
                // The reserve is full: every label folds.
                fk.clear();
                for _ in &inner.bounded {
                    push_label(&mut fk, OVERFLOW.as_bytes());
                }
                h = key_hash(&fk);
                match inner.table.find(h, |s| *s.key == *fk) {
                    Some(s) => s.clone(),
                    None => self.insert(inner, &fk, h, true, true),
                }
            }
        };
        inner.scratch = fk;
        if *s.key == *key {
            // Nothing folded (every label bounded): the key's own series, safe to cache.
            Lookup::Found(s)
        } else {
            Lookup::Overflow(s)
        }
    }

    /// Create a series exported from start-up (at zero) and never expired.
    pub fn declare(&self, key: &[u8]) -> Arc<Series> {
        let hash = key_hash(key);
        let mut inner = self.lock();
        if let Some(s) = inner.table.find(hash, |s| &*s.key == key) {
            return s.clone();
        }
        self.insert(&mut inner, key, hash, true, false)
    }

    /// Number of series counted against the limit (folded series not counted).
    pub fn len(&self) -> usize {
        self.lock().normal
    }

    /// Number of series made by folding (in the reserve, or the all-`__overflow__` one).
    pub fn folded_len(&self) -> usize {
        self.lock().folded
    }

    /// True when there are no series.
    pub fn is_empty(&self) -> bool {
        self.lock().order.is_empty()
    }

    /// Remove series not updated since `older_than` (unix seconds). Returns how many.
    pub fn expire(&self, older_than: u64) -> usize {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let before = inner.order.len();
        let (mut normal, mut folded) = (0, 0);
        inner.order.retain(|s| {
            let keep = s.pinned || s.touched.load(Ordering::Relaxed) >= older_than;
            if !keep {
                s.kill();
                if s.folded {
                    folded += 1;
                } else {
                    normal += 1;
                }
            }
            keep
        });
        let removed = before - inner.order.len();
        if removed > 0 {
            inner.normal -= normal;
            inner.folded -= folded;
            inner.table.retain(|s| s.is_live());
            self.generation.fetch_add(1, Ordering::Release);
        }
        removed
    }

    /// Visit the series in creation order.
    pub fn for_each(&self, mut f: impl FnMut(&Series)) {
        let inner = self.lock();
        for s in &inner.order {
            f(s);
        }
    }

    /// Whether `other` describes the same metric: name, help, kind, labels (with whether each
    /// keeps its value past the limit), buckets and limit. A config reload keeps a family (and
    /// its values) only when the new one is the same.
    pub fn same_definition(&self, other: &Family) -> bool {
        if std::ptr::eq(self, other) {
            return true;
        }
        let (a, b) = (&self.desc, &other.desc);
        a.name == b.name
            && a.help == b.help
            && a.kind == b.kind
            && a.buckets == b.buckets
            && self.limit == other.limit
            && a.labels.len() == b.labels.len()
            && a.labels
                .iter()
                .zip(&b.labels)
                .all(|(x, y)| x.name == y.name)
            && self.lock().bounded == other.lock().bounded
    }

    /// Remove every series (declared ones too) whose key satisfies `remove`; returns how many.
    /// Used when the source that fed them is removed from the config.
    pub fn remove_where(&self, mut remove: impl FnMut(&[u8]) -> bool) -> usize {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let (mut normal, mut folded) = (0, 0);
        inner.order.retain(|s| {
            if !remove(&s.key) {
                return true;
            }
            s.kill();
            if s.folded {
                folded += 1;
            } else {
                normal += 1;
            }
            false
        });
        if normal + folded > 0 {
            inner.normal -= normal;
            inner.folded -= folded;
            inner.table.retain(|s| s.is_live());
            self.generation.fetch_add(1, Ordering::Release);
        }
        normal + folded
    }
}
