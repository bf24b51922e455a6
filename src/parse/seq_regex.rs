//! A fast path for the shape most log-format regexes have: literals and repeated classes in
//! sequence, with capture groups and no alternation
//! (`^(?P<time>\d{4}-\d\d-\d\d \S+)\s+(?P<level>[A-Z]+) \[(?P<thread>[^\]]*)\] (?P<message>.*)`).
//!
//! The regex crate finds a match with a lazy DFA and then runs a bounded backtracker over it for
//! the groups; on such a pattern that costs ~1 µs per line, and over a whole stack trace when the
//! pattern ends in `(?s).*`. This matcher walks the pattern once with byte tables, scans a
//! trailing `.*` with memchr and a UTF-8 check, and backtracks only where the next item could
//! start inside a repetition. It explores paths in the regex crate's priority order (greedy
//! repetitions longest first, lazy ones shortest first), which for a pattern without
//! alternation is exactly leftmost-first semantics, so it reports the same match and groups as
//! `regex::bytes::Regex` (a differential property test checks this). Unicode classes decode UTF-8
//! only at non-ASCII bytes; invalid UTF-8 never matches them, as in the regex crate.
//!
//! Work is bounded: past a step budget linear in the input, a search gives up (`None`) and the
//! caller asks the regex crate, so no pattern costs more than a constant factor above it. A
//! pattern of another shape (alternation, repeated groups, word boundaries, `(?m)` anchors) is
//! not compiled: [`SeqRegex::new`] returns `None` and the regex crate does all the work.

use regex_syntax::hir::{Class as HirClass, Hir, HirKind, Look};

/// Largest pattern (in items) compiled; the search recurses once per repetition.
const MAX_ITEMS: usize = 256;
/// A slot no group has written.
pub const UNSET: usize = usize::MAX;

/// A compiled sequence pattern.
#[derive(Debug, Clone)]
pub struct SeqRegex {
    items: Vec<Item>,
    /// Starts with `^`/`\A`: only position 0 is tried.
    anchored: bool,
    /// Slots used (two per group, group 0 included) when compiled with captures; else 0.
    slots: usize,
    /// Bytes a match can start with, to skip start positions quickly (unanchored only).
    first: Option<Bits>,
}

#[derive(Debug, Clone)]
enum Item {
    /// These bytes follow.
    Lit(Box<[u8]>),
    /// One character of a class.
    One(Class),
    /// `min..=max` repetitions of a class.
    Rep(Rep),
    /// Record the position in this slot.
    Save(usize),
    /// `$`, `\z`: the end of the input.
    End,
    /// Consecutive literals, single classes and fixed counts (`\d{4}-\d\d`), one byte each
    /// when ASCII: checked as one table walk.
    Fixed(Fixed),
}

#[derive(Debug, Clone)]
struct Fixed {
    /// 256 entries per position: the bytes accepted there (ASCII only for a Unicode class).
    table: Box<[bool]>,
    /// Per position: a Unicode class with non-ASCII members, where a byte >= 0x80 means
    /// decoding the items one by one.
    wide: Box<[bool]>,
    /// The items fused, for that slow path.
    items: Box<[Item]>,
}

#[derive(Debug, Clone)]
struct Rep {
    class: Class,
    min: usize,
    /// `usize::MAX`: unbounded.
    max: usize,
    greedy: bool,
    /// Greedy, and the next item can never start at a position inside the run (or nothing
    /// but the end of the pattern follows): only the longest run is worth trying.
    commit: bool,
}

/// A set of bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bits([u64; 4]);

impl Bits {
    #[inline]
    fn has(&self, b: u8) -> bool {
        (self.0[usize::from(b >> 6)] >> (b & 63)) & 1 != 0
    }

