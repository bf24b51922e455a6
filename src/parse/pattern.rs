//! `{pattern: '<layout pattern>'}`: the log4j / logback / log4j2 `PatternLayout` string an
//! application already has in its logging config (`%d{ISO8601} %-5p [%t] %c{1} - %m%n`),
//! compiled once into literal and conversion steps, the way `nginx` takes a `log_format`.
//!
//! Conversion words (aliases of one word share a field):
//!
//! | words | field |
//! |---|---|
//! | `d`, `date` `{ISO8601 \| ABSOLUTE \| DATE \| COMPACT \| … \| SimpleDateFormat}` | `timestamp` |
//! | `p`, `le`, `level` | `level` |
//! | `t`, `thread`, `tn`, `threadName` | `thread` |
//! | `c`, `lo`, `logger` | `logger` |
//! | `C`, `class` | `class` |
//! | `M`, `method` | `method` |
//! | `L`, `line` | `line` |
//! | `F`, `file` | `file` |
//! | `l`, `location` | `location` |
//! | `m`, `msg`, `message` | `message` (with the stack trace when it ends the line) |
//! | `X{key}`, `mdc{key}`, `MDC{key}` | `key` (`mdc` without a key) |
//! | `r`, `relative` | `relative` |
//! | `pid`, `processId` | `pid` |
//! | `T`, `tid`, `threadId` | `thread_id` |
//! | `sn`, `sequenceNumber`, `lsn` | `sequence` |
//! | `marker`, `markerSimpleName`, `cn`, `contextName`, `x`, `NDC`, `K`, `map`, `MAP`, `kvp`, `u`, `uuid`, `N`, `nano`, `ms`, `micros`, `tp`, `threadPriority`, `fqcn`, `applicationName`, `correlationId` | `marker`, `context`, `ndc`, `map`, `kvp`, `uuid`, `nano`, `micros`, `thread_priority`, `fqcn`, `app`, `correlation_id` |
//! | `property{key}`, `prop{key}` | `key` |
//! | `n` | the end of the line |
//! | `ex`, `exception`, `throwable`, `xEx`, `rEx`, `wEx`, `nopex`, `caller`, … | the stack trace: what follows the line |
//! | `%%`, `\%` | a literal `%` |
//!
//! Format modifiers (`%-5p`, `%20.30c`, `%.-1level`) are read; a padded value has its padding
//! trimmed. Color and grouping wrappers (`%highlight(…)`, `%clr(…){faint}`,
//! `%style{…}{bold}`, `%-30(…)`) stand for their content. A `${NAME:-default}` property is
//! its default when that holds a conversion (`${LOG_LEVEL_PATTERN:-%5p}`), else a field
//! named after the property (`${PID:- }` → `pid`). Words that rewrite their content
//! (`%replace`, `%notEmpty`, `%maxLen`, `%enc`, …) and unknown words are errors naming the
//! word and its position.
//!
//! Per line, a literal must match where it stands; the date is read by its format's shape; a
//! message followed by text runs to the last occurrence of that text on the line; any other
//! conversion runs to the next occurrence of the literal that follows it. Two conversions
//! with nothing between them are an error unless the first has a shape of its own (a date, a
//! level word, a number). The fields `exception` and `root_cause` are found in the message
//! and the stack trace as `java` finds them.

use memchr::memmem::Finder;

use super::java::{first_exception, root_cause};
use super::pattern_date::DateFormat;
use super::scan::first_line_end;
use super::{BuildError, FieldId, LineParser, ParseError, Record};

const E_LITERAL: ParseError = ParseError("pattern: literal text not found where expected");
const E_DATE: ParseError = ParseError("pattern: no date of the pattern's format where expected");
const E_SHORT: ParseError = ParseError("pattern: line ends before the pattern does");
const E_VALUE: ParseError = ParseError("pattern: a level or number conversion holds no word");

/// Most steps a pattern may compile to (real patterns have a few dozen).
pub const MAX_STEPS: usize = 256;

/// How a conversion's value is delimited when no literal follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Runs to the next literal (or the end of the line).
    Text,
    /// Letters (a level).
    Word,
    /// Digits.
    Number,
    /// The message: to the last occurrence of the next literal, or to the end of the record.
    Message,
}

#[derive(Debug, Clone)]
enum Step {
    Lit(Box<[u8]>),
    Date {
        id: FieldId,
        format: DateFormat,
    },
    Conv {
        id: FieldId,
        shape: Shape,
        padded: bool,
    },
    /// `%n` or a throwable word: the structured part of the record ends.
    End,
}

