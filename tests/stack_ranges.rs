//! Range panels are exact, also for series born inside the range, on two real Prometheus
//! replicas (an HA pair, each at its own scrape phase) scraping one agent.
//!
//! A generated groupware log of 1,000 customer companies (tests/groupware/gen.rs) is written in
//! two phases while both replicas scrape every second: in phase A half the tenants never
//! appear, in phase B they do, and with them new statuses (502, 503) on new routes; one 500
//! route goes on from phase A. Every range panel of the service dashboard (status codes, top
//! routes by 5xx, errors by tenant and menu), the security dashboard's events by kind and the
//! exact range total of the requests per tenant, evaluated over phase B alone and over both
//! phases, equal counts made from the lines written, on each replica. Plain `increase()` is
//! printed beside them: it no longer loses the first count of a new series (never below the
//! count), and errs above by its extrapolation.
//!
//! `cargo test --test stack_ranges -- --nocapture` prints the per-panel comparison (rows, sum in
//! Prometheus, sum in the lines).

#[path = "groupware/gen.rs"]
mod gen;
#[path = "common/stack.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gen::*;
use support::*;

const TIME: &str = "27/Nov/2026:10:00:00 +0900";
/// Prometheus' scrape interval, and the agent's `global.scrape_interval`.
const SCRAPE_S: u64 = 2;
const REPLICAS: [&str; 2] = ["a", "b"];
const PHASE_LINES: usize = 8_000;
const BATCHES: usize = 16;

type Tally = BTreeMap<Vec<String>, u64>;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The exact range total of `sel` by `by`, as the dashboards write it (see docs/metrics.md).
fn exact(sel: &str, by: &str, range: &str) -> String {
    format!(
        "sum by ({by}) ((({sel} - {sel} offset {range}) or {sel}) unless (resets({sel}[{range}]) > 0) or increase({sel}[{range}]))"
    )
}

/// An instant query at `at` as `keys` → value (zeros left out).
fn query(prom: SocketAddr, q: &str, at: f64, keys: &[&str]) -> BTreeMap<Vec<String>, f64> {
    let v = prom_query_at(prom, q, at).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut out = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let n: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        if n != 0.0 {
            let k = keys
                .iter()
                .map(|k| s["metric"][*k].as_str().unwrap_or("").to_string())
                .collect();
            out.insert(k, n);
        }
    }
    out
}

/// The expression of the panel titled `title` of dashboard `file` (its only target).
fn panel_of(file: &str, title: &str) -> String {
    dashboard_queries()
        .into_iter()
        .find(|q| q.0 == file && q.1 == title)
        .unwrap_or_else(|| panic!("no panel {title:?} on {file}"))
        .3
}

/// The service dashboard's panel titled `title`.
fn panel(title: &str) -> String {
    panel_of("logpulse-service.json", title)
}

/// What the lines say, per panel.
struct Truth {
    status: Tally,
    route_5xx: Tally,
    tenant_errors: Tally,
    tenant: Tally,
    security: Tally,
}

