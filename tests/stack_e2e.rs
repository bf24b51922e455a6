//! End to end: log lines → `logpulse run` → real Prometheus (the repository's rule file) → real
//! Alertmanager (the repository's config) → Slack and PagerDuty, both received by a loopback HTTP
//! server inside this test. Then every dashboard query runs against the same live Prometheus.
//!
//! The agent serves over TLS with basic auth (`--web.config.file`, a CA made by the test), and
//! Prometheus scrapes it with `scheme: https`, `tls_config.ca_file` and `basic_auth`, as the
//! deploy files do.
//!
//! Timeline (printed with --nocapture):
//!   start agent, Prometheus (1 s scrape/eval), Alertmanager, receiver → normal traffic
//!   → 5xx burst on /api/v1/approval/items/<n> → page (Slack + PagerDuty) naming
//!   /api/v1/approval/items/:id → dashboards and rule health checked while it fires
//!   → normal traffic → resolved notification.
//! Tools missing: the test fails with "run scripts/setup". Loopback only, free ports chosen at
//! run time, every child process killed on drop (also when an assertion fails).

mod common;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/stack.rs"]
mod support;
#[path = "common/web.rs"]
mod web;

use receiver::Receiver;
use serde_json::Value;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

const ROUTE: &str = "/api/v1/approval/items/:id";

// ------------------------------------------------------------------------------------------
// Slack/PagerDuty-compatible receiver

// ------------------------------------------------------------------------------------------
// Traffic generator

const NORMAL: u8 = 0;
const BURST: u8 = 1;
const STOP: u8 = 2;

