//! One customer company broken, end to end: three servers running `logpulse run` on
//! `examples/groupware.yml`, a real Prometheus with the repository's rules (1 s scrape and
//! evaluation) and a real Alertmanager with the repository's config **and its shipped timings**
//! (only the secret paths and the PagerDuty URL rewritten), both in the Asia/Seoul time zone,
//! paging a Slack- and PagerDuty-compatible receiver inside this test.
//!
//! Traffic: 300 tenants of Zipf sizes (tests/groupware/gen.rs), 0.15 % background 5xx,
//! scanner noise, and on purpose what naive per-tenant rules would page on: small tenants'
//! single errors, a scanner whose injections make a small tenant's board answer 500, and 5xx of
//! requests by IP address (tenant `other`). web-3's log changes format (JSON) from the start.
//!
//! It checks that:
//! - the warm-up with that noise pages nobody (no PagerDuty event, no Slack page) but for
//!   web-3's format;
//! - the largest tenant's approval failing half the time on web-2 only (about 3.5 % of its
//!   requests) pages Slack
//!   and PagerDuty once, naming the tenant, the menu and web-2, with a start within a minute
//!   of the first failure, in +0900;
//! - web-3's changed format pages as "alerts are blind", and web-3's line view still holds the
//!   5xx lines it kept before the change (the unparsed lines have their own budget);
//! - `/lines?tenant=acme&menu=approval` on web-2 serves the outage's lines;
//! - nothing else pages.
//!
//! About 2 minutes. `cargo test --test stack_tenant -- --nocapture` prints the timeline and the
//! messages. The same at the production scrape interval, over a long noisy run, is
//! `scripts/bench-paging` (docs/stack.md quotes both).

#[path = "groupware/gen.rs"]
mod gen;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/stack.rs"]
mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gen::*;
use receiver::{Notification, Receiver};
use serde_json::Value;
use support::*;

const SERVERS: [&str; 3] = ["web-1", "web-2", "web-3"];
/// web-1 and web-2 serve the traffic; web-3 logs JSON from the start of the live traffic.
const SERVING: usize = 2;
const HISTORY_LINES: usize = 8_000;
/// Customer companies. Fewer than the 1,000 of tests/stack_groupware.rs: at 1 s scrapes the
/// tenant rules read 15 times the samples per window of 15 s scrapes, 15 times as often;
/// `scripts/bench-paging` runs 1,000 at the shipped 15 s.
const TENANTS: usize = 300;
/// Lines of ordinary traffic per 100 ms (200/s over web-1 and web-2).
const BATCH: usize = 20;
const TIME: &str = "27/Nov/2026:10:00:00 +0900";
/// The warm-up: a minute of noise, in which the tenant rules judge windows of 2 minutes.
const WARM_UP: Duration = Duration::from_secs(60);
const ZONE: &str = "Asia/Seoul";

const WARM: u8 = 0;
const OUTAGE: u8 = 1;
const STOP: u8 = 2;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What the writer thread did.
#[derive(Default)]
struct Log {
    /// The first outage line: when written, and its unix time.
    first_failure: Option<(Instant, f64)>,
    failures: u64,
    acme_requests_in_outage: u64,
    json_lines: u64,
}

struct Live {
    mode: Arc<AtomicU8>,
    thread: Option<JoinHandle<()>>,
}

/// A small tenant (`c0150` and beyond: the long tail).
fn small(tenant: &str) -> bool {
    tenant
        .strip_prefix('c')
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n >= TENANTS / 2)
}

