use super::*;

fn store(max_bytes: usize) -> (Arc<LineStore>, Store) {
    let selfstore = Store::new();
    let limits = Limits {
        max_bytes,
        max_line_bytes: 200,
        allow_unauthenticated: false,
    };
    let redact = Redact {
        addresses: true,
        query: true,
        emails: true,
        patterns: vec![],
    };
    (LineStore::new(limits, &redact, &selfstore), selfstore)
}

fn names(ns: &[&str], exemplar: Option<usize>) -> FieldNames {
    FieldNames {
        names: ns.iter().map(|n| Box::<str>::from(*n)).collect(),
        exemplar,
    }
}

fn keep(s: &SourceLines, seq: u64, time_ms: u64, text: &str, values: &[&str]) {
    let file: Arc<str> = Arc::from("/var/log/a.log");
    let o = Origin {
        run: 7,
        seq,
        time_ms,
        file: &file,
        parsed: true,
    };
    s.keep(o, text.as_bytes(), values.iter().map(|v| v.as_bytes()));
}

fn q() -> Query {
    Query {
        limit: 100,
        ..Default::default()
    }
}

fn sample(selfstore: &Store, name: &str, source: &str) -> f64 {
    let mut key = Vec::new();
    push_label(&mut key, source.as_bytes());
    let f = selfstore
        .families()
        .into_iter()
        .find(|f| f.desc().name == name)
        .expect(name);
    f.declare(&key).scalar()
}

#[test]
fn filters_status_classes_references_and_exemplar_values() {
    let (st, _) = store(1 << 20);
    let web = st
        .source(
            "web",
            Budget::split(1 << 20, true, false),
            names(&["route", "status", "request_id"], Some(2)),
        )
        .unwrap();
    let api = st
        .source(
            "api",
            Budget::split(1 << 20, true, false),
            names(&["route", "status"], None),
        )
        .unwrap();
    keep(&web, 1, 1000, "GET /a 500", &["/a", "500", "r-1"]);
    keep(&web, 2, 2000, "GET /b 503", &["/b", "503", "r-2"]);
    keep(&web, 3, 3000, "GET /a 404", &["/a", "404", "r-3"]);
    keep(&api, 1, 2500, "GET /a 502", &["/a", "502"]);

    let texts = |q: &Query| -> Vec<String> {
        st.query(q)
            .lines
            .iter()
            .map(|k| k.text.to_string())
            .collect()
    };
    let mut f = q();
    f.fields = vec![("status".into(), "5xx".into())];
    assert_eq!(texts(&f), ["GET /a 502", "GET /b 503", "GET /a 500"]);
    f.fields.push(("route".into(), "/a".into()));
    assert_eq!(texts(&f), ["GET /a 502", "GET /a 500"]);
    f.source = Some("web".into());
    assert_eq!(texts(&f), ["GET /a 500"]);
    let mut f = q();
    f.fields = vec![("status".into(), "500".into())];
    assert_eq!(texts(&f), ["GET /a 500"]);
    f.fields = vec![("status".into(), "5XX".into())];
    assert_eq!(texts(&f).len(), 3);

    // By line reference, by exemplar value; a value of another field is not a reference.
    let mut f = q();
    f.reference = Some("web:00000007:2".into());
    assert_eq!(texts(&f), ["GET /b 503"]);
    f.reference = Some("r-3".into());
    assert_eq!(texts(&f), ["GET /a 404"]);
    f.reference = Some("/a".into());
    assert!(texts(&f).is_empty());
    f.reference = Some("api:00000007:1".into());
    assert_eq!(texts(&f), ["GET /a 502"]);

    let mut f = q();
    f.since_ms = Some(2000);
    f.limit = 2;
    let a = st.query(&f);
    assert_eq!(a.matched, 3);
    assert_eq!(a.lines.len(), 2);
    assert_eq!(a.lines[0].text.as_ref(), "GET /a 404");
    assert_eq!(a.lines[0].line_ref(), "web:00000007:3");
    assert_eq!(a.lines[0].file.as_ref(), "/var/log/a.log");
    assert_eq!(
        st.field_names(),
        ["route", "status", "request_id"].map(String::from)
    );
}

#[test]
fn text_and_fields_are_redacted_but_not_the_exemplar_value() {
    let (st, _) = store(1 << 20);
    let s = st
        .source(
            "web",
            Budget::split(1 << 20, true, false),
            names(&["client", "request_id"], Some(1)),
        )
        .unwrap();
    keep(
        &s,
        1,
        1,
        "198.51.100.23 GET /x?token=abc kim@example.com \u{1b}[2J",
        &["198.51.100.23", "kim@example.com"],
    );
    let k = st.query(&q()).lines.remove(0);
    assert_eq!(
        &*k.text,
        "198.51.100.0 GET /x?token=* *@example.com \\u{1b}[2J"
    );
    assert_eq!(k.field("client"), Some("198.51.100.0"));
    assert_eq!(k.field("request_id"), Some("kim@example.com"));
    // Cut at max_line_bytes (200).
    keep(&s, 2, 2, &"x".repeat(500), &[]);
    let k = st.query(&q()).lines.remove(0);
    assert_eq!((k.text.len(), k.truncated), (200, true));
}

