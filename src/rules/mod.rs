//! Rules: a parsed record → metric updates (filters, labels, values), compiled once per source.
//!
//! Compilation resolves every field name against the source's parser ([`LineParser::field`]),
//! compiles regexes, registers families in the store and declares the series whose label values
//! are all known up front (so they are exported at 0 from start-up). Per line, [`SourceRules::apply`]
//! parses into a reused record, evaluates each metric's conditions, builds the series key in a
//! reused buffer and finds the series through a [`SeriesCache`]: no allocation, no lock.

use std::collections::HashMap;
use std::sync::Arc;

use regex::bytes::{CaptureLocations, Regex};

use crate::config::{
    Condition, Config, GaugeAction, LabelFull, LabelSpec, MetricSpec, MetricType, Profile,
    RawSource, Scalar, Transform, DEFAULT_DURATION_BUCKETS,
};
use crate::parse::{self, FieldId, LineParser, ParseError, Record};
use crate::store::{push_label, Desc, Kind, SeriesCache, Store};

pub mod http;
pub mod transform;

use transform::{DeviceClassifier, DeviceMemo, RoutePattern};

/// A rule compilation error, with the config key path at fault.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct RuleError {
    /// Key path, e.g. `sources[0].metrics[1].labels.route`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn rerr(key: impl Into<String>, message: impl Into<String>) -> RuleError {
    RuleError {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug)]
enum Test {
    Eq(Box<[u8]>),
    Ne(Box<[u8]>),
    In(Vec<Box<[u8]>>),
    Re(Regex),
    NotRe(Regex),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
    Exists(bool),
}

#[derive(Debug)]
struct Cond {
    field: FieldId,
    test: Test,
}

impl Cond {
    #[inline]
    fn holds(&self, v: Option<&[u8]>) -> bool {
        match (&self.test, v) {
            (Test::Exists(want), v) => v.is_some_and(|v| !v.is_empty()) == *want,
            (Test::Ne(x), v) => v != Some(&**x),
            (Test::NotRe(r), v) => !v.is_some_and(|v| r.is_match(v)),
            (_, None) => false,
            (Test::Eq(x), Some(v)) => v == &**x,
            (Test::In(xs), Some(v)) => xs.iter().any(|x| v == &**x),
            (Test::Re(r), Some(v)) => r.is_match(v),
            (Test::Gt(x), Some(v)) => parse::parse_number(v).is_some_and(|n| n > *x),
            (Test::Ge(x), Some(v)) => parse::parse_number(v).is_some_and(|n| n >= *x),
            (Test::Lt(x), Some(v)) => parse::parse_number(v).is_some_and(|n| n < *x),
            (Test::Le(x), Some(v)) => parse::parse_number(v).is_some_and(|n| n <= *x),
        }
    }
}

#[derive(Debug)]
enum Src {
    Const(Box<[u8]>),
    Field(FieldId),
    Template(Vec<Part>),
}

#[derive(Debug)]
enum Part {
    Lit(Box<[u8]>),
    Field(FieldId),
}

#[derive(Debug)]
enum Xform {
    /// Patterns, and the id of that pattern list in the source (equal lists, equal ids).
    Route(Vec<RoutePattern>, usize),
    StatusClass,
    Status,
    Method,
    Device(Arc<DeviceClassifier>, DeviceMemo),
    Lower,
}

type RegexExtract = (Regex, CaptureLocations, Vec<u8>);
type ValueMap = HashMap<Box<[u8]>, Box<[u8]>>;

#[derive(Debug)]
struct LabelRule {
    /// `Some(field)` when the value is the field's bytes as they are (no regex, transform, map
    /// or default): the common case, served before the general path's checks.
    plain: Option<FieldId>,
    src: Src,
    /// Regex, its reused capture slots, and the replacement template.
    regex: Option<RegexExtract>,
    xform: Option<Xform>,
    map: Option<ValueMap>,
    default: Option<Box<[u8]>>,
}