/// Parser for one compiled layout pattern.
#[derive(Debug, Clone)]
pub struct PatternParser {
    steps: Vec<Step>,
    /// One finder per step: for a conversion, the literal that follows it.
    finders: Vec<Option<Finder<'static>>>,
    names: Vec<String>,
    exception: FieldId,
    root_cause: FieldId,
}

/// A conversion word's field name and value shape.
fn word(w: &str) -> Option<(&'static str, Shape)> {
    Some(match w {
        "p" | "le" | "level" => ("level", Shape::Word),
        "t" | "thread" | "tn" | "threadName" => ("thread", Shape::Text),
        "c" | "lo" | "logger" => ("logger", Shape::Text),
        "C" | "class" => ("class", Shape::Text),
        "M" | "method" => ("method", Shape::Text),
        "L" | "line" => ("line", Shape::Number),
        "F" | "file" => ("file", Shape::Text),
        "l" | "location" => ("location", Shape::Text),
        "m" | "msg" | "message" => ("message", Shape::Message),
        "r" | "relative" => ("relative", Shape::Number),
        "pid" | "processId" => ("pid", Shape::Number),
        "T" | "tid" | "threadId" => ("thread_id", Shape::Number),
        "tp" | "threadPriority" => ("thread_priority", Shape::Number),
        "sn" | "sequenceNumber" | "lsn" => ("sequence", Shape::Number),
        "N" | "nano" => ("nano", Shape::Number),
        "ms" | "micros" => ("micros", Shape::Number),
        "marker" | "markerSimpleName" => ("marker", Shape::Text),
        "cn" | "contextName" => ("context", Shape::Text),
        "x" | "NDC" => ("ndc", Shape::Text),
        "K" | "map" | "MAP" => ("map", Shape::Text),
        "kvp" => ("kvp", Shape::Text),
        "u" | "uuid" => ("uuid", Shape::Text),
        "fqcn" => ("fqcn", Shape::Text),
        "applicationName" => ("app", Shape::Text),
        "correlationId" => ("correlation_id", Shape::Text),
        _ => return None,
    })
}

/// Words that write the stack trace (or caller lines): what follows the line.
const THROWABLE: &[&str] = &[
    "ex",
    "exception",
    "throwable",
    "xEx",
    "xException",
    "xThrowable",
    "rEx",
    "rException",
    "rThrowable",
    "wEx",
    "wex",
    "nopex",
    "nopexception",
    "caller",
    "rootException",
];

/// Words whose content stands as it is: colors and styles.
const WRAPPERS: &[&str] = &[
    "highlight",
    "clr",
    "style",
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "white",
    "gray",
    "boldRed",
    "boldGreen",
    "boldYellow",
    "boldBlue",
    "boldMagenta",
    "boldCyan",
    "boldWhite",
];

/// Words that rewrite or drop their content: the line cannot be read back by position.
const REWRITERS: &[&str] = &[
    "replace",
    "equals",
    "equalsIgnoreCase",
    "notEmpty",
    "varsNotEmpty",
    "variablesNotEmpty",
    "maxLen",
    "maxLength",
    "enc",
    "encode",
    "prefix",
    "truncate",
    "or",
    "if",
];

/// A step being compiled, before field ids are assigned.
enum Raw {
    Lit(Vec<u8>),
    Date(DateFormat),
    Conv(String, Shape, bool),
    End,
}

struct Compiler<'a> {
    src: &'a [u8],
    out: Vec<Raw>,
}

fn err(msg: String) -> BuildError {
    BuildError::Pattern(msg)
}

