//! Rotation by the real `logrotate` (Debian package, run as `logrotate -f -s STATE CONF`) with
//! the option sets servers use: `copytruncate` or `create`, numbered or `dateext` names,
//! `compress`, `delaycompress`, the rotated file matched by the glob (`app.log*`) or not
//! (`app.log`). Each run writes 3,000 lines as an application does (one descriptor, O_APPEND;
//! reopened after a `create` rotation), rotating after lines 1,000 and 1,200, and must count
//! every line exactly once, also when the tailer is restarted right after each rotation.

mod common;
#[path = "tail/harness.rs"]
mod harness;

use harness::*;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use logpulse::source::{Checkpoint, TailEvent};

const N: usize = 3000;
const ROTATE_AT: [usize; 2] = [1000, 1200];

fn logrotate() -> PathBuf {
    for p in [
        "/usr/sbin/logrotate",
        "/sbin/logrotate",
        "/usr/bin/logrotate",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("logrotate") // from PATH; the error below says what to do if missing
}

/// One logrotate configuration for `log`, with its own state file.
struct Rotator {
    conf: PathBuf,
    state: PathBuf,
    /// Unix second at the end of the last run.
    last: std::cell::Cell<u64>,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

impl Rotator {
    fn new(root: &Path, log: &Path, options: &str) -> Rotator {
        let conf = root.join("logrotate.conf");
        fs::write(
            &conf,
            format!(
                "{} {{\n    rotate 5\n    missingok\n{options}\n}}\n",
                log.display()
            ),
        )
        .expect("write logrotate.conf");
        // logrotate refuses a configuration others can write to.
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).expect("chmod");
        Rotator {
            conf,
            state: root.join("logrotate.state"),
            last: std::cell::Cell::new(0),
        }
    }

    fn rotate(&self, dateext: bool) {
        // With dateext the names carry the second: two rotations need two different seconds
        // (by logrotate's time(), a coarse clock that may lag ours by a few milliseconds).
        if dateext {
            while unix_secs() <= self.last.get() {
                thread::sleep(Duration::from_millis(20));
            }
            thread::sleep(Duration::from_millis(30));
        }
        let out = Command::new(logrotate())
            .arg("-f")
            .arg("-s")
            .arg(&self.state)
            .arg(&self.conf)
            .output()
            .expect("logrotate not found: run scripts/setup");
        assert!(
            out.status.success(),
            "logrotate failed (previous run ended in second {}, now {}): {}",
            self.last.get(),
            unix_secs(),
            String::from_utf8_lossy(&out.stderr)
        );
        self.last.set(unix_secs());
    }
}

fn line(i: usize) -> String {
    long_line(&format!("n{i:05}"))
}

/// The events other than stats, one line each (for failure messages).
fn event_lines(s: &Seen) -> Vec<String> {
    s.events
        .iter()
        .filter(|e| !matches!(e, TailEvent::Stats { .. }))
        .map(|e| format!("{e:?}"))
        .collect()
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append")
}

/// Lines counted more than once, and lines of `0..n` never counted.
fn check_exact(what: &str, counted: &[String], n: usize, events: &[String]) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for l in counted {
        *seen.entry(l.as_str()).or_default() += 1;
    }
    let dups: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).take(5).collect();
    let missing: Vec<_> = (0..n)
        .map(line)
        .filter(|l| !seen.contains_key(l.as_str()))
        .take(5)
        .collect();
    assert!(
        dups.is_empty() && missing.is_empty() && counted.len() == n,
        "{what}: {n} lines written, {} counted; duplicates (first 5): {dups:?}; missing (first 5): {missing:?}\nevents:\n{}",
        counted.len(),
        events.join("\n")
    );
}

