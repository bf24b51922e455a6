//! Stage 2: the validated config, what the rest of the program uses. Every value here has
//! been checked once, by [`super::validate`]: durations are [`Duration`]s, regexes are
//! compiled, buckets are computed, field names are resolved to [`FieldId`]s of the source's
//! format, transforms are compiled, profiles are expanded into ordinary [`Metric`]s. Nothing
//! that uses these types has a config error left to report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use regex::bytes::Regex;

pub use super::raw::{CheckpointMode, MetricType};
use crate::parse::time::{Layout, Zone};
use crate::parse::{BuildError, FieldId, FormatSpec, Joiner, LineParser};
use crate::rules::transform::Transform;
use crate::source::StartAt;
pub use crate::store::lines::Redact;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (for messages).
    pub file: String,
    /// Global settings.
    pub global: Global,
    /// Sources (names unique).
    pub sources: Vec<Source>,
    /// Things that are allowed but probably wrong (unbounded labels), each naming its key path;
    /// `check` prints them, `run` logs them.
    pub warnings: Vec<String>,
}

/// Checked global settings.
#[derive(Debug, Clone)]
pub struct Global {
    /// Listen address.
    pub listen: String,
    /// Checkpoint directory (`None`: default location).
    pub state_dir: Option<PathBuf>,
    /// Series per metric.
    pub series_limit: usize,
    /// Idle expiry (`None`: never).
    pub series_expiry: Option<Duration>,
    /// Max line length.
    pub max_line_bytes: usize,
    /// Poll interval.
    pub poll_interval: Duration,
    /// Partial line flush (`None`: never).
    pub partial_flush: Option<Duration>,
    /// Rotated-file drain time.
    pub rotate_wait: Duration,
    /// Descriptor budget for files (`None`: derived from `RLIMIT_NOFILE`).
    pub max_open_files: Option<usize>,
    /// Checkpoint mode.
    pub checkpoint: CheckpointMode,
    /// The longest scrape interval of the scrapers (`None`: not given).
    pub scrape_interval: Option<Duration>,
    /// The line view's caps, redaction and access.
    pub lines: LinesGlobal,
}

/// Checked `global.lines:` settings.
#[derive(Debug, Clone)]
pub struct LinesGlobal {
    /// Bytes of kept lines, all sources together (0: no line view).
    pub max_bytes: usize,
    /// Default cap of one source.
    pub max_bytes_per_source: usize,
    /// A kept line's text is cut here.
    pub max_line_bytes: usize,
    /// What is masked before a line is kept.
    pub redact: Redact,
    /// Serve `/lines` without authentication on a non-loopback listener.
    pub allow_unauthenticated: bool,
}

/// A source's checked line view.
#[derive(Debug, Clone, Default)]
pub struct LineView {
    /// A line is kept when every condition of any entry holds.
    pub keep: Vec<Vec<Condition>>,
    /// Lines that did not parse are kept.
    pub unparsed: bool,
    /// Fields stored with a kept line (label specs; `name` is the field's name in `/lines`).
    pub fields: Vec<Label>,
    /// Index in `fields` of the exemplar field, looked up by `ref=`; its value is not redacted.
    pub exemplar: Option<usize>,
    /// This source's cap in bytes (0: nothing is kept).
    pub max_bytes: usize,
}

impl LineView {
    /// Whether this source keeps any line at all.
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0 && (self.unparsed || !self.keep.is_empty())
    }
}

/// One checked source.
#[derive(Debug, Clone)]
pub struct Source {
    /// Unique name.
    pub name: String,
    /// Globs to follow (each a valid glob).
    pub paths: Vec<String>,
    /// Globs to leave out (each a valid glob).
    pub exclude: Vec<String>,
    /// Where to start in files seen for the first time.
    pub start_at: StartAt,
    /// Poll only, no inotify.
    pub poll: bool,
    /// The line format, with the fields the metrics use.
    pub format: Format,
    /// How continuation lines are joined into records, if they are.
    pub multiline: Option<Multiline>,
    /// The metrics: the profile's first, then the user's.
    pub metrics: Vec<Metric>,
    /// The entry as written: a reload compares it to tell whether the source changed (the
    /// checked values hold compiled regexes, which cannot be compared).
    pub definition: super::raw::RawSource,
    /// Files its definition reads besides the config (`tenant_map.file`), with a digest of
    /// their content: a reload compares them too.
    pub inputs: Vec<(PathBuf, u64)>,
    /// Where exemplar labels come from, when a field is named for it.
    pub exemplar: Option<ExemplarField>,
    /// Where each line's time is (read by `backfill`).
    pub time: TimeConfig,
    /// Which lines the line view keeps.
    pub lines: LineView,
}

/// The field whose value labels exemplars.
#[derive(Debug, Clone)]
pub struct ExemplarField {
    /// The field.
    pub field: FieldId,
    /// The exemplar's label name (the field name, made a valid label name).
    pub label: String,
}

/// Checked `time:` settings of a source.
#[derive(Debug, Clone, Default)]
pub struct TimeConfig {
    /// The field (`None`: the first of [`crate::parse::time::DEFAULT_FIELDS`] the format has).
    pub field: Option<String>,
    /// How the time is written.
    pub layout: Layout,
    /// Zone of times written without one.
    pub zone: Zone,
}

