//! The agent under faults of its surroundings: stderr gone, a state directory it cannot write,
//! a client scraping as fast as it can. Each test failed before its fix.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{access_line, append, http_get, sample, wait_for, Agent};

const LINES: &str = "logpulse_lines_total{source=\"web\"}";

fn config(dir: &Path, state: &Path) -> PathBuf {
    let cfg = dir.join("logpulse.yml");
    std::fs::create_dir_all(dir.join("logs")).expect("mkdir");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {}\n  poll_interval: 200ms\nsources:\n  - name: web\n    paths: ['{}/*.log']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            state.display(),
            dir.join("logs").display(),
        ),
    )
    .expect("write config");
    cfg
}

/// Regression: with stderr a pipe whose reader went away (journald restarted), the first log
/// line panicked the source thread ("failed printing to stderr"): nothing was counted any more
/// and /healthz still answered ok.
#[test]
fn a_closed_stderr_neither_stops_counting_nor_hides_behind_healthz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &dir.path().join("state"));
    let port = common::free_port();
    let mut child = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("LOGPULSE_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logpulse");
    // The reader goes away before the agent writes anything.
    drop(child.stderr.take());
    let guard = KillOnDrop(child);
    wait_for(20, "/healthz", || {
        http_get(port, "/healthz").filter(|(s, _)| *s == 200)
    });
    let log = dir.path().join("logs/access.log");
    for i in 0..4 {
        append(&log, access_line(i, "GET", "/mail/view/1", 200).as_bytes());
    }
    let expo = wait_for(20, "4 lines counted", || {
        http_get(port, "/metrics")
            .map(|(_, b)| b)
            .filter(|b| sample(b, LINES) == Some(4.0))
    });
    // Log lines were written (and dropped) all along, and counted.
    assert!(
        sample(&expo, "logpulse_log_messages_dropped_total").unwrap_or(0.0) > 0.0,
        "{expo}"
    );
    assert_eq!(http_get(port, "/healthz").map(|r| r.0), Some(200));
    drop(guard);
}

struct KillOnDrop(std::process::Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Regression: a state directory where the checkpoint cannot be written gave no start-up
/// message, /healthz stayed 200, and the error counter moved only on the next scrape.
/// (`checkpoints.json` is made a directory: the rename over it fails, even for root.)
#[test]
fn unwritable_checkpoints_show_at_start_up_on_healthz_and_in_the_same_scrape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("checkpoints.json/blocker")).expect("mkdir");
    let cfg = config(dir.path(), &state);
    let port = common::free_port();
    let stderr = dir.path().join("agent.log");
    let child = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("spawn logpulse");
    let _guard = KillOnDrop(child);
    let (status, body) = wait_for(20, "/healthz to answer", || http_get(port, "/healthz"));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("checkpoints failing"), "{body}");
    assert!(body.contains("checkpoints.json"), "{body}");
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(log.contains("cannot save checkpoints"), "{log}");
    let (_, page) = http_get(port, "/").expect("status page");
    assert!(page.contains("failing"), "{page}");
    // A new line changes the offsets: the next render saves, fails, and says so at once.
    let before = sample(
        &http_get(port, "/metrics").expect("scrape").1,
        "logpulse_checkpoint_errors_total",
    )
    .expect("counter present");
    append(
        &dir.path().join("logs/access.log"),
        access_line(1, "GET", "/", 200).as_bytes(),
    );
    let expo = wait_for(20, "the line to be counted", || {
        http_get(port, "/metrics")
            .map(|(_, b)| b)
            .filter(|b| sample(b, LINES) == Some(1.0))
    });
    let after = sample(&expo, "logpulse_checkpoint_errors_total").expect("counter");
    assert!(after > before, "before {before}, after {after}\n{expo}");
}

