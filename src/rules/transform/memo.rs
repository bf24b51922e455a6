//! A bounded memo from input bytes (a user agent) to a small `Copy` result, with a fast path for
//! the input of the previous call: the labels of one line ask about the same user agent several
//! times (device, app, app version, security), and a log has few distinct agents.

use std::collections::HashMap;

/// Most entries kept, and the longest key kept: emptied when full, so inputs that never repeat
/// cost one insert each and no memory.
const MEMO_ENTRIES: usize = 1024;
const MEMO_MAX_LEN: usize = 512;

/// Results of a computation on byte strings, remembered.
#[derive(Debug)]
pub(super) struct Memo<V> {
    /// Address of the rules the entries were computed with (`0`: none yet). Labels of one
    /// source share one compiled rule set; another set empties the memo.
    owner: usize,
    /// Randomly seeded: keys are untrusted input.
    seen: HashMap<Box<[u8]>, V, foldhash::fast::RandomState>,
    last_key: Vec<u8>,
    last: Option<V>,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo {
            owner: 0,
            seen: HashMap::default(),
            last_key: Vec::new(),
            last: None,
        }
    }
}

impl<V: Copy> Memo<V> {
    /// The remembered result for `key` under rules `owner`, else `compute(key)` (remembered).
    #[inline]
    pub(super) fn get(&mut self, owner: usize, key: &[u8], compute: impl FnOnce() -> V) -> V {
        if self.owner != owner {
            self.seen.clear();
            self.last = None;
            self.owner = owner;
        }
        if let Some(v) = self.last {
            if self.last_key == key {
                return v;
            }
        }
        let v = match self.seen.get(key) {
            Some(v) => *v,
            None => {
                let v = compute();
                if key.len() <= MEMO_MAX_LEN {
                    if self.seen.len() >= MEMO_ENTRIES {
                        self.seen.clear();
                    }
                    self.seen.insert(key.into(), v);
                }
                v
            }
        };
        if key.len() <= MEMO_MAX_LEN {
            self.last_key.clear();
            self.last_key.extend_from_slice(key);
            self.last = Some(v);
        } else {
            self.last = None;
        }
        v
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_is_bounded_and_per_owner() {
        let mut m: Memo<usize> = Memo::default();
        let mut calls = 0;
        for round in 0..2 {
            for i in 0..3000usize {
                let key = format!("agent {i}");
                let v = m.get(1, key.as_bytes(), || {
                    calls += 1;
                    key.len()
                });
                assert_eq!(v, key.len());
            }
            assert!(m.len() <= MEMO_ENTRIES, "round {round}");
        }
        assert!(calls > 3000);
        let long = vec![b'x'; MEMO_MAX_LEN + 1];
        assert_eq!(m.get(1, &long, || 7), 7);
        assert_eq!(m.get(1, &long, || 8), 8, "long keys are not kept");
        assert_eq!(m.get(1, b"a", || 1), 1);
        assert_eq!(m.get(1, b"a", || 2), 1, "last key answered from memory");
        assert_eq!(m.get(2, b"a", || 3), 3, "another rule set starts afresh");
    }
}
