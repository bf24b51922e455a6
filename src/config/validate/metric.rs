//! Checks of metrics, labels, conditions and buckets, resolving field names against the
//! source's format as they go.

use std::borrow::Cow;

use regex::bytes::Regex;

use super::bounds::{self, Bounds};
use super::{invalid, valid_label_name, valid_metric_name, Invalid};
use crate::config::model::{
    Action, Condition, Format, Label, LabelValue, Metric, TemplatePart, Test,
};
use crate::config::raw::{
    GaugeAction, MetricType, RawBuckets, RawCondition, RawLabel, RawLabelFull, RawMetric, Scalar,
};
use crate::parse::{BuildError, FieldId, FormatSpec, LineParser};
use crate::rules::transform::{SourceTransforms, Transform, TransformName, TransformOptions};

/// Most histogram buckets (each is a series per label set).
pub const MAX_BUCKETS: usize = 200;

/// Default histogram buckets for request durations, in seconds.
pub const DEFAULT_DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The bucket bounds, checked: at most [`MAX_BUCKETS`] (before generating any), finite,
/// strictly increasing, at least one.
pub fn bucket_bounds(b: &RawBuckets) -> Result<Vec<f64>, String> {
    let count = |n: usize| {
        if n == 0 || n > MAX_BUCKETS {
            Err(format!(
                "between 1 and {MAX_BUCKETS} buckets are needed (got {n})"
            ))
        } else {
            Ok(n)
        }
    };
    let v: Vec<f64> = match b {
        RawBuckets::List(v) => {
            count(v.len())?;
            v.clone()
        }
        RawBuckets::Gen(g) => match (&g.linear, &g.exponential) {
            (Some(l), None) => {
                if l.width.is_nan() || l.width <= 0.0 {
                    return Err("linear.width must be > 0".into());
                }
                (0..count(l.count)?)
                    .map(|i| l.start + l.width * i as f64)
                    .collect()
            }
            (None, Some(e)) => {
                if e.start.is_nan() || e.factor.is_nan() || e.start <= 0.0 || e.factor <= 1.0 {
                    return Err("exponential needs start > 0 and factor > 1".into());
                }
                (0..count(e.count)?)
                    .map(|i| e.start * e.factor.powi(i as i32))
                    .collect()
            }
            _ => return Err("give exactly one of `linear` or `exponential`".into()),
        },
    };
    if v.iter().any(|b| !b.is_finite()) {
        return Err("bucket bounds must be finite (+Inf is implicit)".into());
    }
    if v.windows(2).any(|w| w[0] >= w[1]) {
        return Err("bucket bounds must be strictly increasing".into());
    }
    Ok(v)
}

/// The source's parser, and the field names resolved so far, in order.
pub(super) struct Fields {
    parser: Box<dyn LineParser>,
    order: Vec<String>,
    bounds: Bounds,
}

impl Fields {
    pub(super) fn new(spec: &FormatSpec) -> Result<Fields, BuildError> {
        Ok(Fields {
            parser: crate::parse::build(spec)?,
            order: Vec::new(),
            bounds: Bounds::new(spec),
        })
    }

    pub(super) fn get(&mut self, name: &str) -> Option<FieldId> {
        let id = self.parser.field(name)?;
        if !self.order.iter().any(|n| n == name) {
            self.order.push(name.to_string());
        }
        Some(id)
    }

    pub(super) fn into_format(self, spec: FormatSpec) -> Format {
        Format {
            spec,
            fields: self.order,
        }
    }
}

/// The metrics of one source, checked one by one.
pub(super) struct Metrics<'a> {
    fields: &'a mut Fields,
    limit: usize,
    warnings: &'a mut Vec<String>,
    /// The source's transform options.
    source: &'a SourceTransforms,
    /// Transforms compiled so far: labels with the same transform and options share one (the
    /// route memo relies on it).
    transforms: Vec<(TransformName, Vec<String>, Transform)>,
    out: Vec<Metric>,
    /// Labels of the metrics being added that are open on purpose (a profile's).
    open: &'static [&'static str],
    /// Open labels found so far: (name, path) → the keys where they are.
    open_found: Vec<(String, String, Vec<String>)>,
}

