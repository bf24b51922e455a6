//! Rules: a parsed record → metric updates (filters, labels, values), compiled once per source
//! from the validated config.
//!
//! Everything that can be wrong in a config was found by [`crate::config::validate`]: compiling
//! builds the parser, registers the families in the store, declares the series whose label
//! values are all known up front (exported at 0 from start-up) and readies the per-line
//! structures. Per line, [`SourceRules::apply`] parses into a reused record, evaluates each
//! metric's conditions, builds the series key in a reused buffer and finds the series through a
//! [`SeriesCache`]: no allocation, no lock.

use std::sync::Arc;

use crate::config::{Action, Condition, Config, LineView, Metric, MetricType, Test};
use crate::parse::{self, FieldId, LineParser, ParseError, Record};
use crate::store::lines::SourceLines;
use crate::store::Label as StoreLabel;
use crate::store::{push_label, Desc, Family, Kind, Series, SeriesCache, Store};

pub mod exemplar;
mod explain;
mod label;
mod lines;
pub mod transform;

pub use exemplar::LineRef;
pub use explain::{escape_control, Explanation};
use label::{Bufs, LabelUse, SharedLabels};

/// Most series declared up front per metric (the cross product of known label values): a
/// convenience, so it stays small.
const MAX_DECLARED: usize = 1000;

/// What can still go wrong when compiling a validated config: the store refusing a family
/// (another definition of the same name registered first), with the config key path.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct RuleError {
    /// Key path, e.g. `sources[0].metrics[1].name`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// One metric update made by a line, as [`SourceRules::apply_parsed`] reports it.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    /// The family updated.
    pub family: &'a Arc<Family>,
    /// The series updated (its value already includes the change).
    pub series: &'a Series,
    /// What changed.
    pub change: Change,
}

/// The change an update made to a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Added this (negative for `sub`).
    Add(f64),
    /// Set to this.
    Set(f64),
    /// Observed this (histograms).
    Observe(f64),
}

struct MetricRule {
    name: String,
    conds: Vec<Condition>,
    labels: Vec<LabelUse>,
    action: Action,
    scale: f64,
    buckets: Arc<[f64]>,
    cache: SeriesCache,
}

