//! A real Prometheus scrapes agents secured by `--web.config.file`: over https with
//! `tls_config.ca_file` and `basic_auth`, with a client certificate, and (to be refused) with a
//! wrong password, without a client certificate, and over plain http. Prometheus asks for gzip:
//! it gets it.
//! Tools missing: the test fails with "run scripts/setup". Loopback only, free ports.

mod common;
#[path = "common/stack.rs"]
mod support;
#[path = "common/web.rs"]
mod web;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;
use web::{bcrypt_hash, https_get, Client, Pki};

fn agent(dir: &Path, name: &'static str, web_yml: &str, lines: usize) -> (Proc, u16) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let log = d.join("access.log");
    let text: String = (0..lines)
        .map(|i| format!("192.0.2.1 - - [25/Nov/2026:10:00:{:02} +0900] \"GET /mail/view/{i} HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0\"\n", i % 60))
        .collect();
    write(&log, &text);
    write(
        &d.join("logpulse.yml"),
        &format!(
            "global:\n  state_dir: {}\nsources:\n  - name: web\n    paths: ['{}']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            d.join("state").display(),
            log.display()
        ),
    );
    write(&d.join("web.yml"), web_yml);
    let port = free_port();
    let p = Proc::spawn(
        name,
        logpulse_cmd(&d.join("logpulse.yml"), format!("127.0.0.1:{port}"))
            .arg("--web.config.file")
            .arg(d.join("web.yml")),
        d.join("agent.log"),
    );
    (p, port)
}

fn targets(prom: std::net::SocketAddr) -> Option<Vec<(String, String, String)>> {
    let r = get(prom, "/api/v1/targets").ok()?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    Some(
        v["data"]["activeTargets"]
            .as_array()?
            .iter()
            .map(|t| {
                let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
                (
                    t["labels"]["job"].as_str().unwrap_or("").to_string(),
                    s("health"),
                    s("lastError"),
                )
            })
            .collect(),
    )
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth_and_client_certificates() {
    let prometheus = tool("prometheus");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = Pki::new(dir, "stack");
    let (mut a, a_port) = agent(
        dir,
        "auth",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: '{}'\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            bcrypt_hash("scrape-pw")
        ),
        7,
    );
    let (mut b, b_port) = agent(
        dir,
        "mtls",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        ),
        5,
    );
    let ca = Client {
        ca: Some(pki.ca.as_path()),
        cert: Some((pki.client_cert.as_path(), pki.client_key.as_path())),
        ..Client::default()
    };
    for (p, port) in [(&mut a, a_port), (&mut b, b_port)] {
        if wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            https_get(port, "/healthz", &ca)
                .ok()
                .filter(|r| r.status == 200)
        })
        .is_none()
        {
            p.assert_running();
            panic!("{} not ready\n{}", p.name, p.log());
        }
    }

    let prom_port = free_port();
    let prom: std::net::SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let tls = |extra: &str| format!("{{ca_file: '{}'{extra}}}", pki.ca.display());
    let client = format!(
        ", cert_file: '{}', key_file: '{}'",
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let cfg = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n\
         - job_name: auth_ok\n  scheme: https\n  tls_config: {}\n  basic_auth: {{username: prometheus, password: scrape-pw}}\n  static_configs: [{{targets: ['localhost:{a_port}']}}]\n\
         - job_name: auth_wrong\n  scheme: https\n  tls_config: {}\n  basic_auth: {{username: prometheus, password: guess}}\n  static_configs: [{{targets: ['localhost:{a_port}']}}]\n\
         - job_name: plain_to_tls\n  static_configs: [{{targets: ['localhost:{a_port}']}}]\n\
         - job_name: mtls_ok\n  scheme: https\n  tls_config: {}\n  static_configs: [{{targets: ['127.0.0.1:{b_port}']}}]\n\
         - job_name: mtls_no_cert\n  scheme: https\n  tls_config: {}\n  static_configs: [{{targets: ['127.0.0.1:{b_port}']}}]\n",
        tls(""),
        tls(""),
        tls(&client),
        tls(""),
    );
    write(&dir.join("prometheus.yml"), &cfg);
    let mut p = Proc::spawn(
        "prometheus",
        &mut prometheus_cmd(
            &prometheus,
            &dir.join("prometheus.yml"),
            &dir.join("tsdb"),
            prom,
        ),
        dir.join("prometheus.log"),
    );

    let want = [
        ("auth_ok", "up", ""),
        ("auth_wrong", "down", "401"),
        ("plain_to_tls", "down", "400"),
        ("mtls_ok", "up", ""),
        ("mtls_no_cert", "down", "certificate"),
    ];
    let mut last = None;
    let settled = wait_for(Duration::from_secs(40), Duration::from_millis(250), || {
        let t = targets(prom)?;
        last = Some(t.clone());
        want.iter()
            .all(|(job, health, err)| {
                t.iter()
                    .any(|(j, h, e)| j == job && h == health && e.to_lowercase().contains(err))
            })
            .then_some(t)
    });
    if settled.is_none() {
        p.assert_running();
        panic!(
            "targets never reached {want:?}; last: {last:?}\n{}\n{}\n{}",
            p.log(),
            a.log(),
            b.log()
        );
    }
    // And the data came through: every line of each agent.
    let q = |expr: &str| -> Option<f64> {
        let r = get(prom, &format!("/api/v1/query?query={}", urlencode(expr))).ok()?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    // A counter is scraped at 0 first (docs/metrics.md), then with its value.
    for (job, n) in [("auth_ok", 7.0), ("mtls_ok", 5.0)] {
        let expr = format!("logpulse_lines_total{{job=\"{job}\"}}");
        let got = wait_for(Duration::from_secs(20), Duration::from_millis(250), || {
            q(&expr).filter(|v| *v == n)
        });
        assert_eq!(got, Some(n), "{expr}: {:?}", q(&expr));
    }
    // Prometheus asks for gzip and got it on every scrape (the agent counts them; a scrape
    // shows the ones before it), and decoded it: the values above came through.
    let gzipped = wait_for(Duration::from_secs(20), Duration::from_millis(250), || {
        q("sum(logpulse_http_scrapes_total{job=\"auth_ok\",encoding=\"gzip\"})")
            .filter(|n| *n >= 2.0)
    });
    assert!(gzipped.is_some(), "no gzip scrape counted\n{}", a.log());
    assert_eq!(
        q("sum(logpulse_http_scrapes_total{job=\"auth_ok\",encoding=\"identity\"})"),
        Some(0.0),
        "a scrape by Prometheus was not compressed"
    );
}