/// A format whose parser builds and whose fields resolve.
#[derive(Debug, Clone)]
pub struct Format {
    pub(super) spec: FormatSpec,
    /// Field names in the order validation resolved them: schema-less formats (json, logfmt)
    /// number fields in the order they are asked for, so a parser asked in this order gives
    /// the same [`FieldId`]s the metrics hold.
    pub(super) fields: Vec<String>,
}

impl Format {
    /// The format as configured.
    pub fn spec(&self) -> &FormatSpec {
        &self.spec
    }

    /// A parser with every field the metrics use registered. Validation built this same parser
    /// from the same spec, so the error cannot occur for a validated config; it stays typed
    /// rather than becoming a panic.
    pub fn parser(&self) -> Result<Box<dyn LineParser>, BuildError> {
        let mut p = crate::parse::build(&self.spec)?;
        for f in &self.fields {
            let _ = p.field(f);
        }
        Ok(p)
    }
}

/// Checked `multiline:` settings, with the start regex compiled.
#[derive(Debug, Clone)]
pub struct Multiline {
    /// A line matching this starts a record.
    pub start: Regex,
    /// Most lines per record.
    pub max_lines: usize,
    /// Most bytes per record.
    pub max_bytes: usize,
    /// Emit a pending record after this long without a new line.
    pub timeout: Duration,
}

impl Multiline {
    /// A joiner with these settings (one per file; the regex is shared, not recompiled).
    pub fn joiner(&self) -> Joiner {
        Joiner::with_regex(self.start.clone(), self.max_lines, self.max_bytes)
    }
}

/// One checked metric.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Key path of its definition (`sources[0].metrics[2]`, `sources[0].profile(http).…`).
    pub key: String,
    /// Prometheus name.
    pub name: String,
    /// HELP text.
    pub help: String,
    /// Type.
    pub kind: MetricType,
    /// Conditions; all must hold.
    pub conditions: Vec<Condition>,
    /// Labels, in name order.
    pub labels: Vec<Label>,
    /// What a matching line does.
    pub action: Action,
    /// Factor applied to the value.
    pub scale: f64,
    /// Histogram bounds (finite, increasing); empty for other types.
    pub buckets: Vec<f64>,
    /// Its own series limit, when set (else `global.series_limit`).
    pub series_limit: Option<usize>,
}

/// What a matching line does to its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Counter + 1.
    Inc,
    /// + the field's number (counter, or gauge `add`).
    Add(FieldId),
    /// Gauge = the field's number.
    Set(FieldId),
    /// Gauge − the field's number.
    Sub(FieldId),
    /// Histogram observes the field's number.
    Observe(FieldId),
    /// Gauge = the time the line is applied, in unix seconds.
    SetNow,
}

/// One condition on a field.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The field tested.
    pub field: FieldId,
    /// The test.
    pub test: Test,
}

/// A test on a field's value.
#[derive(Debug, Clone)]
pub enum Test {
    /// Equals.
    Eq(Box<[u8]>),
    /// Present and different, or absent.
    Ne(Box<[u8]>),
    /// One of.
    In(Vec<Box<[u8]>>),
    /// Regex matches.
    Re(Regex),
    /// Absent, or regex does not match.
    NotRe(Regex),
    /// Number >.
    Gt(f64),
    /// Number >=.
    Ge(f64),
    /// Number <.
    Lt(f64),
    /// Number <=.
    Le(f64),
    /// Present and non-empty (true) or not (false).
    Exists(bool),
}

/// One checked label.
#[derive(Debug, Clone)]
pub struct Label {
    /// Label name (valid, not reserved).
    pub name: String,
    /// Where the value comes from.
    pub value: LabelValue,
    /// Extract with this regex and expand the replacement (`$0`..`$9`).
    pub regex: Option<(Regex, Box<[u8]>)>,
    /// Then transform.
    pub transform: Option<Transform>,
    /// Then replace exact values.
    pub map: Option<BTreeMap<String, String>>,
    /// Used when the value is missing, empty or `-`, the regex does not match, or (with a map)
    /// the value is not in the map.
    pub default: Option<String>,
    /// Values known up front (declared with `values:`, a constant, or a transform's fixed set):
    /// their series are exported at 0 from start-up.
    pub known: Option<Vec<String>>,
    /// Most values log content can give it, when no step above decides and the regex groups
    /// feeding it match a fixed set of strings (`(?P<level>INFO|WARN)`, `([0-9]{3})`): bounded
    /// like `known`, without declaring the values.
    pub bound: Option<usize>,
}

impl Label {
    /// True when log content cannot make this label take new values: a constant, declared
    /// `values`, a transform with a fixed output set, a `map` with a `default`, or regex groups
    /// matching a fixed set ([`Label::bound`]).
    pub fn bounded(&self) -> bool {
        matches!(self.value, LabelValue::Const(_))
            || self.known.is_some()
            || (self.map.is_some() && self.default.is_some())
            || self.transform.as_ref().is_some_and(Transform::bounded)
            || self.bound.is_some()
    }
}

/// The source of a label's value.
#[derive(Debug, Clone)]
pub enum LabelValue {
    /// A constant.
    Const(String),
    /// A field's bytes.
    Field(FieldId),
    /// Literal text and fields.
    Template(Vec<TemplatePart>),
}

/// A piece of a label template.
#[derive(Debug, Clone)]
pub enum TemplatePart {
    /// Text.
    Lit(Box<[u8]>),
    /// A field's bytes.
    Field(FieldId),
}
