//! End to end on a generated groupware log of 1,000 customer companies (tests/groupware/gen.rs):
//! two servers, each with `logpulse run` on `examples/groupware.yml` → a real Prometheus (the
//! repository's rules) → a real Alertmanager with the repository's config **and its shipped
//! timings** (only the secret paths and the PagerDuty URL are rewritten) → Slack and PagerDuty,
//! received by a loopback server inside this test.
//!
//! It checks that:
//! - a 5xx burst on web-2 pages Slack and PagerDuty naming the route, the server (web-2, not
//!   web-1), the customer companies hit (acme first, then beta) and when the errors started;
//! - every panel and variable of every dashboard returns data;
//! - menus, devices and errors per tenant, referrers, devices, security events and app
//!   versions read from Prometheus equal the counts made from the generated lines' facts;
//! - nothing folds into `__overflow__` at the default limits;
//! - the resolved notices (Slack, and a PagerDuty resolve with a summary) arrive.
//!
//! Prometheus scrapes and evaluates every second (production: 15 s), the rest is as shipped:
//! the printed latencies are those of the shipped Alertmanager timings with 1 s scrapes.
//! `LOGPULSE_STACK_SCRAPE_SECONDS=15 cargo test --test stack_groupware -- --nocapture` runs the
//! same at the shipped scrape and evaluation interval (about 3 minutes; docs/stack.md quotes
//! both).

#[path = "groupware/gen.rs"]
mod gen;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/stack.rs"]
mod support;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gen::*;
use receiver::Receiver;
use serde_json::Value;
use support::*;

const ROUTE: &str = "/api/v1/approval/docs/:id";
const SERVERS: [&str; 2] = ["web-1", "web-2"];
const HISTORY_LINES: usize = 60_000;
const TIME: &str = "27/Nov/2026:10:00:00 +0900";

// ------------------------------------------------------------------------------------------
// Live traffic: normal lines on both servers every 100 ms, plus a 503 burst on web-2.

const NORMAL: u8 = 0;
const BURST: u8 = 1;
const STOP: u8 = 2;

/// When the first burst line was written (and its unix time), and the last.
type BurstTimes = (Option<(Instant, f64)>, Option<Instant>);

struct Live {
    mode: Arc<AtomicU8>,
    lines: Arc<Mutex<Vec<Line>>>,
    burst: Arc<Mutex<BurstTimes>>,
    thread: Option<JoinHandle<Gen>>,
}

