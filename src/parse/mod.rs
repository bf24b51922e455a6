//! Parsing: one line (bytes, no trailing newline) → a [`Record`] of field slices. No I/O here.
//!
//! A parser is built once from a [`FormatSpec`]; the rule compiler asks it for each field it
//! needs by name ([`LineParser::field`]), which gives a [`FieldId`]. Per line, the parser fills a
//! reusable [`Record`] with byte ranges into the line (zero-copy), or with unescaped bytes kept in
//! the record's scratch buffer when the value had to be decoded (JSON escapes).
//!
//! Parsers never panic on input and never allocate per line; a line that does not fit the
//! format is a [`ParseError`] (counted by the caller), never a crash.
//!
//! | format | module | fields |
//! |---|---|---|
//! | `combined` | [`access`] | `remote_addr remote_user time_local request request_method request_uri server_protocol status body_bytes_sent http_referer http_user_agent` |
//! | `common` | [`access`] | the same without `http_referer http_user_agent` |
//! | `auto` | [`access`] | `combined` fields (referer/agent when the line has them), plus `request_time` (a trailing number) and `host` (apache `vhost_combined` prefix) |
//! | `{nginx: '<log_format>'}` | [`nginx`] | one field per `$var` (named `var`); `$request` adds `request_method request_uri server_protocol` |
//! | `json` | [`json`] | any key, or dotted path `a.b.c`, asked for by the rules |
//! | `logfmt` | [`logfmt`] | any key asked for by the rules |
//! | `{regex: '<re>'}` | [`regex`] | the named capture groups |
//! | `syslog` | [`syslog`] | `priority facility severity version timestamp host program service pid msgid structured_data message`, `sd.ID.PARAM` |
//! | `nginx_error` | [`nginx_error`] | `timestamp level pid tid connection message client server request request_method request_uri server_protocol upstream host http_referer` |
//! | `apache_error` | [`apache_error`] | `timestamp module level pid tid prefix client client_port code message http_referer` |
//! | `java` | [`java`] | `timestamp level pid app thread logger message exception root_cause` |
//! | `haproxy` | [`haproxy`] | `remote_addr client_port time_local frontend backend server time_* request_time status body_bytes_sent … request request_method request_uri server_protocol` |
//! | `traefik`, `caddy`, `envoy` | [`traefik`], [`caddy`], [`envoy`] | the access-log names (`request_method request_uri status body_bytes_sent http_user_agent http_referer request_time` …) and any JSON key |
//! | `{pattern: '<layout pattern>'}` | [`pattern`] | one field per conversion (`timestamp level thread logger message`, MDC keys, …), `exception root_cause` |
//!
//! Aliases accepted wherever the canonical name exists ([`canonical_field_name`]): `method`,
//! `uri`/`path`, `protocol`, `bytes`/`size`, `referer`, `user_agent`. `request_method`,
//! `request_uri` and `server_protocol` are missing (the line still parses) when the request is not
//! `METHOD URI PROTOCOL` (scanner junk, TLS bytes, `""`, `"-"`). Values are raw bytes: `-` stays
//! `-` (use [`parse_number`], which gives `None` for it), nginx `\xHH` escapes are not decoded.
//! [`multiline::Joiner`] joins stack-trace continuation lines before parsing;
//! [`FormatSpec::default_multiline`] gives the joining rule a format has built in (`java`,
//! `nginx_error`, `syslog`). [`Level`] normalises level words to a fixed set of six.

use serde::Deserialize;

pub mod access;
pub mod apache_error;
pub mod auth_event;
mod bytesearch;
pub mod caddy;
pub mod envoy;
pub mod haproxy;
pub mod java;
pub mod json;
pub mod json_map;
pub mod level;
pub mod logfmt;
pub mod multiline;
pub mod nginx;
pub mod nginx_error;
pub mod pattern;
mod pattern_date;
pub mod regex;
#[cfg(test)]
mod roundtrip;
mod scan;
pub mod seq_regex;
pub mod syslog;
pub mod time;
pub mod traefik;

