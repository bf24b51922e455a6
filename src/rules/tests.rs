use super::*;

fn compile(yaml: &str) -> (Store, SourceRules) {
    let cfg = Config::from_yaml(yaml, "t.yml").expect("config");
    let store = Store::new();
    let rules = SourceRules::compile(&cfg, 0, &store).expect("rules");
    (store, rules)
}

fn render(store: &Store) -> String {
    let mut out = String::new();
    crate::export::encode(crate::export::Format::Text, &[store], &mut out);
    out
}

#[test]
fn route_memo_is_kept_per_pattern_list() {
    // Three route labels on the same URI: two pattern lists that disagree, and a repeat of
    // the first. Each must get its own list's route, line after line.
    let (store, mut rules) = compile(
        r#"
sources:
  - name: s
    paths: [/dev/null]
    format: combined
    metrics:
      - {name: a_total, type: counter, labels: {r: {field: uri, transform: route, patterns: ["/u/:user"]}}}
      - {name: b_total, type: counter, labels: {r: {field: uri, transform: route}}}
      - {name: c_total, type: counter, labels: {r: {field: uri, transform: route, patterns: ["/u/:user"]}}}
"#,
    );
    for uri in ["/u/alice", "/u/alice", "/u/42", "/u/bob"] {
        let line = format!(
            r#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET {uri} HTTP/1.1" 200 5 "-" "x""#
        );
        assert_eq!(rules.apply(line.as_bytes()), Ok(3));
    }
    let out = render(&store);
    assert!(out.contains("a_total{r=\"/u/:user\"} 4\n"), "{out}");
    assert!(out.contains("c_total{r=\"/u/:user\"} 4\n"), "{out}");
    assert!(out.contains("b_total{r=\"/u/alice\"} 2\n"), "{out}");
    assert!(out.contains("b_total{r=\"/u/:id\"} 1\n"), "{out}");
    assert!(out.contains("b_total{r=\"/u/bob\"} 1\n"), "{out}");
    // a and c share one computation (same list); b has its own.
    assert_eq!(rules.labels.len(), 2);
}

#[test]
fn metrics_share_a_label_computation_and_each_line_gets_its_own() {
    // Same field and transform under different names and in different metrics: one
    // computation, redone for every line (a missing value on one line must not stick).
    let (store, mut rules) = compile(
        r#"
sources:
  - name: s
    paths: [/dev/null]
    format: combined
    metrics:
      - {name: a_total, type: counter, labels: {d: {field: http_user_agent, transform: device}, m: {field: request_method, transform: method}, k: {value: x}}}
      - {name: b_total, type: counter, labels: {device: {field: http_user_agent, transform: device}, k: {value: x}}}
      - {name: c_total, type: counter, labels: {app: {field: http_user_agent, transform: app}, k: {value: z}}}
"#,
    );
    // device, method, "x", app, "z"
    assert_eq!(rules.labels.len(), 5);
    let line = |ua: &str| {
        format!(r#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "{ua}""#)
    };
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36";
    let bot = "Googlebot/2.1 (+http://www.google.com/bot.html)";
    assert_eq!(rules.apply(line(chrome).as_bytes()), Ok(2));
    assert_eq!(rules.apply(line(bot).as_bytes()), Ok(2));
    assert_eq!(rules.apply(line(chrome).as_bytes()), Ok(2));
    let out = render(&store);
    assert!(
        out.contains("a_total{d=\"desktop\",k=\"x\",m=\"GET\"} 2\n"),
        "{out}"
    );
    assert!(
        out.contains("a_total{d=\"bot\",k=\"x\",m=\"GET\"} 1\n"),
        "{out}"
    );
    assert!(
        out.contains("b_total{device=\"desktop\",k=\"x\"} 2\n"),
        "{out}"
    );
    assert!(out.contains("b_total{device=\"bot\",k=\"x\"} 1\n"), "{out}");
    assert!(!out.contains("c_total{"), "{out}");
}

/// Issue 8: the `route` label kept ESC and other control characters from the URI.
#[test]
fn label_values_never_carry_control_characters() {
    let (store, mut rules) = compile(
        r#"
sources:
  - name: s
    paths: [/dev/null]
    format: json
    profile: http
    fields: {request_method: m, request_uri: u, status: s, body_bytes_sent: b, http_user_agent: ua}
    metrics:
      - {name: raw_total, type: counter, labels: {u: u, t: {template: "{m}{u}"}, l: {field: u, transform: lower}}}
"#,
    );
    let line = br#"{"m":"GET","u":"/a\u001b]0;x\u0007/\u009b2J/b\r\n","s":"200","b":"1","ua":"x"}"#;
    // requests, bytes, device, menu, referrer (json may have any field: none is `direct`), a
    // page view (a GET answered 200 by an agent that is no bot) and its referrer, raw.
    assert_eq!(rules.apply(line), Ok(8));
    let out = render(&store);
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "control character in output:\n{}",
        escape_control(&out)
    );
    // A route segment holding a control byte is an id; other labels get U+FFFD.
    assert!(out.contains("route=\"/:id/:id/:id\""), "{out}");
    let v = "/a\u{fffd}]0;x\u{fffd}/\u{fffd}2J/b\u{fffd}\u{fffd}";
    let raw = format!(
        "raw_total{{l=\"{}\",t=\"GET{v}\",u=\"{v}\"}} 1",
        v.replace("2J", "2j")
    );
    assert!(out.contains(&raw), "{out}");
}