    fn add(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn intersects(&self, o: &Bits) -> bool {
        self.0.iter().zip(o.0.iter()).any(|(a, b)| a & b != 0)
    }

    /// Any byte >= 0x80.
    fn has_high(&self) -> bool {
        self.0[2] | self.0[3] != 0
    }
}

#[derive(Debug, Clone)]
struct Class {
    /// Member bytes; for a Unicode class, its ASCII members only (no byte >= 0x80).
    bits: Bits,
    /// The same as a table: one load per byte where it counts.
    table: Box<[bool; 256]>,
    /// Non-ASCII ranges of a Unicode class (sorted), decoded at non-ASCII bytes; `None` for a
    /// byte class or a Unicode class of ASCII characters only.
    wide: Option<Box<[(u32, u32)]>>,
    kind: Kind,
}

/// Shortcuts for the classes of `.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    General,
    /// Every byte (`(?s-u:.)`).
    AnyByte,
    /// Every byte but `\n` (`(?-u:.)`).
    AnyByteButLf,
    /// Every Unicode scalar value (`(?s:.)`).
    AnyChar,
    /// Every Unicode scalar value but `\n` (`.`).
    AnyCharButLf,
}

/// The search ran out of budget: ask the regex crate.
struct Exhausted;

impl SeqRegex {
    /// Compile `pattern` as `regex::bytes::Regex` would read it, if it has the supported shape.
    /// `captures: false` leaves the groups out (for `is_match`).
    pub fn new(pattern: &str, captures: bool) -> Option<SeqRegex> {
        let hir = regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(pattern)
            .ok()?;
        let mut flat = Vec::new();
        flatten(&hir, &mut flat)?;
        let mut items = Vec::new();
        let mut slots = 0;
        if captures {
            items.push(Item::Save(0));
            slots = 2;
        }
        let mut anchored = false;
        let last = flat.len().saturating_sub(1);
        for (i, h) in flat.into_iter().enumerate() {
            match h {
                Flat::Start if i == 0 => anchored = true,
                Flat::End if i == last => items.push(Item::End),
                Flat::Start | Flat::End => return None,
                Flat::Item(Item::Save(_)) if !captures => {}
                Flat::Item(Item::Save(s)) => {
                    slots = slots.max(s + 1);
                    items.push(Item::Save(s));
                }
                Flat::Item(it) => items.push(it),
            }
        }
        if captures {
            items.push(Item::Save(1));
        }
        if items.len() > MAX_ITEMS {
            return None;
        }
        mark_commits(&mut items);
        let first = if anchored { None } else { first_bytes(&items) };
        let items = fuse(items);
        Some(SeqRegex {
            items,
            anchored,
            slots: slots.next_multiple_of(2),
            first,
        })
    }

    /// Slots [`SeqRegex::captures`] fills: two per group (start, end), group 0 the whole match.
    pub fn slot_count(&self) -> usize {
        self.slots
    }

    /// Search `hay`. On a match, `slots` (resized to [`SeqRegex::slot_count`]) holds each
    /// group's start and end, [`UNSET`] for a group not taking part. `None`: out of budget,
    /// ask the regex crate.
    pub fn captures(&self, hay: &[u8], slots: &mut Vec<usize>) -> Option<bool> {
        slots.clear();
        slots.resize(self.slots, UNSET);
        // Steps: one per item tried and per few bytes scanned.
        let mut budget = hay.len().saturating_mul(8).saturating_add(1024);
        if self.anchored {
            return self.go(0, 0, hay, slots, &mut budget).ok();
        }
        let mut start = 0;
        loop {
            if let Some(first) = &self.first {
                // A match needs at least one byte, and it is one of these.
                match hay[start..].iter().position(|b| first.has(*b)) {
                    Some(off) => start += off,
                    None => return Some(false),
                }
            }
            match self.go(0, start, hay, slots, &mut budget) {
                Ok(true) => return Some(true),
                Ok(false) => {}
                Err(Exhausted) => return None,
            }
            if start >= hay.len() {
                return Some(false);
            }
            start += 1;
        }
    }

    /// Whether `hay` has a match. `None`: out of budget, ask the regex crate.
    /// Compiled without captures, this allocates nothing.
    pub fn is_match(&self, hay: &[u8]) -> Option<bool> {
        self.captures(hay, &mut Vec::new())
    }

