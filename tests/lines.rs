//! The line view (`GET /lines`) as a user sees it from a running agent: a 5xx burst served
//! with its fields, redacted; lookups by the line reference an exemplar carries; an
//! attacker's line escaped in JSON and HTML; and who may read lines (a loopback listener, the
//! web config's basic auth, or `allow_unauthenticated`).

mod common;
#[path = "common/web.rs"]
mod web;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{access_line, append, http_get, wait_for, Agent};
use serde_json::Value;
use web::{bcrypt_hash, Client};

/// A config reading `dir/logs/*.log` from the start; `name` names the config and its state
/// directory (each agent its own: lines are kept in memory only, and checkpoints would make
/// the next agent skip what the last one read).
fn config(dir: &Path, name: &str, extra_global: &str) -> PathBuf {
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::create_dir_all(dir.join("logs")).expect("mkdir");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {state}\n  poll_interval: 200ms\n{extra_global}sources:\n  - name: web\n    paths: ['{logs}/*.log']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            state = dir.join(name).display(),
            logs = dir.join("logs").display(),
        ),
    )
    .expect("write config");
    cfg
}

fn get_json(port: u16, path: &str) -> Value {
    match http_get(port, path) {
        Some((200, body)) => serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
        other => panic!("GET {path}: {other:?}"),
    }
}

