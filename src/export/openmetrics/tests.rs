use super::*;
use crate::export::{encode, Format};
use crate::store::{push_label, Desc, Label, Store};

fn key(vals: &[&str]) -> Vec<u8> {
    let mut k = Vec::new();
    for v in vals {
        push_label(&mut k, v.as_bytes());
    }
    k
}

fn desc(name: &str, kind: Kind, labels: &[&str], buckets: &[f64]) -> Desc {
    Desc {
        name: name.into(),
        help: format!("{name} \"help\" \\ here"),
        kind,
        labels: labels.iter().map(|l| Label::unbounded(*l)).collect(),
        buckets: buckets.to_vec(),
    }
}

#[test]
fn families_samples_exemplars_and_eof() {
    let store = Store::new();
    let req = store
        .register(desc("req_total", Kind::Counter, &["s"], &[]), 10)
        .unwrap();
    let s = req.declare(&key(&["5\"00"]));
    s.add(3.0);
    assert!(s.exemplar_due(0, 100));
    s.set_exemplar(0, 100, 100_250, "trace_id", b"abc\n", 1.0);
    assert!(!s.exemplar_due(0, 100), "at most one exemplar a second");
    req.declare(&key(&["200"])).add(1.0);
    let odd = store
        .register(desc("odd_count", Kind::Counter, &[], &[]), 10)
        .unwrap();
    odd.declare(&[]).add(2.0);
    let g = store
        .register(desc("temp", Kind::Gauge, &[], &[]), 10)
        .unwrap();
    g.declare(&[]).set(-1.5);
    let h = store
        .register(desc("d_seconds", Kind::Histogram, &["m"], &[0.1, 1.0]), 10)
        .unwrap();
    let hs = h.declare(&key(&["GET"]));
    for x in [0.05, 0.5, 3.0] {
        let i = hs.observe(&h.desc().buckets, x);
        hs.set_exemplar(i, 7, 7_000, "line_ref", format!("web:1:{i}").as_bytes(), x);
    }
    let mut out = String::new();
    encode(Format::OpenMetrics, &[&store], &mut out);
    assert_eq!(
        out,
        "# TYPE d_seconds histogram\n\
         # HELP d_seconds d_seconds \\\"help\\\" \\\\ here\n\
         d_seconds_bucket{m=\"GET\",le=\"0.1\"} 1 # {line_ref=\"web:1:0\"} 0.05 7.000\n\
         d_seconds_bucket{m=\"GET\",le=\"1\"} 2 # {line_ref=\"web:1:1\"} 0.5 7.000\n\
         d_seconds_bucket{m=\"GET\",le=\"+Inf\"} 3 # {line_ref=\"web:1:2\"} 3 7.000\n\
         d_seconds_sum{m=\"GET\"} 3.55\n\
         d_seconds_count{m=\"GET\"} 3\n\
         # TYPE odd_count unknown\n\
         # HELP odd_count odd_count \\\"help\\\" \\\\ here\n\
         odd_count 2\n\
         # TYPE req counter\n\
         # HELP req req_total \\\"help\\\" \\\\ here\n\
         req_total{s=\"5\\\"00\"} 3 # {trace_id=\"abc\u{fffd}\"} 1 100.250\n\
         req_total{s=\"200\"} 1\n\
         # TYPE temp gauge\n\
         # HELP temp temp \\\"help\\\" \\\\ here\n\
         temp -1.5\n\
         # EOF\n"
    );
}

#[test]
fn exemplar_labels_stay_within_128_characters() {
    let store = Store::new();
    let f = store
        .register(desc("x_total", Kind::Counter, &[], &[]), 10)
        .unwrap();
    let s = f.declare(&[]);
    let long = "é".repeat(300);
    s.set_exemplar(0, 1, 1000, "trace_id", long.as_bytes(), 1.0);
    let n = s
        .with_exemplar(0, |e| e.name.chars().count() + e.label.chars().count())
        .unwrap();
    assert_eq!(n, crate::store::MAX_EXEMPLAR_CHARS);
}

