//! OpenMetrics 1.0 text (what Prometheus asks for first): `# EOF` at the end, counters as a
//! family without `_total` whose samples carry it, and exemplars on counters and histogram
//! buckets. No `_created` samples (optional in OpenMetrics, and ignored by Prometheus before
//! 2.50): a new series is shown at 0 first instead ([`crate::store::hold`]), which every
//! Prometheus understands.
//!
//! A counter whose name does not end in `_total` is written as `unknown`, so its samples keep
//! the name they have in the text format: dashboards see the same series whatever the format.
//! [`Options::timestamp_ms`] puts one timestamp on every sample (backfill writes the values at
//! each step this way).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::text::{cumulative, labels, les};
use super::{escape, View};
use crate::store::{Desc, Exemplar, Family, Kind, Series, Value};

/// Content type of OpenMetrics 1.0.0.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What to write besides the values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// A timestamp (unix milliseconds) on every sample.
    pub timestamp_ms: Option<u64>,
    /// Write exemplars.
    pub exemplars: bool,
    /// Which values to show (a series shown at 0 has no exemplar).
    pub view: View,
}

/// The end of an exposition.
pub fn eof(out: &mut String) {
    out.push_str("# EOF\n");
}

/// Write unix milliseconds as OpenMetrics seconds.
fn timestamp(out: &mut String, ms: u64) {
    let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
}

/// HELP text: `\`, newline and `"` escaped.
fn help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn exemplar(out: &mut String, e: Exemplar<'_>) {
    out.push_str(" # {");
    out.push_str(e.name);
    out.push_str("=\"");
    escape::label_value(out, e.label.as_bytes());
    out.push_str("\"} ");
    escape::value(out, e.value);
    out.push(' ');
    timestamp(out, e.ts_ms);
}

/// One sample line. `slot`: the exemplar slot to show, if any.
#[allow(clippy::too_many_arguments)]
fn sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    ls: &str,
    le: Option<&str>,
    value: impl FnOnce(&mut String),
    s: &Series,
    slot: Option<usize>,
    o: Options,
) {
    super::text::sample_head(out, name, suffix, ls, le);
    value(out);
    if let Some(ts) = o.timestamp_ms {
        out.push(' ');
        timestamp(out, ts);
    }
    if let (true, Some(i)) = (o.exemplars, slot) {
        s.with_exemplar(i, |e| exemplar(out, e));
    }
    out.push('\n');
}

/// Append a family's `# TYPE` and `# HELP` (the live encoder and backfill's writer share it).
/// A counter's family is its name without `_total` (its samples keep `_total`); a counter
/// whose name does not end in `_total` is `unknown`, so its samples keep their name. Returns
/// whether the family is a `counter`.
pub fn header(out: &mut String, d: &Desc) -> bool {
    let (fam_name, typ) = match d.kind {
        Kind::Counter => match d.name.strip_suffix("_total") {
            Some(base) if !base.is_empty() => (base, "counter"),
            _ => (d.name.as_str(), "unknown"),
        },
        Kind::Gauge => (d.name.as_str(), "gauge"),
        Kind::Histogram => (d.name.as_str(), "histogram"),
    };
    let _ = writeln!(out, "# TYPE {fam_name} {typ}");
    out.push_str("# HELP ");
    out.push_str(fam_name);
    out.push(' ');
    help(out, &d.help);
    out.push('\n');
    typ == "counter"
}

/// Render one family: TYPE, HELP, samples.
pub fn family(out: &mut String, f: &Family, o: Options) {
    let d = f.desc();
    let counter = header(out, d);
    let les = les(f);
    // Negative thresholds make `_sum` no counter: OpenMetrics then allows neither it nor `_count`.
    let negative_buckets = d.buckets.iter().any(|b| *b < 0.0);
    let mut cum = Vec::with_capacity(les.len());
    let mut ls = String::new();
    f.for_each(|s| {
        labels(&mut ls, f, s);
        let shown = o.view.shows(f, s);
        let o = Options {
            exemplars: o.exemplars && shown,
            ..o
        };
        match s.value() {
            Value::Scalar(v) => {
                let x = if shown { v.get() } else { 0.0 };
                let slot = counter.then_some(0);
                sample(
                    out,
                    &d.name,
                    "",
                    &ls,
                    None,
                    |o| escape::value(o, x),
                    s,
                    slot,
                    o,
                );
            }
            Value::Histogram {
                buckets,
                sum,
                count,
            } => {
                let total = if shown {
                    count.load(Ordering::Relaxed)
                } else {
                    0
                };
                cumulative(buckets, total, &mut cum);
                for (i, (le, c)) in les.iter().zip(cum.iter()).enumerate() {
                    let w = |o: &mut String| {
                        let _ = write!(o, "{c}");
                    };
                    sample(out, &d.name, "_bucket", &ls, Some(le), w, s, Some(i), o);
                }
                let sum = if shown { sum.get() } else { 0.0 };
                if !negative_buckets && sum >= 0.0 {
                    sample(
                        out,
                        &d.name,
                        "_sum",
                        &ls,
                        None,
                        |o| escape::value(o, sum),
                        s,
                        None,
                        o,
                    );
                    let w = |o: &mut String| {
                        let _ = write!(o, "{total}");
                    };
                    sample(out, &d.name, "_count", &ls, None, w, s, None, o);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests;