impl Compiler<'_> {
    fn lit(&mut self, b: u8) {
        match self.out.last_mut() {
            Some(Raw::Lit(l)) => l.push(b),
            _ => self.out.push(Raw::Lit(vec![b])),
        }
    }

    /// The span between `open` (`{` or `(`, at `i`) and its matching closer, and the index
    /// after the closer.
    fn group(&self, i: usize, open: u8, close: u8) -> Result<(usize, usize, usize), BuildError> {
        let mut depth = 0usize;
        let mut j = i;
        while let Some(&b) = self.src.get(j) {
            if b == b'\\' {
                j += 2;
                continue;
            }
            if b == open {
                depth += 1;
            } else if b == close {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok((i + 1, j, j + 1));
                }
            }
            j += 1;
        }
        Err(err(format!(
            "{:?} at character {} is not closed",
            open as char,
            i + 1
        )))
    }

    /// Compile `self.src[from..to]` (a whole pattern or a wrapper's content).
    fn run(&mut self, from: usize, to: usize) -> Result<(), BuildError> {
        let mut i = from;
        while i < to {
            let b = self.src[i];
            match b {
                b'\\' => {
                    let next = self.src.get(i + 1).copied();
                    match next {
                        Some(b't') => self.lit(b'\t'),
                        Some(b'n' | b'r' | b'f') => self.out.push(Raw::End),
                        Some(c) => self.lit(c),
                        None => self.lit(b'\\'),
                    }
                    i += 2;
                }
                b'$' if self.src.get(i + 1) == Some(&b'{') => {
                    let (s, e, next) = self.group(i + 1, b'{', b'}')?;
                    let inner = String::from_utf8_lossy(&self.src[s..e]).into_owned();
                    let (name, default) = match inner.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (inner.as_str(), None),
                    };
                    match default {
                        Some(d) if d.contains('%') => {
                            let mut sub = Compiler {
                                src: d.as_bytes(),
                                out: Vec::new(),
                            };
                            sub.run(0, d.len())?;
                            self.out.append(&mut sub.out);
                        }
                        _ => {
                            let field = name.trim().to_ascii_lowercase().replace('.', "_");
                            self.out.push(Raw::Conv(field, Shape::Text, true));
                        }
                    }
                    i = next;
                }
                b'%' => i = self.conversion(i, to)?,
                _ => {
                    self.lit(b);
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// A `%` conversion at `at`; returns the index after it.
    fn conversion(&mut self, at: usize, to: usize) -> Result<usize, BuildError> {
        let mut i = at + 1;
        if self.src.get(i) == Some(&b'%') {
            self.lit(b'%');
            return Ok(i + 1);
        }
        // Format modifier: [-][min][.[-]max]
        let mod_start = i;
        while i < to && matches!(self.src[i], b'-' | b'.' | b'0'..=b'9') {
            i += 1;
        }
        let padded = self.src[mod_start..i].iter().any(u8::is_ascii_digit);
        if self.src.get(i) == Some(&b'(') {
            // logback grouping: `%-30(%d [%t])`
            let (s, e, next) = self.group(i, b'(', b')')?;
            self.run(s, e)?;
            return Ok(next);
        }
        let ws = i;
        while i < to && self.src[i].is_ascii_alphabetic() {
            i += 1;
        }
        let name = std::str::from_utf8(&self.src[ws..i]).unwrap_or("");
        if name.is_empty() {
            return Err(err(format!(
                "a conversion word must follow the % at character {}",
                at + 1
            )));
        }
        // Options: `{…}` (several allowed), or a wrapper's `(…)`.
        let mut options: Vec<(usize, usize)> = Vec::new();
        let mut sub: Option<(usize, usize)> = None;
        if self.src.get(i) == Some(&b'(') {
            let (s, e, next) = self.group(i, b'(', b')')?;
            sub = Some((s, e));
            i = next;
        }
        while self.src.get(i) == Some(&b'{') {
            let (s, e, next) = self.group(i, b'{', b'}')?;
            options.push((s, e));
            i = next;
        }
        let option = options
            .first()
            .map(|&(s, e)| resolve_properties(&String::from_utf8_lossy(&self.src[s..e])));
        if WRAPPERS.contains(&name) {
            // logback `%highlight(…)`, or log4j2 `%highlight{%-5level}{…}` whose first option
            // is the content.
            if let Some((s, e)) = sub.or(options.first().copied()) {
                self.run(s, e)?;
            }
            return Ok(i);
        }
        if REWRITERS.contains(&name) {
            return Err(err(format!(
                "%{name} at character {} rewrites its content, so lines cannot be read back by position; write the pattern without it",
                at + 1
            )));
        }
        if THROWABLE.contains(&name) {
            self.out.push(Raw::End);
            return Ok(i);
        }
        match name {
            "n" => self.out.push(Raw::End),
            "d" | "date" => self
                .out
                .push(Raw::Date(DateFormat::new(option.as_deref()).map_err(
                    |e| err(format!("%{name} at character {}: {e}", at + 1)),
                )?)),
            "X" | "mdc" | "MDC" | "property" | "prop" => {
                let key = option
                    .as_deref()
                    .map(|k| k.split(":-").next().unwrap_or(k).trim().to_string())
                    .filter(|k| !k.is_empty());
                let field = match (name, key) {
                    (_, Some(k)) => k,
                    ("property" | "prop", None) => {
                        return Err(err(format!(
                            "%{name} at character {} needs a key: %{name}{{key}}",
                            at + 1
                        )))
                    }
                    (_, None) => "mdc".to_string(),
                };
                self.out.push(Raw::Conv(field, Shape::Text, padded));
            }
            _ => match word(name) {
                Some((field, shape)) => {
                    self.out.push(Raw::Conv(field.to_string(), shape, padded));
                }
                None => {
                    return Err(err(format!(
                        "unknown conversion word %{name} at character {}",
                        at + 1
                    )))
                }
            },
        }
        Ok(i)
    }
}

impl PatternParser {
    /// Compile a layout pattern.
    pub fn new(pattern: &str) -> Result<Self, BuildError> {
        let mut c = Compiler {
            src: pattern.as_bytes(),
            out: Vec::new(),
        };
        c.run(0, pattern.len())?;
        let mut raw = c.out;
        // Everything after the first line end is the stack trace: not matched.
        if let Some(end) = raw.iter().position(|r| matches!(r, Raw::End)) {
            raw.truncate(end + 1);
        }
        if raw.len() > MAX_STEPS {
            return Err(err(format!(
                "{} steps; at most {MAX_STEPS} are supported",
                raw.len()
            )));
        }
        if !raw
            .iter()
            .any(|r| matches!(r, Raw::Conv(..) | Raw::Date(_)))
        {
            return Err(err("the pattern has no conversion (%d, %p, %m, …)".into()));
        }
        let mut names: Vec<String> = Vec::new();
        let mut id_of = |n: &str| match names.iter().position(|x| x == n) {
            Some(i) => i,
            None => {
                names.push(n.to_string());
                names.len() - 1
            }
        };
        let mut steps = Vec::new();
        for r in raw {
            steps.push(match r {
                Raw::Lit(l) => Step::Lit(l.into()),
                Raw::Date(format) => Step::Date {
                    id: id_of("timestamp"),
                    format,
                },
                Raw::Conv(name, shape, padded) => Step::Conv {
                    id: id_of(&name),
                    shape,
                    padded,
                },
                Raw::End => Step::End,
            });
        }
        // Two conversions touching: the first must have a shape of its own.
        for w in steps.windows(2) {
            if let [Step::Conv { id, shape, .. }, Step::Conv { id: id2, .. } | Step::Date { id: id2, .. }] =
                w
            {
                if matches!(shape, Shape::Text | Shape::Message) {
                    return Err(err(format!(
                        "conversions for {} and {} touch with no text between them: the line cannot be split",
                        names[*id], names[*id2]
                    )));
                }
            }
        }
        let exception = id_of("exception");
        let root_cause = id_of("root_cause");
        let finders = (0..steps.len())
            .map(|i| match (steps.get(i), steps.get(i + 1)) {
                (Some(Step::Conv { .. }), Some(Step::Lit(l))) if l.len() > 1 => {
                    Some(Finder::new(&l[..]).into_owned())
                }
                _ => None,
            })
            .collect();
        Ok(PatternParser {
            steps,
            finders,
            names,
            exception,
            root_cause,
        })
    }

    /// A regex matching the first line of a record (for the built-in multiline rule): the
    /// pattern's leading literal and date, or its leading literal alone; `None` when the
    /// pattern starts with neither.
    pub fn start_regex(&self) -> Option<String> {
        let mut re = String::from("^");
        for step in &self.steps {
            match step {
                Step::Lit(l) => re.push_str(&regex_syntax::escape(&String::from_utf8_lossy(l))),
                Step::Date { format, .. } => {
                    re.push_str(&format.start_regex());
                    return Some(re);
                }
                _ => break,
            }
        }
        (re.len() > 1).then_some(re)
    }

    /// The time layout of the pattern's date, when the `time` module can express it.
    pub fn time_layout(&self) -> Option<super::time::Layout> {
        self.steps.iter().find_map(|s| match s {
            Step::Date { format, .. } => format.layout(),
            _ => None,
        })
    }
}

impl LineParser for PatternParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        let name = match name {
            "msg" => "message",
            "time" => "timestamp",
            "severity" => "level",
            "exception_class" => "exception",
            n => n,
        };
        self.names.iter().position(|n| n == name)
    }

    fn field_count(&self) -> usize {
        self.names.len()
    }

    fn known_fields(&self) -> Vec<String> {
        self.names.clone()
    }

    fn parse(&self, record: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        let line = record.get(..first_line_end(record)).unwrap_or_default();
        let mut pos = 0usize;
        let mut message_start = None;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Lit(l) => {
                    if !line.get(pos..).is_some_and(|r| r.starts_with(l)) {
                        return Err(if pos >= line.len() {
                            E_SHORT
                        } else {
                            E_LITERAL
                        });
                    }
                    pos += l.len();
                }
                Step::End => break,
                Step::Date { id, format } => {
                    let end = format.match_at(line, pos).ok_or(E_DATE)?;
                    rec.set(*id, pos, end);
                    pos = end;
                }
                Step::Conv { id, shape, padded } => {
                    let next = self.steps.get(i + 1);
                    let (vs, ve, after) = match next {
                        None | Some(Step::End) => {
                            if *shape == Shape::Message {
                                (pos, record.len(), line.len())
                            } else {
                                (pos, line.len(), line.len())
                            }
                        }
                        Some(Step::Lit(l)) => {
                            let rest = line.get(pos..).unwrap_or_default();
                            let found = if *shape == Shape::Message {
                                memchr::memmem::rfind(rest, l)
                            } else {
                                match self.finders.get(i).and_then(Option::as_ref) {
                                    Some(f) => f.find(rest),
                                    None => l.first().and_then(|&b| memchr::memchr(b, rest)),
                                }
                            };
                            let mut at = pos + found.ok_or(E_LITERAL)?;
                            if *padded {
                                // Left-justified padding: the literal's spaces are the last
                                // ones of the run.
                                let lead = l.iter().take_while(|b| **b == b' ').count();
                                if lead > 0 {
                                    let run = line
                                        .get(at..)
                                        .unwrap_or_default()
                                        .iter()
                                        .take_while(|b| **b == b' ')
                                        .count();
                                    if run > lead
                                        && line
                                            .get(at + run - lead..)
                                            .is_some_and(|r| r.starts_with(l))
                                    {
                                        at += run - lead;
                                    }
                                }
                            }
                            (pos, at, at)
                        }
                        Some(Step::Conv { .. } | Step::Date { .. }) => {
                            let from = pos + leading_spaces(line, pos);
                            let n = touching_value(line.get(from..).unwrap_or_default(), *shape);
                            if n == 0 {
                                return Err(E_VALUE);
                            }
                            let end = from + n;
                            (pos, end, end + leading_spaces(line, end))
                        }
                    };
                    let (vs, ve) = if *padded || *shape == Shape::Word {
                        trim_spaces(record, vs, ve)
                    } else {
                        (vs, ve)
                    };
                    if *shape == Shape::Message {
                        message_start = Some(vs);
                    }
                    rec.set(*id, vs, ve);
                    pos = after;
                }
            }
        }
        let ms = message_start.unwrap_or(line.len());
        if let Some((s, e)) = first_exception(record, ms) {
            rec.set(self.exception, s, e);
            let (rs, re) = root_cause(record, ms).unwrap_or((s, e));
            rec.set(self.root_cause, rs, re);
        }
        Ok(())
    }
}

