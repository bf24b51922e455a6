//! Compressed rotated files, read after a restart. With `compress` but no `delaycompress`,
//! logrotate compresses the rotated file (or the `copytruncate` copy) at once and deletes it:
//! when the agent was down meanwhile, the lines past its checkpoint are only in the `.gz`. The
//! `.gz` in the checkpointed file's directory whose decompressed first bytes hash to the
//! checkpoint's head is that file (the newest, if several): it is read (gzip) from the
//! checkpoint's offset to its end, then let go. Its offsets are offsets in the decompressed
//! bytes, so a restart while it is read goes on from there. bzip2, xz and zstd files are not
//! read (their lines past the checkpoint are lost, as logged).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use memchr::memrchr;

use super::decide;
use super::fds::{self, Fd};
use super::fingerprint::{file_id, fingerprint_of, Head, HeadBytes, HEAD_MAX};
use super::report::Problem;
use super::split::{Piece, Splitter};
use super::tailer::Tailer;
use super::{Checkpoint, FileInfo, TailEvent, TailSink};

/// gzip's first bytes.
const GZIP: &[u8; 2] = b"\x1f\x8b";

/// `Read` over a file from offset 0 by `pread`, leaving the descriptor's offset alone.
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn decoder(file: &File) -> MultiGzDecoder<BufReader<ReadAt<'_>>> {
    MultiGzDecoder::new(BufReader::with_capacity(64 * 1024, ReadAt { file, pos: 0 }))
}

