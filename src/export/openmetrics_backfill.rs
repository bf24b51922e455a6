//! OpenMetrics text with a timestamp on every sample, for `backfill`: recorded values of a
//! family's series at many instants, written series after series, each series' points in time
//! order, ending with [`EOF`]. `promtool tsdb create-blocks-from openmetrics` reads it.
//!
//! Names follow the OpenMetrics conventions: a counter's family is its name without `_total`
//! (its samples keep `_total`); a counter whose name does not end in `_total` is written as
//! `unknown`, so its samples keep the name they have in the text format. Either way the series
//! Prometheus stores are the ones a scrape of `run` gives, so the same dashboards work.

use std::fmt::Write as _;

use super::escape;
use crate::store::{Desc, Family, Kind, Series};

/// Append `# TYPE` and `# HELP` of a family.
pub fn header(out: &mut String, d: &Desc) {
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
    // OpenMetrics escapes `"` in HELP too (label-value rules).
    escape::label_value(out, d.help.as_bytes());
    out.push('\n');
}

/// The label text of a series, without braces: its own labels, then `extra` (already
/// rendered, e.g. `job="logpulse",instance="web1"`), leaving out extra labels the family
/// has itself.
pub fn labels(out: &mut String, f: &Family, s: &Series, extra: &[(String, String)]) {
    out.clear();
    let d = f.desc();
    for (l, v) in d.labels.iter().zip(s.label_values()) {
        push_label(out, &l.name, v);
    }
    for (name, v) in extra {
        if !d.labels.iter().any(|l| &l.name == name) {
            push_label(out, name, v.as_bytes());
        }
    }
}

fn push_label(out: &mut String, name: &str, v: &[u8]) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    escape::label_value(out, v);
    out.push('"');
}

/// Number of values recorded per instant for a family: 1, or for a histogram its cumulative
/// buckets (`+Inf` last), then `_sum`, then `_count`.
pub fn width(d: &Desc) -> usize {
    match d.kind {
        Kind::Counter | Kind::Gauge => 1,
        Kind::Histogram => d.buckets.len() + 3,
    }
}

/// Record the current values of `s` (as [`width`] describes) at the end of `out`.
pub fn record(s: &Series, out: &mut Vec<f64>) {
    use std::sync::atomic::Ordering;
    match s.value() {
        crate::store::Value::Scalar(v) => out.push(v.get()),
        crate::store::Value::Histogram {
            buckets,
            sum,
            count,
        } => {
            // Count first, buckets clamped to it: a bucket never exceeds `_count`.
            let total = count.load(Ordering::Relaxed);
            let mut cum = 0u64;
            for b in buckets.iter() {
                cum += b.get();
                out.push(cum.min(total) as f64);
            }
            if let Some(last) = out.last_mut() {
                *last = total as f64;
            }
            out.push(sum.get());
            out.push(total as f64);
        }
    }
}

/// Writes the recorded points of series, one family at a time.
pub struct PointWriter<'a> {
    d: &'a Desc,
    les: Vec<String>,
    /// `_sum` and `_count` are left out when buckets are negative (OpenMetrics allows them only
    /// for histograms whose observations cannot be negative).
    negative: bool,
}

impl<'a> PointWriter<'a> {
    /// A writer for the series of family `d`.
    pub fn new(d: &'a Desc) -> Self {
        let mut les: Vec<String> = d
            .buckets
            .iter()
            .map(|b| {
                let mut s = String::new();
                escape::value(&mut s, *b);
                s
            })
            .collect();
        les.push("+Inf".into());
        PointWriter {
            d,
            les,
            negative: d.buckets.iter().any(|b| *b < 0.0),
        }
    }

    /// Append the points of one series: `labels` from [`labels`], `times` (rendered by
    /// [`timestamp`], each once for all series) and `values` ([`width`] values per time).
    pub fn series(&self, out: &mut String, labels: &str, times: &[String], values: &[f64]) {
        let name = &self.d.name;
        let w = width(self.d);
        // Sample heads (`name_bucket{labels,le="…"} `) rendered once per series.
        let mut heads = String::new();
        let mut ends = Vec::with_capacity(w);
        match self.d.kind {
            Kind::Counter | Kind::Gauge => {
                super::text::sample_head(&mut heads, name, "", labels, None);
                ends.push(heads.len());
            }
            Kind::Histogram => {
                for le in &self.les {
                    super::text::sample_head(&mut heads, name, "_bucket", labels, Some(le));
                    ends.push(heads.len());
                }
                for suffix in ["_sum", "_count"] {
                    super::text::sample_head(&mut heads, name, suffix, labels, None);
                    ends.push(heads.len());
                }
            }
        }
        for (t, v) in times.iter().zip(values.chunks_exact(w)) {
            // `_sum` and `_count` are left out with negative buckets or a negative sum.
            let n = if self.d.kind == Kind::Histogram && (self.negative || v[w - 2] < 0.0) {
                w - 2
            } else {
                w
            };
            let mut start = 0;
            for (end, x) in ends.iter().zip(v).take(n) {
                out.push_str(&heads[start..*end]);
                escape::value(out, *x);
                out.push(' ');
                out.push_str(t);
                out.push('\n');
                start = *end;
            }
        }
    }
}

