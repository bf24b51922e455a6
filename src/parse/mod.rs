//! Parsing: one line (bytes, no trailing newline) → a [`Record`] of field slices. No I/O here.
//!
//! A parser is built once from a [`FormatSpec`]; the rule compiler asks it for each field it
//! needs by name ([`LineParser::field`]), which gives a [`FieldId`]. Per line, the parser fills a
//! reusable [`Record`] with byte ranges into the line (zero-copy), or with unescaped bytes kept in
//! the record's scratch buffer when the value had to be decoded (JSON escapes).

use serde::Deserialize;

/// Index of a field in a [`Record`], resolved once at config compile time.
pub type FieldId = usize;

/// How the lines of a source are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FormatSpec {
    /// nginx/apache access log, combined or common, detected per line.
    Auto,
    /// nginx/apache `combined`.
    Combined,
    /// nginx/apache `common`.
    Common,
    /// One JSON object per line; fields by name or dotted path.
    Json,
    /// `key=value key2="quoted value"` lines.
    Logfmt,
    /// An nginx `log_format` string, given verbatim.
    Nginx(String),
    /// A regular expression with named captures.
    Regex(String),
}

/// Why a line did not parse. Kept small and static: it is built on the hot path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub &'static str);

/// Where a field's bytes are.
#[derive(Debug, Clone, Copy, Default)]
enum Span {
    #[default]
    Missing,
    Line(u32, u32),
    Scratch(u32, u32),
}

/// The fields of one parsed line, reused from line to line without allocating.
#[derive(Debug, Default)]
pub struct Record {
    spans: Vec<Span>,
    scratch: Vec<u8>,
}

impl Record {
    /// A record able to hold `n` fields.
    pub fn with_fields(n: usize) -> Self {
        Record { spans: vec![Span::Missing; n], scratch: Vec::new() }
    }

    /// Forget all values (keeps capacity).
    #[inline]
    pub fn clear(&mut self) {
        for s in &mut self.spans {
            *s = Span::Missing;
        }
        self.scratch.clear();
    }

    /// Field `id` is `line[start..end]`.
    #[inline]
    pub fn set(&mut self, id: FieldId, start: usize, end: usize) {
        if let Some(s) = self.spans.get_mut(id) {
            *s = Span::Line(start as u32, end as u32);
        }
    }

    /// Field `id` is `bytes`, copied into the record (for decoded values).
    #[inline]
    pub fn set_owned(&mut self, id: FieldId, bytes: &[u8]) {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(bytes);
        if let Some(s) = self.spans.get_mut(id) {
            *s = Span::Scratch(start as u32, self.scratch.len() as u32);
        }
    }

    /// The scratch buffer, for parsers that decode in place: append, then [`Record::set_scratch`].
    #[inline]
    pub fn scratch_mut(&mut self) -> &mut Vec<u8> {
        &mut self.scratch
    }

    /// Field `id` is `scratch[start..end]`.
    #[inline]
    pub fn set_scratch(&mut self, id: FieldId, start: usize, end: usize) {
        if let Some(s) = self.spans.get_mut(id) {
            *s = Span::Scratch(start as u32, end as u32);
        }
    }

    /// The value of field `id` for the `line` this record was parsed from.
    #[inline]
    pub fn get<'a>(&'a self, line: &'a [u8], id: FieldId) -> Option<&'a [u8]> {
        match self.spans.get(id)? {
            Span::Missing => None,
            Span::Line(s, e) => line.get(*s as usize..*e as usize),
            Span::Scratch(s, e) => self.scratch.get(*s as usize..*e as usize),
        }
    }

    /// Number of field slots.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when the record has no field slots.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// A compiled line parser.
pub trait LineParser: Send {
    /// Resolve a field name used by the rules. Schema-less formats (json, logfmt) register the
    /// name and will extract it from then on. `None`: this format can never have the field.
    fn field(&mut self, name: &str) -> Option<FieldId>;
    /// Number of field slots a [`Record`] for this parser needs (after all `field` calls).
    fn field_count(&self) -> usize;
    /// Names of the fields this format always has (for `explain` and docs).
    fn known_fields(&self) -> Vec<String>;
    /// Parse one line (no trailing `\n`; a trailing `\r` is already stripped) into `rec`, which
    /// the caller has cleared.
    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError>;
}

/// Errors building a parser from its spec.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The regex does not compile.
    #[error("invalid regex: {0}")]
    Regex(#[from] regex::Error),
    /// The nginx log_format string is not usable.
    #[error("invalid nginx log_format: {0}")]
    LogFormat(String),
}

/// Build the parser for a format.
pub fn build(spec: &FormatSpec) -> Result<Box<dyn LineParser>, BuildError> {
    let _ = spec;
    Err(BuildError::LogFormat("parsers not built yet".into()))
}

pub mod multiline;
pub use multiline::{Joiner, MultilineSpec};

/// PLACEHOLDER (parsers branch provides it): ASCII number → f64.
pub fn parse_number(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}