fn texts(v: &Value) -> Vec<String> {
    v["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["text"].as_str().expect("text").to_string())
        .collect()
}

/// One GET with headers back: (status, head lower-cased, body).
fn get_full(port: u16, path: &str, accept: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn a_5xx_burst_is_served_with_fields_redacted_and_found_by_its_exemplar() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "a", "");
    let log = dir.path().join("logs/access.log");
    let mut data = String::new();
    for i in 0..20 {
        data += &access_line(i, "GET", "/mail/list", 200);
    }
    for i in 0..7 {
        data += &access_line(
            100 + i,
            "POST",
            &format!("/mail/read/{}?token=s3cr3t&to=kim@example.com", 1000 + i),
            503,
        );
    }
    data += "\u{1b}]0;owned\u{7}<script>alert(1)</script> not an access line\n";
    for i in 0..2 {
        data += &access_line(200 + i, "GET", "/drive/files/9", 500);
    }
    append(&log, data.as_bytes());
    let agent = Agent::start(&cfg, dir.path());
    agent.wait_value("logpulse_lines_total{source=\"web\"}", 30.0, 20);

    let burst = get_json(agent.port, "/lines?route=%2Fmail%2Fread%2F%3Aid&status=5xx");
    assert_eq!(burst["matched"], 7, "{burst}");
    let l = &burst["lines"][0];
    assert_eq!(l["fields"]["route"], "/mail/read/:id");
    assert_eq!(l["fields"]["status"], "503");
    assert_eq!(l["fields"]["method"], "POST");
    assert_eq!(l["source"], "web");
    assert_eq!(l["file"], log.display().to_string());
    // Newest first; client address, query values and e-mail address masked.
    let t = texts(&burst);
    assert!(
        t[0].starts_with("192.0.2.0 - - [")
            && t[0].contains("\"POST /mail/read/1006?token=*&to=* HTTP/1.1\" 503"),
        "{}",
        t[0]
    );
    assert!(!burst.to_string().contains("s3cr3t") && !burst.to_string().contains("kim@"));

    let all = get_json(agent.port, "/lines?limit=5");
    assert_eq!(
        (all["matched"].as_u64(), all["returned"].as_u64()),
        (Some(10), Some(5))
    );
    assert_eq!(get_json(agent.port, "/lines?status=500")["matched"], 2);
    let bad = get_json(agent.port, "/lines?status=&route=&since=1h&source=web");
    let unparsed: Vec<&Value> = bad["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["parsed"] == false)
        .collect();
    assert_eq!(unparsed.len(), 1);
    assert_eq!(
        unparsed[0]["text"],
        "\\u{1b}]0;owned\\u{7}<script>alert(1)</script> not an access line"
    );

    // The exemplar of a 503 series names a line the view resolves.
    let (st, _, om) = get_full(
        agent.port,
        "/metrics",
        "application/openmetrics-text;version=1.0.0",
    );
    assert_eq!(st, 200);
    let ex = om
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && l.contains("status=\"503\""))
        .find_map(|l| l.split("line_ref=\"").nth(1)?.split('"').next())
        .unwrap_or_else(|| panic!("no exemplar on a 503 series:\n{om}"))
        .to_string();
    let found = get_json(agent.port, &format!("/lines?ref={ex}"));
    assert_eq!(found["matched"], 1, "{ex}: {found}");
    assert_eq!(found["lines"][0]["line_ref"], ex.as_str());
    assert_eq!(found["lines"][0]["fields"]["status"], "503");
    assert!(
        om.contains("logpulse_lines_kept_total{source=\"web\"} 10"),
        "{om}"
    );

    // The page: escaped, no control bytes, scripts forbidden by policy; linked from `/`.
    let (st, head, page) = get_full(agent.port, "/lines", "text/html,*/*;q=0.8");
    assert_eq!(st, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(
        !page.contains("<script>") && page.contains("&lt;script&gt;"),
        "{page}"
    );
    assert!(!page.chars().any(|c| c.is_control() && c != '\n'));
    assert!(http_get(agent.port, "/")
        .unwrap()
        .1
        .contains("href=\"/lines?format=html\""));
    let (st, _, msg) = get_full(agent.port, "/lines?rout=x", "*/*");
    assert_eq!(st, 400);
    assert!(msg.contains("unknown parameter \"rout\""), "{msg}");
}

/// `logpulse run` on all addresses (the listener is not a loopback one; the test still only
/// connects to 127.0.0.1).
fn start_everywhere(cfg: &Path, dir: &Path, args: &[&str]) -> Agent {
    let cfg = cfg.display().to_string();
    let args: Vec<&str> = ["--config", &cfg]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    Agent::launch(dir, "0.0.0.0", &args, &[], common::healthz)
}

#[test]
fn lines_need_a_loopback_listener_or_authentication_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = config(dir.path(), "plain", "");
    append(
        &dir.path().join("logs/access.log"),
        access_line(1, "GET", "/x", 502).as_bytes(),
    );
    let no = Client::default();

    // Not loopback, no authentication: metrics yes, lines no.
    let a = start_everywhere(&plain, dir.path(), &[]);
    assert_eq!(web::http_get(a.port, "/metrics", &no).unwrap().status, 200);
    let r = web::http_get(a.port, "/lines", &no).unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("allow_unauthenticated"), "{}", r.body);
    drop(a);

    // Not loopback, behind the web config's basic auth.
    let web_cfg = dir.path().join("web.yml");
    std::fs::write(
        &web_cfg,
        format!("basic_auth_users:\n  ops: '{}'\n", bcrypt_hash("pw")),
    )
    .unwrap();
    let auth = config(dir.path(), "auth", "");
    let a = start_everywhere(
        &auth,
        dir.path(),
        &["--web.config.file", web_cfg.to_str().unwrap()],
    );
    assert_eq!(web::http_get(a.port, "/lines", &no).unwrap().status, 401);
    let ops = Client {
        basic: Some(("ops", "pw")),
        ..Default::default()
    };
    let r = wait_for(20, "the 502 line", || {
        let r = web::http_get(a.port, "/lines?status=5xx", &ops).ok()?;
        (r.status == 200 && r.body.contains("\"matched\":1")).then_some(r)
    });
    assert!(r.head.contains("application/json"), "{}", r.head);
    drop(a);

    // Not loopback, no authentication, explicitly allowed.
    let open = config(
        dir.path(),
        "open",
        "  lines: {allow_unauthenticated: true}\n",
    );
    let a = start_everywhere(&open, dir.path(), &[]);
    let r = wait_for(20, "the 502 line", || {
        let r = web::http_get(a.port, "/lines?status=5xx", &no).ok()?;
        (r.status == 200 && r.body.contains("\"matched\":1")).then_some(r)
    });
    assert!(r.body.contains("\"status\":\"502\""), "{}", r.body);
}

#[test]
fn the_agent_says_where_people_reach_it_for_alert_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), "a", "");
    let bad = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--web.external-url",
            "logs.example",
        ])
        .output()
        .expect("run logpulse");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--web.external-url") && err.contains("http://"),
        "{err}"
    );

    let cfg = cfg.display().to_string();
    let a = Agent::launch(
        dir.path(),
        "127.0.0.1",
        &[
            "--config",
            &cfg,
            "--web.external-url",
            "https://logs.example:9145/agent/",
        ],
        &[],
        |_| true,
    );
    let body = wait_for(20, "/metrics", || {
        http_get(a.port, "/metrics").filter(|(s, _)| *s == 200)
    })
    .1;
    assert!(
        body.contains(
            "logpulse_web_info{scheme=\"http\",external_url=\"https://logs.example:9145/agent\"} 1\n"
        ),
        "{body}"
    );
}
