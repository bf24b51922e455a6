//! Stage 1: the config file as written. serde structs with `deny_unknown_fields`, so a typo is
//! an error with its line and column; no value is interpreted here (durations are still text,
//! regexes are not compiled, field names are not resolved). [`super::validate`] does all that.
//!
//! Every key accepted here must be described in `docs/configuration.md` (a unit test walks
//! these types and fails on a key the reference does not mention).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::profiles::ProfileName;
use crate::parse::{FormatSpec, MultilineSpec};
use crate::rules::transform::{
    DeviceRuleSpec, PageSpec, ReferrerSpec, SecurityRuleSpec, TenantSpec, TransformName,
};
use crate::source::StartAt;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Global settings.
    #[serde(default)]
    pub global: RawGlobal,
    /// Sources.
    pub sources: Vec<RawSource>,
}

/// `global:` settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    /// Address for `/metrics` (default `0.0.0.0:9145`).
    pub listen: Option<String>,
    /// Directory for checkpoints (default `$STATE_DIRECTORY` or `/var/lib/logpulse`).
    pub state_dir: Option<PathBuf>,
    /// Series per metric before overflow (default 10000).
    pub series_limit: Option<usize>,
    /// Remove series not updated for this long (default: never).
    pub series_expiry: Option<String>,
    /// Cut lines longer than this (default 1 MiB).
    pub max_line_bytes: Option<usize>,
    /// Backstop poll (default 1s).
    pub poll_interval: Option<String>,
    /// Deliver a last line without newline after this much quiet (default: never).
    pub partial_flush: Option<String>,
    /// Keep draining a rotated file this long after its last write (default 5s).
    pub rotate_wait: Option<String>,
    /// Files kept open at once, all sources together (default: from the open-files limit).
    pub max_open_files: Option<usize>,
    /// `scrape` (default: checkpoint what Prometheus has scraped) or `read`.
    pub checkpoint: Option<CheckpointMode>,
    /// The longest scrape interval of the scrapers: new counter series are shown at 0 for
    /// about this long (default: one scrape).
    pub scrape_interval: Option<String>,
    /// The line view: its memory caps, redaction, and who may read it.
    pub lines: Option<RawLinesGlobal>,
}

/// `global.lines:` settings of the line view (`GET /lines`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawLinesGlobal {
    /// Bytes of kept lines, all sources together (default 8 MiB; 0: no line view).
    pub max_bytes: Option<usize>,
    /// Bytes of kept lines per source, unless the source sets `lines.max_bytes` (default 1 MiB).
    pub max_bytes_per_source: Option<usize>,
    /// A kept line's text is cut at this many bytes (default 2048).
    pub max_line_bytes: Option<usize>,
    /// What is masked in kept lines (all on by default).
    pub redact: Option<RawRedact>,
    /// Serve `/lines` on a non-loopback listener without authentication (default false).
    pub allow_unauthenticated: Option<bool>,
}

/// `global.lines.redact:` what is masked before a line is kept.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawRedact {
    /// IPv4 last octet, IPv6 last 80 bits (default true).
    pub addresses: Option<bool>,
    /// Query-string values (default true).
    pub query: Option<bool>,
    /// The local part of e-mail addresses (default true).
    pub emails: Option<bool>,
    /// Regexes whose matches are replaced by `*`.
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// A source's `lines:`: which lines its line view keeps, with which fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawLines {
    /// Keep a line when all conditions of any entry hold (entries are `match` maps); replaces
    /// the profile's default (`http`: 5xx responses).
    pub keep: Option<Vec<BTreeMap<String, RawCondition>>>,
    /// Keep lines that did not parse (default true).
    pub unparsed: Option<bool>,
    /// Fields stored with each kept line and offered as filters, as label specs (added to the
    /// profile's: `route`, `menu`, `status`, `method`, `tenant`).
    #[serde(default)]
    pub fields: BTreeMap<String, RawLabel>,
    /// This source's cap in bytes (default `global.lines.max_bytes_per_source`; 0: keep none).
    pub max_bytes: Option<usize>,
}

/// When offsets are saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckpointMode {
    /// Save the offsets matching the values of the last `/metrics` scrape: after a restart,
    /// the lines Prometheus never saw are read again, the ones it saw are not.
    #[default]
    Scrape,
    /// Save the offsets read so far, every second (for setups with no Prometheus scraping).
    Read,
}

