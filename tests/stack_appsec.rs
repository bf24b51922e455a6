//! End to end for the application and security side: a java log with stack traces, an nginx and
//! an Apache error log, an auth.log and an access log with scanner lines are written while a real
//! agent (`profile: app`, `auth`, `http`) is scraped by a real Prometheus that loads the
//! repository's rule file. Then:
//! - every panel query and variable of the Application and Security dashboards returns data;
//! - the app and security alert rules evaluate without error on live data;
//! - once the writing stops, the totals in Prometheus equal counts this test makes of the lines
//!   it wrote, by plain string matching (the patterns of docs/metrics.md), not by logpulse's
//!   parsers.
//!
//! Loopback only, free ports chosen at run time, every child process killed on drop.

#[path = "common/stack.rs"]
mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// The logs, written a round at a time by a thread until stopped.
struct Logs {
    java: PathBuf,
    nginx: PathBuf,
    apache: PathBuf,
    auth: PathBuf,
    access: PathBuf,
}

impl Logs {
    fn new(dir: &Path) -> Logs {
        let l = Logs {
            java: dir.join("orders.log"),
            nginx: dir.join("nginx-error.log"),
            apache: dir.join("apache-error.log"),
            auth: dir.join("auth.log"),
            access: dir.join("access.log"),
        };
        for p in [&l.java, &l.nginx, &l.apache, &l.auth, &l.access] {
            write(p, "");
        }
        l
    }

    fn append(path: &Path, text: &str) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Round `i`: a few records of every kind the dashboards show.
    fn round(&self, i: usize) {
        const CLASSES: [&str; 3] = [
            "java.net.SocketTimeoutException: Read timed out",
            "java.lang.IllegalStateException: cart is locked",
            "org.springframework.dao.DataAccessResourceFailureException: no connection",
        ];
        let class = CLASSES[i % CLASSES.len()];
        Self::append(
            &self.java,
            &format!(
                "2026-11-27 10:00:{s:02}.100  INFO 4242 --- [nio-8080-exec-1] c.e.orders.web.OrderController : order {i} created\n\
                 2026-11-27 10:00:{s:02}.200 ERROR 4242 --- [nio-8080-exec-2] c.e.orders.web.OrderController : order {i} failed\n\
                 {class}\n\
                 \tat com.example.orders.web.OrderController.create(OrderController.java:42)\n\
                 Caused by: java.io.IOException: broken pipe\n\
                 \t... 12 more\n\
                 2026-11-27 10:00:{s:02}.300  WARN 4242 --- [   scheduling-1] c.e.orders.jobs.Reconciler : {i} orders pending\n",
                s = i % 60
            ),
        );
        Self::append(
            &self.nginx,
            &format!(
                "2026/11/27 10:00:{s:02} [error] 813#813: *{i} connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.7, server: shop.example, request: \"GET /api/cart HTTP/1.1\", upstream: \"http://10.0.0.5:8080/api/cart\", host: \"shop.example\"\n\
                 2026/11/27 10:00:{s:02} [warn] 813#813: *{i} an upstream response is buffered to a temporary file\n",
                s = i % 60
            ),
        );
        Self::append(
            &self.apache,
            &format!(
                "[Fri Nov 27 10:00:{s:02}.000000 2026] [proxy_fcgi:error] [pid 2201:tid 1] [client 203.0.113.9:50112] AH01071: Got error 'Primary script unknown'\n\
                 [Fri Nov 27 10:00:{s:02}.100000 2026] [mpm_event:notice] [pid 2200:tid 1] AH00489: Apache/2.4.62 configured\n",
                s = i % 60
            ),
        );
        Self::append(
            &self.auth,
            &format!(
                "Nov 27 10:00:{s:02} bastion sshd[{p}]: Invalid user admin{i} from 203.0.113.50 port 40100\n\
                 Nov 27 10:00:{s:02} bastion sshd[{p}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.50\n\
                 Nov 27 10:00:{s:02} bastion sshd[{p}]: Failed password for invalid user admin{i} from 203.0.113.50 port 40100 ssh2\n\
                 Nov 27 10:00:{s:02} bastion sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1001 euid=0 tty=/dev/pts/1 ruser=bob rhost=  user=bob\n\
                 Nov 27 10:00:{s:02} bastion sudo:      bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls\n\
                 Nov 27 10:00:{s:02} bastion sshd[{q}]: Accepted publickey for alice from 192.0.2.10 port 50000 ssh2: ED25519 SHA256:abc\n\
                 Nov 27 10:00:{s:02} bastion sshd[{q}]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)\n\
                 Nov 27 10:00:{s:02} bastion sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)\n\
                 Nov 27 10:00:{s:02} bastion CRON[{q}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n",
                s = i % 60,
                p = 2000 + i,
                q = 3000 + i
            ),
        );
        let req = |path: &str, status: u16, ua: &str| {
            format!(
                "203.0.113.{} - - [27/Nov/2026:10:00:00 +0000] \"GET {path} HTTP/1.1\" {status} 153 \"-\" \"{ua}\"\n",
                10 + i % 50
            )
        };
        let browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let mut access = String::new();
        for _ in 0..4 {
            access.push_str(&req(&format!("/shop/items/{i}"), 200, browser));
        }
        access.push_str(&req("/.env", 404, "Mozilla/5.0 zgrab/0.x"));
        access.push_str(&req("/wp-login.php", 404, browser));
        access.push_str(&req("/static/../../../../etc/passwd", 400, browser));
        access.push_str(&req("/search?q=1%27%20OR%20%271%27%3D%271", 200, browser));
        access.push_str(&req("/admin/settings", 401, browser));
        Self::append(&self.access, &access);
    }

