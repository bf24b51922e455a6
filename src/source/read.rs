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
use super::files::{Followed, TAIL};
use super::fingerprint::{
    fingerprint, fnv1a, head_matches, identity, is_compressed, may_be_compressed, read_head,
    HeadBytes, HEAD_MAX,
};
use super::split::{Piece, Splitter};
use super::{FileInfo, Fingerprint, TailError, TailEvent, TailSink};
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

/// How a followed file is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// After a write event: read from the position at once; the bytes read last, read again
    /// with the new ones, tell a truncation.
    Event,
    /// The backstop poll and rare paths: `fstat` first (an unchanged file is not read), and
    /// the head checked too.
    Poll,
}

/// Check one followed file (truncation, head change) and read it to its end or the budget.
pub(crate) fn read_followed(
    f: &mut Followed,
    buf: &mut [u8],
    sink: &mut dyn TailSink,
    stop: &AtomicBool,
    look: Look,
) -> io::Result<Outcome> {
    let Some(file) = f.file.as_deref() else {
        return Ok(Outcome::Parked);
    };
    let fp = f.info.fingerprint;
    // Nothing read yet from this descriptor (resumed, started at the end): no bytes to compare
    // with, the size and head tell.
    let look = if f.tail_len == 0 && f.read_pos > 0 {
        Look::Poll
    } else {
        look
    };
    if look == Look::Poll {
        let md = file.metadata()?;
        let size = md.len();
        let mtime = md.modified().ok();
        if f.seen == Some((size, mtime)) && f.read_pos >= size {
            return Ok(Outcome::Done);
        }
        f.seen = Some((size, mtime));
        f.size = size;
        f.mtime = mtime;
        if decide::truncated(size, f.read_pos, fp.head_len, || head_matches(file, &fp))? {
            return Ok(Outcome::Truncated);
        }
    }
    // Event look: the head is checked once, when new bytes are found (not on a wake-up that
    // finds nothing, e.g. a rotated file being drained): the bytes read last alone cannot
    // tell a file truncated and rewritten past our position with lines of the same shape.
    let mut head_checked = look == Look::Poll || fp.head_len == 0 || f.read_pos == 0;
    let mut budget = READ_BUDGET;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Outcome::Done);
        }
        let k = usize::from(f.tail_len).min(f.read_pos as usize);
        let n = match file.read_at(buf, f.read_pos - k as u64) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n < k || buf[..k] != f.tail[..k] {
            // What was read last is not there any more.
            return Ok(Outcome::Truncated);
        }
        if n == k {
            return Ok(Outcome::Done);
        }
        if !head_checked {
            head_checked = true;
            if !head_unchanged(file, &fp, &f.head)? {
                return Ok(Outcome::Truncated);
            }
        }
        if f.read_pos == 0 {
            if is_compressed(&buf[..n]) {
                return Ok(Outcome::Compressed);
            }
            if may_be_compressed(&buf[..n]) {
                return Ok(Outcome::Done); // tell once more bytes are written
            }
        }
        let pos = f.read_pos;
        f.read_pos += (n - k) as u64;
        f.size = f.size.max(f.read_pos);
        f.last_growth = Instant::now();
        if (f.info.fingerprint.head_len as usize) < HEAD_MAX
            && f.read_pos > u64::from(f.info.fingerprint.head_len)
        {
            // A young file: its identity grows with it (up to HEAD_MAX bytes), before the
            // batch, so that the offsets delivered are saved with the head they follow.
            if pos == 0 {
                let head = &buf[..n.min(HEAD_MAX)];
                f.info.fingerprint.head_len = head.len() as u32;
                f.info.fingerprint.head_hash = fnv1a(head);
                f.head = HeadBytes::new(head);
            } else {
                let md = file.metadata()?;
                (f.info.fingerprint, f.head) = identity(file, &md)?;
            }
        }
        let info = &f.info;
        let delivered = &mut f.delivered;
        f.split.feed(pos, &buf[k..n], &mut |p| match p {
            Piece::Data(start, d) => {
                sink.batch(info, start, d);
                *delivered = start + d.len() as u64;
            }
            Piece::TooLong => sink.event(TailEvent::LineTooLong { file: info.clone() }),
            // Consumed without a line: an empty batch moves the offset (no lag is left, and a
            // checkpoint resumes past them).
            Piece::Skipped(at) => {
                sink.batch(info, at, &[]);
                *delivered = at;
            }
        });
        let t = n.min(TAIL);
        f.tail[..t].copy_from_slice(&buf[n - t..n]);
        f.tail_len = t as u8;
        if n < buf.len() {
            return Ok(Outcome::Done); // a short read: at the end
        }
        budget = budget.saturating_sub((n - k) as u64);
        if budget == 0 {
            f.size = f.size.max(file.metadata()?.len());
            return Ok(Outcome::More);
        }
    }
}

