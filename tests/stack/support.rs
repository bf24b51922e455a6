//! Helpers shared by the stack tests (`tests/stack_*.rs`): finding the Prometheus tools,
//! child processes that die with the test, free loopback ports, a tiny HTTP/1.0 client and
//! reading the repo's YAML/JSON files. std only (plus serde_json / serde-saphyr, which the
//! crate already depends on).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root (where Cargo.toml is).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a system tool the stack tests need. A missing tool FAILS the test (never skips):
/// the project's test command must prove the rules, dashboards and the e2e path.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("`{name}` not found in PATH: run scripts/setup (installs prometheus and prometheus-alertmanager)");
}

/// Runs a tool to completion; panics with its output when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn write(path: &Path, text: &str) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// YAML file → JSON value (serde-saphyr, the crate's YAML library).
pub fn yaml(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Files in `dir` whose names end with `suffix`, sorted.
pub fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// A free TCP port on 127.0.0.1 (bound then released; the window for a race is tiny).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) when dropped, also when the test panics. Its stdout and
/// stderr go to a log file, printed by `log()` for failure messages.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Proc {
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc { name, child, log }
    }

    /// The last lines of the process's output.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(40);
        format!(
            "--- last lines of {} ({})\n{}",
            self.name,
            self.log.display(),
            lines[start..].join("\n")
        )
    }

    /// Panics if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(st) = self.child.try_wait().unwrap() {
            panic!("{} exited early ({st})\n{}", self.name, self.log());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
}

/// One HTTP/1.0 request (the server closes the connection, so no chunked encoding to decode).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: logpulse-stack-test\r\n");
    if let Some((ctype, b)) = body {
        req.push_str(&format!(
            "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {head:?}")))?;
    Ok(Resp {
        status,
        body: body.to_string(),
    })
}

pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Resp> {
    http(addr, "GET", path, None)
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Polls `f` every `every` until it returns Some or `timeout` passes.
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Copies `alert-rules/alertmanager.yml` and its templates into `dir`, with the secret paths
/// (`/etc/alertmanager/secrets/`) pointed at `dir/secrets/`. Returns the config path.
pub fn alertmanager_config_copy(dir: &Path, slack_url: &str, pagerduty_key: &str) -> PathBuf {
    let src = repo().join("alert-rules");
    let secrets = dir.join("secrets");
    write(&secrets.join("slack-webhook-url"), slack_url);
    write(&secrets.join("pagerduty-routing-key"), pagerduty_key);
    for t in files(&src.join("templates"), ".tmpl") {
        write(
            &dir.join("templates").join(t.file_name().unwrap()),
            &read(&t),
        );
    }
    let text = read(&src.join("alertmanager.yml"));
    assert!(
        text.contains("/etc/alertmanager/secrets/"),
        "alertmanager.yml should read its secrets from /etc/alertmanager/secrets/"
    );
    let text = text.replace(
        "/etc/alertmanager/secrets/",
        &format!("{}/", secrets.display()),
    );
    let path = dir.join("alertmanager.yml");
    write(&path, &text);
    path
}

/// Replaces the value of every `key: value` line (any indentation) in a YAML text.
pub fn set_yaml_key(text: &str, key: &str, value: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with(&format!("{key}:")) {
                let indent = &l[..l.len() - t.len()];
                format!("{indent}{key}: {value}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Range selectors (`[...]` outside string literals) of a PromQL expression.
pub fn range_selectors(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut cur: Option<String> = None;
    let mut prev = '\0';
    for c in expr.chars() {
        if let Some(q) = quote {
            if c == q && prev != '\\' {
                quote = None;
            }
        } else if let Some(s) = cur.as_mut() {
            if c == ']' {
                out.push(cur.take().unwrap());
            } else {
                s.push(c);
            }
        } else if c == '"' || c == '\'' || c == '`' {
            quote = Some(c);
        } else if c == '[' {
            cur = Some(String::new());
        }
        prev = c;
    }
    out
}

/// Grafana variables referenced as `$name` or `${name}` / `${name:fmt}` in a text (not `$1`).
pub fn grafana_vars(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let (start, braced) = if b.get(i + 1) == Some(&b'{') {
                (i + 2, true)
            } else {
                (i + 1, false)
            };
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            let name = &text[start..j];
            if !name.is_empty() && !name.as_bytes()[0].is_ascii_digit() {
                out.push(name.to_string());
            }
            i = if braced { j + 1 } else { j };
        } else {
            i += 1;
        }
    }
    out
}

/// A dashboard expression with Grafana's variables replaced by values Prometheus accepts.
pub fn substitute_grafana(expr: &str, rate_interval: &str, range: &str) -> String {
    let mut e = expr
        .replace("$__rate_interval", rate_interval)
        .replace("$__range", range)
        .replace("$__interval", "15s");
    for v in ["job", "instance", "source", "tenant", "route"] {
        e = e
            .replace(&format!("${{{v}}}"), ".+")
            .replace(&format!("${v}"), ".+");
    }
    e
}

/// Every (dashboard file, panel title, refId, expr) of the repo's dashboards.
pub fn dashboard_queries() -> Vec<(String, String, String, String, bool)> {
    let mut out = Vec::new();
    for f in files(&repo().join("grafana-dashboards"), ".json") {
        let d: serde_json::Value =
            serde_json::from_str(&read(&f)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((
                    name.clone(),
                    p["title"].as_str().unwrap_or("").to_string(),
                    t["refId"].as_str().unwrap_or("").to_string(),
                    t["expr"].as_str().unwrap_or("").to_string(),
                    t["instant"].as_bool().unwrap_or(false),
                ));
            }
        }
    }
    out
}

/// All panels of a dashboard, including those nested in collapsed rows.
pub fn panels(d: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for q in p["panels"].as_array().into_iter().flatten() {
            out.push(q);
        }
    }
    out
}
