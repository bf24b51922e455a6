use std::time::Duration;

use crate::config::raw::{BucketGen, Exponential, Linear, RawBuckets};
use crate::config::{bucket_bounds, parse_duration, Config, DEFAULT_LISTEN};

fn err(yaml: &str) -> String {
    Config::from_yaml(yaml, "t.yml").unwrap_err().to_string()
}

const BASE: &str = "sources:\n  - name: a\n    paths: [x]\n    metrics:\n";

#[test]
fn embedded_default_loads() {
    let c = Config::embedded().unwrap();
    assert_eq!(c.global.listen, DEFAULT_LISTEN);
    let names: Vec<&str> = c.sources[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert!(names.contains(&"http_requests_total"), "{names:?}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
    assert_eq!(parse_duration("1.5m"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("5 parsecs"), None);
    assert_eq!(parse_duration("-1s"), None);
    assert_eq!(parse_duration("1e400"), None);
    assert_eq!(parse_duration("99999999999999999999999d"), None);
}

#[test]
fn unknown_key_names_line_and_key() {
    let e = err("sources:\n  - name: a\n    paths: [x]\n    profile: http\n    colour: red\n");
    assert!(
        e.contains("t.yml") && e.contains("colour") && e.contains("line 5"),
        "{e}"
    );
}

#[test]
fn wrong_type_names_the_place() {
    let e = err("global:\n  series_limit: lots\nsources: []\n");
    assert!(e.contains("t.yml") && e.contains("line 2"), "{e}");
}

#[test]
fn semantic_errors_name_the_key_path() {
    let cases: &[(&str, &[&str])] = &[
        ("      - {name: 'bad-name', type: counter}\n", &["sources[0].metrics[0].name"]),
        (
            "      - {name: a_total, type: counter}\n      - {name: a_total, type: counter}\n",
            &["sources[0].metrics[1].name", "twice"],
        ),
        ("      - {name: a_total, type: counter, labels: {'1x': status}}\n", &["labels.1x"]),
        (
            "      - {name: h, type: histogram, value: request_time, buckets: [1, 0.5]}\n",
            &["metrics[0].buckets", "increasing"],
        ),
        ("      - {name: h, type: counter, buckets: [1]}\n", &["metrics[0].buckets", "only histograms"]),
        ("      - {name: g, type: gauge}\n", &["metrics[0].value", "gauge needs"]),
        ("      - {name: c, type: counter, action: add}\n", &["metrics[0].action"]),
        ("      - {name: logpulse_lines_total, type: counter}\n", &["metrics[0].name", "reserved"]),
        ("      - {name: c, type: counter, match: {status: {}}}\n", &["match.status", "empty condition"]),
        (
            "      - {name: c, type: counter, labels: {r: {field: status, patterns: ['/a']}}}\n",
            &["labels.r.patterns", "transform: route"],
        ),
        (
            "      - {name: c, type: counter, labels: {r: {field: request_uri, transform: route, patterns: ['/a', 'b']}}}\n",
            &["labels.r.patterns[1]", "must start with '/'"],
        ),
        (
            "      - {name: c, type: counter, labels: {r: {field: status, value: x}}}\n",
            &["labels.r", "exactly one"],
        ),
        (
            "      - {name: c, type: counter, labels: {r: {template: '{status'}}}\n",
            &["labels.r.template", "unclosed"],
        ),
        (
            "      - {name: c, type: counter, labels: {r: {template: '{nope}'}}}\n",
            &["labels.r.template", "\"nope\" does not exist"],
        ),
        (
            "      - {name: c, type: counter, labels: {r: {field: status, replacement: '$2'}}}\n",
            &["labels.r.replacement", "needs `regex`"],
        ),
    ];
    for (metrics, needles) in cases {
        let e = err(&format!("{BASE}{metrics}"));
        for n in *needles {
            assert!(e.contains(n), "{metrics}: {e}");
        }
    }
    let e = err("global: {poll_interval: soon}\nsources: [{name: a, paths: [x], profile: http}]\n");
    assert!(e.contains("global.poll_interval"), "{e}");
    let e = err(
        "sources: [{name: a, paths: [x], profile: http}, {name: a, paths: [y], profile: http}]\n",
    );
    assert!(e.contains("sources[1].name"), "{e}");
    let e = err("sources: [{name: a, paths: [x], exclude: ['[z'], profile: http}]\n");
    assert!(e.contains("sources[0].exclude[0]"), "{e}");
    let e = err(
        "sources: [{name: a, paths: [x], profile: http, multiline: {start: x, timeout: soon}}]\n",
    );
    assert!(e.contains("sources[0].multiline.timeout"), "{e}");
}

#[test]
fn profile_options_and_roles_are_checked() {
    let e = err(
        "sources: [{name: a, paths: [x], routes: ['/a'], metrics: [{name: c, type: counter}]}]\n",
    );
    assert!(
        e.contains("sources[0].routes") && e.contains("profile"),
        "{e}"
    );
    let e = err("sources: [{name: a, paths: [x], profile: http, fields: {request_urii: uri}}]\n");
    assert!(
        e.contains("sources[0].fields.request_urii") && e.contains("roles"),
        "{e}"
    );
    let e = err("sources: [{name: a, paths: [x], profile: http, buckets: {linear: {start: 1, width: 1, count: 0}}}]\n");
    assert!(e.contains("sources[0].buckets"), "{e}");
    let e = err("sources: [{name: a, paths: [x], format: json, profile: http, fields: {status: code}, tenant: {field: t, transform: nope}}]\n");
    assert!(e.contains("nope"), "{e}");
    // A field the format lacks: the message says which profile metric needed it.
    let e = err(
        "sources: [{name: a, paths: [x], format: {regex: '(?P<status>\\d+)'}, profile: http}]\n",
    );
    assert!(
        e.contains("sources[0].profile(http).http_requests_total")
            && e.contains("the http profile needs"),
        "{e}"
    );
}

#[test]
fn metrics_shared_by_sources_must_agree() {
    let e = err("sources:\n  - {name: a, paths: [x], profile: http, buckets: [1, 2]}\n  - {name: b, paths: [y], profile: http}\n");
    assert!(
        e.contains("sources[1].profile(http).http_request_duration_seconds.name")
            && e.contains("sources[0].profile(http).http_request_duration_seconds"),
        "{e}"
    );
    let ok = "sources:\n  - {name: a, paths: [x], profile: http, buckets: [1, 2]}\n  - {name: b, paths: [y], profile: http, buckets: [1, 2]}\n";
    assert!(Config::from_yaml(ok, "t.yml").is_ok());
    let e = err("sources:\n  - {name: a, paths: [x], metrics: [{name: c, type: counter, labels: {l: status}}]}\n  - {name: b, paths: [y], metrics: [{name: c, type: gauge, value: status}]}\n");
    assert!(
        e.contains("sources[1].metrics[0].name") && e.contains("sources[0].metrics[0]"),
        "{e}"
    );
}

#[test]
fn buckets_generators() {
    let gen = |linear, exponential| {
        RawBuckets::Gen(BucketGen {
            linear,
            exponential,
        })
    };
    let v = bucket_bounds(&gen(
        None,
        Some(Exponential {
            start: 0.001,
            factor: 10.0,
            count: 3,
        }),
    ))
    .unwrap();
    assert_eq!(v.len(), 3);
    assert!((v[2] - 0.1).abs() < 1e-12);
    let v = bucket_bounds(&gen(
        Some(Linear {
            start: 1.0,
            width: 0.5,
            count: 3,
        }),
        None,
    ))
    .unwrap();
    assert_eq!(v, [1.0, 1.5, 2.0]);
    assert!(bucket_bounds(&gen(None, None)).is_err());
    assert!(bucket_bounds(&gen(
        Some(Linear {
            start: 0.0,
            width: f64::NAN,
            count: 3
        }),
        None
    ))
    .is_err());
}

/// Issue 8: a huge `count` was generated (7.8 GB for 10^9) before being rejected. The count is
/// checked first now; `tests/cli.rs` proves it under a memory limit.
#[test]
fn bucket_count_is_checked_before_generating() {
    let huge = |count| {
        RawBuckets::Gen(BucketGen {
            linear: Some(Linear {
                start: 0.0,
                width: 1.0,
                count,
            }),
            exponential: None,
        })
    };
    let e = bucket_bounds(&huge(usize::MAX)).unwrap_err();
    assert!(e.contains("between 1 and 200"), "{e}");
    let e = err(&format!(
        "{BASE}      - {{name: h, type: histogram, value: request_time, buckets: {{exponential: {{start: 1, factor: 2, count: 1000000000}}}}}}\n"
    ));
    assert!(
        e.contains("sources[0].metrics[0].buckets") && e.contains("200"),
        "{e}"
    );
}

#[test]
fn nginx_format_variables_are_limited() {
    let many: String = (0..300).map(|i| format!("$v{i} ")).collect();
    let e = err(&format!(
        "sources: [{{name: a, paths: [x], format: {{nginx: '{many}'}}, metrics: [{{name: c, type: counter}}]}}]\n"
    ));
    assert!(
        e.contains("sources[0].format.nginx") && e.contains("at most 256"),
        "{e}"
    );
}

#[test]
fn fields_resolve_to_the_same_ids_in_the_rebuilt_parser() {
    // json numbers fields in the order they are asked for: the parser the rules build must
    // agree with the ids validation stored.
    let c = Config::from_yaml(
        "sources: [{name: a, paths: [x], format: json, metrics: [{name: c, type: counter, value: b, labels: {x: a, y: {template: '{c}-{a}'}}}]}]\n",
        "t.yml",
    )
    .unwrap();
    let src = &c.sources[0];
    let mut p = src.format.parser().unwrap();
    for (name, id) in [("b", 0), ("a", 1), ("c", 2)] {
        assert_eq!(p.field(name), Some(id), "{name}");
    }
    assert_eq!(p.field_count(), 3);
}

#[test]
fn unbounded_labels_warn_with_their_key() {
    let c = Config::from_yaml(
        &format!("{BASE}      - {{name: c, type: counter, labels: {{ip: remote_addr, route: {{field: request_uri, transform: route}}}}}}\n"),
        "t.yml",
    )
    .unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[0].contains("labels.ip") && c.warnings[0].contains("client IP"));
    assert!(
        c.warnings[1].contains("crosses two open labels, ip and route"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn label_constants_cannot_hold_control_characters() {
    for (spec, key) in [
        (r#"{value: "a\eb"}"#, "labels.l.value"),
        (r#"{field: status, default: "\r"}"#, "labels.l.default"),
        (
            r#"{field: status, values: [ok, "\u0007"]}"#,
            "labels.l.values[1]",
        ),
        (
            r#"{field: status, map: {"200": "\u009b"}}"#,
            "labels.l.map.200",
        ),
        (
            r#"{field: request_uri, transform: route, patterns: ["/a\e"]}"#,
            "labels.l.patterns[0]",
        ),
    ] {
        let e = err(&format!(
            "{BASE}      - {{name: c, type: counter, labels: {{l: {spec}}}}}\n"
        ));
        assert!(e.contains(key) && e.contains("control"), "{spec}: {e}");
    }
}

#[test]
fn time_keys_are_checked_with_their_key_path() {
    let src = "sources:\n  - name: a\n    paths: [x]\n    profile: http\n";
    let e = err(&format!("{src}    time: {{layout: '%Q'}}\n"));
    assert!(
        e.contains("sources[0].time.layout") && e.contains("%Q"),
        "{e}"
    );
    let e = err(&format!("{src}    time: {{zone: Mars/Olympus}}\n"));
    assert!(e.contains("sources[0].time.zone"), "{e}");
    let e = err(&format!("{src}    time: {{field: nope}}\n"));
    assert!(
        e.contains("sources[0].time.field") && e.contains("nope"),
        "{e}"
    );
    let ok = Config::from_yaml(
        &format!("{src}    time: {{field: time_local, layout: access, zone: '+09:00'}}\n"),
        "t.yml",
    )
    .unwrap();
    let t = &ok.sources[0].time;
    assert_eq!(t.field.as_deref(), Some("time_local"));
    assert_eq!(t.zone, crate::parse::time::Zone::Fixed(9 * 3600));
}

#[test]
fn gauge_now_takes_no_value() {
    let c = Config::from_yaml(
        &format!("{BASE}      - {{name: t, type: gauge, action: now, match: {{status: '500'}}}}\n"),
        "t.yml",
    )
    .unwrap();
    assert_eq!(
        c.sources[0].metrics[0].action,
        crate::config::Action::SetNow
    );
    let e = err(&format!(
        "{BASE}      - {{name: t, type: gauge, action: now, value: status}}\n"
    ));
    assert!(
        e.contains("metrics[0].value") && e.contains("no `value`"),
        "{e}"
    );
    let e = err(&format!(
        "{BASE}      - {{name: t, type: counter, action: now}}\n"
    ));
    assert!(e.contains("metrics[0].action"), "{e}");
    let e = err(&format!("{BASE}      - {{name: t, type: gauge}}\n"));
    assert!(e.contains("action: now"), "{e}");
}

#[test]
fn line_view_defaults_and_checks() {
    let c = Config::from_yaml(
        "sources:\n  - {name: web, paths: [x], profile: http, exemplar_field: remote_user}\n  - {name: app, paths: [y], format: json, metrics: [{name: a_total, type: counter}]}\n",
        "t.yml",
    )
    .unwrap();
    let g = &c.global.lines;
    assert_eq!(
        (g.max_bytes, g.max_bytes_per_source, g.max_line_bytes),
        (8 << 20, 1 << 20, 2048)
    );
    assert!(g.redact.addresses && g.redact.query && g.redact.emails && !g.allow_unauthenticated);
    let web = &c.sources[0].lines;
    let names: Vec<&str> = web.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["route", "menu", "status", "method", "remote_user"]);
    assert_eq!(web.exemplar, Some(4));
    assert_eq!(
        (web.keep.len(), web.keep[0].len(), web.unparsed),
        (1, 2, true)
    );
    assert_eq!(web.max_bytes, 1 << 20);
    // No profile: only lines that do not parse, unless told.
    let app = &c.sources[1].lines;
    assert!(app.keep.is_empty() && app.unparsed && app.fields.is_empty() && app.enabled());

    let off = Config::from_yaml(
        "global: {lines: {max_bytes: 0}}\nsources:\n  - {name: web, paths: [x], profile: http}\n",
        "t.yml",
    )
    .unwrap();
    assert!(!off.sources[0].lines.enabled());

    let src = "sources:\n  - name: web\n    paths: [x]\n    profile: http\n";
    for (yaml, want) in [
        (
            format!("{src}    lines: {{keep: [{{}}]}}\n"),
            "sources[0].lines.keep[0]: an empty entry",
        ),
        (
            format!("{src}    lines: {{keep: [{{nope: 1}}]}}\n"),
            "sources[0].lines.keep[0].nope: field \"nope\" does not exist",
        ),
        (
            format!("{src}    lines: {{fields: {{limit: status}}}}\n"),
            "sources[0].lines.fields.limit: \"limit\" is a query parameter",
        ),
        (
            format!("{src}    lines: {{max_bytes: 99999999}}\n"),
            "sources[0].lines.max_bytes: 99999999 is more than global.lines.max_bytes",
        ),
        (
            format!("global: {{lines: {{redact: {{patterns: ['(']}}}}}}\n{src}"),
            "global.lines.redact.patterns[0]: invalid regex",
        ),
        (
            format!("global: {{lines: {{redact: {{patterns: ['x*']}}}}}}\n{src}"),
            "global.lines.redact.patterns[0]: matches the empty string",
        ),
        (
            format!("global: {{lines: {{max_line_bytes: 10}}}}\n{src}"),
            "global.lines.max_line_bytes: must be at least 64",
        ),
    ] {
        let e = err(&yaml);
        assert!(e.contains(want), "{yaml}\n{e}");
    }
}

#[test]
fn a_path_prefix_is_segments_or_stars() {
    for bad in ["t/*", "/", "/t//x", "/t/(a|b)", "/t/*?"] {
        let e = err(&format!(
            "sources: [{{name: a, paths: [x], profile: http, path_prefix: '{bad}'}}]\n"
        ));
        assert!(
            e.contains("sources[0].path_prefix") && e.contains("e.g. /t/*"),
            "{bad}: {e}"
        );
    }
    let e = err("sources: [{name: a, paths: [x], profile: app, path_prefix: /t/*}]\n");
    assert!(e.contains("sources[0].path_prefix"), "{e}");
}

/// Regression: the YAML parser's default budget of 250,000 nodes refused a config of about
/// 45,000 metrics ("budget breached: Nodes"); the 4 MiB byte cap is the limit now.
#[test]
fn a_config_of_fifty_thousand_metrics_loads_and_an_alias_flood_is_named() {
    let mut yaml = String::from(
        "sources:\n  - name: web\n    paths: [/x.log]\n    format: auto\n    metrics:\n",
    );
    for i in 0..50_000 {
        yaml.push_str(&format!("      - {{name: m{i}_total, type: counter}}\n"));
    }
    let c = Config::from_yaml(&yaml, "t.yml").expect("50,000 metrics load");
    assert_eq!(c.sources[0].metrics.len(), 50_000);
    // Alias budgets stay (an alias is the billion-laughs tool): a clear message.
    let aliases = format!(
        "sources:\n  - name: web\n    paths: [/x.log]\n    format: auto\n    metrics: [&m {{name: a_total, type: counter}}, {}*m]\n",
        "*m, ".repeat(60_000)
    );
    let e = err(&aliases);
    assert!(
        e.starts_with("t.yml:") && e.contains("parser limit against hostile input"),
        "{e}"
    );
}