/// Write N lines with two rotations; restart the tailer right after each rotation if
/// `restart` (what it saved is what a scrape just before would have saved).
fn exact_run(options: &str, glob: &str, restart: bool) {
    let d = tmp();
    let logs = d.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).expect("chmod");
    let log = logs.join("app.log");
    let rot = Rotator::new(d.path(), &log, options);
    let reopen = !options.contains("copytruncate");
    // With `compress` but no `delaycompress` the copy is compressed and deleted at once: lines
    // not read before logrotate runs are then only in the `.gz` (a documented limit). Let the
    // tailer catch up first, so this run checks that nothing is read twice.
    let catch_up = options.contains("compress") && !options.contains("delaycompress");
    let dateext = options.contains("dateext");
    let mut counted = Vec::new();
    let mut events = Vec::new();
    let mut w = open_append(&log);
    let mut r = start(opts(&logs, &[glob]), vec![]);
    for i in 0..N {
        if ROTATE_AT.contains(&i) {
            if catch_up {
                let before = counted.len();
                r.wait("caught up", |s| before + s.lines.len() >= i);
            }
            rot.rotate(dateext);
            if reopen {
                w = open_append(&log);
            }
            if restart {
                let s = r.stop();
                counted.extend(s.texts());
                events.extend(event_lines(&s));
                let resume: Vec<Checkpoint> = s.cps.values().cloned().collect();
                r = start(opts(&logs, &[glob]), resume);
            }
        }
        w.write_all(format!("{}\n", line(i)).as_bytes())
            .expect("write");
    }
    let before = counted.len();
    r.wait(&format!("{N} lines"), |s| before + s.lines.len() >= N);
    // Any duplicate (a copy read again, a compressed file read as lines) shows by now:
    // rotate_wait is 200 ms.
    thread::sleep(Duration::from_millis(1000));
    let s = r.stop();
    counted.extend(s.texts());
    events.extend(event_lines(&s));
    check_exact(&format!("{options:?} glob {glob}"), &counted, N, &events);
}

const COPYTRUNCATE: &str = "    copytruncate";
const COPY_DATEEXT: &str = "    copytruncate\n    dateext\n    dateformat -%Y%m%d-%s";
const COPY_COMPRESS: &str = "    copytruncate\n    compress";
const COPY_DELAYCOMPRESS: &str = "    copytruncate\n    compress\n    delaycompress";
const COPY_DATEEXT_DELAYCOMPRESS: &str =
    "    copytruncate\n    dateext\n    dateformat -%Y%m%d-%s\n    compress\n    delaycompress";
const CREATE: &str = "    create";
const CREATE_DATEEXT: &str = "    create\n    dateext\n    dateformat -%Y%m%d-%s";
const CREATE_COMPRESS: &str = "    create\n    compress";
const CREATE_DELAYCOMPRESS: &str = "    create\n    compress\n    delaycompress";

macro_rules! matrix {
    ($($name:ident: $options:expr, $glob:expr, $restart:expr;)*) => {
        $(#[test]
        fn $name() {
            exact_run($options, $glob, $restart);
        })*
    };
}

matrix! {
    copytruncate_numbered_copy_matched: COPYTRUNCATE, "app.log*", false;
    copytruncate_numbered_copy_not_matched: COPYTRUNCATE, "app.log", false;
    copytruncate_dateext_copies_kept_matched: COPY_DATEEXT, "app.log*", false;
    copytruncate_dateext_copies_kept_not_matched: COPY_DATEEXT, "app.log", false;
    copytruncate_compress_matched: COPY_COMPRESS, "app.log*", false;
    copytruncate_compress_not_matched: COPY_COMPRESS, "app.log", false;
    copytruncate_delaycompress_matched: COPY_DELAYCOMPRESS, "app.log*", false;
    copytruncate_delaycompress_not_matched: COPY_DELAYCOMPRESS, "app.log", false;
    copytruncate_dateext_delaycompress_matched: COPY_DATEEXT_DELAYCOMPRESS, "app.log*", false;
    create_numbered_matched: CREATE, "app.log*", false;
    create_numbered_not_matched: CREATE, "app.log", false;
    create_dateext_matched: CREATE_DATEEXT, "app.log*", false;
    create_compress_matched: CREATE_COMPRESS, "app.log*", false;
    create_compress_not_matched: CREATE_COMPRESS, "app.log", false;
    create_delaycompress_matched: CREATE_DELAYCOMPRESS, "app.log*", false;
    restart_after_each_copytruncate_matched: COPY_DELAYCOMPRESS, "app.log*", true;
    restart_after_each_copytruncate_not_matched: COPYTRUNCATE, "app.log", true;
    restart_after_each_copytruncate_dateext: COPY_DATEEXT, "app.log*", true;
    restart_after_each_create_rotation: CREATE_DELAYCOMPRESS, "app.log*", true;
}

