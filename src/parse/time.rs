//! Timestamps of log lines → unix milliseconds, for `backfill` (which places every line at its
//! own time). No allocation per line; a value that does not fit the layout is `None`.
//!
//! | layout | example |
//! |---|---|
//! | `auto` (default) | any of the below, told apart by shape |
//! | `access` | `27/Nov/2026:10:00:00 +0900` (nginx/apache `$time_local`) |
//! | `iso8601` (`rfc3339`) | `2026-11-27T10:00:00.123+09:00`, `2026-11-27 10:00:00,123`, `2026/11/27 10:00:00`, zone optional |
//! | `syslog` (`rfc3164`) | `Nov 27 10:00:00`, `Nov  7 10:00:00.123` (no year: inferred, see below) |
//! | `ctime` | `Fri Nov 27 10:00:00.123456 2026` (apache `ErrorLog`) |
//! | `epoch` | `1795768800`, `1795768800.123`, `1795768800123` (unit by number of digits) |
//! | `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns` | the unit given |
//! | java | `17/06/09 20:10:40` (Spark, `yy/MM/dd`), `06-Dec-2026 11:10:19.123` (Tomcat), `06 Dec 2026 11:10:19,123` (log4j `DATE`), `11:10:19.123` (a time of day alone: log4j2, logback) |
//! | strftime, e.g. `%Y-%m-%d %H:%M:%S` | `%Y %y %m %d %e %H %M %S %b %a %z %s %T %F %%`; `%S` takes an optional `.`/`,` fraction |
//!
//! A time without a zone is in [`Zone`] (default: the machine's local zone). A time without a
//! year (syslog) gets the year that puts it at most a day after the reference time
//! ([`TimeParser::set_reference`]: the file's modification time), so `Dec 31` read in January
//! is last year's. A time of day without a date gets the date that puts it at most an hour
//! after the reference: a line written at 23:59 and read at 00:01 (or in a file last written
//! then) keeps its day. The lines of a file spanning more than a day all land in the day
//! before its modification time.

use std::cell::Cell;

/// How a timestamp is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Layout {
    /// Any of the layouts below, recognised by shape.
    #[default]
    Auto,
    /// ISO 8601 / RFC 3339 and their common relaxations.
    Iso8601,
    /// A unix time number.
    Epoch(EpochUnit),
    /// A strftime-style pattern (also how `access`, `syslog` and `ctime` are defined).
    Pattern(Vec<Item>),
}

/// The unit of an epoch number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochUnit {
    /// From the number of integer digits: up to 11 seconds, 12–14 ms, 15–17 µs, more ns.
    Auto,
    /// Seconds (a fraction allowed).
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

/// One element of a pattern layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// This byte.
    Lit(u8),
    /// `%Y`: four-digit year.
    Year,
    /// `%y`: two-digit year, 2000–2099.
    Year2,
    /// `%m`: month 1–12 (one or two digits).
    Month,
    /// `%b`: English month abbreviation (or full name).
    MonthName,
    /// `%d` / `%e`: day of month (one or two digits, `%e` also after a space).
    Day,
    /// `%a`: weekday name (skipped).
    Weekday,
    /// `%H`.
    Hour,
    /// `%M`.
    Minute,
    /// `%S`, with an optional `.`/`,` fraction.
    Second,
    /// `%z`: `Z`, `±hh:mm`, `±hhmm` or `±hh`.
    Zone,
    /// `%s`: unix seconds.
    Epoch,
}

const ACCESS: &str = "%d/%b/%Y:%H:%M:%S %z";
/// HAProxy's accept date (`06/Feb/2009:12:14:14.655`): the access layout without a zone.
const ACCESS_NO_ZONE: &str = "%d/%b/%Y:%H:%M:%S";
const SYSLOG: &str = "%b %e %H:%M:%S";
const CTIME: &str = "%a %b %e %H:%M:%S %Y";
/// Spark's `yy/MM/dd HH:mm:ss`.
const SPARK: &str = "%y/%m/%d %H:%M:%S";
/// Tomcat's `dd-MMM-yyyy HH:mm:ss.SSS`.
const TOMCAT: &str = "%d-%b-%Y %H:%M:%S";
/// log4j's `DATE`: `dd MMM yyyy HH:mm:ss,SSS`.
const LOG4J_DATE: &str = "%d %b %Y %H:%M:%S";
/// A time of day alone (log4j2's and logback's default `HH:mm:ss.SSS`).
const CLOCK: &str = "%H:%M:%S";

