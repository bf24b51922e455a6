//! New series reach scrapers at 0 first, so that what Prometheus computes with `increase()`
//! counts every line, also across a `kill -9` while a new series is still shown at 0 (its value
//! is saved with the offsets and restored).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{access_line, append, Agent};

fn config(dir: &Path, global: &str) -> std::path::PathBuf {
    let cfg = dir.join("logpulse.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {state}\n  poll_interval: 200ms\n{global}sources:\n  - name: web\n    paths: ['{logs}/*.log']\n    format: combined\n    profile: http\n    start_at: beginning\n",
            state = dir.join("state").display(),
            logs = dir.join("logs").display(),
        ),
    )
    .expect("write config");
    std::fs::create_dir_all(dir.join("logs")).expect("mkdir");
    cfg
}

/// GET /metrics with a `User-Agent` (`None`: none, which is how a scraper is told apart).
fn get(port: u16, ua: Option<&str>) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let ua = ua
        .map(|u| format!("User-Agent: {u}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n{ua}Connection: close\r\n\r\n"
    )
    .expect("request");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("response");
    buf.split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default()
}

/// What Prometheus makes of successive scrapes: per series, the increase over every sample it
/// stored (its first sample is the baseline, a drop is a counter reset).
#[derive(Default)]
struct Prometheus {
    last: BTreeMap<String, f64>,
    increase: BTreeMap<String, f64>,
}

impl Prometheus {
    fn scrape(&mut self, port: u16) -> String {
        let body = get(port, None);
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, v)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = v.parse::<f64>() else { continue };
            if let Some(prev) = self.last.insert(series.to_string(), v) {
                *self.increase.entry(series.to_string()).or_default() +=
                    if v >= prev { v - prev } else { v };
            }
        }
        body
    }

    fn increase(&self, series: &str) -> f64 {
        self.increase.get(series).copied().unwrap_or(0.0)
    }
}

fn value(expo: &str, series: &str) -> Option<f64> {
    common::sample(expo, series)
}

const OK_200: &str =
    "http_requests_total{method=\"GET\",route=\"/mail/view/:id\",source=\"web\",status=\"200\"}";
const E_503: &str =
    "http_requests_total{method=\"GET\",route=\"/mail/view/:id\",source=\"web\",status=\"503\"}";
const LINES: &str = "logpulse_lines_total{source=\"web\"}";

fn lines(from: usize, n: usize, status: u16) -> String {
    (from..from + n)
        .map(|i| access_line(i, "GET", "/mail/view/42", status))
        .collect()
}

/// Wait until a person's view (which moves nothing) shows `n` lines read.
fn wait_read(a: &Agent, n: f64) {
    common::wait_for(20, &format!("{n} lines read"), || {
        (value(&get(a.port, Some("curl/8.5.0")), LINES) == Some(n)).then_some(())
    });
}

/// Wait until the source has followed its file and read all it held (its baseline is over).
fn wait_caught_up(a: &Agent) {
    common::wait_for(20, "the file followed", || {
        let body = get(a.port, Some("curl/8.5.0"));
        (value(&body, "logpulse_files_watched{source=\"web\"}") == Some(1.0)
            && value(&body, "logpulse_file_lag_bytes{source=\"web\"}") == Some(0.0))
        .then_some(())
    });
}

/// Scrape until `series` shows `want`.
fn scrape_until(p: &mut Prometheus, a: &Agent, series: &str, want: f64) {
    common::wait_for(30, &format!("{series} = {want} in a scrape"), || {
        let body = p.scrape(a.port);
        std::thread::sleep(Duration::from_millis(300));
        (value(&body, series) == Some(want)).then_some(())
    });
}

