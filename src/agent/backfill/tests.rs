use super::*;

const CFG: &str = r#"
sources:
  - name: web
    paths: [/dev/null]
    format: combined
    metrics:
      - name: req_total
        type: counter
        labels:
          status: {field: status}
      - name: size_bytes
        type: histogram
        value: body_bytes_sent
        buckets: [100, 1000]
"#;

fn line(t: &str, status: u16, size: u32) -> String {
    format!("1.2.3.4 - - [{t}] \"GET / HTTP/1.1\" {status} {size} \"-\" \"ua\"\n")
}

fn run(cfg: &str, text: &str, window: u64) -> (Summary, String) {
    run_refresh(cfg, text, window, 0)
}

fn run_refresh(cfg: &str, text: &str, window: u64, refresh: u64) -> (Summary, String) {
    run_gap(cfg, text, window, refresh, 3600)
}

fn run_gap(cfg: &str, text: &str, window: u64, refresh: u64, max_gap: u64) -> (Summary, String) {
    let cfg = Config::from_yaml(cfg, "test.yml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("access.log");
    std::fs::write(&f, text).unwrap();
    let opts = Options {
        source: None,
        files: vec![f],
        step: Duration::from_secs(10),
        window: Duration::from_secs(window),
        refresh: Duration::from_secs(refresh),
        target_labels: vec![("job".into(), "j".into())],
        max_gap: Duration::from_secs(max_gap),
    };
    let (s, out) = backfill(&cfg, &opts, OneFile(Vec::new()), &mut |_| {}).unwrap();
    (s, String::from_utf8(out.0).unwrap())
}

/// The `(value, timestamp)` points of one series, in file order.
fn points(out: &str, series: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|r| {
            let (v, t) = r.split_once(' ').unwrap();
            (v.to_string(), t.to_string())
        })
        .collect()
}

