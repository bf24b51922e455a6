//! The usage aggregates (alert-rules/usage.rules.yml) and the dashboards that read them.
//!
//! Static: every rule has the shape the docs describe, the remote-write regex of its header
//! selects exactly them, the Kubernetes copy is in sync, Prometheus loads them beside the alert
//! rules.
//!
//! Live: two agents on `examples/groupware.yml` and a generated 1,000-tenant log (Korean
//! browsers and in-app browsers, the DaouOffice app, crawlers, scanners, customers on their own
//! domains: tests/groupware/gen.rs), a real Prometheus running the rules with their durations
//! scaled down (a 2 s minute); half of the tenants appear only in a second batch, inside the
//! range. Every range panel of the Usage dashboard (over the second batch, and over everything)
//! and of the Monthly usage dashboard equals the count made from the lines' facts.
//!
//! `cargo test --test stack_usage -- --nocapture` prints the per-panel comparison (rows, sum in
//! Prometheus, sum in the lines).

#[path = "common/mod.rs"]
mod common;
#[path = "groupware/gen.rs"]
mod gen;
#[path = "common/stack.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use gen::*;
use support::*;

/// The `__name__` regex the rule file's header gives for a remote-write of the aggregates.
const AGGREGATES: &str = "[a-z_]+:http_[a-z_]+:increase(5m|1h|1d)";

/// (record, expr) of every rule of a rule file.
fn records(path: &std::path::Path) -> Vec<(String, String)> {
    let y = yaml(path);
    let mut out = Vec::new();
    for g in y["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            let name = r["record"].as_str().or(r["alert"].as_str()).unwrap_or("");
            out.push((
                name.to_string(),
                r["expr"].as_str().unwrap_or("").trim().to_string(),
            ));
        }
    }
    out
}

/// The expression per 5 minutes for raw counter `x` (the rule file's header explains it).
fn per_fifth(x: &str) -> String {
    format!(
        "sum without (instance) (
    ({x} offset 30s) - last_over_time({x}[10m] offset 5m30s) >= 0
  or
    ({x} offset 30s) + clamp_min(max_over_time({x}[5m] offset 30s) - last_over_time({x}[10m] offset 5m30s), 0)
  or
    ({x} offset 30s) and (min_over_time({x}[5m] offset 30s) == 0)
)"
    )
}