/// The length of a level word or a number at the start of `rest`, when the next conversion
/// follows with nothing between: a level is the longest level word the letters start with
/// (`ERRORcom.Foo` → `ERROR`).
fn touching_value(rest: &[u8], shape: Shape) -> usize {
    if shape == Shape::Word {
        let letters = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
        return (3..=letters.min(13))
            .rev()
            .find(|&n| rest.get(..n).and_then(super::Level::parse).is_some())
            .unwrap_or(letters);
    }
    rest.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// `${NAME:-default}` → `default`, `${NAME}` → nothing: inside an option (a date format),
/// the property's default is all that can be known.
fn resolve_properties(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let inner = &rest[at + 2..];
        let Some(close) = inner.find('}') else {
            out.push_str(&rest[at..]);
            return out;
        };
        if let Some((_, d)) = inner[..close].split_once(":-") {
            out.push_str(d);
        }
        rest = &inner[close + 1..];
    }
    out.push_str(rest);
    out
}

fn leading_spaces(line: &[u8], at: usize) -> usize {
    line.get(at..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| **b == b' ')
        .count()
}

/// `s..e` without surrounding spaces (an all-space span becomes empty at `s`).
fn trim_spaces(b: &[u8], s: usize, e: usize) -> (usize, usize) {
    let v = b.get(s..e).unwrap_or_default();
    let lead = v.iter().take_while(|x| **x == b' ').count();
    if lead == v.len() {
        return (s, s);
    }
    let trail = v.iter().rev().take_while(|x| **x == b' ').count();
    (s + lead, e - trail)
}

#[cfg(test)]
#[path = "pattern_tests.rs"]
mod tests;