/// Names accepted for [`Layout`] besides a pattern, for messages and docs.
pub const LAYOUT_NAMES: &str =
    "auto, access, iso8601, rfc3339, syslog, rfc3164, ctime, epoch, epoch_s, epoch_ms, epoch_us, epoch_ns, or a strftime pattern with %";

impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(s: &str) -> Result<Layout, String> {
        Ok(match s {
            "auto" => Layout::Auto,
            "iso8601" | "rfc3339" => Layout::Iso8601,
            "access" | "clf" => Layout::Pattern(pattern(ACCESS)?),
            "syslog" | "rfc3164" => Layout::Pattern(pattern(SYSLOG)?),
            "ctime" => Layout::Pattern(pattern(CTIME)?),
            "epoch" => Layout::Epoch(EpochUnit::Auto),
            "epoch_s" => Layout::Epoch(EpochUnit::Seconds),
            "epoch_ms" => Layout::Epoch(EpochUnit::Millis),
            "epoch_us" => Layout::Epoch(EpochUnit::Micros),
            "epoch_ns" => Layout::Epoch(EpochUnit::Nanos),
            p if p.contains('%') => Layout::Pattern(pattern(p)?),
            other => {
                return Err(format!(
                    "unknown time layout {other:?} (one of: {LAYOUT_NAMES})"
                ))
            }
        })
    }
}

/// Compile a strftime-style pattern.
fn pattern(p: &str) -> Result<Vec<Item>, String> {
    let items = items(p)?;
    let has = |i: Item| items.contains(&i);
    let dated = has(Item::Epoch) || ((has(Item::Month) || has(Item::MonthName)) && has(Item::Day));
    let clock = !has(Item::Month)
        && !has(Item::MonthName)
        && !has(Item::Day)
        && !has(Item::Year)
        && has(Item::Hour)
        && has(Item::Minute);
    if !(dated || clock) {
        return Err(format!(
            "time layout {p:?} needs a month and a day (%m or %b, and %d), %s, or a time of day alone (%H:%M)"
        ));
    }
    Ok(items)
}

fn items(p: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut it = p.bytes();
    while let Some(b) = it.next() {
        if b != b'%' {
            items.push(Item::Lit(b));
            continue;
        }
        match it.next() {
            Some(b'Y') => items.push(Item::Year),
            Some(b'y') => items.push(Item::Year2),
            Some(b'm') => items.push(Item::Month),
            Some(b'b' | b'h' | b'B') => items.push(Item::MonthName),
            Some(b'd' | b'e') => items.push(Item::Day),
            Some(b'a' | b'A') => items.push(Item::Weekday),
            Some(b'H') => items.push(Item::Hour),
            Some(b'M') => items.push(Item::Minute),
            Some(b'S') => items.push(Item::Second),
            Some(b'z') => items.push(Item::Zone),
            Some(b's') => items.push(Item::Epoch),
            Some(b'T') => items.extend(items_of("%H:%M:%S")),
            Some(b'F') => items.extend(items_of("%Y-%m-%d")),
            Some(b'%') => items.push(Item::Lit(b'%')),
            Some(c) => {
                return Err(format!(
                    "time layout {p:?}: %{} is not supported (supported: %Y %y %m %b %d %e %a %H %M %S %z %s %T %F %%)",
                    c as char
                ))
            }
            None => return Err(format!("time layout {p:?} ends with a lone %")),
        }
    }
    Ok(items)
}

/// The items of a fixed sub-pattern (`%T`, `%F`).
fn items_of(p: &str) -> Vec<Item> {
    items(p).unwrap_or_default()
}

/// The zone of times written without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// The machine's local zone (its rules, daylight saving time included).
    #[default]
    Local,
    /// A fixed offset from UTC, in seconds (`UTC` is 0).
    Fixed(i32),
}