/// The reported sequence, by hand: glob `app.log*`, start at the beginning, 3,000 lines, at
/// lines 1,000 and 1,200 `app.log` copied to a new name (the first copy kept) and truncated.
#[test]
fn copytruncate_by_hand_with_copies_kept_counts_each_line_once() {
    let d = tmp();
    let log = d.path().join("app.log");
    let r = start(opts(d.path(), &["app.log*"]), vec![]);
    let mut w = open_append(&log);
    for i in 0..N {
        if let Some(k) = ROTATE_AT.iter().position(|at| *at == i) {
            fs::copy(&log, d.path().join(format!("app.log.{}", k + 1))).expect("copy");
            w.set_len(0).expect("truncate");
        }
        w.write_all(format!("{}\n", line(i)).as_bytes())
            .expect("write");
    }
    r.wait(&format!("{N} lines"), |s| s.lines.len() >= N);
    thread::sleep(Duration::from_millis(1000));
    let s = r.stop();
    check_exact("copies kept", &s.texts(), N, &event_lines(&s));
}

/// Regression: a look that finds the second copy (`app.log.2`, lines 1,000 to 1,199) while the
/// original still holds those lines and its first truncation is not seen yet took the copy for
/// a new file and read it from 0, then read the same lines again from the original (3,200
/// counted). Polled, so that the look falls between the second copy and its truncation.
#[test]
fn a_copy_of_an_original_truncated_unseen_is_held() {
    let d = tmp();
    let log = d.path().join("app.log");
    let mut o = opts(d.path(), &["app.log*"]);
    o.force_poll = true;
    o.poll_interval = Duration::from_millis(1000);
    let r = start(o, vec![]);
    let mut w = open_append(&log);
    let write = |w: &mut File, from: usize, to: usize| {
        let text: String = (from..to).map(|i| format!("{}\n", line(i))).collect();
        w.write_all(text.as_bytes()).expect("write");
    };
    write(&mut w, 0, ROTATE_AT[0]);
    r.wait("the first lines", |s| s.lines.len() >= ROTATE_AT[0]);
    fs::copy(&log, d.path().join("app.log.1")).expect("copy");
    w.set_len(0).expect("truncate");
    write(&mut w, ROTATE_AT[0], ROTATE_AT[1]);
    fs::copy(&log, d.path().join("app.log.2")).expect("copy");
    // Two polls see both copies, and the original before its second truncation.
    thread::sleep(Duration::from_millis(2500));
    w.set_len(0).expect("truncate");
    write(&mut w, ROTATE_AT[1], N);
    r.wait(&format!("{N} lines"), |s| s.lines.len() >= N);
    thread::sleep(Duration::from_millis(2500));
    let s = r.stop();
    check_exact(
        "second copy before its truncation",
        &s.texts(),
        N,
        &event_lines(&s),
    );
}

