//! Prometheus text exposition format 0.0.4. Labels are pre-rendered per series, so encoding
//! allocates nothing per series; no timestamps are written.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::{Family, Kind, Value};

/// Escape a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escape HELP text: `\` → `\\`, newline → `\n`.
fn escape_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Write a sample value as Prometheus parses it.
pub fn format_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else if v.abs() >= 1e15 || v.abs() < 1e-5 {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, le: Option<&str>) {
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

/// Render one family (HELP, TYPE, samples). Families with no series still get HELP/TYPE.
pub fn family(out: &mut String, f: &Family) {
    let d = &f.desc;
    out.push_str("# HELP ");
    out.push_str(&d.name);
    out.push(' ');
    escape_help(out, &d.help);
    out.push_str("\n# TYPE ");
    out.push_str(&d.name);
    out.push(' ');
    out.push_str(d.kind.as_str());
    out.push('\n');
    let les: Vec<String> = d
        .buckets
        .iter()
        .map(|b| {
            let mut s = String::new();
            format_value(&mut s, *b);
            s
        })
        .collect();
    f.for_each(|s| match &s.value {
        Value::Scalar(v) => {
            sample(out, &d.name, "", &s.rendered, None);
            format_value(out, v.get());
            out.push('\n');
        }
        Value::Histogram {
            buckets,
            sum,
            count,
        } => {
            debug_assert_eq!(d.kind, Kind::Histogram);
            // Read count first and clamp, so cumulative buckets never exceed _count even while
            // a source is observing concurrently (readers outside the source lock).
            let total = count.load(Ordering::Relaxed);
            let mut cum = 0u64;
            for (le, b) in les.iter().zip(buckets.iter()) {
                cum += b.load(Ordering::Relaxed);
                sample(out, &d.name, "_bucket", &s.rendered, Some(le));
                let _ = write!(out, "{}", cum.min(total));
                out.push('\n');
            }
            sample(out, &d.name, "_bucket", &s.rendered, Some("+Inf"));
            let _ = write!(out, "{total}");
            out.push('\n');
            sample(out, &d.name, "_sum", &s.rendered, None);
            format_value(out, sum.get());
            out.push('\n');
            sample(out, &d.name, "_count", &s.rendered, None);
            let _ = write!(out, "{total}");
            out.push('\n');
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{push_label, Desc, Store};

    #[test]
    fn values_format_as_prometheus_parses_them() {
        let cases = [
            (0.0, "0"),
            (3.0, "3"),
            (-2.0, "-2"),
            (0.25, "0.25"),
            (1e20, "1e20"),
            (1e-7, "1e-7"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            format_value(&mut s, v);
            assert_eq!(s, want, "{v}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\"b\\c\nd");
        assert_eq!(s, r#"a\"b\\c\nd"#);
    }

    #[test]
    fn histogram_renders_cumulative_buckets() {
        let store = Store::new();
        let f = store
            .register(
                Desc {
                    name: "d_seconds".into(),
                    help: "h".into(),
                    kind: Kind::Histogram,
                    labels: vec!["m".into()],
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
        store.render(&mut out);
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
}
