//! `/metrics` by content negotiation: OpenMetrics 1.0 (with exemplars) when asked for, checked
//! by an independent parser (the Python `prometheus_client` OpenMetrics parser, Debian package
//! `python3-prometheus-client`); the text format otherwise, checked by `promtool`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Agent;

const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// GET /metrics with an `Accept` header (HTTP/1.0: the body ends at close); (content type, body).
fn scrape(port: u16, accept: Option<&str>) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n{accept}\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .expect("content-type");
    (ctype, body.to_string())
}

/// Parse with prometheus_client's OpenMetrics parser; returns one line per exemplar:
/// `sample_name label=value`.
fn python_openmetrics(body: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        if s.exemplar:
            for k, v in s.exemplar.labels.items():
                print(s.name, k + "=" + v)
"#;
    // The Debian package installs into the system interpreter, whatever else is on PATH.
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 not found: run scripts/setup");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser rejected the exposition: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn openmetrics_when_asked_text_otherwise_both_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (web, app) = (dir.path().join("access.log"), dir.path().join("app.log"));
    std::fs::write(&web, "").unwrap();
    std::fs::write(&app, "").unwrap();
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {state}\nsources:\n\
             \x20 - name: web\n    paths: [\"{web}\"]\n    start_at: beginning\n\
             \x20   format: {{nginx: '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time $request_id'}}\n\
             \x20   profile: http\n    exemplar_field: request_id\n\
             \x20 - name: app\n    paths: [\"{app}\"]\n    start_at: beginning\n    format: json\n\
             \x20   metrics:\n\
             \x20     - {{name: app_events_total, type: counter, labels: {{level: {{field: level, values: [info, error]}}}}}}\n\
             \x20     - {{name: app_queue_depth, type: gauge, value: depth}}\n\
             \x20     - {{name: app_hits, type: counter, help: 'no _total: \"unknown\" in OpenMetrics'}}\n",
            state = dir.path().join("state").display(),
            web = web.display(),
            app = app.display(),
        ),
    )
    .unwrap();
    let agent = Agent::start(&cfg, dir.path());
    let mut lines = String::new();
    for (i, (m, path, status)) in [
        ("GET", "/mail/list", 200),
        ("POST", "/api/orders", 500),
        ("GET", "/q\"uote\\back", 404),
    ]
    .iter()
    .enumerate()
    {
        lines.push_str(&format!(
            "192.0.2.1 - - [25/Nov/2026:10:00:0{i} +0900] \"{m} {path} HTTP/1.1\" {status} 12 \"-\" \"curl/8\" 0.0{i}2 req-{i}abc\n"
        ));
    }
    common::append(&web, lines.as_bytes());
    common::append(
        &app,
        b"{\"level\":\"error\",\"depth\":3}\n{\"level\":\"info\",\"depth\":-2.5}\n",
    );
    agent.wait_value("logpulse_lines_total{source=\"app\"}", 2.0, 20);
    agent.wait_value("logpulse_lines_total{source=\"web\"}", 3.0, 20);
    // A new series is scraped at 0 first (docs/metrics.md), then with its value.
    for series in [
        "http_requests_total{method=\"POST\",route=\"/api/orders\",source=\"web\",status=\"500\"}",
        "app_events_total{level=\"error\"}",
    ] {
        agent.wait_value(series, 1.0, 20);
    }

    let (ctype, om) = scrape(agent.port, Some(OPENMETRICS));
    assert_eq!(
        ctype,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE http_requests counter\n"), "{om}");
    assert!(om.contains("# TYPE app_hits unknown\n"), "{om}");
    let exemplars = python_openmetrics(&om);
    // Counters take the request id of the line; histogram buckets too.
    assert!(
        exemplars.contains(&"http_requests_total request_id=req-1abc".to_string()),
        "{exemplars:?}"
    );
    assert!(
        exemplars
            .iter()
            .any(|e| e.starts_with("http_request_duration_seconds_bucket request_id=req-")),
        "{exemplars:?}"
    );
    // Without an exemplar field, a reference to the line: source, run, record number.
    let app_refs: Vec<&String> = exemplars
        .iter()
        .filter(|e| e.starts_with("app_events_total "))
        .collect();
    assert_eq!(app_refs.len(), 2, "{exemplars:?}");
    for r in &app_refs {
        let v = r.split_once("line_ref=").expect("line_ref").1;
        let parsed: logpulse::rules::LineRef = v.parse().expect("a line reference");
        assert_eq!(parsed.source, "app");
        assert!(parsed.seq < 2, "{v}");
    }
    // Gauges and counters without `_total` carry none.
    assert!(!exemplars
        .iter()
        .any(|e| e.starts_with("app_queue_depth") || e.starts_with("app_hits")));

    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let (ctype, text) = scrape(agent.port, accept);
        assert_eq!(
            ctype, "text/plain; version=0.0.4; charset=utf-8",
            "{accept:?}"
        );
        assert!(!text.contains("# EOF") && !text.contains(" # {"), "{text}");
        // promtool's lint wants `_total` on counters; app_hits lacks it on purpose.
        let linted: String = text
            .lines()
            .filter(|l| !l.contains("app_hits"))
            .map(|l| format!("{l}\n"))
            .collect();
        common::promtool_check(&linted);
    }
    // Same series and values in both formats.
    let (_, text) = scrape(agent.port, None);
    for series in [
        "http_requests_total{method=\"POST\",route=\"/api/orders\",source=\"web\",status=\"500\"}",
        "app_events_total{level=\"error\"}",
        "app_queue_depth",
    ] {
        let v = common::sample(&text, series);
        assert!(v.is_some(), "{series} in {text}");
        assert!(
            om.lines().any(|l| l
                .strip_prefix(series)
                .and_then(|r| r.strip_prefix(' '))
                .is_some_and(|r| r.split(' ').next().and_then(|x| x.parse::<f64>().ok()) == v)),
            "{series} differs in OpenMetrics:\n{om}"
        );
    }
}
