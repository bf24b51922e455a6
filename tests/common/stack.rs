//! Helpers shared by the stack tests (`tests/stack_*.rs`): finding the Prometheus tools,
//! child processes that die with the test, free loopback ports, a tiny HTTP/1.0 client and
//! reading the repo's YAML/JSON files, the usage rules scaled down for a test. std only (plus
//! serde_json / serde-saphyr / regex, which the crate already depends on).
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

/// `logpulse run --config cfg --listen listen`; add arguments, then [`Proc::spawn`] it.
pub fn logpulse_cmd(cfg: &Path, listen: impl std::fmt::Display) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logpulse"));
    cmd.args(["run", "--config"])
        .arg(cfg)
        .arg("--listen")
        .arg(listen.to_string());
    cmd
}

/// The real Prometheus (`bin`) with config `cfg` and its TSDB in `tsdb`, listening on
/// `listen`; add arguments, then [`Proc::spawn`] it. Its time zone is UTC (the pages' times
/// are in it) unless the caller sets `TZ` again.
pub fn prometheus_cmd(bin: &Path, cfg: &Path, tsdb: &Path, listen: SocketAddr) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("TZ", "UTC")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address={listen}"));
    cmd
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
    // Dashboard queries over 1,000 tenants' raw series take tens of seconds on a loaded machine.
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
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

/// An instant query against Prometheus' HTTP API: the JSON answer, or what went wrong.
pub fn prom_query(prom: SocketAddr, q: &str) -> Result<serde_json::Value, String> {
    prom_get(prom, &format!("/api/v1/query?query={}", urlencode(q)))
}

/// An instant query evaluated at Unix time `at` rather than now. Queries whose answers must
/// agree read one settled instant: at "now" a target whose scrape just failed (a timeout on a
/// loaded machine) has vanished, since Prometheus marks its series stale at that scrape's start.
pub fn prom_query_at(prom: SocketAddr, q: &str, at: f64) -> Result<serde_json::Value, String> {
    prom_get(
        prom,
        &format!("/api/v1/query?query={}&time={at:.3}", urlencode(q)),
    )
}

fn prom_get(prom: SocketAddr, path: &str) -> Result<serde_json::Value, String> {
    let r = get(prom, path).map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("HTTP {}: {e}: {}", r.status, r.body))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {}: {}", r.status, r.body));
    }
    Ok(v)
}

/// Number of series (or 1 for a scalar or string) in a query answer.
pub fn result_len(v: &serde_json::Value) -> usize {
    match &v["data"]["result"] {
        serde_json::Value::Array(a) => a.len(),
        serde_json::Value::Null => 0,
        _ => 1,
    }
}

/// The dashboards access logs feed (`profile: http` and the agent's own metrics): what
/// tests/stack_e2e.rs, stack_groupware.rs and backfill_e2e.rs prove.
pub const ACCESS_LOG_DASHBOARDS: &[&str] = &[
    "logpulse-service.json",
    "logpulse-usage.json",
    "logpulse-usage-monthly.json",
    "logpulse-agent.json",
];

/// The dashboards of application, auth and scanner data: what tests/stack_appsec.rs proves.
pub const APP_SECURITY_DASHBOARDS: &[&str] =
    &["logpulse-application.json", "logpulse-security.json"];

/// Runs every panel query of the repository's dashboards named in `dashboards` (Grafana's
/// variables substituted) and every `label_values(...)` variable (through the series API, as
/// Grafana does) against a live Prometheus. Returns how many queries ran and a line per query or
/// variable without data.
pub fn dashboard_problems(
    prom: SocketAddr,
    rate_interval: &str,
    range: &str,
    dashboards: &[&str],
) -> (usize, Vec<String>) {
    let mut problems = Vec::new();
    let mut queries = dashboard_queries();
    queries.retain(|q| dashboards.contains(&q.0.as_str()));
    for (file, title, refid, expr, _instant) in &queries {
        let q = substitute_grafana(expr, rate_interval, range);
        match prom_query(prom, &q) {
            Err(e) => problems.push(format!("{file} / {title} / {refid}: {e}\n    {q}")),
            Ok(v) if result_len(&v) == 0 => {
                problems.push(format!("{file} / {title} / {refid}: no data\n    {q}"))
            }
            Ok(_) => {}
        }
    }
    for f in files(&repo().join("grafana-dashboards"), ".json") {
        if !dashboards.iter().any(|d| f.ends_with(d)) {
            continue;
        }
        let d: serde_json::Value = serde_json::from_str(&read(&f)).unwrap();
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let Some(inner) = v["definition"]
                .as_str()
                .and_then(|q| q.strip_prefix("label_values("))
                .and_then(|s| s.strip_suffix(')'))
            else {
                continue;
            };
            let (sel, label) = inner.rsplit_once(',').unwrap_or((inner, ""));
            let sel = substitute_grafana(sel.trim(), rate_interval, range);
            let path = format!(
                "/api/v1/label/{}/values?match[]={}",
                label.trim(),
                urlencode(&sel)
            );
            let ok = get(prom, &path)
                .ok()
                .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
                .is_some_and(|j| {
                    j["status"] == "success" && j["data"].as_array().is_some_and(|a| !a.is_empty())
                });
            if !ok {
                problems.push(format!(
                    "{}: variable {} ({}) has no values",
                    f.display(),
                    v["name"],
                    inner
                ));
            }
        }
    }
    (queries.len(), problems)
}