const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const APP: &str = "DaouOffice/3.5.1 (iOS 17.5; iPhone15,2)";
const ANDROID_APP: &str = "Mozilla/5.0 (Linux; Android 14; SM-S928N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 DaouOffice/3.4.2";
const BOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// `25/Nov/2026:11:21:28 +0000` (nginx $time_local in UTC) without a date crate.
fn time_local(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MON[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

struct Traffic {
    mode: Arc<AtomicU8>,
    first_burst_line: Arc<Mutex<Option<Instant>>>,
    lines: Arc<Mutex<u64>>,
    /// 503 lines of the burst written.
    burst_lines: Arc<Mutex<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    /// Appends lines to `log` every 100 ms: ~40 lines/s of normal traffic over the groupware's
    /// menus, devices and tenants; in BURST mode also 30 lines/s of 503 on approval items.
    fn start(log: &Path) -> Traffic {
        let mode = Arc::new(AtomicU8::new(NORMAL));
        let first = Arc::new(Mutex::new(None));
        let lines = Arc::new(Mutex::new(0u64));
        let burst_lines = Arc::new(Mutex::new(0u64));
        let (m, f, n, b) = (
            mode.clone(),
            first.clone(),
            lines.clone(),
            burst_lines.clone(),
        );
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let thread = std::thread::spawn(move || {
            let normal: &[(&str, &str, u16, &str, &str)] = &[
                (
                    "GET",
                    "/mail/list?folder=inbox&page=2",
                    200,
                    DESKTOP,
                    "acme",
                ),
                ("GET", "/api/v1/mail/items/48213", 200, APP, "acme"),
                ("GET", "/calendar/week", 200, IPHONE, "beta"),
                ("POST", "/api/v1/calendar/events", 201, DESKTOP, "beta"),
                ("GET", "/approval/list", 200, DESKTOP, "acme"),
                (
                    "GET",
                    "/api/v1/approval/items/1201",
                    200,
                    ANDROID_APP,
                    "gamma",
                ),
                ("GET", "/board/posts/77", 200, IPHONE, "gamma"),
                ("GET", "/contacts/search?q=kim", 200, DESKTOP, "acme"),
                ("GET", "/drive/files/9f86d081884c7d65", 200, DESKTOP, "beta"),
                ("GET", "/static/mail/app.3f9a2c1b.js", 200, DESKTOP, "acme"),
                ("GET", "/api/v1/approval/items/1202", 200, DESKTOP, "beta"),
                ("GET", "/robots.txt", 404, BOT, "acme"),
            ];
            let mut i = 0usize;
            let mut item = 5000u32;
            loop {
                let mode = m.load(Ordering::SeqCst);
                if mode == STOP {
                    return;
                }
                let now = time_local(SystemTime::now());
                let mut buf = String::new();
                let mut count = 0;
                for _ in 0..4 {
                    let (meth, path, st, ua, tenant) = normal[i % normal.len()];
                    i += 1;
                    let rt = 0.02 + (i % 7) as f64 * 0.03;
                    let bytes = 800 + (i % 13) * 97;
                    buf.push_str(&format!(
                        "10.1.{}.{} - - [{now}] \"{meth} {path} HTTP/1.1\" {st} {bytes} \"{}\" \"{ua}\" {rt:.3} {tenant}.gw.example\n",
                        i % 7,
                        i % 250,
                        match i % 9 {
                            0 => "https://www.google.com/search?q=groupware".to_string(),
                            4 => "https://search.naver.com/search.naver?query=gw".to_string(),
                            8 => "-".to_string(),
                            _ => format!("https://{tenant}.gw.example/"),
                        }
                    ));
                    count += 1;
                }
                if mode == BURST {
                    for _ in 0..3 {
                        item += 1;
                        buf.push_str(&format!(
                            "10.2.0.{} - - [{now}] \"GET /api/v1/approval/items/{item} HTTP/1.1\" 503 162 \"-\" \"{DESKTOP}\" 0.004 acme.gw.example\n",
                            item % 250
                        ));
                        count += 1;
                    }
                }
                file.write_all(buf.as_bytes()).unwrap();
                if mode == BURST {
                    f.lock().unwrap().get_or_insert_with(Instant::now);
                    *b.lock().unwrap() += 3;
                }
                *n.lock().unwrap() += count;
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Traffic {
            mode,
            first_burst_line: first,
            lines,
            burst_lines,
            thread: Some(thread),
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.set(STOP);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------------------------------
// Prometheus API

fn firing_in_prometheus(prom: SocketAddr, name: &str) -> Option<Value> {
    let r = get(prom, "/api/v1/alerts").ok()?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name && a["state"] == "firing")
        .cloned()
}

/// Inhibitions of alert-rules/alertmanager.yml on the live Alertmanager: synthetic alerts posted
/// through its API, then the inhibited ones must name an inhibitor and the others must not.
fn check_inhibitions(am: SocketAddr) {
    let alerts = serde_json::json!([
        {"labels": {"alertname": "LogpulseAgentDown", "severity": "critical", "job": "e2e-inhibit", "instance": "web-09"}},
        {"labels": {"alertname": "LogSourceSilent", "severity": "warning", "job": "e2e-inhibit", "instance": "web-09", "source": "web"}},
        {"labels": {"alertname": "LogSourceSilent", "severity": "warning", "job": "e2e-inhibit", "instance": "web-10", "source": "web"}},
        {"labels": {"alertname": "HTTPRouteLatencyHigh", "severity": "critical", "job": "e2e-inhibit", "source": "web", "route": "/mail/list"}},
        {"labels": {"alertname": "HTTPRouteLatencyHigh", "severity": "warning", "job": "e2e-inhibit", "source": "web", "route": "/mail/list"}},
        {"labels": {"alertname": "HTTPRouteLatencyHigh", "severity": "warning", "job": "e2e-inhibit", "source": "web", "route": "/board/list"}}
    ]);
    let r = http(
        am,
        "POST",
        "/api/v2/alerts",
        Some(("application/json", &alerts.to_string())),
    )
    .unwrap();
    assert_eq!(r.status, 200, "posting alerts to Alertmanager: {}", r.body);
    // (alertname, instance or route) → expected to be inhibited
    let want = [
        ("LogpulseAgentDown", "web-09", false),
        ("LogSourceSilent", "web-09", true),
        ("LogSourceSilent", "web-10", false),
        ("HTTPRouteLatencyHigh/critical", "/mail/list", false),
        ("HTTPRouteLatencyHigh/warning", "/mail/list", true),
        ("HTTPRouteLatencyHigh/warning", "/board/list", false),
    ];
    let path = format!("/api/v2/alerts?filter={}", urlencode("job=\"e2e-inhibit\""));
    let mut last = String::new();
    let ok = wait_for(Duration::from_secs(15), Duration::from_millis(250), || {
        let body = get(am, &path).ok()?.body;
        last = body.clone();
        let got: Vec<Value> = serde_json::from_str(&body).ok()?;
        let all = want.iter().all(|(name, key, inhibited)| {
            got.iter().any(|a| {
                let l = &a["labels"];
                let an = l["alertname"].as_str().unwrap_or("");
                let name_ok = if an == "HTTPRouteLatencyHigh" {
                    *name == format!("{an}/{}", l["severity"].as_str().unwrap_or(""))
                } else {
                    *name == an
                };
                let key_ok = l["instance"] == *key || l["route"] == *key;
                let inh = a["status"]["inhibitedBy"]
                    .as_array()
                    .is_some_and(|v| !v.is_empty());
                name_ok && key_ok && inh == *inhibited
            })
        });
        all.then_some(())
    });
    assert!(
        ok.is_some(),
        "inhibitions not as expected (want {want:?}); Alertmanager says:\n{last}"
    );
}

// ------------------------------------------------------------------------------------------

#[test]
fn burst_pages_slack_and_phone_then_resolves_and_dashboards_have_data() {
    let t0 = Instant::now();
    let log_t = |what: &str| println!("[{:6.1}s] {what}", t0.elapsed().as_secs_f64());
    let prometheus = tool("prometheus");
    tool("prometheus-alertmanager");
    tool("promtool");
    tool("amtool");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start();
    let (agent_port, prom_port, am_port) = (free_port(), free_port(), free_port());
    let agent_addr: SocketAddr = format!("127.0.0.1:{agent_port}").parse().unwrap();
    let prom: SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let am: SocketAddr = format!("127.0.0.1:{am_port}").parse().unwrap();

    // --- Alertmanager: the repository's config, secrets and receivers pointed at `rx`, timings
    // shortened (group_wait 10 s / group_interval 5 m would not fit a test).
    let mut am_proc = start_alertmanager(
        &dir.join("alertmanager"),
        am,
        rx.addr,
        "e2e-routing-key",
        |mut text| {
            for k in ["group_wait", "group_interval"] {
                text = set_yaml_key(&text, k, "1s");
            }
            text
        },
    );

    // --- TLS and basic auth for the agent's endpoint.
    let pki = web::Pki::new(dir, "e2e");
    let web_cfg = dir.join("web.yml");
    write(
        &web_cfg,
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: '{}'\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            web::bcrypt_hash("e2e-scrape")
        ),
    );

    // --- Prometheus: 1 s scrape and evaluation, the repository's rule file unchanged.
    let rules = repo().join("alert-rules/logpulse.rules.yml");
    let prom_cfg = dir.join("prometheus.yml");
    write(
        &prom_cfg,
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: [\"{}\"]\n\
             alerting:\n  alertmanagers: [{{static_configs: [{{targets: [\"{am}\"]}}]}}]\n\
             scrape_configs:\n  - job_name: logpulse\n    scheme: https\n    tls_config: {{ca_file: \"{}\"}}\n    basic_auth: {{username: prometheus, password: e2e-scrape}}\n    static_configs: [{{targets: [\"localhost:{agent_port}\"], labels: {{service: groupware-e2e}}}}]\n",
            rules.display(),
            pki.ca.display()
        ),
    );
    let mut prom_proc = Proc::spawn(
        "prometheus",
        &mut prometheus_cmd(&prometheus, &prom_cfg, &dir.join("tsdb"), prom),
        dir.join("prometheus.log"),
    );

    // --- The agent on a fresh nginx log (request_time and host, tenant from the host).
    let access = dir.join("access.log");
    write(&access, "");
    let agent_cfg = dir.join("logpulse.yml");
    write(
        &agent_cfg,
        &format!(
            "global:\n  state_dir: {}\nsources:\n  - name: web\n    paths: [\"{}\"]\n    format: {{nginx: '$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time $host'}}\n    profile: http\n    tenant: {{field: host, regex: '^([^.]+)\\.', replacement: '$1'}}\n    start_at: beginning\n\
             \x20   metrics:\n\
             \x20     - name: http_referrals_total\n\
             \x20       type: counter\n\
             \x20       help: Requests by referring site (docs/configuration.md's example).\n\
             \x20       match:\n\
             \x20         http_referer: {{regex: '^https?://'}}\n\
             \x20       labels:\n\
             \x20         referrer:\n\
             \x20           field: http_referer\n\
             \x20           regex: '^https?://(?:www\\.)?([^/:]+)'\n\
             \x20           replacement: '$1'\n\
             \x20           map: {{google.com: google, search.naver.com: naver}}\n\
             \x20           default: other\n",
            dir.join("state").display(),
            access.display()
        ),
    );
    let mut agent = Proc::spawn(
        "logpulse",
        logpulse_cmd(&agent_cfg, agent_addr)
            .arg("--web.config.file")
            .arg(&web_cfg),
        dir.join("logpulse.log"),
    );

    let up =
        |addr: SocketAddr, path: &str| get(addr, path).ok().filter(|r| r.status == 200).map(|_| ());
    let ready = |p: &mut Proc, addr, path, what: &str| {
        if wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            up(addr, path)
        })
        .is_none()
        {
            p.assert_running();
            panic!("{what} not ready after 20 s\n{}", p.log());
        }
    };
    let trusts_ca = web::Client {
        ca: Some(pki.ca.as_path()),
        ..web::Client::default()
    };
    if wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
        web::https_get(agent_port, "/healthz", &trusts_ca)
            .ok()
            .filter(|r| r.status == 200)
    })
    .is_none()
    {
        agent.assert_running();
        panic!("logpulse not ready over https after 20 s\n{}", agent.log());
    }
    ready(&mut am_proc, am, "/-/ready", "alertmanager");
    ready(&mut prom_proc, prom, "/-/ready", "prometheus");
    log_t("agent, Prometheus and Alertmanager ready");

    let traffic = Traffic::start(&access);
    // First scrape with data (service discovery needs ~5 s at start).
    let scraped = wait_for(Duration::from_secs(30), Duration::from_millis(200), || {
        let v = prom_query(prom, "sum(http_requests_total{job=\"logpulse\"}) > 0").ok()?;
        (result_len(&v) > 0).then_some(())
    });
    if scraped.is_none() {
        agent.assert_running();
        panic!(
            "Prometheus never got http_requests_total from the agent\n{}\n{}",
            prom_proc.log(),
            agent.log()
        );
    }
    log_t("Prometheus scrapes the agent's http metrics");
    // Let the 1 m windows see a few seconds of normal traffic.
    std::thread::sleep(Duration::from_secs(6));
    let before = rx.all();
    assert!(
        !before.iter().any(|n| n.text().contains("HTTP5xxBurst")),
        "HTTP5xxBurst notified on normal traffic: {before:?}"
    );

    // --- Burst.
    traffic.set(BURST);
    log_t("5xx burst on /api/v1/approval/items/<n> started");
    let burst_mark = Instant::now();
    let mut firing_at = None;
    let page = wait_for(Duration::from_secs(45), Duration::from_millis(100), || {
        if firing_at.is_none() && firing_in_prometheus(prom, "HTTP5xxBurst").is_some() {
            firing_at = Some(Instant::now());
        }
        let slack = rx.find("/slack", burst_mark, |n| {
            let t = n.text();
            t.contains("[FIRING") && t.contains("HTTP5xxBurst") && t.contains(ROUTE)
        })?;
        let pd = rx.find("/pagerduty", burst_mark, |n| {
            let j = n.json();
            j["event_action"] == "trigger" && j.to_string().contains(ROUTE)
        })?;
        Some((slack, pd))
    });
    let Some((slack, pd)) = page else {
        panic!(
            "no page naming {ROUTE} within 45 s of the burst. Prometheus alert: {:?}\nreceived: {:#?}\n{}\n{}",
            firing_in_prometheus(prom, "HTTP5xxBurst"),
            rx.all(),
            prom_proc.log(),
            am_proc.log()
        );
    };
    let burst_start = traffic
        .first_burst_line
        .lock()
        .unwrap()
        .expect("burst line written");
    let fire_delay = firing_at.map(|t| t.duration_since(burst_start).as_secs_f64());
    let slack_delay = slack.at.duration_since(burst_start).as_secs_f64();
    let pd_delay = pd.at.duration_since(burst_start).as_secs_f64();
    log_t(&format!(
        "PAGE: first 5xx line → firing in Prometheus {}; → Slack {slack_delay:.1} s; → PagerDuty {pd_delay:.1} s",
        fire_delay.map(|d| format!("{d:.1} s")).unwrap_or_else(|| "(not seen by polling)".into()),
    ));
    println!("--- Slack message\n{}\n---", slack.text());
    let sj = slack.json();
    assert_eq!(
        sj["channel"], "#ops-page",
        "critical must go to the page receiver's Slack channel"
    );
    let st = slack.text();
    assert!(
        st.contains(&format!("route: `{ROUTE}`")),
        "Slack page does not name the route: {st}"
    );
    assert!(
        st.contains("runbook-http5xxburst"),
        "Slack page has no runbook link: {st}"
    );
    // The page links to the line view of the server that logged the 5xx (https: the agent
    // serves TLS; the host is the instance Prometheus scrapes).
    let link = st
        .split("log lines: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("Slack page has no link to the lines: {st}"))
        .to_string();
    let prefix = format!("https://localhost:{agent_port}/lines?");
    assert!(
        link.starts_with(&prefix)
            && link.contains("route=%2Fapi%2Fv1%2Fapproval%2Fitems%2F%3Aid")
            && link.contains("status=5xx"),
        "line view link: {link}"
    );
    assert!(
        pd.text().contains(&link),
        "PagerDuty details lack the link {link}: {}",
        pd.text()
    );
    let pj = pd.json();
    assert_eq!(
        pj["routing_key"], "e2e-routing-key",
        "PagerDuty key not read from the secret file"
    );
    assert!(
        pj["payload"]["summary"]
            .as_str()
            .unwrap_or("")
            .contains(ROUTE),
        "PagerDuty summary: {pj}"
    );

    // --- While it fires: every rule evaluates cleanly, every dashboard query returns data.
    let r = get(prom, "/api/v1/rules").unwrap();
    let rules_v: Value = serde_json::from_str(&r.body).unwrap();
    let mut bad = Vec::new();
    let mut nrules = 0;
    for g in rules_v["data"]["groups"].as_array().unwrap() {
        for rule in g["rules"].as_array().unwrap() {
            nrules += 1;
            if rule["health"] != "ok" && rule["health"] != "unknown" {
                bad.push(format!(
                    "{}: {} {}",
                    rule["name"], rule["health"], rule["lastError"]
                ));
            }
        }
    }
    assert!(nrules > 20, "Prometheus loaded only {nrules} rules");
    assert!(
        bad.is_empty(),
        "rules failing on live data:\n{}",
        bad.join("\n")
    );

    let (nqueries, problems) = dashboard_problems(prom, "1m", "5m", ACCESS_LOG_DASHBOARDS);
    assert!(
        problems.is_empty(),
        "dashboard queries against live Prometheus:\n{}",
        problems.join("\n")
    );
    log_t(&format!(
        "{nqueries} dashboard queries and {nrules} rules OK on live data"
    ));

    // --- Recovery: normal traffic again; the resolved notification must arrive.
    traffic.set(NORMAL);
    let stop_mark = Instant::now();
    log_t("burst stopped; waiting for the resolved notification (the 1 m window must drain)");
    check_inhibitions(am);
    log_t("inhibitions OK (agent down mutes its silence alert; critical mutes the same warning)");
    let resolved = wait_for(Duration::from_secs(100), Duration::from_millis(200), || {
        rx.find("/slack", stop_mark, |n| {
            let t = n.text();
            t.contains("[RESOLVED]") && t.contains("HTTP5xxBurst") && t.contains(ROUTE)
        })
    });
    let Some(resolved) = resolved else {
        panic!(
            "no resolved notification within 100 s. Prometheus alert: {:?}\nreceived: {:#?}\n{}",
            firing_in_prometheus(prom, "HTTP5xxBurst"),
            rx.all(),
            am_proc.log()
        );
    };
    let pd_resolve = wait_for(Duration::from_secs(10), Duration::from_millis(100), || {
        rx.find("/pagerduty", stop_mark, |n| {
            n.json()["event_action"] == "resolve"
        })
    });
    assert!(
        pd_resolve.is_some(),
        "PagerDuty got no resolve event: {:#?}",
        rx.all()
    );
    log_t(&format!(
        "RESOLVED: burst stop → Slack resolved {:.1} s",
        resolved.at.duration_since(stop_mark).as_secs_f64()
    ));
    println!("--- Slack resolved message\n{}\n---", resolved.text());

    // --- Follow the page's link: the burst's lines, as many as were written (the store keeps
    // them all unless its cap evicted some, which it reports).
    let written = *traffic.burst_lines.lock().unwrap();
    let authed = web::Client {
        ca: Some(pki.ca.as_path()),
        basic: Some(("prometheus", "e2e-scrape")),
        ..web::Client::default()
    };
    let path = format!("/lines?{}", &link[prefix.len()..]);
    let got = wait_for(Duration::from_secs(20), Duration::from_millis(200), || {
        let r = web::https_get(agent_port, &path, &authed).ok()?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        (r.status == 200 && v["sources"][0]["kept"].as_u64() == Some(written)).then_some(v)
    })
    .unwrap_or_else(|| {
        panic!(
            "{path}: never {written} kept lines: {:?}",
            web::https_get(agent_port, &path, &authed)
        )
    });
    let evicted = got["sources"][0]["evicted"].as_u64().unwrap_or(0);
    assert_eq!(
        got["matched"].as_u64(),
        Some(written - evicted),
        "lines via the page's link vs written: {}",
        got["sources"]
    );
    let first = &got["lines"][0];
    assert_eq!(first["fields"]["route"], ROUTE);
    assert_eq!(first["fields"]["status"], "503");
    assert!(
        first["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("10.2.0.0 - - ["),
        "client address not masked: {first}"
    );
    log_t(&format!(
        "LINES: the page's link returned {} of {written} burst lines written ({evicted} evicted by the cap; {} returned, limit {})",
        got["matched"], got["returned"], got["limit"]
    ));
    println!(
        "e2e summary: lines written {}, first 5xx line → Slack page {slack_delay:.1} s, → PagerDuty {pd_delay:.1} s, total {:.1} s",
        traffic.lines.lock().unwrap(),
        t0.elapsed().as_secs_f64()
    );
    agent.assert_running();
    prom_proc.assert_running();
    am_proc.assert_running();
}
