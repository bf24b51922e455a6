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

pub use super::openmetrics::header;

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
///
/// A value is written at a step when it is the first or last of the series in the chunk, or
/// next to a skipped stretch (steps more than `step` apart), when it differs from the value
/// before or after it, or when the value's last written sample is `refresh` or more older. Prometheus sees the same values wherever it looks: an instant query
/// finds the latest sample (at most `refresh` old, well inside its 5-minute lookback), and the
/// samples around every change are there, so `increase()` and `rate()` over a window count the
/// same changes as with every step written. A window shorter than twice `refresh` can hold a
/// single sample of a series that did not change, for which `rate()` then gives nothing instead
/// of 0. A `refresh` no longer than the step writes every value.
pub struct PointWriter<'a> {
    d: &'a Desc,
    les: Vec<String>,
    /// `_sum` and `_count` are left out when buckets are negative (OpenMetrics allows them only
    /// for histograms whose observations cannot be negative).
    negative: bool,
    refresh_ms: i64,
    step_ms: i64,
}

impl<'a> PointWriter<'a> {
    /// A writer for the series of family `d`, whose steps are `step_ms` apart except across
    /// skipped stretches, writing unchanged values every `refresh_ms`.
    pub fn new(d: &'a Desc, refresh_ms: i64, step_ms: i64) -> Self {
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
            refresh_ms,
            step_ms,
        }
    }

    /// Append the points of one series: `labels` from [`labels`], its steps (unix ms) and
    /// their `times` (rendered by [`timestamp`], each once for all series), and `values`
    /// ([`width`] values per step). `last` is scratch space. Returns the samples written.
    ///
    /// `born`: the series starts here, and was 0 at that earlier time (the step before its
    /// first). A counter or histogram is then written at 0 there first, as a scrape of `run`
    /// shows a new series at 0 first: otherwise `increase()` would take its first value as
    /// the baseline and leave out the lines that made it.
    #[allow(clippy::too_many_arguments)]
    pub fn series(
        &self,
        out: &mut String,
        labels: &str,
        born: Option<i64>,
        steps: &[i64],
        times: &[String],
        values: &[f64],
        last: &mut Vec<i64>,
    ) -> u64 {
        let name = &self.d.name;
        let w = width(self.d);
        // Sample heads (`name_bucket{labels,le="…"} `) rendered once per series.
        let mut heads = String::new();
        let mut ends = Vec::with_capacity(w + 1);
        ends.push(0);
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
        last.clear();
        last.resize(w, i64::MIN);
        let rows: Vec<&[f64]> = values.chunks_exact(w).collect();
        let n = rows.len().min(steps.len()).min(times.len());
        let mut written = 0;
        let zero_first =
            self.d.kind != Kind::Gauge && rows.first().is_some_and(|r| r.iter().any(|v| *v != 0.0));
        if let (Some(at), true) = (born, zero_first) {
            let mut t = String::new();
            timestamp(&mut t, at);
            // As many columns as the first point writes (`_sum`/`_count` only when it does).
            let cols = if self.d.kind == Kind::Histogram
                && (self.negative || rows.first().is_some_and(|r| r[w - 2] < 0.0))
            {
                w - 2
            } else {
                w
            };
            for c in 0..cols {
                out.push_str(&heads[ends[c]..ends[c + 1]]);
                out.push_str("0 ");
                out.push_str(&t);
                out.push('\n');
                written += 1;
            }
        }
        for i in 0..n {
            let v = rows[i];
            // `_sum` and `_count` are left out with negative buckets or a negative sum.
            let cols = if self.d.kind == Kind::Histogram && (self.negative || v[w - 2] < 0.0) {
                w - 2
            } else {
                w
            };
            let edge = i == 0
                || i + 1 == n
                || steps[i] - steps[i - 1] > self.step_ms
                || steps[i + 1] - steps[i] > self.step_ms;
            for c in 0..cols {
                let x = v[c];
                let keep = edge
                    || rows[i - 1][c].to_bits() != x.to_bits()
                    || rows[i + 1][c].to_bits() != x.to_bits()
                    || steps[i].saturating_sub(last[c]) >= self.refresh_ms;
                if !keep {
                    continue;
                }
                last[c] = steps[i];
                written += 1;
                out.push_str(&heads[ends[c]..ends[c + 1]]);
                push_value(out, x);
                out.push(' ');
                out.push_str(&times[i]);
                out.push('\n');
            }
        }
        written
    }
}

/// A sample value: counts and most gauges are whole numbers, written without the formatting
/// machinery; others as [`escape::value`] writes them.
fn push_value(out: &mut String, v: f64) {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let mut n = v.abs() as u64;
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0.0 {
            out.push('-');
        }
        // Only ASCII digits were written.
        out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
    } else {
        escape::value(out, v);
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
        assert!(!header(&mut out, f.desc()));
        let steps = [1000, 16_500];
        let times = steps.map(|ms| {
            let mut t = String::new();
            timestamp(&mut t, ms);
            t
        });
        let n = PointWriter::new(f.desc(), 0, 15_500).series(
            &mut out,
            &ls,
            None,
            &steps,
            &times,
            &vals,
            &mut Vec::new(),
        );
        assert_eq!(n, 10);
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
        assert!(header(&mut out, &d("a_total")));
        assert!(!header(&mut out, &d("b")));
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