/// One `sources:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Unique name; the `source` label of profile and self metrics.
    pub name: String,
    /// Globs of files to follow.
    pub paths: Vec<String>,
    /// Globs to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Line format (default `auto`).
    #[serde(default = "default_format")]
    pub format: FormatSpec,
    /// Join continuation lines (stack traces) into one record.
    pub multiline: Option<MultilineSpec>,
    /// Built-in metrics.
    pub profile: Option<ProfileName>,
    /// For profiles: which format field plays which role when the names differ from the
    /// profile's, e.g. `{request_uri: uri, http_user_agent: ua}` for a JSON log, or
    /// `{request_time: {field: Duration, scale: 1e-9}}` with a unit conversion.
    #[serde(default)]
    pub fields: BTreeMap<String, RawField>,
    /// For the `http` profile: a label spec giving the tenant (customer company).
    pub tenant: Option<RawLabel>,
    /// For the `http` profile: how many tenants to size the per-tenant metrics' series limits
    /// for (default 1000).
    pub tenants: Option<usize>,
    /// Menu table for `transform: menu`: menu name → path prefixes (default: a groupware's).
    pub menus: Option<BTreeMap<String, Vec<String>>>,
    /// User-agent rules for `transform: device`, `app`, `app_version`, before the built-in ones.
    #[serde(default)]
    pub device_rules: Vec<DeviceRuleSpec>,
    /// Options of `transform: referrer`.
    pub referrers: Option<ReferrerSpec>,
    /// Rules for `transform: security`, before the built-in ones.
    #[serde(default)]
    pub security_rules: Vec<SecurityRuleSpec>,
    /// What is not a page for `transform: page` (API prefixes, asset extensions).
    pub pages: Option<PageSpec>,
    /// Hosts (custom domains), service domains and a file of them for `transform: tenant`.
    pub tenant_map: Option<TenantSpec>,
    /// For the `http` profile: route patterns such as `/mail/read/:id`.
    #[serde(default)]
    pub routes: Vec<String>,
    /// For the `http` profile: a path prefix (`/t/*`, `*` one segment: a tenant's) left out of
    /// routes, menus and pages.
    pub path_prefix: Option<String>,
    /// For the `http` profile: duration buckets (default 5 ms … 10 s).
    pub buckets: Option<RawBuckets>,
    /// Where to start in files seen for the first time (default `end`).
    pub start_at: Option<StartAt>,
    /// Poll only, no inotify (NFS, CIFS).
    #[serde(default)]
    pub poll: bool,
    /// Format field whose value labels exemplars (a request or trace id); without it, or when
    /// a line lacks it, exemplars carry a reference to the line.
    pub exemplar_field: Option<String>,
    /// User-defined metrics.
    #[serde(default)]
    pub metrics: Vec<RawMetric>,
    /// For `backfill`: where each line's own time is.
    pub time: Option<RawTime>,
    /// The line view: which lines of this source are kept for `GET /lines`.
    pub lines: Option<RawLines>,
}

/// `time:` of a source (read by `backfill`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawTime {
    /// The field holding the time (default: the first of the format's usual time fields).
    pub field: Option<String>,
    /// How it is written: a layout name or a strftime pattern (default `auto`).
    pub layout: Option<String>,
    /// Zone of times written without one: `local` (default), `UTC` or `+09:00`.
    pub zone: Option<String>,
}

fn default_format() -> FormatSpec {
    FormatSpec::Auto
}

/// The format field playing a profile role: a name, or a name and a unit conversion.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum RawField {
    /// The field's name.
    Name(String),
    /// The field and a factor for its number.
    Scaled(RawScaledField),
}

/// `{field: Duration, scale: 1e-9}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawScaledField {
    /// The field's name.
    pub field: String,
    /// Multiplier for the field's number (`1e-9` for nanoseconds → seconds).
    pub scale: Option<f64>,
}

impl RawField {
    /// The field's name.
    pub fn name(&self) -> &str {
        match self {
            RawField::Name(n) => n,
            RawField::Scaled(s) => &s.field,
        }
    }

    /// The factor, if one is given.
    pub fn scale(&self) -> Option<f64> {
        match self {
            RawField::Name(_) => None,
            RawField::Scaled(s) => s.scale,
        }
    }
}

/// Metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    /// +1 per matching line, or + a field.
    Counter,
    /// Set or add a field.
    Gauge,
    /// Observe a field.
    Histogram,
}

