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

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Scrape `/metrics` and `/healthz` until the line count is `want`; every request must answer.
fn wait_counted(port: u16, want: f64, log: &std::path::Path) {
    let end = Instant::now() + Duration::from_secs(90);
    let mut requests = 0;
    loop {
        let metrics = http_get(port, "/metrics");
        let health = http_get(port, "/healthz");
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
        if sample(&body, LINES) == Some(want) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{LINES} = {:?}, want {want}\n{}",
            sample(&body, LINES),
            log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let cfg = dir.path().join("logpulse.yml");
    fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {}\nsources:\n  - name: web\n    paths: ['{}/*.log']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            dir.path().join("state").display(),
            logs.display()
        ),
    )
    .expect("write config");
    let port = free_port();
    let log = dir.path().join("agent.log");
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("log file"));
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
    let _agent = Killed(cmd.spawn().expect("spawn logpulse"));
    common::wait_for(20, "the agent to answer /healthz", || {
        http_get(port, "/healthz").filter(|(s, _)| *s == 200)
    });
    wait_counted(port, (FILES * 5) as f64, &log);
    // Written again: the files closed to stay within the budget are reopened by identity.
    for i in 0..FILES {
        append(
            &logs.join(format!("app-{i:04}.log")),
            access_line(FILES * 5 + i, "GET", "/", 200).as_bytes(),
        );
    }
    wait_counted(port, (FILES * 6) as f64, &log);
    let text = fs::read_to_string(&log).unwrap_or_default();
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
