//! Soak: logrotate's numbered shift (`create`, `rotate 5`: access.log → .1 → .2 … → deleted)
//! with frequent rotations and a high write rate, while another process allocates and touches
//! memory. Two tailers run side by side: one whose glob matches the rotated files
//! (`access.log*`, they stay known while they shift) and one whose glob does not
//! (`access.log`, they are drained and let go). Every line must be counted exactly once.
//!
//! CI runs it for 15 s; `LOGPULSE_SOAK_SECS=600 cargo test --release --test tail_soak -- --nocapture`
//! runs the long variant (figures are printed either way).

#[path = "tail/harness.rs"]
mod harness;

use harness::*;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Lines per second per log.
const RATE: usize = 20_000;

fn logrotate() -> PathBuf {
    [
        "/usr/sbin/logrotate",
        "/sbin/logrotate",
        "/usr/bin/logrotate",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| PathBuf::from("logrotate"))
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append")
}

/// A process that allocates `bytes` and touches every page (`tail` keeps the whole newline-free
/// input in memory), over and over, until killed.
fn memory_hog(bytes: u64) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while :; do head -c {bytes} /dev/zero | tail -n 1 >/dev/null; done"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh")
}

/// A fair share of the available memory to take: a quarter, at most 4 GiB.
fn hog_size() -> u64 {
    let avail_kib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1 << 20);
    (avail_kib * 1024 / 4).min(4 << 30)
}

/// A writer like nginx: one descriptor, O_APPEND, reopened when asked (its USR1).
fn writer(
    log: PathBuf,
    tag: &'static str,
    stop: Arc<AtomicBool>,
    reopen: Arc<AtomicBool>,
    written: Arc<AtomicUsize>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut f = open_append(&log);
        let start = Instant::now();
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) {
            if reopen.swap(false, Ordering::SeqCst) {
                f = open_append(&log);
            }
            // Paced in bursts of 100 lines.
            let mut burst = String::with_capacity(100 * 100);
            for _ in 0..100 {
                burst.push_str(&long_line(&format!("{tag}{i:09}")));
                burst.push('\n');
                i += 1;
            }
            f.write_all(burst.as_bytes()).expect("write");
            written.store(i, Ordering::SeqCst);
            let due = start + Duration::from_secs_f64(i as f64 / RATE as f64);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                thread::sleep(d);
            }
        }
    })
}

struct Log {
    dir: PathBuf,
    run: Running,
    reopen: Arc<AtomicBool>,
    written: Arc<AtomicUsize>,
    thread: thread::JoinHandle<()>,
}

#[test]
fn numbered_shift_under_memory_pressure_counts_every_line_once() {
    let secs: u64 = std::env::var("LOGPULSE_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let d = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let stop = Arc::new(AtomicBool::new(false));
    let mut conf = String::new();
    let mut logs = Vec::new();
    for (name, glob, tag) in [
        ("matched", "access.log*", "m"),
        ("unmatched", "access.log", "u"),
    ] {
        let dir = d.path().join(name);
        fs::create_dir(&dir).expect("mkdir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        let log = dir.join("access.log");
        conf.push_str(&format!(
            "{} {{\n    rotate 5\n    create\n    missingok\n}}\n",
            log.display()
        ));
        open_append(&log);
        let run = start(opts(&dir, &[glob]), vec![]);
        let reopen = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicUsize::new(0));
        let thread = writer(log, tag, stop.clone(), reopen.clone(), written.clone());
        logs.push(Log {
            dir,
            run,
            reopen,
            written,
            thread,
        });
    }
    let conf_path = d.path().join("logrotate.conf");
    fs::write(&conf_path, conf).expect("write conf");
    fs::set_permissions(&conf_path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let hog_bytes = hog_size();
    let mut hog = memory_hog(hog_bytes);

    let end = Instant::now() + Duration::from_secs(secs);
    let mut rotations = 0;
    while Instant::now() < end {
        thread::sleep(Duration::from_millis(700));
        let out = Command::new(logrotate())
            .arg("-f")
            .arg("-s")
            .arg(d.path().join("logrotate.state"))
            .arg(&conf_path)
            .output()
            .expect("logrotate not found: run scripts/setup");
        assert!(
            out.status.success(),
            "logrotate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        rotations += 1;
        for l in &logs {
            l.reopen.store(true, Ordering::SeqCst);
        }
    }
    stop.store(true, Ordering::SeqCst);
    let _ = hog.kill();
    let _ = hog.wait();

    let mut failures = Vec::new();
    for l in logs {
        l.thread.join().expect("writer");
        let n = l.written.load(Ordering::SeqCst);
        // Everything written is still on disk (5 rotated files kept) or was read before.
        l.run
            .wait(&format!("{n} lines in {}", l.dir.display()), |s| {
                s.lines.len() >= n
            });
        thread::sleep(Duration::from_millis(500));
        let s = l.run.stop();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (_, line) in &s.lines {
            *seen.entry(line.as_str()).or_default() += 1;
        }
        let dups = seen.values().filter(|c| **c > 1).count();
        eprintln!(
            "{}: {rotations} rotations, {n} lines written, {} counted, {} distinct, {dups} counted twice; memory hog {} MiB",
            l.dir.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            s.lines.len(),
            seen.len(),
            hog_bytes >> 20
        );
        if s.lines.len() != n || seen.len() != n {
            failures.push(format!(
                "{}: {n} written, {} counted, {} distinct; events: {:?}",
                l.dir.display(),
                s.lines.len(),
                seen.len(),
                s.events
                    .iter()
                    .filter(|e| !matches!(e, logpulse::source::TailEvent::Stats { .. }))
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