#[test]
fn timestamps_on_every_sample_for_backfill() {
    let store = Store::new();
    let f = store
        .register(desc("x_total", Kind::Counter, &[], &[]), 10)
        .unwrap();
    f.declare(&[]).add(1.0);
    let mut out = String::new();
    for fam in store.families() {
        family(
            &mut out,
            &fam,
            Options {
                timestamp_ms: Some(1_700_000_000_123),
                exemplars: false,
                view: crate::export::View::Current,
            },
        );
    }
    eof(&mut out);
    assert!(out.contains("\nx_total 1 1700000000.123\n# EOF\n"), "{out}");
}

#[test]
fn negative_sums_and_thresholds_leave_out_sum_and_count() {
    let store = Store::new();
    let h = store
        .register(desc("t_celsius", Kind::Histogram, &[], &[-10.0, 0.0]), 10)
        .unwrap();
    h.declare(&[]).observe(&h.desc().buckets, -20.0);
    let mut out = String::new();
    encode(Format::OpenMetrics, &[&store], &mut out);
    assert!(out.contains("t_celsius_bucket{le=\"+Inf\"} 1\n"), "{out}");
    assert!(!out.contains("_sum") && !out.contains("_count"), "{out}");
}

#[test]
fn scrapers_see_new_counters_and_histograms_at_zero_first_without_exemplars() {
    use crate::export::{Encoder, View};
    let store = Store::new();
    let c = store
        .register(desc("req_total", Kind::Counter, &["s"], &[]), 10)
        .unwrap();
    let s = c.declare(&key(&["500"]));
    s.add(3.0);
    s.set_exemplar(0, 100, 100_250, "trace_id", b"abc", 1.0);
    let g = store
        .register(desc("temp", Kind::Gauge, &[], &[]), 10)
        .unwrap();
    g.declare(&[]).set(-1.5);
    let h = store
        .register(desc("d_seconds", Kind::Histogram, &[], &[0.1]), 10)
        .unwrap();
    let hs = h.declare(&[]);
    let i = hs.observe(&h.desc().buckets, 0.05);
    hs.set_exemplar(i, 7, 7_000, "line_ref", b"web:1:0", 0.05);
    let render = |format, view| {
        let mut out = String::new();
        let mut e = Encoder::new(format, &mut out).view(view);
        e.stores(&[&store]);
        e.finish();
        out
    };
    store.step_holds(1_000, 500);
    let om = render(Format::OpenMetrics, View::Scrape);
    for want in [
        "req_total{s=\"500\"} 0\n",
        "temp -1.5\n",
        "d_seconds_bucket{le=\"0.1\"} 0\n",
        "d_seconds_bucket{le=\"+Inf\"} 0\n",
        "d_seconds_sum 0\n",
        "d_seconds_count 0\n",
    ] {
        assert!(om.contains(want), "{want:?} in\n{om}");
    }
    assert!(
        !om.contains(" # {"),
        "no exemplar on a value shown at 0:\n{om}"
    );
    let text = render(Format::Text, View::Scrape);
    assert!(text.contains("req_total{s=\"500\"} 0\n"), "{text}");
    assert!(text.contains("d_seconds_count 0\n"), "{text}");
    // People see values as they are, and their renders move nothing.
    let now = render(Format::Text, View::Current);
    assert!(now.contains("req_total{s=\"500\"} 3\n"), "{now}");
    assert!(!s.revealed());
    store.step_holds(1_500, 500);
    let om = render(Format::OpenMetrics, View::Scrape);
    assert!(
        om.contains("req_total{s=\"500\"} 3 # {trace_id=\"abc\"} 1 100.250\n"),
        "{om}"
    );
    assert!(om.contains("d_seconds_count 1\n"), "{om}");
}