    fn go(
        &self,
        mut i: usize,
        mut pos: usize,
        hay: &[u8],
        slots: &mut [usize],
        budget: &mut usize,
    ) -> Result<bool, Exhausted> {
        *budget = budget.checked_sub(1).ok_or(Exhausted)?;
        loop {
            let Some(item) = self.items.get(i) else {
                return Ok(true);
            };
            match item {
                Item::Lit(l) => {
                    // Short literals: a byte loop beats a call to memcmp.
                    let Some(h) = hay.get(pos..pos + l.len()) else {
                        return Ok(false);
                    };
                    if h.iter().zip(l.iter()).any(|(a, b)| a != b) {
                        return Ok(false);
                    }
                    pos += l.len();
                }
                Item::One(c) => match c.step(hay, pos) {
                    Some(w) => pos += w,
                    None => return Ok(false),
                },
                Item::Fixed(f) => match f.walk(hay, pos) {
                    Some(p) => pos = p,
                    None => return Ok(false),
                },
                Item::Save(s) => {
                    if let Some(slot) = slots.get_mut(*s) {
                        *slot = pos;
                    }
                }
                Item::End => {
                    if pos != hay.len() {
                        return Ok(false);
                    }
                }
                // A fixed count, or a run the next item cannot start inside: no alternatives
                // to come back to, so no recursion.
                Item::Rep(r) if r.commit || r.min == r.max => {
                    let (end, n) = r.class.run(hay, pos, r.max, r.min, budget)?;
                    if n < r.min {
                        return Ok(false);
                    }
                    pos = end;
                }
                Item::Rep(r) => return self.rep(r, i + 1, pos, hay, slots, budget),
            }
            i += 1;
        }
    }

    fn rep(
        &self,
        r: &Rep,
        next: usize,
        start: usize,
        hay: &[u8],
        slots: &mut [usize],
        budget: &mut usize,
    ) -> Result<bool, Exhausted> {
        let c = &r.class;
        if !r.greedy {
            let (mut pos, mut n) = c.run(hay, start, r.min, r.min, budget)?;
            if n < r.min {
                return Ok(false);
            }
            loop {
                if self.go(next, pos, hay, slots, budget)? {
                    return Ok(true);
                }
                if n >= r.max {
                    return Ok(false);
                }
                match c.step(hay, pos) {
                    Some(w) => pos += w,
                    None => return Ok(false),
                }
                n += 1;
            }
        }
        let (mut end, mut n) = c.run(hay, start, r.max, r.min, budget)?;
        if n < r.min {
            return Ok(false);
        }
        loop {
            if self.go(next, end, hay, slots, budget)? {
                return Ok(true);
            }
            if n <= r.min || end <= start {
                return Ok(false);
            }
            end = c.back(hay, start, end);
            n -= 1;
        }
    }
}

impl Class {
    fn from_hir(c: &HirClass) -> Class {
        let mut bits = Bits::default();
        let mut wide = Vec::new();
        let kind = match c {
            HirClass::Bytes(b) => {
                for r in b.ranges() {
                    for x in r.start()..=r.end() {
                        bits.add(x);
                    }
                }
                let mut all_but_lf = bits;
                all_but_lf.add(b'\n');
                match (all_but_lf == Bits([u64::MAX; 4]), bits.has(b'\n')) {
                    (true, true) => Kind::AnyByte,
                    (true, false) => Kind::AnyByteButLf,
                    _ => Kind::General,
                }
            }
            HirClass::Unicode(u) => {
                for r in u.ranges() {
                    let (s, e) = (u32::from(r.start()), u32::from(r.end()));
                    for x in s..=e.min(0x7f) {
                        bits.add(x as u8);
                    }
                    if e >= 0x80 {
                        wide.push((s.max(0x80), e));
                    }
                }
                let all_wide = wide.first().is_some_and(|f| f.0 == 0x80)
                    && wide.last().is_some_and(|l| l.1 == 0x10ffff)
                    && wide.windows(2).all(|w| {
                        // Only the surrogate gap, which no char can fall in.
                        w[0].1 + 1 == w[1].0 || (w[0].1 == 0xd7ff && w[1].0 == 0xe000)
                    });
                let ascii_but_lf = (0..128u8).all(|i| bits.has(i) || i == b'\n');
                match (all_wide && ascii_but_lf, bits.has(b'\n')) {
                    (true, true) => Kind::AnyChar,
                    (true, false) => Kind::AnyCharButLf,
                    _ => Kind::General,
                }
            }
        };
        Class {
            bits,
            table: table(&bits),
            wide: (!wide.is_empty()).then(|| wide.into_boxed_slice()),
            kind,
        }
    }

