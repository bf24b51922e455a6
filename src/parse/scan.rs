//! Shared pieces of the hand-written formats (`syslog`, `nginx_error`, `apache_error`, `java`):
//! a bounds-checked byte cursor, timestamp shapes, and fixed field tables.
//!
//! Every read goes through `get`, so no input can make a parser index out of bounds; a cursor
//! helper that does not match leaves the position where it was.

use super::{canonical_field_name, FieldId};

/// A read position in a line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub line: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `line`.
    pub fn new(line: &'a [u8]) -> Self {
        Cursor { line, pos: 0 }
    }

    /// The byte at the cursor.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    /// The byte `k` past the cursor.
    #[inline]
    pub fn peek_at(&self, k: usize) -> Option<u8> {
        self.line.get(self.pos.saturating_add(k)).copied()
    }

    /// Everything from the cursor on.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.line.get(self.pos..).unwrap_or_default()
    }

    /// True at the end of the line.
    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Consume `b` if it is next.
    #[inline]
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consume `s` if the rest starts with it.
    #[inline]
    pub fn eat_str(&mut self, s: &[u8]) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Consume bytes while `f` holds; the span consumed.
    #[inline]
    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> (usize, usize) {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if !f(b) {
                break;
            }
            self.pos += 1;
        }
        (start, self.pos)
    }

    /// Consume spaces; how many.
    #[inline]
    pub fn skip_spaces(&mut self) -> usize {
        let (s, e) = self.take_while(|b| b == b' ');
        e - s
    }

    /// Consume `min..=max` ASCII digits, or nothing (and `None`) when fewer than `min`.
    #[inline]
    pub fn digits(&mut self, min: usize, max: usize) -> Option<(usize, usize)> {
        let start = self.pos;
        let mut n = 0;
        while n < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
            n += 1;
        }
        if n < min {
            self.pos = start;
            return None;
        }
        Some((start, self.pos))
    }

    /// Consume up to (not including) the next `b`; its position, or `None` (cursor unchanged).
    #[inline]
    pub fn until(&mut self, b: u8) -> Option<usize> {
        let at = self.pos + memchr::memchr(b, self.rest())?;
        self.pos = at;
        Some(at)
    }

    /// Consume a token up to the next space (or the end); its span (possibly empty).
    #[inline]
    pub fn token(&mut self) -> (usize, usize) {
        let start = self.pos;
        let rest = self.rest();
        self.pos += memchr::memchr(b' ', rest).unwrap_or(rest.len());
        (start, self.pos)
    }

    /// Run `f`; when it fails, put the cursor back.
    #[inline]
    pub fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let save = self.pos;
        let r = f(self);
        if r.is_none() {
            self.pos = save;
        }
        r
    }
}

/// The first physical line of a (possibly joined) record.
#[inline]
pub(crate) fn first_line_end(line: &[u8]) -> usize {
    memchr::memchr(b'\n', line).unwrap_or(line.len())
}

/// `hh:mm:ss` with an optional `.fraction` or `,fraction` (1 to 9 digits).
pub(crate) fn clock(c: &mut Cursor) -> Option<()> {
    c.attempt(|c| {
        c.digits(2, 2)?;
        c.eat(b':').then_some(())?;
        c.digits(2, 2)?;
        c.eat(b':').then_some(())?;
        c.digits(2, 2)?;
        fraction(c);
        Some(())
    })
}

fn fraction(c: &mut Cursor) {
    c.attempt(|c| {
        (c.eat(b'.') || c.eat(b',')).then_some(())?;
        c.digits(1, 9)
    });
}

/// `YYYY-MM-DD` then `T` or (when `space_ok`) one space, then [`clock`], then an optional zone
/// (`Z`, `+hh:mm`, `+hhmm`, `+hh`).
pub(crate) fn iso_datetime(c: &mut Cursor, space_ok: bool) -> Option<()> {
    c.attempt(|c| {
        c.digits(4, 4)?;
        c.eat(b'-').then_some(())?;
        c.digits(2, 2)?;
        c.eat(b'-').then_some(())?;
        c.digits(2, 2)?;
        (c.eat(b'T') || (space_ok && c.eat(b' '))).then_some(())?;
        clock(c)?;
        zone(c);
        Some(())
    })
}

