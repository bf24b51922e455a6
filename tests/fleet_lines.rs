//! `logpulse lines --prometheus URL`: one view of the lines of a fleet. A real Prometheus knows
//! four targets of job `logpulse`: two agents serving https with a client certificate required
//! and basic auth (the scrape job's `tls_config` and `basic_auth` are the client config's
//! `agents:` block, copied), a server that accepts connections and never answers, and a port
//! nothing listens on. The command must merge the agents' lines newest first with their
//! servers, list the two others with the reason, and say so in its exit code; credentials
//! come from a file, flags plus a password file, or the environment, and wrong ones are named.
//! Loopback only, free ports, ends by itself.

mod common;
#[path = "common/stack.rs"]
mod support;
#[path = "common/web.rs"]
mod web;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::*;
use web::{bcrypt_hash, https_get, Client, Pki};

const PASSWORD: &str = "fleet-pw";

/// A combined line with a request time; `tag` goes into the path so each line is known.
fn line(tag: &str, status: u16) -> String {
    format!("198.51.100.7 - - [06/Dec/2026:10:00:00 +0900] \"GET /mail/read/{tag} HTTP/1.1\" {status} 512 \"-\" \"Mozilla/5.0\" 0.010\n")
}

fn agent(dir: &Path, name: &'static str, pki: &Pki) -> (Proc, u16, std::path::PathBuf) {
    let d = dir.join(name);
    let log = d.join("access.log");
    write(&log, "");
    write(
        &d.join("logpulse.yml"),
        &format!(
            "global:\n  state_dir: {}\n  poll_interval: 200ms\nsources:\n  - name: web\n    paths: ['{}']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            d.join("state").display(),
            log.display()
        ),
    );
    write(
        &d.join("web.yml"),
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\nbasic_auth_users:\n  prometheus: '{}'\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display(),
            bcrypt_hash(PASSWORD)
        ),
    );
    let port = free_port();
    let p = Proc::spawn(
        name,
        logpulse_cmd(&d.join("logpulse.yml"), format!("127.0.0.1:{port}"))
            .arg("--web.config.file")
            .arg(d.join("web.yml")),
        d.join("agent.log"),
    );
    (p, port, log)
}