    /// Writes a round every 300 ms until `stop`; returns how many rounds were written.
    fn start(self: Arc<Self>, stop: Arc<AtomicBool>) -> JoinHandle<usize> {
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                self.round(i);
                i += 1;
                std::thread::sleep(Duration::from_millis(300));
            }
            i
        })
    }
}

/// Lines of `path` containing any of `any`, and none of `none`.
fn lines_with(path: &Path, any: &[&str], none: &[&str]) -> f64 {
    read(path)
        .lines()
        .filter(|l| any.iter().any(|p| l.contains(p)) && !none.iter().any(|p| l.contains(p)))
        .count() as f64
}

/// Records of a java log: lines starting with a date.
fn java_records(path: &Path, level: &str) -> f64 {
    read(path)
        .lines()
        .filter(|l| l.starts_with("2026-") && l.split_whitespace().nth(2) == Some(level))
        .count() as f64
}

fn value(prom: SocketAddr, q: &str) -> Option<f64> {
    let v = prom_query(prom, q).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn app_and_security_dashboards_have_data_and_totals_equal_the_logs() {
    let prometheus = tool("prometheus");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (agent_port, prom_port) = (free_port(), free_port());
    let agent_addr: SocketAddr = format!("127.0.0.1:{agent_port}").parse().unwrap();
    let prom: SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();

    let logs = Arc::new(Logs::new(dir));
    let agent_cfg = dir.join("logpulse.yml");
    let src = |name: &str, path: &Path, format: &str, profile: &str| {
        format!(
            "  - {{name: {name}, paths: [\"{}\"], start_at: beginning, format: {format}, profile: {profile}}}\n",
            path.display()
        )
    };
    write(
        &agent_cfg,
        &format!(
            "global:\n  state_dir: {}\nsources:\n{}{}{}{}{}",
            dir.join("state").display(),
            src("orders", &logs.java, "java", "app"),
            src("nginx-errors", &logs.nginx, "nginx_error", "app"),
            src("apache-errors", &logs.apache, "apache_error", "app"),
            src("auth", &logs.auth, "syslog", "auth"),
            src("web", &logs.access, "combined", "http"),
        ),
    );
    let check = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["check", "--config"])
        .arg(&agent_cfg)
        .output()
        .unwrap();
    assert!(
        check.status.success() && String::from_utf8_lossy(&check.stdout).contains("0 warnings"),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
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
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: logpulse\n    static_configs: [{{targets: [\"{agent_addr}\"], labels: {{service: shop}}}}]\n",
            repo().join("alert-rules/logpulse.rules.yml").display()
        ),
    );
    let mut prom_proc = Proc::spawn(
        "prometheus",
        &mut prometheus_cmd(&prometheus, &prom_cfg, &dir.join("tsdb"), prom),
        dir.join("prometheus.log"),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let writer = logs.clone().start(stop.clone());

    // While lines keep coming: every query of both dashboards returns data.
    let mut last = Vec::new();
    let ok = wait_for(Duration::from_secs(90), Duration::from_secs(2), || {
        let (n, problems) = dashboard_problems(prom, "1m", "5m", APP_SECURITY_DASHBOARDS);
        last = problems;
        (n >= 20 && last.is_empty()).then_some(n)
    });
    if ok.is_none() {
        agent.assert_running();
        prom_proc.assert_running();
    }
    let nqueries = ok.unwrap_or_else(|| {
        panic!(
            "dashboard queries without data:\n{}\n{}",
            last.join("\n"),
            agent.log()
        )
    });

    // The app and security rules evaluate cleanly on the live series.
    let rules: Value = serde_json::from_str(&get(prom, "/api/v1/rules").unwrap().body).unwrap();
    let mut checked = 0;
    for g in rules["data"]["groups"].as_array().unwrap() {
        let name = g["name"].as_str().unwrap_or("");
        if name != "logpulse.app.alerts" && name != "logpulse.security.alerts" {
            continue;
        }
        for r in g["rules"].as_array().unwrap() {
            checked += 1;
            assert!(
                r["health"] == "ok" || r["health"] == "unknown",
                "{}: {} {}",
                r["name"],
                r["health"],
                r["lastError"]
            );
        }
    }
    assert_eq!(checked, 4, "the app and security alerts are loaded");

    // Stop writing; once the agent has read everything, Prometheus holds what the logs say.
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().unwrap() as f64;
    let auth = &logs.auth;
    let want = [
        // Failures: sshd's own lines, sudo's summary; not PAM's lines for sshd and sudo. Each
        // unknown user's process tries one password: the attempt its `Invalid user` counted.
        (
            r#"sum(auth_failures_total{source="auth", program="sshd"})"#,
            lines_with(
                auth,
                &["Failed password for ", "Invalid user "],
                &["Failed password for invalid user "],
            ),
        ),
        (
            r#"sum(auth_failures_total{source="auth", program="sudo"})"#,
            lines_with(auth, &[" incorrect password attempts ;"], &[]),
        ),
        (
            r#"sum(auth_failures_total{source="auth"})"#,
            lines_with(
                auth,
                &[
                    "Failed password for ",
                    "Invalid user ",
                    " incorrect password attempts ;",
                ],
                &["Failed password for invalid user "],
            ),
        ),
        // Logins: sshd's Accepted lines, PAM sessions other than sshd's and cron's.
        (
            r#"sum(auth_logins_total{source="auth"})"#,
            lines_with(
                auth,
                &["Accepted publickey for ", "session opened for user "],
                &["(sshd:session)", "(cron:session)"],
            ),
        ),
        (
            r#"sum(log_messages_total{source="orders", level="error"})"#,
            java_records(&logs.java, "ERROR"),
        ),
        (
            r#"sum(log_messages_total{source="orders"})"#,
            read(&logs.java)
                .lines()
                .filter(|l| l.starts_with("2026-"))
                .count() as f64,
        ),
        (
            r#"sum(log_exceptions_total{source="orders"})"#,
            lines_with(&logs.java, &["Exception: "], &["Caused by: "]),
        ),
        (
            r#"sum(log_messages_total{source="nginx-errors", level="error"})"#,
            lines_with(&logs.nginx, &[" [error] "], &[]),
        ),
        (
            r#"sum(log_messages_total{source="apache-errors", level="info"})"#,
            lines_with(&logs.apache, &[":notice] "], &[]),
        ),
        (
            r#"sum(http_requests_total{source="web"})"#,
            lines_with(&logs.access, &["\" "], &[]),
        ),
    ];
    for (q, n) in &want {
        assert!(*n >= rounds, "{q}: the test wrote {n} in {rounds} rounds");
    }
    let settled = wait_for(Duration::from_secs(30), Duration::from_millis(500), || {
        want.iter()
            .all(|(q, n)| value(prom, q) == Some(*n))
            .then_some(())
    });
    if settled.is_none() {
        let got: Vec<String> = want
            .iter()
            .map(|(q, n)| format!("{q}: Prometheus {:?}, log {n}", value(prom, q)))
            .collect();
        panic!("totals differ from the logs:\n{}", got.join("\n"));
    }
    // Every security kind the access log holds a line of was counted.
    for kind in [
        "scanner_probe",
        "path_traversal",
        "sql_injection",
        "auth_failure",
    ] {
        let q = format!(r#"sum(http_security_events_total{{source="web", kind="{kind}"}})"#);
        assert!(value(prom, &q).is_some_and(|v| v >= rounds), "{q}");
    }
    println!(
        "{nqueries} dashboard queries with data; {rounds} rounds of lines; totals equal the logs"
    );
}