/// Every line of every file on disk (compressed ones decompressed). An unterminated last line
/// is left out: logrotate's copy may end in the middle of a line being written (its read saw
/// part of the write); the whole line was in the original, and what follows it is in neither.
fn lines_on_disk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("readdir").flatten() {
        let p = e.path();
        let data = if p.extension().is_some_and(|x| x == "gz") {
            let o = Command::new("gzip")
                .arg("-dc")
                .arg(&p)
                .output()
                .expect("gzip");
            o.stdout
        } else {
            fs::read(&p).expect("read")
        };
        out.extend(String::from_utf8_lossy(&data).lines().map(str::to_string));
    }
    out
}

/// copytruncate under a writer that does not pause: the lines written between logrotate's copy
/// and its truncation are in neither file and cannot be counted (logrotate's manual says so);
/// every other line is counted exactly once, whether the copy is matched by the glob or not.
fn concurrent_run(glob: &str) {
    let d = tmp();
    let logs = d.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    let log = logs.join("app.log");
    let rot = Rotator::new(d.path(), &log, COPY_DELAYCOMPRESS);
    let r = start(opts(&logs, &[glob]), vec![]);
    let written = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (written, done, log) = (written.clone(), done.clone(), log.clone());
        thread::spawn(move || {
            let mut w = open_append(&log);
            let mut i = 0;
            while !done.load(Ordering::SeqCst) && i < 200_000 {
                w.write_all(format!("{}\n", line(i)).as_bytes())
                    .expect("write");
                i += 1;
                written.store(i, Ordering::SeqCst);
                if i % 64 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(300));
        rot.rotate(false);
    }
    thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let n = written.load(Ordering::SeqCst);
    let disk = lines_on_disk(&logs);
    r.wait("every line on disk", |s| s.lines.len() >= disk.len());
    thread::sleep(Duration::from_millis(1000));
    let s = r.stop();
    let counted = s.texts();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for l in &counted {
        *seen.entry(l.as_str()).or_default() += 1;
    }
    let dups: Vec<_> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(l, _)| *l)
        .collect();
    // A line torn by logrotate's copy (its read saw part of a write) is on disk as a fragment
    // followed by the next line; the whole line was counted from the original.
    let written: std::collections::HashSet<String> = (0..n).map(line).collect();
    let fragments: std::collections::HashSet<&str> = disk
        .iter()
        .filter(|l| !written.contains(*l))
        .map(String::as_str)
        .collect();
    let not_counted: Vec<_> = disk
        .iter()
        .filter(|l| written.contains(*l) && !seen.contains_key(l.as_str()))
        .collect();
    let strange: Vec<_> = counted
        .iter()
        .filter(|l| !written.contains(*l) && !fragments.contains(l.as_str()))
        .collect();
    assert!(
        strange.is_empty(),
        "counted lines never written: {strange:?}"
    );
    eprintln!(
        "copytruncate+delaycompress, glob {glob}: {n} lines written, {} counted, {} on disk ({} torn by the copy), {} lost in the copy-to-truncate window",
        counted.len(),
        disk.len(),
        fragments.len(),
        n - counted.len().min(n)
    );
    assert!(
        dups.is_empty() && not_counted.is_empty(),
        "{} lines counted twice (first: {:?}), {} lines on disk never counted (first: {:?})\nevents:\n{}",
        dups.len(),
        dups.first(),
        not_counted.len(),
        not_counted.first(),
        event_lines(&s).join("\n")
    );
    assert!(counted.len() <= n);
}

#[test]
fn copytruncate_under_a_steady_writer_copy_matched() {
    concurrent_run("app.log*");
}

#[test]
fn copytruncate_under_a_steady_writer_copy_not_matched() {
    concurrent_run("app.log");
}