/// Starts the real Alertmanager on `am` with the repository's config: secrets in `dir`, Slack
/// and PagerDuty both pointed at a receiver on `receiver` (`/slack`, `/pagerduty`), after
/// `edit` (e.g. shorter timings) has changed the config text. Its time zone is UTC.
pub fn start_alertmanager(
    dir: &Path,
    am: SocketAddr,
    receiver: SocketAddr,
    routing_key: &str,
    edit: impl Fn(String) -> String,
) -> Proc {
    start_alertmanager_in_zone(dir, am, receiver, routing_key, "UTC", edit)
}

/// [`start_alertmanager`] with its messages' times in time zone `tz` (its `TZ` environment).
pub fn start_alertmanager_in_zone(
    dir: &Path,
    am: SocketAddr,
    receiver: SocketAddr,
    routing_key: &str,
    tz: &str,
    edit: impl Fn(String) -> String,
) -> Proc {
    let cfg = alertmanager_config_copy(dir, &format!("http://{receiver}/slack"), routing_key);
    let mut patched = String::new();
    for l in edit(read(&cfg)).lines() {
        patched.push_str(l);
        patched.push('\n');
        if let Some(pos) = l.find("routing_key_file:") {
            patched.push_str(&format!(
                "{}url: http://{receiver}/pagerduty\n",
                " ".repeat(pos)
            ));
        }
    }
    assert!(
        patched.contains("/pagerduty"),
        "no pagerduty_configs with routing_key_file in alertmanager.yml"
    );
    write(&cfg, &patched);
    Proc::spawn(
        "alertmanager",
        Command::new(tool("prometheus-alertmanager"))
            .env("TZ", tz)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={am}"))
            .arg(format!("--web.external-url=http://{am}"))
            .arg("--cluster.listen-address="),
        dir.join("alertmanager.log"),
    )
}

/// A time as the pages give it, `2026-11-27 10:02:03 +0900 KST` (Go's
/// `2006-01-02 15:04:05 -0700 MST`, in the zone of Prometheus or Alertmanager) → unix seconds.
pub fn parse_page_time(s: &str) -> Option<f64> {
    let mut parts = s.split_whitespace();
    let (date, time, zone) = (parts.next()?, parts.next()?, parts.next()?);
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<f64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 || zone.len() != 5 {
        return None;
    }
    let sign = match &zone[..1] {
        "+" => 1.0,
        "-" => -1.0,
        _ => return None,
    };
    let offset: f64 =
        sign * (zone[1..3].parse::<f64>().ok()? * 3600.0 + zone[3..5].parse::<f64>().ok()? * 60.0);
    let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
    // Howard Hinnant's days_from_civil.
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2] - offset)
}

/// alert-rules/usage.rules.yml (the usage aggregates).
pub fn usage_rules() -> std::path::PathBuf {
    repo().join("alert-rules/usage.rules.yml")
}

/// The usage rules with their durations scaled for a test: 5 s for 5 minutes (Prometheus
/// scrapes every second), a 15 s "hour" of three of them, a 30 s "day" of two hours; reading
/// 4 s behind (the shipped 30 s is two scrapes; four here, since a loaded test machine may
/// store a 1 s scrape more than 2 s late, and the evaluation that read before it lost those
/// lines: 38 of 1,835 once in CI). Every duration and condition of the file is replaced, or
/// the test fails.
pub fn scaled_rules() -> String {
    let mut text = read(&usage_rules());
    for (from, to) in [
        ("interval: 5m", "interval: 5s"),
        ("offset 5m30s", "offset 9s"),
        ("offset 30s", "offset 4s"),
        ("[10m]", "[20s]"),
        ("[5m]", "[5s]"),
        ("[57m30s]", "[12500ms]"),
        ("[23h30m]", "[22500ms]"),
        (
            "(hour() == 23 and minute() >= 55)",
            "(vector(time() % 30) >= 25)",
        ),
        ("(minute() >= 55)", "(vector(time() % 15) >= 10)"),
    ] {
        assert!(
            text.contains(from),
            "usage.rules.yml has no {from:?} any more"
        );
        text = text.replace(from, to);
    }
    let durations = regex::Regex::new(r"\[[0-9a-z]+\]|offset [0-9a-z]+|interval: \S+").unwrap();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for m in durations.find_iter(line) {
            assert!(
                [
                    "[5s]",
                    "[12500ms]",
                    "[22500ms]",
                    "[20s]",
                    "offset 4s",
                    "offset 9s",
                    "interval: 5s"
                ]
                .contains(&m.as_str()),
                "usage.rules.yml: {} not scaled in {line}",
                m.as_str()
            );
        }
        assert!(
            !line.contains("minute()") && !line.contains("hour()"),
            "not scaled: {line}"
        );
    }
    text
}
