//! Compressed rotated files, read after a restart. With `compress` but no `delaycompress`,
//! logrotate compresses the rotated file (or the `copytruncate` copy) at once and deletes it:
//! when the agent was down meanwhile, the lines past its checkpoint are only in the `.gz`. The
//! `.gz` in the checkpointed file's directory whose decompressed first bytes hash to the
//! checkpoint's head is that file (the newest, if several): it is read (gzip) from the
//! checkpoint's offset to its end, then let go. Its offsets are offsets in the decompressed
//! bytes, so a restart while it is read goes on from there. bzip2, xz and zstd files are not
//! read (their lines past the checkpoint are lost, as logged).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;
use memchr::memrchr;

use super::decide;
use super::fds::{self, Fd};
use super::fingerprint::{file_id, fingerprint_of, fnv1a, HEAD_MAX};
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

/// Is `file` gzip data whose first decompressed bytes are those checkpoint `cp` hashed?
pub(super) fn gz_matches(file: &File, cp: &Checkpoint) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    if file.read_at(&mut magic, 0)? < 2 || magic != *GZIP {
        return Ok(false);
    }
    let want = (cp.fingerprint.head_len as usize).min(HEAD_MAX);
    if want == 0 {
        return Ok(false);
    }
    let mut buf = [0u8; HEAD_MAX];
    let mut n = 0;
    let mut dec = decoder(file);
    while n < want {
        match dec.read(&mut buf[n..want]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n == want && fnv1a(&buf[..n]) == cp.fingerprint.head_hash)
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
        let Ok(entries) = fs::read_dir(dir) else {
            return false;
        };
        let short = (cp.fingerprint.head_len as usize) < decide::MIN_COPY_HEAD;
        let mut best: Option<(SystemTime, PathBuf, File)> = None;
        for e in entries.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if !md.is_file() || self.table.files.contains_key(&file_id(&md)) {
                continue;
            }
            if short && !rotated_name(e.file_name().as_bytes(), orig.as_bytes()) {
                continue;
            }
            let path = e.path();
            let Ok(file) = fds::open(&path) else { continue };
            if !gz_matches(&file, cp).unwrap_or(false) {
                continue;
            }
            let mtime = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, _, _)| mtime > *t) {
                best = Some((mtime, path, file));
            }
        }
        let Some((_, path, file)) = best else {
            return false;
        };
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
        let d = tempfile::tempdir().expect("tempdir");
        let text: Vec<u8> = (0..100)
            .flat_map(|i| format!("line {i:03} of the rotated file\n").into_bytes())
            .collect();
        let p = d.path().join("app.log.1.gz");
        fs::write(&p, gz(&text)).expect("write");
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
        let f = File::open(&p).expect("open");
        assert!(gz_matches(&f, &cp(&text[..HEAD_MAX])).expect("read"));
        assert!(gz_matches(&f, &cp(&text[..10])).expect("read"));
        assert!(!gz_matches(&f, &cp(&text[1..HEAD_MAX + 1])).expect("read"));
        // Not gzip: never.
        fs::write(d.path().join("plain"), &text).expect("write");
        let plain = File::open(d.path().join("plain")).expect("open");
        assert!(!gz_matches(&plain, &cp(&text[..HEAD_MAX])).expect("read"));
        assert!(rotated_name(b"app.log.1.gz", b"app.log"));
        assert!(rotated_name(b"app-20261127.log.gz", b"app.log"));
        assert!(!rotated_name(b"other.log.1.gz", b"app.log"));
    }
}