#[test]
fn every_aggregate_has_the_documented_shape() {
    let y = yaml(&usage_rules());
    let groups = y["groups"].as_array().unwrap();
    assert_eq!(
        groups.len(),
        1,
        "one group: hours and days read the fifths of the same evaluation"
    );
    assert_eq!(
        groups[0]["interval"], "5m",
        "the arithmetic (offset 5m30s = 5m + 30s) needs a 5m interval"
    );
    let rules = records(&usage_rules());
    let fifths = rules
        .iter()
        .filter(|(n, _)| n.ends_with(":increase5m"))
        .count();
    assert!(fifths >= 10, "{fifths} rules per 5 minutes");
    let mut problems = Vec::new();
    for (name, expr) in &rules {
        let parts: Vec<&str> = name.split(':').collect();
        let [level, metric, op] = parts[..] else {
            problems.push(format!("{name}: not level:metric:operations"));
            continue;
        };
        let want = match op {
            "increase5m" => per_fifth(&format!("{metric}_total")),
            "increase1h" => format!(
                "sum_over_time({level}:{metric}:increase5m[57m30s]) and on () (minute() >= 55)"
            ),
            "increase1d" => format!(
                "sum_over_time({level}:{metric}:increase1h[23h30m]) and on () (hour() == 23 and minute() >= 55)"
            ),
            _ => {
                problems.push(format!("{name}: unknown operation {op}"));
                continue;
            }
        };
        if *expr != want {
            problems.push(format!("{name}:\n{expr}\n  should be\n{want}"));
        }
        // Each rule per 5 minutes has its hour and its day, after it (same evaluation, in order).
        if op == "increase5m" {
            let pos = |n: String| rules.iter().position(|(r, _)| *r == n);
            let m = pos(name.clone());
            let h = pos(format!("{level}:{metric}:increase1h"));
            let d = pos(format!("{level}:{metric}:increase1d"));
            if !(m < h && h < d && m.is_some()) {
                problems.push(format!(
                    "{name}: needs its increase1h and increase1d after it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The regex documented for remote-write keeps every aggregate and nothing else the repository
/// records or exports.
#[test]
fn remote_write_regex_selects_exactly_the_aggregates() {
    let header = read(&usage_rules());
    assert!(
        header.contains(&format!("__name__ =~ \"{AGGREGATES}\""))
            && header.contains(&format!("regex: \"{AGGREGATES}\"")),
        "alert-rules/usage.rules.yml's header must give the regex {AGGREGATES}"
    );
    let re = regex::Regex::new(&format!("^(?:{AGGREGATES})$")).unwrap();
    for (name, _) in records(&usage_rules()) {
        assert!(re.is_match(&name), "{name} is not selected by {AGGREGATES}");
    }
    for (name, _) in records(&repo().join("alert-rules/logpulse.rules.yml")) {
        assert!(
            !re.is_match(&name),
            "{name} (logpulse.rules.yml) would be kept by the aggregates' regex {AGGREGATES}"
        );
    }
    let docs = read(&repo().join("docs/metrics.md"));
    for word in docs.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("http_") || word.starts_with("logpulse_") {
            assert!(!re.is_match(word), "{word} would be kept by {AGGREGATES}");
        }
    }
}

#[test]
fn prometheus_operator_usage_rule_is_in_sync() {
    let rules = yaml(&usage_rules());
    let pr = yaml(&repo().join("deploy/kubernetes/prometheusrule-usage.yaml"));
    assert_eq!(pr["kind"], "PrometheusRule");
    assert!(
        pr["spec"]["groups"] == rules["groups"],
        "deploy/kubernetes/prometheusrule-usage.yaml differs from alert-rules/usage.rules.yml: \
         regenerate it with the command in its header"
    );
}

/// deploy/prometheus/prometheus.yml loads both rule files as installed (rules/*.rules.yml), and
/// deploy/compose.yaml mounts both.
#[test]
fn prometheus_loads_usage_rules_beside_the_alerts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        &d.join("prometheus.yml"),
        &read(&repo().join("deploy/prometheus/prometheus.yml")),
    );
    for f in ["logpulse.rules.yml", "usage.rules.yml"] {
        write(
            &d.join("rules").join(f),
            &read(&repo().join("alert-rules").join(f)),
        );
    }
    write(
        &d.join("targets/example.json"),
        &read(&repo().join("deploy/prometheus/targets.json")),
    );
    let out = run_ok(
        Command::new(tool("promtool"))
            .arg("check")
            .arg("config")
            .arg(d.join("prometheus.yml")),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 rule files found"), "{text}");
    let compose = read(&repo().join("deploy/compose.yaml"));
    assert!(
        compose.contains("../alert-rules/usage.rules.yml:/etc/prometheus/rules/usage.rules.yml"),
        "deploy/compose.yaml does not mount the usage rules"
    );
}

// ------------------------------------------------------------------------------------------
// The dashboards against a real Prometheus running the rules, on a generated 1,000-tenant log.

const SERVERS: [&str; 2] = ["web-1", "web-2"];
const TIME: &str = "06/Dec/2026:10:00:00 +0900";
/// Lines in all; the first batch holds the first half of the tenants only.
const LINES: usize = 9_000;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A series' labels as `k=v` pairs (sorted, without `__name__`): the tally key.
type Key = Vec<String>;

fn key(pairs: &[(&str, &str)]) -> Key {
    let mut k: Key = pairs.iter().map(|(a, b)| format!("{a}={b}")).collect();
    k.sort();
    k
}

/// An instant query at `at`: every series of the answer, keyed by its labels.
fn answer(prom: SocketAddr, q: &str, at: f64) -> BTreeMap<Key, f64> {
    let v = prom_query_at(prom, q, at).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut out = BTreeMap::new();
    let r = &v["data"]["result"];
    for s in r.as_array().into_iter().flatten() {
        let mut k: Key = s["metric"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(n, _)| *n != "__name__")
            .map(|(n, v)| format!("{n}={}", v.as_str().unwrap()))
            .collect();
        k.sort();
        let n: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        out.insert(k, n);
    }
    out
}

/// The value at `at` of a query giving one number (0 when it gives nothing), or `None` when
/// Prometheus does not answer.
fn scalar_at(prom: SocketAddr, q: &str, at: f64) -> Option<f64> {
    let v = prom_query_at(prom, q, at).ok()?;
    let r = v["data"]["result"].as_array()?;
    Some(
        r.iter()
            .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .sum(),
    )
}

fn tally<K: Ord>(
    m: &BTreeMap<K, u64>,
    k: impl Fn(&K) -> Vec<(&'static str, String)>,
) -> BTreeMap<Key, f64> {
    let mut out: BTreeMap<Key, f64> = BTreeMap::new();
    for (a, n) in m {
        let pairs = k(a);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(x, y)| (*x, y.as_str())).collect();
        *out.entry(key(&refs)).or_default() += *n as f64;
    }
    out.retain(|_, v| *v != 0.0);
    out
}

/// `num` over `den` keyed like `num`, `den` keyed by the labels of `on`.
fn ratio(num: &BTreeMap<Key, f64>, den: &BTreeMap<Key, f64>, on: &[&str]) -> BTreeMap<Key, f64> {
    num.iter()
        .map(|(k, n)| {
            let d: Key = k
                .iter()
                .filter(|p| on.iter().any(|o| p.starts_with(&format!("{o}="))))
                .cloned()
                .collect();
            (k.clone(), n / den[&d])
        })
        .collect()
}

/// (tenant, menu, device) of a page view.
type PageKey = (String, String, String);
/// Label pairs of a tally key.
type Pairs = Vec<(&'static str, String)>;

/// What each usage panel must show over a range, from the lines' facts.
fn expected(t: &Truth) -> BTreeMap<&'static str, BTreeMap<Key, f64>> {
    let s = |x: &str| x.to_string();
    let pages = |f: fn(&PageKey) -> Pairs| tally(&t.pages, f);
    let total =
        |m: &BTreeMap<Key, f64>| -> BTreeMap<Key, f64> { [(Key::new(), m.values().sum())].into() };
    let mut e = BTreeMap::new();
    let pv_menu = pages(|k| vec![("menu", k.1.clone())]);
    e.insert("Page views (time range)", total(&pv_menu));
    let menu_device = tally(&t.menu_device, |k| {
        vec![("menu", k.0.clone()), ("device", k.1.clone())]
    });
    let people: BTreeMap<Key, f64> = menu_device
        .iter()
        .filter(|(k, _)| !k.contains(&s("device=bot")) && !k.contains(&s("menu=static")))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    e.insert("Requests by people (time range)", total(&people));
    let dev = tally(&t.device, |k| vec![("device", k.clone())]);
    let d = |c: &str| dev.get(&key(&[("device", c)])).copied().unwrap_or(0.0);
    let persons: f64 = dev.values().sum::<f64>() - d("bot");
    e.insert(
        "Mobile share (time range)",
        [(Key::new(), (d("mobile_app") + d("mobile_web")) / persons)].into(),
    );
    e.insert(
        "Mobile app share (time range)",
        [(Key::new(), d("mobile_app") / persons)].into(),
    );
    let tenants: BTreeSet<&String> = t
        .tenant_menu
        .keys()
        .map(|(t, _)| t)
        .filter(|t| *t != "other")
        .collect();
    e.insert(
        "Active tenants (time range)",
        [(Key::new(), tenants.len() as f64)].into(),
    );
    e.insert("Top menus, page views (time range)", pv_menu.clone());
    let pv_menu_device = pages(|k| vec![("menu", k.1.clone()), ("device", k.2.clone())]);
    e.insert("Page views by menu and device (time range)", pv_menu_device);
    let no_static: BTreeMap<Key, f64> = menu_device
        .iter()
        .filter(|(k, _)| !k.contains(&s("menu=static")))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    e.insert("Requests by menu and device (time range)", no_static);
    e.insert("Device share (time range)", dev.clone());
    e.insert(
        "App versions by platform (time range)",
        tally(&t.app_platform, |k| {
            vec![
                ("app", k.0.clone()),
                ("platform", k.1.clone()),
                ("app_version", k.2.clone()),
            ]
        }),
    );
    let treq = tally(&t.tenant_menu, |k| vec![("tenant", k.0.clone())]);
    e.insert("Requests per tenant (time range)", treq.clone());
    let tpv = pages(|k| vec![("tenant", k.0.clone())]);
    e.insert("Page views per tenant (time range)", tpv.clone());
    let tpv_menu = pages(|k| vec![("tenant", k.0.clone()), ("menu", k.1.clone())]);
    e.insert(
        "Top menus of $tenant, page views (time range)",
        tpv_menu.clone(),
    );
    let tdev = tally(&t.tenant_device, |k| {
        vec![("tenant", k.0.clone()), ("device", k.1.clone())]
    });
    e.insert(
        "Mobile vs PC per tenant (time range)",
        ratio(&tdev, &treq, &["tenant"]),
    );
    let tmenu = tally(&t.tenant_menu, |k| {
        vec![("tenant", k.0.clone()), ("menu", k.1.clone())]
    });
    e.insert(
        "Menus per tenant, requests (time range)",
        tmenu
            .into_iter()
            .filter(|(k, _)| !k.contains(&s("menu=static")))
            .collect(),
    );
    let pref = tally(&t.page_referrer, |k| vec![("referrer", k.clone())]);
    e.insert("Top referrers of page views (time range)", pref.clone());
    e.insert(
        "Referrer share of page views (time range)",
        ratio(&pref, &total(&pref), &[]),
    );
    e.insert("Referrers of page views (time range)", pref);
    let tref = tally(&t.tenant_page_referrer, |k| {
        vec![("tenant", k.0.clone()), ("referrer", k.1.clone())]
    });
    e.insert(
        "Referrers per tenant, page views (time range)",
        tref.clone(),
    );
    // The top 20 tenants by page views; ties at the 20th place are checked apart.
    e.insert(
        "Referrers of the top 20 tenants, page views (time range)",
        tref,
    );
    e.insert("Usage by tenant (time range) A", treq);
    e.insert("Usage by tenant (time range) B", tpv);
    e.insert("Menus of $tenant, page views (time range)", tpv_menu);
    e.insert(
        "Devices per tenant (time range)",
        ratio(
            &tdev,
            &tally(&t.tenant_device, |k| vec![("tenant", k.0.clone())]),
            &["tenant"],
        ),
    );
    e.insert(
        "Errors per tenant (time range)",
        tally(&t.tenant_errors, |k| {
            vec![("tenant", k.0.clone()), ("status_class", k.2.clone())]
        }),
    );
    e.insert(
        "Security events (time range)",
        tally(&t.security, |k| vec![("kind", k.clone())]),
    );
    e
}

/// Every aggregate of the rule file ending in `suffix`, with the total the lines give it
/// (requests by device first: the family that completes first).
fn aggregate_totals(t: &Truth, suffix: &str) -> Vec<(String, f64)> {
    let sum = |v: &mut dyn Iterator<Item = &u64>| v.sum::<u64>() as f64;
    let mut out: Vec<(String, f64)> = records(&usage_rules())
        .into_iter()
        .filter(|(name, _)| name.ends_with(&format!(":{suffix}")))
        .map(|(name, _)| {
            let n = match name.split(':').nth(1).unwrap_or_default() {
                "http_client_requests" => sum(&mut t.device.values()),
                "http_tenant_requests" => sum(&mut t.tenant_menu.values()),
                "http_tenant_page_views" | "http_page_views" => sum(&mut t.pages.values()),
                "http_tenant_page_referrers" => sum(&mut t.tenant_page_referrer.values()),
                "http_page_referrers" => sum(&mut t.page_referrer.values()),
                "http_menu_requests" => sum(&mut t.menu_device.values()),
                "http_app_requests" => sum(&mut t.app_platform.values()),
                "http_security_events" => sum(&mut t.security.values()),
                "http_tenant_errors" => sum(&mut t.tenant_errors.values()),
                other => panic!("{name}: no count from the lines for {other}"),
            };
            (name, n)
        })
        .collect();
    out.sort_by_key(|(name, _)| !name.contains(":http_client_requests:"));
    assert!(out.len() >= 10, "{suffix}: {out:?}");
    out
}

/// Prometheus' own metrics of the usage rule group (durations, misses; the summary of
/// evaluation times is of its only group).
fn rule_metrics(prom: SocketAddr) -> Vec<String> {
    get(prom, "/metrics")
        .map(|r| r.body)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.starts_with("prometheus_rule_group_duration_seconds")
                || (l.starts_with("prometheus_rule_group_") && l.contains("usage"))
        })
        .map(String::from)
        .collect()
}

/// Grafana's variables as the dashboard's defaults give them (every job, source and tenant),
/// server `instance` (`^$`, "All": the aggregates; a server: its raw counters), the range
/// `range`. `$__rate_interval` is at least the panel's
/// interval (5m, 1h or 1d: here 5 s, 15 s, 30 s) plus a scrape, so that a graph of hours or
/// days holds the last one.
fn as_grafana_would(expr: &str, range: &str, instance: &str) -> String {
    let rate_interval = if expr.contains(":increase1d") {
        "31s"
    } else if expr.contains(":increase1h") {
        "16s"
    } else {
        "10s"
    };
    expr.replace("$__range", range)
        .replace("$__rate_interval", rate_interval)
        .replace("$job", ".+")
        .replace("$instance", instance)
        .replace("$source", ".+")
        .replace("$tenant", ".+")
}

/// Compares every range panel of `dashboard` at `at` over `range`, for server `instance`, with
/// `want`; returns one report line per panel and the differences.
fn compare(
    prom: SocketAddr,
    dashboard: &str,
    at: f64,
    range: &str,
    want: &BTreeMap<&'static str, BTreeMap<Key, f64>>,
    pages_by_tenant: &BTreeMap<Key, f64>,
    instance: &str,
) -> (Vec<String>, Vec<String>) {
    let (mut report, mut bad) = (Vec::new(), Vec::new());
    for (file, title, refid, expr, instant) in dashboard_queries() {
        if file != dashboard {
            continue;
        }
        let q = as_grafana_would(&expr, range, instance);
        if !instant {
            // Per-minute graphs: data from the aggregates.
            if answer(prom, &q, at).is_empty() {
                bad.push(format!(
                    "{file} / {title}: no data from the aggregates\n    {q}"
                ));
            }
            continue;
        }
        let name = if dashboard.ends_with("monthly.json") && title == "Usage by tenant (time range)"
        {
            format!("{title} {refid}")
        } else {
            title.clone()
        };
        let Some(w) = want.get(name.as_str()) else {
            bad.push(format!(
                "{file} / {title} {refid}: no expected counts for this panel"
            ));
            continue;
        };
        let mut got = answer(prom, &q, at);
        let mut w = w.clone();
        if title.starts_with("Referrers of the top 20 tenants") {
            // topk picks among equals: check that its 20 are a top 20, then their counts.
            let chosen: BTreeSet<String> = got
                .keys()
                .flat_map(|k| k.iter().filter(|p| p.starts_with("tenant=")).cloned())
                .collect();
            let least = chosen
                .iter()
                .map(|t| pages_by_tenant[&vec![t.clone()]])
                .fold(f64::INFINITY, f64::min);
            let beaten = pages_by_tenant
                .iter()
                .any(|(k, v)| !chosen.contains(&k[0]) && *v > least);
            if chosen.len() != 20.min(pages_by_tenant.len()) || beaten {
                bad.push(format!("{title}: {} tenants, not the top 20", chosen.len()));
            }
            w.retain(|k, _| k.iter().any(|p| chosen.contains(p)));
        }
        got.retain(|_, v| *v != 0.0);
        let sum = |m: &BTreeMap<Key, f64>| m.values().sum::<f64>();
        let same = got.len() == w.len()
            && got.iter().all(|(k, v)| {
                w.get(k)
                    .is_some_and(|x| (x - v).abs() <= 1e-9 * x.abs().max(1.0))
            });
        report.push(format!(
            "  {title}{}: {} rows, Prometheus {:.6}, log {:.6}{}",
            if name != title {
                format!(" {refid}")
            } else {
                String::new()
            },
            got.len(),
            sum(&got),
            sum(&w),
            if same { "" } else { "  DIFFERENT" }
        ));
        if !same {
            let diffs: Vec<String> = got
                .keys()
                .chain(w.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|k| got.get(*k) != w.get(*k))
                .take(6)
                .map(|k| {
                    format!(
                        "      {k:?}: Prometheus {:?}, log {:?}",
                        got.get(k),
                        w.get(k)
                    )
                })
                .collect();
            bad.push(format!(
                "{file} / {title} {refid}:\n    {q}\n{}",
                diffs.join("\n")
            ));
        }
    }
    (report, bad)
}

#[test]
fn usage_panels_equal_the_log_over_their_range() {
    let t0 = Instant::now();
    let say = |what: &str| println!("[{:6.1}s] {what}", t0.elapsed().as_secs_f64());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let agents: Vec<SocketAddr> = SERVERS
        .iter()
        .map(|_| format!("127.0.0.1:{}", free_port()).parse().unwrap())
        .collect();
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

    // --- The log: tenants of the second half appear only in the second batch, mid-range.
    let mut g = Gen::new(2027, 1000, SERVERS.len());
    let late: BTreeSet<String> = g.tenants()[500..].iter().cloned().collect();
    let (mut first, mut second): (Vec<Line>, Vec<Line>) = (Vec::new(), Vec::new());
    for _ in 0..LINES {
        let l = g.next(TIME);
        if late.contains(&l.tenant) || first.len() >= LINES / 3 {
            second.push(l);
        } else {
            first.push(l);
        }
    }
    let logs: Vec<PathBuf> = SERVERS
        .iter()
        .map(|s| dir.join(format!("{s}.access.log")))
        .collect();
    let append = |batch: &[Line]| {
        for (i, p) in logs.iter().enumerate() {
            let text: String = batch
                .iter()
                .filter(|l| l.server == i)
                .map(|l| l.text.as_str())
                .collect();
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        }
    };
    append(&[]);

    // --- Prometheus: 1 s scrapes, the usage rules scaled to a 2 s minute.
    write(&dir.join("usage.rules.yml"), &scaled_rules());
    let targets: String = SERVERS
        .iter()
        .zip(&agents)
        .map(|(s, a)| format!("      - {{targets: [\"{a}\"], labels: {{instance: {s}}}}}\n"))
        .collect();
    let prom_cfg = dir.join("prometheus.yml");
    write(
        &prom_cfg,
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: logpulse\n    static_configs:\n{targets}",
            dir.join("usage.rules.yml").display()
        ),
    );
    // Instant selectors look back 5 s, not 5 min: at 1 s scrapes the rules would read 300
    // samples per series each (20 at the shipped 15 s).
    let mut prom_proc = Proc::spawn(
        "prometheus",
        prometheus_cmd(&tool("prometheus"), &prom_cfg, &dir.join("tsdb"), prom)
            .arg("--query.lookback-delta=5s"),
        dir.join("prometheus.log"),
    );
    let example = read(&repo().join("examples/groupware.yml"));
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
    let settled = || unix_now() - 3.0;
    // All of `lines` counted, in the scrapes and in every aggregate ending in `suffix`, at one
    // instant no scrape or evaluation can still change. Every family is waited for: a new
    // series' count reaches the aggregates a scrape after the others' (it is exported at 0
    // first), so one family complete does not make the others so.
    let counted = |lines: &[Line], suffix: &str, what: &str, prom_proc: &mut Proc| -> f64 {
        let want = aggregate_totals(&truth(lines, 30), suffix);
        let last = std::cell::RefCell::new(Vec::new());
        let ok = wait_for(Duration::from_secs(90), Duration::from_millis(250), || {
            let at = settled();
            let mut seen = vec![
                (
                    "up".to_string(),
                    scalar_at(prom, "count(up == 1)", at)?,
                    SERVERS.len() as f64,
                ),
                (
                    "lines".to_string(),
                    scalar_at(prom, "sum(logpulse_lines_total{job=\"logpulse\"})", at)?,
                    lines.len() as f64,
                ),
            ];
            for (name, n) in &want {
                if seen.iter().any(|(_, got, w)| got != w) {
                    break;
                }
                let q = format!("sum(sum_over_time({name}[10m]))");
                seen.push((name.clone(), scalar_at(prom, &q, at)?, *n));
            }
            let done = seen.len() == want.len() + 2 && seen.iter().all(|(_, got, w)| got == w);
            last.replace(seen);
            done.then_some(at)
        });
        ok.unwrap_or_else(|| {
            prom_proc.assert_running();
            panic!(
                "{what}: the aggregates never showed the {} lines (name, Prometheus, lines): {:?}\n{:#?}\n{}",
                lines.len(),
                last.borrow(),
                rule_metrics(prom),
                prom_proc.log()
            )
        })
    };
    // Both agents scraped, before any line: the range "everything" starts here.
    counted(&[], "increase5m", "start", &mut prom_proc);
    let start = unix_now();
    append(&first);
    let from = counted(&first, "increase5m", "first batch", &mut prom_proc);
    say(&format!(
        "first batch: {} lines of 500 tenants counted in the aggregates",
        first.len()
    ));

    // --- The second batch, in three writes a second apart: 500 tenants are new.
    for part in second.chunks(second.len() / 3 + 1) {
        append(part);
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut lines = first.clone();
    lines.extend(second.iter().cloned());
    let at = counted(&lines, "increase5m", "both batches", &mut prom_proc);
    say(&format!("second batch: {} lines in all", lines.len()));
    // A "day" closed over everything; only then the panels' queries, which slow the rules'
    // evaluations down: one that took longer than the interval would lose its 5 minutes (or
    // hour, or day).
    let day = counted(&lines, "increase1d", "a day", &mut prom_proc);
    let rules = rule_metrics(prom);
    let missed = rules.iter().any(|l| {
        l.starts_with("prometheus_rule_group_iterations_missed_total") && !l.ends_with(" 0")
    });
    assert!(
        !missed,
        "Prometheus missed evaluations of the usage rules (each loses its 5 minutes): {rules:#?}"
    );
    let quiet = |q: &str| {
        rules
            .iter()
            .find_map(|l| l.strip_prefix(q)?.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    say(&format!(
        "a day closed; evaluations of the usage rules (every 5 s) so far took {:.3} s (median), {:.3} s (99th percentile)",
        quiet("prometheus_rule_group_duration_seconds{quantile=\"0.5\"}"),
        quiet("prometheus_rule_group_duration_seconds{quantile=\"0.99\"}"),
    ));

    // --- Usage dashboard (per-minute aggregates), over the second batch and over everything.
    let all = truth(&lines, 30);
    let late_only = truth_from(&lines, first.len(), 30);
    let pages_by = |t: &Truth| tally(&t.pages, |k| vec![("tenant", k.0.clone())]);
    let mut problems = Vec::new();
    for (what, truth, range, instance) in [
        ("second batch", &late_only, at - from, "^$"),
        ("everything", &all, at - start + 1.0, "^$"),
    ] {
        let range = format!("{}ms", (range * 1000.0) as u64);
        let (report, bad) = compare(
            prom,
            "logpulse-usage.json",
            at,
            &range,
            &expected(truth),
            &pages_by(truth),
            instance,
        );
        println!(
            "Usage dashboard over {what} ({} lines, range {range} at {at:.3}):\n{}",
            truth.lines,
            report.join("\n")
        );
        problems.extend(bad);
    }

    // --- Monthly dashboard (hourly aggregates), at the day that closed over everything.
    let range = format!("{}ms", ((day - start + 1.0) * 1000.0) as u64);
    let (report, bad) = compare(
        prom,
        "logpulse-usage-monthly.json",
        day,
        &range,
        &expected(&all),
        &pages_by(&all),
        "^$",
    );
    println!(
        "Monthly dashboard over everything (hourly and daily tiles, range {range}):\n{}",
        report.join("\n")
    );
    problems.extend(bad);

    // --- Custom domains resolve to their tenants; no host is a tenant.
    let tenants = answer(
        prom,
        "sum by (tenant) (sum_over_time(tenant_menu_device:http_tenant_requests:increase5m[10m]))",
        at,
    );
    for (_, name, host) in CUSTOM_DOMAINS {
        let n = tenants
            .get(&key(&[("tenant", name)]))
            .copied()
            .unwrap_or(0.0);
        let want = all
            .tenant_menu
            .iter()
            .filter(|((t, _), _)| t == name)
            .map(|(_, n)| *n)
            .sum::<u64>();
        println!("custom domain {host} → tenant {name}: {n} requests (log {want})");
        if n == 0.0 || n as u64 != want {
            problems.push(format!(
                "{host}: tenant {name} has {n} requests, the log {want}"
            ));
        }
    }
    if let Some(k) = tenants.keys().find(|k| k[0].contains('.')) {
        problems.push(format!("a host became a tenant: {k:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    say("every usage panel equals the log");
    for p in agent_procs.iter_mut() {
        p.assert_running();
    }
    prom_proc.assert_running();
}

// ------------------------------------------------------------------------------------------
// Custom domains kept in a file, re-read on reload.

/// One `main_ext` line (tests/groupware/gen.rs's format) for `host`, with a referer.
fn gw_line(host: &str, path: &str, referer: &str) -> String {
    format!(
        "10.0.0.1 - - [06/Dec/2026:10:00:00 +0900] \"GET {path} HTTP/1.1\" 200 512 \"{referer}\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36\" 0.012 {host}\n"
    )
}

/// Requests (`http_tenant_requests_total`) and page referrers by tenant in an exposition.
fn by_tenant(expo: &str, metric: &str, keys: &[&str]) -> BTreeMap<Vec<String>, u64> {
    sum_by(&samples(expo, metric), keys)
}

#[test]
fn tenant_domains_in_a_file_resolve_and_follow_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = dir.join("access.log");
    let hosts = dir.join("tenant-hosts");
    write(
        &hosts,
        "# customers on their own domain\ngw.jinsoft.co.kr jinsoft\n",
    );
    let cfg = dir.join("logpulse.yml");
    write(
        &cfg,
        &format!(
            "global: {{state_dir: {state}}}\nsources:\n  - name: web\n    paths: ['{log}']\n    start_at: beginning\n    format: {{nginx: '{LOG_FORMAT}'}}\n    profile: http\n    tenant: {{field: host, transform: tenant, default: other}}\n    tenant_map: {{domains: [office.example.com], file: '{hosts}'}}\n",
            state = dir.join("state").display(),
            log = log.display(),
            hosts = hosts.display()
        ),
    );
    // jinsoft on its own domain; newco's domain is not in the file yet: tenant "other", and its
    // pages an external site.
    common::append(
        &log,
        (gw_line(
            "gw.jinsoft.co.kr",
            "/mail/list",
            "https://gw.jinsoft.co.kr/",
        ) + &gw_line("acme.office.example.com", "/mail/list", "-")
            + &gw_line(
                "gw.newco.co.kr",
                "/board/list",
                "https://gw.newco.co.kr/home",
            ))
            .as_bytes(),
    );
    let cfg_arg = cfg.display().to_string();
    let agent = common::Agent::launch(
        dir,
        "127.0.0.1",
        &["--config", &cfg_arg],
        &[],
        common::healthz,
    );
    let tenants = |want: &[(&str, u64)]| {
        common::wait_for(20, "the tenants", || {
            let e = agent.scrape();
            let got = by_tenant(&e, "http_tenant_requests_total", &["tenant"]);
            want.iter()
                .all(|(t, n)| got.get(&vec![t.to_string()]) == Some(n))
                .then_some(e)
        })
    };
    let e = tenants(&[("jinsoft", 1), ("acme", 1), ("other", 1)]);
    let refs = by_tenant(
        &e,
        "http_tenant_page_referrers_total",
        &["tenant", "referrer"],
    );
    assert_eq!(
        refs.get(&vec!["jinsoft".into(), "internal".into()]),
        Some(&1),
        "{refs:?}"
    );
    assert_eq!(
        refs.get(&vec!["other".into(), "site".into()]),
        Some(&1),
        "{refs:?}"
    );

    // newco added to the file: a reload restarts the source (its config did not change).
    write(&hosts, "gw.jinsoft.co.kr jinsoft\ngw.newco.co.kr newco\n");
    let hup = |a: &common::Agent| {
        let st = Command::new("kill")
            .args(["-HUP", &a.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    };
    hup(&agent);
    common::wait_for(20, "the reload", || {
        agent
            .log()
            .contains("restarted from their offsets: web (a file it reads changed)")
            .then_some(())
    });
    common::append(
        &log,
        gw_line(
            "gw.newco.co.kr",
            "/board/list",
            "https://gw.newco.co.kr/home",
        )
        .as_bytes(),
    );
    let e = tenants(&[("jinsoft", 1), ("acme", 1), ("other", 1), ("newco", 1)]);
    let refs = by_tenant(
        &e,
        "http_tenant_page_referrers_total",
        &["tenant", "referrer"],
    );
    assert_eq!(
        refs.get(&vec!["newco".into(), "internal".into()]),
        Some(&1),
        "{refs:?}"
    );

    // A bad line rejects the reload, naming the file and line; the running map stays.
    write(&hosts, "gw.jinsoft.co.kr jinsoft\ngw.newco.co.kr\n");
    hup(&agent);
    let log_text = common::wait_for(20, "the rejected reload", || {
        let l = agent.log();
        l.contains(&format!(
            "{}:2: expected `<host> <tenant>`",
            hosts.display()
        ))
        .then_some(l)
    });
    assert!(log_text.contains("tenant_map.file"), "{log_text}");
    agent.wait_value("logpulse_config_last_reload_successful", 0.0, 20);
    common::append(
        &log,
        gw_line("gw.newco.co.kr", "/mail/list", "-").as_bytes(),
    );
    tenants(&[("newco", 2)]);
}
