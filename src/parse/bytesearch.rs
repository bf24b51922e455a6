//! Byte searches for hand-written parsers: a word-at-a-time `memchr` for short fields, and
//! the end of a quoted field with backslash escapes.

use memchr::{memchr, memrchr};

/// How many bytes [`find_byte`] and [`rfind_byte`] search themselves before calling memchr.
const SHORT: usize = 32;

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of every byte of `w` that equals `b`, and no other bit (exact, unlike the
/// shorter "has zero byte" trick, whose borrows can mark the byte above a match).
#[inline(always)]
fn eq_mask(w: u64, b: u8) -> u64 {
    let v = w ^ (ONES * u64::from(b));
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// `memchr`, searching the first [`SHORT`] bytes 8 at a time in a `u64` first: most access-log
/// fields are a few bytes long, where the call and set-up of the SIMD search cost more than
/// the search itself (and a byte-at-a-time loop costs ~4 instructions per byte).
#[inline(always)]
pub(crate) fn find_byte(b: u8, hay: &[u8]) -> Option<usize> {
    let mut rest = hay.get(..SHORT).unwrap_or(hay);
    let mut off = 0;
    while let Some((w, tail)) = rest.split_first_chunk::<8>() {
        let m = eq_mask(u64::from_le_bytes(*w), b);
        if m != 0 {
            return Some(off + (m.trailing_zeros() / 8) as usize);
        }
        off += 8;
        rest = tail;
    }
    if let Some(i) = rest.iter().position(|&c| c == b) {
        return Some(off + i);
    }
    memchr(b, hay.get(SHORT..)?).map(|i| i + SHORT)
}

/// `memrchr`, searching the last [`SHORT`] bytes 8 at a time first.
#[inline(always)]
pub(crate) fn rfind_byte(b: u8, hay: &[u8]) -> Option<usize> {
    let cut = hay.len().saturating_sub(SHORT);
    let mut rest = hay.get(cut..).unwrap_or_default();
    while let Some((head, w)) = rest.split_last_chunk::<8>() {
        let m = eq_mask(u64::from_le_bytes(*w), b);
        if m != 0 {
            return Some(cut + head.len() + 7 - (m.leading_zeros() / 8) as usize);
        }
        rest = head;
    }
    if let Some(i) = rest.iter().rposition(|&c| c == b) {
        return Some(cut + i);
    }
    memrchr(b, hay.get(..cut)?)
}

/// Index of the `"` closing a quoted field whose content starts at `start`: the first `"` not
/// escaped by an odd run of backslashes for which `accept(bytes after it)` holds.
#[inline]
pub(crate) fn quoted_end(
    line: &[u8],
    start: usize,
    accept: impl Fn(&[u8]) -> bool,
) -> Option<usize> {
    let mut from = start;
    loop {
        let i = from + memchr(b'"', line.get(from..)?)?;
        if !escaped(line, start, i) && accept(line.get(i + 1..).unwrap_or_default()) {
            return Some(i);
        }
        from = i + 1;
    }
}

/// True when `line[i]` is preceded by an odd number of backslashes (not before `start`).
#[inline]
pub(crate) fn escaped(line: &[u8], start: usize, i: usize) -> bool {
    let mut n = 0;
    let mut j = i;
    while j > start && line.get(j - 1) == Some(&b'\\') {
        n += 1;
        j -= 1;
    }
    n % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_at_a_time_search_agrees_with_a_plain_search() {
        // Every length around the word and SHORT boundaries, every match position, bytes
        // that differ from the needle only in the high bit or by one (borrow/carry cases).
        for len in 0..80usize {
            for needle in [b' ', b'"', 0u8, 0x80, 0xff] {
                for fill in [
                    b'a',
                    needle ^ 0x80,
                    needle.wrapping_add(1),
                    needle.wrapping_sub(1),
                ] {
                    let base = vec![fill; len];
                    let check = |hay: &[u8]| {
                        assert_eq!(
                            find_byte(needle, hay),
                            hay.iter().position(|&c| c == needle),
                            "find {needle} in {hay:?}"
                        );
                        assert_eq!(
                            rfind_byte(needle, hay),
                            hay.iter().rposition(|&c| c == needle),
                            "rfind {needle} in {hay:?}"
                        );
                    };
                    check(&base);
                    for i in 0..len {
                        let mut hay = base.clone();
                        hay[i] = needle;
                        check(&hay);
                        if i + 3 < len {
                            hay[i + 3] = needle;
                            check(&hay);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn find_helpers() {
        let mut hay = vec![b'a'; 100];
        assert_eq!(find_byte(b'x', &hay), None);
        assert_eq!(rfind_byte(b'x', &hay), None);
        for at in [0, 5, 31, 32, 33, 67, 68, 99] {
            hay[at] = b'x';
            assert_eq!(find_byte(b'x', &hay), memchr(b'x', &hay), "{at}");
            assert_eq!(rfind_byte(b'x', &hay), memrchr(b'x', &hay), "{at}");
            hay[at] = b'a';
        }
        hay[10] = b'x';
        hay[90] = b'x';
        assert_eq!(find_byte(b'x', &hay), Some(10));
        assert_eq!(rfind_byte(b'x', &hay), Some(90));
        assert_eq!(find_byte(b'x', b""), None);
        assert_eq!(rfind_byte(b'x', b""), None);
    }
}
