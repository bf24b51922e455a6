//! A real Prometheus (Debian's 2.42, `--enable-feature=exemplar-storage`) scrapes the agent: it
//! negotiates OpenMetrics, ingests the same series as from the text format, and serves the
//! exemplars from `/api/v1/query_exemplars`: the request ids of the lines, or line references.

#[path = "common/stack.rs"]
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::*;

fn api(prom: SocketAddr, path: &str) -> Option<Value> {
    let r = get(prom, path).ok()?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    (v["status"] == "success").then_some(v)
}

fn value(prom: SocketAddr, q: &str) -> Option<f64> {
    let v = api(prom, &format!("/api/v1/query?query={}", urlencode(q)))?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// (exemplar label name, value) of every exemplar of `q` over the last hour.
fn exemplars(prom: SocketAddr, q: &str) -> BTreeSet<(String, String)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        urlencode(q),
        now - 3600,
        now + 60
    );
    let mut out = BTreeSet::new();
    if let Some(v) = api(prom, &path) {
        for series in v["data"].as_array().into_iter().flatten() {
            for e in series["exemplars"].as_array().into_iter().flatten() {
                for (k, v) in e["labels"].as_object().into_iter().flatten() {
                    out.insert((k.clone(), v.as_str().unwrap_or_default().to_string()));
                }
            }
        }
    }
    out
}

fn line(i: usize, method: &str, path: &str, status: u16, id: &str) -> String {
    format!(
        "192.0.2.9 - - [25/Nov/2026:10:00:00 +0900] \"{method} {path} HTTP/1.1\" {status} 12 \"-\" \"curl/8\" 0.{:03} {id}\n",
        100 + i
    )
}

#[test]
fn prometheus_scrapes_openmetrics_and_stores_exemplars() {
    let prometheus = tool("prometheus");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (agent_port, prom_port) = (free_port(), free_port());
    let agent_addr: SocketAddr = format!("127.0.0.1:{agent_port}").parse().unwrap();
    let prom: SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();

    let access = dir.join("access.log");
    write(&access, "");
    let agent_cfg = dir.join("logpulse.yml");
    write(
        &agent_cfg,
        &format!(
            "global:\n  state_dir: {}\nsources:\n  - name: web\n    paths: [\"{}\"]\n    start_at: beginning\n    format: {{nginx: '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time $request_id'}}\n    profile: http\n    exemplar_field: request_id\n",
            dir.join("state").display(),
            access.display()
        ),
    );
    let mut agent = Proc::spawn(
        "logpulse",
        &mut logpulse_cmd(&agent_cfg, agent_addr),
        dir.join("logpulse.log"),
    );
    let prom_cfg = dir.join("prometheus.yml");
    write(
        &prom_cfg,
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - job_name: logpulse\n    static_configs: [{{targets: [\"{agent_addr}\"]}}]\n"
        ),
    );
    let mut prom_proc = Proc::spawn(
        "prometheus",
        prometheus_cmd(&prometheus, &prom_cfg, &dir.join("tsdb"), prom)
            .arg("--enable-feature=exemplar-storage"),
        dir.join("prometheus.log"),
    );

    // Two bursts more than a second apart (a slot takes one exemplar a second): 500s with
    // request ids, then 500s without one (`-`), which get line references instead.
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&line(i, "POST", "/api/orders", 500, &format!("req-a{i}")));
        text.push_str(&line(i, "GET", "/mail/list", 200, &format!("ok-{i}")));
    }
    std::fs::write(&access, &text).unwrap();
    let q500 = "sum(http_requests_total{job=\"logpulse\",status=\"500\"})";
    let scraped = |want: f64| {
        wait_for(Duration::from_secs(40), Duration::from_millis(250), || {
            (value(prom, q500) == Some(want)).then_some(())
        })
    };
    // Prometheus keeps the exemplar it scraped; a later one replaces it only in the agent.
    if scraped(20.0).is_none() {
        agent.assert_running();
        prom_proc.assert_running();
        panic!(
            "Prometheus never saw the first 20 requests with status 500 (last {:?})\n{}\n{}",
            value(prom, q500),
            agent.log(),
            prom_proc.log()
        );
    }
    std::thread::sleep(Duration::from_millis(1100));
    let mut more = String::new();
    for i in 0..10 {
        more.push_str(&line(i, "POST", "/api/orders", 500, "-"));
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&access)
        .unwrap();
    std::io::Write::write_all(&mut f, more.as_bytes()).unwrap();

    assert!(
        scraped(30.0).is_some(),
        "Prometheus never saw 30 requests with status 500 (last {:?})\n{}",
        value(prom, q500),
        prom_proc.log()
    );
    // OpenMetrics was negotiated, and counters keep their names.
    assert_eq!(
        value(prom, "count({__name__=~\".*_total_total\"}) or vector(0)"),
        Some(0.0)
    );
    assert_eq!(
        value(prom, "sum(http_requests_total{job=\"logpulse\"})"),
        Some(50.0)
    );

    let want_ids: BTreeSet<String> = (0..20).map(|i| format!("req-a{i}")).collect();
    let found = wait_for(Duration::from_secs(20), Duration::from_millis(500), || {
        let ex = exemplars(prom, "http_requests_total{status=\"500\"}");
        let has_id = ex
            .iter()
            .any(|(k, v)| k == "request_id" && want_ids.contains(v));
        let line_ref = ex.iter().find(|(k, _)| k == "line_ref").cloned();
        (has_id && line_ref.is_some()).then_some((ex, line_ref))
    });
    let Some((ex, Some((_, line_ref)))) = found else {
        panic!(
            "no request_id and line_ref exemplars on the 500s: {:?}\n{}",
            exemplars(prom, "http_requests_total{status=\"500\"}"),
            prom_proc.log()
        );
    };
    assert!(
        ex.iter()
            .all(|(k, v)| (k == "request_id" && want_ids.contains(v)) || k == "line_ref"),
        "exemplars of the 500s name only 500 lines: {ex:?}"
    );
    let r: logpulse::rules::LineRef = line_ref.parse().expect("a line reference");
    // The `-` lines are records 40..50 of this source.
    assert!(r.source == "web" && (40..50).contains(&r.seq), "{line_ref}");
    let buckets = exemplars(
        prom,
        "http_request_duration_seconds_bucket{route=\"/mail/list\"}",
    );
    assert!(
        buckets
            .iter()
            .any(|(k, v)| k == "request_id" && v.starts_with("ok-")),
        "histogram buckets carry exemplars: {buckets:?}"
    );
}
