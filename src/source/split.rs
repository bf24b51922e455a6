//! Line splitting shared by the tailer and replay mode: raw chunks in, contiguous batches of whole
//! lines out. Never allocates per line; the only buffer is the partial line carried between
//! chunks, bounded by `max_line_bytes`.

use memchr::{memchr, memchr_iter};

/// A partial line's buffer grown past this is freed once the line is delivered (a file that
/// once held a long line does not keep its memory).
pub(crate) const KEEP: usize = 64 * 1024;

/// What the splitter hands out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Whole lines starting at this file offset (the last may be unterminated: a cut prefix or a
    /// flushed partial line).
    Data(u64, &'a [u8]),
    /// The line just delivered was cut at `max_line_bytes`; the rest up to its newline is skipped.
    TooLong,
    /// Everything before this file offset is consumed, with no line to deliver (the skipped
    /// rest of a cut line, the newline ending a flushed partial line): the offset moves on
    /// without a line, so no lag stays behind and a checkpoint resumes past them.
    Skipped(u64),
}

/// Splits a byte stream into lines, carrying a partial line between chunks.
#[derive(Debug)]
pub(crate) struct Splitter {
    max: usize,
    pending: Vec<u8>,
    pending_start: u64,
    /// Inside the skipped rest of an overlong line.
    skipping: bool,
    /// The previous line was delivered without its newline (partial flush); a newline arriving
    /// next terminates that line and is swallowed instead of making an empty line.
    after_flush: bool,
    /// End of the last piece handed out (data or skip); `None` before the first feed (which
    /// then starts at the offset fed).
    out_end: Option<u64>,
}

impl Splitter {
    /// `max` is the longest line content kept (newline not counted); at least 1.
    pub(crate) fn new(max: usize) -> Self {
        Splitter {
            max: max.max(1),
            pending: Vec::new(),
            pending_start: 0,
            skipping: false,
            after_flush: false,
            out_end: None,
        }
    }

    /// Forget any partial state (truncation).
    pub(crate) fn reset(&mut self) {
        self.clear_pending();
        self.skipping = false;
        self.after_flush = false;
        self.out_end = None;
    }

    /// Bytes held as a partial line.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Memory held for the partial line.
    pub(crate) fn held_bytes(&self) -> usize {
        self.pending.capacity()
    }