pub use self::regex::RegexParser;
pub use access::{AccessMode, AccessParser};
pub use apache_error::ApacheErrorParser;
pub use envoy::EnvoyParser;
pub use haproxy::HaproxyParser;
pub use java::JavaParser;
pub use json::JsonParser;
pub use json_map::JsonMapParser;
pub use level::Level;
pub use logfmt::LogfmtParser;
pub use multiline::{Joiner, MultilineSpec};
pub use nginx::NginxParser;
pub use nginx_error::NginxErrorParser;
pub use pattern::PatternParser;
pub use syslog::SyslogParser;

/// Index of a field in a [`Record`], resolved once at config compile time.
pub type FieldId = usize;

/// How the lines of a source are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))] // config key docs test
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
    /// Syslog files: RFC 3164 (`Mmm dd hh:mm:ss host prog[pid]: msg`, or an ISO 8601
    /// timestamp) and RFC 5424 (with structured data).
    Syslog,
    /// nginx `error_log`.
    NginxError,
    /// Apache httpd `ErrorLog`, 2.2 and 2.4 layouts.
    ApacheError,
    /// Application logs: log4j, logback, log4j2, Spring Boot, Zookeeper, Spark, Kafka,
    /// Tomcat and Python default layouts, stack traces joined.
    Java,
    /// A log4j / logback / log4j2 layout pattern (`%d %-5p [%t] %c - %m%n`), given verbatim.
    Pattern(String),
    /// HAProxy `option httplog`, `tcplog` and `httplog clf`, with or without a syslog prefix.
    Haproxy,
    /// Traefik's JSON access log, under the access-log field names.
    Traefik,
    /// Caddy's JSON access log, under the access-log field names.
    Caddy,
    /// Envoy's default access log (text), or Istio's / Envoy Gateway's JSON.
    Envoy,
}

impl FormatSpec {
    /// The multiline rule this format has built in, used when the source sets no `multiline:`
    /// of its own: `java` joins every line that does not start with a timestamp (`\tat …`,
    /// `Caused by: …`, `... N more`, the exception line, indented lines) onto the record
    /// above; `nginx_error` does the same for the lines FastCGI stderr output spreads over,
    /// and `syslog` for lines starting with a space or a tab (a message continued by its
    /// sender, as macOS does).
    /// A `pattern` joins the lines that do not start the way its first line does (its leading
    /// text and date).
    pub fn default_multiline(&self) -> Option<MultilineSpec> {
        let start = match self {
            FormatSpec::Java => java::MULTILINE_START.to_string(),
            FormatSpec::NginxError => nginx_error::MULTILINE_START.to_string(),
            FormatSpec::Syslog => syslog::MULTILINE_START.to_string(),
            FormatSpec::Pattern(p) => PatternParser::new(p).ok()?.start_regex()?,
            _ => return None,
        };
        Some(MultilineSpec {
            start,
            max_lines: None,
            max_bytes: None,
            timeout: None,
        })
    }