/// What a gauge does with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum GaugeAction {
    /// Replace.
    #[default]
    Set,
    /// Add.
    Add,
    /// Subtract.
    Sub,
    /// Set to the time the line is applied (unix seconds: when tailing, the time it was read),
    /// with no `value`: `log_last_error_timestamp_seconds`.
    Now,
}

/// One metric (user-defined, or made by a profile).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// Prometheus metric name.
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// HELP text.
    #[serde(default)]
    pub help: Option<String>,
    /// Conditions on fields; all must hold.
    #[serde(default, rename = "match")]
    pub matches: BTreeMap<String, RawCondition>,
    /// Field whose number is added (counter), set (gauge) or observed (histogram).
    pub value: Option<String>,
    /// Multiply the value (e.g. 0.001 for ms → s).
    pub scale: Option<f64>,
    /// Series of this metric before overflow (default `global.series_limit`).
    pub series_limit: Option<usize>,
    /// Gauge action (default `set`).
    pub action: Option<GaugeAction>,
    /// Histogram buckets.
    pub buckets: Option<RawBuckets>,
    /// Labels by name.
    #[serde(default)]
    pub labels: BTreeMap<String, RawLabel>,
}

/// A label: a field name, or a full spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum RawLabel {
    /// The raw value of this field.
    Field(String),
    /// Full form (boxed: it is much larger than a name).
    Full(Box<RawLabelFull>),
}

/// Full label spec. Exactly one of `field`, `value`, `template`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawLabelFull {
    /// Take the value of this field.
    pub field: Option<String>,
    /// A constant.
    pub value: Option<String>,
    /// `{field}` placeholders, e.g. `"{request_method} {status}"`.
    pub template: Option<String>,
    /// Built-in transform of the field's value.
    pub transform: Option<TransformName>,
    /// For `transform: route`: patterns such as `/mail/read/:id`.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Extract with a regex (first match) and expand `replacement` (default `$1`).
    pub regex: Option<String>,
    /// See `regex`.
    pub replacement: Option<String>,
    /// Replace exact values.
    pub map: Option<BTreeMap<String, String>>,
    /// When the field is missing or empty, the regex does not match, or (with `map`) the value
    /// is not in the map.
    pub default: Option<String>,
    /// Values declared up front: their series are exported at 0 from start-up.
    pub values: Option<Vec<String>>,
}

impl RawLabel {
    /// The full form (a bare field name is `{field: name}`).
    pub fn full(&self) -> std::borrow::Cow<'_, RawLabelFull> {
        match self {
            RawLabel::Field(f) => std::borrow::Cow::Owned(RawLabelFull {
                field: Some(f.clone()),
                ..Default::default()
            }),
            RawLabel::Full(f) => std::borrow::Cow::Borrowed(f),
        }
    }
}

/// A match condition: a plain value means `equals`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum RawCondition {
    /// Equals this text.
    Equals(Scalar),
    /// Full form.
    Full(RawConditionFull),
}

/// A YAML scalar used as text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Scalar {
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
}

impl Scalar {
    /// As text.
    pub fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// Full condition; all given parts must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RawConditionFull {
    /// Exact text.
    pub equals: Option<Scalar>,
    /// Not this text.
    pub not_equals: Option<Scalar>,
    /// One of these texts.
    #[serde(rename = "in")]
    pub one_of: Option<Vec<Scalar>>,
    /// Regex matches (unanchored; use `^…$`).
    pub regex: Option<String>,
    /// Regex does not match.
    pub not_regex: Option<String>,
    /// Number greater than.
    pub gt: Option<f64>,
    /// Number greater or equal.
    pub ge: Option<f64>,
    /// Number less than.
    pub lt: Option<f64>,
    /// Number less or equal.
    pub le: Option<f64>,
    /// Field present (true) or absent (false).
    pub exists: Option<bool>,
}

/// Histogram buckets: a list, or a generator.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum RawBuckets {
    /// Upper bounds.
    List(Vec<f64>),
    /// Generated.
    Gen(BucketGen),
}

/// Bucket generators.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BucketGen {
    /// `start, start+width, …` (`count` buckets).
    pub linear: Option<Linear>,
    /// `start, start*factor, …` (`count` buckets).
    pub exponential: Option<Exponential>,
}

/// Linear buckets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Linear {
    /// First bound.
    pub start: f64,
    /// Step.
    pub width: f64,
    /// Number of bounds.
    pub count: usize,
}

/// Exponential buckets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Exponential {
    /// First bound.
    pub start: f64,
    /// Ratio.
    pub factor: f64,
    /// Number of bounds.
    pub count: usize,
}
