//! The whole backfill path with the real tools: a generated two-day access-log set rotated the
//! way logrotate leaves it (`access.log`, `access.log.1`, `access.log.2.gz`, a multi-member
//! `access.log.3.gz`), with lines out of order and lines that cannot be used → `logpulse
//! backfill` → `promtool tsdb create-blocks-from openmetrics` → a real Prometheus on those
//! blocks (long retention). Per-status totals at the end must equal a count made here from the
//! generated lines, and the dashboards' queries must return data over the backfilled range.

#[path = "common/stack.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// 2026-01-05T00:00:00Z.
const START: i64 = 1_767_571_200;
const HOURS: i64 = 50;
const STEP_SECS: i64 = 120;

/// A small deterministic generator (no dependency, same lines on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `$time_local` at +09:00 for unix seconds `t` (January 2026 only, as generated here).
fn time_local(t: i64) -> String {
    let local = t + 9 * 3600 - START;
    let (day, rest) = (5 + local / 86_400, local % 86_400);
    format!(
        "{day:02}/{}/2026:{:02}:{:02}:{:02} +0900",
        MONTHS[0],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

struct Generated {
    /// Lines of each file, oldest file first.
    files: Vec<Vec<String>>,
    /// Requests per status among the lines backfill must place.
    per_status: BTreeMap<String, u64>,
    total: u64,
    last: i64,
}

fn generate() -> Generated {
    let mut r = Lcg(20_260_105);
    let statuses = [
        "200", "200", "200", "200", "200", "200", "304", "404", "500", "503",
    ];
    let routes = [
        "/",
        "/mail/list",
        "/mail/read/{id}",
        "/api/v1/board/items/{id}",
        "/drive/files/{id}",
    ];
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S918N; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.0.0 Mobile Safari/537.36 DaouOffice/3.5.1",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ];
    let tenants = ["acme", "globex", "initech"];
    let referers = [
        "-",
        "-",
        "https://www.google.com/",
        "https://search.naver.com/search.naver?query=mail",
        "https://office.example.com/mail/list",
    ];
    let mut files: Vec<Vec<String>> = vec![Vec::new(); 4];
    let mut per_status = BTreeMap::new();
    let mut total = 0;
    let end = START + HOURS * 3600;
    let mut t = START + 7;
    let mut n = 0u64;
    let mut last = t;
    while t < end {
        n += 1;
        // Every 400th line was logged when its request finished: up to 3 minutes late.
        let at = if n % 400 == 0 {
            t - 60 - (n % 3) as i64 * 60
        } else {
            t
        };
        let status = r.pick(&statuses);
        let route = r
            .pick(&routes)
            .replace("{id}", &(r.next() % 100_000).to_string());
        let method = if r.next() % 5 == 0 { "POST" } else { "GET" };
        let line = format!(
            "10.0.{}.{} - {} [{}] \"{method} {route} HTTP/1.1\" {status} {} \"{}\" \"{}\" {}.{:03}",
            r.next() % 256,
            r.next() % 256,
            r.pick(&tenants),
            time_local(at),
            r.next() % 50_000,
            r.pick(&referers),
            r.pick(&agents),
            r.next() % 3,
            r.next() % 1000
        );
        // Four files of 12.5 hours each.
        let file = (((t - START) * 4 / (HOURS * 3600)) as usize).min(3);
        files[file].push(line);
        *per_status.entry(status.to_string()).or_insert(0) += 1;
        total += 1;
        last = last.max(at);
        t += 5 + (r.next() % 30) as i64;
    }
    // Lines backfill cannot place, each counted by reason: no usable time, not a log line,
    // and one line an hour older than its neighbours (beyond the 5-minute window).
    let f = &mut files[2];
    let mid = f.len() / 2;
    f.insert(
        mid,
        "10.0.0.1 - acme [99/Foo/2026:00:00:00 +0900] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\" 0.001"
            .into(),
    );
    f.insert(mid + 1, "\u{1}\u{2} binary junk".into());
    f.insert(mid + 2, String::new());
    let old = time_local(START + 30 * 3600);
    f.push(format!(
        "10.0.0.2 - acme [{old}] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\" 0.001"
    ));
    f.push("10.0.0.3 - acme [bogus] \"GET / HTTP/1.1\" 404 1 \"-\" \"x\" 0.001".into());
    Generated {
        files,
        per_status,
        total,
        last,
    }
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    write(path, &text);
}

/// `gzip -c` each part into one file: a multi-member gzip, as `cat a.gz b.gz` makes.
fn gzip_into(dest: &Path, parts: &[&Path]) {
    let mut data = Vec::new();
    for p in parts {
        let out = run_ok(Command::new("gzip").arg("-c").arg(p));
        data.extend(out.stdout);
    }
    std::fs::write(dest, data).unwrap();
}

fn query(prom: SocketAddr, path: &str) -> Result<Value, String> {
    let r = get(prom, path).map_err(|e| e.to_string())?;
    let v: Value =
        serde_json::from_str(&r.body).map_err(|e| format!("HTTP {}: {e}: {}", r.status, r.body))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {}: {}", r.status, r.body));
    }
    Ok(v)
}

fn instant(prom: SocketAddr, q: &str, at: i64) -> Value {
    query(
        prom,
        &format!("/api/v1/query?query={}&time={at}", urlencode(q)),
    )
    .unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn scalar_of(v: &Value) -> Option<f64> {
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// Metrics only a running agent (or Prometheus itself) has: backfill writes none of them.
const LIVE_ONLY: &[&str] = &[
    "up{",
    "up(",
    "ALERTS",
    "scrape_",
    "logpulse_build_info",
    "logpulse_series",
    "logpulse_file_",
    "logpulse_files_watched",
    "logpulse_checkpoint_",
    "logpulse_read_errors_total",
    "logpulse_source_restarts",
];

#[test]
fn backfilled_blocks_serve_totals_and_dashboards() {
    let t0 = Instant::now();
    let log_t = |what: &str| println!("[{:6.1}s] {what}", t0.elapsed().as_secs_f64());
    let prometheus = tool("prometheus");
    let promtool = tool("promtool");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let logs = dir.join("logs");

    // --- The rotated set: .3.gz (two gzip members), .2.gz, .1 (delaycompress), live file.
    let g = generate();
    let names = ["access.log.3", "access.log.2", "access.log.1", "access.log"];
    for (lines, name) in g.files.iter().zip(names) {
        assert!(!lines.is_empty(), "{name} got no lines");
        write_lines(&logs.join(name), lines);
    }
    let (a, b) = g.files[0].split_at(g.files[0].len() / 2);
    write_lines(&logs.join("part-a"), a);
    write_lines(&logs.join("part-b"), b);
    gzip_into(
        &logs.join("access.log.3.gz"),
        &[&logs.join("part-a"), &logs.join("part-b")],
    );
    gzip_into(&logs.join("access.log.2.gz"), &[&logs.join("access.log.2")]);
    for f in ["part-a", "part-b", "access.log.3", "access.log.2"] {
        std::fs::remove_file(logs.join(f)).unwrap();
    }
    log_t(&format!("generated {} requests over {HOURS} h", g.total));

    // --- backfill, files given in no particular order.
    let cfg = dir.join("logpulse.yml");
    // The http profile with a tenant, and the referrer metric of the usage dashboard (as in
    // examples/full.yml).
    write(
        &cfg,
        r#"sources:
  - name: web
    paths: [/var/log/nginx/access.log]
    format: auto
    profile: http
    tenant: {field: remote_user}
    metrics:
      - name: http_referrals_total
        type: counter
        help: Requests by referring search engine.
        match:
          http_referer: {regex: '^https?://'}
        labels:
          referrer:
            field: http_referer
            regex: '^https?://(?:www\.)?([^/:]+)'
            replacement: '$1'
            map: {google.com: google, search.naver.com: naver}
            default: other
"#,
    );
    // A directory: one OpenMetrics file per 2-hour chunk, as the README shows for long ranges.
    let om = dir.join("om");
    std::fs::create_dir(&om).unwrap();
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_logpulse"))
            .arg("backfill")
            .arg("--config")
            .arg(&cfg)
            .arg("--out")
            .arg(&om)
            .arg("--step")
            .arg(format!("{STEP_SECS}s"))
            .arg("--instance")
            .arg("web-01:9145")
            .args(
                [
                    "access.log.1",
                    "access.log.3.gz",
                    "access.log",
                    "access.log.2.gz",
                ]
                .map(|n| logs.join(n)),
            ),
    );
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    log_t(summary.trim());
    for want in [
        format!("{} placed", g.total),
        "too_old 1, no_time 2, future 0".to_string(),
        "2 parse errors".to_string(),
    ] {
        assert!(summary.contains(&want), "summary lacks {want:?}: {summary}");
    }
    let late: u64 = summary
        .split_once(" late")
        .and_then(|(a, _)| a.rsplit_once('(')?.1.parse().ok())
        .unwrap_or(0);
    assert!(
        late > 0,
        "some lines arrive after their step was recorded: {summary}"
    );

    // --- promtool writes blocks straight into the TSDB directory Prometheus will open.
    let tsdb = dir.join("tsdb");
    let chunks = files(&om, ".om");
    let n = chunks.len() as i64;
    assert!(
        (HOURS / 2..=HOURS / 2 + 1).contains(&n),
        "{n} files: one per 2-hour chunk"
    );
    for f in &chunks {
        run_ok(
            Command::new(&promtool)
                .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
                .arg(f)
                .arg(&tsdb),
        );
    }
    log_t(&format!(
        "promtool created blocks from {} files",
        chunks.len()
    ));

    let port = free_port();
    let prom: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let prom_cfg = dir.join("prometheus.yml");
    write(
        &prom_cfg,
        "global: {scrape_interval: 1m}\nscrape_configs: []\n",
    );
    let mut proc = Proc::spawn(
        "prometheus",
        // Blocks older than the retention are deleted at start-up.
        prometheus_cmd(&prometheus, &prom_cfg, &tsdb, prom)
            .arg("--storage.tsdb.retention.time=100y"),
        dir.join("prometheus.log"),
    );
    let end = (g.last + STEP_SECS - 1) / STEP_SECS * STEP_SECS;
    let ready = wait_for(Duration::from_secs(20), Duration::from_millis(200), || {
        get(prom, "/-/ready").ok().filter(|r| r.status == 200)
    });
    proc.assert_running();
    assert!(ready.is_some(), "Prometheus did not answer\n{}", proc.log());
    log_t("Prometheus is up on the blocks");

    // --- Per-status totals at the end equal the count made from the generated lines.
    let v = instant(
        prom,
        "sum by (status) (http_requests_total{job=\"logpulse\",instance=\"web-01:9145\"})",
        end,
    );
    let got: BTreeMap<String, u64> = v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["status"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().parse::<f64>().unwrap() as u64,
            )
        })
        .collect();
    assert_eq!(got, g.per_status, "per-status totals at the end");
    let dropped = |reason: &str| {
        scalar_of(&instant(
            prom,
            &format!("logpulse_backfill_lines_dropped_total{{reason=\"{reason}\"}}"),
            end,
        ))
    };
    assert_eq!(dropped("too_old"), Some(1.0));
    assert_eq!(dropped("no_time"), Some(2.0));
    assert_eq!(
        scalar_of(&instant(prom, "logpulse_parse_errors_total", end)),
        Some(2.0)
    );
    // Counters grow with the log: half-way the total is about half.
    let mid = START + HOURS * 1800;
    let half = scalar_of(&instant(prom, "sum(http_requests_total)", mid)).unwrap();
    assert!(
        half > g.total as f64 * 0.4 && half < g.total as f64 * 0.6,
        "total at mid-range {half} of {}",
        g.total
    );

    // --- Every dashboard query on backfillable metrics returns data over the range.
    let (mut checked, mut skipped, mut problems) = (0, 0, Vec::new());
    let rate = format!("{}s", 3 * STEP_SECS);
    for (file, title, refid, expr, _) in dashboard_queries() {
        if !ACCESS_LOG_DASHBOARDS.contains(&file.as_str())
            || LIVE_ONLY.iter().any(|m| expr.contains(m))
        {
            skipped += 1;
            continue;
        }
        let q = substitute_grafana(&expr, &rate, "1h");
        let path = format!(
            "/api/v1/query_range?query={}&start={}&end={end}&step=3600",
            urlencode(&q),
            START + 3600
        );
        checked += 1;
        match query(prom, &path) {
            Err(e) => problems.push(format!("{file} / {title} / {refid}: {e}\n    {q}")),
            Ok(v) if v["data"]["result"].as_array().is_none_or(|a| a.is_empty()) => {
                problems.push(format!("{file} / {title} / {refid}: no data\n    {q}"))
            }
            Ok(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard queries over the backfilled range:\n{}",
        problems.join("\n")
    );
    assert!(checked > 40, "only {checked} dashboard queries checked");
    log_t(&format!(
        "{checked} dashboard queries return data ({skipped} need a live agent or Prometheus)"
    ));
}