/// Writes the traffic every 100 ms: `BATCH` ordinary lines (0.15 % 5xx, 3 % scanner noise)
/// over web-1 and web-2, the deliberate noise, the outage when asked, and JSON on web-3.
fn start_live(mut g: Gen, logs: Vec<PathBuf>, mode: Arc<AtomicU8>, log: Arc<Mutex<Log>>) -> Live {
    let (m, l) = (mode.clone(), log.clone());
    let thread = std::thread::spawn(move || {
        let mut files: Vec<_> = logs
            .iter()
            .map(|p| OpenOptions::new().append(true).open(p).unwrap())
            .collect();
        let mut tick = 0u64;
        let mut flip = false;
        loop {
            let mode = m.load(Ordering::SeqCst);
            if mode == STOP {
                return;
            }
            tick += 1;
            let mut text = vec![String::new(); SERVERS.len()];
            let mut failed = 0;
            let mut acme = 0;
            let mut single_error_due = tick % 30 == 0;
            for _ in 0..BATCH {
                let mut line = g.next(TIME);
                if mode == OUTAGE && line.tenant == "acme" {
                    acme += 1;
                    if line.menu == Some("approval") && line.server == 1 {
                        // acme's approval on web-2 answers every other request with 503.
                        flip = !flip;
                        if flip {
                            line.set_status(503);
                            failed += 1;
                        }
                    }
                }
                if single_error_due
                    && small(&line.tenant)
                    && line.menu.is_some_and(|m| m != "static")
                    && line.status == 200
                {
                    // A small tenant's single error, one every 3 s.
                    line.set_status(503);
                    single_error_due = false;
                }
                text[line.server].push_str(&line.text);
            }
            // A scanner on c0042's board, announcing itself (sqlmap): its injections answer
            // 500 every 2 s, and another request of it passes.
            if tick % 20 == 0 {
                for (status, q) in [(500, "%27%20OR%201=1--"), (200, "1")] {
                    text[0].push_str(&format!(
                        "203.0.113.7 - - [{TIME}] \"GET /api/v1/board/posts/{tick}?id={q} HTTP/1.1\" {status} 120 \"-\" \"sqlmap/1.8.4#stable (https://sqlmap.org)\" 0.030 c0042.{DOMAIN}\n"
                    ));
                }
            }
            // Requests by IP address (tenant `other`) failing, every 4 s.
            if tick % 40 == 5 {
                text[1].push_str(&format!(
                    "203.0.113.9 - - [{TIME}] \"GET /api/v1/mail/items/{tick} HTTP/1.1\" 502 150 \"-\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\" 0.500 203.0.113.250\n"
                ));
            }
            // web-3 now logs JSON, 20 lines/s of about 600 bytes.
            for i in 0..2 {
                text[2].push_str(&format!(
                    "{{\"time\":\"2026-11-27T10:00:00+09:00\",\"remote_addr\":\"10.1.2.3\",\"request\":\"GET /approval/list HTTP/1.1\",\"status\":200,\"host\":\"acme.{DOMAIN}\",\"seq\":{tick}{i},\"user_agent\":\"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\",\"pad\":\"{}\"}}\n",
                    "x".repeat(300)
                ));
            }
            for (f, t) in files.iter_mut().zip(&text) {
                f.write_all(t.as_bytes()).unwrap();
            }
            {
                let mut l = l.lock().unwrap();
                if failed > 0 {
                    l.first_failure.get_or_insert((Instant::now(), unix_now()));
                }
                l.failures += failed;
                l.acme_requests_in_outage += acme;
                l.json_lines += 2;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    Live {
        mode,
        thread: Some(thread),
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.mode.store(STOP, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Whether a notification is a page: any PagerDuty event, or a Slack message to #ops-page.
fn is_page(n: &Notification) -> bool {
    n.path == "/pagerduty" || n.json()["channel"] == "#ops-page"
}

fn describe(n: &Notification) -> String {
    if n.path == "/pagerduty" {
        let j = n.json();
        format!(
            "PagerDuty {}: {}",
            j["event_action"].as_str().unwrap_or("?"),
            j["payload"]["summary"].as_str().unwrap_or("")
        )
    } else {
        format!(
            "Slack {}: {}",
            n.json()["channel"].as_str().unwrap_or("?"),
            n.text().lines().next().unwrap_or("")
        )
    }
}

fn lines_json(agent: SocketAddr, query: &str) -> Value {
    let r = get(agent, &format!("/lines?{query}&format=json")).expect("GET /lines");
    assert_eq!(r.status, 200, "/lines?{query}: {}", r.body);
    serde_json::from_str(&r.body).expect("JSON")
}

#[test]
fn one_tenant_broken_pages_once_naming_tenant_menu_server_and_start_noise_pages_nobody() {
    let t0 = Instant::now();
    let say = |what: &str| println!("[{:6.1}s] {what}", t0.elapsed().as_secs_f64());
    let prometheus = tool("prometheus");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start();
    let agents: Vec<SocketAddr> = SERVERS
        .iter()
        .map(|_| format!("127.0.0.1:{}", free_port()).parse().unwrap())
        .collect();
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let am: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

    // --- History: web-1 and web-2 share the traffic; web-3 logged access lines too (with its
    // own 5xx), before its format changes.
    let mut g = Gen::new(18, TENANTS, SERVING);
    g.server_error_ppm = 1500;
    let logs: Vec<PathBuf> = SERVERS
        .iter()
        .map(|s| dir.join(format!("{s}.access.log")))
        .collect();
    let mut history = vec![String::new(); SERVERS.len()];
    for _ in 0..HISTORY_LINES {
        let l = g.next(TIME);
        history[l.server].push_str(&l.text);
    }
    let mut g3 = Gen::new(1803, TENANTS, 1);
    let mut kept_5xx_on_web3 = 0;
    for i in 0..3000 {
        let mut l = g3.next(TIME);
        if i % 100 == 7 && l.status == 200 {
            l.set_status(502);
        }
        kept_5xx_on_web3 += u64::from((500..600).contains(&l.status));
        history[2].push_str(&l.text);
    }
    for (p, h) in logs.iter().zip(&history) {
        write(p, h);
    }
    let example = read(&repo().join("examples/groupware.yml"));

    // --- Alertmanager and Prometheus as shipped (1 s scrapes), in Seoul's time zone.
    let mut am_proc = start_alertmanager_in_zone(
        &dir.join("alertmanager"),
        am,
        rx.addr,
        "tenant-key",
        ZONE,
        |t| t,
    );
    let targets: String = SERVERS
        .iter()
        .zip(&agents)
        .map(|(s, a)| {
            format!(
                "      - {{targets: [\"{a}\"], labels: {{instance: {s}, service: groupware}}}}\n"
            )
        })
        .collect();
    let prom_cfg = dir.join("prometheus.yml");
    write(
        &prom_cfg,
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: [\"{}\"]\n\
             alerting:\n  alertmanagers: [{{static_configs: [{{targets: [\"{am}\"]}}]}}]\n\
             scrape_configs:\n  - job_name: logpulse\n    static_configs:\n{targets}",
            repo().join("alert-rules/logpulse.rules.yml").display()
        ),
    );
    let mut prom_proc = Proc::spawn(
        "prometheus",
        prometheus_cmd(&prometheus, &prom_cfg, &dir.join("tsdb"), prom).env("TZ", ZONE),
        dir.join("prometheus.log"),
    );
    let mut agent_procs = Vec::new();
    for (i, s) in SERVERS.iter().enumerate() {
        let cfg = dir.join(format!("{s}.yml"));
        write(
            &cfg,
            &agent_config(&example, &logs[i], &dir.join(format!("{s}.state"))),
        );
        agent_procs.push(Proc::spawn(
            "logpulse",
            &mut logpulse_cmd(&cfg, agents[i]),
            dir.join(format!("{s}.log")),
        ));
    }
    let ready = |p: &mut Proc, addr: SocketAddr, path: &str| {
        let ok = wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            get(addr, path).ok().filter(|r| r.status == 200).map(|_| ())
        });
        if ok.is_none() {
            p.assert_running();
            panic!("{} not ready after 20 s\n{}", p.name, p.log());
        }
    };
    for (p, a) in agent_procs.iter_mut().zip(&agents) {
        ready(p, *a, "/healthz");
    }
    ready(&mut am_proc, am, "/-/ready");
    ready(&mut prom_proc, prom, "/-/ready");
    let total = (HISTORY_LINES + 3000) as f64;
    let scraped = wait_for(Duration::from_secs(40), Duration::from_millis(200), || {
        prom_query(prom, "sum(logpulse_lines_total{job=\"logpulse\"})")
            .ok()
            .and_then(|v| v["data"]["result"][0]["value"][1].as_str()?.parse().ok())
            .filter(|n: &f64| *n == total)
    });
    assert!(
        scraped.is_some(),
        "Prometheus never saw the history\n{}",
        prom_proc.log()
    );
    let web3_5xx_before = lines_json(agents[2], "source=web&status=5xx&limit=1")["matched"]
        .as_u64()
        .unwrap();
    assert!(web3_5xx_before > 0 && web3_5xx_before <= kept_5xx_on_web3);
    say(&format!(
        "3 agents, Prometheus and Alertmanager ({ZONE}) ready; history scraped; web-3 keeps {web3_5xx_before} 5xx lines"
    ));

    // --- Warm-up: noise only (and web-3's JSON, which pages as a blind source). Nobody else
    // may be paged.
    let mode = Arc::new(AtomicU8::new(WARM));
    let log = Arc::new(Mutex::new(Log::default()));
    let live_start = Instant::now();
    let live = start_live(g, logs.clone(), mode.clone(), log.clone());
    say("live traffic: 200 lines/s with noise; web-3 logs JSON from now on");
    std::thread::sleep(WARM_UP);
    let is_blind = |n: &Notification| n.text().contains("LogSourceBlind");
    let warm_pages: Vec<String> = rx
        .all()
        .iter()
        .filter(|n| is_page(n) && !is_blind(n))
        .map(describe)
        .collect();
    // The noise is about 0.6 % 5xx per server: the service's slow burn (6 × a 0.1 % budget,
    // a ticket after 15 minutes) may be pending, and rightly; its fast burn (a page) may not.
    let pending = prom_query(
        prom,
        "count by (alertname, tenant) (count_over_time(ALERTS{alertname=~\"HTTPTenant.*|HTTP5xxBurst\"}[2m]) or count_over_time(ALERTS{alertname=\"HTTPErrorBudgetBurn\", severity=\"critical\"}[2m]))",
    )
    .unwrap();
    assert!(
        warm_pages.is_empty(),
        "the warm-up paged: {warm_pages:#?}\n{}",
        prom_proc.log()
    );
    assert_eq!(
        result_len(&pending),
        0,
        "tenant, burst or budget alerts pending or firing in the warm-up: {pending}"
    );
    let tickets: Vec<String> = rx
        .all()
        .iter()
        .filter(|n| !is_page(n))
        .map(describe)
        .collect();
    say(&format!(
        "warm-up of {} s: no page (but web-3's), no tenant alert even pending; tickets: {tickets:?}",
        WARM_UP.as_secs()
    ));

    // --- The outage: acme's approval on web-2 answers every other request with 503.
    mode.store(OUTAGE, Ordering::SeqCst);
    let outage_at = Instant::now();
    say("acme's approval on web-2 answers half its requests with 503 from now on");
    let is_acme_page = |n: &Notification| {
        let t = n.text();
        t.contains("HTTPTenant5xxBurst") && t.contains("acme")
    };
    let page = wait_for(Duration::from_secs(90), Duration::from_millis(100), || {
        let slack = rx.find("/slack", outage_at, |n| {
            n.text().contains("[FIRING") && is_acme_page(n)
        })?;
        let pd = rx.find("/pagerduty", outage_at, |n| {
            n.json()["event_action"] == "trigger" && is_acme_page(n)
        })?;
        Some((slack, pd))
    });
    let Some((slack, pd)) = page else {
        let state: Vec<String> = [
            "tenant_menu:http_requests:rate2m{tenant=\"acme\", menu=\"approval\"}",
            "tenant_menu:http_requests_5xx:rate2m{tenant=\"acme\"}",
            "tenant_menu:http_error_ratio:rate2m{tenant=\"acme\"}",
            "tenant_menu:http_error_ratio_others:rate2m{tenant=\"acme\"}",
            "tenant:http_error_ratio:rate2m{tenant=\"acme\"}",
            "tenant:http_requests_5xx_others:rate2m{tenant=\"acme\"}",
            "sum by (instance) (http_tenant_errors_total{tenant=\"acme\", menu=\"approval\"})",
            "up",
        ]
        .iter()
        .map(|q| {
            format!(
                "{q}: {}",
                prom_query(prom, q)
                    .map(|v| v["data"]["result"].to_string())
                    .unwrap_or_else(|e| e)
            )
        })
        .collect();
        panic!(
            "no tenant page within 90 s: {:#?}\n{}\n{}\n{}",
            rx.all().iter().map(describe).collect::<Vec<_>>(),
            state.join("\n"),
            prom_proc.log(),
            am_proc.log()
        );
    };
    let first = log
        .lock()
        .unwrap()
        .first_failure
        .expect("outage lines written");
    let st = slack.text();
    println!("--- Slack page\n{st}\n---");
    let summary = pd.json()["payload"]["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    println!("--- PagerDuty summary: {summary}");
    let line_of = |p: &str| {
        st.lines()
            .find(|l| l.starts_with(p))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        st.starts_with("[FIRING:1] tenant acme: HTTPTenant5xxBurst web"),
        "{st}"
    );
    assert!(st.contains("tenant: `acme`"), "{st}");
    assert!(line_of("menus: ").starts_with("menus: approval ("), "{st}");
    assert!(line_of("servers: ").starts_with("servers: web-2 ("), "{st}");
    let lines_link = line_of("log lines: ");
    assert!(
        lines_link.contains("/lines?source=web&tenant=acme&menu=approval&status=5xx&since="),
        "{st}"
    );
    let since = line_of("failing since: ");
    assert!(since.ends_with("+0900 KST"), "not in {ZONE}: {st}");
    let started = parse_page_time(since.trim_start_matches("failing since: "))
        .unwrap_or_else(|| panic!("no start time in the page: {st}"));
    let late = started - first.1;
    assert!(
        (-2.0..=60.0).contains(&late),
        "{since}: {late:+.1} s from the first failure"
    );
    assert!(
        line_of("firing since: ").ends_with("+0900 KST"),
        "Alertmanager's times not in {ZONE}: {st}"
    );
    for want in ["acme", "approval", "web-2", "+0900"] {
        assert!(
            summary.contains(want),
            "PagerDuty summary lacks {want}: {summary}"
        );
    }
    let (failures, acme_requests) = {
        let l = log.lock().unwrap();
        (l.failures, l.acme_requests_in_outage)
    };
    say(&format!(
        "PAGE: first failure → Slack {:.1} s, PagerDuty {:.1} s; failing since {late:+.1} s of the first failure; {failures} of acme's {acme_requests} requests failed so far ({:.1} %)",
        slack.at.duration_since(first.0).as_secs_f64(),
        pd.at.duration_since(first.0).as_secs_f64(),
        100.0 * failures as f64 / acme_requests.max(1) as f64
    ));

    // --- The outage's lines, by menu, on web-2.
    let l = lines_json(
        agents[1],
        "source=web&tenant=acme&menu=approval&status=5xx&since=5m",
    );
    let n = l["matched"].as_u64().unwrap();
    assert!(n > 0, "{l}");
    for k in l["lines"].as_array().unwrap() {
        assert_eq!(k["fields"]["menu"], "approval");
        assert_eq!(k["fields"]["tenant"], "acme");
    }
    say(&format!(
        "/lines?tenant=acme&menu=approval&status=5xx on web-2: {n} lines"
    ));

    // --- web-3's format change pages; its kept 5xx lines are all still there.
    let blind = wait_for(
        Duration::from_secs(180).saturating_sub(live_start.elapsed()),
        Duration::from_millis(200),
        || {
            rx.find("/pagerduty", live_start, |n| {
                n.json()["event_action"] == "trigger" && is_blind(n)
            })
        },
    );
    let Some(blind) = blind else {
        panic!(
            "no LogSourceBlind page within 3 minutes of the change: {:#?}\n{}",
            rx.all().iter().map(describe).collect::<Vec<_>>(),
            prom_proc.log()
        );
    };
    let bs = blind.json()["payload"]["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        bs.contains("web on web-3") && bs.contains("alerts are blind"),
        "{bs}"
    );
    let web3 = lines_json(agents[2], "source=web&status=5xx&limit=1");
    let unparsed = lines_json(agents[2], "source=web&parsed=false&limit=1");
    let src = &unparsed["sources"][0];
    let json_lines = log.lock().unwrap().json_lines;
    say(&format!(
        "PAGE: web-3's format change → LogSourceBlind {:.1} s after the change: {bs}; web-3 keeps {} 5xx lines (before: {web3_5xx_before}) and {} of {json_lines} unparsed lines ({} bytes for them)",
        blind.at.duration_since(live_start).as_secs_f64(),
        web3["matched"],
        src["unparsed_lines"],
        src["unparsed_max_bytes"]
    ));
    assert_eq!(
        web3["matched"].as_u64(),
        Some(web3_5xx_before),
        "unparsed lines evicted kept 5xx lines: {}",
        web3["sources"]
    );
    assert!(
        src["evicted"].as_u64().unwrap_or(0) > 0
            && src["unparsed_lines"].as_u64().unwrap_or(0) < json_lines,
        "the unparsed lines never filled their budget, the test proves nothing: {src}"
    );

    // --- One notification for the tenant's incident, and no other page.
    std::thread::sleep(Duration::from_secs(15));
    drop(live);
    let all = rx.all();
    let acme_firing: Vec<&Notification> = all
        .iter()
        .filter(|n| {
            is_acme_page(n)
                && (n.json()["event_action"] == "trigger" || n.text().contains("[FIRING"))
        })
        .collect();
    assert_eq!(
        acme_firing.len(),
        2,
        "one Slack message and one PagerDuty event for the incident: {:#?}",
        acme_firing.iter().map(|n| describe(n)).collect::<Vec<_>>()
    );
    let others: Vec<String> = all
        .iter()
        .filter(|n| is_page(n) && !is_acme_page(n) && !is_blind(n))
        .map(describe)
        .collect();
    assert!(others.is_empty(), "other pages: {others:#?}");
    // What the rules cost, from Prometheus' own metrics.
    let own = get(prom, "/metrics").map(|r| r.body).unwrap_or_default();
    let mut costs: Vec<String> = own
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("prometheus_rule_group_last_duration_seconds{")?;
            let group = rest.split(';').nth(1)?.split('"').next()?;
            let v: f64 = rest.rsplit(' ').next()?.parse().ok()?;
            Some(format!("{group} {:.1} ms", v * 1000.0))
        })
        .collect();
    costs.sort();
    let cpu = own
        .lines()
        .find_map(|l| {
            l.strip_prefix("process_cpu_seconds_total ")?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(f64::NAN);
    let series = own
        .lines()
        .find_map(|l| {
            l.strip_prefix("prometheus_tsdb_head_series ")?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(f64::NAN);
    say(&format!(
        "Prometheus: {cpu:.0} CPU seconds in {:.0} s, {series} head series",
        t0.elapsed().as_secs_f64()
    ));
    say(&format!(
        "pages: {:?}; rule groups' last evaluation: {}",
        all.iter()
            .filter(|n| is_page(n))
            .map(describe)
            .collect::<Vec<_>>(),
        costs.join(", ")
    ));
    for p in agent_procs.iter_mut() {
        p.assert_running();
    }
    prom_proc.assert_running();
    am_proc.assert_running();
}