    fn from_byte(b: u8) -> Class {
        let mut bits = Bits::default();
        bits.add(b);
        Class {
            bits,
            table: table(&bits),
            wide: None,
            kind: Kind::General,
        }
    }

    /// Whether the character `c` (>= 0x80) is a member.
    fn has_wide(&self, c: u32) -> bool {
        self.wide.as_ref().is_some_and(|w| {
            let i = w.partition_point(|r| r.1 < c);
            w.get(i).is_some_and(|r| r.0 <= c)
        })
    }

    /// Whether a run of this class and a character of `o` can start at the same byte: false
    /// when no position this class consumed can start a match of `o`.
    fn overlaps(&self, o: &Class) -> bool {
        if self.bits.intersects(&o.bits) {
            return true;
        }
        match (&self.wide, &o.wide) {
            // Both decode: their non-ASCII characters must differ.
            (Some(a), Some(b)) => {
                self.bits.has_high()
                    || o.bits.has_high()
                    || a.iter().any(|x| b.iter().any(|y| x.0 <= y.1 && y.0 <= x.1))
            }
            // One decodes, the other takes raw high bytes: do not reason about it.
            (Some(_), None) => o.bits.has_high(),
            (None, Some(_)) => self.bits.has_high(),
            (None, None) => false,
        }
    }

    /// Whether a position inside a run of this class can hold the start of `lit`.
    fn may_start(&self, lit: &[u8]) -> bool {
        let Some(&b) = lit.first() else {
            return true;
        };
        if b < 0x80 || self.wide.is_none() {
            return self.bits.has(b);
        }
        match decode(lit) {
            Some((c, _)) => self.has_wide(u32::from(c)),
            None => true,
        }
    }

    /// Width of the character at `p` when the class matches it.
    #[inline]
    fn step(&self, hay: &[u8], p: usize) -> Option<usize> {
        let b = *hay.get(p)?;
        if b < 0x80 || self.wide.is_none() {
            return self.table[usize::from(b)].then_some(1);
        }
        let (c, w) = decode(hay.get(p..)?)?;
        self.has_wide(u32::from(c)).then_some(w)
    }

    /// Longest run of at most `max` characters from `p`: (end, characters). With `min` 0 a
    /// shortcut may report bytes for characters (any count is then enough).
    fn run(
        &self,
        hay: &[u8],
        p: usize,
        max: usize,
        min: usize,
        budget: &mut usize,
    ) -> Result<(usize, usize), Exhausted> {
        let rest = hay.get(p..).unwrap_or_default();
        // Every byte scanned is charged (a vectorised scan at 1/16 step per byte), so that
        // backing off over nested runs (`.*.*.*x`) stays linear before it gives up.
        let (end, n, cost) = match self.kind {
            Kind::AnyByte => {
                let n = rest.len().min(max);
                (p + n, n, n / 16)
            }
            Kind::AnyByteButLf => {
                let n = memchr::memchr(b'\n', rest).unwrap_or(rest.len()).min(max);
                (p + n, n, n / 16)
            }
            Kind::AnyChar | Kind::AnyCharButLf if max == usize::MAX => {
                let mut window = rest;
                if self.kind == Kind::AnyCharButLf {
                    window = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
                }
                let n = match std::str::from_utf8(window) {
                    Ok(_) => window.len(),
                    Err(e) => e.valid_up_to(),
                };
                let chars = if min == 0 {
                    n
                } else {
                    window[..n].iter().filter(|b| !is_continuation(**b)).count()
                };
                (p + n, chars, n / 16)
            }
            _ => {
                // ASCII (and a byte class's bytes) through the table; a Unicode class stops
                // there at a non-ASCII byte (not in its table) and decodes from then on.
                let limit = rest.len().min(max);
                let mut n = rest[..limit]
                    .iter()
                    .position(|b| !self.table[usize::from(*b)])
                    .unwrap_or(limit);
                let mut pos = p + n;
                if self.wide.is_some() {
                    while n < max {
                        match self.step(hay, pos) {
                            Some(w) => pos += w,
                            None => break,
                        }
                        n += 1;
                    }
                }
                (pos, n, n / 4)
            }
        };
        *budget = budget.checked_sub(cost).ok_or(Exhausted)?;
        Ok((end, n))
    }