/// Scratch buffers reused for every line.
#[derive(Debug, Default)]
struct Bufs {
    template: Vec<u8>,
    regex: Vec<u8>,
    xform: Vec<u8>,
    utf8: Vec<u8>,
    route: RouteMemo,
}

/// The last route computed: the `http` profile labels three metrics with the route of the same
/// URI, and normalising it is the costliest transform, so the 2nd and 3rd are a copy.
#[derive(Debug, Default)]
struct RouteMemo {
    /// Pattern-list id the memo was made with (`None`: empty memo).
    set: Option<usize>,
    input: Vec<u8>,
    output: Vec<u8>,
}

impl LabelRule {
    /// Append this label's value for the line to `key`.
    #[inline]
    fn push_value(&mut self, line: &[u8], rec: &Record, b: &mut Bufs, key: &mut Vec<u8>) {
        if let Some(id) = self.plain {
            let v = rec.get(line, id).unwrap_or_default();
            if v.is_ascii() {
                push_label(key, v);
                return;
            }
        }
        let Bufs {
            template,
            regex,
            xform,
            utf8,
            route,
        } = b;
        let mut v: &[u8] = match &self.src {
            Src::Const(c) => c,
            Src::Field(id) => rec.get(line, *id).unwrap_or_default(),
            Src::Template(parts) => {
                template.clear();
                for p in parts {
                    match p {
                        Part::Lit(l) => template.extend_from_slice(l),
                        Part::Field(id) => {
                            template.extend_from_slice(rec.get(line, *id).unwrap_or_default())
                        }
                    }
                }
                template
            }
        };
        let mut defaulted = false;
        if v.is_empty() || v == b"-" {
            if let Some(d) = &self.default {
                v = d;
                defaulted = true;
            }
        }
        if !defaulted {
            if let Some((re, locs, rep)) = &mut self.regex {
                if re.captures_read(locs, v).is_some() {
                    regex.clear();
                    expand(rep, v, locs, regex);
                    v = regex;
                } else {
                    v = self.default.as_deref().unwrap_or_default();
                    defaulted = true;
                }
            }
        }
        if !defaulted {
            if let Some(x) = &mut self.xform {
                xform.clear();
                match x {
                    Xform::Route(p, set) => {
                        if route.set == Some(*set) && route.input == v {
                            xform.extend_from_slice(&route.output);
                        } else {
                            transform::route(v, p, xform);
                            route.set = Some(*set);
                            route.input.clear();
                            route.input.extend_from_slice(v);
                            route.output.clear();
                            route.output.extend_from_slice(xform);
                        }
                    }
                    Xform::StatusClass => transform::status_class(v, xform),
                    Xform::Status => transform::status(v, xform),
                    Xform::Method => transform::method(v, xform),
                    Xform::Device(d, memo) => xform.extend_from_slice(memo.classify(d, v)),
                    Xform::Lower => transform::lower(v, xform),
                }
                v = xform;
            }
            if let Some(m) = &self.map {
                match m.get(v) {
                    Some(to) => v = to,
                    None => {
                        if let Some(d) = &self.default {
                            v = d;
                        }
                    }
                }
            }
        }
        // Label values must be UTF-8; invalid bytes become U+FFFD before keying, so two
        // different invalid values that render alike are one series, never a duplicate.
        // Label values are nearly always short ASCII: `is_ascii` is inlined word-at-a-time code,
        // where `from_utf8` is an out-of-line call that cost ~80 instructions per label.
        if !v.is_ascii() && std::str::from_utf8(v).is_err() {
            utf8.clear();
            utf8.extend_from_slice(String::from_utf8_lossy(v).as_bytes());
            v = utf8;
        }
        push_label(key, v);
    }
}

/// Expand `$1`, `${name}`-less replacement templates: `$0`..`$9` only (enough for labels).
fn expand(rep: &[u8], hay: &[u8], locs: &CaptureLocations, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < rep.len() {
        if rep[i] == b'$' && i + 1 < rep.len() && rep[i + 1].is_ascii_digit() {
            let g = (rep[i + 1] - b'0') as usize;
            if let Some((s, e)) = locs.get(g) {
                out.extend_from_slice(&hay[s..e]);
            }
            i += 2;
        } else {
            out.push(rep[i]);
            i += 1;
        }
    }
}

