//! Store: metric families and their series; series limits, overflow folding, idle expiry, and
//! what scrapers have been shown of each series ([`hold`], [`pending`]).
//! Encoders live in `export` and read label values and atomics from here.
//!
//! Why our own store and not the `prometheus`/`prometheus-client` crates: label values come from
//! log lines, so the key must compare values exactly (the tikv crate merges `["ab","c"]` with
//! `["a","bc"]`), the hot path must find a series from borrowed bytes without allocating a key,
//! overflow must fold only the unbounded labels (see [`family`]), and the exporter must render
//! under the same lock that fixes the checkpoint offsets. Values are atomics, so sources update
//! without locks and the exporter reads without stopping them.
//!
//! A series key is the label values, each as a `u32` little-endian length then the bytes
//! ([`push_label`]). Values are valid UTF-8 (the rules layer guarantees it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

mod cache;
pub mod exemplar;
pub mod family;
pub mod hold;
mod key;
pub mod lines;
pub mod pending;
mod series;

pub use cache::SeriesCache;
pub use exemplar::{Exemplar, MAX_EXEMPLAR_CHARS};
pub use family::{Family, Lookup};
pub use hold::mono_ms;
pub use key::{key_hash, key_values, push_label};
pub use pending::Pending;
pub use series::{AtomicF64, Bucket, Series, Value};

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

/// A label of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Label name.
    pub name: String,
    /// Its values come from a small known set (a status, a method, a constant, declared
    /// values...): it keeps its value when the family is full, where unbounded labels fold into
    /// `__overflow__`.
    pub bounded: bool,
}

impl Label {
    /// A label whose values form a small known set.
    pub fn bounded(name: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            bounded: true,
        }
    }
    /// A label whose values are open-ended (routes, tenants, raw fields).
    pub fn unbounded(name: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            bounded: false,
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
    /// Labels, in key order.
    pub labels: Vec<Label>,
    /// Upper bounds for histograms (sorted, finite, no `+Inf`).
    pub buckets: Vec<f64>,
}

impl Desc {
    /// Exemplar slots per series: one for a counter named `*_total` (OpenMetrics carries
    /// exemplars on `_total` samples only), one per bucket and `+Inf` for a histogram.
    pub fn exemplar_slots(&self) -> usize {
        match self.kind {
            Kind::Counter if self.name.ends_with("_total") => 1,
            Kind::Histogram => self.buckets.len() + 1,
            Kind::Counter | Kind::Gauge => 0,
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

/// Current unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Label value that stands for the values folded away when a family is full.
pub const OVERFLOW: &str = "__overflow__";

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
    families: Mutex<Families>,
}

/// The families, and their positions by name: a config with tens of thousands of metrics
/// registers each in constant time, not by a scan of those before it.
#[derive(Default)]
struct Families {
    list: Vec<Arc<Family>>,
    by_name: HashMap<String, usize>,
}

impl Families {
    fn get(&self, name: &str) -> Option<&Arc<Family>> {
        self.by_name.get(name).and_then(|i| self.list.get(*i))
    }

    fn push(&mut self, f: Arc<Family>) {
        self.by_name.insert(f.desc().name.clone(), self.list.len());
        self.list.push(f);
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    /// Register one of the agent's own families (bounded labels, no buckets, no series
    /// limit). Their names and labels are the code's, each registered once per store, so a
    /// refusal is a bug, not an input.
    pub fn own_family(&self, name: &str, kind: Kind, help: &str, labels: &[&str]) -> Arc<Family> {
        let desc = Desc {
            name: name.into(),
            help: help.into(),
            kind,
            labels: labels.iter().map(|l| Label::bounded(*l)).collect(),
            buckets: vec![],
        };
        match self.register(desc, usize::MAX) {
            Ok(f) => f,
            Err(e) => unreachable!("{e}"),
        }
    }

    /// Register a family, or return the existing one of the same name if its definition is
    /// identical (so several sources can feed one family, told apart by a label). A label is
    /// bounded only if every registration says so.
    pub fn register(&self, desc: Desc, limit: usize) -> Result<Arc<Family>, StoreError> {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = fams.get(&desc.name) {
            let d = f.desc();
            let same_labels = d.labels.len() == desc.labels.len()
                && d.labels
                    .iter()
                    .zip(&desc.labels)
                    .all(|(a, b)| a.name == b.name);
            if d.kind == desc.kind && same_labels && d.buckets == desc.buckets {
                f.merge_bounded(&desc);
                return Ok(f.clone());
            }
            return Err(StoreError::Conflict { name: desc.name });
        }
        let f = Arc::new(Family::new(desc, limit));
        fams.push(f.clone());
        Ok(f)
    }

    /// Add a family made for another store (a config reload carries unchanged families, values
    /// and all, into the store of the new config). Fails if the name is taken.
    pub fn adopt(&self, family: Arc<Family>) -> Result<(), StoreError> {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if fams.get(&family.desc().name).is_some() {
            return Err(StoreError::Conflict {
                name: family.desc().name.clone(),
            });
        }
        fams.push(family);
        Ok(())
    }

    /// A snapshot of the family list.
    pub fn families(&self) -> Vec<Arc<Family>> {
        self.families
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .clone()
    }

    /// The family named `name`.
    pub fn family(&self, name: &str) -> Option<Arc<Family>> {
        self.families
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Expire idle series in every family; returns how many were removed.
    pub fn expire(&self, older_than: u64) -> usize {
        self.families().iter().map(|f| f.expire(older_than)).sum()
    }
}

#[cfg(test)]
mod tests;
