//! `%d{…}` of a log4j / logback / log4j2 pattern: the date format (a named one such as
//! `ISO8601`, or a `java.text.SimpleDateFormat` pattern) compiled into a matcher that finds
//! where the date ends in a line, and into the [`time`](super::time) layout that reads it.
//!
//! Lengths follow `SimpleDateFormat`: a letter repeated n times is n digits (`yyyy`, `MM`,
//! `SSS`), except `y`/`yyy` (any year), one-letter `d`, `H`, `m`, `s` (one or two digits),
//! `MMM`+ (a month name), `E`+ (a day name), `a` (AM/PM) and the zone letters `Z`, `X`, `z`.

use super::time::{Item, Layout};

/// One element of a date format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// This byte.
    Lit(u8),
    /// `min..=max` digits of a field.
    Digits(Field, u8, u8),
    /// `MMM`: a month name (3 letters or the whole name).
    MonthName,
    /// `EEE`: a day name.
    DayName,
    /// `a`: AM/PM.
    AmPm,
    /// `Z`, `X…`, `z`: `Z`, `+hh`, `+hhmm`, `+hh:mm`, or letters (`UTC`, `KST`).
    Zone,
    /// `UNIX`, `UNIX_MILLIS`: epoch digits.
    Epoch(bool),
}

/// What a run of digits is (for the time layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year4,
    Year2,
    Month,
    Day,
    Hour,
    Hour12,
    Minute,
    Second,
    Fraction,
    Other,
}

/// A compiled `%d` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateFormat {
    parts: Vec<Part>,
    /// The format as given (for messages).
    pub source: String,
}

