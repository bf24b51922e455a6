//! Series keys: the label values, each as a `u32` little-endian length then the bytes, so
//! `["ab","c"]` and `["a","bc"]` never meet; hashed with a per-process random seed.

use std::hash::BuildHasher;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(vals: &[&str]) -> Vec<u8> {
        let mut k = Vec::new();
        for v in vals {
            push_label(&mut k, v.as_bytes());
        }
        k
    }

    #[test]
    fn values_that_concatenate_alike_make_different_keys() {
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_ne!(key_hash(&key(&["ab", "c"])), key_hash(&key(&["a", "bc"])));
        let k = key(&["ab", "", "c"]);
        let vals: Vec<&[u8]> = key_values(&k).collect();
        assert_eq!(vals, [&b"ab"[..], b"", b"c"]);
    }
}