/// The first decompressed bytes (up to [`HEAD_MAX`]) of `file`, if it is gzip data (its first
/// bytes, as stored, are `raw`).
pub(super) fn gz_head(file: &File, raw: &[u8]) -> Option<HeadBytes> {
    if !raw.starts_with(GZIP) {
        return None;
    }
    let mut buf = [0u8; HEAD_MAX];
    let mut n = 0;
    let mut dec = decoder(file);
    while n < HEAD_MAX {
        match dec.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(HeadBytes::new(&buf[..n]))
}

/// Do the first bytes `head` start with those checkpoint `cp` hashed (at least one)?
pub(super) fn has_head(head: &HeadBytes, cp: &Checkpoint) -> bool {
    cp.fingerprint.head_len > 0 && Head::new(head.as_slice()).starts_with(&cp.fingerprint)
}

/// Could `name` be a rotated (and compressed) name of `orig` (`app.log.1.gz` for `app.log`)?
fn rotated_name(name: &[u8], orig: &[u8]) -> bool {
    let name = name.strip_suffix(b".gz").unwrap_or(name);
    decide::copy_name(name, orig)
}

impl Tailer {
    /// Restart: the lines of checkpoint `cp` past its offset may be in a gzip file of its
    /// directory (rotated and compressed while we were down). Find it by its decompressed first
    /// bytes (at least 64 of them, or fewer under a rotated name of the checkpointed file) and
    /// read it. `copy`: it is a `copytruncate` copy, whose unterminated last line is a write
    /// torn by the copy, not a line. True if one was found.
    pub(super) fn recover_compressed(
        &mut self,
        cp: &Checkpoint,
        copy: bool,
        sink: &mut dyn TailSink,
    ) -> bool {
        let (Some(dir), Some(orig)) = (cp.path.parent(), cp.path.file_name()) else {
            return false;
        };
        let short = (cp.fingerprint.head_len as usize) < decide::MIN_COPY_HEAD;
        let followed = &self.table.files;
        let best = self
            .listings
            .of(dir)
            .iter()
            .filter(|l| {
                l.gz_head.as_ref().is_some_and(|h| has_head(h, cp))
                    && !followed.contains_key(&l.id)
                    && (!short
                        || l.path
                            .file_name()
                            .is_some_and(|n| rotated_name(n.as_bytes(), orig.as_bytes())))
            })
            .max_by_key(|l| l.mtime)
            .map(|l| (l.path.clone(), l.id));
        let Some((path, id)) = best else {
            return false;
        };
        let Ok(file) = fds::open(&path) else {
            return false;
        };
        if !file.metadata().is_ok_and(|md| file_id(&md) == id) {
            return false;
        }
        self.read_compressed(Fd::new(file), &path, cp.offset, copy, sink);
        true
    }

    /// Read gzip file `file` (at `path`) from decompressed offset `offset` to its end, then let
    /// it go. Stopping midway leaves its checkpoint where it got to.
    pub(super) fn read_compressed(
        &mut self,
        file: Fd,
        path: &Path,
        offset: u64,
        copy: bool,
        sink: &mut dyn TailSink,
    ) {
        let Ok(md) = file.metadata() else { return };
        let max = self.opts.max_line_bytes;
        let mut split = Splitter::new(max);
        let mut dec = decoder(&file);
        let mut buf = std::mem::take(&mut self.buf);
        let mut head = [0u8; HEAD_MAX];
        let mut head_len = 0;
        // Decompressed bytes seen, and those since the last newline before `offset`.
        let mut pos = 0u64;
        let mut since_nl = 0u64;
        let mut info: Option<FileInfo> = None;
        let outcome = loop {
            if self.watch.stopped() {
                break Ok(false);
            }
            let n = match dec.read(&mut buf) {
                Ok(0) => break Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            let chunk = &buf[..n];
            let k = (HEAD_MAX - head_len).min(n);
            head[head_len..head_len + k].copy_from_slice(&chunk[..k]);
            head_len += k;
            let end = pos + n as u64;
            let before = (offset.saturating_sub(pos) as usize).min(n);
            since_nl = match memrchr(b'\n', &chunk[..before]) {
                Some(i) => (before - i - 1) as u64,
                None => since_nl + before as u64,
            };
            if end <= offset {
                pos = end;
                continue;
            }
            if info.is_none() {
                // Resumed inside a line: the rest of a cut line is skipped, a newline right
                // after a flushed partial line ends it.
                if offset > 0 && since_nl >= max as u64 {
                    split.set_skipping();
                } else if offset > 0 && since_nl > 0 {
                    split.set_after_flush();
                }
                let fi = FileInfo {
                    path: path.to_path_buf(),
                    fingerprint: fingerprint_of(&md, &head[..head_len]),
                };
                tracing::debug!(path = %path.display(), offset, "reading a compressed rotated file");
                sink.event(TailEvent::Opened {
                    file: fi.clone(),
                    offset,
                });
                info = Some(fi);
            }
            let Some(fi) = info.as_ref() else { continue };
            split.feed(pos + before as u64, &chunk[before..], &mut |p| match p {
                Piece::Data(start, d) => sink.batch(fi, start, d),
                Piece::TooLong => sink.event(TailEvent::LineTooLong { file: fi.clone() }),
                Piece::Skipped(at) => sink.batch(fi, at, &[]),
            });
            pos = end;
        };
        self.buf = buf;
        let done = match outcome {
            Ok(done) => done,
            Err(e) => {
                let m = format!("cannot read compressed file {}: {e}", path.display());
                self.errors.report(sink, path, Problem::Read, m);
                true
            }
        };
        match info {
            Some(fi) if done => {
                if !copy {
                    split.flush(&mut |p| {
                        if let Piece::Data(start, d) = p {
                            sink.batch(&fi, start, d);
                        }
                    });
                }
                sink.event(TailEvent::Closed { file: fi });
            }
            Some(_) => {} // stopping: its checkpoint says how far it was read
            None => {
                tracing::debug!(path = %path.display(), offset, "compressed file holds nothing past the checkpoint");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Fingerprint;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("compress");
        e.finish().expect("compress")
    }

    #[test]
    fn a_gz_is_told_by_its_decompressed_head() {
        use crate::source::fingerprint::{fnv1a, read_head};
        let d = tempfile::tempdir().expect("tempdir");
        let text: Vec<u8> = (0..100)
            .flat_map(|i| format!("line {i:03} of the rotated file\n").into_bytes())
            .collect();
        let p = d.path().join("app.log.1.gz");
        std::fs::write(&p, gz(&text)).expect("write");
        let cp = |head: &[u8]| Checkpoint {
            path: d.path().join("app.log"),
            fingerprint: Fingerprint {
                dev: 0,
                ino: 0,
                head_len: head.len() as u32,
                head_hash: fnv1a(head),
            },
            offset: 500,
        };
        let head_of = |p: &Path| {
            let f = File::open(p).expect("open");
            let mut buf = [0u8; HEAD_MAX];
            let n = read_head(&f, HEAD_MAX, &mut buf).expect("read");
            gz_head(&f, &buf[..n])
        };
        let h = head_of(&p).expect("gzip");
        assert_eq!(h.as_slice(), &text[..HEAD_MAX]);
        assert!(has_head(&h, &cp(&text[..HEAD_MAX])));
        assert!(has_head(&h, &cp(&text[..10])));
        assert!(!has_head(&h, &cp(&text[1..HEAD_MAX + 1])));
        assert!(!has_head(&h, &cp(&[])), "no head: nothing to tell by");
        // Not gzip: none.
        std::fs::write(d.path().join("plain"), &text).expect("write");
        assert!(head_of(&d.path().join("plain")).is_none());
        // Corrupt gzip: none.
        std::fs::write(d.path().join("bad.gz"), b"\x1f\x8b\x08\x00garbage").expect("write");
        assert!(head_of(&d.path().join("bad.gz")).is_none_or(|h| h.as_slice().is_empty()));
        assert!(rotated_name(b"app.log.1.gz", b"app.log"));
        assert!(rotated_name(b"app-20261127.log.gz", b"app.log"));
        assert!(!rotated_name(b"other.log.1.gz", b"app.log"));
    }
}
