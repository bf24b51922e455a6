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

/// The first bytes of a followed file, kept to recognise a copy of it while the copy is still
/// being written (a hash only matches once the copy is as long as the hashed head).
#[derive(Clone, Copy)]
pub(crate) struct HeadBytes {
    len: u16,
    bytes: [u8; HEAD_MAX],
}

impl HeadBytes {
    pub(crate) fn new(head: &[u8]) -> HeadBytes {
        let len = head.len().min(HEAD_MAX);
        let mut bytes = [0u8; HEAD_MAX];
        bytes[..len].copy_from_slice(&head[..len]);
        HeadBytes {
            len: len as u16,
            bytes,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for HeadBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HeadBytes({} bytes)", self.len)
    }
}

/// Fingerprint and first bytes of an open file whose metadata is `md`.
pub(crate) fn identity(file: &File, md: &Metadata) -> io::Result<(Fingerprint, HeadBytes)> {
    let mut buf = [0u8; HEAD_MAX];
    let n = read_head(file, HEAD_MAX, &mut buf)?;
    Ok((fingerprint_of(md, &buf[..n]), HeadBytes::new(&buf[..n])))
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

/// Does a file starting with `head` hold compressed data (gzip, bzip2, xz, zstd, lz4, zip)?
/// Such files (`access.log.2.gz` matched by `access.log*`) are never read as lines.
pub(crate) fn is_compressed(head: &[u8]) -> bool {
    MAGIC.iter().any(|m| head.starts_with(m))
}

/// Could a file starting with `head` (fewer bytes than a magic number) still turn out
/// compressed once more bytes are written?
pub(crate) fn may_be_compressed(head: &[u8]) -> bool {
    MAGIC
        .iter()
        .any(|m| head.len() < m.len() && m.starts_with(head))
}

/// Leading bytes of compressed formats.
const MAGIC: &[&[u8]] = &[
    b"\x1f\x8b",         // gzip
    b"BZh",              // bzip2
    b"\xfd7zXZ\x00",     // xz
    b"\x28\xb5\x2f\xfd", // zstd
    b"\x04\x22\x4d\x18", // lz4 frame
    b"PK\x03\x04",       // zip
];

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
    fn compressed_heads() {
        assert!(is_compressed(b"\x1f\x8b\x08\x00"));
        assert!(is_compressed(b"BZh91AY&SY"));
        assert!(is_compressed(b"\xfd7zXZ\x00\x00"));
        assert!(is_compressed(b"\x28\xb5\x2f\xfd\x00"));
        assert!(!is_compressed(b"127.0.0.1 - - [25/Nov/2026"));
        assert!(!is_compressed(b"\x1f"), "too short to tell");
        assert!(!is_compressed(b""));
        assert!(may_be_compressed(b"\x1f") && may_be_compressed(b"BZ"));
        assert!(!may_be_compressed(b"GET") && !may_be_compressed(b"\x1f\x8b"));
    }

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
