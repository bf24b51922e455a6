//! Reading: a followed file from its read position to its end (truncation checked first), the
//! start positions that need a look at the bytes (line-aligned end, resuming mid-line), and
//! replay of a whole file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use memchr::memrchr;

use super::decide::{self, Truncation};
use super::files::Followed;
use super::fingerprint::{
    fingerprint, head_matches, identity, is_compressed, may_be_compressed, HEAD_MAX,
};
use super::split::{Piece, Splitter};
use super::{FileInfo, TailError, TailEvent, TailSink};
use std::os::unix::fs::FileExt;

/// Read buffer size (one batch per buffer at most).
pub(crate) const BUF_SIZE: usize = 128 * 1024;
/// Most bytes read from one file per wake-up before giving the others a turn.
const READ_BUDGET: u64 = 8 * 1024 * 1024;

/// Deliver a followed file's partial line, if any, as a whole line.
pub(crate) fn flush(f: &mut Followed, sink: &mut dyn TailSink) {
    let info = &f.info;
    let delivered = &mut f.delivered;
    f.split.flush(&mut |p| {
        if let Piece::Data(start, d) = p {
            sink.batch(info, start, d);
            *delivered = start + d.len() as u64;
        }
    });
}

/// What [`read_followed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Read to the end.
    Done,
    /// Read up to the budget; more remains.
    More,
    /// Nothing read: the file was truncated (or rewritten in place). Call [`truncate`], then
    /// read again.
    Truncated,
    /// Nothing read: the file starts with compressed data.
    Compressed,
    /// Nothing read: the file is parked (no descriptor).
    Parked,
}

/// Check one followed file (truncation, head change) and read it to its end or the budget.
pub(crate) fn read_followed(
    f: &mut Followed,
    buf: &mut [u8],
    sink: &mut dyn TailSink,
    stop: &AtomicBool,
) -> io::Result<Outcome> {
    let Some(file) = f.file.as_deref() else {
        return Ok(Outcome::Parked);
    };
    let md = file.metadata()?;
    let size = md.len();
    let mtime = md.modified().ok();
    if f.seen == Some((size, mtime)) && f.read_pos >= size {
        return Ok(Outcome::Done);
    }
    f.seen = Some((size, mtime));
    f.size = size;
    f.mtime = mtime;
    let fp = f.info.fingerprint;
    if decide::truncated(size, f.read_pos, fp.head_len, || head_matches(file, &fp))? {
        return Ok(Outcome::Truncated);
    }
    if (fp.head_len as usize) < HEAD_MAX && size > u64::from(fp.head_len) {
        (f.info.fingerprint, f.head) = identity(file, &md)?;
    }
    let mut budget = READ_BUDGET;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Outcome::Done);
        }
        let n = match file.read_at(buf, f.read_pos) {
            Ok(0) => return Ok(Outcome::Done),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if f.read_pos == 0 {
            if is_compressed(&buf[..n]) {
                return Ok(Outcome::Compressed);
            }
            if may_be_compressed(&buf[..n]) {
                return Ok(Outcome::Done); // tell once more bytes are written
            }
        }
        let pos = f.read_pos;
        f.read_pos += n as u64;
        f.size = f.size.max(f.read_pos);
        f.last_growth = Instant::now();
        let info = &f.info;
        let delivered = &mut f.delivered;
        f.split.feed(pos, &buf[..n], &mut |p| match p {
            Piece::Data(start, d) => {
                sink.batch(info, start, d);
                *delivered = start + d.len() as u64;
            }
            Piece::TooLong => sink.event(TailEvent::LineTooLong { file: info.clone() }),
        });
        budget = budget.saturating_sub(n as u64);
        if budget == 0 {
            return Ok(Outcome::More);
        }
    }
}

/// Start a truncated file over from 0 and remember the truncation: the old identity and the
/// end of what was delivered (a partial line held back is dropped here, and read again from a
/// copy if one is found).
pub(crate) fn truncate(f: &mut Followed) -> io::Result<Truncation> {
    let Some(file) = f.file.as_deref() else {
        return Err(io::Error::other("file is parked"));
    };
    let md = file.metadata()?;
    let t = Truncation {
        old: f.info.fingerprint,
        head: Some(f.head),
        pos: f.delivered,
        at: Instant::now(),
    };
    f.split.reset();
    f.read_pos = 0;
    f.delivered = 0;
    (f.info.fingerprint, f.head) = identity(file, &md)?;
    decide::remember(&mut f.truncations, t);
    Ok(t)
}

