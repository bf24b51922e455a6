use super::*;
use crate::store::lines::{Budget, FieldNames, Limits, Origin, Redact};
use crate::store::Store;

fn fields() -> Vec<String> {
    ["route", "status", "tenant"].map(String::from).to_vec()
}

#[test]
fn requests_are_decoded_and_checked() {
    let now = 1_800_000_000_000;
    let r = parse_request(
        Some("route=%2Fmail%2Fread%2F%3Aid&status=5xx&tenant=a+b&since=15m&limit=99999&ref=web%3A1f3a9c20%3A5&source=&format=html"),
        &fields(),
        now,
    )
    .unwrap();
    assert_eq!(
        r.query.fields,
        [
            ("route", "/mail/read/:id"),
            ("status", "5xx"),
            ("tenant", "a b")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(r.query.since_ms, Some(now - 15 * 60 * 1000));
    assert_eq!(r.query.limit, MAX_LIMIT);
    assert_eq!(r.query.reference.as_deref(), Some("web:1f3a9c20:5"));
    assert_eq!(r.query.source, None, "an empty box is no filter");
    assert_eq!(r.output, Some(Output::Html));
    let d = parse_request(None, &fields(), now).unwrap();
    assert_eq!((d.query.limit, d.output), (DEFAULT_LIMIT, None));

    for (since, ms) in [
        ("2026-11-27T10:00:00Z", 1_795_773_600_000),
        ("1795773600", 1_795_773_600_000),
        ("1795773600000", 1_795_773_600_000),
    ] {
        let r = parse_request(Some(&format!("since={since}")), &fields(), now).unwrap();
        assert_eq!(r.query.since_ms, Some(ms), "{since}");
    }
    let p = |v: &str| {
        parse_request(Some(&format!("parsed={v}")), &fields(), now)
            .unwrap()
            .query
            .parsed
    };
    assert_eq!(
        (p("false"), p("true"), p("")),
        (Some(false), Some(true), None)
    );
    for bad in [
        "rout=/a",
        "since=yesterday",
        "limit=-1",
        "format=xml",
        "parsed=no",
    ] {
        let e = parse_request(Some(bad), &fields(), now).unwrap_err();
        assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
    }
    assert!(parse_request(Some("rout=/a"), &fields(), now)
        .unwrap_err()
        .contains(
            "known: source, since, limit, ref, line_ref, parsed, format, route, status, tenant"
        ));
    assert_eq!(decode("%zz%4"), "%zz%4");
    assert_eq!(encode("a b/ü&"), "a%20b%2F%C3%BC%26");
}

fn evil_answer() -> (Answer, Request) {
    let selfstore = Store::new();
    let st = LineStore::new(
        Limits {
            max_bytes: 1 << 20,
            max_line_bytes: 4096,
            allow_unauthenticated: false,
        },
        &Redact {
            addresses: true,
            query: true,
            emails: true,
            patterns: vec![],
        },
        &selfstore,
    );
    let names = FieldNames {
        names: ["route", "status"].map(Box::<str>::from).into(),
        exemplar: None,
    };
    let s = st
        .source("web<b>", Budget::split(1 << 20, true, true), names)
        .unwrap();
    let file: Arc<str> = Arc::from("/log/<i>.log");
    let evil = "<script>alert(1)</script> \"q\" 'a' & \u{1b}]0;x\u{7} \u{2028}";
    s.keep(
        Origin {
            run: 1,
            seq: 2,
            time_ms: 1_795_773_600_123,
            file: &file,
            parsed: true,
        },
        evil.as_bytes(),
        [evil.as_bytes(), b"500".as_slice()].into_iter(),
    );
    let req = parse_request(Some("route=%3Cscript%3E&format=html"), &["route".into()], 0).unwrap();
    let a = st.query(&Query {
        limit: 10,
        ..Default::default()
    });
    (a, req)
}

#[test]
fn json_is_escaped_and_parses_back() {
    let (a, _) = evil_answer();
    let body = render_json(&a, 10);
    assert!(!body.trim_end().chars().any(|c| c.is_control()), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let l = &v["lines"][0];
    assert_eq!(v["matched"], 1);
    assert_eq!(l["line_ref"], "web<b>:00000001:2");
    assert_eq!(l["time"], "2026-11-27T10:00:00Z");
    assert_eq!(l["time_ms"], 1_795_773_600_123u64);
    assert_eq!(l["fields"]["status"], "500");
    assert_eq!(
        l["text"],
        "<script>alert(1)</script> \"q\" 'a' & \\u{1b}]0;x\\u{7} \\u{2028}"
    );
    assert_eq!(v["sources"][0]["kept"], 1);
}

#[test]
fn html_escapes_everything_from_logs() {
    let (a, req) = evil_answer();
    let h = render_html(&a, &req, &["route".into(), "status".into()]);
    assert!(
        !h.contains("<script>") && !h.contains("<b>") && !h.contains("<i>"),
        "{h}"
    );
    assert!(!h.chars().any(|c| c.is_control()), "{h}");
    assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt; &quot;q&quot; &#39;a&#39; &amp;"));
    // The filter box shows the query's value, escaped; the JSON link carries it encoded.
    assert!(h.contains("value=\"&lt;script&gt;\""), "{h}");
    assert!(
        h.contains("/lines?route=%3Cscript%3E&amp;format=json"),
        "{h}"
    );
}

#[test]
fn who_may_read_lines() {
    let selfstore = Store::new();
    let mk = |allow| {
        LineStore::new(
            Limits {
                max_bytes: 1,
                max_line_bytes: 100,
                allow_unauthenticated: allow,
            },
            &Redact {
                addresses: true,
                query: true,
                emails: true,
                patterns: vec![],
            },
            &selfstore,
        )
    };
    let a = |loopback, authenticated| Access {
        authorized: true,
        authenticated,
        loopback,
        moves_checkpoint: false,
    };
    let (closed, open) = (mk(false), mk(true));
    assert!(allowed(&a(true, false), &closed));
    assert!(allowed(&a(false, true), &closed));
    assert!(!allowed(&a(false, false), &closed));
    assert!(allowed(&a(false, false), &open));
}