/// `Z`, `+hh:mm`, `-hhmm` or `+hh`, when next.
pub(crate) fn zone(c: &mut Cursor) {
    if c.eat(b'Z') {
        return;
    }
    c.attempt(|c| {
        (c.eat(b'+') || c.eat(b'-')).then_some(())?;
        c.digits(2, 2)?;
        c.attempt(|c| {
            c.eat(b':');
            c.digits(2, 2)
        });
        Some(())
    });
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const WEEKDAYS: [&[u8; 3]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];

fn word3(c: &mut Cursor, set: &[&[u8; 3]]) -> Option<()> {
    let w = c.rest().get(..3)?;
    set.iter().any(|m| m[..] == *w).then(|| c.pos += 3)
}

/// `Jan` … `Dec`.
pub(crate) fn month(c: &mut Cursor) -> Option<()> {
    word3(c, &MONTHS)
}

/// `Mon` … `Sun`.
pub(crate) fn weekday(c: &mut Cursor) -> Option<()> {
    word3(c, &WEEKDAYS)
}

/// Aliases every fixed-schema format accepts.
const COMMON_ALIASES: &[(&str, &str)] = &[("msg", "message"), ("time", "timestamp")];

/// The fields of a fixed-schema format: canonical names (their index is the [`FieldId`]) and
/// format-specific aliases, on top of the global ones of [`canonical_field_name`].
pub(crate) struct Schema {
    pub names: &'static [&'static str],
    pub aliases: &'static [(&'static str, &'static str)],
}

impl Schema {
    /// The id of `name` (or of the field it is an alias of).
    pub fn field(&self, name: &str) -> Option<FieldId> {
        let name = self
            .aliases
            .iter()
            .chain(COMMON_ALIASES)
            .find(|(a, _)| *a == name)
            .map_or_else(|| canonical_field_name(name), |(_, to)| *to);
        self.names.iter().position(|n| *n == name)
    }

    /// All canonical names.
    pub fn known(&self) -> Vec<String> {
        self.names.iter().map(|s| s.to_string()).collect()
    }
}

/// True for bytes of a Java identifier path (`com.example.Foo$Bar`).
#[inline]
pub(crate) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(f: impl Fn(&mut Cursor) -> Option<()>, s: &[u8]) -> bool {
        let mut c = Cursor::new(s);
        f(&mut c).is_some() && c.at_end()
    }

    #[test]
    fn timestamps() {
        let iso = |c: &mut Cursor| iso_datetime(c, true);
        for ok in [
            &b"2026-11-27T10:00:00"[..],
            b"2026-11-27 10:00:00.123",
            b"2026-11-27 10:00:00,123",
            b"2018-08-14T14:30:02.203151+02:00",
            b"1986-04-26T01:23:45.101+0400",
            b"2019-06-14T13:01:15.412+01:30",
            b"2026-11-27T10:00:00Z",
            b"2026-11-27T10:00:00.123456789-05",
        ] {
            assert!(whole(iso, ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"2026-11-2710:00:00"[..],
            b"2026-1-27T10:00:00",
            b"26-11-27T10:00:00",
        ] {
            let mut c = Cursor::new(bad);
            assert!(iso(&mut c).is_none());
            assert_eq!(c.pos, 0, "a failed match leaves the cursor");
        }
        assert!(!whole(|c| iso_datetime(c, false), b"2026-11-27 10:00:00"));
        assert!(whole(clock, b"10:00:00.1"));
        // A dangling separator is not part of the clock.
        let mut c = Cursor::new(b"10:00:00. x");
        assert!(clock(&mut c).is_some());
        assert_eq!(c.rest(), b". x");
        assert!(whole(month, b"Dec") && !whole(month, b"dec") && !whole(month, b"De"));
        assert!(whole(weekday, b"Sun") && !whole(weekday, b"Sux"));
    }

    #[test]
    fn cursor_never_panics_at_the_end() {
        let mut c = Cursor::new(b"ab");
        c.pos = 5;
        assert_eq!(c.peek(), None);
        assert_eq!(c.rest(), b"");
        assert_eq!(c.token(), (5, 5));
        assert!(c.digits(1, 3).is_none());
        assert!(c.until(b'x').is_none());
        assert!(!c.eat_str(b"a"));
    }

    #[test]
    fn schema_aliases() {
        let s = Schema {
            names: &["level", "message", "request_method"],
            aliases: &[],
        };
        assert_eq!(s.field("msg"), Some(1));
        assert_eq!(
            s.field("time"),
            None,
            "an alias of a field this format lacks"
        );
        assert_eq!(s.field("method"), Some(2));
        assert_eq!(s.field("nope"), None);
    }
}