/// The reported sequence with the agent: copytruncate, a scrape (which saves the checkpoint),
/// `kill -9` within `rotate_wait`, restart: the copy must not be read again.
#[test]
fn copytruncate_scrape_kill_9_restart_does_not_reread_the_copy() {
    const LINES: &str = "logpulse_lines_total{source=\"web\"}";
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let cfg = dir.path().join("logpulse.yml");
    fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {}\n  rotate_wait: 10s\nsources:\n  - name: web\n    paths: ['{}/app.log*']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            dir.path().join("state").display(),
            logs.display()
        ),
    )
    .expect("write config");
    let log = logs.join("app.log");
    let rot = Rotator::new(dir.path(), &log, COPY_DELAYCOMPRESS);
    let mut w = open_append(&log);
    for i in 0..1000 {
        w.write_all(common::access_line(i, "GET", "/", 200).as_bytes())
            .expect("write");
    }
    let a = common::Agent::start(&cfg, dir.path());
    a.wait_value(LINES, 1000.0, 20);
    rot.rotate(false);
    // This scrape saw the truncation, and saved the checkpoint that goes with it.
    a.wait_value("logpulse_file_truncations_total{source=\"web\"}", 1.0, 20);
    a.signal(9);
    for i in 1000..1010 {
        w.write_all(common::access_line(i, "GET", "/", 200).as_bytes())
            .expect("write");
    }
    let a = common::Agent::start(&cfg, dir.path());
    a.wait_value(LINES, 10.0, 20);
    thread::sleep(Duration::from_millis(1500));
    let expo = a.scrape();
    assert_eq!(
        common::sample(&expo, LINES),
        Some(10.0),
        "the copy was read again after the restart\n{}",
        a.log()
    );
}

/// Restarted from a checkpoint older than what was read (the last scrape came before the last
/// lines were read; SIGTERM or `kill -9`, before or after the rotation): the lines read but
/// never scraped are read again after the restart, from wherever they are now: the original,
/// a copy outside the glob, or a compressed rotated file.
fn stale_checkpoint_run(options: &str, glob: &str, stop_before_rotation: bool) {
    let d = tmp();
    let logs = d.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).expect("chmod");
    let log = logs.join("app.log");
    let rot = Rotator::new(d.path(), &log, options);
    let reopen = !options.contains("copytruncate");
    let mut w = open_append(&log);
    let write = |w: &mut File, from: usize, to: usize| {
        let text: String = (from..to).map(|i| format!("{}\n", line(i))).collect();
        w.write_all(text.as_bytes()).expect("write");
    };
    let r = start(opts(&logs, &[glob]), vec![]);
    write(&mut w, 0, 100);
    r.wait("100 lines", |s| s.lines.len() >= 100);
    // The last scrape: what Prometheus saw, and the checkpoint saved with it.
    let (scraped, resume): (Vec<String>, Vec<Checkpoint>) = {
        let s = lock(&r.seen);
        (s.texts(), s.cps.values().cloned().collect())
    };
    assert_eq!(scraped.len(), 100);
    // Read, never scraped.
    write(&mut w, 100, 200);
    r.wait("200 lines", |s| s.lines.len() >= 200);
    let first = if stop_before_rotation {
        let s = r.stop();
        rot.rotate(false);
        s
    } else {
        rot.rotate(false);
        r.wait("the rotation seen", |s| {
            s.count(|e| matches!(e, TailEvent::Truncated { .. } | TailEvent::Rotated { .. })) > 0
        });
        thread::sleep(Duration::from_millis(300));
        r.stop()
    };
    if reopen {
        w = open_append(&log);
    }
    let r = start(opts(&logs, &[glob]), resume);
    write(&mut w, 200, 250);
    r.wait("150 lines after the restart", |s| s.lines.len() >= 150);
    thread::sleep(Duration::from_millis(1000));
    let s = r.stop();
    let mut counted = scraped;
    counted.extend(s.texts());
    let mut events = event_lines(&first);
    events.push("--- restart".into());
    events.extend(event_lines(&s));
    check_exact(
        &format!("{options:?} glob {glob}, stopped before the rotation: {stop_before_rotation}"),
        &counted,
        250,
        &events,
    );
}