#[derive(Debug)]
enum Action {
    Inc,
    Add(FieldId),
    Set(FieldId),
    Sub(FieldId),
    Observe(FieldId),
}

struct MetricRule {
    name: String,
    conds: Vec<Cond>,
    labels: Vec<LabelRule>,
    action: Action,
    scale: f64,
    buckets: Arc<[f64]>,
    cache: SeriesCache,
}

/// What one line did, for `explain`.
#[derive(Debug)]
pub struct Explanation {
    /// Parsed fields (name, value) or the parse error.
    pub fields: Result<Vec<(String, String)>, ParseError>,
    /// One line per metric: what was updated, or why not.
    pub updates: Vec<String>,
}

/// The compiled rules of one source: parser, record, metrics.
pub struct SourceRules {
    /// Source name.
    pub name: String,
    parser: Box<dyn LineParser>,
    record: Record,
    metrics: Vec<MetricRule>,
    key: Vec<u8>,
    bufs: Bufs,
    now: u64,
    /// Fields shown by `explain` (name, id).
    shown: Vec<(String, FieldId)>,
    /// Cardinality warnings found while compiling (for `check`).
    pub warnings: Vec<String>,
}

/// Fields whose values are unbounded by nature; a label fed from one without a transform,
/// map or regex will hit the series limit.
const UNBOUNDED: &[(&str, &str)] = &[
    ("remote_addr", "client IP"),
    ("http_x_forwarded_for", "client IP list"),
    ("ip", "client IP"),
    ("client", "client IP"),
    ("request", "raw request line"),
    ("request_uri", "raw URI with query"),
    ("uri", "raw URI with query"),
    ("path", "raw URI with query"),
    ("http_user_agent", "user agent"),
    ("user_agent", "user agent"),
    ("http_referer", "referer URL"),
    ("referer", "referer URL"),
    ("time_local", "timestamp"),
    ("time_iso8601", "timestamp"),
    ("time", "timestamp"),
    ("timestamp", "timestamp"),
    ("msec", "timestamp"),
    ("request_id", "request id"),
    ("trace_id", "trace id"),
    ("message", "free text"),
    ("msg", "free text"),
];

struct Compiler<'a> {
    parser: &'a mut dyn LineParser,
    store: &'a Store,
    limit: usize,
    device: Arc<DeviceClassifier>,
    /// Distinct route pattern lists seen, for [`RouteMemo`]: a list's id is its index.
    route_lists: Vec<Vec<String>>,
    warnings: Vec<String>,
}