impl std::str::FromStr for Zone {
    type Err = String;

    fn from_str(s: &str) -> Result<Zone, String> {
        match s {
            "local" => Ok(Zone::Local),
            "UTC" | "utc" | "Z" | "GMT" => Ok(Zone::Fixed(0)),
            _ => match parse_offset(s.as_bytes()) {
                Some((off, n)) if n == s.len() => Ok(Zone::Fixed(off)),
                _ => Err(format!(
                    "unknown zone {s:?} (local, UTC, or an offset such as +09:00)"
                )),
            },
        }
    }
}

/// Fields tried, in this order, when a source does not name its time field: the first one the
/// format has (for JSON and logfmt, the first one a line has).
pub const DEFAULT_FIELDS: &[&str] = &[
    "time_local",
    "time_iso8601",
    "msec",
    "timestamp",
    "time",
    "ts",
    "@timestamp",
    "datetime",
    "date",
];

/// Turns a layout's text into unix milliseconds. One per source (it caches the local zone's
/// offset and holds the reference for year inference).
#[derive(Debug)]
pub struct TimeParser {
    layout: Layout,
    zone: Zone,
    /// Unix seconds that times without a year must not be (much) later than.
    reference: i64,
    /// Local zone: (naive seconds / 900, offset) of the last conversion.
    local: Cell<(i64, i32)>,
}

/// A time is placed at most this long after the reference when its year is inferred (clock
/// skew, a file whose modification time lags its last line).
const YEAR_SLACK_SECS: i64 = 86_400;
/// The same for a time of day whose date is inferred (it must stay well under a day).
const DATE_SLACK_SECS: i64 = 3_600;

impl TimeParser {
    /// A parser for `layout`; times without zone are in `zone`.
    pub fn new(layout: Layout, zone: Zone) -> TimeParser {
        TimeParser {
            layout,
            zone,
            reference: crate::store::now_secs() as i64,
            local: Cell::new((i64::MIN, 0)),
        }
    }

    /// Times without a year are placed in the year that makes them at most a day later than
    /// `unix_secs` (for a file: its modification time, when its last line was written).
    pub fn set_reference(&mut self, unix_secs: i64) {
        self.reference = unix_secs;
    }

    /// Unix milliseconds of `text`, or `None` when it does not fit the layout. Surrounding
    /// spaces, `[`…`]` and `"`…`"` are ignored.
    pub fn parse(&self, text: &[u8]) -> Option<i64> {
        let t = trim(text);
        match &self.layout {
            Layout::Auto => self.auto(t),
            Layout::Iso8601 => self.iso(t),
            Layout::Epoch(u) => epoch(t, *u),
            Layout::Pattern(items) => self.pattern(items, t),
        }
    }

    fn auto(&self, t: &[u8]) -> Option<i64> {
        let first = *t.first()?;
        if first.is_ascii_digit() {
            match t.get(2..5) {
                Some([b'/', a, _]) if a.is_ascii_alphabetic() => self
                    .pattern(&STATIC.access, t)
                    .or_else(|| self.pattern(&STATIC.access_no_zone, t)),
                Some([b'/', a, _]) if a.is_ascii_digit() => self.pattern(&STATIC.spark, t),
                Some([b'-', a, _]) if a.is_ascii_alphabetic() => self.pattern(&STATIC.tomcat, t),
                Some([b' ', a, _]) if a.is_ascii_alphabetic() => {
                    self.pattern(&STATIC.log4j_date, t)
                }
                Some([b':', _, _]) => self.pattern(&STATIC.clock, t),
                _ if matches!(t.get(4), Some(b'-' | b'/')) => self.iso(t),
                _ => epoch(t, EpochUnit::Auto),
            }
        } else if first.is_ascii_alphabetic() {
            // `Fri Nov 27 …` (weekday first) or `Nov 27 …`.
            if t.get(3) == Some(&b' ') && t.get(4).is_some_and(u8::is_ascii_alphabetic) {
                self.pattern(&STATIC.ctime, t)
            } else {
                self.pattern(&STATIC.syslog, t)
            }
        } else {
            None
        }
    }