#[test]
fn known_values_are_declared_and_huge_products_are_not() {
    let (store, _rules) = compile(
        r#"
sources:
  - name: s
    paths: [/dev/null]
    format: combined
    metrics:
      - {name: d_total, type: counter, labels: {d: {field: http_user_agent, transform: device}, k: {value: x}}}
      - {name: big_total, type: counter, labels: {a: {field: status, values: [a, b, c, d, e, f, g, h, i, j, k]}, b: {field: status, values: [a, b, c, d, e, f, g, h, i, j, k]}, c: {field: status, values: [a, b, c, d, e, f, g, h, i, j, k]}}}
"#,
    );
    let out = render(&store);
    assert!(
        out.contains("d_total{d=\"mobile_app\",k=\"x\"} 0\n"),
        "{out}"
    );
    assert!(!out.contains("big_total{"), "{out}");
}

/// Issue 8: past the series limit only unbounded labels fold, so the families must say which
/// labels are bounded.
#[test]
fn families_say_which_labels_keep_their_values_at_the_limit() {
    let (store, _rules) = compile(
        r#"
sources:
  - name: s
    paths: [/dev/null]
    format: combined
    profile: http
    tenant: {field: remote_user}
    metrics:
      - name: mine_total
        type: counter
        labels:
          level: {field: request_method, transform: lower, values: [get, post]}
          tier: {field: remote_user, map: {a: paid}, default: free}
          raw: remote_user
          lower: {field: request_method, transform: lower}
"#,
    );
    let bounded = |metric: &str| -> Vec<(String, bool)> {
        let f = store
            .families()
            .into_iter()
            .find(|f| f.desc().name == metric)
            .expect(metric);
        let mut v: Vec<(String, bool)> = f
            .desc()
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.bounded))
            .collect();
        v.sort();
        v
    };
    let l = |n: &str, b: bool| (n.to_string(), b);
    assert_eq!(
        bounded("http_requests_total"),
        [
            l("method", true),
            l("route", false),
            l("source", true),
            l("status", true)
        ]
    );
    assert_eq!(
        bounded("http_tenant_errors_total"),
        [
            l("menu", true),
            l("source", true),
            l("status_class", true),
            l("tenant", false)
        ]
    );
    assert_eq!(
        bounded("http_tenant_requests_total"),
        [
            l("device", true),
            l("menu", true),
            l("source", true),
            l("tenant", false)
        ]
    );
    assert_eq!(
        bounded("http_client_requests_total"),
        [l("device", true), l("source", true)]
    );
    assert_eq!(
        bounded("mine_total"),
        [
            l("level", true),
            l("lower", false),
            l("raw", false),
            l("tier", true)
        ]
    );
}