/// Regression: every /metrics request wrote and fsynced the checkpoint file (1,378 requests/s
/// made 113 MB of writes in 10 s). Now at most one render, and one write, per second.
#[test]
fn a_scrape_flood_writes_the_checkpoint_at_most_once_a_second() {
    use inotify::{Inotify, WatchMask};
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let cfg = config(dir.path(), &state);
    let a = Agent::start(&cfg, dir.path());
    let log = dir.path().join("logs/access.log");
    append(&log, access_line(0, "GET", "/", 200).as_bytes());
    a.wait_value(LINES, 1.0, 20);

    // Count files created in the state directory (each save creates a temporary file): the
    // events wait in the queue until the flood is over.
    let mut inotify = Inotify::init().expect("inotify");
    inotify
        .watches()
        .add(&state, WatchMask::CREATE)
        .expect("watch state dir");

    // Lines keep arriving, so every render has new offsets to save.
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let writer_log = log.clone();
    let writer = std::thread::spawn(move || {
        let mut i = 1;
        while !s.load(Ordering::SeqCst) {
            append(&writer_log, access_line(i, "GET", "/", 200).as_bytes());
            i += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let started = Instant::now();
    let mut scrapes = 0;
    while started.elapsed() < Duration::from_secs(3) {
        assert_eq!(http_get(a.port, "/metrics").map(|r| r.0), Some(200));
        scrapes += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    std::thread::sleep(Duration::from_millis(200));
    let mut buf = [0u8; 4096];
    let mut n = 0;
    loop {
        match inotify.read_events(&mut buf) {
            Ok(events) => n += events.count(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("reading the state directory's events: {e}"),
        }
    }
    assert!(scrapes > 50, "the flood was too thin to tell: {scrapes}");
    assert!(
        (n as f64) <= secs.ceil() + 2.0,
        "{n} checkpoint writes for {scrapes} scrapes in {secs:.1}s"
    );
    assert!(n >= 1, "no checkpoint written at all while lines arrived");
}

/// Regression: file names went into the agent's own log raw, so a file named
/// `x\n<a log line>` wrote a forged line, and ESC/BEL reached the terminal. Every value is now
/// escaped at the logging layer, in the text and the JSON format alike.
#[test]
fn a_file_name_cannot_forge_a_line_of_the_agents_log() {
    const FAKE: &str = "2026-01-01T00:00:00.000000Z ERROR logpulse: FORGED";
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = config(dir.path(), &dir.path().join("state"));
        let name = format!("x\n{FAKE} \x1b[31mred\x07\r\u{202e}gol.\u{2028}.log");
        append(
            &dir.path().join("logs").join(&name),
            access_line(1, "GET", "/", 200).as_bytes(),
        );
        let cfg = cfg.display().to_string();
        let agent = Agent::launch(
            dir.path(),
            "127.0.0.1",
            &["--config", &cfg, "--log-format", format],
            &[],
            common::healthz,
        );
        let log = wait_for(20, "the file to be logged", || {
            let log = agent.log();
            log.contains("FORGED").then_some(log)
        });
        drop(agent);
        let raw = std::fs::read(
            dir.path().join(
                std::fs::read_dir(dir.path())
                    .expect("dir")
                    .filter_map(Result::ok)
                    .find(|e| e.file_name().to_string_lossy().starts_with("agent-"))
                    .expect("agent log")
                    .file_name(),
            ),
        )
        .expect("read log");
        assert!(
            !raw.iter().any(|b| matches!(b, 0x1b | 0x07 | b'\r')),
            "{format}: raw control bytes in the log:\n{log}"
        );
        assert!(
            !log.contains(['\u{202e}', '\u{2028}']),
            "{format}: raw bidi/separator in the log:\n{log}"
        );
        for line in log.lines() {
            assert!(
                !line.starts_with(FAKE),
                "{format}: a forged line in the log:\n{log}"
            );
            match format {
                "json" => {
                    let v: serde_json::Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                    if let Some(file) = v["fields"]["file"].as_str() {
                        if file.contains("FORGED") {
                            assert!(file.ends_with(&name), "{file:?}");
                        }
                    }
                }
                _ => assert!(line.starts_with("20"), "not a log line: {line:?}"),
            }
        }
        if format == "text" {
            assert!(
                log.contains(&format!(
                    "x\\n{FAKE} \\u{{1b}}[31mred\\u{{7}}\\r\\u{{202e}}gol."
                )),
                "{log}"
            );
        }
    }
}

/// A configured path that exists but cannot be followed (a symlink loop, a directory) is an
/// error that says why, counted in `logpulse_read_errors_total`: it was logged as "does not
/// exist yet", as if waiting were the answer.
#[test]
fn a_path_that_cannot_be_followed_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("dir.log")).expect("mkdir");
    std::os::unix::fs::symlink("loop.log", logs.join("loop.log")).expect("symlink");
    let cfg = dir.path().join("logpulse.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {state}\n  poll_interval: 200ms\nsources:\n  - name: web\n    paths: ['{logs}/loop.log', '{logs}/dir.log', '{logs}/later.log']\n    format: auto\n    profile: http\n",
            state = dir.path().join("state").display(),
            logs = logs.display(),
        ),
    )
    .expect("write config");
    let agent = Agent::start(&cfg, dir.path());
    agent.wait_value("logpulse_read_errors_total{source=\"web\"}", 2.0, 20);
    let log = wait_for(20, "the reasons in the log", || {
        let log = agent.log();
        (log.contains("symbolic links") && log.contains("not a regular file")).then_some(log)
    });
    assert!(
        !log.contains("loop.log does not exist") && !log.contains("dir.log does not exist"),
        "{log}"
    );
    assert!(
        log.contains("later.log"),
        "a missing file is still waited for:\n{log}"
    );
}