    /// `YYYY-MM-DD[T ]hh:mm[:ss[.f]][zone]`, `-` or `/` between the date's parts.
    fn iso(&self, t: &[u8]) -> Option<i64> {
        let mut c = Cursor { t, i: 0 };
        let y = c.digits(4, 4)?;
        let sep = c.any(b"-/")?;
        let mo = c.digits(1, 2)?;
        c.lit(sep)?;
        let d = c.digits(1, 2)?;
        c.any(b"Tt ")?;
        let h = c.digits(1, 2)?;
        c.lit(b':')?;
        let mi = c.digits(2, 2)?;
        let (s, ms) = if c.peek() == Some(b':') {
            c.i += 1;
            c.seconds()?
        } else {
            (0, 0)
        };
        let naive = naive_secs(y, mo, d, h, mi, s)?;
        // Optional space before the zone (`2026-11-27 10:00:00 +0900`, `… UTC`).
        let rest = &t[c.i..];
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        let off = match rest {
            [] => None,
            b"Z" | b"z" | b"UTC" | b"GMT" => Some(0),
            _ => match parse_offset(rest) {
                Some((off, n)) if n == rest.len() => Some(off),
                _ => return None,
            },
        };
        Some(self.to_unix(naive, off)? * 1000 + ms)
    }

    fn pattern(&self, items: &[Item], t: &[u8]) -> Option<i64> {
        let mut c = Cursor { t, i: 0 };
        let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut ms) = (None, 0, 0, 0, 0, 0, 0);
        let mut off = None;
        let mut epoch_ms = None;
        for item in items {
            match *item {
                Item::Lit(b' ') => {
                    // One or more spaces (syslog pads the day, people align columns).
                    c.lit(b' ')?;
                    while c.peek() == Some(b' ') {
                        c.i += 1;
                    }
                }
                Item::Lit(b) => c.lit(b)?,
                Item::Year => y = Some(c.digits(4, 4)?),
                Item::Year2 => y = Some(2000 + c.digits(2, 2)?),
                Item::Month => mo = c.digits(1, 2)?,
                Item::MonthName => mo = c.month()?,
                Item::Day => {
                    if c.peek() == Some(b' ') {
                        c.i += 1;
                    }
                    d = c.digits(1, 2)?;
                }
                Item::Weekday => {
                    let n = c.t[c.i..]
                        .iter()
                        .take_while(|b| b.is_ascii_alphabetic())
                        .count();
                    if n < 2 {
                        return None;
                    }
                    c.i += n;
                }
                Item::Hour => h = c.digits(1, 2)?,
                Item::Minute => mi = c.digits(2, 2)?,
                Item::Second => (s, ms) = c.seconds()?,
                Item::Zone => {
                    let rest = &c.t[c.i..];
                    if rest.first() == Some(&b'Z') {
                        off = Some(0);
                        c.i += 1;
                    } else {
                        let (o, n) = parse_offset(rest)?;
                        off = Some(o);
                        c.i += n;
                    }
                }
                Item::Epoch => {
                    let n = c.t[c.i..].iter().take_while(|b| b.is_ascii_digit()).count();
                    epoch_ms = Some(epoch(&c.t[c.i..c.i + n], EpochUnit::Seconds)?);
                    c.i += n;
                }
            }
        }
        if c.i != t.len() {
            return None;
        }
        if epoch_ms.is_some() {
            return epoch_ms;
        }
        let unix = match y {
            Some(y) => self.to_unix(naive_secs(y, mo, d, h, mi, s)?, off)?,
            None if mo == 0 && d == 0 => self.infer_date(h, mi, s, off)?,
            None => self.infer_year(mo, d, h, mi, s, off)?,
        };
        Some(unix * 1000 + ms)
    }

    /// The date that puts a time of day at most [`DATE_SLACK_SECS`] after the reference.
    fn infer_date(&self, h: i64, mi: i64, s: i64, off: Option<i32>) -> Option<i64> {
        // The reference's date as the wall clock of the zone reads it, then that day or the
        // one before.
        let ref_off = match (off, self.zone) {
            (Some(o), _) | (None, Zone::Fixed(o)) => o,
            (None, Zone::Local) => system_offset(self.reference),
        };
        let day = (self.reference + i64::from(ref_off)).div_euclid(86_400);
        for d in [day + 1, day, day - 1] {
            let (y, mo, dd) = civil_from_days(d);
            let u = self.to_unix(naive_secs(y, mo, dd, h, mi, s)?, off)?;
            if u <= self.reference + DATE_SLACK_SECS {
                return Some(u);
            }
        }
        None
    }

    /// The year that puts the time at most [`YEAR_SLACK_SECS`] after the reference.
    fn infer_year(
        &self,
        mo: i64,
        d: i64,
        h: i64,
        mi: i64,
        s: i64,
        off: Option<i32>,
    ) -> Option<i64> {
        let ref_year = civil_from_days(self.reference.div_euclid(86_400)).0;
        for y in [ref_year, ref_year - 1] {
            // Feb 29 does not exist every year: try the year before too.
            if let Some(n) = naive_secs(y, mo, d, h, mi, s) {
                let u = self.to_unix(n, off)?;
                if u <= self.reference + YEAR_SLACK_SECS {
                    return Some(u);
                }
            }
        }
        // Feb 29: the last leap year before the reference.
        (2..=8)
            .filter_map(|k| naive_secs(ref_year - k, mo, d, h, mi, s))
            .map(|n| self.to_unix(n, off))
            .next()?
    }

    /// Naive seconds (the wall clock read as UTC) → unix seconds, with `off` or the zone.
    fn to_unix(&self, naive: i64, off: Option<i32>) -> Option<i64> {
        let off = match (off, self.zone) {
            (Some(o), _) | (None, Zone::Fixed(o)) => o,
            (None, Zone::Local) => self.local_offset(naive),
        };
        Some(naive - i64::from(off))
    }

    /// The local zone's offset for a wall-clock time, cached per quarter hour (zone changes
    /// happen on quarter hours).
    fn local_offset(&self, naive: i64) -> i32 {
        let slot = naive.div_euclid(900);
        let (s, o) = self.local.get();
        if s == slot {
            return o;
        }
        // The offset in force at the instant this wall-clock time denotes: guess with the
        // offset at `naive` read as UTC, then correct once (enough across DST changes).
        let first = system_offset(naive);
        let off = system_offset(naive - i64::from(first));
        self.local.set((slot, off));
        off
    }
}

