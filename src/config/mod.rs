//! Configuration: YAML → serde structs (`deny_unknown_fields`) → checked [`Config`].
//!
//! Two stages, as in ripgrep: the serde structs mirror the file; [`Config::from_yaml`] checks
//! what serde cannot (durations, names, regexes, duplicates) and reports the key path at fault
//! (`sources[0].metrics[2].labels.route`). Syntax and type errors carry serde-saphyr's line and
//! column. Field names are resolved later, against the parser, by the rules compiler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::parse::{FormatSpec, MultilineSpec};
use crate::source::StartAt;

/// The configuration used when no `--config` is given.
pub const DEFAULT_CONFIG: &str = include_str!("default.yml");

/// A configuration error, naming the file and the place in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: {error}")]
    Read {
        /// File.
        file: String,
        /// Cause.
        error: std::io::Error,
    },
    /// YAML syntax, unknown key or wrong type (message has line and column).
    #[error("{file}: {message}")]
    Syntax {
        /// File.
        file: String,
        /// serde-saphyr's message.
        message: String,
    },
    /// A value is not acceptable.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// File.
        file: String,
        /// Key path, e.g. `sources[0].metrics[1].name`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// `global:` settings.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// `scrape` (default: checkpoint what Prometheus has scraped) or `read`.
    pub checkpoint: Option<CheckpointMode>,
}

/// When offsets are saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointMode {
    /// Save the offsets matching the values of the last `/metrics` scrape: after a restart,
    /// the lines Prometheus never saw are read again, the ones it saw are not.
    #[default]
    Scrape,
    /// Save the offsets read so far, every second (for setups with no Prometheus scraping).
    Read,
}

/// A built-in set of metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Access-log metrics with the names in the README (RED + usage).
    Http,
}

/// One `sources:` entry.
#[derive(Debug, Clone, Deserialize)]
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
    pub profile: Option<Profile>,
    /// For the `http` profile: a label spec giving the tenant (customer company).
    pub tenant: Option<LabelSpec>,
    /// For the `http` profile: route patterns such as `/mail/read/:id`.
    #[serde(default)]
    pub routes: Vec<String>,
    /// For the `http` profile: which format field plays which role when the names differ from
    /// nginx's, e.g. `{request_uri: uri, http_user_agent: ua}` for a JSON log.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// For the `http` profile: duration buckets (default 5 ms … 10 s).
    pub buckets: Option<Buckets>,
    /// Where to start in files seen for the first time (default `end`).
    pub start_at: Option<StartAt>,
    /// Poll only, no inotify (NFS, CIFS).
    #[serde(default)]
    pub poll: bool,
    /// User-defined metrics.
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
}

fn default_format() -> FormatSpec {
    FormatSpec::Auto
}

/// Metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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
#[serde(rename_all = "snake_case")]
pub enum GaugeAction {
    /// Replace.
    #[default]
    Set,
    /// Add.
    Add,
    /// Subtract.
    Sub,
}

/// One user metric.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
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
    pub matches: BTreeMap<String, Condition>,
    /// Field whose number is added (counter), set (gauge) or observed (histogram).
    pub value: Option<String>,
    /// Multiply the value (e.g. 0.001 for ms → s).
    pub scale: Option<f64>,
    /// Gauge action (default `set`).
    pub action: Option<GaugeAction>,
    /// Histogram buckets.
    pub buckets: Option<Buckets>,
    /// Labels by name.
    #[serde(default)]
    pub labels: BTreeMap<String, LabelSpec>,
}

/// A label: a field name, or a full spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LabelSpec {
    /// The raw value of this field.
    Field(String),
    /// Full form (boxed: it is much larger than a name).
    Full(Box<LabelFull>),
}

/// Full label spec. Exactly one of `field`, `value`, `template`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelFull {
    /// Take the value of this field.
    pub field: Option<String>,
    /// A constant.
    pub value: Option<String>,
    /// `{field}` placeholders, e.g. `"{request_method} {status}"`.
    pub template: Option<String>,
    /// Built-in transform of the field's value.
    pub transform: Option<Transform>,
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

/// Built-in transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// URI → route: query dropped, ids → `:id`, user patterns applied.
    Route,
    /// `503` → `5xx`.
    StatusClass,
    /// A valid three-digit status, else `other`.
    Status,
    /// A known HTTP method, else `other`.
    Method,
    /// User agent → `mobile_app | mobile_web | desktop | bot | other`.
    Device,
    /// Lower-case.
    Lower,
}

/// A match condition: a plain value means `equals`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    /// Equals this text.
    Equals(Scalar),
    /// Full form.
    Full(ConditionFull),
}

/// A YAML scalar used as text.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionFull {
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
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Buckets {
    /// Upper bounds.
    List(Vec<f64>),
    /// Generated.
    Gen(BucketGen),
}

/// Bucket generators.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketGen {
    /// `start, start+width, …` (`count` buckets).
    pub linear: Option<Linear>,
    /// `start, start*factor, …` (`count` buckets).
    pub exponential: Option<Exponential>,
}

