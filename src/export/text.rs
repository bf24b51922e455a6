//! Prometheus text exposition format 0.0.4 (what Prometheus asks for by default). No
//! timestamps, no exemplars.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::{escape, View};
use crate::store::{Bucket, Family, Series, Value};

/// Content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Write a series' labels, escaped, without braces: `a="x",b="y"` (empty when none). Rendered
/// once per series and reused for each of its samples (a histogram has a dozen).
pub(super) fn labels(out: &mut String, f: &Family, s: &Series) {
    out.clear();
    for (i, (l, v)) in f.desc().labels.iter().zip(s.label_values()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&l.name);
        out.push_str("=\"");
        escape::label_value(out, v);
        out.push('"');
    }
}

/// Write `name{labels[,le="…"]} ` for one sample.
pub(super) fn sample_head(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    le: Option<&str>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some(le) = le {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// The `le` label values of a family's buckets, `+Inf` last.
pub(super) fn les(f: &Family) -> Vec<String> {
    let mut v: Vec<String> = f
        .desc()
        .buckets
        .iter()
        .map(|b| {
            let mut s = String::new();
            escape::value(&mut s, *b);
            s
        })
        .collect();
    v.push("+Inf".into());
    v
}

/// Cumulative bucket counts of a histogram series, clamped to its count. The count is read
/// first, so buckets never exceed `_count` even while a source observes concurrently. A
/// series shown at 0 (`total` 0) has every bucket at 0.
pub(super) fn cumulative(buckets: &[Bucket], total: u64, out: &mut Vec<u64>) {
    out.clear();
    if total == 0 {
        out.resize(buckets.len(), 0);
        return;
    }
    let mut cum = 0u64;
    for b in buckets {
        cum += b.get();
        out.push(cum.min(total));
    }
    if let Some(last) = out.last_mut() {
        *last = total;
    }
}

/// Render one family (HELP, TYPE, samples) as `view` shows it. Families with no series still
/// get HELP/TYPE.
pub fn family(out: &mut String, f: &Family, view: View) {
    let d = &f.desc();
    out.push_str("# HELP ");
    out.push_str(&d.name);
    out.push(' ');
    escape::help(out, &d.help);
    out.push_str("\n# TYPE ");
    out.push_str(&d.name);
    out.push(' ');
    out.push_str(d.kind.as_str());
    out.push('\n');
    let les = les(f);
    let mut cum = Vec::with_capacity(les.len());
    let mut ls = String::new();
    let name = &d.name;
    f.for_each(|s| {
        labels(&mut ls, f, s);
        let shown = view.shows(f, s);
        samples(out, name, &ls, s, shown, &les, &mut cum)
    });
}

/// One series' samples: its values when `shown`, else zeros.
fn samples(
    out: &mut String,
    name: &str,
    ls: &str,
    s: &Series,
    shown: bool,
    les: &[String],
    cum: &mut Vec<u64>,
) {
    match s.value() {
        Value::Scalar(v) => {
            sample_head(out, name, "", ls, None);
            escape::value(out, if shown { v.get() } else { 0.0 });
            out.push('\n');
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
            cumulative(buckets, total, cum);
            for (le, c) in les.iter().zip(cum.iter()) {
                sample_head(out, name, "_bucket", ls, Some(le));
                let _ = writeln!(out, "{c}");
            }
            sample_head(out, name, "_sum", ls, None);
            escape::value(out, if shown { sum.get() } else { 0.0 });
            out.push('\n');
            sample_head(out, name, "_count", ls, None);
            let _ = writeln!(out, "{total}");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::export::{encode, Format};
    use crate::store::{push_label, Desc, Kind, Label, Store};

    #[test]
    fn histogram_renders_cumulative_buckets() {
        let store = Store::new();
        let f = store
            .register(
                Desc {
                    name: "d_seconds".into(),
                    help: "h".into(),
                    kind: Kind::Histogram,
                    labels: vec![Label::bounded("m")],
                    buckets: vec![0.1, 1.0],
                },
                10,
            )
            .unwrap();
        let mut k = Vec::new();
        push_label(&mut k, b"GET");
        let s = f.declare(&k);
        for x in [0.05, 0.1, 0.5, 3.0] {
            s.observe(&f.desc().buckets, x);
        }
        let mut out = String::new();
        encode(Format::Text, &[&store], &mut out);
        assert_eq!(
            out,
            "# HELP d_seconds h\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{m=\"GET\",le=\"0.1\"} 2\n\
             d_seconds_bucket{m=\"GET\",le=\"1\"} 3\n\
             d_seconds_bucket{m=\"GET\",le=\"+Inf\"} 4\n\
             d_seconds_sum{m=\"GET\"} 3.65\n\
             d_seconds_count{m=\"GET\"} 4\n"
        );
    }

    #[test]
    fn label_values_are_rendered_from_the_stored_values() {
        let store = Store::new();
        let f = store
            .register(
                Desc {
                    name: "t_total".into(),
                    help: "multi\nline \\ help".into(),
                    kind: Kind::Counter,
                    labels: vec![Label::unbounded("a"), Label::unbounded("b")],
                    buckets: vec![],
                },
                10,
            )
            .unwrap();
        for (a, b) in [("ab", "c"), ("a", "bc"), ("q\"uote", "new\nline\\")] {
            let mut k = Vec::new();
            push_label(&mut k, a.as_bytes());
            push_label(&mut k, b.as_bytes());
            f.declare(&k).add(1.0);
        }
        let mut out = String::new();
        encode(Format::Text, &[&store], &mut out);
        assert_eq!(
            out,
            "# HELP t_total multi\\nline \\\\ help\n# TYPE t_total counter\n\
             t_total{a=\"ab\",b=\"c\"} 1\n\
             t_total{a=\"a\",b=\"bc\"} 1\n\
             t_total{a=\"q\\\"uote\",b=\"new\\nline\\\\\"} 1\n"
        );
    }
}