fn lines_cmd(prom: SocketAddr, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_logpulse"));
    c.args([
        "lines",
        "--prometheus",
        &format!("http://{prom}"),
        "--timeout",
        "2s",
    ])
    .args(extra)
    .env_remove("LOGPULSE_LINES_PASSWORD");
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run logpulse lines");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// (server, text) of each line of a JSON report, in order.
fn served(v: &Value) -> Vec<(String, String)> {
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["server"].as_str().unwrap().to_string(),
                l["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Server → answered, error.
fn outcomes(v: &Value) -> Vec<(String, bool, String)> {
    v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["server"].as_str().unwrap().to_string(),
                s["answered"].as_bool().unwrap(),
                s["error"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn lines_of_a_fleet_merged_with_servers_and_silent_servers_listed() {
    let prometheus = tool("prometheus");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = Pki::new(dir, "fleet");
    let (mut a1, p1, log1) = agent(dir, "web-1", &pki);
    let (mut a2, p2, log2) = agent(dir, "web-2", &pki);
    let client = Client {
        ca: Some(pki.ca.as_path()),
        cert: Some((pki.client_cert.as_path(), pki.client_key.as_path())),
        basic: Some(("prometheus", PASSWORD)),
        ..Client::default()
    };
    for (p, port) in [(&mut a1, p1), (&mut a2, p2)] {
        if wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            https_get(port, "/healthz", &client)
                .ok()
                .filter(|r| r.status == 200)
        })
        .is_none()
        {
            p.assert_running();
            panic!("{} not ready\n{}", p.name, p.log());
        }
    }
    // Accepts and never answers; the connections stay open until the test ends.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_port = hung.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hung.incoming() {
            held.push(c);
        }
    });
    let closed_port = free_port();

    // The scrape job's client settings, and the same block as the lines client's config.
    write(&dir.join("scrape-password"), &format!("{PASSWORD}\n"));
    let http_client = format!(
        "basic_auth: {{username: prometheus, password_file: '{}'}}\n  tls_config: {{ca_file: '{}', cert_file: '{}', key_file: '{}', server_name: localhost}}",
        dir.join("scrape-password").display(),
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let target = |port: u16, name: &str| {
        format!("    - {{targets: ['127.0.0.1:{port}'], labels: {{instance: {name}}}}}\n")
    };
    write(
        &dir.join("prometheus.yml"),
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n\
             - job_name: logpulse\n  scheme: https\n  {http_client}\n  static_configs:\n{}{}{}{}\
             - job_name: other\n  static_configs: [{{targets: ['127.0.0.1:{closed_port}']}}]\n",
            target(p1, "web-1"),
            target(p2, "web-2"),
            target(hung_port, "web-3"),
            target(closed_port, "web-4"),
        ),
    );
    write(
        &dir.join("lines-client.yml"),
        &format!("agents:\n  {http_client}\n"),
    );
    let mut pp = Proc::spawn(
        "prometheus",
        &mut prometheus_cmd(
            &prometheus,
            &dir.join("prometheus.yml"),
            &dir.join("tsdb"),
            prom,
        ),
        dir.join("prometheus.log"),
    );
    let listed = wait_for(Duration::from_secs(30), Duration::from_millis(200), || {
        let v = serde_json::from_str::<Value>(&get(prom, "/api/v1/targets").ok()?.body).ok()?;
        (v["data"]["activeTargets"].as_array()?.len() == 5).then_some(())
    });
    if listed.is_none() {
        pp.assert_running();
        panic!("Prometheus never listed the targets\n{}", pp.log());
    }

    // Lines on both agents, interleaved in time: each read before the next is written.
    let wrote: [(&Path, u16, &str, u16); 5] = [
        (&log1, p1, "a1", 503),
        (&log2, p2, "b1", 500),
        (&log1, p1, "a2", 502),
        (&log2, p2, "b2", 200),
        (&log2, p2, "b3", 504),
    ];
    for (log, port, tag, status) in wrote {
        common::append(log, line(tag, status).as_bytes());
        // Everything of the http profile keeps a 5xx; a 200 is not kept: wait on lines read.
        let want = format!("/mail/read/{tag} ");
        let seen = wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
            let r = https_get(port, "/metrics", &client).ok()?;
            let read = r.body.lines().find_map(|l| {
                l.strip_prefix("logpulse_lines_total{source=\"web\"} ")
                    .and_then(|v| v.parse::<f64>().ok())
            })?;
            let n = std::fs::read_to_string(log).ok()?.lines().count() as f64;
            (read == n).then_some(())
        });
        assert!(seen.is_some(), "{want} never read");
        std::thread::sleep(Duration::from_millis(30));
    }

    // From the client config file: every 5xx, newest first, with its server; web-3 (hangs)
    // and web-4 (nothing listens) listed with the reason; exit 2.
    let file = dir.join("lines-client.yml");
    let file = file.to_str().unwrap();
    let (code, out, err) = run(&mut lines_cmd(
        prom,
        &[
            "--http.config.file",
            file,
            "--status",
            "5xx",
            "--output",
            "json",
        ],
    ));
    assert_eq!(code, 2, "{out}\n{err}");
    let v = json(&out);
    let got = served(&v);
    let tags: Vec<(&str, String)> = got
        .iter()
        .map(|(s, t)| {
            let tag = t
                .split("/mail/read/")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            (s.as_str(), tag.to_string())
        })
        .collect();
    assert_eq!(
        tags,
        [
            ("web-2", "b3".to_string()),
            ("web-1", "a2".into()),
            ("web-2", "b1".into()),
            ("web-1", "a1".into())
        ],
        "{out}"
    );
    assert_eq!(v["matched"], 4);
    let o = outcomes(&v);
    assert_eq!(o.len(), 4, "{out}");
    assert!(o[0].1 && o[1].1, "{o:?}");
    assert_eq!((o[2].0.as_str(), o[2].1), ("web-3", false));
    assert!(o[2].2.contains("no answer within 2s"), "{o:?}");
    assert_eq!((o[3].0.as_str(), o[3].1), ("web-4", false));
    assert!(o[3].2.starts_with("connect: "), "{o:?}");

    // The same in text, from flags and a password file: lines on stdout, the silent
    // servers on stderr.
    let ca = pki.ca.to_str().unwrap();
    let (cert, key) = (
        pki.client_cert.to_str().unwrap(),
        pki.client_key.to_str().unwrap(),
    );
    let pw = dir.join("scrape-password");
    let flags = [
        "--tls.ca-file",
        ca,
        "--tls.cert-file",
        cert,
        "--tls.key-file",
        key,
        "--tls.server-name",
        "localhost",
        "--basic-auth.username",
        "prometheus",
    ];
    let mut c = lines_cmd(prom, &flags);
    c.args([
        "--basic-auth.password-file",
        pw.to_str().unwrap(),
        "--status",
        "5xx",
        "--limit",
        "2",
    ]);
    let (code, out, err) = run(&mut c);
    println!("$ logpulse lines ... --status 5xx --limit 2\n{out}{err}");
    assert_eq!(code, 2, "{out}\n{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].contains(" web-2 web ") && rows[0].contains("/mail/read/b3 "),
        "{out}"
    );
    assert!(
        rows[1].contains(" web-1 web ") && rows[1].contains("/mail/read/a2 "),
        "{out}"
    );
    assert!(err.contains("2 of 4 matching lines shown"), "{err}");
    assert!(err.contains("2 of 4 servers answered"), "{err}");
    assert!(
        err.contains("did not answer: web-3 https://127.0.0.1:"),
        "{err}"
    );
    assert!(
        err.contains("did not answer: web-4 https://127.0.0.1:"),
        "{err}"
    );

    // The password from the environment; only the servers that answer: exit 0.
    let mut c = lines_cmd(prom, &flags);
    c.args(["--instance", "web-[12]", "--output", "json"])
        .env("LOGPULSE_LINES_PASSWORD", PASSWORD);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(json(&out)["all_answered"], true);

    // Wrong password: every agent says 401, and that is what the report says.
    let mut c = lines_cmd(prom, &flags);
    c.args(["--instance", "web-[12]", "--output", "json"])
        .env("LOGPULSE_LINES_PASSWORD", "guess");
    let (code, out, _) = run(&mut c);
    assert_eq!(code, 2);
    for (s, ok, e) in outcomes(&json(&out)) {
        assert!(!ok && e.starts_with("HTTP 401"), "{s}: {e}");
    }
    // No client certificate: the TLS handshake is refused.
    let (code, out, _) = run(&mut lines_cmd(
        prom,
        &[
            "--tls.ca-file",
            ca,
            "--instance",
            "web-1",
            "--output",
            "json",
        ],
    ));
    assert_eq!(code, 2);
    let e = &outcomes(&json(&out))[0].2;
    assert!(e.starts_with("TLS: ") || e.starts_with("HTTP: "), "{e}");
    // A filter the agents do not keep: their 400 names the known ones.
    let (code, out, _) = run(&mut lines_cmd(
        prom,
        &[
            "--http.config.file",
            file,
            "--instance",
            "web-1",
            "--field",
            "nope=1",
            "-o",
            "json",
        ],
    ));
    assert_eq!(code, 2);
    let e = &outcomes(&json(&out))[0].2;
    assert!(e.starts_with("HTTP 400: unknown parameter \"nope\""), "{e}");

    // Nothing to ask: exit 1 and a message naming the jobs Prometheus has.
    let (code, _, err) = run(&mut lines_cmd(prom, &["--job", "nope"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("no active target of job=~\"nope\"") && err.contains("logpulse, other"),
        "{err}"
    );
    let (code, _, err) = run(Command::new(env!("CARGO_BIN_EXE_logpulse")).args([
        "lines",
        "--prometheus",
        &format!("http://127.0.0.1:{closed_port}"),
    ]));
    assert_eq!(code, 1);
    assert!(
        err.contains("/api/v1/targets?state=active: connect: "),
        "{err}"
    );
    // https to an agent without a CA: said before anything is sent.
    let (code, out, _) = run(&mut lines_cmd(prom, &["--instance", "web-1", "-o", "json"]));
    assert_eq!(code, 2);
    let e = &outcomes(&json(&out))[0].2;
    assert!(e.contains("--tls.ca-file"), "{e}");
    a1.assert_running();
    a2.assert_running();
}

/// `check --servers N`: the most series the shipped groupware config puts into Prometheus,
/// for one server and for the fleet (the numbers docs/scaling.md quotes).
#[test]
fn check_prints_the_capacity_of_a_fleet() {
    let out = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["check", "--config"])
        .arg(repo().join("examples/groupware.yml"))
        .args(["--servers", "100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let cap: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("capacity: "))
        .collect();
    assert_eq!(cap.len(), 2, "{text}");
    let number = |l: &str, after: &str| -> u64 {
        let rest = l.strip_prefix(after).unwrap_or_else(|| panic!("{l}"));
        rest.split(' ')
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap()
    };
    let one = number(cap[0], "one server: at most ");
    assert!(one > 100_000, "{text}");
    assert_eq!(number(cap[1], "100 servers: at most "), 100 * one, "{text}");
}