#[inline]
fn holds(c: &Condition, v: Option<&[u8]>) -> bool {
    match (&c.test, v) {
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

/// The compiled rules of one source: parser, record, metrics.
pub struct SourceRules {
    /// Source name.
    pub name: String,
    parser: Box<dyn LineParser>,
    record: Record,
    metrics: Vec<MetricRule>,
    key: Vec<u8>,
    /// Label computations, shared by the metrics.
    labels: SharedLabels,
    bufs: Bufs,
    now: u64,
    now_ms: u64,
    exemplars: exemplar::Exemplars,
    /// Fields shown by `explain` (name, id).
    shown: Vec<(String, FieldId)>,
    /// The line view's keep rules, once [`SourceRules::keep_lines`] gave them a store.
    lines: Option<lines::LineKeeper>,
}

fn metric(
    m: &Metric,
    store: &Store,
    limit: usize,
    shared: &mut SharedLabels,
) -> Result<MetricRule, RuleError> {
    let desc = Desc {
        name: m.name.clone(),
        help: m.help.clone(),
        kind: match m.kind {
            MetricType::Counter => Kind::Counter,
            MetricType::Gauge => Kind::Gauge,
            MetricType::Histogram => Kind::Histogram,
        },
        labels: m
            .labels
            .iter()
            .map(|l| StoreLabel {
                name: l.name.clone(),
                bounded: l.bounded(),
            })
            .collect(),
        buckets: m.buckets.clone(),
    };
    let family = store
        .register(desc, m.series_limit.unwrap_or(limit))
        .map_err(|e| RuleError {
            key: format!("{}.name", m.key),
            message: e.to_string(),
        })?;
    let known: Option<Vec<&[String]>> = m.labels.iter().map(|l| l.known.as_deref()).collect();
    if let Some(all) = known {
        let n = all
            .iter()
            .try_fold(1usize, |n, vals| n.checked_mul(vals.len()))
            .filter(|n| *n <= MAX_DECLARED);
        let mut idx = vec![0usize; all.len()];
        for _ in 0..n.unwrap_or(0) {
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
    Ok(MetricRule {
        name: m.name.clone(),
        conds: m.conditions.clone(),
        labels: m.labels.iter().map(|l| shared.add(l)).collect(),
        action: m.action,
        scale: m.scale,
        buckets: m.buckets.clone().into(),
        cache: SeriesCache::new(family),
    })
}

impl SourceRules {
    /// Compile source `index` of `cfg`, registering its families in `store`.
    pub fn compile(cfg: &Config, index: usize, store: &Store) -> Result<SourceRules, RuleError> {
        let key = format!("sources[{index}]");
        let src = cfg.sources.get(index).ok_or_else(|| RuleError {
            key: key.clone(),
            message: format!("the config has {} sources", cfg.sources.len()),
        })?;
        let mut parser = src.format.parser().map_err(|e| RuleError {
            key: format!("{key}.format"),
            message: e.to_string(),
        })?;
        let mut labels = SharedLabels::default();
        let metrics = src
            .metrics
            .iter()
            .map(|m| metric(m, store, cfg.global.series_limit, &mut labels))
            .collect::<Result<_, _>>()?;
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
            labels,
            bufs: Bufs::default(),
            now: crate::store::now_secs(),
            now_ms: crate::store::now_ms(),
            exemplars: exemplar::Exemplars::new(&src.name, src.exemplar.as_ref()),
            shown,
            lines: None,
        })
    }

    /// Keep the lines `view` selects (the source's `lines:`) through `sink`. Without this
    /// (replay, explain, backfill) no line is kept and deciding costs nothing.
    pub fn keep_lines(&mut self, view: &LineView, sink: SourceLines) {
        self.lines = Some(lines::LineKeeper::new(view, sink));
    }

    /// The file the next lines come from (the line view shows it; call once per batch).
    #[inline]
    pub fn set_file(&mut self, path: &std::path::Path) {
        if let Some(k) = &mut self.lines {
            k.set_file(path);
        }
    }

    /// Set the clock used to mark series as updated (once per batch, not per line).
    pub fn set_now(&mut self, now: u64) {
        self.set_clock_ms(now * 1000);
    }

    /// Set the clock, in unix milliseconds (exemplars carry it).
    pub fn set_clock_ms(&mut self, now_ms: u64) {
        self.now = now_ms / 1000;
        self.now_ms = now_ms;
    }

    /// Keep no exemplars (for modes that write none).
    pub fn disable_exemplars(&mut self) {
        self.exemplars.disable();
    }

    /// The reference of the last record applied (or being applied): what an exemplar of one
    /// of its updates points at when no `exemplar_field` value labels it.
    pub fn line_ref(&self) -> LineRef {
        self.exemplars.line_ref()
    }

    /// Parse one line (no `\n`; a trailing `\r` is dropped here) and apply its metric updates.
    /// Returns how many metrics were updated.
    #[inline]
    pub fn apply(&mut self, line: &[u8]) -> Result<usize, ParseError> {
        self.run(line, None)
    }

    /// Resolve a field of this source's format that the metrics may not use (the time field
    /// `backfill` reads), for [`SourceRules::value`]. `None`: the format never has it.
    pub fn field(&mut self, name: &str) -> Option<FieldId> {
        let id = self.parser.field(parse::canonical_field_name(name))?;
        self.record.ensure_fields(self.parser.field_count());
        Some(id)
    }

    /// Parse `line` without applying it: [`SourceRules::value`] then reads its fields and
    /// [`SourceRules::apply_parsed`] applies it (one parse for both).
    #[inline]
    pub fn parse(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.exemplars.next_record();
        self.record.clear();
        self.parser.parse(line, &mut self.record)
    }

    /// A field of the line last given to [`SourceRules::parse`] (pass the same line).
    #[inline]
    pub fn value<'a>(&'a self, line: &'a [u8], id: FieldId) -> Option<&'a [u8]> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.record.get(line, id)
    }

    /// Apply the line last given to [`SourceRules::parse`] (pass the same line); `on_update`
    /// sees each update made. Returns how many metrics were updated.
    #[inline]
    pub fn apply_parsed(
        &mut self,
        line: &[u8],
        on_update: Option<&mut dyn FnMut(Update<'_>)>,
    ) -> usize {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.updates(line, None, on_update)
    }

    fn run(&mut self, line: &[u8], why: Option<&mut Vec<String>>) -> Result<usize, ParseError> {
        let parsed = self.parse(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(k) = &mut self.lines {
            if k.wants(parsed.is_ok(), line, &self.record) {
                let id = self.exemplars.run_seq();
                k.keep(
                    line,
                    &self.record,
                    parsed.is_ok(),
                    id,
                    self.now_ms,
                    &mut self.bufs,
                );
            }
        }
        parsed?;
        Ok(self.updates(line, why, None))
    }

    fn updates(
        &mut self,
        line: &[u8],
        mut why: Option<&mut Vec<String>>,
        mut on_update: Option<&mut dyn FnMut(Update<'_>)>,
    ) -> usize {
        let rec = &self.record;
        self.labels.next_line();
        let mut n = 0;
        'metric: for m in &mut self.metrics {
            for c in &m.conds {
                if !holds(c, rec.get(line, c.field)) {
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
                Action::SetNow => self.now_ms as f64 / 1000.0,
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
            let mut missing = None;
            for l in &m.labels {
                if !self
                    .labels
                    .push(l, line, rec, &mut self.bufs, &mut self.key)
                {
                    missing = Some(&l.name);
                    break;
                }
            }
            if let Some(l) = missing {
                if let Some(w) = why.as_deref_mut() {
                    w.push(format!(
                        "{}: skipped (label {l} has no value for this line)",
                        m.name
                    ));
                }
                continue;
            }
            // Reporting updates (backfill's late lines) needs the family past the cache borrow.
            let family = on_update.is_some().then(|| m.cache.family().clone());
            let s = m.cache.get(&self.key);
            // Exemplar slot: a counter's only one, the bucket of an observation.
            let slot = match m.action {
                Action::Inc | Action::Add(_) => {
                    s.add(value);
                    Some(0)
                }
                Action::Set(_) | Action::SetNow => {
                    s.set(value);
                    None
                }
                Action::Sub(_) => {
                    s.add(-value);
                    None
                }
                Action::Observe(_) => Some(s.observe(&m.buckets, value)),
            };
            s.touch(self.now);
            if let Some(i) = slot {
                self.exemplars
                    .offer(s, i, self.now, self.now_ms, line, rec, value);
            }
            n += 1;
            if let (Some(f), Some(family)) = (on_update.as_deref_mut(), &family) {
                let change = match m.action {
                    Action::Inc | Action::Add(_) => Change::Add(value),
                    Action::Sub(_) => Change::Add(-value),
                    Action::Set(_) | Action::SetNow => Change::Set(value),
                    Action::Observe(_) => Change::Observe(value),
                };
                f(Update {
                    family,
                    series: s,
                    change,
                });
            }
            if let Some(w) = why.as_deref_mut() {
                w.push(explain::update(m, &self.key, value));
            }
        }
        n
    }
}

#[cfg(test)]
mod profile_tests;
#[cfg(test)]
mod tests;
