//! A fleet on the engines it grows into: the real VictoriaMetrics 1.79 from Debian
//! (`victoria-metrics`, `vmagent`, `vmalert`) beside the real Prometheus and Alertmanager, with
//! the files of deploy/victoriametrics/ as shipped (only addresses, paths and intervals set).
//!
//! - `vm_tools_accept_the_shipped_files`: `vmalert -dryRun` on every shipped rule file (as
//!   vmalert-rules.sh copies them: only `keep_firing_for` goes), `vmagent -dryRun` on
//!   deploy/prometheus/prometheus.yml, `promtool check config` with remote-write.yml pasted in.
//! - `backfill_imports_into_victoriametrics_as_into_prometheus_blocks`: `logpulse backfill`
//!   output imported into VictoriaMetrics (`/api/v1/import/prometheus`) and into Prometheus
//!   blocks (`promtool tsdb create-blocks-from openmetrics`) gives the same numbers in both,
//!   equal to counts made from the generated lines.
//! - `remote_write_keeps_what_the_dashboards_read`: remote-write.yml's regex keeps every usage
//!   aggregate and every recorded series a dashboard reads.
//! - `fleet_burst_lines_long_term_store_and_vmalert_page` (the issue's "done when"): three
//!   agents on examples/groupware.yml, a 5xx burst on two of them. `logpulse lines --status 5xx`
//!   returns exactly the burst's lines with their servers; Prometheus remote-writes the
//!   aggregates, and only those, to VictoriaMetrics (remote-write.yml), where they equal what
//!   Prometheus has; vmagent scrapes the agents into a second VictoriaMetrics on which vmalert
//!   runs the shipped rules and pages through Alertmanager (the repository's config, 1 s
//!   timings) naming the route and both servers.
//!
//! Loopback only, free ports, every process killed when the test ends (also on failure).

#[path = "groupware/gen.rs"]
mod gen;
#[path = "common/receiver.rs"]
mod receiver;
#[path = "common/stack.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gen::*;
use receiver::Receiver;
use serde_json::Value;
use support::*;

fn deploy(f: &str) -> PathBuf {
    repo().join("deploy/victoriametrics").join(f)
}

/// The arguments of a unit's `ExecStart=` (continuation lines joined), without the binary.
fn unit_args(unit: &Path) -> Vec<String> {
    let text = read(unit).replace("\\\n", " ");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{}: no ExecStart", unit.display()));
    line.split_whitespace().skip(1).map(String::from).collect()
}

/// The arguments in a Debian defaults file's `ARGS="..."`.
fn default_args(file: &Path) -> Vec<String> {
    let text = read(file);
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix("ARGS=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{}: no ARGS=\"...\"", file.display()));
    v.split_whitespace().map(String::from).collect()
}

/// Sets `-flag=value` (replacing the shipped value, which must be there unless `add`).
fn set(args: &mut Vec<String>, flag: &str, value: &str, add: bool) {
    let prefix = format!("{flag}=");
    match args.iter_mut().find(|a| a.starts_with(&prefix)) {
        Some(a) => *a = format!("{prefix}{value}"),
        None if add => args.push(format!("{prefix}{value}")),
        None => panic!("the shipped arguments have no {flag}: {args:?}"),
    }
}

fn addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().unwrap()
}

fn ready(p: &mut Proc, a: SocketAddr, path: &str) {
    let ok = wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
        get(a, path).ok().filter(|r| r.status == 200).map(|_| ())
    });
    if ok.is_none() {
        p.assert_running();
        panic!("{} not ready after 30 s\n{}", p.name, p.log());
    }
}

/// VictoriaMetrics with deploy/victoriametrics/victoria-metrics.default's arguments (data
/// directory and address set; new samples visible after 1 s instead of 30 s).
fn victoria_metrics(dir: &Path, name: &'static str) -> (Proc, SocketAddr) {
    let a = addr();
    let mut args = default_args(&deploy("victoria-metrics.default"));
    set(
        &mut args,
        "-storageDataPath",
        &dir.join(name).display().to_string(),
        false,
    );
    set(&mut args, "-httpListenAddr", &a.to_string(), false);
    set(&mut args, "-search.latencyOffset", "1s", false);
    set(&mut args, "-loggerLevel", "WARN", true);
    let mut p = Proc::spawn(
        name,
        Command::new(tool("victoria-metrics")).args(&args),
        dir.join(format!("{name}.log")),
    );
    ready(&mut p, a, "/health");
    (p, a)
}