/// Linear buckets.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exponential {
    /// First bound.
    pub start: f64,
    /// Ratio.
    pub factor: f64,
    /// Number of bounds.
    pub count: usize,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Global settings.
    #[serde(default)]
    pub global: RawGlobal,
    /// Sources.
    pub sources: Vec<RawSource>,
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
    /// Idle expiry.
    pub series_expiry: Option<Duration>,
    /// Max line length.
    pub max_line_bytes: usize,
    /// Poll interval.
    pub poll_interval: Duration,
    /// Partial line flush.
    pub partial_flush: Option<Duration>,
    /// Rotated-file drain time.
    pub rotate_wait: Duration,
    /// Checkpoint mode.
    pub checkpoint: CheckpointMode,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (for messages).
    pub file: String,
    /// Global settings.
    pub global: Global,
    /// Sources (names unique).
    pub sources: Vec<RawSource>,
}

/// Default listen address (9145: next to grok_exporter's 9144).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9145";

/// Default histogram buckets for request durations, in seconds.
pub const DEFAULT_DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Parse `500ms`, `2s`, `5m`, `1h`, `1d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// A valid Prometheus metric name.
pub fn valid_metric_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A valid Prometheus label name (not reserved `__…`).
pub fn valid_label_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

impl Buckets {
    /// The bucket bounds, checked: finite, strictly increasing, at least one.
    pub fn bounds(&self) -> Result<Vec<f64>, String> {
        let v: Vec<f64> = match self {
            Buckets::List(v) => v.clone(),
            Buckets::Gen(g) => match (&g.linear, &g.exponential) {
                (Some(l), None) => {
                    if l.width <= 0.0 {
                        return Err("linear.width must be > 0".into());
                    }
                    (0..l.count).map(|i| l.start + l.width * i as f64).collect()
                }
                (None, Some(e)) => {
                    if e.start <= 0.0 || e.factor <= 1.0 {
                        return Err("exponential needs start > 0 and factor > 1".into());
                    }
                    (0..e.count)
                        .map(|i| e.start * e.factor.powi(i as i32))
                        .collect()
                }
                _ => return Err("give exactly one of `linear` or `exponential`".into()),
            },
        };
        if v.is_empty() || v.len() > 200 {
            return Err("between 1 and 200 buckets are needed".into());
        }
        if v.iter().any(|b| !b.is_finite()) {
            return Err("bucket bounds must be finite (+Inf is implicit)".into());
        }
        if v.windows(2).any(|w| w[0] >= w[1]) {
            return Err("bucket bounds must be strictly increasing".into());
        }
        Ok(v)
    }
}

impl Config {
    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            file: file.clone(),
            error,
        })?;
        Config::from_yaml(&text, &file)
    }

    /// The embedded default configuration.
    pub fn embedded() -> Result<Config, ConfigError> {
        Config::from_yaml(DEFAULT_CONFIG, "<embedded default config>")
    }

    /// Parse and check YAML text; `file` names it in messages.
    pub fn from_yaml(text: &str, file: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let invalid = |key: String, message: String| ConfigError::Invalid {
            file: file.to_string(),
            key,
            message,
        };
        let dur = |key: &str,
                   v: &Option<String>,
                   default: Option<Duration>|
         -> Result<Option<Duration>, ConfigError> {
            match v {
                None => Ok(default),
                Some(s) => parse_duration(s).map(Some).ok_or_else(|| {
                    invalid(
                        format!("global.{key}"),
                        format!("{s:?} is not a duration (e.g. 500ms, 5s, 10m)"),
                    )
                }),
            }
        };
        let g = &raw.global;
        let global = Global {
            listen: g
                .listen
                .clone()
                .unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            state_dir: g.state_dir.clone(),
            series_limit: g.series_limit.unwrap_or(10_000),
            series_expiry: dur("series_expiry", &g.series_expiry, None)?.filter(|d| !d.is_zero()),
            max_line_bytes: g.max_line_bytes.unwrap_or(1 << 20),
            poll_interval: dur(
                "poll_interval",
                &g.poll_interval,
                Some(Duration::from_secs(1)),
            )?
            .unwrap_or(Duration::from_secs(1)),
            partial_flush: dur("partial_flush", &g.partial_flush, None)?,
            rotate_wait: dur("rotate_wait", &g.rotate_wait, Some(Duration::from_secs(5)))?
                .unwrap_or(Duration::from_secs(5)),
            checkpoint: g.checkpoint.unwrap_or_default(),
        };
        if global.series_limit == 0 {
            return Err(invalid(
                "global.series_limit".into(),
                "must be at least 1".into(),
            ));
        }
        if global.max_line_bytes < 256 {
            return Err(invalid(
                "global.max_line_bytes".into(),
                "must be at least 256".into(),
            ));
        }
        if global.poll_interval < Duration::from_millis(10) {
            return Err(invalid(
                "global.poll_interval".into(),
                "must be at least 10ms".into(),
            ));
        }
        if raw.sources.is_empty() {
            return Err(invalid(
                "sources".into(),
                "at least one source is needed".into(),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in raw.sources.iter().enumerate() {
            let at = |k: &str| format!("sources[{i}].{k}");
            if s.name.is_empty() || s.name.chars().any(|c| c.is_control()) {
                return Err(invalid(
                    at("name"),
                    "must be a non-empty name without control characters".into(),
                ));
            }
            if !names.insert(s.name.clone()) {
                return Err(invalid(
                    at("name"),
                    format!("source {:?} is defined twice", s.name),
                ));
            }
            if s.paths.is_empty() {
                return Err(invalid(
                    at("paths"),
                    "at least one path or glob is needed".into(),
                ));
            }
            for (j, p) in s.paths.iter().chain(&s.exclude).enumerate() {
                if let Err(e) = globset::Glob::new(p) {
                    return Err(invalid(
                        at(&format!("paths[{j}]")),
                        format!("bad glob {p:?}: {e}"),
                    ));
                }
            }
            if let Some(b) = &s.buckets {
                b.bounds().map_err(|m| invalid(at("buckets"), m))?;
            }
            if s.profile.is_none() && s.metrics.is_empty() {
                return Err(invalid(
                    at("metrics"),
                    "a source needs `profile: http` or at least one metric".into(),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for (j, m) in s.metrics.iter().enumerate() {
                let mk = |k: &str| at(&format!("metrics[{j}].{k}"));
                if !valid_metric_name(&m.name) {
                    return Err(invalid(
                        mk("name"),
                        format!("{:?} is not a valid Prometheus metric name", m.name),
                    ));
                }
                if !seen.insert(m.name.clone()) {
                    return Err(invalid(
                        mk("name"),
                        format!("metric {:?} is defined twice in this source", m.name),
                    ));
                }
                for l in m.labels.keys() {
                    if !valid_label_name(l) {
                        return Err(invalid(
                            mk(&format!("labels.{l}")),
                            format!("{l:?} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"),
                        ));
                    }
                }
                if let Some(b) = &m.buckets {
                    if m.kind != MetricType::Histogram {
                        return Err(invalid(
                            mk("buckets"),
                            "only histograms have buckets".into(),
                        ));
                    }
                    b.bounds().map_err(|e| invalid(mk("buckets"), e))?;
                }
                if m.kind == MetricType::Histogram && m.value.is_none() {
                    return Err(invalid(
                        mk("value"),
                        "a histogram needs `value: <field>` to observe".into(),
                    ));
                }
                if m.action.is_some() && m.kind != MetricType::Gauge {
                    return Err(invalid(mk("action"), "only gauges have an action".into()));
                }
                if m.kind == MetricType::Gauge && m.value.is_none() {
                    return Err(invalid(
                        mk("value"),
                        "a gauge needs `value: <field>`".into(),
                    ));
                }
            }
        }
        Ok(Config {
            file: file.to_string(),
            global,
            sources: raw.sources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        Config::from_yaml(yaml, "t.yml").unwrap_err().to_string()
    }

    #[test]
    fn embedded_default_loads() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.sources[0].profile, Some(Profile::Http));
        assert_eq!(c.global.listen, DEFAULT_LISTEN);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = err("sources:\n  - name: a\n    paths: [x]\n    profile: http\n    colour: red\n");
        assert!(
            e.contains("t.yml") && e.contains("colour") && e.contains("line 5"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_the_place() {
        let e = err("global:\n  series_limit: lots\nsources: []\n");
        assert!(e.contains("t.yml") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_key_path() {
        let base = "sources:\n  - name: a\n    paths: [x]\n    metrics:\n";
        let e = err(&format!(
            "{base}      - {{name: 'bad-name', type: counter}}\n"
        ));
        assert!(e.contains("sources[0].metrics[0].name"), "{e}");
        let e = err(&format!("{base}      - {{name: a_total, type: counter}}\n      - {{name: a_total, type: counter}}\n"));
        assert!(
            e.contains("sources[0].metrics[1].name") && e.contains("twice"),
            "{e}"
        );
        let e = err(&format!(
            "{base}      - {{name: a_total, type: counter, labels: {{'1x': status}}}}\n"
        ));
        assert!(e.contains("labels.1x"), "{e}");
        let e = err(&format!(
            "{base}      - {{name: h, type: histogram, value: t, buckets: [1, 0.5]}}\n"
        ));
        assert!(
            e.contains("metrics[0].buckets") && e.contains("increasing"),
            "{e}"
        );
        let e =
            err("global: {poll_interval: soon}\nsources: [{name: a, paths: [x], profile: http}]\n");
        assert!(e.contains("global.poll_interval"), "{e}");
        let e = err("sources: [{name: a, paths: [x], profile: http}, {name: a, paths: [y], profile: http}]\n");
        assert!(e.contains("sources[1].name"), "{e}");
    }

    #[test]
    fn buckets_generators() {
        let b = Buckets::Gen(BucketGen {
            linear: None,
            exponential: Some(Exponential {
                start: 0.001,
                factor: 10.0,
                count: 3,
            }),
        });
        let v = b.bounds().unwrap();
        assert_eq!(v.len(), 3);
        assert!((v[2] - 0.1).abs() < 1e-12);
    }
}