impl Compiler<'_> {
    fn field(&mut self, key: &str, name: &str) -> Result<FieldId, RuleError> {
        self.parser.field(name).ok_or_else(|| {
            let known = self.parser.known_fields();
            rerr(
                key,
                format!(
                    "field {name:?} does not exist in this format (known fields: {})",
                    known.join(", ")
                ),
            )
        })
    }

    fn regex(&self, key: &str, re: &str) -> Result<Regex, RuleError> {
        Regex::new(re).map_err(|e| rerr(key, format!("invalid regex: {e}")))
    }

    fn cond(&mut self, key: &str, field: &str, c: &Condition) -> Result<Vec<Cond>, RuleError> {
        let id = self.field(key, field)?;
        let b = |s: &Scalar| -> Box<[u8]> { s.text().into_bytes().into() };
        let mut out = Vec::new();
        let mut push = |t| out.push(Cond { field: id, test: t });
        match c {
            Condition::Equals(s) => push(Test::Eq(b(s))),
            Condition::Full(f) => {
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
                    push(Test::Re(self.regex(&format!("{key}.regex"), r)?));
                }
                if let Some(r) = &f.not_regex {
                    push(Test::NotRe(self.regex(&format!("{key}.not_regex"), r)?));
                }
                if let Some(x) = f.gt {
                    push(Test::Gt(x));
                }
                if let Some(x) = f.ge {
                    push(Test::Ge(x));
                }
                if let Some(x) = f.lt {
                    push(Test::Lt(x));
                }
                if let Some(x) = f.le {
                    push(Test::Le(x));
                }
                if let Some(x) = f.exists {
                    push(Test::Exists(x));
                }
                if out.is_empty() {
                    return Err(rerr(key, "empty condition: give equals, not_equals, in, regex, not_regex, gt, ge, lt, le or exists"));
                }
            }
        }
        Ok(out)
    }

    /// Compile a label; also returns the values it can take when they are all known up front.
    fn label(
        &mut self,
        key: &str,
        name: &str,
        spec: &LabelSpec,
    ) -> Result<(LabelRule, Option<Vec<String>>), RuleError> {
        let full;
        let f: &LabelFull = match spec {
            LabelSpec::Field(field) => {
                full = LabelFull {
                    field: Some(field.clone()),
                    ..Default::default()
                };
                &full
            }
            LabelSpec::Full(f) => f,
        };
        let given = [f.field.is_some(), f.value.is_some(), f.template.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if given != 1 {
            return Err(rerr(
                key,
                "give exactly one of `field`, `value` or `template`",
            ));
        }
        let src = if let Some(v) = &f.value {
            Src::Const(v.as_bytes().into())
        } else if let Some(field) = &f.field {
            Src::Field(self.field(key, field)?)
        } else {
            let t = f.template.as_deref().unwrap_or_default();
            let mut parts = Vec::new();
            let mut rest = t;
            while let Some(open) = rest.find('{') {
                let close = rest[open..]
                    .find('}')
                    .ok_or_else(|| rerr(format!("{key}.template"), "unclosed '{'"))?
                    + open;
                if open > 0 {
                    parts.push(Part::Lit(rest.as_bytes()[..open].into()));
                }
                parts.push(Part::Field(
                    self.field(&format!("{key}.template"), &rest[open + 1..close])?,
                ));
                rest = &rest[close + 1..];
            }
            if !rest.is_empty() {
                parts.push(Part::Lit(rest.as_bytes().into()));
            }
            Src::Template(parts)
        };
        if f.replacement.is_some() && f.regex.is_none() {
            return Err(rerr(
                format!("{key}.replacement"),
                "`replacement` needs `regex`",
            ));
        }
        let regex = match &f.regex {
            Some(r) => {
                let re = self.regex(&format!("{key}.regex"), r)?;
                let locs = re.capture_locations();
                Some((
                    re,
                    locs,
                    f.replacement
                        .clone()
                        .unwrap_or_else(|| "$1".into())
                        .into_bytes(),
                ))
            }
            None => None,
        };
        if !f.patterns.is_empty() && f.transform != Some(Transform::Route) {
            return Err(rerr(
                format!("{key}.patterns"),
                "`patterns` are for `transform: route`",
            ));
        }
        let xform = match f.transform {
            None => None,
            Some(Transform::Route) => Some(Xform::Route(
                f.patterns
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        RoutePattern::new(p).map_err(|m| rerr(format!("{key}.patterns[{i}]"), m))
                    })
                    .collect::<Result<_, _>>()?,
                match self.route_lists.iter().position(|l| *l == f.patterns) {
                    Some(id) => id,
                    None => {
                        self.route_lists.push(f.patterns.clone());
                        self.route_lists.len() - 1
                    }
                },
            )),
            Some(Transform::StatusClass) => Some(Xform::StatusClass),
            Some(Transform::Status) => Some(Xform::Status),
            Some(Transform::Method) => Some(Xform::Method),
            Some(Transform::Device) => {
                Some(Xform::Device(self.device.clone(), DeviceMemo::default()))
            }
            Some(Transform::Lower) => Some(Xform::Lower),
        };
        if let (Some(field), None, None, None) = (&f.field, &f.regex, &f.transform, &f.map) {
            if let Some((_, what)) = UNBOUNDED.iter().find(|(n, _)| n == field) {
                self.warnings.push(format!(
                    "{key}: label {name:?} is fed from field {field:?} ({what}), unbounded by nature; \
                     add a transform, regex or map, or expect the series limit ({}) to overflow",
                    self.limit
                ));
            }
        }
        let known = if let Some(v) = &f.value {
            Some(vec![v.clone()])
        } else if let Some(vs) = &f.values {
            Some(vs.clone())
        } else if f.transform == Some(Transform::Device) && f.map.is_none() {
            Some(
                ["mobile_app", "mobile_web", "desktop", "bot", "other"]
                    .map(String::from)
                    .to_vec(),
            )
        } else {
            None
        };
        let plain = match (&src, &regex, &xform, &f.map, &f.default) {
            (Src::Field(id), None, None, None, None) => Some(*id),
            _ => None,
        };
        let rule = LabelRule {
            plain,
            src,
            regex,
            xform,
            map: f.map.as_ref().map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.as_bytes().to_vec().into_boxed_slice(),
                            v.as_bytes().into(),
                        )
                    })
                    .collect()
            }),
            default: f.default.as_ref().map(|d| d.as_bytes().into()),
        };
        Ok((rule, known))
    }

    fn metric(&mut self, key: &str, m: &MetricSpec, source: &str) -> Result<MetricRule, RuleError> {
        let mut conds = Vec::new();
        for (field, c) in &m.matches {
            conds.extend(self.cond(&format!("{key}.match.{field}"), field, c)?);
        }
        let mut labels = Vec::new();
        let mut names = Vec::new();
        let mut known_all: Option<Vec<Vec<String>>> = Some(Vec::new());
        for (name, spec) in &m.labels {
            let (rule, known) = self.label(&format!("{key}.labels.{name}"), name, spec)?;
            labels.push(rule);
            names.push(name.clone());
            known_all = match (known_all, known) {
                (Some(mut all), Some(k)) => {
                    all.push(k);
                    Some(all)
                }
                _ => None,
            };
        }
        let value = match &m.value {
            Some(v) => Some(self.field(&format!("{key}.value"), v)?),
            None => None,
        };
        let action = match (m.kind, value) {
            (MetricType::Counter, None) => Action::Inc,
            (MetricType::Counter, Some(v)) => Action::Add(v),
            (MetricType::Gauge, Some(v)) => match m.action.unwrap_or_default() {
                GaugeAction::Set => Action::Set(v),
                GaugeAction::Add => Action::Add(v),
                GaugeAction::Sub => Action::Sub(v),
            },
            (MetricType::Histogram, Some(v)) => Action::Observe(v),
            (_, None) => {
                return Err(rerr(
                    format!("{key}.value"),
                    "this metric type needs `value: <field>`",
                ))
            }
        };
        let buckets: Vec<f64> = match (m.kind, &m.buckets) {
            (MetricType::Histogram, Some(b)) => {
                b.bounds().map_err(|e| rerr(format!("{key}.buckets"), e))?
            }
            (MetricType::Histogram, None) => DEFAULT_DURATION_BUCKETS.to_vec(),
            _ => Vec::new(),
        };
        let kind = match m.kind {
            MetricType::Counter => Kind::Counter,
            MetricType::Gauge => Kind::Gauge,
            MetricType::Histogram => Kind::Histogram,
        };
        let help = m
            .help
            .clone()
            .unwrap_or_else(|| format!("{} from logpulse source {source:?}", m.name));
        let desc = Desc {
            name: m.name.clone(),
            help,
            kind,
            labels: names,
            buckets: buckets.clone(),
        };
        let family = self
            .store
            .register(desc, self.limit)
            .map_err(|e| rerr(format!("{key}.name"), e.to_string()))?;
        // Declare the cross product of known label values (capped, to stay a convenience).
        if let Some(all) = known_all {
            let n: usize = all.iter().map(Vec::len).product();
            if n <= 1000 {
                let mut idx = vec![0usize; all.len()];
                for _ in 0..n {
                    let mut k = Vec::new();
                    for (i, vals) in all.iter().enumerate() {
                        push_label(&mut k, vals[idx[i]].as_bytes());
                    }
                    family.declare(&k);
                    for i in (0..idx.len()).rev() {
                        idx[i] += 1;
                        if idx[i] < all[i].len() {
                            break;
                        }
                        idx[i] = 0;
                    }
                }
            }
        }
        Ok(MetricRule {
            name: m.name.clone(),
            conds,
            labels,
            action,
            scale: m.scale.unwrap_or(1.0),
            buckets: buckets.into(),
            cache: SeriesCache::new(family),
        })
    }
}