/// Does the file still start with the bytes its identity covers? Compared with the head kept
/// when it holds them (no hash to compute on every read), else by hash.
fn head_unchanged(file: &File, fp: &Fingerprint, head: &HeadBytes) -> io::Result<bool> {
    let want = (fp.head_len as usize).min(HEAD_MAX);
    let Some(kept) = head.as_slice().get(..want) else {
        return head_matches(file, fp);
    };
    let mut buf = [0u8; HEAD_MAX];
    let n = read_head(file, want, &mut buf)?;
    Ok(buf[..n] == *kept)
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
    f.tail_len = 0;
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
        Piece::Skipped(_) => {}
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

    /// Batches with the fingerprint they were delivered with.
    #[derive(Default)]
    struct Batches(Vec<(crate::source::Fingerprint, u64, usize)>);
    impl TailSink for Batches {
        fn batch(&mut self, file: &FileInfo, start: u64, data: &[u8]) {
            self.0.push((file.fingerprint, start, data.len()));
        }
        fn event(&mut self, _: TailEvent) {}
    }

    /// Lines alike in their last 64 bytes and more.
    fn lines(from: usize, n: usize) -> Vec<u8> {
        (from..from + n)
            .flat_map(|i| format!("n{i:05} {}\n", "x".repeat(90)).into_bytes())
            .collect()
    }

    fn read_event(f: &mut Followed, sink: &mut dyn TailSink) -> Outcome {
        let mut buf = vec![0u8; BUF_SIZE];
        read_followed(f, &mut buf, sink, &AtomicBool::new(false), Look::Event).expect("read")
    }

    #[test]
    fn event_look_tells_a_truncation_whatever_the_file_holds_now() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("app.log");
        std::fs::write(&p, lines(0, 10)).expect("write");
        let mut f = Followed::from_start(&p);
        let mut sink = Batches::default();
        assert_eq!(read_event(&mut f, &mut sink), Outcome::Done);
        assert_eq!(f.read_pos, 980);
        assert_eq!(read_event(&mut f, &mut sink), Outcome::Done, "nothing new");
        // Truncated and written again past our position, with lines of the same shape: the
        // bytes before our position are the same as those read last; the head tells.
        std::fs::write(&p, lines(10, 12)).expect("rewrite");
        assert_eq!(read_event(&mut f, &mut sink), Outcome::Truncated);
        truncate(&mut f).expect("truncate");
        assert_eq!(read_event(&mut f, &mut sink), Outcome::Done);
        assert_eq!(f.read_pos, 12 * 98);
        // Truncated to less than our position.
        std::fs::write(&p, lines(30, 1)).expect("rewrite");
        assert_eq!(read_event(&mut f, &mut sink), Outcome::Truncated);
    }

    #[test]
    fn batches_carry_the_head_they_follow() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("app.log");
        std::fs::write(&p, b"").expect("create");
        let mut f = Followed::from_start(&p);
        let mut sink = Batches::default();
        std::fs::write(&p, b"short\n").expect("write");
        read_event(&mut f, &mut sink);
        std::fs::write(&p, [b"short\n".to_vec(), lines(0, 5)].concat()).expect("append");
        read_event(&mut f, &mut sink);
        // A checkpoint saved with the offset of a batch must hold the head before that
        // offset, or a resume could not tell another file from this one.
        let whole = std::fs::read(&p).expect("read");
        let want = |len: usize| fnv1a(&whole[..len]);
        assert_eq!(sink.0.len(), 2);
        assert_eq!((sink.0[0].0.head_len, sink.0[0].0.head_hash), (6, want(6)));
        let fp = sink.0[1].0;
        assert_eq!(
            (fp.head_len, fp.head_hash),
            (HEAD_MAX as u32, want(HEAD_MAX))
        );
    }
}