/// log4j2's named formats (`NamedPattern`) and log4j's `ABSOLUTE`, `DATE`, `ISO8601`.
const NAMED: &[(&str, &str)] = &[
    ("ABSOLUTE", "HH:mm:ss,SSS"),
    ("ABSOLUTE_MICROS", "HH:mm:ss,SSSSSS"),
    ("ABSOLUTE_NANOS", "HH:mm:ss,SSSSSSSSS"),
    ("ABSOLUTE_PERIOD", "HH:mm:ss.SSS"),
    ("COMPACT", "yyyyMMddHHmmssSSS"),
    ("DATE", "dd MMM yyyy HH:mm:ss,SSS"),
    ("DATE_PERIOD", "dd MMM yyyy HH:mm:ss.SSS"),
    ("DEFAULT", "yyyy-MM-dd HH:mm:ss,SSS"),
    ("DEFAULT_MICROS", "yyyy-MM-dd HH:mm:ss,SSSSSS"),
    ("DEFAULT_NANOS", "yyyy-MM-dd HH:mm:ss,SSSSSSSSS"),
    ("DEFAULT_PERIOD", "yyyy-MM-dd HH:mm:ss.SSS"),
    ("ISO8601_BASIC", "yyyyMMdd'T'HHmmss,SSS"),
    ("ISO8601_BASIC_PERIOD", "yyyyMMdd'T'HHmmss.SSS"),
    // log4j 1 and logback write ISO8601 with a space, log4j2 with a `T`: both are read.
    ("ISO8601", "yyyy-MM-dd?HH:mm:ss,SSS"),
    ("ISO8601_OFFSET_DATE_TIME_HH", "yyyy-MM-dd'T'HH:mm:ss,SSSX"),
    (
        "ISO8601_OFFSET_DATE_TIME_HHMM",
        "yyyy-MM-dd'T'HH:mm:ss,SSSXX",
    ),
    (
        "ISO8601_OFFSET_DATE_TIME_HHCMM",
        "yyyy-MM-dd'T'HH:mm:ss,SSSXXX",
    ),
    ("ISO8601_PERIOD", "yyyy-MM-dd'T'HH:mm:ss.SSS"),
    ("ISO8601_PERIOD_MICROS", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"),
    ("US_MONTH_DAY_YEAR2_TIME", "dd/MM/yy HH:mm:ss.SSS"),
    ("US_MONTH_DAY_YEAR4_TIME", "dd/MM/yyyy HH:mm:ss.SSS"),
];

/// The `?` in a named format above: `T` or a space.
const T_OR_SPACE: u8 = 0;

impl DateFormat {
    /// Compile `%d`'s option (`None`: no option, the ISO8601 default). A second option after a
    /// comma (logback's time zone) is ignored; a format containing a comma is quoted
    /// (`"HH:mm:ss,SSS"`).
    pub fn new(option: Option<&str>) -> Result<DateFormat, String> {
        let opt = option.map(str::trim).unwrap_or("ISO8601");
        let fmt = match opt.strip_prefix('"') {
            Some(q) => q.split('"').next().unwrap_or(""),
            None => opt.split(',').next().unwrap_or("").trim(),
        };
        let fmt = if fmt.is_empty() { "ISO8601" } else { fmt };
        let parts = match fmt {
            "UNIX" => vec![Part::Epoch(false)],
            "UNIX_MILLIS" => vec![Part::Epoch(true)],
            _ => match NAMED.iter().find(|(n, _)| *n == fmt) {
                Some((_, p)) => simple(p)?,
                None => simple(fmt)?,
            },
        };
        Ok(DateFormat {
            parts,
            source: fmt.to_string(),
        })
    }

    /// Where a date written in this format, starting at `from`, ends; `None` when it does not
    /// fit.
    pub fn match_at(&self, line: &[u8], from: usize) -> Option<usize> {
        let mut i = from;
        for part in &self.parts {
            match *part {
                Part::Lit(T_OR_SPACE) => {
                    matches!(line.get(i)?, b'T' | b' ').then_some(())?;
                    i += 1;
                }
                Part::Lit(b) => {
                    (*line.get(i)? == b).then_some(())?;
                    i += 1;
                }
                Part::Digits(_, min, max) => i = digits(line, i, min, max)?,
                Part::Epoch(_) => i = digits(line, i, 1, 19)?,
                Part::MonthName | Part::DayName => {
                    let n = run(line, i, u8::is_ascii_alphabetic);
                    (n >= 3).then_some(())?;
                    i += n;
                }
                Part::AmPm => {
                    let w = line.get(i..i + 2)?;
                    (w.eq_ignore_ascii_case(b"AM") || w.eq_ignore_ascii_case(b"PM"))
                        .then_some(())?;
                    i += 2;
                }
                Part::Zone => i = zone(line, i)?,
            }
        }
        Some(i)
    }

    /// A regex for the start of a line written in this format (for the multiline rule).
    pub fn start_regex(&self) -> String {
        let mut re = String::new();
        for part in &self.parts {
            match *part {
                Part::Lit(T_OR_SPACE) => re.push_str("[T ]"),
                Part::Lit(b) => re.push_str(&regex_syntax::escape(&(b as char).to_string())),
                Part::Digits(_, min, max) if min == max => re.push_str(&format!(r"\d{{{min}}}")),
                Part::Digits(_, min, max) => re.push_str(&format!(r"\d{{{min},{max}}}")),
                Part::Epoch(_) => re.push_str(r"\d+"),
                Part::MonthName | Part::DayName => re.push_str("[A-Za-z]{3}"),
                // The rest is not needed to tell a record's first line from a continuation.
                Part::AmPm | Part::Zone => break,
            }
        }
        re
    }

    /// The time layout reading dates written in this format, when the `time` module can
    /// express it (no 12-hour clocks, fractions after `.` or `,` only).
    pub fn layout(&self) -> Option<Layout> {
        if let [Part::Epoch(ms)] = self.parts[..] {
            return Some(if ms {
                Layout::Epoch(super::time::EpochUnit::Millis)
            } else {
                Layout::Epoch(super::time::EpochUnit::Seconds)
            });
        }
        let mut items = Vec::new();
        let mut k = 0;
        while let Some(part) = self.parts.get(k) {
            k += 1;
            items.push(match *part {
                Part::Lit(T_OR_SPACE) => return None,
                // The time module reads these fields as 1 or 2 digits, not padded to more.
                Part::Digits(
                    Field::Month | Field::Day | Field::Hour | Field::Minute | Field::Second,
                    3..,
                    _,
                ) => return None,
                Part::Lit(b) => Item::Lit(b),
                Part::Digits(Field::Year4, ..) => Item::Year,
                Part::Digits(Field::Year2, ..) => Item::Year2,
                Part::Digits(Field::Month, ..) => Item::Month,
                Part::Digits(Field::Day, ..) => Item::Day,
                Part::Digits(Field::Hour, ..) => Item::Hour,
                Part::Digits(Field::Minute, ..) => Item::Minute,
                Part::Digits(Field::Second, ..) => {
                    // `%S` reads the `.SSS` / `,SSS` that follows.
                    if let (Some(Part::Lit(b'.' | b',')), Some(Part::Digits(Field::Fraction, ..))) =
                        (self.parts.get(k), self.parts.get(k + 1))
                    {
                        k += 2;
                    }
                    Item::Second
                }
                Part::MonthName => Item::MonthName,
                Part::DayName => Item::Weekday,
                Part::Zone => Item::Zone,
                Part::Digits(Field::Hour12 | Field::Fraction | Field::Other, ..)
                | Part::AmPm
                | Part::Epoch(_) => return None,
            });
        }
        items
            .contains(&Item::Hour)
            .then_some(Layout::Pattern(items))
    }
}

/// Compile a `SimpleDateFormat` pattern (`?` stands for `T` or a space, internally).
fn simple(fmt: &str) -> Result<Vec<Part>, String> {
    let b = fmt.as_bytes();
    let mut parts = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\'' {
            // Quoted literal text; `''` is a quote.
            if b.get(i + 1) == Some(&b'\'') {
                parts.push(Part::Lit(b'\''));
                i += 2;
                continue;
            }
            let close = b
                .get(i + 1..)
                .and_then(|r| memchr::memchr(b'\'', r))
                .ok_or_else(|| format!("date format {fmt:?}: a quote is not closed"))?;
            parts.extend(b[i + 1..i + 1 + close].iter().map(|&x| Part::Lit(x)));
            i += close + 2;
            continue;
        }
        if c == b'?' {
            parts.push(Part::Lit(T_OR_SPACE));
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            parts.push(Part::Lit(c));
            i += 1;
            continue;
        }
        let n = run(b, i, |x| *x == c);
        let n8 = u8::try_from(n.min(20)).unwrap_or(20);
        let exact = |f| Part::Digits(f, n8, n8);
        // SimpleDateFormat pads a field to as many digits as letters: `d` is 1 or 2 digits,
        // `ddd` exactly 3 (never a minimum above the maximum).
        let padded = |f| Part::Digits(f, n8, n8.max(2));
        parts.push(match c {
            b'y' | b'u' if n == 2 => exact(Field::Year2),
            b'y' | b'u' => Part::Digits(Field::Year4, 4, 4.max(n8)),
            b'M' | b'L' if n >= 3 => Part::MonthName,
            b'M' | b'L' => padded(Field::Month),
            b'd' => padded(Field::Day),
            b'H' => padded(Field::Hour),
            b'h' | b'K' | b'k' => padded(Field::Hour12),
            b'm' => padded(Field::Minute),
            b's' => padded(Field::Second),
            b'S' | b'n' => exact(Field::Fraction),
            b'E' => Part::DayName,
            b'a' => Part::AmPm,
            b'Z' | b'X' | b'x' | b'z' | b'O' | b'V' => Part::Zone,
            b'D' | b'w' | b'W' | b'F' | b'G' | b'Y' => Part::Digits(Field::Other, 1, n8.max(4)),
            _ => {
                return Err(format!(
                    "date format {fmt:?}: letter {:?} at character {} is not a date field",
                    c as char,
                    i + 1
                ))
            }
        });
        i += n;
    }
    if parts.is_empty() {
        return Err(format!("date format {fmt:?} is empty"));
    }
    Ok(parts)
}