    /// The position one character before `end` in a run that started at `start`.
    #[inline]
    fn back(&self, hay: &[u8], start: usize, end: usize) -> usize {
        let mut p = end - 1;
        if self.wide.is_some() {
            while p > start && hay.get(p).is_some_and(|b| is_continuation(*b)) {
                p -= 1;
            }
        }
        p
    }
}

fn table(bits: &Bits) -> Box<[bool; 256]> {
    let mut t = Box::new([false; 256]);
    for (b, m) in t.iter_mut().enumerate() {
        *m = bits.has(b as u8);
    }
    t
}

#[inline]
fn is_continuation(b: u8) -> bool {
    b & 0xc0 == 0x80
}

/// The valid UTF-8 character at the start of `s` and its width.
#[inline]
fn decode(s: &[u8]) -> Option<(char, usize)> {
    let w = match *s.first()? {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let c = std::str::from_utf8(s.get(..w)?).ok()?.chars().next()?;
    Some((c, w))
}

enum Flat {
    Start,
    End,
    Item(Item),
}

/// The pattern as a flat list, or `None` when it is not a sequence.
fn flatten(h: &Hir, out: &mut Vec<Flat>) -> Option<()> {
    match h.kind() {
        HirKind::Empty => {}
        HirKind::Literal(l) => out.push(Flat::Item(Item::Lit(l.0.clone()))),
        HirKind::Class(c) => out.push(Flat::Item(Item::One(Class::from_hir(c)))),
        HirKind::Look(Look::Start) => out.push(Flat::Start),
        HirKind::Look(Look::End) => out.push(Flat::End),
        HirKind::Look(_) => return None,
        HirKind::Repetition(r) => {
            let class = match r.sub.kind() {
                HirKind::Class(c) => Class::from_hir(c),
                HirKind::Literal(l) if l.0.len() == 1 => Class::from_byte(l.0[0]),
                _ => return None,
            };
            out.push(Flat::Item(Item::Rep(Rep {
                class,
                min: r.min as usize,
                max: r.max.map_or(usize::MAX, |m| m as usize),
                greedy: r.greedy,
                commit: false,
            })));
        }
        HirKind::Capture(c) => {
            let g = c.index as usize;
            out.push(Flat::Item(Item::Save(2 * g)));
            flatten(&c.sub, out)?;
            out.push(Flat::Item(Item::Save(2 * g + 1)));
        }
        HirKind::Concat(hs) => {
            for h in hs {
                flatten(h, out)?;
            }
        }
        HirKind::Alternation(_) => return None,
    }
    Some(())
}

/// What must stand at the position where the item at `i` is tried.
enum Next<'a> {
    /// Nothing is required: the item may match empty (or the pattern ends).
    Free,
    /// The end of the input.
    End,
    Lit(&'a [u8]),
    Class(&'a Class),
}

fn next_at(items: &[Item], i: usize) -> Next<'_> {
    for it in items.get(i..).unwrap_or_default() {
        match it {
            Item::Save(_) => {}
            Item::Lit(l) if l.is_empty() => {}
            Item::Lit(l) => return Next::Lit(l),
            Item::One(c) => return Next::Class(c),
            Item::Rep(r) if r.min > 0 => return Next::Class(&r.class),
            Item::Rep(_) => return Next::Free,
            Item::End => return Next::End,
            // Only built after this is used.
            Item::Fixed(_) => return Next::Free,
        }
    }
    Next::Free
}

/// Greedy repetitions whose next item cannot start inside their run, or that end the pattern
/// (the longest run then always succeeds), need not back off.
fn mark_commits(items: &mut [Item]) {
    for i in 0..items.len() {
        let last = items
            .get(i + 1..)
            .is_some_and(|rest| rest.iter().all(|it| matches!(it, Item::Save(_))));
        let commit = match (items.get(i), next_at(items, i + 1)) {
            (Some(Item::Rep(r)), next) if r.greedy => {
                last || match next {
                    Next::Free => false,
                    Next::End => true,
                    Next::Lit(l) => !r.class.may_start(l),
                    Next::Class(c) => !r.class.overlaps(c),
                }
            }
            _ => false,
        };
        if let Some(Item::Rep(r)) = items.get_mut(i) {
            r.commit = commit;
        }
    }
}

/// Longest segment fused into one [`Item::Fixed`].
const MAX_FIXED: usize = 64;

/// Width in positions of an item that always takes one byte per position on ASCII input.
fn fixed_width(it: &Item) -> Option<usize> {
    match it {
        Item::Lit(l) => Some(l.len()),
        Item::One(_) => Some(1),
        Item::Rep(r) if r.min == r.max && r.max <= MAX_FIXED => Some(r.max),
        _ => None,
    }
}

/// Fuse runs of fixed-width items.
fn fuse(items: Vec<Item>) -> Vec<Item> {
    let mut out = Vec::with_capacity(items.len());
    let mut seg: Vec<Item> = Vec::new();
    let mut width = 0;
    let flush = |seg: &mut Vec<Item>, width: &mut usize, out: &mut Vec<Item>| {
        if seg.len() >= 2 {
            let mut table = vec![false; *width * 256];
            let mut wide = vec![false; *width];
            let mut at = 0;
            for it in seg.iter() {
                let mut put = |c: &Class| {
                    for b in 0..=255u8 {
                        table[at * 256 + usize::from(b)] = c.table[usize::from(b)];
                    }
                    wide[at] = c.wide.is_some();
                    at += 1;
                };
                match it {
                    Item::Lit(l) => {
                        for b in l.iter() {
                            table[at * 256 + usize::from(*b)] = true;
                            at += 1;
                        }
                    }
                    Item::One(c) => put(c),
                    Item::Rep(r) => {
                        for _ in 0..r.max {
                            put(&r.class);
                        }
                    }
                    _ => {}
                }
            }
            out.push(Item::Fixed(Fixed {
                table: table.into_boxed_slice(),
                wide: wide.into_boxed_slice(),
                items: std::mem::take(seg).into_boxed_slice(),
            }));
        } else {
            out.append(seg);
        }
        *width = 0;
    };
    for it in items {
        match fixed_width(&it) {
            Some(w) if width + w <= MAX_FIXED => {
                width += w;
                seg.push(it);
            }
            Some(w) => {
                flush(&mut seg, &mut width, &mut out);
                width = w;
                seg.push(it);
            }
            None => {
                flush(&mut seg, &mut width, &mut out);
                out.push(it);
            }
        }
    }
    flush(&mut seg, &mut width, &mut out);
    out
}

impl Fixed {
    /// The position after the segment matched at `pos`.
    #[inline]
    fn walk(&self, hay: &[u8], pos: usize) -> Option<usize> {
        let k = self.wide.len();
        // Every position takes at least one byte, so a shorter input cannot match.
        let h = hay.get(pos..pos + k)?;
        for (i, &b) in h.iter().enumerate() {
            if !self
                .table
                .get(i * 256 + usize::from(b))
                .copied()
                .unwrap_or(false)
            {
                if b >= 0x80 && self.wide.get(i).copied().unwrap_or(false) {
                    return self.walk_slow(hay, pos);
                }
                return None;
            }
        }
        Some(pos + k)
    }

    /// Item by item, decoding non-ASCII characters.
    fn walk_slow(&self, hay: &[u8], mut pos: usize) -> Option<usize> {
        for it in self.items.iter() {
            match it {
                Item::Lit(l) => {
                    if !hay.get(pos..)?.starts_with(l) {
                        return None;
                    }
                    pos += l.len();
                }
                Item::One(c) => pos += c.step(hay, pos)?,
                Item::Rep(r) => {
                    for _ in 0..r.max {
                        pos += r.class.step(hay, pos)?;
                    }
                }
                _ => return None,
            }
        }
        Some(pos)
    }
}

/// Bytes a match must start with, when it needs at least one byte.
fn first_bytes(items: &[Item]) -> Option<Bits> {
    match next_at(items, 0) {
        Next::Lit(l) => {
            let mut b = Bits::default();
            b.add(l[0]);
            Some(b)
        }
        Next::Class(c) => {
            let mut b = c.bits;
            if c.wide.is_some() {
                for x in 0x80..=0xff {
                    b.add(x);
                }
            }
            Some(b)
        }
        Next::Free | Next::End => None,
    }
}

#[cfg(test)]
#[path = "seq_regex_tests.rs"]
mod tests;