/// Prometheus' scrape and evaluation interval in seconds (1, or the environment's).
fn scrape_seconds() -> u64 {
    std::env::var("LOGPULSE_STACK_SCRAPE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s| (1..=60).contains(s))
        .unwrap_or(1)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl Live {
    fn start(mut g: Gen, logs: Vec<PathBuf>) -> Live {
        let mode = Arc::new(AtomicU8::new(NORMAL));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let burst = Arc::new(Mutex::new((None, None)));
        let (m, l, b) = (mode.clone(), lines.clone(), burst.clone());
        let thread = std::thread::spawn(move || {
            let mut files: Vec<_> = logs
                .iter()
                .map(|p| OpenOptions::new().append(true).open(p).unwrap())
                .collect();
            let mut n = 0usize;
            loop {
                let mode = m.load(Ordering::SeqCst);
                if mode == STOP {
                    return g;
                }
                let mut batch: Vec<Line> = (0..6).map(|_| g.next(TIME)).collect();
                if mode == BURST {
                    for _ in 0..3 {
                        n += 1;
                        let tenant = if n % 10 < 7 { "acme" } else { "beta" };
                        batch.push(g.burst(TIME, 1, tenant));
                    }
                }
                let mut text = vec![String::new(); files.len()];
                for line in &batch {
                    text[line.server].push_str(&line.text);
                }
                for (f, t) in files.iter_mut().zip(&text) {
                    f.write_all(t.as_bytes()).unwrap();
                }
                if mode == BURST {
                    let mut b = b.lock().unwrap();
                    b.0.get_or_insert((Instant::now(), unix_now()));
                    b.1 = Some(Instant::now());
                }
                l.lock().unwrap().extend(batch);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Live {
            mode,
            lines,
            burst,
            thread: Some(thread),
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn stop(&mut self) {
        self.set(STOP);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop();
    }
}

// ------------------------------------------------------------------------------------------
// Prometheus API

/// `sum by (keys) (expr)` from Prometheus at Unix time `at`, as a tally (zeros left out).
fn tally(prom: SocketAddr, at: f64, expr: &str, keys: &[&str]) -> BTreeMap<Vec<String>, u64> {
    let q = format!("sum by ({}) ({expr})", keys.join(", "));
    let v = prom_query_at(prom, &q, at).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut out = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let n: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        if n != 0.0 {
            let k = keys
                .iter()
                .map(|k| s["metric"][*k].as_str().unwrap_or("").to_string())
                .collect();
            out.insert(k, n as u64);
        }
    }
    out
}

fn firing(prom: SocketAddr, name: &str, route: &str) -> Option<Value> {
    let r = get(prom, "/api/v1/alerts").ok()?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| {
            a["labels"]["alertname"] == name
                && a["labels"]["route"] == route
                && a["state"] == "firing"
        })
        .cloned()
}

// ------------------------------------------------------------------------------------------

#[test]
fn groupware_pages_name_route_server_and_tenant_and_views_equal_the_log() {
    let t0 = Instant::now();
    let every = scrape_seconds();
    let scrapes = |n: u64| Duration::from_secs(n * every);
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

    // --- The history: 60,000 lines over two servers, read from the start by the agents.
    let mut g = Gen::new(2026, 1000, SERVERS.len());
    // Every 5xx is the burst's, so the page must name exactly its server and tenants.
    g.server_error_ppm = 0;
    let history: Vec<Line> = (0..HISTORY_LINES).map(|_| g.next(TIME)).collect();
    let logs: Vec<PathBuf> = SERVERS
        .iter()
        .map(|s| dir.join(format!("{s}.access.log")))
        .collect();
    for (i, p) in logs.iter().enumerate() {
        let text: String = history
            .iter()
            .filter(|l| l.server == i)
            .map(|l| l.text.as_str())
            .collect();
        write(p, &text);
    }
    let example = read(&repo().join("examples/groupware.yml"));

    // --- Alertmanager: the repository's config and timings; secrets and PagerDuty → rx.
    let mut am_proc = start_alertmanager(&dir.join("alertmanager"), am, rx.addr, "gw-key", |t| t);

    // --- Prometheus: 1 s scrape and evaluation, the repository's rules.
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
            "global: {{scrape_interval: {every}s, scrape_timeout: 1s, evaluation_interval: {every}s}}\n\
             rule_files: [\"{}\"]\n\
             alerting:\n  alertmanagers: [{{static_configs: [{{targets: [\"{am}\"]}}]}}]\n\
             scrape_configs:\n  - job_name: logpulse\n    static_configs:\n{targets}",
            repo().join("alert-rules/logpulse.rules.yml").display()
        ),
    );
    let mut prom_proc = Proc::spawn(
        "prometheus",
        &mut prometheus_cmd(&prometheus, &prom_cfg, &dir.join("tsdb"), prom),
        dir.join("prometheus.log"),
    );

    // --- The agents: examples/groupware.yml on each server's log.
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
    say("two agents, Prometheus and Alertmanager ready");

    let scraped_all = |want: u64, at: f64| {
        prom_query_at(prom, "sum(logpulse_lines_total{job=\"logpulse\"})", at)
            .ok()
            .and_then(|v| {
                v["data"]["result"][0]["value"][1]
                    .as_str()?
                    .parse::<f64>()
                    .ok()
            })
            .filter(|n| *n as u64 == want)
    };
    if wait_for(
        Duration::from_secs(40) + scrapes(3),
        Duration::from_millis(200),
        || scraped_all(HISTORY_LINES as u64, unix_now()),
    )
    .is_none()
    {
        panic!(
            "Prometheus never saw the {HISTORY_LINES} history lines\n{}",
            prom_proc.log()
        );
    }
    say(&format!("{HISTORY_LINES} history lines read and scraped"));

    // --- Live traffic, and a burst of 503 on web-2 until Prometheus fires.
    let mut live = Live::start(g, logs.clone());
    std::thread::sleep(Duration::from_secs(2));
    live.set(BURST);
    say("5xx burst on web-2 (acme 70 %, beta 30 %) started");
    let mut fired = None;
    wait_for(
        Duration::from_secs(30) + scrapes(4),
        Duration::from_millis(100),
        || firing(prom, "HTTP5xxBurst", ROUTE).map(|a| fired = Some((Instant::now(), a))),
    );
    let Some((fired_at, alert)) = fired else {
        panic!("HTTP5xxBurst never fired\n{}", prom_proc.log());
    };
    live.set(NORMAL);
    let first = live.burst.lock().unwrap().0.expect("burst lines written");
    say(&format!(
        "HTTP5xxBurst firing {:.1} s after the first 503 line; burst stopped",
        fired_at.duration_since(first.0).as_secs_f64()
    ));
    println!("--- alert annotations: {}", alert["annotations"]);

    // --- The page, Slack and PagerDuty.
    let page = wait_for(Duration::from_secs(40), Duration::from_millis(100), || {
        let slack = rx.find("/slack", first.0, |n| {
            let t = n.text();
            t.contains("[FIRING") && t.contains("HTTP5xxBurst") && t.contains(ROUTE)
        })?;
        let pd = rx.find("/pagerduty", first.0, |n| {
            let j = n.json();
            j["event_action"] == "trigger"
                && j["payload"]["summary"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("HTTP5xxBurst"))
        })?;
        Some((slack, pd))
    });
    let Some((slack, pd)) = page else {
        panic!("no page within 40 s: {:#?}\n{}", rx.all(), am_proc.log());
    };
    let st = slack.text();
    println!("--- Slack page\n{st}\n---");
    let summary = pd.json()["payload"]["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    println!("--- PagerDuty summary: {summary}");
    assert!(
        st.contains(&format!("route: `{ROUTE}`")),
        "route not named: {st}"
    );
    let line_of = |p: &str| {
        st.lines()
            .find(|l| l.starts_with(p))
            .unwrap_or("")
            .to_string()
    };
    let servers = line_of("servers: ");
    assert!(
        servers.starts_with("servers: web-2 (") && !servers.contains("web-1"),
        "{st}"
    );
    let tenants = line_of("tenants: ");
    assert!(
        tenants.starts_with("tenants: acme (") && tenants.contains(", beta ("),
        "{st}"
    );
    assert_eq!(
        tenants.matches(" (").count(),
        2,
        "only the burst's tenants: {st}"
    );
    let since = line_of("failing since: ");
    let started = parse_page_time(since.trim_start_matches("failing since: "))
        .unwrap_or_else(|| panic!("no start time in the page: {st}"));
    // Found at the evaluation after the scrape that first saw a 503: within two intervals.
    let late = started - first.1;
    assert!(
        (-1.0..=5.0 + 2.0 * every as f64).contains(&late),
        "failing since {started}, first 503 line at {:.0}",
        first.1
    );
    for want in [ROUTE, "web-2", "acme"] {
        assert!(
            summary.contains(want),
            "PagerDuty summary lacks {want}: {summary}"
        );
    }
    say(&format!(
        "PAGE: first 503 line → Slack {:.1} s, PagerDuty {:.1} s (group_wait 10 s as shipped); failing since {:+.1} s of the first 503 line",
        slack.at.duration_since(first.0).as_secs_f64(),
        pd.at.duration_since(first.0).as_secs_f64(),
        started - first.1
    ));

    // --- Every dashboard query returns data while live traffic runs.
    let (nqueries, problems) = dashboard_problems(
        prom,
        &format!("{}s", 60.max(4 * every)),
        "5m",
        ACCESS_LOG_DASHBOARDS,
    );
    assert!(
        problems.is_empty(),
        "dashboards on live data:\n{}",
        problems.join("\n")
    );
    say(&format!("{nqueries} dashboard queries return data"));

    // --- Counts: Prometheus against the facts of every line written.
    live.stop();
    let mut lines = history;
    lines.extend(live.lines.lock().unwrap().drain(..));
    let total = lines.len() as u64;
    // Every count below is read at one instant `at` at which both agents' scrapes show all the
    // lines, and which no scrape can still change: a scrape writes its samples, or on failure
    // (a timeout on a loaded machine) stale markers for all of its target's series, at its start
    // time, up to scrape_timeout (1 s) later. Read at "now", a failed scrape between two queries
    // drops one agent from the later ones: they then show about half of each count.
    let settled = || unix_now() - 3.0;
    let Some(at) = wait_for(
        Duration::from_secs(20) + scrapes(3),
        Duration::from_millis(200),
        || {
            let at = settled();
            scraped_all(total, at).map(|_| at)
        },
    ) else {
        panic!("Prometheus does not show the {total} lines written");
    };
    // A series born in the last lines is scraped at 0 first, with its value at the next scrape
    // (docs/metrics.md): read one scrape interval and a second later, once that is settled too.
    // That instant must have both agents' scrapes too (a scrape that timed out there, on a
    // loaded machine, leaves every series stale at it): the first settled one from then on.
    let later = at + every as f64 + 1.0;
    while settled() < later {
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(at) = wait_for(
        Duration::from_secs(20) + scrapes(3),
        Duration::from_millis(200),
        || {
            let at = settled().max(later);
            scraped_all(total, at).map(|_| at)
        },
    ) else {
        panic!("Prometheus does not show the {total} lines written a scrape later");
    };
    let t = truth(&lines, 30);
    let mut bad = Vec::new();
    let mut check = |what: &str, got, want| {
        if let Some(d) = diff(what, &got, &want) {
            bad.push(d);
        }
    };
    let tenant_menus = tally(prom, at, "http_tenant_requests_total", &["tenant", "menu"]);
    check(
        "menus per tenant",
        tenant_menus.clone(),
        keyed2(&t.tenant_menu),
    );
    check(
        "devices per tenant",
        tally(
            prom,
            at,
            "http_tenant_requests_total",
            &["tenant", "device"],
        ),
        keyed2(&t.tenant_device),
    );
    check(
        "errors per tenant and menu",
        tally(
            prom,
            at,
            "http_tenant_errors_total",
            &["tenant", "menu", "status_class"],
        ),
        keyed3(&t.tenant_errors),
    );
    check(
        "referrers",
        tally(prom, at, "http_referrer_requests_total", &["referrer"]),
        keyed1(&t.referrer),
    );
    check(
        "devices",
        tally(prom, at, "http_client_requests_total", &["device"]),
        keyed1(&t.device),
    );
    check(
        "security events",
        tally(prom, at, "http_security_events_total", &["kind"]),
        keyed1(&t.security),
    );
    check(
        "apps",
        tally(prom, at, "http_app_requests_total", &["app", "app_version"]),
        keyed2(&t.app),
    );
    assert!(
        bad.is_empty(),
        "Prometheus differs from the log:\n{}",
        bad.join("\n")
    );
    let top = |m: &BTreeMap<Vec<String>, u64>, tenant: &str| {
        let mut v: Vec<(u64, &str)> = m
            .iter()
            .filter(|(k, _)| k[0] == tenant)
            .map(|(k, n)| (*n, k[1].as_str()))
            .collect();
        v.sort_by(|a, b| b.cmp(a));
        v.truncate(3);
        format!("{v:?}")
    };
    say(&format!(
        "{total} lines: menus, devices and errors per tenant ({} tenants), referrers, devices, security kinds and app versions equal the log; acme's top menus {}",
        tally(prom, at, "http_tenant_requests_total", &["tenant"]).len(),
        top(&tenant_menus, "acme")
    ));
    let overflow = prom_query_at(prom, "count({tenant=\"__overflow__\"}) or count({route=\"__overflow__\"}) or sum(logpulse_series_dropped_total) > 0", at).unwrap();
    assert_eq!(
        result_len(&overflow),
        0,
        "overflow at default limits: {overflow}"
    );
    let series = prom_query_at(
        prom,
        "sort_desc(count by (__name__) ({__name__=~\"http_.+\", instance=\"web-1\"}))",
        at,
    )
    .unwrap();
    let counts: Vec<String> = series["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["metric"]["__name__"].as_str().unwrap(),
                s["value"][1].as_str().unwrap()
            )
        })
        .collect();
    println!("series on web-1 (Prometheus side): {}", counts.join(", "));
    let own = get(prom, "/metrics").map(|r| r.body).unwrap_or_default();
    let metric = |name: &str| {
        own.lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(f64::NAN)
    };
    println!(
        "Prometheus: {} head series, {:.0} MiB resident",
        metric("prometheus_tsdb_head_series"),
        metric("process_resident_memory_bytes") / 1048576.0
    );

    // --- Resolved: Slack and a PagerDuty resolve event with a summary.
    let last = live.burst.lock().unwrap().1.expect("burst lines written");
    let resolved = wait_for(
        Duration::from_secs(120) + scrapes(6),
        Duration::from_millis(200),
        || {
            let s = rx.find("/slack", last, |n| {
                let t = n.text();
                t.contains("[RESOLVED]") && t.contains("HTTP5xxBurst") && t.contains(ROUTE)
            })?;
            let p = rx.find("/pagerduty", last, |n| {
                let j = n.json();
                j["event_action"] == "resolve"
                    && j["payload"]["summary"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("RESOLVED HTTP5xxBurst"))
            })?;
            Some((s, p))
        },
    );
    let Some((rs, rp)) = resolved else {
        panic!(
            "no resolved notices within 120 s: {:#?}\n{}",
            rx.all(),
            am_proc.log()
        );
    };
    let rsum = rp.json()["payload"]["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    println!("--- PagerDuty resolve summary: {rsum}");
    assert!(
        rsum.starts_with("RESOLVED HTTP5xxBurst") && rsum.contains(ROUTE),
        "{rsum}"
    );
    say(&format!(
        "RESOLVED: last 503 line → Slack {:.1} s, PagerDuty {:.1} s (group_interval 1 m as shipped)",
        rs.at.duration_since(last).as_secs_f64(),
        rp.at.duration_since(last).as_secs_f64()
    ));
    for p in agent_procs.iter_mut() {
        p.assert_running();
    }
    prom_proc.assert_running();
    am_proc.assert_running();
}