impl Truth {
    /// Statuses and 5xx routes counted here; per-tenant counts by gen's own tally.
    fn of(lines: &[&(Line, Option<&'static str>)]) -> Truth {
        let (mut status, mut route_5xx) = (Tally::new(), Tally::new());
        for (l, route) in lines {
            *status.entry(vec![l.status.to_string()]).or_default() += 1;
            if let (Some(r), 500..=599) = (route, l.status) {
                *route_5xx
                    .entry(vec!["web".into(), r.to_string(), l.status.to_string()])
                    .or_default() += 1;
            }
        }
        let owned: Vec<Line> = lines.iter().map(|(l, _)| l.clone()).collect();
        let t = truth(&owned, 30);
        let mut tenant = Tally::new();
        for ((tn, _menu), n) in &t.tenant_menu {
            *tenant.entry(vec![tn.clone()]).or_default() += n;
        }
        let tenant_errors = t
            .tenant_errors
            .iter()
            .map(|((tn, m, c), n)| (vec![tn.clone(), m.clone(), c.clone()], *n))
            .collect();
        let security = t
            .security
            .iter()
            .map(|(kind, n)| (vec!["web".to_string(), kind.clone()], *n))
            .collect();
        Truth {
            status,
            route_5xx,
            tenant_errors,
            tenant,
            security,
        }
    }
}

/// A 5xx `status` on `path` (a route without ids, so the route is the path) for `tenant`.
fn error_line(g: &mut Gen, tenant: &str, path: &str, status: u16) -> Line {
    let mut l = g.burst(TIME, 0, tenant);
    l.text = l
        .text
        .replace(
            &l.text[l.text.find("\"GET ").unwrap()..l.text.find(" HTTP/1.1\"").unwrap()],
            &format!("\"GET {path}"),
        )
        .replace("\" 503 ", &format!("\" {status} "));
    l.status = status;
    l.menu = Some(match path.split('/').nth(3) {
        Some("mail") => "mail",
        Some("calendar") => "calendar",
        _ => "approval",
    });
    l
}

const ROUTE_500: &str = "/api/v1/calendar/events";
const ROUTE_502: &str = "/api/v1/mail/send";
const ROUTE_503: &str = "/api/v1/approval/docs/:id";

/// Phase lines: gen's traffic (tenants in `skip` left out), plus 5xx lines.
fn phase(g: &mut Gen, skip: &BTreeSet<String>, b: bool) -> Vec<(Line, Option<&'static str>)> {
    let mut out = Vec::new();
    while out.len() < PHASE_LINES {
        let l = g.next(TIME);
        if !skip.contains(&l.tenant) {
            out.push((l, None));
        }
    }
    let mut errs = Vec::new();
    for i in 0..60 {
        let t = ["acme", "c0007", "c0321"][i % 3];
        errs.push((error_line(g, t, ROUTE_500, 500), Some(ROUTE_500)));
    }
    if b {
        // New statuses, new routes, and tenants seen for the first time (c0901..).
        for i in 0..45 {
            let t = ["beta", "c0901", "c0977"][i % 3];
            errs.push((error_line(g, t, ROUTE_502, 502), Some(ROUTE_502)));
        }
        for i in 0..40 {
            let t = ["acme", "c0950"][i % 2];
            errs.push((g.burst(TIME, 0, t), Some(ROUTE_503)));
        }
    }
    // Spread the errors through the phase, so series are born between scrapes.
    let step = out.len() / errs.len();
    for (i, e) in errs.into_iter().enumerate().rev() {
        out.insert(i * step, e);
    }
    out
}

/// Write `lines` in batches a quarter of a second apart; returns when the first line of
/// `route` was written (unix seconds).
fn write_phase(log: &Path, lines: &[(Line, Option<&'static str>)], route: &str) -> Option<f64> {
    let mut f = OpenOptions::new().append(true).open(log).unwrap();
    let mut first = None;
    for chunk in lines.chunks(lines.len().div_ceil(BATCHES)) {
        let text: String = chunk.iter().map(|(l, _)| l.text.as_str()).collect();
        f.write_all(text.as_bytes()).unwrap();
        if first.is_none() && chunk.iter().any(|(_, r)| *r == Some(route)) {
            first = Some(unix_now());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    first
}

/// The samples (seconds after `from`, value) Prometheus stored for `series` up to `at`.
fn samples_since(prom: SocketAddr, series: &str, from: f64, at: f64) -> Vec<(f64, f64)> {
    let span = (at - from).ceil() as u64 + 1;
    let v = prom_query_at(prom, &format!("{series}[{span}s]"), at).unwrap();
    v["data"]["result"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p[0].as_f64().unwrap() - from,
                p[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn range_panels_equal_the_lines_for_series_born_inside_the_range_on_both_replicas() {
    let t0 = Instant::now();
    let say = |what: &str| println!("[{:6.1}s] {what}", t0.elapsed().as_secs_f64());
    let prometheus = tool("prometheus");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let agent: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = dir.join("access.log");
    write(&log, "");
    let cfg = dir.join("agent.yml");
    let example = read(&repo().join("examples/groupware.yml"));
    let agent_cfg = agent_config(&example, &log, &dir.join("state")).replacen(
        "global:\n",
        &format!("global:\n  scrape_interval: {SCRAPE_S}s\n"),
        1,
    );
    write(&cfg, &agent_cfg);
    let mut agent_proc = Proc::spawn(
        "logpulse",
        &mut logpulse_cmd(&cfg, agent),
        dir.join("agent.log"),
    );
    // Replica b scrapes 1 to 1.4 s after replica a: each renders a body of its own (a render is
    // reused for 1 s), b within the hold of a new series (1.5 s), a within 1 s of b. Prometheus
    // sets a target's phase from a hash of its labels: b's `shard` label is tried until so.
    let start_replica = |r: &'static str, shard: usize| {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let pcfg = dir.join(format!("prometheus-{r}{shard}.yml"));
        write(
            &pcfg,
            &format!(
                "global: {{scrape_interval: {SCRAPE_S}s, scrape_timeout: {SCRAPE_S}s, external_labels: {{replica: {r}}}}}\n\
                 scrape_configs:\n  - job_name: logpulse\n    static_configs:\n      - {{targets: [\"{agent}\"], labels: {{instance: web-1, shard: \"{shard}\"}}}}\n"
            ),
        );
        let p = Proc::spawn(
            "prometheus",
            &mut prometheus_cmd(
                &prometheus,
                &pcfg,
                &dir.join(format!("tsdb-{r}{shard}")),
                addr,
            ),
            dir.join(format!("prometheus-{r}{shard}.log")),
        );
        (r, addr, p)
    };
    let scraping = |(r, addr, p): &mut (&str, SocketAddr, Proc)| {
        if wait_for(Duration::from_secs(60), Duration::from_millis(200), || {
            prom_query(*addr, "up{job=\"logpulse\"} == 1")
                .ok()
                .filter(|v| result_len(v) == 1)
        })
        .is_none()
        {
            p.assert_running();
            panic!("replica {r} never scraped the agent\n{}", p.log());
        }
    };
    // When `prom` last scraped the agent (unix seconds).
    let last_scrape = |prom: SocketAddr| -> f64 {
        let v = prom_query(prom, "timestamp(up{job=\"logpulse\"})").unwrap();
        v["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut a_replica = start_replica(REPLICAS[0], 0);
    scraping(&mut a_replica);
    let mut proms = vec![a_replica];
    let mut offset = 0.0;
    // Candidates for b six at a time (each Prometheus takes seconds to start scraping).
    'search: for batch in 0..5 {
        let mut candidates: Vec<_> = (1..=6)
            .map(|i| start_replica(REPLICAS[1], batch * 6 + i))
            .collect();
        candidates.iter_mut().for_each(scraping);
        std::thread::sleep(Duration::from_secs(SCRAPE_S));
        let a_at = last_scrape(proms[0].1);
        for b in candidates {
            offset = (last_scrape(b.1) - a_at).rem_euclid(SCRAPE_S as f64);
            if (1.0..=1.4).contains(&offset) {
                proms.push(b);
                break 'search;
            }
        }
    }
    agent_proc.assert_running();
    assert_eq!(proms.len(), 2, "no label gave replica b another phase");
    say(&format!("replica b scrapes {offset:.2} s after replica a"));
    // Both replicas hold the declared series at 0 before the first line.
    std::thread::sleep(Duration::from_secs(2 * SCRAPE_S));
    let start = unix_now();
    say("agent and two Prometheus replicas up; phase A starts");

    let mut g = Gen::new(2026, 1000, 1);
    g.server_error_ppm = 0;
    let late: BTreeSet<String> = g.tenants()[500..].iter().cloned().collect();
    let a = phase(&mut g, &late, false);
    let b = phase(&mut g, &BTreeSet::new(), true);
    let truth_a = Truth::of(&a.iter().collect::<Vec<_>>());
    let truth_b = Truth::of(&b.iter().collect::<Vec<_>>());
    let truth_all = Truth::of(&a.iter().chain(&b).collect::<Vec<_>>());
    let born_b = truth_b
        .tenant
        .keys()
        .filter(|k| !truth_a.tenant.contains_key(*k))
        .count();
    assert!(born_b > 300, "phase B must bring new tenants: {born_b}");

    // Settled: every replica has every line of the phases so far, as a value at `at`.
    let settle = |want: u64, what: &str| -> f64 {
        let got = |prom: SocketAddr, at: f64| {
            query(prom, "sum(http_requests_total)", at, &[])
                .values()
                .next()
                .copied()
        };
        let ok = wait_for(Duration::from_secs(60), Duration::from_millis(250), || {
            proms
                .iter()
                .all(|(_, p, _)| got(*p, unix_now()) == Some(want as f64))
                .then_some(())
        });
        if ok.is_none() {
            panic!(
                "{what}: replicas show {:?}, want {want}\n{}",
                proms
                    .iter()
                    .map(|(_, p, _)| got(*p, unix_now()))
                    .collect::<Vec<_>>(),
                agent_proc.log()
            );
        }
        std::thread::sleep(Duration::from_secs(2 * SCRAPE_S));
        let at = unix_now() - 0.5;
        for (r, p, _) in &proms {
            assert_eq!(got(*p, at), Some(want as f64), "replica {r} at {at}");
        }
        // Every replica scrapes once more before the next line: increase() over a range
        // starting at `at` has a sample of these values inside the range to start from.
        std::thread::sleep(Duration::from_secs(SCRAPE_S) + Duration::from_millis(500));
        at
    };
    write_phase(&log, &a, ROUTE_503);
    let end_a = settle(a.len() as u64, "phase A");
    say(&format!("phase A: {} lines settled", a.len()));
    let first_503 = write_phase(&log, &b, ROUTE_503).expect("503 lines in phase B");
    let end_b = settle((a.len() + b.len()) as u64, "phase B");
    say(&format!(
        "phase B: {} lines settled ({born_b} tenants first seen in it)",
        b.len()
    ));
    // When a brand-new 5xx series reaches each replica: its first samples after its first line.
    for (r, prom, _) in &proms {
        let s = samples_since(
            *prom,
            &format!("http_requests_total{{route=\"{ROUTE_503}\",status=\"503\"}}"),
            first_503,
            end_b,
        );
        let shown: Vec<String> = s
            .iter()
            .take(3)
            .map(|(t, v)| format!("{v} at {t:+.1} s"))
            .collect();
        say(&format!(
            "replica {r}: the new 503 series after its first line: {}",
            shown.join(", ")
        ));
        assert_eq!(
            s.first().map(|x| x.1),
            Some(0.0),
            "replica {r} saw it at 0 first"
        );
    }

    let sel = |m: &str| format!("{m}{{job=~\".+\", instance=~\".+\", source=~\".+\"}}");
    let mut problems = Vec::new();
    let mut report = Vec::new();
    for (name, from, truth) in [
        ("phase B only", end_a, &truth_b),
        ("both phases", start, &truth_all),
    ] {
        let range = format!("{}ms", ((end_b - from) * 1000.0).round() as u64);
        // (panel, query, labels, what the lines say, rows kept by its topk)
        let checks: Vec<(String, String, Vec<&str>, &Tally, usize)> = vec![
            (
                "Status codes (time range)".into(),
                substitute_grafana(&panel("Status codes (time range)"), "1m", &range),
                vec!["status"],
                &truth.status,
                usize::MAX,
            ),
            (
                "Top routes by 5xx (time range)".into(),
                substitute_grafana(&panel("Top routes by 5xx (time range)"), "1m", &range),
                vec!["source", "route", "status"],
                &truth.route_5xx,
                15,
            ),
            (
                "Errors by tenant and menu (time range)".into(),
                substitute_grafana(
                    &panel("Errors by tenant and menu (time range)"),
                    "1m",
                    &range,
                ),
                vec!["tenant", "menu", "status_class"],
                &truth.tenant_errors,
                20,
            ),
            (
                "Security events by source and kind in the time range".into(),
                substitute_grafana(
                    &panel_of(
                        "logpulse-security.json",
                        "Security events by source and kind in the time range",
                    ),
                    "1m",
                    &range,
                ),
                vec!["source", "kind"],
                &truth.security,
                usize::MAX,
            ),
            (
                "exact total per tenant (every tenant)".into(),
                exact(&sel("http_tenant_requests_total"), "tenant", &range),
                vec!["tenant"],
                &truth.tenant,
                usize::MAX,
            ),
        ];
        for (r, prom, _) in &proms {
            for (title, q, keys, want, topk) in &checks {
                let got = query(*prom, q, end_b, keys);
                let mut bad = 0;
                for (k, v) in &got {
                    if want.get(k).map(|w| *w as f64) != Some(*v) {
                        bad += 1;
                        if bad <= 5 {
                            problems.push(format!(
                                "replica {r}, {name}, {title}: {k:?} = {v}, lines say {:?}",
                                want.get(k)
                            ));
                        }
                    }
                }
                if got.len() != want.len().min(*topk) {
                    problems.push(format!(
                        "replica {r}, {name}, {title}: {} rows, lines say {}",
                        got.len(),
                        want.len()
                    ));
                }
                // Per panel: rows and their sum in Prometheus against the lines (what a
                // topk keeps: its rows' counts in the lines).
                let kept: u64 = got.keys().filter_map(|k| want.get(k)).sum();
                report.push(format!(
                    "{name:13} | {r} | {title:54} | {:>4} of {:>4} rows | {:>7} | {:>7}",
                    got.len(),
                    want.len(),
                    got.values().sum::<f64>(),
                    kept
                ));
            }
            // Plain increase(): no first count lost any more, only extrapolated above.
            let inc = query(
                *prom,
                &format!(
                    "sum by (status) (increase({}[{range}]))",
                    sel("http_requests_total")
                ),
                end_b,
                &["status"],
            );
            let per_tenant = query(
                *prom,
                &format!(
                    "sum by (tenant) (increase({}[{range}]))",
                    sel("http_tenant_requests_total")
                ),
                end_b,
                &["tenant"],
            );
            let (mut lo, mut hi) = (f64::MAX, 0f64);
            for (k, w) in truth.status.iter().chain(&truth.tenant) {
                let v = inc
                    .get(k)
                    .or_else(|| per_tenant.get(k))
                    .copied()
                    .unwrap_or(0.0);
                let ratio = v / *w as f64;
                lo = lo.min(ratio);
                hi = hi.max(ratio);
                if ratio < 0.999_999 {
                    problems.push(format!(
                        "replica {r}, {name}: increase() of {k:?} = {v}, below the {w} lines"
                    ));
                }
            }
            report.push(format!(
                "{name:13} | increase() per status and per tenant, replica {r}: {:+.2} % .. {:+.2} % of the lines",
                (lo - 1.0) * 100.0,
                (hi - 1.0) * 100.0
            ));
        }
    }
    println!(
        "--- range | replica | panel | rows shown of the lines' | sum in Prometheus | in the lines"
    );
    for l in &report {
        println!("{l}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    say("every range panel equals the lines on both replicas");
}
