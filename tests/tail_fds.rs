//! File descriptors: 2,000 files under `ulimit -n 512` (set in the agent process only). Every
//! line is counted, idle files are closed and reopened by identity as they are written to
//! again, and `/metrics` and `/healthz` answer all along.

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{access_line, append, free_port, http_get, sample};

const FILES: usize = 2000;
const LINES: &str = "logpulse_lines_total{source=\"web\"}";
const HELD: &str = "logpulse_files_held_total{source=\"web\"}";

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Scrape `/metrics` and `/healthz` until the line count is `want`; every request must answer.
/// Returns the longest time a pair of requests took.
fn wait_counted(port: u16, want: f64, log: &std::path::Path) -> Duration {
    wait_sample(port, LINES, want, log)
}

/// Scrape `/metrics` and `/healthz` until `series` is `want`; every request must answer.
/// Returns the longest time a pair of requests took.
fn wait_sample(port: u16, series: &str, want: f64, log: &std::path::Path) -> Duration {
    let end = Instant::now() + Duration::from_secs(90);
    let mut requests = 0;
    let mut slowest = Duration::ZERO;
    loop {
        let t = Instant::now();
        let metrics = http_get(port, "/metrics");
        let health = http_get(port, "/healthz");
        slowest = slowest.max(t.elapsed());
        requests += 2;
        let log_text = || fs::read_to_string(log).unwrap_or_default();
        let Some((200, body)) = metrics else {
            panic!(
                "/metrics did not answer (request {requests}): {metrics:?}\n{}",
                log_text()
            );
        };
        assert!(
            matches!(health, Some((200, _))),
            "/healthz did not answer 200 (request {requests}): {health:?}\n{}",
            log_text()
        );
        if sample(&body, series) == Some(want) {
            return slowest;
        }
        assert!(
            Instant::now() < end,
            "{series} = {:?}, want {want}\n{}",
            sample(&body, series),
            log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A source on `logs/*.log` under `ulimit -n 512` (the agent only); stderr to `log`.
fn spawn_agent(
    dir: &std::path::Path,
    logs: &std::path::Path,
    log: &std::path::Path,
) -> (Killed, u16) {
    let cfg = dir.join("logpulse.yml");
    fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {}\nsources:\n  - name: web\n    paths: ['{}/*.log']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            dir.join("state").display(),
            logs.display()
        ),
    )
    .expect("write config");
    let port = free_port();
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).expect("log file"));
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's own limit.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 512,
                rlim_max: 512,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let agent = Killed(cmd.spawn().expect("spawn logpulse"));
    common::wait_for(20, "the agent to answer /healthz", || {
        http_get(port, "/healthz").filter(|(s, _)| *s == 200)
    });
    (agent, port)
}

