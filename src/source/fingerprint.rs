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
    Ok(Fingerprint {
        dev: md.dev(),
        ino: md.ino(),
        head_len: n as u32,
        head_hash: fnv1a(&buf[..n]),
    })
}

/// Does the file still start with the bytes `fp` hashed? (False if it is now shorter.)
pub(crate) fn head_matches(file: &File, fp: &Fingerprint) -> io::Result<bool> {
    let want = (fp.head_len as usize).min(HEAD_MAX);
    let mut buf = [0u8; HEAD_MAX];
    let n = read_head(file, want, &mut buf)?;
    Ok(n == want && fnv1a(&buf[..n]) == fp.head_hash)
}

/// Does `head` (the first bytes of a file, as many as exist up to [`HEAD_MAX`]) start with the
/// bytes `fp` hashed?
pub(crate) fn head_eq(head: &[u8], fp: &Fingerprint) -> bool {
    let want = fp.head_len as usize;
    want <= head.len() && fnv1a(&head[..want]) == fp.head_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable() {
        // Published FNV-1a 64 test vectors: the hash must never change between versions.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
