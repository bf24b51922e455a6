//! File identity: (device, inode) plus a stable hash of the first bytes.
//!
//! The hash is FNV-1a 64, fixed forever: checkpoints written by one version must verify in the
//! next, so no randomly seeded or version-dependent hasher is used.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use super::Fingerprint;

/// Most leading bytes hashed.
pub(crate) const HEAD_MAX: usize = 256;

/// (dev, ino).
pub(crate) type FileId = (u64, u64);

pub(crate) fn file_id(md: &Metadata) -> FileId {
    (md.dev(), md.ino())
}

/// FNV-1a 64 of `data`.
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Read up to `len` bytes from the start of `file` (fewer if the file is shorter).
pub(crate) fn read_head(file: &File, len: usize, buf: &mut [u8; HEAD_MAX]) -> io::Result<usize> {
    let len = len.min(HEAD_MAX);
    let mut n = 0;
    while n < len {
        match file.read_at(&mut buf[n..len], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Fingerprint of an open file whose metadata is `md`, hashing as much of the head as exists.
pub(crate) fn fingerprint(file: &File, md: &Metadata) -> io::Result<Fingerprint> {
    let mut buf = [0u8; HEAD_MAX];
    let n = read_head(file, HEAD_MAX, &mut buf)?;
    Ok(fingerprint_of(md, &buf[..n]))
}

/// Fingerprint of the file with metadata `md` whose first bytes (up to [`HEAD_MAX`]) are `head`.
pub(crate) fn fingerprint_of(md: &Metadata, head: &[u8]) -> Fingerprint {
    let head = &head[..head.len().min(HEAD_MAX)];
    Fingerprint {
        dev: md.dev(),
        ino: md.ino(),
        head_len: head.len() as u32,
        head_hash: fnv1a(head),
    }
}

/// Does the file still start with the bytes `fp` hashed? (False if it is now shorter.)
pub(crate) fn head_matches(file: &File, fp: &Fingerprint) -> io::Result<bool> {
    let want = (fp.head_len as usize).min(HEAD_MAX);
    let mut buf = [0u8; HEAD_MAX];
    let n = read_head(file, want, &mut buf)?;
    Ok(n == want && fnv1a(&buf[..n]) == fp.head_hash)
}

/// The first bytes of one file, compared with many fingerprints: each distinct prefix length is
/// hashed once (most fingerprints cover [`HEAD_MAX`] bytes).
pub(crate) struct Head<'a> {
    bytes: &'a [u8],
    memo: Vec<(u32, u64)>,
}

impl<'a> Head<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Head<'a> {
        Head {
            bytes,
            memo: Vec::new(),
        }
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Does this head start with the bytes `fp` hashed?
    pub(crate) fn starts_with(&mut self, fp: &Fingerprint) -> bool {
        let want = fp.head_len as usize;
        if want > self.bytes.len() {
            return false;
        }
        let h = match self.memo.iter().find(|(l, _)| *l == fp.head_len) {
            Some((_, h)) => *h,
            None => {
                let h = fnv1a(&self.bytes[..want]);
                self.memo.push((fp.head_len, h));
                h
            }
        };
        h == fp.head_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_compares_prefixes() {
        let data = [7u8; 200];
        let fp = |n: usize| Fingerprint {
            dev: 0,
            ino: 0,
            head_len: n as u32,
            head_hash: fnv1a(&data[..n]),
        };
        let mut h = Head::new(&data[..100]);
        for n in [0, 10, 100, 10] {
            assert!(h.starts_with(&fp(n)));
            assert!(h.starts_with(&fp(n)), "memoised");
        }
        assert!(!h.starts_with(&fp(150)), "longer than the head");
        let other = Fingerprint {
            head_hash: 1,
            ..fp(10)
        };
        assert!(!h.starts_with(&other));
    }

    #[test]
    fn fnv_is_stable() {
        // Published FNV-1a 64 test vectors: the hash must never change between versions.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