#[test]
fn lines_that_did_not_parse_have_no_field_values() {
    let (st, _) = store(1 << 20);
    let s = st
        .source(
            "web",
            Budget::split(1 << 20, true, true),
            names(&["status"], None),
        )
        .unwrap();
    let file: Arc<str> = Arc::from("f");
    let o = Origin {
        run: 1,
        seq: 9,
        time_ms: 5,
        file: &file,
        parsed: false,
    };
    s.keep(o, b"garbage", [b"500".as_slice()].into_iter());
    let k = st.query(&q()).lines.remove(0);
    assert!(!k.parsed);
    assert_eq!(k.field("status"), None);
    let mut f = q();
    f.fields = vec![("status".into(), "5xx".into())];
    assert!(st.query(&f).lines.is_empty());
}

#[test]
fn per_source_cap_evicts_oldest_first_and_counts() {
    let (st, selfstore) = store(1 << 20);
    let s = st
        .source(
            "web",
            Budget::split(4096, true, false),
            names(&["status"], None),
        )
        .unwrap();
    for i in 0..100 {
        keep(
            &s,
            i,
            i,
            &format!("line {i:03} {}", "y".repeat(80)),
            &["500"],
        );
    }
    let a = st.query(&q());
    let held = a.lines.len();
    assert!(held > 5 && held < 100, "{held}");
    // The newest are the ones held.
    assert!(a.lines[0].text.starts_with("line 099"));
    assert!(a.lines[held - 1]
        .text
        .starts_with(&format!("line {:03}", 100 - held)));
    let sum = &a.sources[0];
    assert!(sum.bytes <= 4096 && sum.bytes > 4096 - 300, "{}", sum.bytes);
    assert_eq!((sum.kept, sum.evicted), (100, 100 - held as u64));
    assert_eq!(
        sample(&selfstore, "logpulse_lines_kept_total", "web"),
        100.0
    );
    assert_eq!(
        sample(&selfstore, "logpulse_lines_evicted_total", "web"),
        (100 - held) as f64
    );
    assert_eq!(
        sample(&selfstore, "logpulse_lines_stored", "web"),
        held as f64
    );
    assert_eq!(
        sample(&selfstore, "logpulse_lines_stored_bytes", "web"),
        sum.bytes as f64
    );
    assert_eq!(st.total_bytes(), sum.bytes);
}

#[test]
fn total_cap_evicts_from_the_largest_source() {
    let (st, _) = store(8192);
    let big = st
        .source("big", Budget::split(8192, true, false), names(&[], None))
        .unwrap();
    let small = st
        .source("small", Budget::split(8192, true, false), names(&[], None))
        .unwrap();
    for i in 0..5 {
        keep(&small, i, i, &"s".repeat(100), &[]);
    }
    for i in 0..200 {
        keep(&big, i, 100 + i, &"b".repeat(100), &[]);
    }
    let a = st.query(&q());
    let by = |n: &str| a.sources.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(by("small").lines, 5, "the quiet source keeps its lines");
    assert!(by("big").evicted > 100);
    assert!(st.total_bytes() <= 8192);
}

#[test]
fn a_source_attached_again_keeps_its_lines_and_takes_the_new_cap() {
    let (st, _) = store(1 << 20);
    let s = st
        .source(
            "web",
            Budget::split(1 << 20, true, false),
            names(&["status"], None),
        )
        .unwrap();
    for i in 0..50 {
        keep(&s, i, i, &"z".repeat(100), &["500"]);
    }
    drop(s);
    let s = st
        .source(
            "web",
            Budget::split(2048, true, false),
            names(&["status", "route"], None),
        )
        .unwrap();
    let held = st.query(&q()).lines.len();
    assert!(held > 0 && held < 50, "{held}");
    assert!(st.total_bytes() <= 2048);
    keep(&s, 99, 99, "new", &["500", "/r"]);
    assert_eq!(st.query(&q()).lines[0].field("route"), Some("/r"));
    assert!(st
        .source("web", Budget::split(0, true, false), names(&[], None))
        .is_none());
    assert!(store(0)
        .0
        .source("web", Budget::split(100, true, false), names(&[], None))
        .is_none());
}

#[test]
fn a_line_larger_than_the_cap_is_not_kept() {
    let (st, _) = store(1 << 20);
    let s = st
        .source("web", Budget::split(300, true, false), names(&[], None))
        .unwrap();
    keep(&s, 1, 1, &"q".repeat(190), &[]);
    let a = st.query(&q());
    assert!(a.lines.is_empty());
    assert_eq!((a.sources[0].kept, a.sources[0].evicted), (1, 1));
}