fn held_series_survive_a_kill_9(mode: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("logs/access.log");
    // Scrapers every 30 s: a new series stays at 0 for 29.5 s after its first scrape.
    let cfg = config(dir.path(), &format!("  scrape_interval: 30s\n{mode}"));
    let mut prom = Prometheus::default();
    append(&log, b"");
    let a = Agent::start(&cfg, dir.path());
    wait_caught_up(&a);
    // The first scrape of an agent that never saved a checkpoint is Prometheus' baseline.
    let base = prom.scrape(a.port);
    assert_eq!(value(&base, LINES), Some(0.0));
    std::thread::sleep(Duration::from_millis(1100)); // a render is served for a second
    append(&log, lines(0, 10, 200).as_bytes());
    wait_read(&a, 10.0);
    let first = prom.scrape(a.port);
    assert_eq!(
        value(&first, OK_200),
        Some(0.0),
        "a new series shows 0 first:\n{first}"
    );
    assert_eq!(
        value(&first, LINES),
        Some(10.0),
        "a series shown before has its value"
    );
    assert_eq!(
        value(&get(a.port, Some("curl/8.5.0")), OK_200),
        Some(10.0),
        "a person sees the value as it is"
    );
    // A new status in a series already shown at 0 is not revealed by a person's request.
    append(&log, lines(10, 3, 503).as_bytes());
    wait_read(&a, 13.0);
    assert_eq!(value(&prom.scrape(a.port), OK_200), Some(0.0));
    // The checkpoint holds the values Prometheus has not been shown, with the offsets.
    let state = dir.path().join("state/checkpoints.json");
    common::wait_for(10, "the checkpoint to hold the held values", || {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(value(&prom.scrape(a.port), E_503), Some(0.0));
        let text = std::fs::read_to_string(&state).ok()?;
        (text.contains("\"extra\"") && text.contains("\"503\"")).then_some(())
    });
    let _ = a.signal(9);

    // Restarted with scrapers every second: every series at 0 for one scrape, then the held
    // values restored and the lines read since (none read again).
    let cfg = config(dir.path(), mode);
    let b = Agent::start(&cfg, dir.path());
    append(&log, lines(13, 2, 200).as_bytes());
    let again = prom.scrape(b.port);
    assert_eq!(value(&again, LINES), Some(0.0), "after a restart too");
    scrape_until(&mut prom, &b, OK_200, 12.0);
    scrape_until(&mut prom, &b, E_503, 3.0);
    scrape_until(&mut prom, &b, LINES, 2.0);
    assert_eq!(prom.increase(OK_200), 12.0, "each 200 line once");
    assert_eq!(prom.increase(E_503), 3.0, "each 503 line once");
    assert_eq!(prom.increase(LINES), 15.0, "each line read once");
}

#[test]
fn held_values_survive_a_kill_9_with_checkpoint_scrape() {
    held_series_survive_a_kill_9("");
}

#[test]
fn held_values_survive_a_kill_9_with_checkpoint_read() {
    held_series_survive_a_kill_9("  checkpoint: read\n");
}

/// History read at a first start (`start_at: beginning`, no checkpoint yet) is not traffic of
/// that moment: the first scrape shows it as it is, as Prometheus' baseline.
#[test]
fn a_first_run_shows_the_history_it_read_as_the_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("logs/access.log");
    let cfg = config(dir.path(), "");
    append(&log, lines(0, 5, 200).as_bytes());
    let mut prom = Prometheus::default();
    let a = Agent::start(&cfg, dir.path());
    wait_read(&a, 5.0);
    let first = prom.scrape(a.port);
    assert_eq!(value(&first, OK_200), Some(5.0), "{first}");
    // Series born afterwards start at 0.
    std::thread::sleep(Duration::from_millis(1100));
    append(&log, lines(5, 2, 503).as_bytes());
    wait_read(&a, 7.0);
    assert_eq!(value(&prom.scrape(a.port), E_503), Some(0.0));
    scrape_until(&mut prom, &a, E_503, 2.0);
    assert_eq!((prom.increase(OK_200), prom.increase(E_503)), (0.0, 2.0));
}

/// Prometheus may scrape while a first start still reads the history: series that history makes
/// after that scrape are the baseline too (at their value at once), not a burst of new traffic.
/// (The baseline once ended at the first scrape: the 5xx of a long log's end were counted from
/// 0 while its 200s were not, and the error budget alerts fired at deploy time.)
#[test]
fn history_read_after_the_first_scrape_is_the_baseline_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("logs/access.log");
    let cfg = config(dir.path(), "");
    let n = 300_000;
    append(&log, (lines(0, n, 200) + &lines(n, 3, 503)).as_bytes());
    let mut prom = Prometheus::default();
    let a = Agent::start(&cfg, dir.path());
    let first = prom.scrape(a.port);
    assert!(
        value(&first, LINES).unwrap_or(0.0) < (n + 3) as f64,
        "the test needs a scrape while the history is read:\n{first}"
    );
    let mut seen = Vec::new();
    common::wait_for(60, "the history read and scraped", || {
        std::thread::sleep(Duration::from_millis(300));
        let body = prom.scrape(a.port);
        seen.push(value(&body, E_503));
        (value(&body, LINES) == Some((n + 3) as f64)).then_some(())
    });
    assert!(
        seen.iter().all(|v| matches!(v, None | Some(3.0))),
        "the history's 503s shown at 0 first: {seen:?}"
    );
    // (The 200s shown at the first scrape grow as the rest is read: Prometheus sees history
    // at the log's own mix, not one kind of line counted from 0 and the others not.)
    assert_eq!(prom.increase(E_503), 0.0);
    // Traffic after the history starts at 0 as usual.
    std::thread::sleep(Duration::from_millis(1100));
    append(&log, lines(n + 3, 2, 502).as_bytes());
    let e502 = E_503.replace("503", "502");
    scrape_until(&mut prom, &a, &e502, 0.0);
    scrape_until(&mut prom, &a, &e502, 2.0);
    assert_eq!(prom.increase(&e502), 2.0);
}