impl<'a> Metrics<'a> {
    pub(super) fn new(
        fields: &'a mut Fields,
        limit: usize,
        warnings: &'a mut Vec<String>,
        source: &'a SourceTransforms,
    ) -> Self {
        Metrics {
            fields,
            limit,
            warnings,
            source,
            transforms: Vec::new(),
            out: Vec::new(),
            open: &[],
            open_found: Vec::new(),
        }
    }

    /// True when a label of these metrics uses one of `names`.
    pub(super) fn uses(&self, names: &[TransformName]) -> bool {
        self.transforms.iter().any(|(n, ..)| names.contains(n))
    }

    /// Labels left open on purpose by the metrics added next (no warning for them).
    pub(super) fn open_labels(&mut self, open: &'static [&'static str]) {
        self.open = open;
    }

    pub(super) fn has_field(&mut self, name: &str) -> bool {
        self.fields.get(name).is_some()
    }

    /// The checked metrics; the warnings about open labels are added now, one per label
    /// spec however many metrics repeat it.
    pub(super) fn finish(self) -> Vec<Metric> {
        for (name, path, keys) in &self.open_found {
            self.warnings
                .push(bounds::warning(keys, name, path, self.limit));
        }
        self.out
    }

    fn field(&mut self, key: &str, name: &str) -> Result<FieldId, Invalid> {
        self.fields.get(name).ok_or_else(|| {
            invalid(
                key,
                format!(
                    "field {name:?} does not exist in this format (known fields: {})",
                    self.fields.parser.known_fields().join(", ")
                ),
            )
        })
    }

    /// Check metric `m` (at `key`) of source `source` and keep it.
    pub(super) fn add(&mut self, key: &str, m: &RawMetric, source: &str) -> Result<(), Invalid> {
        let at = |k: &str| format!("{key}.{k}");
        if !valid_metric_name(&m.name) {
            return Err(invalid(
                at("name"),
                format!("{:?} is not a valid Prometheus metric name", m.name),
            ));
        }
        if m.name.starts_with("logpulse_") {
            return Err(invalid(
                at("name"),
                "names starting with logpulse_ are reserved for the agent's own metrics",
            ));
        }
        let buckets = match (m.kind, &m.buckets) {
            (MetricType::Histogram, Some(b)) => {
                bucket_bounds(b).map_err(|e| invalid(at("buckets"), e))?
            }
            (MetricType::Histogram, None) => DEFAULT_DURATION_BUCKETS.to_vec(),
            (_, Some(_)) => return Err(invalid(at("buckets"), "only histograms have buckets")),
            (_, None) => Vec::new(),
        };
        if m.action.is_some() && m.kind != MetricType::Gauge {
            return Err(invalid(at("action"), "only gauges have an action"));
        }
        let value = match &m.value {
            Some(v) => Some(self.field(&at("value"), v)?),
            None => None,
        };
        let action = match (m.kind, value) {
            (MetricType::Counter, None) => Action::Inc,
            (MetricType::Counter, Some(v)) => Action::Add(v),
            (MetricType::Gauge, Some(v)) => match m.action.unwrap_or_default() {
                GaugeAction::Set => Action::Set(v),
                GaugeAction::Add => Action::Add(v),
                GaugeAction::Sub => Action::Sub(v),
                GaugeAction::Now => {
                    return Err(invalid(
                        at("value"),
                        "`action: now` sets the gauge to the time; it takes no `value`",
                    ))
                }
            },
            (MetricType::Gauge, None) if m.action == Some(GaugeAction::Now) => Action::SetNow,
            (MetricType::Histogram, Some(v)) => Action::Observe(v),
            (MetricType::Gauge, None) => {
                return Err(invalid(
                    at("value"),
                    "a gauge needs `value: <field>` (or `action: now`)",
                ))
            }
            (MetricType::Histogram, None) => {
                return Err(invalid(
                    at("value"),
                    "a histogram needs `value: <field>` to observe",
                ))
            }
        };
        let scale = m.scale.unwrap_or(1.0);
        if !scale.is_finite() {
            return Err(invalid(at("scale"), "must be a finite number"));
        }
        if m.series_limit == Some(0) {
            return Err(invalid(at("series_limit"), "must be at least 1"));
        }
        let mut conditions = Vec::new();
        for (field, c) in &m.matches {
            self.condition(&at(&format!("match.{field}")), field, c, &mut conditions)?;
        }
        let mut labels = Vec::with_capacity(m.labels.len());
        for (name, spec) in &m.labels {
            labels.push(self.label(&at(&format!("labels.{name}")), name, spec)?);
        }
        self.out.push(Metric {
            key: key.to_string(),
            name: m.name.clone(),
            help: m
                .help
                .clone()
                .unwrap_or_else(|| format!("{} from logpulse source {source:?}", m.name)),
            kind: m.kind,
            conditions,
            labels,
            action,
            scale,
            buckets,
            series_limit: m.series_limit,
        });
        Ok(())
    }

    pub(super) fn condition(
        &mut self,
        key: &str,
        field: &str,
        c: &RawCondition,
        out: &mut Vec<Condition>,
    ) -> Result<(), Invalid> {
        let field = self.field(key, field)?;
        let b = |s: &Scalar| -> Box<[u8]> { s.text().into_bytes().into() };
        let mut push = |test| out.push(Condition { field, test });
        let f = match c {
            RawCondition::Equals(s) => {
                push(Test::Eq(b(s)));
                return Ok(());
            }
            RawCondition::Full(f) => f,
        };
        let before = out.len();
        let mut push = |test| out.push(Condition { field, test });
        if let Some(s) = &f.equals {
            push(Test::Eq(b(s)));
        }
        if let Some(s) = &f.not_equals {
            push(Test::Ne(b(s)));
        }
        if let Some(xs) = &f.one_of {
            push(Test::In(xs.iter().map(b).collect()));
        }
        if let Some(r) = &f.regex {
            push(Test::Re(regex(&format!("{key}.regex"), r)?));
        }
        if let Some(r) = &f.not_regex {
            push(Test::NotRe(regex(&format!("{key}.not_regex"), r)?));
        }
        for (x, t) in [
            (f.gt, Test::Gt as fn(f64) -> Test),
            (f.ge, Test::Ge),
            (f.lt, Test::Lt),
            (f.le, Test::Le),
        ] {
            if let Some(x) = x {
                push(t(x));
            }
        }
        if let Some(x) = f.exists {
            push(Test::Exists(x));
        }
        if out.len() == before {
            return Err(invalid(
                key,
                "empty condition: give equals, not_equals, in, regex, not_regex, gt, ge, lt, le or exists",
            ));
        }
        Ok(())
    }

    /// A label spec that feeds no series (a line view field): checked alike, without the
    /// warning about unbounded values, which only matters for series.
    pub(super) fn field_label(
        &mut self,
        key: &str,
        name: &str,
        spec: &RawLabel,
    ) -> Result<Label, Invalid> {
        let n = self.warnings.len();
        let l = self.label(key, name, spec);
        self.warnings.truncate(n);
        l
    }

    fn label(&mut self, key: &str, name: &str, spec: &RawLabel) -> Result<Label, Invalid> {
        if !valid_label_name(name) {
            return Err(invalid(
                key,
                format!("{name:?} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"),
            ));
        }
        let f: Cow<'_, RawLabelFull> = spec.full();
        let at = |k: &str| format!("{key}.{k}");
        let value = match (&f.field, &f.value, &f.template) {
            (Some(field), None, None) => LabelValue::Field(self.field(key, field)?),
            (None, Some(v), None) => LabelValue::Const(v.clone()),
            (None, None, Some(t)) => LabelValue::Template(self.template(&at("template"), t)?),
            _ => {
                return Err(invalid(
                    key,
                    "give exactly one of `field`, `value` or `template`",
                ))
            }
        };
        // Values from the config are printable, so a label built only from them needs no
        // check per line (see rules::label).
        let printable = |k: String, v: &str| {
            if v.chars().any(char::is_control) {
                Err(invalid(
                    at(&k),
                    "label values cannot hold control characters",
                ))
            } else {
                Ok(())
            }
        };
        if let Some(v) = &f.value {
            printable("value".into(), v)?;
        }
        if let Some(v) = &f.default {
            printable("default".into(), v)?;
        }
        for (i, v) in f.values.iter().flatten().enumerate() {
            printable(format!("values[{i}]"), v)?;
        }
        for (k, v) in f.map.iter().flatten() {
            printable(format!("map.{k}"), v)?;
        }
        if f.replacement.is_some() && f.regex.is_none() {
            return Err(invalid(at("replacement"), "`replacement` needs `regex`"));
        }
        let regex = match &f.regex {
            Some(r) => Some((
                regex(&at("regex"), r)?,
                f.replacement.as_deref().unwrap_or("$1").as_bytes().into(),
            )),
            None => None,
        };
        let transform = match f.transform {
            Some(t) => Some(self.transform(key, t, &f.patterns)?),
            None if !f.patterns.is_empty() => {
                return Err(invalid(
                    at("patterns"),
                    "`patterns` are for `transform: route`",
                ))
            }
            None => None,
        };
        let known = if let Some(v) = &f.value {
            Some(vec![v.clone()])
        } else if let Some(vs) = &f.values {
            Some(vs.clone())
        } else if f.map.is_none() {
            transform.as_ref().and_then(Transform::values)
        } else {
            None
        };
        let label = Label {
            name: name.to_string(),
            value,
            regex,
            transform,
            map: f.map.clone(),
            default: f.default.clone(),
            known,
            bound: None,
        };
        let mut label = label;
        match self.fields.bounds.label(&f, &label, self.limit) {
            bounds::Path::Bounded(n) => label.bound = Some(n as usize),
            bounds::Path::Open(path) if !self.open.contains(&name) => {
                match self
                    .open_found
                    .iter_mut()
                    .find(|(n, p, _)| n == name && *p == path)
                {
                    Some((.., keys)) => keys.push(key.to_string()),
                    None => self
                        .open_found
                        .push((name.to_string(), path, vec![key.to_string()])),
                }
            }
            _ => {}
        }
        Ok(label)
    }

    fn template(&mut self, key: &str, t: &str) -> Result<Vec<TemplatePart>, Invalid> {
        let mut parts = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| invalid(key, "unclosed '{'"))?
                + open;
            if open > 0 {
                parts.push(TemplatePart::Lit(rest.as_bytes()[..open].into()));
            }
            parts.push(TemplatePart::Field(
                self.field(key, &rest[open + 1..close])?,
            ));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Lit(rest.as_bytes().into()));
        }
        Ok(parts)
    }

    fn transform(
        &mut self,
        key: &str,
        name: TransformName,
        patterns: &[String],
    ) -> Result<Transform, Invalid> {
        if let Some((.., t)) = self
            .transforms
            .iter()
            .find(|(n, p, _)| *n == name && p == patterns)
        {
            return Ok(t.clone());
        }
        let t = Transform::new(
            name,
            TransformOptions {
                patterns,
                source: Some(self.source),
            },
        )
        .map_err(|e| invalid(format!("{key}.{}", e.key), e.message))?;
        self.transforms.push((name, patterns.to_vec(), t.clone()));
        Ok(t)
    }
}

fn regex(key: &str, re: &str) -> Result<Regex, Invalid> {
    Regex::new(re).map_err(|e| invalid(key, format!("invalid regex: {e}")))
}