    /// How this format writes its lines' time, when it says so (a `pattern`'s `%d{…}`);
    /// `None`: the `auto` layout.
    pub fn time_layout(&self) -> Option<time::Layout> {
        match self {
            FormatSpec::Pattern(p) => PatternParser::new(p).ok()?.time_layout(),
            _ => None,
        }
    }
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
    Static(&'static [u8]),
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
        Record {
            spans: vec![Span::Missing; n],
            scratch: Vec::new(),
        }
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

    /// Field `id` is a constant (a name decoded from a number, such as a syslog facility).
    #[inline]
    pub fn set_static(&mut self, id: FieldId, bytes: &'static [u8]) {
        if let Some(s) = self.spans.get_mut(id) {
            *s = Span::Static(bytes);
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
            Span::Static(b) => Some(b),
        }
    }

    /// Field `id` has no value (a format found its text unusable).
    #[inline]
    pub(crate) fn unset(&mut self, id: FieldId) {
        if let Some(s) = self.spans.get_mut(id) {
            *s = Span::Missing;
        }
    }

    /// Field `to` takes field `from`'s value (a format's fallback or alias).
    #[inline]
    pub(crate) fn copy(&mut self, from: FieldId, to: FieldId) {
        if let Some(span) = self.spans.get(from).copied() {
            if let Some(s) = self.spans.get_mut(to) {
                *s = span;
            }
        }
    }

    /// True when field `id` has a value.
    #[inline]
    pub fn is_set(&self, id: FieldId) -> bool {
        !matches!(self.spans.get(id), None | Some(Span::Missing))
    }

    /// Make room for at least `n` field slots (never shrinks).
    pub fn ensure_fields(&mut self, n: usize) {
        if self.spans.len() < n {
            self.spans.resize(n, Span::Missing);
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
    Regex(#[from] ::regex::Error),
    /// The nginx log_format string is not usable.
    #[error("invalid nginx log_format: {0}")]
    LogFormat(String),
    /// The layout pattern is not usable.
    #[error("invalid layout pattern: {0}")]
    Pattern(String),
}

/// Build the parser for a format.
pub fn build(spec: &FormatSpec) -> Result<Box<dyn LineParser>, BuildError> {
    Ok(match spec {
        FormatSpec::Auto => Box::new(AccessParser::new(AccessMode::Auto)),
        FormatSpec::Combined => Box::new(AccessParser::new(AccessMode::Combined)),
        FormatSpec::Common => Box::new(AccessParser::new(AccessMode::Common)),
        FormatSpec::Json => Box::new(JsonParser::new()),
        FormatSpec::Logfmt => Box::new(LogfmtParser::new()),
        FormatSpec::Nginx(fmt) => Box::new(NginxParser::new(fmt)?),
        FormatSpec::Regex(re) => Box::new(RegexParser::new(re)?),
        FormatSpec::Syslog => Box::new(SyslogParser::new()),
        FormatSpec::NginxError => Box::new(NginxErrorParser::new()),
        FormatSpec::ApacheError => Box::new(ApacheErrorParser::new()),
        FormatSpec::Java => Box::new(JavaParser::new()),
        FormatSpec::Pattern(p) => Box::new(PatternParser::new(p)?),
        FormatSpec::Haproxy => Box::new(HaproxyParser::new()),
        FormatSpec::Traefik => Box::new(traefik::parser()),
        FormatSpec::Caddy => Box::new(caddy::parser()),
        FormatSpec::Envoy => Box::new(EnvoyParser::new()),
    })
}

/// The canonical (nginx variable) name for a field alias used in rules, or `name` itself.
///
/// `method`→`request_method`, `uri`/`path`→`request_uri`, `protocol`→`server_protocol`,
/// `bytes`/`size`→`body_bytes_sent`, `referer`→`http_referer`, `user_agent`→`http_user_agent`.
pub fn canonical_field_name(name: &str) -> &str {
    match name {
        "method" => "request_method",
        "uri" | "path" => "request_uri",
        "protocol" => "server_protocol",
        "bytes" | "size" => "body_bytes_sent",
        "referer" | "referrer" => "http_referer",
        "user_agent" => "http_user_agent",
        other => other,
    }
}

/// Parse an ASCII decimal number (`200`, `-3`, `0.123`, `1e-3`) as `f64`.
///
/// `-`, empty input, spaces, lists (`0.1, 0.2`), `inf`/`nan` and any other junk give `None`.
/// Plain integers of up to 18 digits take a fast path without UTF-8 or float parsing.
pub fn parse_number(bytes: &[u8]) -> Option<f64> {
    let (neg, digits) = match bytes.first()? {
        b'-' => (true, bytes.get(1..)?),
        b'+' => (false, bytes.get(1..)?),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    // Fast path (Clinger): up to 15 significant digits with an optional dot and no exponent.
    // The mantissa and 10^k are exact in f64, so one correctly rounded division gives exactly
    // what the full parser gives.
    if digits.len() <= 16 {
        let mut v: u64 = 0;
        let mut n = 0usize;
        let mut frac: Option<usize> = None;
        let mut plain = true;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d <= 9 {
                v = v * 10 + u64::from(d);
                n += 1;
            } else if b == b'.' && frac.is_none() {
                frac = Some(n);
            } else {
                plain = false;
                break;
            }
        }
        if plain && n > 0 && n <= 15 {
            const POW10: [f64; 16] = [
                1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
                1e15,
            ];
            let scale = POW10.get(frac.map_or(0, |f| n - f)).copied().unwrap_or(1.0);
            let f = v as f64 / scale;
            return Some(if neg { -f } else { f });
        }
    }
    // Slow path: validate the grammar ourselves (Rust's parser also takes `inf`, `NaN`, ...).
    if !decimal_shape(digits) {
        return None;
    }
    let s = std::str::from_utf8(bytes).ok()?;
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// True when `bytes` is a number [`parse_number`] accepts, without computing its value
/// (except for out-of-range exponents such as `1e400`, which this accepts).
pub fn is_number(bytes: &[u8]) -> bool {
    let digits = match bytes.first() {
        Some(b'-' | b'+') => bytes.get(1..).unwrap_or_default(),
        Some(_) => bytes,
        None => return false,
    };
    decimal_shape(digits)
}

/// `digits[.digits][e[+-]digits]` (either side of the dot may be empty, not both), no sign.
fn decimal_shape(digits: &[u8]) -> bool {
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut seen_exp = false;
    let mut prev = 0u8;
    for &b in digits {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot && !seen_exp => seen_dot = true,
            b'e' | b'E' if seen_digit && !seen_exp => seen_exp = true,
            b'+' | b'-' if prev == b'e' || prev == b'E' => {}
            _ => return false,
        }
        prev = b;
    }
    seen_digit && (prev.is_ascii_digit() || prev == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"200"), Some(200.0));
        assert_eq!(parse_number(b"0"), Some(0.0));
        assert_eq!(parse_number(b"-3"), Some(-3.0));
        assert_eq!(parse_number(b"+7"), Some(7.0));
        assert_eq!(parse_number(b"0.123"), Some(0.123));
        assert_eq!(parse_number(b"1e-3"), Some(0.001));
        assert_eq!(parse_number(b"2.5E+2"), Some(250.0));
        assert_eq!(parse_number(b".5"), Some(0.5));
        assert_eq!(parse_number(b"5."), Some(5.0));
        assert_eq!(
            parse_number(b"12345678901234567890123"),
            Some(1.2345678901234568e22)
        );
        for junk in [
            &b""[..],
            b"-",
            b"+",
            b".",
            b"e5",
            b"1e",
            b"1e+",
            b"inf",
            b"NaN",
            b"infinity",
            b"1.2.3",
            b" 1",
            b"1 ",
            b"0.1, 0.2",
            b"0x10",
            b"1e5e5",
            b"--1",
            b"\xff",
            b"1-2",
            b"1e400",
        ] {
            assert_eq!(
                parse_number(junk),
                None,
                "{:?}",
                String::from_utf8_lossy(junk)
            );
        }
    }

    #[test]
    fn aliases() {
        assert_eq!(canonical_field_name("method"), "request_method");
        assert_eq!(canonical_field_name("uri"), "request_uri");
        assert_eq!(canonical_field_name("path"), "request_uri");
        assert_eq!(canonical_field_name("protocol"), "server_protocol");
        assert_eq!(canonical_field_name("bytes"), "body_bytes_sent");
        assert_eq!(canonical_field_name("size"), "body_bytes_sent");
        assert_eq!(canonical_field_name("referer"), "http_referer");
        assert_eq!(canonical_field_name("user_agent"), "http_user_agent");
        assert_eq!(canonical_field_name("status"), "status");
    }

    #[test]
    fn record_spans() {
        let line = b"hello world";
        let mut r = Record::with_fields(3);
        r.set(0, 0, 5);
        r.set_owned(1, b"dec");
        r.set(7, 0, 1); // out of range: ignored
        assert_eq!(r.get(line, 0), Some(&b"hello"[..]));
        assert_eq!(r.get(line, 1), Some(&b"dec"[..]));
        assert_eq!(r.get(line, 2), None);
        assert!(r.is_set(0) && !r.is_set(2) && !r.is_set(9));
        r.set(2, 5, 99); // beyond the line: reads as missing, no panic
        assert_eq!(r.get(line, 2), None);
        r.clear();
        assert_eq!(r.get(line, 0), None);
    }

    #[test]
    fn format_spec_from_yaml() {
        #[derive(Deserialize)]
        struct Src {
            format: FormatSpec,
            multiline: Option<MultilineSpec>,
        }
        let cases = [
            ("format: auto", FormatSpec::Auto),
            ("format: combined", FormatSpec::Combined),
            ("format: common", FormatSpec::Common),
            ("format: json", FormatSpec::Json),
            ("format: logfmt", FormatSpec::Logfmt),
            (
                "format: {nginx: '$remote_addr [$time_local] \"$request\" $status'}",
                FormatSpec::Nginx("$remote_addr [$time_local] \"$request\" $status".into()),
            ),
            (
                "format:\n  regex: '^(?P<level>[A-Z]+) '",
                FormatSpec::Regex("^(?P<level>[A-Z]+) ".into()),
            ),
        ];
        for (yaml, want) in cases {
            let src: Src = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(src.format, want);
            assert!(src.multiline.is_none());
        }
        let src: Src = serde_saphyr::from_str(
            "format: logfmt\nmultiline:\n  start: '^\\['\n  max_lines: 50\n  timeout: 2s\n",
        )
        .unwrap();
        let ml = src.multiline.unwrap();
        assert_eq!(
            (ml.start.as_str(), ml.max_lines, ml.max_bytes),
            ("^\\[", Some(50), None)
        );
        for (yaml, want) in [
            ("format: haproxy", FormatSpec::Haproxy),
            ("format: traefik", FormatSpec::Traefik),
            ("format: caddy", FormatSpec::Caddy),
            ("format: envoy", FormatSpec::Envoy),
            (
                "format: {pattern: '%d %-5p [%t] %c - %m%n'}",
                FormatSpec::Pattern("%d %-5p [%t] %c - %m%n".into()),
            ),
        ] {
            let src: Src = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(src.format, want);
        }
        assert!(serde_saphyr::from_str::<Src>("format: apache").is_err());
        assert!(serde_saphyr::from_str::<Src>("format: {nginx: 1, regex: 2}").is_err());
    }

    #[test]
    fn build_all_formats() {
        for spec in [
            FormatSpec::Auto,
            FormatSpec::Combined,
            FormatSpec::Common,
            FormatSpec::Json,
            FormatSpec::Logfmt,
            FormatSpec::Nginx("$remote_addr [$time_local] \"$request\" $status".into()),
            FormatSpec::Regex("(?P<a>x)".into()),
            FormatSpec::Haproxy,
            FormatSpec::Traefik,
            FormatSpec::Caddy,
            FormatSpec::Envoy,
            FormatSpec::Pattern("%d %p %m".into()),
        ] {
            assert!(build(&spec).is_ok(), "{spec:?}");
        }
        assert!(build(&FormatSpec::Regex("(".into())).is_err());
        assert!(build(&FormatSpec::Pattern("%d %zz %m".into())).is_err());
        assert!(build(&FormatSpec::Nginx("$a$b".into())).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    //! Property tests: no parser panics on any bytes, every value is a slice of the line or of
    //! the decoded scratch, and generated well-formed lines parse back to their exact fields.
    use super::*;
    use proptest::prelude::*;

    fn all_parsers() -> Vec<(Box<dyn LineParser>, usize)> {
        let specs = [
            FormatSpec::Auto,
            FormatSpec::Combined,
            FormatSpec::Common,
            FormatSpec::Json,
            FormatSpec::Logfmt,
            FormatSpec::Nginx(
                r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#.into(),
            ),
            FormatSpec::Regex(r"^(?P<a>\S+) (?P<b>\d+)?".into()),
            FormatSpec::Syslog,
            FormatSpec::NginxError,
            FormatSpec::ApacheError,
            FormatSpec::Java,
            FormatSpec::Pattern("[%d] %-5p [%t] %c{1} %X{id} - %m (%C:%L)%n".into()),
            FormatSpec::Pattern("%d{HH:mm:ss.SSS} %p%c %m".into()),
            FormatSpec::Haproxy,
            FormatSpec::Traefik,
            FormatSpec::Caddy,
            FormatSpec::Envoy,
        ];
        specs
            .iter()
            .map(|s| {
                let mut p = build(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
                for name in [
                    "status",
                    "a",
                    "b.c",
                    "msg",
                    "request_time",
                    "host",
                    "uri",
                    "sd.x@1.y",
                    "sd.meta.note",
                    "auth_event",
                    "auth_count",
                    "request.headers.User-Agent",
                ] {
                    let _ = p.field(name);
                }
                for name in p.known_fields() {
                    let _ = p.field(&name);
                }
                let n = p.field_count();
                (p, n)
            })
            .collect()
    }

    thread_local! {
        static PARSERS: Vec<(Box<dyn LineParser>, usize)> = all_parsers();
    }

    fn check_all(line: &[u8]) {
        PARSERS.with(|parsers| check_with(parsers, line));
    }

    fn check_with(parsers: &[(Box<dyn LineParser>, usize)], line: &[u8]) {
        for (p, n) in parsers {
            let n = *n;
            let mut rec = Record::with_fields(n);
            if p.parse(line, &mut rec).is_ok() {
                for span in &rec.spans {
                    match *span {
                        Span::Line(s, e) => assert!(s <= e && e as usize <= line.len()),
                        Span::Scratch(s, e) => assert!(s <= e && e as usize <= rec.scratch.len()),
                        Span::Missing | Span::Static(_) => {}
                    }
                }
            }
            rec.clear();
        }
    }

    const SEEDS: [&[u8]; 17] = [
        br#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /a\"b HTTP/1.1" 200 5 "-" "ua \x22" 0.1"#,
        br#"{"status":"a\u00e9\ud83d\ude00","a":{"x":[1,{"y":"}"}]},"b":{"c":-1.5e3},"msg":null}"#,
        br#"status=200 msg="a \" b" a flag b.c=1"#,
        b"x 12 \xff\x00\"[]{}\\",
        b"<38>Nov  3 08:00:00 db2 sshd(pam_unix)[12]: auth failure\r",
        br#"<165>1 2026-11-27T10:00:00.003Z h app 1 ID [x@1 y="a\"\]b" z=""][meta note="q"] m"#,
        b"2026-11-27T10:00:02.203151+02:00 web1 CRON[55]: job\n\tmore",
        br#"2026/11/27 10:00:00 [error] 1#2: *3 x, client: 1.2.3.4, server: s, request: "GET / HTTP/1.1", host: "h""#,
        b"[Thu Jun 27 06:58:09.169510 2019] [proxy:error] [pid 1:tid 2] m.c(4): [client ::1:56] AH01071: x, referer: r",
        b"2026-11-27T10:00:00.123+09:00 ERROR 1234 --- [app] [main] c.e.Foo : m\njava.io.IOException: x\n\tat a.B(B.java:1)\nCaused by: a.BError: y\n\t... 2 more",
        b"10:00:00.123 [main] ERROR c.e.Foo:12 - msg",
        b"[2026-11-27 10:00:00,918] INFO [B-1], done (kafka.server.KafkaServer)",
        b"Dec  6 11:00:00 lb haproxy[1]: ::1:3 [06/Dec/2026:11:00:00.655] f~ b/s 10/-1/0/1/+109 503 +27 - - SC-- 1/1/1/1/+3 0/0 {a|b} {} \"GET / HTTP/1.1\"",
        b"1.2.3.4 - - [06/Dec/2026:13:54:33 +0000] \"GET /x HTTP/1.1\" 404 500 \"\" \"\" 5 3 \"f\" \"b\" \"s\" 0 0 0 1 1 ---- 1 1 0 0 0 0 0 \"\" \"\" ",
        b"[2026-12-06T11:00:00.310Z] \"POST /a HTTP/2\" 204 - 154 0 226 100 \"x\" \"ua\" \"id\" \"h\" \"u\"",
        br#"c[1]: {"request":{"method":"GET","headers":{"User-Agent":["a\"b"]}},"duration":12,"Duration":357313}"#,
        b"Dec  6 11:00:00 web1 sshd[101]: message repeated 3 times: [ Failed password for invalid user a from b port 1 ssh2]",
    ];

    /// Lines of a few hundred kB built from one seed repeated, or from the bytes parsers search for,
    /// parse (or fail) without panicking; the search helpers stay linear, so this is quick.
    #[test]
    fn huge_and_repetitive_lines() {
        let mut lines: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.repeat(2_000)).collect();
        for unit in [
            &b"["[..],
            b"[x] ",
            b"\"",
            b"\", client: ",
            b"\", a: \"",
            b"Exception",
            b"a.bException ",
            b"(",
            b"Caused by: ",
            b"\\",
            b"\r\n",
            b"\x00\x1b",
        ] {
            lines.push(unit.repeat((1 << 18) / unit.len()));
            let mut l = SEEDS[9].to_vec();
            l.extend(unit.repeat(1 << 14));
            lines.push(l);
        }
        for line in lines {
            check_all(&line);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..600)) {
            check_all(&line);
        }

        #[test]
        fn mutated_lines_never_panic(
            seed in 0usize..SEEDS.len(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..8),
        ) {
            let mut line = SEEDS.get(seed).copied().unwrap_or_default().to_vec();
            for (pos, byte, op) in edits {
                let at = if line.is_empty() { 0 } else { pos % (line.len() + 1) };
                match op {
                    0 if at < line.len() => line[at] = byte,
                    1 => line.insert(at, byte),
                    _ if at < line.len() => { line.remove(at); }
                    _ => {}
                }
            }
            check_all(&line);
        }

        #[test]
        fn generated_combined_lines_round_trip(
            addr in "[0-9a-f:.]{1,39}|[0-9.]{7,15}(, [0-9.]{7,15}){0,3}",
            user in "-|[a-z]{1,8}",
            method in "GET|POST|PUT|DELETE|PROPFIND",
            uri in "/[!-~&&[^\"\\\\]]{0,60}",
            status in 100u16..600,
            bytes in "-|[0-9]{1,9}",
            referer in "-|https?://[a-z.]{1,20}/[ -~&&[^\"\\\\]]{0,30}",
            ua in r#"([ -~&&[^"\\]]|\\"|\\\\|\\x[0-9A-F]{2}){0,80}"#,
            rt in proptest::option::of("[0-9]{1,3}\\.[0-9]{3}"),
        ) {
            let mut line = format!(
                "{addr} - {user} [10/Oct/2023:13:55:36 +0000] \"{method} {uri} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{ua}\""
            );
            if let Some(rt) = &rt {
                line.push(' ');
                line.push_str(rt);
            }
            let mut p = build(&FormatSpec::Auto).unwrap();
            let mut rec = Record::with_fields(p.field_count());
            p.parse(line.as_bytes(), &mut rec).unwrap();
            let mut get = |name: &str| {
                let id = p.field(name).unwrap();
                rec.get(line.as_bytes(), id).map(|v| String::from_utf8_lossy(v).into_owned())
            };
            prop_assert_eq!(get("remote_addr"), Some(addr));
            prop_assert_eq!(get("remote_user"), Some(user));
            prop_assert_eq!(get("method"), Some(method));
            prop_assert_eq!(get("uri"), Some(uri));
            prop_assert_eq!(get("status"), Some(status.to_string()));
            prop_assert_eq!(get("bytes"), Some(bytes));
            prop_assert_eq!(get("referer"), Some(referer));
            prop_assert_eq!(get("user_agent"), Some(ua));
            prop_assert_eq!(get("request_time"), rt);
        }
    }
}