    /// Let go of the partial line (its bytes are still in the file): returns the offset where
    /// it starts, to read it again from there. `None`: there is none.
    pub(crate) fn evict(&mut self) -> Option<u64> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending = Vec::new();
        Some(self.pending_start)
    }

    fn clear_pending(&mut self) {
        if self.pending.capacity() > KEEP {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
    }

    /// Start by skipping to the next newline (resumed or started in the middle of a line).
    pub(crate) fn set_skipping(&mut self) {
        self.skipping = true;
    }

    /// Start as if a partial line had just been flushed.
    pub(crate) fn set_after_flush(&mut self) {
        self.after_flush = true;
    }

    /// Deliver the partial line, if any, as a whole line.
    pub(crate) fn flush(&mut self, out: &mut dyn FnMut(Piece<'_>)) {
        if !self.pending.is_empty() {
            out(Piece::Data(self.pending_start, &self.pending));
            self.out_end = Some(self.pending_start + self.pending.len() as u64);
            self.clear_pending();
            self.after_flush = true;
        }
    }

    /// Feed `data`, read at file offset `pos` (the offset right after the previous chunk).
    pub(crate) fn feed(&mut self, pos: u64, data: &[u8], out: &mut dyn FnMut(Piece<'_>)) {
        if data.is_empty() {
            return;
        }
        let end = pos + data.len() as u64;
        let mut out_end = self.out_end.unwrap_or(pos);
        self.feed_pieces(pos, data, &mut |p| {
            match p {
                Piece::Data(start, d) => out_end = start + d.len() as u64,
                Piece::Skipped(at) => out_end = at,
                Piece::TooLong => {}
            }
            out(p)
        });
        // What is not held as a partial line is consumed: say so if no piece reached it.
        let consumed = if self.pending.is_empty() {
            end
        } else {
            self.pending_start
        };
        if consumed > out_end {
            out(Piece::Skipped(consumed));
            out_end = consumed;
        }
        self.out_end = Some(out_end);
    }

    fn feed_pieces(&mut self, pos: u64, data: &[u8], out: &mut dyn FnMut(Piece<'_>)) {
        let mut i = 0usize;
        if self.after_flush {
            self.after_flush = false;
            if data[0] == b'\n' {
                i = 1;
            }
        }
        if self.skipping {
            match memchr(b'\n', &data[i..]) {
                None => return,
                Some(j) => {
                    self.skipping = false;
                    i += j + 1;
                }
            }
        }
        if !self.pending.is_empty() {
            let room = self.max.saturating_sub(self.pending.len());
            match memchr(b'\n', &data[i..]) {
                Some(j) => {
                    if j <= room {
                        self.pending.extend_from_slice(&data[i..i + j + 1]);
                        out(Piece::Data(self.pending_start, &self.pending));
                    } else {
                        self.pending.extend_from_slice(&data[i..i + room]);
                        out(Piece::Data(self.pending_start, &self.pending));
                        out(Piece::TooLong);
                    }
                    self.clear_pending();
                    i += j + 1;
                }
                None => {
                    let rest = data.len() - i;
                    if rest <= room {
                        self.pending.extend_from_slice(&data[i..]);
                    } else {
                        self.pending.extend_from_slice(&data[i..i + room]);
                        out(Piece::Data(self.pending_start, &self.pending));
                        out(Piece::TooLong);
                        self.clear_pending();
                        self.skipping = true;
                    }
                    return;
                }
            }
        }
        let mut batch_start = i;
        let mut line_start = i;
        for nl in memchr_iter(b'\n', &data[i..]) {
            let nl = i + nl;
            if nl - line_start > self.max {
                out(Piece::Data(
                    pos + batch_start as u64,
                    &data[batch_start..line_start + self.max],
                ));
                out(Piece::TooLong);
                batch_start = nl + 1;
            }
            line_start = nl + 1;
        }
        let tail = &data[line_start..];
        if tail.len() > self.max {
            out(Piece::Data(
                pos + batch_start as u64,
                &data[batch_start..line_start + self.max],
            ));
            out(Piece::TooLong);
            self.skipping = true;
            return;
        }
        if line_start > batch_start {
            out(Piece::Data(
                pos + batch_start as u64,
                &data[batch_start..line_start],
            ));
        }
        if !tail.is_empty() {
            self.pending.extend_from_slice(tail);
            self.pending_start = pos + line_start as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference: split at newlines, cut long lines, drop the unterminated tail.
    fn reference(data: &[u8], max: usize) -> (Vec<Vec<u8>>, usize) {
        let mut lines = Vec::new();
        let mut cuts = 0;
        let mut rest = data;
        while let Some(j) = rest.iter().position(|&b| b == b'\n') {
            if j > max {
                lines.push(rest[..max].to_vec());
                cuts += 1;
            } else {
                lines.push(rest[..=j].to_vec());
            }
            rest = &rest[j + 1..];
        }
        if rest.len() > max {
            lines.push(rest[..max].to_vec());
            cuts += 1;
        }
        (lines, cuts)
    }

    fn run(data: &[u8], max: usize, cuts_at: &[usize]) -> (Vec<Vec<u8>>, usize) {
        let mut s = Splitter::new(max);
        let mut lines = Vec::new();
        let mut too_long = 0;
        let mut pos = 0usize;
        let mut expect_next: Option<u64> = None;
        let mut bounds: Vec<usize> = cuts_at.iter().map(|c| c % (data.len() + 1)).collect();
        bounds.push(data.len());
        bounds.sort_unstable();
        for b in bounds {
            if b < pos {
                continue;
            }
            s.feed(pos as u64, &data[pos..b], &mut |p| match p {
                Piece::Data(start, d) => {
                    // Batches are contiguous with the file and never overlap.
                    assert_eq!(&data[start as usize..start as usize + d.len()], d);
                    if let Some(n) = expect_next {
                        assert!(start >= n);
                    }
                    expect_next = Some(start + d.len() as u64);
                    let mut r = d;
                    while let Some(j) = r.iter().position(|&c| c == b'\n') {
                        lines.push(r[..=j].to_vec());
                        r = &r[j + 1..];
                    }
                    if !r.is_empty() {
                        lines.push(r.to_vec());
                    }
                }
                Piece::TooLong => too_long += 1,
                Piece::Skipped(at) => {
                    if let Some(n) = expect_next {
                        assert!(at >= n);
                    }
                    expect_next = Some(at);
                }
            });
            pos = b;
        }
        // Everything is consumed but an unterminated tail no longer than `max`.
        let after_nl = data.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        let consumed = if data.len() - after_nl > max {
            data.len()
        } else {
            after_nl
        };
        assert_eq!(expect_next.unwrap_or(0), consumed as u64, "consumed");
        (lines, too_long)
    }

    proptest! {
        #[test]
        fn chunking_does_not_change_lines(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'b')], 0..300),
            max in 1usize..12,
            cuts in proptest::collection::vec(0usize..400, 0..20),
        ) {
            let (want, want_cuts) = reference(&data, max);
            let (got, got_cuts) = run(&data, max, &cuts);
            prop_assert_eq!(got, want);
            prop_assert_eq!(got_cuts, want_cuts);
        }
    }

    #[test]
    fn flush_then_newline_is_one_line() {
        let mut s = Splitter::new(100);
        let mut out = Vec::new();
        s.feed(0, b"abc", &mut |p| {
            if let Piece::Data(o, d) = p {
                out.push((o, d.to_vec()))
            }
        });
        s.flush(&mut |p| {
            if let Piece::Data(o, d) = p {
                out.push((o, d.to_vec()))
            }
        });
        s.feed(3, b"\nx\n", &mut |p| {
            if let Piece::Data(o, d) = p {
                out.push((o, d.to_vec()))
            }
        });
        assert_eq!(out, vec![(0, b"abc".to_vec()), (4, b"x\n".to_vec())]);
    }

    fn pieces(s: &mut Splitter, pos: u64, data: &[u8]) -> Vec<String> {
        let mut v = Vec::new();
        s.feed(pos, data, &mut |p| {
            v.push(match p {
                Piece::Data(o, d) => format!("{o}:{}", String::from_utf8_lossy(d)),
                Piece::TooLong => "cut".into(),
                Piece::Skipped(at) => format!("to {at}"),
            })
        });
        v
    }

    #[test]
    fn skipped_bytes_are_consumed() {
        // A cut line whose newline comes last, alone or with its rest.
        let mut s = Splitter::new(4);
        assert_eq!(
            pieces(&mut s, 0, b"ab\nlonger"),
            ["0:ab\nlong", "cut", "to 9"]
        );
        assert_eq!(pieces(&mut s, 9, b"rest"), ["to 13"]);
        assert_eq!(pieces(&mut s, 13, b"\n"), ["to 14"]);
        assert_eq!(pieces(&mut s, 14, b"ok\n"), ["14:ok\n"]);
        assert_eq!(
            pieces(&mut s, 17, b"toolong\n"),
            ["17:tool", "cut", "to 25"]
        );
        // Followed by a line: its data says it.
        assert_eq!(
            pieces(&mut s, 25, b"toolong\nx\n"),
            ["25:tool", "cut", "33:x\n"]
        );
        // A flushed partial line ended by a newline alone.
        let mut s = Splitter::new(100);
        assert_eq!(pieces(&mut s, 50, b"abc"), Vec::<String>::new());
        s.flush(&mut |_| {});
        assert_eq!(pieces(&mut s, 53, b"\n"), ["to 54"]);
        // Resumed inside a cut line: the first feed starts there.
        let mut s = Splitter::new(4);
        s.set_skipping();
        assert_eq!(pieces(&mut s, 1000, b"xx\nyy"), ["to 1003"]);
    }

    #[test]
    fn a_long_partial_line_is_let_go_and_its_memory_freed() {
        let mut s = Splitter::new(1 << 20);
        let long = vec![b'a'; 200_000];
        assert!(pieces(&mut s, 0, b"x\n").len() == 1);
        assert!(pieces(&mut s, 2, &long).is_empty());
        assert!(s.held_bytes() >= 200_000);
        // Evicted: it starts at 2, to be read again from there.
        assert_eq!(s.evict(), Some(2));
        assert_eq!(s.held_bytes(), 0);
        assert_eq!(s.evict(), None);
        // Read again, then ended: one line, and the buffer is freed once delivered.
        assert!(pieces(&mut s, 2, &long).is_empty());
        assert_eq!(pieces(&mut s, 200_002, b"\n").len(), 1);
        assert_eq!(s.held_bytes(), 0);
    }
}