/// Build the source's parser (from `format`), with a config key path on error.
pub fn build_parser(src: &RawSource, key: &str) -> Result<Box<dyn LineParser>, RuleError> {
    parse::build(&src.format).map_err(|e| rerr(format!("{key}.format"), e.to_string()))
}

impl SourceRules {
    /// Compile source `index` of `cfg`, registering its families in `store`.
    pub fn compile(cfg: &Config, index: usize, store: &Store) -> Result<SourceRules, RuleError> {
        let src = &cfg.sources[index];
        let key = format!("sources[{index}]");
        let mut parser = build_parser(src, &key)?;
        let mut c = Compiler {
            parser: &mut *parser,
            store,
            limit: cfg.global.series_limit,
            device: Arc::new(DeviceClassifier::default()),
            route_lists: Vec::new(),
            warnings: Vec::new(),
        };
        let mut metrics = Vec::new();
        if src.profile == Some(Profile::Http) {
            let buckets = match &src.buckets {
                Some(b) => Some(b.bounds().map_err(|e| rerr(format!("{key}.buckets"), e))?),
                None => None,
            };
            for (m, why) in http::metrics(src, buckets, c.parser) {
                let at = format!("{key}.profile(http).{}", m.name);
                let rule = c
                    .metric(&at, &m, &src.name)
                    .map_err(|e| rerr(e.key, format!("{} ({why})", e.message)))?;
                metrics.push(rule);
            }
        }
        for (j, m) in src.metrics.iter().enumerate() {
            metrics.push(c.metric(&format!("{key}.metrics[{j}]"), m, &src.name)?);
        }
        let warnings = std::mem::take(&mut c.warnings);
        let mut shown = Vec::new();
        for name in parser.known_fields() {
            if let Some(id) = parser.field(&name) {
                shown.push((name, id));
            }
        }
        let record = Record::with_fields(parser.field_count());
        Ok(SourceRules {
            name: src.name.clone(),
            parser,
            record,
            metrics,
            key: Vec::with_capacity(256),
            bufs: Bufs::default(),
            now: crate::store::now_secs(),
            shown,
            warnings,
        })
    }