/// The shipped rule files as vmalert-rules.sh copies them, in `out`.
fn vmalert_rules(out: &Path) -> Vec<PathBuf> {
    run_ok(
        Command::new(deploy("vmalert-rules.sh"))
            .arg(repo().join("alert-rules"))
            .arg(out),
    );
    files(out, ".rules.yml")
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Query answer → (labels without `__name__`, value), sorted.
fn result_samples(v: &Value) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut out: Vec<_> = v["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let mut l: BTreeMap<String, String> =
                serde_json::from_value(s["metric"].clone()).unwrap_or_default();
            l.remove("__name__");
            let v = s["value"][1].as_str().and_then(|x| x.parse().ok());
            (l, v.unwrap_or(f64::NAN))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One number from an instant query (0 for an empty answer).
fn scalar(at: SocketAddr, q: &str, time: f64) -> f64 {
    let v = prom_query_at(at, q, time).unwrap_or_else(|e| panic!("{q}: {e}"));
    result_samples(&v).first().map(|s| s.1).unwrap_or(0.0)
}

// ------------------------------------------------------------------------------------------

#[test]
fn vm_tools_accept_the_shipped_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Every shipped rule file passes vmalert's own check; the copies lose keep_firing_for,
    // write `started` times with humanizeTimestamp (1.79 has no toTime) and take "started now"
    // when a page's `since` is not recorded yet (1.79 does not chain rules), nothing else.
    let rules = vmalert_rules(&d.join("vmalert"));
    let shipped = files(&repo().join("alert-rules"), ".rules.yml");
    assert_eq!(rules.len(), shipped.len());
    let since_now = [
        (
            r"`max\(([^`]*:since\{[^`]*)\) - 60`",
            "`(max($1) or vector(time() - 60)) - 60`",
        ),
        (
            r"`max\(([^`]*:since\{[^`]*- 60)\)`",
            "`max($1) or vector(time() - 60)`",
        ),
        (
            r"`min\(([^`]*:since\{[^`]*)\) - 60`",
            "`(min($1) or vector(time() - 120)) - 60`",
        ),
        (
            r"`min\(([^`]*:since\{[^`]*- 120)\)`",
            "`min($1) or vector(time() - 120)`",
        ),
    ]
    .map(|(re, to)| (regex::Regex::new(re).unwrap(), to));
    let mut fallbacks = 0;
    for (copy, orig) in rules.iter().zip(&shipped) {
        let (a, b) = (read(orig), read(copy));
        let dropped: Vec<&str> = a.lines().filter(|l| !b.contains(*l)).collect();
        let for_vmalert = |l: &str| {
            let mut l = l.replace(
                "(. | first | value | toTime).Local.Format \"2006-01-02 15:04:05 -0700 MST\"",
                ". | first | value | humanizeTimestamp",
            );
            for (re, to) in &since_now {
                l = re.replace_all(&l, *to).into_owned();
            }
            l
        };
        for l in &dropped {
            assert!(
                l.trim_start().starts_with("keep_firing_for:")
                    || (for_vmalert(l) != *l && b.contains(&for_vmalert(l))),
                "{}: vmalert-rules.sh changed more than documented: {l}",
                orig.display()
            );
        }
        fallbacks += b.matches(" or vector(time() - ").count();
        run_ok(
            Command::new(tool("vmalert"))
                .arg("-dryRun")
                .arg(format!("-rule={}", copy.display()))
                .arg("-loggerLevel=ERROR"),
        );
    }
    // HTTP5xxBurst's and HTTPTenant5xxBurst's started/servers/tenants/menus/lines.
    assert!(
        fallbacks >= 9,
        "{fallbacks} since fallbacks in the vmalert copies"
    );

    // vmagent reads the scrape configs of deploy/prometheus/prometheus.yml, installed with its
    // CA and password files, with vmagent.service's arguments.
    write(
        &d.join("prometheus.yml"),
        &read(&repo().join("deploy/prometheus/prometheus.yml")),
    );
    write(&d.join("web/ca.pem"), &read(&web_ca(d)));
    write(&d.join("web/scrape-password"), "pw\n");
    write(
        &d.join("targets/example.json"),
        &read(&repo().join("deploy/prometheus/targets.json")),
    );
    let mut args = unit_args(&deploy("vmagent.service"));
    set(
        &mut args,
        "-promscrape.config",
        &d.join("prometheus.yml").display().to_string(),
        false,
    );
    run_ok(
        Command::new(tool("vmagent"))
            .arg("-dryRun")
            .args(args.iter().filter(|a| a.starts_with("-promscrape.")))
            .arg("-loggerLevel=ERROR"),
    );

    // remote-write.yml pasted into prometheus.yml is a valid Prometheus config.
    let both = format!(
        "{}\n{}",
        read(&repo().join("deploy/prometheus/prometheus.yml")),
        read(&deploy("remote-write.yml"))
    );
    write(&d.join("prometheus.yml"), &both);
    run_ok(
        Command::new(tool("promtool"))
            .args(["check", "config"])
            .arg(d.join("prometheus.yml")),
    );
    // vmalert.service's flags are vmalert's (a dry run parses them all).
    let mut args = unit_args(&deploy("vmalert.service"));
    set(
        &mut args,
        "-rule",
        &format!("{}/*.yml", d.join("vmalert").display()),
        false,
    );
    run_ok(
        Command::new(tool("vmalert"))
            .arg("-dryRun")
            .args(&args)
            .arg("-loggerLevel=ERROR"),
    );
}

/// A CA certificate file (any valid one: vmagent reads it at start).
fn web_ca(d: &Path) -> PathBuf {
    let ck = rcgen::generate_simple_self_signed(vec!["logpulse".into()]).unwrap();
    let p = d.join("ca-src.pem");
    write(&p, &ck.cert.pem());
    p
}

/// The per-tenant view from both stores: `sum by (tenant, menu)` at `at`.
fn tenant_menus(at: SocketAddr, time: f64) -> BTreeMap<Vec<String>, u64> {
    let v = prom_query_at(
        at,
        "sum by (tenant, menu) (http_tenant_requests_total)",
        time,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    result_samples(&v)
        .into_iter()
        .filter(|(_, n)| *n != 0.0)
        .map(|(l, n)| (vec![l["tenant"].clone(), l["menu"].clone()], n as u64))
        .collect()
}

#[test]
fn backfill_imports_into_victoriametrics_as_into_prometheus_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Ten minutes of a groupware log, 60 days ago (inside VictoriaMetrics' 13 months).
    let start = now() as i64 - 60 * 86_400;
    let mut g = Gen::new(21, 300, 1);
    let lines: Vec<Line> = (0..3000)
        .map(|i| g.next(&nginx_time(start + i / 5)))
        .collect();
    let log = d.join("access.log");
    write(
        &log,
        &lines.iter().map(|l| l.text.as_str()).collect::<String>(),
    );
    let cfg = d.join("gw.yml");
    write(
        &cfg,
        &agent_config(
            &read(&repo().join("examples/groupware.yml")),
            &log,
            &d.join("state"),
        ),
    );
    let om = d.join("om");
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_logpulse"))
            .args(["backfill", "--config"])
            .arg(&cfg)
            .args(["--instance", "web-1:9145", "--out"])
            .arg(format!("{}/", om.display()))
            .arg(&log),
    );
    let chunks = files(&om, ".om");
    assert!(!chunks.is_empty());

    // Into VictoriaMetrics, as shipped (13 months' retention) ...
    let (_vm, vm) = victoria_metrics(d, "victoria-metrics");
    for f in &chunks {
        let r = http(
            vm,
            "POST",
            "/api/v1/import/prometheus",
            Some(("text/plain", &read(f))),
        )
        .unwrap();
        assert_eq!(r.status, 204, "{}: {}", f.display(), r.body);
    }
    get(vm, "/internal/force_flush").unwrap();
    // ... and into Prometheus blocks, read by a Prometheus that keeps them.
    let blocks = d.join("tsdb");
    for f in &chunks {
        run_ok(
            Command::new(tool("promtool"))
                .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
                .arg(f)
                .arg(&blocks),
        );
    }
    write(
        &d.join("prometheus.yml"),
        "global: {scrape_interval: 15s}\n",
    );
    let prom = addr();
    let mut pp = Proc::spawn(
        "prometheus",
        prometheus_cmd(
            &tool("prometheus"),
            &d.join("prometheus.yml"),
            &blocks,
            prom,
        )
        .arg("--storage.tsdb.retention.time=400d"),
        d.join("prometheus.log"),
    );
    ready(&mut pp, prom, "/-/ready");

    // A minute after the last line: every line counted, the same in both, as the log says.
    let at = (start + 3000 / 5 + 60) as f64;
    let want = keyed2(&truth(&lines, 30).tenant_menu);
    let from_prom = tenant_menus(prom, at);
    let from_vm = wait_for(Duration::from_secs(20), Duration::from_millis(300), || {
        Some(tenant_menus(vm, at)).filter(|m| !m.is_empty())
    })
    .unwrap_or_default();
    if let Some(d) = diff("Prometheus blocks, menus per tenant", &from_prom, &want) {
        panic!("{d}");
    }
    if let Some(d) = diff("VictoriaMetrics import, menus per tenant", &from_vm, &want) {
        panic!("{d}");
    }
    let q = "sum(http_requests_total{instance=\"web-1:9145\"})";
    assert_eq!(scalar(prom, q, at), scalar(vm, q, at));
    println!(
        "{} backfill chunks: {} tenant×menu counts equal in Prometheus blocks and VictoriaMetrics",
        chunks.len(),
        want.len()
    );
}

const SERVERS: [&str; 3] = ["web-1", "web-2", "web-3"];
const BURST_ON: [usize; 2] = [0, 1];
const ROUTE: &str = "/api/v1/approval/docs/:id";
const HISTORY_LINES: usize = 3000;

/// The keep regex of deploy/victoriametrics/remote-write.yml.
fn kept_names() -> regex::Regex {
    let rw = yaml(&deploy("remote-write.yml"));
    let rule = &rw["remote_write"][0]["write_relabel_configs"][0];
    assert_eq!(rule["action"], "keep");
    assert_eq!(rule["source_labels"][0], "__name__");
    regex::Regex::new(&format!("^(?:{})$", rule["regex"].as_str().unwrap())).unwrap()
}

/// remote-write.yml keeps every usage aggregate and every recorded series a dashboard reads
/// (a renamed aggregate would silently stay out of the long-term store). The tenant alerts'
/// intermediate series stay in Prometheus.
#[test]
fn remote_write_keeps_what_the_dashboards_read() {
    let kept = kept_names();
    let mut recorded = Vec::new();
    for f in files(&repo().join("alert-rules"), ".rules.yml") {
        for g in yaml(&f)["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                if let Some(name) = r["record"].as_str() {
                    recorded.push((f.clone(), name.to_string()));
                }
            }
        }
    }
    let names = regex::Regex::new(r"[a-zA-Z_:][a-zA-Z0-9_:]*").unwrap();
    let mut read_by_dashboards = Vec::new();
    for (d, title, _, expr, _) in dashboard_queries() {
        for m in names.find_iter(&expr) {
            if recorded.iter().any(|(_, n)| n == m.as_str()) {
                read_by_dashboards.push((format!("{d}: {title}"), m.as_str().to_string()));
            }
        }
    }
    assert!(read_by_dashboards
        .iter()
        .any(|(_, n)| n.contains(":increase")));
    for (panel, n) in &read_by_dashboards {
        assert!(
            kept.is_match(n),
            "{panel} reads {n}, which remote-write.yml leaves out"
        );
    }
    for (f, n) in recorded.iter().filter(|(f, _)| *f == usage_rules()) {
        assert!(
            kept.is_match(n),
            "{}: {n} is not kept by remote-write.yml",
            f.display()
        );
    }
}