macro_rules! stale {
    ($($name:ident: $options:expr, $glob:expr, $before:expr;)*) => {
        $(#[test]
        fn $name() {
            stale_checkpoint_run($options, $glob, $before);
        })*
    };
}

stale! {
    stale_checkpoint_copytruncate_copy_not_matched_stop_before: COPYTRUNCATE, "app.log", true;
    stale_checkpoint_copytruncate_copy_not_matched_stop_after: COPYTRUNCATE, "app.log", false;
    stale_checkpoint_copytruncate_dateext_not_matched: COPY_DATEEXT, "app.log", true;
    stale_checkpoint_copytruncate_compress_not_matched: COPY_COMPRESS, "app.log", true;
    stale_checkpoint_copytruncate_compress_matched_stop_after: COPY_COMPRESS, "app.log*", false;
    stale_checkpoint_create_compress_not_matched_stop_before: CREATE_COMPRESS, "app.log", true;
    stale_checkpoint_create_compress_matched_stop_after: CREATE_COMPRESS, "app.log*", false;
    stale_checkpoint_create_delaycompress_not_matched: CREATE_DELAYCOMPRESS, "app.log", true;
}

/// `logpulse_lines_total` read as a person would (`curl`): it does not move the checkpoint.
fn peek_lines(port: u16) -> Option<f64> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8.0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        common::dechunk(body)
    } else {
        body.to_string()
    };
    common::sample(&body, "logpulse_lines_total{source=\"web\"}")
}

/// The reported sequences with the agent and the README's first config (`paths: [app.log]`):
/// 100 lines scraped, 100 more read but not scraped, a stop (`signal`) before or after the
/// rotation, a restart, 50 more lines: the new process counts 150.
fn agent_restart_run(options: &str, signal: i32, stop_before_rotation: bool) {
    const LINES: &str = "logpulse_lines_total{source=\"web\"}";
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let cfg = dir.path().join("logpulse.yml");
    fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {}\nsources:\n  - name: web\n    paths: ['{}/app.log']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            dir.path().join("state").display(),
            logs.display()
        ),
    )
    .expect("write config");
    let log = logs.join("app.log");
    let rot = Rotator::new(dir.path(), &log, options);
    let reopen = !options.contains("copytruncate");
    let mut w = open_append(&log);
    let write = |w: &mut File, from: usize, to: usize| {
        for i in from..to {
            w.write_all(common::access_line(i, "GET", "/", 200).as_bytes())
                .expect("write");
        }
    };
    write(&mut w, 0, 100);
    let a = common::Agent::start(&cfg, dir.path());
    a.wait_value(LINES, 100.0, 20);
    write(&mut w, 100, 200);
    common::wait_for(20, "200 lines read", || {
        (peek_lines(a.port) == Some(200.0)).then_some(())
    });
    if stop_before_rotation {
        a.signal(signal);
        rot.rotate(false);
    } else {
        rot.rotate(false);
        common::wait_for(20, "the rotation seen", || {
            let body = common::http_get(a.port, "/healthz")?;
            let log = a.log();
            (body.0 == 200 && (log.contains("truncated") || log.contains("rotated"))).then_some(())
        });
        a.signal(signal);
    }
    if reopen {
        w = open_append(&log);
    }
    let a = common::Agent::start(&cfg, dir.path());
    write(&mut w, 200, 250);
    a.wait_value(LINES, 150.0, 20);
    thread::sleep(Duration::from_millis(1500));
    let expo = a.scrape();
    assert_eq!(
        common::sample(&expo, LINES),
        Some(150.0),
        "after the restart\n{}",
        a.log()
    );
}

#[test]
fn agent_copytruncate_copy_not_matched_sigterm_then_rotation_rereads_unscraped_lines() {
    agent_restart_run(COPYTRUNCATE, 15, true);
}

#[test]
fn agent_create_compress_rotation_then_kill_9_rereads_unscraped_lines_from_the_gz() {
    agent_restart_run(CREATE_COMPRESS, 9, false);
}