    /// Set the clock used to mark series as updated (once per batch, not per line).
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// Parse one line (no `\n`; a trailing `\r` is dropped here) and apply its metric updates.
    /// Returns how many metrics were updated.
    #[inline]
    pub fn apply(&mut self, line: &[u8]) -> Result<usize, ParseError> {
        self.run(line, None)
    }

    /// Like [`SourceRules::apply`], describing what happened.
    pub fn explain(&mut self, line: &[u8]) -> Explanation {
        let mut updates = Vec::new();
        let res = self.run(line, Some(&mut updates));
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let fields = res.map(|_| {
            self.shown
                .iter()
                .filter_map(|(n, id)| {
                    self.record
                        .get(line, *id)
                        .map(|v| (n.clone(), String::from_utf8_lossy(v).into_owned()))
                })
                .collect()
        });
        Explanation { fields, updates }
    }

    fn run(&mut self, line: &[u8], mut why: Option<&mut Vec<String>>) -> Result<usize, ParseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.record.clear();
        self.parser.parse(line, &mut self.record)?;
        let rec = &self.record;
        let mut n = 0;
        'metric: for m in &mut self.metrics {
            for c in &m.conds {
                if !c.holds(rec.get(line, c.field)) {
                    if let Some(w) = why.as_deref_mut() {
                        w.push(format!(
                            "{}: skipped (a `match` condition does not hold)",
                            m.name
                        ));
                    }
                    continue 'metric;
                }
            }
            let value = match m.action {
                Action::Inc => 1.0,
                Action::Add(f) | Action::Set(f) | Action::Sub(f) | Action::Observe(f) => {
                    match rec.get(line, f).and_then(parse::parse_number) {
                        Some(v) if v.is_finite() => v * m.scale,
                        _ => {
                            if let Some(w) = why.as_deref_mut() {
                                w.push(format!(
                                    "{}: skipped (value field missing or not a number)",
                                    m.name
                                ));
                            }
                            continue 'metric;
                        }
                    }
                }
            };
            if matches!(m.action, Action::Add(_))
                && m.cache.family().desc().kind == Kind::Counter
                && value < 0.0
            {
                if let Some(w) = why.as_deref_mut() {
                    w.push(format!(
                        "{}: skipped (negative value for a counter)",
                        m.name
                    ));
                }
                continue;
            }
            self.key.clear();
            for l in &mut m.labels {
                l.push_value(line, rec, &mut self.bufs, &mut self.key);
            }
            let s = m.cache.get(&self.key);
            match m.action {
                Action::Inc | Action::Add(_) => s.add(value),
                Action::Set(_) => s.set(value),
                Action::Sub(_) => s.add(-value),
                Action::Observe(_) => s.observe(&m.buckets, value),
            }
            s.touch(self.now);
            n += 1;
            if let Some(w) = why.as_deref_mut() {
                let desc = m.cache.family().desc();
                let labels: Vec<String> = desc
                    .labels
                    .iter()
                    .zip(crate::store::key_values(&self.key))
                    .map(|(k, v)| format!("{k}={:?}", String::from_utf8_lossy(v)))
                    .collect();
                let verb = match m.action {
                    Action::Inc => "+= 1".to_string(),
                    Action::Add(_) => format!("+= {value}"),
                    Action::Set(_) => format!("= {value}"),
                    Action::Sub(_) => format!("-= {value}"),
                    Action::Observe(_) => format!("observe {value}"),
                };
                w.push(format!("{}{{{}}} {verb}", m.name, labels.join(",")));
            }
        }
        Ok(n)
    }
}