/// The layouts `auto` tells apart, compiled once.
struct Statics {
    access: Vec<Item>,
    access_no_zone: Vec<Item>,
    syslog: Vec<Item>,
    ctime: Vec<Item>,
    spark: Vec<Item>,
    tomcat: Vec<Item>,
    log4j_date: Vec<Item>,
    clock: Vec<Item>,
}

static STATIC: std::sync::LazyLock<Statics> = std::sync::LazyLock::new(|| {
    let c = |p| pattern(p).unwrap_or_default();
    Statics {
        access: c(ACCESS),
        access_no_zone: c(ACCESS_NO_ZONE),
        syslog: c(SYSLOG),
        ctime: c(CTIME),
        spark: c(SPARK),
        tomcat: c(TOMCAT),
        log4j_date: c(LOG4J_DATE),
        clock: c(CLOCK),
    }
});

/// UTC offset (seconds) of the local zone at unix time `t`, from the C library's zone rules.
fn system_offset(t: i64) -> i32 {
    let tt: libc::time_t = t;
    // SAFETY: `localtime_r` writes only into `tm`, which is a plain C struct for which all
    // zeroes is a valid value; both pointers are valid for the call.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return 0;
        }
        i32::try_from(tm.tm_gmtoff).unwrap_or(0)
    }
}

fn trim(t: &[u8]) -> &[u8] {
    let mut t = t.trim_ascii();
    if let [b'[', inner @ .., b']'] | [b'"', inner @ .., b'"'] = t {
        t = inner.trim_ascii();
    }
    t
}