/// Starting "at the end": after the last newline, so a line being written is read whole.
pub(crate) fn line_aligned_end(file: &File, size: u64, split: &mut Splitter) -> io::Result<u64> {
    const WINDOW: u64 = 64 * 1024;
    if size == 0 {
        return Ok(0);
    }
    let from = size.saturating_sub(WINDOW);
    let mut buf = vec![0u8; (size - from) as usize];
    let n = read_full_at(file, &mut buf, from)?;
    match memrchr(b'\n', &buf[..n]) {
        Some(i) => Ok(from + i as u64 + 1),
        None if from == 0 => Ok(0),
        None => {
            split.set_skipping();
            Ok(size)
        }
    }
}

/// Resuming at `offset` after an unterminated delivered line: either a flushed partial line (a
/// newline arriving next belongs to it) or the kept prefix of a cut line (skip to its newline).
pub(crate) fn resume_mid_line(
    file: &File,
    offset: u64,
    max: usize,
    split: &mut Splitter,
) -> io::Result<()> {
    if offset == 0 {
        return Ok(());
    }
    let want = (max as u64 + 1).min(offset);
    let from = offset - want;
    let mut buf = vec![0u8; want as usize + 1];
    let n = read_full_at(file, &mut buf, from)?;
    let before = &buf[..(want as usize).min(n)];
    if before.last() == Some(&b'\n') {
        return Ok(());
    }
    let line_len = match memrchr(b'\n', before) {
        Some(i) => before.len() - i - 1,
        None if from == 0 => before.len(),
        None => before.len(), // longer than max: certainly a cut line
    };
    let next = buf.get(want as usize).filter(|_| n > want as usize);
    if line_len >= max && next != Some(&b'\n') {
        split.set_skipping();
    } else {
        split.set_after_flush();
    }
    Ok(())
}

fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read `path` from its start to its end through `sink` (replay mode). Returns bytes read.
///
/// Uses the same line splitting as the tailer; a final line without newline is delivered whole.
pub fn read_file(
    path: &Path,
    max_line_bytes: usize,
    sink: &mut dyn TailSink,
) -> Result<u64, TailError> {
    let io_err = |source| TailError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let md = file.metadata().map_err(io_err)?;
    let info = FileInfo {
        path: path.to_path_buf(),
        fingerprint: fingerprint(&file, &md).map_err(io_err)?,
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut split = Splitter::new(max_line_bytes);
    let mut pos = 0u64;
    let mut out = |p: Piece<'_>| match p {
        Piece::Data(start, d) => sink.batch(&info, start, d),
        Piece::TooLong => sink.event(TailEvent::LineTooLong { file: info.clone() }),
    };
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        split.feed(pos, &buf[..n], &mut out);
        pos += n as u64;
    }
    split.flush(&mut out);
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(data: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut t = tempfile::NamedTempFile::new().expect("temp file");
        t.write_all(data).expect("write");
        let f = File::open(t.path()).expect("open");
        (t, f)
    }

    #[test]
    fn end_is_after_the_last_newline() {
        let (_t, f) = file_with(b"one\ntwo\nthr");
        let mut s = Splitter::new(100);
        assert_eq!(line_aligned_end(&f, 11, &mut s).expect("read"), 8);
        let (_t, f) = file_with(b"no newline yet");
        assert_eq!(line_aligned_end(&f, 14, &mut s).expect("read"), 0);
    }

    #[test]
    fn resume_after_a_whole_line_or_inside_one() {
        let (_t, f) = file_with(b"one\ntwo\nthree\n");
        let mut s = Splitter::new(100);
        resume_mid_line(&f, 8, 100, &mut s).expect("read");
        let mut out = Vec::new();
        s.feed(8, b"three\n", &mut |p| {
            if let Piece::Data(_, d) = p {
                out.extend_from_slice(d);
            }
        });
        assert_eq!(out, b"three\n");
        // Resumed right after a flushed partial "thr": a newline next ends it, no empty line.
        let (_t, f) = file_with(b"one\ntwo\nthr\nfour\n");
        let mut s = Splitter::new(100);
        resume_mid_line(&f, 11, 100, &mut s).expect("read");
        let mut out = Vec::new();
        s.feed(11, b"\nfour\n", &mut |p| {
            if let Piece::Data(_, d) = p {
                out.extend_from_slice(d);
            }
        });
        assert_eq!(out, b"four\n");
    }

    #[derive(Default)]
    struct Lines(Vec<Vec<u8>>);
    impl TailSink for Lines {
        fn batch(&mut self, _: &FileInfo, _: u64, data: &[u8]) {
            self.0
                .extend(data.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec));
        }
        fn event(&mut self, _: TailEvent) {}
    }

    #[test]
    fn replay_delivers_a_last_line_without_newline() {
        let (t, _f) = file_with(b"a\nb\nc");
        let mut sink = Lines::default();
        assert_eq!(read_file(t.path(), 100, &mut sink).expect("replay"), 5);
        assert_eq!(
            sink.0,
            vec![b"a\n".to_vec(), b"b\n".to_vec(), b"c".to_vec()]
        );
    }
}