/// Unix milliseconds as OpenMetrics seconds (`1795741200` or `1795741200.5`).
pub fn timestamp(out: &mut String, ms: i64) {
    let (s, r) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    if r == 0 {
        let _ = write!(out, "{s}");
    } else {
        let _ = write!(out, "{s}.{r:03}");
    }
}

/// The end of an exposition.
pub const EOF: &str = "# EOF\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{push_label as key_label, Label, Store};

    #[test]
    fn histogram_points_with_timestamps() {
        let store = Store::new();
        let f = store
            .register(
                Desc {
                    name: "d_seconds".into(),
                    help: "say \"hi\"".into(),
                    kind: Kind::Histogram,
                    labels: vec![Label::bounded("m")],
                    buckets: vec![0.1, 1.0],
                },
                10,
            )
            .unwrap();
        let mut k = Vec::new();
        key_label(&mut k, b"GET");
        let s = f.declare(&k);
        let mut vals = Vec::new();
        record(&s, &mut vals);
        for x in [0.05, 0.5, 3.0] {
            s.observe(&f.desc().buckets, x);
        }
        record(&s, &mut vals);
        let mut ls = String::new();
        labels(&mut ls, &f, &s, &[("job".into(), "lp".into())]);
        let mut out = String::new();
        header(&mut out, f.desc());
        let times = [1000, 16_500].map(|ms| {
            let mut t = String::new();
            timestamp(&mut t, ms);
            t
        });
        PointWriter::new(f.desc()).series(&mut out, &ls, &times, &vals);
        out.push_str(EOF);
        assert_eq!(
            out,
            "# TYPE d_seconds histogram\n# HELP d_seconds say \\\"hi\\\"\n\
             d_seconds_bucket{m=\"GET\",job=\"lp\",le=\"0.1\"} 0 1\n\
             d_seconds_bucket{m=\"GET\",job=\"lp\",le=\"1\"} 0 1\n\
             d_seconds_bucket{m=\"GET\",job=\"lp\",le=\"+Inf\"} 0 1\n\
             d_seconds_sum{m=\"GET\",job=\"lp\"} 0 1\n\
             d_seconds_count{m=\"GET\",job=\"lp\"} 0 1\n\
             d_seconds_bucket{m=\"GET\",job=\"lp\",le=\"0.1\"} 1 16.500\n\
             d_seconds_bucket{m=\"GET\",job=\"lp\",le=\"1\"} 2 16.500\n\
             d_seconds_bucket{m=\"GET\",job=\"lp\",le=\"+Inf\"} 3 16.500\n\
             d_seconds_sum{m=\"GET\",job=\"lp\"} 3.55 16.500\n\
             d_seconds_count{m=\"GET\",job=\"lp\"} 3 16.500\n\
             # EOF\n"
        );
    }

    #[test]
    fn counter_family_names_and_own_labels_win() {
        let store = Store::new();
        let d = |name: &str| Desc {
            name: name.into(),
            help: "h".into(),
            kind: Kind::Counter,
            labels: vec![Label::bounded("job")],
            buckets: vec![],
        };
        let mut out = String::new();
        header(&mut out, &d("a_total"));
        header(&mut out, &d("b"));
        assert_eq!(
            out,
            "# TYPE a counter\n# HELP a h\n# TYPE b unknown\n# HELP b h\n"
        );
        let f = store.register(d("a_total"), 10).unwrap();
        let mut k = Vec::new();
        key_label(&mut k, b"mine");
        let s = f.declare(&k);
        let mut ls = String::new();
        labels(
            &mut ls,
            &f,
            &s,
            &[("job".into(), "x".into()), ("instance".into(), "i".into())],
        );
        assert_eq!(ls, "job=\"mine\",instance=\"i\"");
    }
}