/// Every metric name VictoriaMetrics at `vm` holds.
fn names(vm: SocketAddr) -> Vec<String> {
    let r = get(vm, "/api/v1/label/__name__/values").unwrap();
    let v: Value = serde_json::from_str(&r.body).unwrap();
    v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(String::from))
        .collect()
}

#[test]
fn fleet_burst_lines_long_term_store_and_vmalert_page() {
    let t0 = Instant::now();
    let say = |what: &str| println!("[{:6.1}s] {what}", t0.elapsed().as_secs_f64());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start();

    // --- Three agents on examples/groupware.yml, each with its share of a 1,000-tenant log.
    let mut g = Gen::new(2112, 1000, SERVERS.len());
    g.server_error_ppm = 0; // every 5xx is the burst's
    let time = nginx_time(now() as i64);
    let history: Vec<Line> = (0..HISTORY_LINES).map(|_| g.next(&time)).collect();
    let example = read(&repo().join("examples/groupware.yml"));
    let mut agents = Vec::new();
    let mut logs = Vec::new();
    // The logs start empty: the declared series (devices, menus...) are scraped at 0 before
    // any line, as on a server, so the usage rules count every line (a series first seen
    // above 0 has its first value left out).
    for s in SERVERS.iter() {
        let log = dir.join(format!("{s}.access.log"));
        write(&log, "");
        let cfg = dir.join(format!("{s}.yml"));
        write(
            &cfg,
            &agent_config(&example, &log, &dir.join(format!("{s}.state"))),
        );
        let a = addr();
        let mut p = Proc::spawn(
            "logpulse",
            &mut logpulse_cmd(&cfg, a),
            dir.join(format!("{s}.log")),
        );
        ready(&mut p, a, "/healthz");
        agents.push((p, a));
        logs.push(log);
    }
    let targets: String = SERVERS
        .iter()
        .zip(&agents)
        .map(|(s, (_, a))| {
            format!("      - {{targets: ['{a}'], labels: {{instance: {s}, service: groupware}}}}\n")
        })
        .collect();
    let scrape = format!(
        "scrape_configs:\n  - job_name: logpulse\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n{targets}"
    );

    // --- Alertmanager (the repository's config, 1 s group timings) ← vmalert only.
    let am = addr();
    let mut am_proc = start_alertmanager(&dir.join("am"), am, rx.addr, "fleet-key", |mut t| {
        for k in ["group_wait", "group_interval"] {
            t = set_yaml_key(&t, k, "1s");
        }
        t
    });
    ready(&mut am_proc, am, "/-/ready");

    // --- Long term: Prometheus (the repository's rules; the usage rules with their durations
    //     scaled down, 5 s for 5 minutes) remote-writes remote-write.yml's selection to one
    //     VictoriaMetrics.
    let (_vm_long_proc, vm_long) = victoria_metrics(dir, "vm-long");
    let rule_files: Vec<String> = files(&repo().join("alert-rules"), ".rules.yml")
        .iter()
        .map(|f| {
            if *f == usage_rules() {
                let scaled = dir.join("usage.rules.yml");
                write(&scaled, &scaled_rules());
                format!("'{}'", scaled.display())
            } else {
                format!("'{}'", f.display())
            }
        })
        .collect();
    assert!(rule_files
        .iter()
        .any(|f| f.contains(&dir.display().to_string())));
    let remote_write = read(&deploy("remote-write.yml")).replace(
        "http://victoriametrics:8428/api/v1/write",
        &format!("http://{vm_long}/api/v1/write"),
    );
    assert!(remote_write.contains(&vm_long.to_string()));
    let prom = addr();
    write(
        &dir.join("prometheus.yml"),
        &format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{}]\n{scrape}{remote_write}",
            rule_files.join(", ")
        ),
    );
    let mut prom_proc = Proc::spawn(
        "prometheus",
        &mut prometheus_cmd(
            &tool("prometheus"),
            &dir.join("prometheus.yml"),
            &dir.join("tsdb"),
            prom,
        ),
        dir.join("prometheus.log"),
    );
    ready(&mut prom_proc, prom, "/-/ready");

    // --- The fleet engine: vmagent scrapes the agents into a second VictoriaMetrics, vmalert
    //     runs the shipped rules there (vmagent.service and vmalert.service's arguments).
    let (_vm_full_proc, vm_full) = victoria_metrics(dir, "vm-full");
    write(&dir.join("vmagent.yml"), &scrape);
    let mut args = unit_args(&deploy("vmagent.service"));
    set(
        &mut args,
        "-promscrape.config",
        &dir.join("vmagent.yml").display().to_string(),
        false,
    );
    set(
        &mut args,
        "-remoteWrite.url",
        &format!("http://{vm_full}/api/v1/write"),
        false,
    );
    set(
        &mut args,
        "-remoteWrite.tmpDataPath",
        &dir.join("vmagent-data").display().to_string(),
        false,
    );
    let vmagent = addr();
    set(&mut args, "-httpListenAddr", &vmagent.to_string(), false);
    let mut vmagent_proc = Proc::spawn(
        "vmagent",
        Command::new(tool("vmagent"))
            .args(&args)
            .arg("-loggerLevel=WARN"),
        dir.join("vmagent.log"),
    );
    ready(&mut vmagent_proc, vmagent, "/health");
    let rules = vmalert_rules(&dir.join("vmalert-rules"));
    let mut args = unit_args(&deploy("vmalert.service"));
    set(
        &mut args,
        "-rule",
        &format!("{}/*.yml", dir.join("vmalert-rules").display()),
        false,
    );
    for f in ["-datasource.url", "-remoteWrite.url", "-remoteRead.url"] {
        set(&mut args, f, &format!("http://{vm_full}"), false);
    }
    set(&mut args, "-notifier.url", &format!("http://{am}"), false);
    set(&mut args, "-evaluationInterval", "1s", false);
    set(&mut args, "-remoteWrite.flushInterval", "1s", true);
    let vmalert = addr();
    set(&mut args, "-httpListenAddr", &vmalert.to_string(), false);
    let mut vmalert_proc = Proc::spawn(
        "vmalert",
        Command::new(tool("vmalert"))
            .args(&args)
            .arg("-loggerLevel=WARN"),
        dir.join("vmalert.log"),
    );
    ready(&mut vmalert_proc, vmalert, "/health");
    say(&format!(
        "3 agents, Prometheus → vm-long, vmagent → vm-full ← vmalert ({} rule files), Alertmanager ready",
        rules.len()
    ));

    // --- The history, once every agent was scraped at 0; both engines must have it.
    let zero = wait_for(Duration::from_secs(30), Duration::from_millis(300), || {
        let v = prom_query_at(
            prom,
            "count(http_client_requests_total{device=\"desktop\"} == 0)",
            now(),
        )
        .ok()?;
        (result_samples(&v).first()?.1 as usize == SERVERS.len()).then_some(())
    });
    assert!(
        zero.is_some(),
        "agents never scraped at 0\n{}",
        prom_proc.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    for (i, log) in logs.iter().enumerate() {
        let text: String = history
            .iter()
            .filter(|l| l.server == i)
            .map(|l| l.text.as_str())
            .collect();
        std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .unwrap();
    }
    let lines_in = |at: SocketAddr| {
        let v = prom_query_at(at, "sum(logpulse_lines_total{job=\"logpulse\"})", now()).ok()?;
        result_samples(&v).first().map(|s| s.1 as usize)
    };
    for (name, at) in [("Prometheus", prom), ("vm-full (vmagent)", vm_full)] {
        if wait_for(Duration::from_secs(60), Duration::from_millis(300), || {
            lines_in(at).filter(|n| *n == HISTORY_LINES)
        })
        .is_none()
        {
            panic!(
                "{name} never saw the {HISTORY_LINES} history lines (got {:?})\n{}\n{}",
                lines_in(at),
                prom_proc.log(),
                vmagent_proc.log()
            );
        }
    }
    say("history read and scraped by Prometheus and vmagent");

    // --- A 503 burst on web-1 and web-2 until vmalert's page arrives.
    let written: Arc<Mutex<Vec<Line>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (written, stop, logs) = (written.clone(), stop.clone(), logs.clone());
        std::thread::spawn(move || {
            let tenants = ["acme", "beta"];
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                for &s in &BURST_ON {
                    let l = g.burst(&nginx_time(now() as i64), s, tenants[n % 2]);
                    n += 1;
                    std::fs::OpenOptions::new()
                        .append(true)
                        .open(&logs[s])
                        .and_then(|mut f| std::io::Write::write_all(&mut f, l.text.as_bytes()))
                        .unwrap();
                    written.lock().unwrap().push(l);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            g
        })
    };
    let burst_mark = Instant::now();
    let page = wait_for(Duration::from_secs(90), Duration::from_millis(200), || {
        rx.find("/slack", burst_mark, |n| {
            let t = n.text();
            t.contains("[FIRING") && t.contains("HTTP5xxBurst") && t.contains(ROUTE)
        })
    });
    stop.store(true, Ordering::SeqCst);
    let _g = writer.join().unwrap();
    let Some(page) = page else {
        panic!(
            "vmalert never paged HTTP5xxBurst: {:#?}\n{}\n{}",
            rx.all(),
            vmalert_proc.log(),
            am_proc.log()
        );
    };
    let st = page.text();
    say(&format!(
        "vmalert paged through Alertmanager {:.1} s after the first 503 line",
        page.at.duration_since(burst_mark).as_secs_f64()
    ));
    println!("--- Slack page (vmalert)\n{st}\n---");
    let servers = st
        .lines()
        .find(|l| l.starts_with("servers: "))
        .unwrap_or_else(|| panic!("no servers line: {st}"));
    assert!(
        servers.contains("web-1 (") && servers.contains("web-2 (") && !servers.contains("web-3"),
        "{st}"
    );

    // --- The fleet's lines: exactly the burst's, with their servers.
    let written = written.lock().unwrap().clone();
    for (i, (p, a)) in agents.iter_mut().enumerate() {
        let want = history.iter().filter(|l| l.server == i).count()
            + written.iter().filter(|l| l.server == i).count();
        let read_all = wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            let m = get(*a, "/metrics").ok()?.body;
            let n = m.lines().find_map(|l| {
                l.strip_prefix("logpulse_lines_total{source=\"web\"} ")?
                    .parse::<f64>()
                    .ok()
            })?;
            (n as usize == want).then_some(())
        });
        if read_all.is_none() {
            p.assert_running();
            panic!("{} did not read its {want} lines\n{}", SERVERS[i], p.log());
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .args(["lines", "--prometheus", &format!("http://{prom}")])
        .args(["--status", "5xx", "--limit", "5000", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The request path identifies a line (addresses and query values are masked when kept).
    let request = |text: &str| text.split('"').nth(1).unwrap_or("").to_string();
    let mut got: Vec<(String, String)> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["fields"]["route"], ROUTE, "{l}");
            (
                l["server"].as_str().unwrap().to_string(),
                request(l["text"].as_str().unwrap()),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = written
        .iter()
        .map(|l| (SERVERS[l.server].to_string(), request(&l.text)))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "{}", v["servers"]);
    assert_eq!(got, want);
    assert_eq!(v["servers"].as_array().unwrap().len(), 3);
    say(&format!(
        "logpulse lines --status 5xx: the {} burst lines, with their servers",
        got.len()
    ));

    // --- Usage in the long-term store: every line counted once, across the servers. The
    //     scaled usage rules run every 5 s, 4 s behind: the last "5 minutes" land about 9 s
    //     after the last line.
    let all: Vec<Line> = history
        .iter()
        .cloned()
        .chain(written.iter().cloned())
        .collect();
    let want = keyed1(&truth(&all, 30).device);
    let devices = |at: SocketAddr| {
        let v = prom_query_at(
            at,
            "sum by (device) (sum_over_time(device:http_client_requests:increase5m[1h]))",
            now(),
        )
        .ok()?;
        Some(
            result_samples(&v)
                .into_iter()
                .filter(|(_, n)| *n != 0.0)
                .map(|(l, n)| (vec![l.get("device").cloned().unwrap_or_default()], n as u64))
                .collect::<BTreeMap<Vec<String>, u64>>(),
        )
    };
    let counted = wait_for(Duration::from_secs(150), Duration::from_secs(2), || {
        devices(vm_long).filter(|m| *m == want)
    });
    if counted.is_none() {
        // Where it was lost: Prometheus' own records (a rule that read too early, a missed
        // evaluation), or on the way to the long-term store.
        let missed = prom_query_at(
            prom,
            "sum(prometheus_rule_group_iterations_missed_total)",
            now(),
        )
        .ok()
        .map(|v| result_samples(&v));
        panic!(
            "{}\nPrometheus' own records: {:?}; missed rule evaluations: {missed:?}\n{}",
            diff(
                "vm-long: requests by device over the test (device:http_client_requests:increase5m)",
                &devices(vm_long).unwrap_or_default(),
                &want
            )
            .unwrap_or_default(),
            devices(prom),
            prom_proc.log()
        );
    }
    say(&format!(
        "vm-long: requests by device summed over the usage aggregates = the {} lines written ({want:?})",
        all.len()
    ));

    // --- The long-term store holds the aggregates, only those, as Prometheus has them.
    let kept = kept_names();
    let held = wait_for(Duration::from_secs(30), Duration::from_millis(500), || {
        let n = names(vm_long);
        let has = |x: &str| n.iter().any(|n| n == x);
        (has("job_source:http_requests:rate5m") && has("device:http_client_requests:increase5m"))
            .then_some(n)
    })
    .unwrap_or_else(|| {
        panic!(
            "no aggregates in vm-long: {:?}\n{}",
            names(vm_long),
            prom_proc.log()
        )
    });
    let stray: Vec<&String> = held.iter().filter(|n| !kept.is_match(n)).collect();
    assert!(
        stray.is_empty(),
        "vm-long holds more than the aggregates: {stray:?}"
    );
    assert_eq!(
        scalar(vm_long, "count({instance!=\"\"})", now()),
        0.0,
        "per-server series in vm-long"
    );
    // One settled instant (remote_write sends within 5 s) at which both have the request
    // rate; a recorded series that ended before it (a ratio without traffic) is absent from both.
    let rate_at = |at: SocketAddr, t: f64| {
        let v = prom_query_at(at, "sum(job_source:http_requests:rate5m)", t).ok()?;
        result_samples(&v).first().map(|s| s.1).filter(|v| *v > 0.0)
    };
    let at = wait_for(Duration::from_secs(40), Duration::from_millis(500), || {
        let t = now() - 8.0;
        (rate_at(prom, t).is_some() && rate_at(vm_long, t).is_some()).then_some(t)
    })
    .unwrap_or_else(|| panic!("no request rate in vm-long\n{}", prom_proc.log()));
    let mut compared = 0;
    for n in &held {
        // A usage series has one sample per (scaled) 5 minutes, hour or day, not always one
        // at `at`: compare what the dashboards read, its sum over the test.
        let q = if n.contains(":increase") {
            format!("sum_over_time({n}[1h])")
        } else {
            n.clone()
        };
        let mut p = result_samples(&prom_query_at(prom, &q, at).unwrap());
        let l = result_samples(&prom_query_at(vm_long, &q, at).unwrap());
        assert!(
            !n.ends_with("http_client_requests:increase5m") || !p.is_empty(),
            "{q}: nothing at {at}"
        );
        // VictoriaMetrics keeps no NaN sample (a quantile of a route without requests): a gap
        // in a graph either way.
        p.retain(|s| !s.1.is_nan());
        // VictoriaMetrics prints 12 significant digits of the same float.
        let same = p.len() == l.len()
            && p.iter()
                .zip(&l)
                .all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() <= 1e-9 * a.1.abs().max(b.1.abs()));
        assert!(same, "{n} at {at}: Prometheus {p:?}, vm-long {l:?}");
        compared += p.len();
    }
    say(&format!(
        "vm-long: {} aggregate names, {compared} series equal to Prometheus at one instant",
        held.len()
    ));
    for (p, _) in agents.iter_mut() {
        p.assert_running();
    }
}