#[test]
fn line_refs_round_trip_and_reject_junk() {
    let r = LineRef {
        source: "web:eu".into(),
        run: 0x1f3a_9c20,
        seq: 1234,
    };
    assert_eq!(r.to_string(), "web:eu:1f3a9c20:1234");
    assert_eq!("web:eu:1f3a9c20:1234".parse::<LineRef>().ok(), Some(r));
    for bad in ["", "web", "web:1:2", "web:zzzzzzzz:1", "web:1f3a9c20:x"] {
        assert!(bad.parse::<LineRef>().is_err(), "{bad}");
    }
}

fn keep_unparsed(s: &SourceLines, seq: u64, time_ms: u64, text: &str) {
    let file: Arc<str> = Arc::from("/var/log/a.log");
    let o = Origin {
        run: 7,
        seq,
        time_ms,
        file: &file,
        parsed: false,
    };
    s.keep(o, text.as_bytes(), std::iter::empty());
}

#[test]
fn unparsed_lines_never_evict_the_kept_5xx_lines_and_have_their_own_budget() {
    let (st, selfstore) = store(1 << 20);
    let b = Budget::split(8192, true, true);
    assert_eq!((b.matched, b.unparsed), (6144, 2048));
    let s = st.source("web", b, names(&["status"], None)).unwrap();
    // 5xx lines, then a changed format: a thousand lines that do not parse.
    for i in 0..10 {
        keep(&s, i, i, &format!("GET /a 503 #{i}"), &["503"]);
    }
    for i in 0..1000 {
        keep_unparsed(&s, 100 + i, 100 + i, &format!("{{\"json\":{i}}}"));
    }
    let mut five = q();
    five.fields = vec![("status".into(), "5xx".into())];
    let a = st.query(&five);
    assert_eq!(a.matched, 10, "every 5xx line is still there");
    let sum = &a.sources[0];
    assert!(
        sum.unparsed_lines > 5 && sum.unparsed_lines < 1000,
        "{sum:?}"
    );
    assert_eq!((sum.cap, sum.unparsed_cap), (8192, 2048));
    assert!(
        sum.bytes
            - st.query(&five)
                .lines
                .iter()
                .map(|k| k.cost())
                .sum::<usize>()
            <= 2048
    );
    // The newest unparsed lines are those held; `parsed` picks a kind.
    let all = st.query(&q());
    assert!(all.lines[0].text.contains("999"));
    let mut only = q();
    only.parsed = Some(false);
    let bad = st.query(&only);
    assert!(bad.matched == sum.unparsed_lines && bad.lines.iter().all(|k| !k.parsed));
    only.parsed = Some(true);
    assert_eq!(st.query(&only).matched, 10);
    assert_eq!(
        sample(&selfstore, "logpulse_lines_evicted_total", "web"),
        (1000 - sum.unparsed_lines) as f64
    );
    // And the other way: a 5xx flood does not evict the unparsed lines.
    for i in 0..1000 {
        keep(
            &s,
            5000 + i,
            5000 + i,
            &format!("GET /b 502 #{i}"),
            &["502"],
        );
    }
    let after = &st.query(&q()).sources[0];
    assert_eq!(after.unparsed_lines, sum.unparsed_lines);
    assert!(after.bytes <= 8192);
    // A source keeping one kind gives it the whole cap; nothing to keep, no handle.
    assert_eq!(
        Budget::split(100, false, true),
        Budget {
            matched: 0,
            unparsed: 100
        }
    );
    assert!(st
        .source("x", Budget::split(100, false, false), names(&[], None))
        .is_none());
}

#[test]
fn across_sources_the_fuller_kind_of_the_largest_source_goes_first() {
    let (st, _) = store(4096);
    let s = st
        .source("web", Budget::split(8192, true, true), names(&[], None))
        .unwrap();
    let other = st
        .source("api", Budget::split(3072, true, false), names(&[], None))
        .unwrap();
    for i in 0..5 {
        keep(&s, i, i, &"5".repeat(100), &[]);
    }
    for i in 0..100 {
        keep_unparsed(&s, 10 + i, 10 + i, &"u".repeat(100));
    }
    for i in 0..100 {
        keep(&other, i, 1000 + i, &"o".repeat(100), &[]);
    }
    assert!(st.total_bytes() <= 4096);
    let a = st.query(&q());
    let web = a.sources.iter().find(|x| x.name == "web").unwrap();
    // web held the most: its unparsed lines (a full budget) went, not its older 5xx lines.
    assert_eq!(web.lines - web.unparsed_lines, 5, "{web:?}");
    assert!(web.unparsed_lines < 7, "{web:?}");
}
