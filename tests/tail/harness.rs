//! Harness of the tailing tests: a real `Tailer` runs on a thread with a collecting sink; tests
//! wait for conditions with a bounded deadline (never a timing assertion) and then assert exact
//! content. Each test binary uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use logpulse::source::{
    Checkpoint, FileInfo, StartAt, Stopper, TailEvent, TailOptions, TailSink, Tailer,
};

pub const DEADLINE: Duration = Duration::from_secs(10);
/// Whole-test budget for waiting (set by `tmp()`), so that a broken tailer fails each test
/// within ~15 s even across restarts.
pub const TEST_BUDGET: Duration = Duration::from_secs(12);

thread_local! {
    static TEST_DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

pub fn deadline() -> Instant {
    let own = Instant::now() + DEADLINE;
    TEST_DEADLINE.with(|d| d.get()).map_or(own, |t| t.min(own))
}

#[derive(Default)]
pub struct Seen {
    /// (inode, line without its newline)
    pub lines: Vec<(u64, String)>,
    pub events: Vec<TailEvent>,
    /// What a pipeline would persist: per file, the end of the last batch.
    pub cps: HashMap<(u64, u64), Checkpoint>,
    /// Per inode, end of the last batch (batches must never overlap unless truncated).
    pub ends: HashMap<u64, u64>,
    pub overlaps: Vec<String>,
}

impl Seen {
    pub fn texts(&self) -> Vec<String> {
        self.lines.iter().map(|(_, l)| l.clone()).collect()
    }
    pub fn count(&self, f: impl Fn(&TailEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

pub struct Sink(pub Arc<Mutex<Seen>>, pub Arc<AtomicBool>);

pub fn lock(s: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl TailSink for Sink {
    fn batch(&mut self, file: &FileInfo, start: u64, data: &[u8]) {
        // A paused sink stalls the tailer thread (as a slow pipeline would), bounded.
        let until = Instant::now() + Duration::from_secs(5);
        while self.1.load(Ordering::SeqCst) && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
        let mut s = lock(&self.0);
        let ino = file.fingerprint.ino;
        if let Some(&end) = s.ends.get(&ino) {
            if start < end {
                let msg = format!(
                    "{}: batch at {start} < previous end {end}",
                    file.path.display()
                );
                s.overlaps.push(msg);
            }
        }
        s.ends.insert(ino, start + data.len() as u64);
        for line in data.split_inclusive(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            s.lines
                .push((ino, String::from_utf8_lossy(line).into_owned()));
        }
        s.cps.insert(
            (file.fingerprint.dev, ino),
            Checkpoint {
                path: file.path.clone(),
                fingerprint: file.fingerprint,
                offset: start + data.len() as u64,
            },
        );
    }
    fn event(&mut self, event: TailEvent) {
        let mut s = lock(&self.0);
        match &event {
            TailEvent::Closed { file } => {
                s.cps.remove(&(file.fingerprint.dev, file.fingerprint.ino));
            }
            // A new file may reuse the inode of a closed one.
            TailEvent::Truncated { file } => {
                s.ends.remove(&file.fingerprint.ino);
            }
            // The pipeline records a checkpoint when a file is opened too (a file opened at its
            // end delivers no batch until it grows).
            TailEvent::Opened { file, offset } => {
                s.ends.remove(&file.fingerprint.ino);
                let cp = Checkpoint {
                    path: file.path.clone(),
                    fingerprint: file.fingerprint,
                    offset: *offset,
                };
                s.cps
                    .insert((file.fingerprint.dev, file.fingerprint.ino), cp);
            }
            _ => {}
        }
        s.events.push(event);
    }
}

pub struct Running {
    pub stopper: Stopper,
    pub paused: Arc<AtomicBool>,
    pub done: mpsc::Receiver<()>,
    pub seen: Arc<Mutex<Seen>>,
}

pub fn start(opts: TailOptions, resume: Vec<Checkpoint>) -> Running {
    start_as(opts, resume, false)
}

/// `unprivileged`: when running as root, drop the filesystem capabilities of the tailer thread
/// (setfsuid is per thread) so that permission bits apply to it.
pub fn start_as(opts: TailOptions, resume: Vec<Checkpoint>, unprivileged: bool) -> Running {
    let mut tailer = Tailer::new(opts, resume).expect("valid options");
    let stopper = tailer.stopper();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let paused = Arc::new(AtomicBool::new(false));
    let mut sink = Sink(seen.clone(), paused.clone());
    let (tx, done) = mpsc::channel();
    thread::spawn(move || {
        if unprivileged {
            // SAFETY: setfsuid only changes this thread's filesystem uid.
            unsafe {
                if libc::geteuid() == 0 {
                    libc::setfsuid(65534);
                }
            }
        }
        tailer.run(&mut sink);
        let _ = tx.send(());
    });
    let r = Running {
        stopper,
        paused,
        done,
        seen,
    };
    // Ready once the first poll has run (first scan done).
    r.wait("first stats", |s| {
        s.count(|e| matches!(e, TailEvent::Stats { .. })) > 0
    });
    r
}

impl Running {
    pub fn wait(&self, what: &str, cond: impl Fn(&Seen) -> bool) {
        let deadline = deadline();
        loop {
            {
                let s = lock(&self.seen);
                if cond(&s) {
                    return;
                }
                if Instant::now() > deadline {
                    let texts = s.texts();
                    panic!(
                        "timed out waiting for {what}; {} lines, the last ones: {:?}; events: {:?}",
                        texts.len(),
                        &texts[texts.len().saturating_sub(10)..],
                        s.events
                            .iter()
                            .filter(|e| !matches!(e, TailEvent::Stats { .. }))
                            .collect::<Vec<_>>()
                    );
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn wait_lines(&self, want: &[&str]) {
        self.wait(&format!("lines {want:?}"), |s| s.lines.len() >= want.len());
    }

    pub fn stop(self) -> Seen {
        self.stopper.stop();
        self.done
            .recv_timeout(Duration::from_secs(3))
            .expect("tailer did not stop within 3 s of stop()");
        let s = std::mem::take(&mut *lock(&self.seen));
        assert!(
            s.overlaps.is_empty(),
            "overlapping batches: {:?}",
            s.overlaps
        );
        s
    }
}

pub fn opts(dir: &Path, patterns: &[&str]) -> TailOptions {
    TailOptions {
        source: "test".into(),
        paths: patterns
            .iter()
            .map(|p| dir.join(p).display().to_string())
            .collect(),
        exclude: vec![],
        start_at: StartAt::Beginning,
        // Long: inotify must do the work in these tests; the poll is only a backstop.
        poll_interval: Duration::from_secs(30),
        force_poll: false,
        max_line_bytes: 1 << 20,
        partial_flush: None,
        rotate_wait: Duration::from_millis(200),
    }
}

pub fn append(path: &Path, data: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(data.as_bytes()).expect("append");
}

pub fn tmp() -> tempfile::TempDir {
    TEST_DEADLINE.with(|d| d.set(Some(Instant::now() + TEST_BUDGET)));
    let d = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    d
}

pub fn ino(path: &Path) -> u64 {
    fs::metadata(path).expect("stat").ino()
}

pub fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A line long enough for the copy detection (64 bytes of head).
pub fn long_line(tag: &str) -> String {
    format!("{tag} 127.0.0.1 - - [25/Nov/2026:11:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 512")
}

/// Small deterministic PRNG for the chaos test (no extra dependency).
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}