/// How many bytes from `i` on satisfy `f`.
fn run(b: &[u8], i: usize, f: impl Fn(&u8) -> bool) -> usize {
    b.get(i..)
        .map_or(0, |r| r.iter().take_while(|x| f(x)).count())
}

fn digits(line: &[u8], i: usize, min: u8, max: u8) -> Option<usize> {
    let n = run(line, i, u8::is_ascii_digit).min(usize::from(max));
    (n >= usize::from(min)).then_some(i + n)
}

/// `Z`, `+hh`, `+hhmm`, `+hh:mm`, or a zone name (`UTC`, `GMT+09:00`, `KST`).
fn zone(line: &[u8], i: usize) -> Option<usize> {
    match *line.get(i)? {
        b'Z' if !line.get(i + 1).is_some_and(u8::is_ascii_alphabetic) => Some(i + 1),
        b'+' | b'-' => {
            let mut j = digits(line, i + 1, 2, 2)?;
            if line.get(j) == Some(&b':') {
                j += 1;
            }
            Some(digits(line, j, 0, 2).unwrap_or(j))
        }
        c if c.is_ascii_uppercase() => {
            let n = run(line, i, |b| {
                b.is_ascii_alphanumeric() || b"+-:/_".contains(b)
            });
            Some(i + n)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(fmt: Option<&str>, line: &str) -> Option<usize> {
        DateFormat::new(fmt).unwrap().match_at(line.as_bytes(), 0)
    }

    #[test]
    fn named_and_simple_formats_find_the_date_end() {
        assert_eq!(end(None, "2026-11-27 10:00:00,123 INFO"), Some(23));
        assert_eq!(end(Some("ISO8601"), "2026-11-27T10:00:00,123 x"), Some(23));
        assert_eq!(end(Some("ABSOLUTE"), "10:00:00,123 x"), Some(12));
        assert_eq!(end(Some("DATE"), "27 Nov 2026 10:00:00,123 x"), Some(24));
        assert_eq!(end(Some("COMPACT"), "20261127100000123 x"), Some(17));
        assert_eq!(end(Some("UNIX_MILLIS"), "1795741200123 x"), Some(13));
        assert_eq!(
            end(Some("yy/MM/dd HH:mm:ss"), "26/11/27 10:00:00 x"),
            Some(17)
        );
        assert_eq!(
            end(
                Some("yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
                "2026-11-27T10:00:00.123+09:00 x"
            ),
            Some(29)
        );
        assert_eq!(
            end(
                Some("yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
                "2026-11-27T10:00:00.123Z x"
            ),
            Some(24)
        );
        assert_eq!(
            end(Some("dd-MMM-yyyy HH:mm:ss.SSS"), "27-Nov-2026 10:00:00.123"),
            Some(24)
        );
        assert_eq!(end(Some("\"HH:mm:ss,SSS\""), "10:00:00,123"), Some(12));
        assert_eq!(
            end(Some("HH:mm:ss.SSS, Asia/Seoul"), "10:00:00.123"),
            Some(12)
        );
        assert_eq!(
            end(
                Some("EEE MMM d HH:mm:ss z yyyy"),
                "Fri Nov 7 10:00:00 KST 2026"
            ),
            Some(27)
        );
        assert_eq!(end(Some("h:mm:ss a"), "9:05:00 PM"), Some(10));
        // Not a date of that format.
        assert_eq!(end(None, "\tat com.example.Foo(Foo.java:1)"), None);
        assert_eq!(end(Some("ABSOLUTE"), "10:00:0"), None);
    }

    #[test]
    fn bad_formats_name_the_letter() {
        let e = DateFormat::new(Some("yyyy-MM-dd QQ")).unwrap_err();
        assert!(e.contains("'Q'") && e.contains("character 12"), "{e}");
        assert!(DateFormat::new(Some("HH:mm 'unclosed")).is_err());
    }

    #[test]
    fn fields_padded_past_two_digits_are_read_and_make_a_valid_start_rule() {
        let f = DateFormat::new(Some("yyyy-MM-ddd HH:mmm")).unwrap();
        let re = regex::Regex::new(&format!("^{}", f.start_regex())).unwrap();
        assert!(re.is_match("2026-12-006 10:005"));
        assert!(!re.is_match("2026-12-06 10:05"));
        assert!(
            f.layout().is_none(),
            "the time module reads two-digit fields"
        );
        // Many letters (a fuzzer's `mmmm…`) never give a minimum above the maximum.
        let many = DateFormat::new(Some(&"m".repeat(40))).unwrap();
        assert!(regex::Regex::new(&many.start_regex()).is_ok());
    }

    #[test]
    fn layouts_and_start_regexes() {
        let iso = DateFormat::new(Some("yyyy-MM-dd HH:mm:ss,SSS")).unwrap();
        let Some(Layout::Pattern(items)) = iso.layout() else {
            panic!("no layout")
        };
        assert!(items.contains(&Item::Year) && items.contains(&Item::Second));
        assert!(
            !items.contains(&Item::Lit(b',')),
            "the fraction is part of %S"
        );
        assert!(DateFormat::new(Some("h:mm a")).unwrap().layout().is_none());
        assert!(DateFormat::new(Some("ABSOLUTE"))
            .unwrap()
            .layout()
            .is_some());
        let re = regex::Regex::new(&format!("^{}", iso.start_regex())).unwrap();
        assert!(re.is_match("2026-11-27 10:00:00,123 INFO"));
        assert!(!re.is_match("\tat x"));
        let r = DateFormat::new(None).unwrap().start_regex();
        assert!(regex::Regex::new(&r)
            .unwrap()
            .is_match("2026-11-27T10:00:00,123"));
    }
}