fn assert_no_fd_exhaustion(log: &std::path::Path) {
    let text = fs::read_to_string(log).unwrap_or_default();
    assert!(
        !text.contains("Too many open files"),
        "descriptors ran out:\n{}",
        text.lines()
            .filter(|l| l.contains("Too many"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn two_thousand_files_under_ulimit_512_are_all_counted_and_http_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    for i in 0..FILES {
        let lines: String = (0..5)
            .map(|k| access_line(i * 5 + k, "GET", "/", 200))
            .collect();
        append(&logs.join(format!("app-{i:04}.log")), lines.as_bytes());
    }
    let log = dir.path().join("agent.log");
    let (_agent, port) = spawn_agent(dir.path(), &logs, &log);
    wait_counted(port, (FILES * 5) as f64, &log);
    // Written again: the files closed to stay within the budget are reopened by identity.
    for i in 0..FILES {
        append(
            &logs.join(format!("app-{i:04}.log")),
            access_line(FILES * 5 + i, "GET", "/", 200).as_bytes(),
        );
    }
    wait_counted(port, (FILES * 6) as f64, &log);
    assert_no_fd_exhaustion(&log);
}

/// The same after start: 2,000 files created while the agent runs, each holding at first only
/// the same 100-byte first line (a startup banner), so that each is a possible copy of the
/// first until its next lines differ. Held files count against the budget like followed ones:
/// before, each held file kept its descriptor, listing the directory then failed, and
/// `/healthz` and `/metrics` stopped answering.
#[test]
fn two_thousand_files_created_after_start_that_start_alike_stay_within_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    let log = dir.path().join("agent.log");
    let (agent, port) = spawn_agent(dir.path(), &logs, &log);
    let banner = access_line(0, "GET", "/started/by/the/same/banner/in/every/file", 200);
    assert!(banner.len() >= 100);
    let pid = agent.0.id();
    let fds = || fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let mut most = 0;
    let name = |i: usize| logs.join(format!("app-{i:04}.log"));
    for i in 0..FILES {
        append(&name(i), banner.as_bytes());
        if i % 50 == 0 {
            most = most.max(fds());
        }
    }
    // Every file is looked at while it holds only the banner: the first is read, the others
    // are held as its possible copies.
    let slowest = wait_sample(port, HELD, (FILES - 1) as f64, &log);
    most = most.max(fds());
    for i in 0..FILES {
        let lines: String = (1..5)
            .map(|k| access_line(i * 5 + k, "GET", "/", 200))
            .collect();
        append(&name(i), lines.as_bytes());
        if i % 50 == 0 {
            most = most.max(fds());
        }
    }
    let slowest = slowest.max(wait_counted(port, (FILES * 5) as f64, &log));
    for i in 0..FILES {
        append(
            &name(i),
            access_line(FILES * 5 + i, "GET", "/", 200).as_bytes(),
        );
    }
    let slowest = slowest.max(wait_counted(port, (FILES * 6) as f64, &log));
    most = most.max(fds());
    eprintln!(
        "descriptors of the agent: at most {most} seen (limit 512); slowest /metrics + /healthz: {slowest:?}"
    );
    assert_no_fd_exhaustion(&log);
}

/// Resident memory of process `pid`, in kB.
fn rss_kb(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// 400 files each ending in a partial line of 250 KB (no newline yet), `max_line_bytes`
/// 256 KiB: partial lines are kept in memory within a budget (64 lines' worth here), not 100 MB;
/// those let go are read again from their files, and every line is counted once its newline
/// comes. (Before: each file kept its partial line, and then the buffer, in memory.)
#[test]
fn partial_lines_of_many_files_stay_within_a_memory_budget() {
    const FILES: usize = 400;
    const LINES: &str = "logpulse_lines_total{source=\"app\"}";
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    let cfg = dir.path().join("logpulse.yml");
    fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {}\n  max_line_bytes: 262144\nsources:\n  - name: app\n    paths: ['{}/*.log']\n    format: logfmt\n    start_at: beginning\n    metrics:\n      - name: app_records_total\n        type: counter\n        help: Records.\n",
            dir.path().join("state").display(),
            logs.display()
        ),
    )
    .expect("write config");
    let a = common::Agent::start(&cfg, dir.path());
    let pid = a.child.id();
    let name = |i: usize| logs.join(format!("app-{i:03}.log"));
    for i in 0..FILES {
        append(&name(i), format!("level=info file={i}\n").as_bytes());
    }
    a.wait_value(LINES, FILES as f64, 60);
    let before = rss_kb(pid);
    let head = format!("level=info msg={}", "m".repeat(250_000));
    for i in 0..FILES {
        append(&name(i), head.as_bytes());
    }
    // Each file read to its end: what is not delivered yet is exactly the partial lines.
    let partial = (FILES * head.len()) as f64;
    common::wait_for(60, "the partial lines read", || {
        let expo = a.scrape();
        (sample(&expo, "logpulse_file_lag_bytes{source=\"app\"}") == Some(partial)).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let grown = rss_kb(pid).saturating_sub(before);
    for i in 0..FILES {
        append(&name(i), b" end=1\n");
    }
    a.wait_value(LINES, (2 * FILES) as f64, 60);
    eprintln!("resident memory grew by {grown} kB for {FILES} partial lines of 250 KB");
    assert!(grown < 50_000, "partial lines took {grown} kB");
}
