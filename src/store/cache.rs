//! The hot path's handle cache in front of a family.

use std::sync::Arc;

use hashbrown::HashTable;

use super::family::{Family, Lookup};
use super::key::key_hash;
use super::series::Series;

/// Caches series handles for one user of one family (one rule of one source), so the hot path
/// finds a series by hashing the label bytes once, with no lock and no allocation.
pub struct SeriesCache {
    family: Arc<Family>,
    generation: u64,
    table: HashTable<Arc<Series>>,
    /// Last folded handle; folded keys are never cached, so the cache stays bounded by the
    /// family's size whatever the input.
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

    /// The series for `key` (a folded series once the family is full).
    #[inline]
    pub fn get(&mut self, key: &[u8]) -> &Series {
        let g = self.family.generation();
        if g != self.generation {
            self.table.clear();
            self.generation = g;
        }
        let hash = key_hash(key);
        match self.table.find_entry(hash, |s| s.key() == key) {
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