/// The deploy files as shipped: deploy/web/make-web-config.sh makes the CA, certificate,
/// password and web.yml (openssl and htpasswd, as in the compose stack); the agent loads that
/// web.yml, and Prometheus with deploy/prometheus/prometheus.yml (the compose agent's address
/// pointed at this one) scrapes it with web/ca.pem and web/scrape-password.
#[test]
fn the_shipped_deploy_files_scrape_over_tls_with_basic_auth() {
    let prometheus = tool("prometheus");
    tool("openssl");
    tool("htpasswd");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let prom_dir = dir.join("prometheus");
    let web_dir = prom_dir.join("web");
    run_ok(
        Command::new("sh")
            .arg(repo().join("deploy/web/make-web-config.sh"))
            .arg(&web_dir)
            .args(["logpulse", "localhost"]),
    );
    // The agent reads the generated web.yml from elsewhere: its relative paths made absolute.
    let web_yml = read(&web_dir.join("web.yml"))
        .replace("tls.crt", &web_dir.join("tls.crt").display().to_string())
        .replace("tls.key", &web_dir.join("tls.key").display().to_string());
    let (mut a, port) = agent(dir, "shipped", &web_yml, 4);
    let password = read(&web_dir.join("scrape-password")).trim().to_string();
    let ca = web_dir.join("ca.pem");
    let with_pw = Client {
        ca: Some(ca.as_path()),
        basic: Some(("prometheus", password.as_str())),
        ..Client::default()
    };
    if wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
        https_get(port, "/metrics", &with_pw)
            .ok()
            .filter(|r| r.status == 200)
    })
    .is_none()
    {
        a.assert_running();
        panic!("agent with the generated web.yml not ready\n{}", a.log());
    }
    let anon = Client {
        ca: Some(ca.as_path()),
        ..Client::default()
    };
    assert_eq!(
        https_get(port, "/metrics", &anon).expect("https").status,
        401
    );

    write(
        &prom_dir.join("prometheus.yml"),
        &read(&repo().join("deploy/prometheus/prometheus.yml"))
            .replace("logpulse:9145", &format!("localhost:{port}")),
    );
    write(
        &prom_dir.join("rules/logpulse.rules.yml"),
        &read(&repo().join("alert-rules/logpulse.rules.yml")),
    );
    let prom_port = free_port();
    let prom: std::net::SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let mut p = Proc::spawn(
        "prometheus",
        &mut prometheus_cmd(
            &prometheus,
            &prom_dir.join("prometheus.yml"),
            &dir.join("tsdb"),
            prom,
        ),
        dir.join("prometheus.log"),
    );
    let up = wait_for(Duration::from_secs(40), Duration::from_millis(250), || {
        targets(prom)?
            .into_iter()
            .find(|(j, h, _)| j == "logpulse-static" && h == "up")
    });
    if up.is_none() {
        p.assert_running();
        panic!(
            "logpulse-static never up: {:?}\n{}\n{}",
            targets(prom),
            p.log(),
            a.log()
        );
    }
}

/// The Kubernetes manifests wire the web config: the DaemonSet passes --web.config.file from a
/// mounted secret and probes over HTTPS; the PodMonitor scrapes over https with basic auth.
#[test]
fn kubernetes_manifests_scrape_over_tls_with_basic_auth() {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&read(&repo().join("deploy/kubernetes/daemonset.yaml")))
            .expect("daemonset.yaml");
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("a DaemonSet");
    let c = &ds["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let i = args
        .iter()
        .position(|a| *a == "--web.config.file")
        .expect("--web.config.file");
    let web = args[i + 1];
    let mounted = c["volumeMounts"].as_array().unwrap().iter().any(|m| {
        m["mountPath"]
            .as_str()
            .is_some_and(|p| web.starts_with(&format!("{p}/")))
    });
    assert!(mounted, "{web} is not on a mounted volume");
    assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    let pm = yaml(&repo().join("deploy/kubernetes/podmonitor.yaml"));
    let ep = &pm["spec"]["podMetricsEndpoints"][0];
    assert_eq!(ep["scheme"], "https");
    assert!(ep["basicAuth"]["password"]["name"].is_string());
    assert!(ep["tlsConfig"]["ca"]["secret"]["name"].is_string());
    assert!(ep["tlsConfig"]["serverName"].is_string());
}