#[test]
fn late_lines_land_at_their_step_and_old_ones_are_counted() {
    // 2025-01-01T00:00:00Z = 1735689600.
    let mut text = String::new();
    text += &line("01/Jan/2025:00:00:01 +0000", 200, 50);
    text += &line("01/Jan/2025:00:00:12 +0000", 200, 500);
    text += &line("01/Jan/2025:00:00:25 +0000", 500, 5000);
    // 20 s late: within a 60 s window, it belongs to the step ending at :10.
    text += &line("01/Jan/2025:00:00:05 +0000", 404, 50);
    text += &line("01/Jan/2025:00:02:00 +0000", 200, 50);
    // 115 s before the latest line: older than the window.
    text += &line("01/Jan/2025:00:00:05 +0000", 404, 50);
    text += &line("not a time", 200, 50);
    text += "garbage\n";
    let (s, out) = run(CFG, &text, 60);
    assert!(out.ends_with("# EOF\n"), "{out}");
    assert_eq!((s.lines, s.placed, s.late), (8, 5, 1));
    assert_eq!((s.too_old, s.no_time, s.parse_errors), (1, 1, 1));
    let at = |p: Vec<(String, String)>| {
        p.into_iter()
            .map(|(v, t)| format!("{v}@{t}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        at(points(&out, r#"req_total{status="200",job="j"}"#)),
        // Born at the boundary at :10, so 0 at the one before: increase() counts its first.
        [
            "0@1735689600",
            "1@1735689610",
            "2@1735689620",
            "2@1735689630"
        ]
        .into_iter()
        .chain(
            (4..=12)
                .map(|k| if k < 12 {
                    "2@".to_string() + &(1735689600 + k * 10).to_string()
                } else {
                    "3@1735689720".into()
                })
                .collect::<Vec<_>>()
                .iter()
                .map(|s| &**s)
        )
        .map(String::from)
        .collect::<Vec<_>>()
    );
    // The late 404 counts from the boundary at :10 on, as if it had come in order.
    let p404 = at(points(&out, r#"req_total{status="404",job="j"}"#));
    assert_eq!(p404[..2], ["0@1735689600", "1@1735689610"]);
    assert_eq!(p404.last().map(String::as_str), Some("1@1735689720"));
    // A histogram's points: buckets, _sum, _count at each boundary.
    let inf = at(points(&out, r#"size_bytes_bucket{job="j",le="+Inf"}"#));
    assert_eq!(inf[0], "0@1735689600");
    assert_eq!(inf[1], "2@1735689610");
    assert_eq!(inf.last().unwrap(), "5@1735689720");
    let b100 = at(points(&out, r#"size_bytes_bucket{job="j",le="100"}"#));
    assert_eq!(b100.last().unwrap(), "3@1735689720");
    assert_eq!(
        at(points(
            &out,
            r#"logpulse_backfill_lines_dropped_total{source="web",reason="too_old",job="j"}"#
        ))
        .last()
        .unwrap(),
        "1@1735689720"
    );
}

#[test]
fn every_series_point_is_in_time_order_and_families_are_written_per_chunk() {
    // Four hours of one line a minute.
    let mut text = String::new();
    for m in 0..240 {
        let t = format!("01/Jan/2025:{:02}:{:02}:30 +0000", m / 60, m % 60);
        text += &line(&t, if m % 2 == 0 { 200 } else { 503 }, 10);
    }
    let (s, out) = run(CFG, &text, 300);
    assert_eq!(s.placed, 240);
    let mut last: std::collections::HashMap<&str, f64> = Default::default();
    for l in out.lines().filter(|l| !l.starts_with('#')) {
        let (series, rest) = l.rsplit_once('}').unwrap();
        let t: f64 = rest.split(' ').nth(2).unwrap().parse().unwrap();
        let prev = last.insert(series, t);
        assert!(prev.is_none_or(|p| p < t), "{l}");
    }
    // Chunks of at most 480 steps: 80 minutes at 10 s.
    assert_eq!(out.matches("# TYPE req counter").count(), 3);
    let p = points(&out, r#"req_total{status="503",job="j"}"#);
    // The last boundary is the latest line's time (03:59:30, on a step).
    assert_eq!(
        p.last().unwrap(),
        &("120".to_string(), "1735703970".to_string())
    );
}

#[test]
fn a_format_without_time_field_is_refused_with_the_key() {
    let cfg = CFG.replace(
        "format: combined",
        "format: {regex: '^(?P<status>\\d+) (?P<body_bytes_sent>\\d+)'}",
    );
    let cfg = Config::from_yaml(&cfg, "test.yml").unwrap();
    let opts = Options {
        source: None,
        files: vec![],
        step: Duration::from_secs(10),
        window: Duration::from_secs(10),
        refresh: Duration::ZERO,
        target_labels: vec![],
        max_gap: Duration::from_secs(3600),
    };
    let e = backfill(&cfg, &opts, OneFile(Vec::new()), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("sources[0].time.field"), "{e}");
}

/// Every series' samples, by series: `(unix seconds, value)` in time order.
fn all_points(out: &str) -> std::collections::BTreeMap<String, Vec<(f64, String)>> {
    let mut m = std::collections::BTreeMap::<String, Vec<(f64, String)>>::new();
    for l in out.lines().filter(|l| !l.starts_with('#')) {
        let (rest, t) = l.rsplit_once(' ').unwrap();
        let (head, v) = rest.rsplit_once(' ').unwrap();
        m.entry(head.into())
            .or_default()
            .push((t.parse().unwrap(), v.into()));
    }
    m
}

/// With a refresh interval, unchanged values are left out, but Prometheus finds the same value
/// at every step (the latest sample at or before it, never older than the refresh), and the
/// sample before every change is there (so a window's increase is the same).
#[test]
fn unchanged_values_are_thinned_without_changing_what_queries_see() {
    let mut text = String::new();
    // 40 minutes, bursts and quiet spells, a rare status and late lines.
    for s in 0..2400u32 {
        let busy = (s / 300) % 2 == 0;
        if (busy && s % 7 == 0) || s % 97 == 0 {
            let status = if s % 11 == 0 { 500 } else { 200 };
            text += &line(
                &format!("01/Jan/2025:00:{:02}:{:02} +0000", s / 60, s % 60),
                status,
                s % 2000,
            );
        }
        if s % 500 == 250 {
            let late = s - 20;
            text += &line(
                &format!("01/Jan/2025:00:{:02}:{:02} +0000", late / 60, late % 60),
                404,
                5,
            );
        }
    }
    let (full_s, full) = run_refresh(CFG, &text, 60, 0);
    let (thin_s, thin) = run_refresh(CFG, &text, 60, 60);
    assert_eq!(full_s.placed, thin_s.placed);
    assert!(
        thin_s.samples * 2 < full_s.samples,
        "{} of {} samples written",
        thin_s.samples,
        full_s.samples
    );
    let (full, thin) = (all_points(&full), all_points(&thin));
    assert_eq!(
        full.keys().collect::<Vec<_>>(),
        thin.keys().collect::<Vec<_>>()
    );
    for (series, pts) in &full {
        let got = &thin[series];
        assert_eq!(got.first(), pts.first(), "{series}: first sample");
        assert_eq!(got.last(), pts.last(), "{series}: last sample");
        let mut j = 0;
        for (i, (t, v)) in pts.iter().enumerate() {
            while j + 1 < got.len() && got[j + 1].0 <= *t {
                j += 1;
            }
            assert_eq!(&got[j].1, v, "{series} at {t}: value");
            assert!(
                t - got[j].0 <= 60.0,
                "{series} at {t}: sample {} s old",
                t - got[j].0
            );
            if pts.get(i + 1).is_some_and(|n| n.1 != *v) {
                assert_eq!(got[j].0, *t, "{series}: the sample before a change at {t}");
            }
        }
    }
}

/// Regression: the boundaries between two lines were all recorded, so two lines 56 years apart
/// (1970 → 2026) took 16 GB (`tests/backfill_faults.rs` runs that case under a memory limit).
/// A stretch without lines longer than `max_gap` is skipped: the series are recorded for
/// `max_gap` after the latest line, then from the window before the next, and the counter goes
/// on from where it was. (30 days here, so that the test fails before the fix without taking
/// the machine's memory.)
#[test]
fn a_long_stretch_without_lines_is_skipped_not_recorded_step_by_step() {
    let text =
        line("01/Dec/2024:00:00:10 +0000", 200, 5) + &line("31/Dec/2024:00:00:10 +0000", 200, 5);
    let (s, out) = run(CFG, &text, 60);
    assert_eq!((s.placed, s.gaps), (2, 1));
    let p = points(&out, r#"req_total{status="200",job="j"}"#);
    // 10 s steps up to an hour after the first line (2024-12-01T00:00:10Z = 1733011210), then
    // from the window before the second (1735603210).
    let times: Vec<i64> = p.iter().map(|(_, t)| t.parse().unwrap()).collect();
    // Born at 0 one step before its first line, as a scrape shows a new series.
    assert_eq!(p.first().map(|p| p.0.as_str()), Some("0"));
    assert_eq!(times.first(), Some(&(1_733_011_210 - 10)));
    assert_eq!(times.get(1), Some(&1_733_011_210));
    let before: Vec<&i64> = times.iter().filter(|t| **t < 1_735_000_000).collect();
    assert_eq!(before.last(), Some(&&(1_733_011_210 + 3600)), "{times:?}");
    let after: Vec<&i64> = times.iter().filter(|t| **t >= 1_735_000_000).collect();
    assert_eq!(after.first(), Some(&&(1_735_603_210 - 70)), "{times:?}");
    assert_eq!(
        p.last().unwrap(),
        &("2".to_string(), "1735603210".to_string())
    );
    // 370 boundaries of every series (every value written: no refresh).
    assert!(s.samples < 20_000, "{} samples", s.samples);
}

/// With thinning, the last value before a skipped stretch is written even between refreshes,
/// so the series does not seem to stop earlier than it does.
#[test]
fn the_value_before_a_skipped_stretch_is_written() {
    let text =
        line("01/Jan/2025:00:00:05 +0000", 200, 5) + &line("01/Jan/2025:03:00:05 +0000", 200, 5);
    let (s, out) = run_gap(CFG, &text, 60, 60, 600);
    assert_eq!(s.gaps, 1);
    let p = points(&out, r#"req_total{status="200",job="j"}"#);
    // 2025-01-01T00:10:00Z, 600 s after the line, between the refreshes at :09:10 and :10:10.
    assert!(
        p.iter().any(|(v, t)| v == "1" && t == "1735690200"),
        "{p:?}"
    );
}