/// Compile every source against a scratch store: what `check` runs. Returns the warnings.
pub fn check(cfg: &Config) -> Result<Vec<String>, RuleError> {
    let store = Store::new();
    let mut warnings = Vec::new();
    for i in 0..cfg.sources.len() {
        let r = SourceRules::compile(cfg, i, &store)?;
        warnings.extend(r.warnings);
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_memo_is_kept_per_pattern_list() {
        // Three route labels on the same URI: two pattern lists that disagree, and a repeat of
        // the first. Each must get its own list's route, line after line.
        let yaml = r#"
sources:
  - name: s
    paths: [/dev/null]
    format: combined
    metrics:
      - {name: a_total, type: counter, labels: {r: {field: uri, transform: route, patterns: ["/u/:user"]}}}
      - {name: b_total, type: counter, labels: {r: {field: uri, transform: route}}}
      - {name: c_total, type: counter, labels: {r: {field: uri, transform: route, patterns: ["/u/:user"]}}}
"#;
        let cfg = Config::from_yaml(yaml, "t.yml").expect("config");
        let store = Store::new();
        let mut rules = SourceRules::compile(&cfg, 0, &store).expect("rules");
        for uri in ["/u/alice", "/u/alice", "/u/42", "/u/bob"] {
            let line = format!(
                r#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET {uri} HTTP/1.1" 200 5 "-" "x""#
            );
            assert_eq!(rules.apply(line.as_bytes()), Ok(3));
        }
        let mut out = String::new();
        store.render(&mut out);
        assert!(out.contains("a_total{r=\"/u/:user\"} 4\n"), "{out}");
        assert!(out.contains("c_total{r=\"/u/:user\"} 4\n"), "{out}");
        assert!(out.contains("b_total{r=\"/u/alice\"} 2\n"), "{out}");
        assert!(out.contains("b_total{r=\"/u/:id\"} 1\n"), "{out}");
        assert!(out.contains("b_total{r=\"/u/bob\"} 1\n"), "{out}");
    }
}