struct Cursor<'a> {
    t: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.t.get(self.i).copied()
    }

    fn lit(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    fn any(&mut self, set: &[u8]) -> Option<u8> {
        let b = self.peek()?;
        set.contains(&b).then(|| {
            self.i += 1;
            b
        })
    }

    /// `min..=max` ASCII digits as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let mut v = 0i64;
        let mut n = 0;
        while n < max {
            match self.peek() {
                Some(b @ b'0'..=b'9') => {
                    v = v * 10 + i64::from(b - b'0');
                    self.i += 1;
                    n += 1;
                }
                _ => break,
            }
        }
        (n >= min).then_some(v)
    }

    /// `ss[.fff…]` or `ss[,fff…]`: seconds and milliseconds (further digits dropped).
    fn seconds(&mut self) -> Option<(i64, i64)> {
        let s = self.digits(2, 2)?;
        let mut ms = 0;
        if matches!(self.peek(), Some(b'.' | b','))
            && self.t.get(self.i + 1).is_some_and(u8::is_ascii_digit)
        {
            self.i += 1;
            let mut n = 0;
            while let Some(b @ b'0'..=b'9') = self.peek() {
                if n < 3 {
                    ms = ms * 10 + i64::from(b - b'0');
                }
                n += 1;
                self.i += 1;
            }
            for _ in n..3 {
                ms *= 10;
            }
        }
        Some((s, ms))
    }

    /// English month name (three letters, or the full name), any case → 1..=12.
    fn month(&mut self) -> Option<i64> {
        const NAMES: [&[u8; 3]; 12] = [
            b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
            b"dec",
        ];
        let a = self.t.get(self.i..self.i + 3)?;
        let lower = [
            a[0].to_ascii_lowercase(),
            a[1].to_ascii_lowercase(),
            a[2].to_ascii_lowercase(),
        ];
        let m = NAMES.iter().position(|n| **n == lower)? as i64 + 1;
        self.i += 3;
        // Full names (`November`): skip the remaining letters.
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.i += 1;
        }
        Some(m)
    }
}

/// `±hh:mm`, `±hhmm` or `±hh` → (offset seconds, bytes used).
fn parse_offset(t: &[u8]) -> Option<(i32, usize)> {
    let sign = match t.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let mut c = Cursor { t, i: 1 };
    let h = c.digits(2, 2)?;
    if c.peek() == Some(b':') {
        c.i += 1;
    }
    let m = c.digits(2, 2).unwrap_or(0);
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (h * 3600 + m * 60) as i32, c.i))
}

/// A unix time number → milliseconds.
fn epoch(t: &[u8], unit: EpochUnit) -> Option<i64> {
    let (int, frac) = match memchr::memchr(b'.', t) {
        Some(p) => (&t[..p], &t[p + 1..]),
        None => (t, &b""[..]),
    };
    if int.is_empty() || int.len() > 19 || !int.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let unit = match unit {
        EpochUnit::Auto => match int.len() {
            0..=11 => EpochUnit::Seconds,
            12..=14 => EpochUnit::Millis,
            15..=17 => EpochUnit::Micros,
            _ => EpochUnit::Nanos,
        },
        u => u,
    };
    let v: i64 = std::str::from_utf8(int).ok()?.parse().ok()?;
    // Milliseconds of the fraction: its first digits, scaled to the unit.
    let frac_ms = |digits: usize| -> i64 {
        let mut ms = 0;
        for k in 0..digits {
            ms = ms * 10 + frac.get(k).map_or(0, |b| i64::from(b - b'0'));
        }
        ms
    };
    Some(match unit {
        EpochUnit::Seconds => v.checked_mul(1000)? + frac_ms(3),
        EpochUnit::Millis => v,
        EpochUnit::Micros => v / 1000,
        EpochUnit::Nanos | EpochUnit::Auto => v / 1_000_000,
    })
}

/// Seconds since 1970 of a wall-clock date read as UTC; `None` when a part is out of range.
fn naive_secs(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-11-27T10:00:00Z` for unix milliseconds (whole seconds; for messages).
pub fn format_utc(ms: i64) -> String {
    let s = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(s.div_euclid(86_400));
    let r = s.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        r / 3600,
        r / 60 % 60,
        r % 60
    )
}

#[cfg(test)]
mod tests;
