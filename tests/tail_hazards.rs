//! One test per tailing hazard, against real files in temp dirs: real renames, truncations,
//! deletions. A real `Tailer` runs on a thread with a collecting sink; tests wait for conditions
//! with a bounded deadline (never a timing assertion) and then assert exact content.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirEntryExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use logpulse::source::{
    read_file, Checkpoint, FileInfo, Fingerprint, StartAt, Stopper, TailEvent, TailOptions,
    TailSink, Tailer,
};

const DEADLINE: Duration = Duration::from_secs(10);
/// Whole-test budget for waiting (set by `tmp()`), so that a broken tailer fails each test
/// within ~15 s even across restarts.
const TEST_BUDGET: Duration = Duration::from_secs(12);

thread_local! {
    static TEST_DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

fn deadline() -> Instant {
    let own = Instant::now() + DEADLINE;
    TEST_DEADLINE.with(|d| d.get()).map_or(own, |t| t.min(own))
}

#[derive(Default)]
struct Seen {
    /// (inode, line without its newline)
    lines: Vec<(u64, String)>,
    events: Vec<TailEvent>,
    /// What a pipeline would persist: per file, the end of the last batch.
    cps: HashMap<(u64, u64), Checkpoint>,
    /// Per inode, end of the last batch (batches must never overlap unless truncated).
    ends: HashMap<u64, u64>,
    overlaps: Vec<String>,
}

impl Seen {
    fn texts(&self) -> Vec<String> {
        self.lines.iter().map(|(_, l)| l.clone()).collect()
    }
    fn count(&self, f: impl Fn(&TailEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

struct Sink(Arc<Mutex<Seen>>, Arc<AtomicBool>);

fn lock(s: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
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

struct Running {
    stopper: Stopper,
    paused: Arc<AtomicBool>,
    done: mpsc::Receiver<()>,
    seen: Arc<Mutex<Seen>>,
}

fn start(opts: TailOptions, resume: Vec<Checkpoint>) -> Running {
    start_as(opts, resume, false)
}

/// `unprivileged`: when running as root, drop the filesystem capabilities of the tailer thread
/// (setfsuid is per thread) so that permission bits apply to it.
fn start_as(opts: TailOptions, resume: Vec<Checkpoint>, unprivileged: bool) -> Running {
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
    fn wait(&self, what: &str, cond: impl Fn(&Seen) -> bool) {
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

    fn wait_lines(&self, want: &[&str]) {
        self.wait(&format!("lines {want:?}"), |s| s.lines.len() >= want.len());
    }

    fn stop(self) -> Seen {
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

fn opts(dir: &Path, patterns: &[&str]) -> TailOptions {
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

fn append(path: &Path, data: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(data.as_bytes()).expect("append");
}

fn tmp() -> tempfile::TempDir {
    TEST_DEADLINE.with(|d| d.set(Some(Instant::now() + TEST_BUDGET)));
    let d = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    d
}

fn ino(path: &Path) -> u64 {
    fs::metadata(path).expect("stat").ino()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn appended_lines() {
    let d = tmp();
    let log = d.path().join("a.log");
    append(&log, "one\n");
    let r = start(opts(d.path(), &["a.log"]), vec![]);
    r.wait_lines(&["one"]);
    append(&log, "two\nthree\n");
    r.wait_lines(&["one", "two", "three"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["one", "two", "three"]));
}

#[test]
fn partial_line_written_in_two_writes() {
    let d = tmp();
    let log = d.path().join("a.log");
    append(&log, "first\nhal");
    let r = start(opts(d.path(), &["a.log"]), vec![]);
    r.wait_lines(&["first"]);
    // Give the tailer every chance to see the half line before the rest arrives.
    thread::sleep(Duration::from_millis(300));
    append(&log, "f line\nlast\n");
    r.wait_lines(&["first", "half line", "last"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["first", "half line", "last"]));
}

#[test]
fn partial_line_flushed_after_quiet() {
    let d = tmp();
    let log = d.path().join("a.log");
    let mut o = opts(d.path(), &["a.log"]);
    o.partial_flush = Some(Duration::from_millis(200));
    let r = start(o, vec![]);
    append(&log, "no newline yet");
    r.wait_lines(&["no newline yet"]);
    // The late newline ends the flushed line; it must not make an empty line.
    append(&log, "\nnext\n");
    r.wait_lines(&["no newline yet", "next"]);
    thread::sleep(Duration::from_millis(300));
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["no newline yet", "next"]));
}

#[test]
fn rename_rotation() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "a1\na2\n");
    let mut o = opts(d.path(), &["app.log"]);
    // Old and new file are both followed, under the same name, for a while.
    o.rotate_wait = Duration::from_secs(1);
    let r = start(o, vec![]);
    r.wait_lines(&["a1", "a2"]);
    let old_ino = ino(&log);
    fs::rename(&log, d.path().join("app.log.1")).expect("rename");
    append(&log, "b1\nb2\n");
    r.wait_lines(&["a1", "a2", "b1", "b2"]);
    r.wait("old file closed", |s| {
        s.count(|e| matches!(e, TailEvent::Closed { file } if file.fingerprint.ino == old_ino)) == 1
    });
    // The new file keeps flowing through its events after the old one (same name) is let go.
    append(&log, "b3\n");
    r.wait_lines(&["a1", "a2", "b1", "b2", "b3"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["a1", "a2", "b1", "b2", "b3"]));
    assert!(s.count(|e| matches!(e, TailEvent::Rotated { .. })) >= 1);
    // The path missing for a moment during the rotation is not an error.
    assert_eq!(s.count(|e| matches!(e, TailEvent::Error { .. })), 0);
}

#[test]
fn rotation_with_writes_to_old_file_after_rename() {
    let d = tmp();
    let log = d.path().join("app.log");
    let mut old = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("open");
    old.write_all(b"old1\n").expect("write");
    // Glob includes the rotated sibling: it must not be read twice.
    let r = start(opts(d.path(), &["app.log*"]), vec![]);
    r.wait_lines(&["old1"]);
    fs::rename(&log, d.path().join("app.log.1")).expect("rename");
    old.write_all(b"old2\n").expect("write after rename");
    append(&log, "new1\n");
    thread::sleep(Duration::from_millis(50));
    old.write_all(b"old3\n")
        .expect("write after new file exists");
    r.wait("5 lines", |s| s.lines.len() >= 4);
    append(&log, "new2\n");
    r.wait("5 lines", |s| s.lines.len() >= 5);
    // Let the old file go quiet and be let go; no line may come twice.
    thread::sleep(Duration::from_millis(500));
    let s = r.stop();
    let mut got = s.texts();
    got.sort();
    assert_eq!(got, strs(&["new1", "new2", "old1", "old2", "old3"]));
    let old_lines: Vec<_> = s
        .lines
        .iter()
        .filter(|(i, _)| *i == ino(&d.path().join("app.log.1")))
        .map(|(_, l)| l.as_str())
        .collect();
    assert_eq!(old_lines, ["old1", "old2", "old3"]);
}

#[test]
fn copytruncate() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "before1\nbefore2\n");
    let r = start(opts(d.path(), &["app.log"]), vec![]);
    r.wait_lines(&["before1", "before2"]);
    fs::copy(&log, d.path().join("app.log.1")).expect("copy");
    OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    append(&log, "after1\n");
    r.wait_lines(&["before1", "before2", "after1"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["before1", "before2", "after1"]));
    assert_eq!(s.count(|e| matches!(e, TailEvent::Truncated { .. })), 1);
}

#[test]
fn truncation_to_zero() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "x1\nx2\n");
    let r = start(opts(d.path(), &["app.log"]), vec![]);
    r.wait_lines(&["x1", "x2"]);
    File::create(&log).expect("truncate");
    r.wait("Truncated", |s| {
        s.count(|e| matches!(e, TailEvent::Truncated { .. })) == 1
    });
    append(&log, "y1\n");
    r.wait_lines(&["x1", "x2", "y1"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["x1", "x2", "y1"]));
}

#[test]
fn truncated_and_rewritten_past_offset_is_detected_by_head() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "old-a\nold-b\n");
    let mut o = opts(d.path(), &["app.log"]);
    // Poll only, slowly: the truncation and the rewrite land between two looks.
    o.force_poll = true;
    o.poll_interval = Duration::from_millis(700);
    let r = start(o, vec![]);
    r.wait_lines(&["old-a", "old-b"]);
    let mut f = File::create(&log).expect("truncate");
    f.write_all(b"NEW line number one\nNEW line number two\n")
        .expect("rewrite");
    drop(f);
    r.wait_lines(&[
        "old-a",
        "old-b",
        "NEW line number one",
        "NEW line number two",
    ]);
    let s = r.stop();
    assert_eq!(
        s.texts(),
        strs(&[
            "old-a",
            "old-b",
            "NEW line number one",
            "NEW line number two"
        ])
    );
    assert_eq!(s.count(|e| matches!(e, TailEvent::Truncated { .. })), 1);
}

#[test]
fn delete_and_recreate() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "gone1\n");
    let r = start(opts(d.path(), &["app.log"]), vec![]);
    r.wait_lines(&["gone1"]);
    let old_ino = ino(&log);
    fs::remove_file(&log).expect("delete");
    r.wait("deleted file closed", |s| {
        s.count(|e| matches!(e, TailEvent::Closed { file } if file.fingerprint.ino == old_ino)) == 1
    });
    append(&log, "new1\n");
    r.wait_lines(&["gone1", "new1"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["gone1", "new1"]));
}

#[test]
fn file_appears_later() {
    let d = tmp();
    let mut o = opts(d.path(), &["later.log"]);
    o.start_at = StartAt::End; // a file appearing later is read from its start regardless
    let r = start(o, vec![]);
    let log = d.path().join("later.log");
    append(&log, "hello\n");
    r.wait_lines(&["hello"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["hello"]));
    // The missing literal path was reported once, not on every look, and not as an error.
    assert_eq!(s.count(|e| matches!(e, TailEvent::Missing { .. })), 1);
    assert_eq!(s.count(|e| matches!(e, TailEvent::Error { .. })), 0);
}

#[test]
fn directory_appears_later() {
    let d = tmp();
    let r = start(opts(d.path(), &["sub/deeper/*.log"]), vec![]);
    fs::create_dir(d.path().join("sub")).expect("mkdir");
    thread::sleep(Duration::from_millis(100));
    fs::create_dir(d.path().join("sub/deeper")).expect("mkdir");
    thread::sleep(Duration::from_millis(100));
    append(&d.path().join("sub/deeper/x.log"), "deep\n");
    r.wait_lines(&["deep"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["deep"]));
}

#[test]
fn glob_picks_up_new_file() {
    let d = tmp();
    append(&d.path().join("a.log"), "a\n");
    let r = start(opts(d.path(), &["*.log"]), vec![]);
    r.wait_lines(&["a"]);
    append(&d.path().join("b.log"), "b\n");
    append(&d.path().join("c.txt"), "not matched\n");
    r.wait_lines(&["a", "b"]);
    thread::sleep(Duration::from_millis(200));
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["a", "b"]));
}

#[test]
fn double_star_glob() {
    let d = tmp();
    fs::create_dir_all(d.path().join("x")).expect("mkdir");
    append(&d.path().join("x/top.log"), "top\n");
    let r = start(opts(d.path(), &["**/*.log"]), vec![]);
    r.wait_lines(&["top"]);
    // Directories created after start are walked and watched.
    fs::create_dir_all(d.path().join("x/y/z")).expect("mkdir");
    thread::sleep(Duration::from_millis(100));
    append(&d.path().join("x/y/z/deep.log"), "deep\n");
    r.wait_lines(&["top", "deep"]);
    append(&d.path().join("x/y/z/deep.log"), "deeper\n");
    r.wait_lines(&["top", "deep", "deeper"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["top", "deep", "deeper"]));
}

#[test]
fn resume_from_checkpoint_no_loss_no_duplicates() {
    let d = tmp();
    let log = d.path().join("app.log");
    let other = d.path().join("other.log");
    append(&log, "1\n2\n");
    append(&other, "o1\n");
    let r = start(opts(d.path(), &["*.log"]), vec![]);
    r.wait_lines(&["1", "2", "o1"]);
    append(&log, "3\npart");
    r.wait_lines(&["1", "2", "o1", "3"]);
    let first = r.stop();
    let resume: Vec<Checkpoint> = first.cps.values().cloned().collect();
    assert_eq!(resume.len(), 2);
    // While the agent is down: more lines, the partial line completed, and a new file.
    append(&log, "ial\n4\n");
    append(&d.path().join("new.log"), "n1\n");
    let mut o = opts(d.path(), &["*.log"]);
    o.start_at = StartAt::End; // must not matter: there are checkpoints
    let r = start(o, resume);
    r.wait("all lines", |s| s.lines.len() >= 3);
    thread::sleep(Duration::from_millis(200));
    let second = r.stop();
    let mut got = first.texts();
    got.extend(second.texts());
    got.sort();
    assert_eq!(got, strs(&["1", "2", "3", "4", "n1", "o1", "partial"]));
}

#[test]
fn inode_reuse_with_different_head_is_not_resumed() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "fresh content line one\nline two\n");
    let md = fs::metadata(&log).expect("stat");
    // A checkpoint for the same (dev, inode) but another file's head: what a reused inode
    // looks like after the old file was deleted and a new one created.
    let stale = Checkpoint {
        path: log.clone(),
        fingerprint: Fingerprint {
            dev: md.dev(),
            ino: md.ino(),
            head_len: 20,
            head_hash: 0x1234_5678_9abc_def0,
        },
        offset: 10,
    };
    let r = start(opts(d.path(), &["app.log"]), vec![stale]);
    r.wait_lines(&["fresh content line one", "line two"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["fresh content line one", "line two"]));
}

#[test]
fn start_at_end_and_beginning() {
    for (start_at, want) in [
        (StartAt::End, vec!["new"]),
        (StartAt::Beginning, vec!["old1", "old2", "new"]),
    ] {
        let d = tmp();
        let log = d.path().join("app.log");
        append(&log, "old1\nold2\n");
        let mut o = opts(d.path(), &["app.log"]);
        o.start_at = start_at;
        let r = start(o, vec![]);
        r.wait("opened", |s| {
            s.count(|e| matches!(e, TailEvent::Opened { .. })) == 1
        });
        append(&log, "new\n");
        r.wait("new", |s| s.texts().iter().any(|l| l == "new"));
        let s = r.stop();
        assert_eq!(s.texts(), strs(&want), "{start_at:?}");
    }
}

#[test]
fn line_too_long_is_cut() {
    let d = tmp();
    let log = d.path().join("app.log");
    let mut o = opts(d.path(), &["app.log"]);
    o.max_line_bytes = 10;
    let long = "y".repeat(100_000);
    append(&log, &format!("short\n{long}\nafter\n"));
    let r = start(o, vec![]);
    r.wait_lines(&["short", "yyyyyyyyyy", "after"]);
    // A long line arriving in pieces.
    append(&log, "zzzzzzzz");
    thread::sleep(Duration::from_millis(100));
    append(&log, "zzzzzzzz");
    thread::sleep(Duration::from_millis(100));
    append(&log, "zzzz\nend\n");
    r.wait_lines(&["short", "yyyyyyyyyy", "after", "zzzzzzzzzz", "end"]);
    let s = r.stop();
    assert_eq!(
        s.texts(),
        strs(&["short", "yyyyyyyyyy", "after", "zzzzzzzzzz", "end"])
    );
    assert_eq!(s.count(|e| matches!(e, TailEvent::LineTooLong { .. })), 2);
}

#[test]
fn unreadable_file_reports_error_and_others_keep_flowing() {
    let d = tmp();
    let secret = d.path().join("secret.log");
    append(&secret, "hidden\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).expect("chmod");
    let ok = d.path().join("ok.log");
    append(&ok, "visible\n");
    let r = start_as(opts(d.path(), &["*.log"]), vec![], true);
    r.wait_lines(&["visible"]);
    append(&ok, "more\n");
    append(&d.path().join("new.log"), "new\n"); // a directory event: rescan, retry secret
    r.wait_lines(&["visible", "more", "new"]);
    let s = r.stop();
    let mut got = s.texts();
    got.sort();
    assert_eq!(got, strs(&["more", "new", "visible"]));
    let errors: Vec<_> = s
        .events
        .iter()
        .filter_map(|e| match e {
            TailEvent::Error { path, message } => Some((path.clone(), message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "reported once: {errors:?}");
    assert_eq!(errors[0].0, secret);
    assert!(errors[0].1.contains("secret.log"), "{}", errors[0].1);
}

#[test]
fn force_poll_without_inotify() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "p1\n");
    let mut o = opts(d.path(), &["app.log"]);
    o.force_poll = true;
    o.poll_interval = Duration::from_millis(100);
    let r = start(o, vec![]);
    r.wait_lines(&["p1"]);
    append(&log, "p2\n");
    r.wait_lines(&["p1", "p2"]);
    fs::rename(&log, d.path().join("app.log.1")).expect("rename");
    append(&log, "p3\n");
    r.wait_lines(&["p1", "p2", "p3"]);
    r.wait("stats", |s| {
        s.events.iter().any(|e| {
            matches!(
                e,
                TailEvent::Stats {
                    files: 1,
                    lag_bytes: 0,
                    ..
                }
            )
        })
    });
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["p1", "p2", "p3"]));
}

#[test]
fn stop_is_prompt_while_idle() {
    let d = tmp();
    let r = start(opts(d.path(), &["*.log"]), vec![]); // 30 s poll interval
    let t = Instant::now();
    let _ = r.stop(); // panics if not stopped within 3 s
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn stress_rotation_exactly_once_in_order() {
    const N: u64 = 50_000;
    const M: u64 = 5;
    let d = tmp();
    let log = d.path().join("app.log");
    File::create(&log).expect("create");
    let r = start(opts(d.path(), &["app.log*"]), vec![]);
    let dir = d.path().to_path_buf();
    let writer = thread::spawn(move || {
        let log = dir.join("app.log");
        let mut w = BufWriter::with_capacity(
            4096,
            OpenOptions::new().append(true).open(&log).expect("open"),
        );
        let per = N / (M + 1);
        let mut i = 0;
        for rot in 1..=M + 1 {
            let end = if rot > M { N } else { rot * per };
            while i < end {
                writeln!(w, "{i}").expect("write");
                i += 1;
            }
            if rot <= M {
                // logrotate `create`: rename, new file; the writer keeps using its old fd for
                // a few more lines before reopening.
                fs::rename(&log, dir.join(format!("app.log.{rot}"))).expect("rename");
                File::create(&log).expect("create");
                for _ in 0..3 {
                    writeln!(w, "{i}").expect("write");
                    i += 1;
                }
                w.flush().expect("flush");
                w = BufWriter::with_capacity(
                    4096,
                    OpenOptions::new().append(true).open(&log).expect("reopen"),
                );
            }
        }
        w.flush().expect("flush");
    });
    writer.join().expect("writer");
    r.wait("all numbers", |s| s.lines.len() as u64 >= N);
    thread::sleep(Duration::from_millis(500)); // time for duplicates to show up, if any
    let s = r.stop();
    let mut per_file: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut all = Vec::with_capacity(N as usize);
    for (ino, l) in &s.lines {
        let n: u64 = l.parse().unwrap_or_else(|_| panic!("not a number: {l:?}"));
        per_file.entry(*ino).or_default().push(n);
        all.push(n);
    }
    for (ino, nums) in &per_file {
        assert!(
            nums.windows(2).all(|w| w[0] < w[1]),
            "out of order in inode {ino}"
        );
    }
    assert_eq!(per_file.len() as u64, M + 1);
    all.sort_unstable();
    assert_eq!(all.len() as u64, N, "duplicates or losses");
    assert!(all.iter().copied().eq(0..N), "each number exactly once");
}

#[test]
fn replay_reads_whole_file() {
    let d = tmp();
    let log = d.path().join("app.log");
    let long = "q".repeat(300_000);
    append(&log, &format!("a\n{long}\nb\nunterminated"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut sink = Sink(seen.clone(), Arc::default());
    let n = read_file(&log, 1000, &mut sink).expect("replay");
    assert_eq!(n, fs::metadata(&log).expect("stat").len());
    let s = lock(&seen);
    assert_eq!(
        s.texts(),
        vec![
            "a".to_string(),
            "q".repeat(1000),
            "b".into(),
            "unterminated".into()
        ]
    );
    let err = read_file(
        &d.path().join("missing.log"),
        1000,
        &mut Sink(seen.clone(), Arc::default()),
    )
    .expect_err("missing file");
    assert!(err.to_string().contains("missing.log"));
}

/// A line long enough for the copy detection (64 bytes of head).
fn long_line(tag: &str) -> String {
    format!("{tag} 127.0.0.1 - - [25/Nov/2026:11:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 512")
}

#[test]
fn copytruncate_with_glob_matching_the_copy() {
    let d = tmp();
    let log = d.path().join("app.log");
    let (a1, a2, a3, b1) = (
        long_line("a1"),
        long_line("a2"),
        long_line("a3"),
        long_line("b1"),
    );
    append(&log, &format!("{a1}\n{a2}\n"));
    let mut o = opts(d.path(), &["app.log*"]);
    // Polling, slowly: a3 lands after our last read and before the truncation, so it only
    // survives in the copy.
    o.force_poll = true;
    o.poll_interval = Duration::from_millis(500);
    let r = start(o, vec![]);
    r.wait("a1 a2", |s| s.lines.len() >= 2);
    append(&log, &format!("{a3}\n"));
    fs::copy(&log, d.path().join("app.log.1")).expect("copy");
    OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    append(&log, &format!("{b1}\n"));
    r.wait("4 lines", |s| s.lines.len() >= 4);
    thread::sleep(Duration::from_millis(1500)); // any duplicate from the copy would show by now
    let s = r.stop();
    let mut got = s.texts();
    got.sort();
    assert_eq!(got, vec![a1, a2, a3, b1]);
}

#[test]
fn copytruncate_while_agent_down() {
    let d = tmp();
    let log = d.path().join("app.log");
    let (a1, a2, a3, b1) = (
        long_line("a1"),
        long_line("a2"),
        long_line("a3"),
        long_line("b1"),
    );
    append(&log, &format!("{a1}\n{a2}\n"));
    let r = start(opts(d.path(), &["app.log*"]), vec![]);
    r.wait("a1 a2", |s| s.lines.len() >= 2);
    let first = r.stop();
    let resume: Vec<Checkpoint> = first.cps.values().cloned().collect();
    // Down: one more line, then copytruncate, then a new line.
    append(&log, &format!("{a3}\n"));
    fs::copy(&log, d.path().join("app.log.1")).expect("copy");
    OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    append(&log, &format!("{b1}\n"));
    let r = start(opts(d.path(), &["app.log*"]), resume);
    r.wait("a3 b1", |s| s.lines.len() >= 2);
    thread::sleep(Duration::from_millis(300));
    let second = r.stop();
    let mut got = second.texts();
    got.sort();
    assert_eq!(got, vec![a3, b1]);
}

#[test]
fn restart_after_start_at_end_does_not_reread_quiet_files() {
    let d = tmp();
    append(&d.path().join("quiet.log"), "old quiet\n");
    append(&d.path().join("busy.log"), "old busy\n");
    let mut o = opts(d.path(), &["*.log"]);
    o.start_at = StartAt::End;
    let r = start(o.clone(), vec![]);
    append(&d.path().join("busy.log"), "new busy\n");
    r.wait_lines(&["new busy"]);
    let first = r.stop();
    assert_eq!(first.texts(), strs(&["new busy"]));
    let resume: Vec<Checkpoint> = first.cps.values().cloned().collect();
    assert_eq!(resume.len(), 2, "checkpoints from Opened events too");
    append(&d.path().join("busy.log"), "while down\n");
    let r = start(o, resume);
    r.wait_lines(&["while down"]);
    thread::sleep(Duration::from_millis(300));
    let second = r.stop();
    assert_eq!(second.texts(), strs(&["while down"]));
}

#[test]
fn rotated_out_of_glob_while_agent_down_is_drained() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "1\n");
    let r = start(opts(d.path(), &["app.log"]), vec![]);
    r.wait_lines(&["1"]);
    let first = r.stop();
    let resume: Vec<Checkpoint> = first.cps.values().cloned().collect();
    // Down: a line to the old file, rotation by rename (out of the glob), a line to the new one.
    append(&log, "2\n");
    fs::rename(&log, d.path().join("app.log.1")).expect("rename");
    append(&log, "3\n");
    let r = start(opts(d.path(), &["app.log"]), resume);
    r.wait_lines(&["2", "3"]);
    r.wait("rotated file closed", |s| {
        s.count(|e| matches!(e, TailEvent::Closed { .. })) == 1
    });
    let second = r.stop();
    let mut got = second.texts();
    got.sort();
    assert_eq!(got, strs(&["2", "3"]));
}

#[test]
fn start_at_end_keeps_a_line_being_written_whole() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "old\nhal");
    let mut o = opts(d.path(), &["app.log"]);
    o.start_at = StartAt::End;
    let r = start(o, vec![]);
    append(&log, "f line\nnext\n");
    r.wait_lines(&["half line", "next"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["half line", "next"]));
}

#[test]
fn resume_inside_a_cut_line_skips_its_rest() {
    let d = tmp();
    let log = d.path().join("app.log");
    let mut o = opts(d.path(), &["app.log"]);
    o.max_line_bytes = 10;
    append(&log, &format!("short\n{}", "x".repeat(50)));
    let r = start(o.clone(), vec![]);
    r.wait_lines(&["short", "xxxxxxxxxx"]);
    let first = r.stop();
    assert_eq!(first.texts(), strs(&["short", "xxxxxxxxxx"]));
    let resume: Vec<Checkpoint> = first.cps.values().cloned().collect();
    append(&log, "still the same long line\nafter\n");
    let r = start(o, resume);
    r.wait_lines(&["after"]);
    thread::sleep(Duration::from_millis(200));
    let second = r.stop();
    assert_eq!(second.texts(), strs(&["after"]));
}

#[test]
fn stats_report_followed_files_and_lag() {
    let d = tmp();
    append(&d.path().join("a.log"), "1\n");
    append(&d.path().join("b.log"), "2\n");
    let mut o = opts(d.path(), &["*.log"]);
    o.poll_interval = Duration::from_millis(100);
    let r = start(o, vec![]);
    r.wait_lines(&["1", "2"]);
    r.wait("stats", |s| {
        s.events
            .iter()
            .any(|e| matches!(e, TailEvent::Stats { files: 2, lag_bytes: 0, oldest_unread_age } if *oldest_unread_age == 0.0))
    });
    let _ = r.stop();
}

#[test]
fn directory_deleted_and_recreated() {
    let d = tmp();
    let sub = d.path().join("sub");
    fs::create_dir(&sub).expect("mkdir");
    append(&sub.join("a.log"), "first\n");
    let r = start(opts(d.path(), &["sub/*.log"]), vec![]);
    r.wait_lines(&["first"]);
    fs::remove_dir_all(&sub).expect("rm -r");
    fs::create_dir(&sub).expect("mkdir again");
    thread::sleep(Duration::from_millis(200));
    append(&sub.join("b.log"), "second\n");
    r.wait_lines(&["first", "second"]);
    append(&sub.join("b.log"), "third\n");
    r.wait_lines(&["first", "second", "third"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["first", "second", "third"]));
}

#[test]
fn symlinked_file_in_another_directory() {
    // Like /var/log/containers/*.log → /var/log/pods/.../0.log: writes raise events only in the
    // target's directory, which must be watched too (the poll here is 30 s).
    let d = tmp();
    let links = d.path().join("links");
    let real = d.path().join("real");
    fs::create_dir(&links).expect("mkdir");
    fs::create_dir(&real).expect("mkdir");
    append(&real.join("0.log"), "first\n");
    std::os::unix::fs::symlink(real.join("0.log"), links.join("app.log")).expect("symlink");
    let r = start(opts(d.path(), &["links/*.log"]), vec![]);
    r.wait_lines(&["first"]);
    append(&real.join("0.log"), "second\n");
    r.wait_lines(&["first", "second"]);
    // Rotation in the target directory: the link now leads to a new file.
    fs::rename(real.join("0.log"), real.join("0.log.1")).expect("rename");
    thread::sleep(Duration::from_millis(200)); // the link dangles for a while
    append(&real.join("0.log"), "third\n");
    r.wait_lines(&["first", "second", "third"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["first", "second", "third"]));
}

#[test]
fn stress_restarts_during_rotation_exactly_once() {
    const N: u64 = 30_000;
    const M: u64 = 5;
    let d = tmp();
    let log = d.path().join("app.log");
    File::create(&log).expect("create");
    let dir = d.path().to_path_buf();
    let writer = thread::spawn(move || {
        let log = dir.join("app.log");
        let open = || {
            BufWriter::with_capacity(
                4096,
                OpenOptions::new().append(true).open(&log).expect("open"),
            )
        };
        let mut w = open();
        let per = N / (M + 1);
        for i in 0..N {
            writeln!(w, "{i}").expect("write");
            if i % 100 == 99 {
                w.flush().expect("flush");
                thread::sleep(Duration::from_millis(2));
            }
            if (i + 1) % per == 0 && (i + 1) / per <= M {
                w.flush().expect("flush");
                fs::rename(&log, dir.join(format!("app.log.{}", (i + 1) / per))).expect("rename");
                File::create(&log).expect("create");
                w = open();
            }
        }
        w.flush().expect("flush");
    });
    let mut all = Vec::new();
    let mut resume = Vec::new();
    // Stop and restart the tailer a few times while the writer writes and rotates.
    for _ in 0..4 {
        let r = start(opts(d.path(), &["app.log*"]), resume);
        thread::sleep(Duration::from_millis(60));
        let s = r.stop();
        resume = s.cps.values().cloned().collect();
        println!("run delivered {} lines", s.lines.len());
        all.extend(s.texts());
    }
    writer.join().expect("writer");
    let r = start(opts(d.path(), &["app.log*"]), resume);
    let before = all.len() as u64;
    r.wait("all numbers", |s| before + s.lines.len() as u64 >= N);
    thread::sleep(Duration::from_millis(300));
    let s = r.stop();
    all.extend(s.texts());
    let mut nums: Vec<u64> = all
        .iter()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not a number: {l:?}")))
        .collect();
    nums.sort_unstable();
    assert_eq!(nums.len() as u64, N, "duplicates or losses");
    assert!(nums.iter().copied().eq(0..N), "each number exactly once");
}

#[test]
fn rotated_sibling_not_reread_after_restart() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "a1\na2\n");
    let r = start(opts(d.path(), &["app.log*"]), vec![]);
    r.wait_lines(&["a1", "a2"]);
    fs::rename(&log, d.path().join("app.log.1")).expect("rename");
    append(&log, "b1\n");
    r.wait_lines(&["a1", "a2", "b1"]);
    // Long enough for the rotated file to be let go (rotate_wait is 200 ms).
    thread::sleep(Duration::from_millis(800));
    let first = r.stop();
    let resume: Vec<Checkpoint> = first.cps.values().cloned().collect();
    append(&log, "b2\n");
    let r = start(opts(d.path(), &["app.log*"]), resume);
    r.wait_lines(&["b2"]);
    thread::sleep(Duration::from_millis(300));
    let second = r.stop();
    assert_eq!(second.texts(), strs(&["b2"]));
}

#[test]
fn let_go_rotated_sibling_written_later_is_read_once() {
    let d = tmp();
    let log = d.path().join("app.log");
    let rotated = d.path().join("app.log.1");
    let mut old = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("open");
    old.write_all(b"a1\n").expect("write");
    let r = start(opts(d.path(), &["app.log*"]), vec![]);
    r.wait_lines(&["a1"]);
    fs::rename(&log, &rotated).expect("rename");
    append(&log, "b1\n");
    r.wait_lines(&["a1", "b1"]);
    thread::sleep(Duration::from_millis(800)); // rotated file let go (rotate_wait 200 ms)
    old.write_all(b"a2 (late)\n").expect("late write");
    r.wait_lines(&["a1", "b1", "a2 (late)"]);
    thread::sleep(Duration::from_millis(300));
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["a1", "b1", "a2 (late)"]));
}

#[test]
fn event_flood_many_small_writes_exactly_once() {
    // One write syscall per line across several files (an inotify event each) while
    // directories come and go: no line lost or doubled if events are coalesced or dropped.
    const FILES: u64 = 8;
    const PER: u64 = 5_000;
    let d = tmp();
    let r = start(opts(d.path(), &["**/*.log"]), vec![]);
    let dir = d.path().to_path_buf();
    let writer = thread::spawn(move || {
        let mut fs_: Vec<File> = (0..FILES)
            .map(|f| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("f{f}.log")))
                    .expect("open")
            })
            .collect();
        for i in 0..PER {
            for (f, file) in fs_.iter_mut().enumerate() {
                file.write_all(format!("{f}:{i}\n").as_bytes())
                    .expect("write");
            }
            if i % 500 == 0 {
                let sub = dir.join(format!("d{i}"));
                fs::create_dir(&sub).expect("mkdir");
                fs::remove_dir(&sub).expect("rmdir");
            }
        }
    });
    writer.join().expect("writer");
    r.wait("all lines", |s| s.lines.len() as u64 >= FILES * PER);
    thread::sleep(Duration::from_millis(300));
    let s = r.stop();
    let mut got = s.texts();
    got.sort();
    let mut want: Vec<String> = (0..FILES)
        .flat_map(|f| (0..PER).map(move |i| format!("{f}:{i}")))
        .collect();
    want.sort();
    assert_eq!(got.len(), want.len(), "duplicates or losses");
    assert!(got == want, "each line exactly once");
}

#[test]
fn invalid_options_are_typed_errors() {
    let d = tmp();
    let mut o = opts(d.path(), &["logs/[oops.log"]);
    match Tailer::new(o.clone(), vec![]) {
        Err(logpulse::source::TailError::Glob { pattern, .. }) => {
            assert!(pattern.contains("[oops.log"), "{pattern}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("invalid glob accepted"),
    }
    o.paths = vec![d.path().join("*.log").display().to_string()];
    o.max_line_bytes = 0;
    assert!(Tailer::new(o, vec![]).is_err(), "max_line_bytes 0 accepted");
}

#[test]
fn unwatchable_directory_is_polled_and_others_keep_inotify() {
    let d = tmp();
    let secret = d.path().join("secret");
    let open = d.path().join("open");
    fs::create_dir(&secret).expect("mkdir");
    fs::create_dir(&open).expect("mkdir");
    append(&secret.join("app.log"), "s1\n");
    append(&open.join("a.log"), "o1\n");
    // Traversable but not readable: the file can be opened, the directory not watched.
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o711)).expect("chmod");
    let mut o = opts(d.path(), &["secret/app.log", "open/*.log"]);
    o.poll_interval = Duration::from_millis(300);
    let r = start_as(o, vec![], true);
    r.wait("s1 o1", |s| s.lines.len() >= 2);
    append(&secret.join("app.log"), "s2\n");
    append(&open.join("a.log"), "o2\n");
    r.wait("s2 o2", |s| s.lines.len() >= 4);
    let s = r.stop();
    let mut got = s.texts();
    got.sort();
    assert_eq!(got, strs(&["o1", "o2", "s1", "s2"]));
    let errors: Vec<String> = s
        .events
        .iter()
        .filter_map(|e| match e {
            TailEvent::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("cannot watch directory") && errors[0].contains("secret"),
        "{errors:?}"
    );
}

/// Small deterministic PRNG for the chaos test (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn chaos_random_timing_rotations_deletions_exactly_once() {
    // Lines written in 1-3 pieces, random pauses, rotations by rename or by deletion at random
    // points with writes to the old fd afterwards, and the oldest rotated file deleted: every
    // line exactly once. A file is only deleted once the tailer has seen its first line (an
    // unlinked file that was never opened cannot be read by anyone; real log files live far
    // longer than the few milliseconds they live here).
    const N: u64 = 4_000;
    for (seed, glob) in [
        (1u64, "app.log"),
        (2, "app.log*"),
        (3, "app.log"),
        (4, "app.log*"),
        (5, "app.log"),
        (6, "app.log*"),
    ] {
        let d = tmp();
        let log = d.path().join("app.log");
        File::create(&log).expect("create");
        let r = start(opts(d.path(), &[glob]), vec![]);
        let dir = d.path().to_path_buf();
        let seen = r.seen.clone();
        let writer = thread::spawn(move || {
            let opened = |first: Option<u64>| {
                let Some(first) = first else { return };
                let want = first.to_string();
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline
                    && !lock(&seen).lines.iter().any(|(_, l)| *l == want)
                {
                    thread::sleep(Duration::from_millis(1));
                }
            };
            let mut rng = Lcg(seed);
            let log = dir.join("app.log");
            let open = || OpenOptions::new().append(true).open(&log).expect("open");
            let mut f = open();
            let mut old: Option<File> = None;
            let mut rotations = 0;
            // First line written to the current file, and to each rotated file by number.
            let mut cur_first: Option<u64> = None;
            let mut firsts: HashMap<u64, Option<u64>> = HashMap::new();
            for i in 0..N {
                let line = format!("{i}\n");
                let bytes = line.as_bytes();
                // Some lines go to the renamed file through its old descriptor.
                let target = match old.as_mut() {
                    Some(o) if rng.next(4) == 0 => o,
                    _ => {
                        old = None;
                        cur_first.get_or_insert(i);
                        &mut f
                    }
                };
                let cut = 1 + rng.next(bytes.len() as u64) as usize;
                target.write_all(&bytes[..cut]).expect("write");
                if rng.next(3) == 0 {
                    thread::sleep(Duration::from_micros(rng.next(300)));
                }
                target.write_all(&bytes[cut..]).expect("write");
                if rng.next(100) == 0 {
                    thread::sleep(Duration::from_millis(rng.next(5)));
                }
                if rng.next(700) == 0 {
                    rotations += 1;
                    if rng.next(4) == 0 {
                        // Rotation by deletion: the writer still holds the deleted file.
                        opened(cur_first);
                        fs::remove_file(&log).expect("delete");
                    } else {
                        fs::rename(&log, dir.join(format!("app.log.{rotations}"))).expect("rename");
                        firsts.insert(rotations, cur_first);
                    }
                    cur_first = None;
                    if rng.next(2) == 0 {
                        File::create(&log).expect("create");
                    }
                    if let Some(first) = firsts.remove(&(rotations.saturating_sub(2))) {
                        opened(first);
                        fs::remove_file(dir.join(format!("app.log.{}", rotations - 2)))
                            .expect("delete old");
                    }
                    old = Some(std::mem::replace(&mut f, {
                        OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&log)
                            .expect("reopen")
                    }));
                }
            }
        });
        writer.join().expect("writer");
        let deadline = Instant::now() + Duration::from_secs(3);
        while (lock(&r.seen).lines.len() as u64) < N && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        thread::sleep(Duration::from_millis(300));
        let s = r.stop();
        {
            // On failure, show where lines went missing.
            let mut seen: Vec<u64> = s.texts().iter().filter_map(|l| l.parse().ok()).collect();
            seen.sort_unstable();
            let missing: Vec<u64> = (0..N).filter(|n| seen.binary_search(n).is_err()).collect();
            if !missing.is_empty() {
                eprintln!(
                    "seed {seed} {glob}: missing {} from {:?} to {:?}",
                    missing.len(),
                    missing.first(),
                    missing.last()
                );
                for e in &s.events {
                    match e {
                        TailEvent::Opened { file, offset } => eprintln!(
                            "  Opened {} {} off {offset} hl {}",
                            file.path.display(),
                            file.fingerprint.ino,
                            file.fingerprint.head_len
                        ),
                        TailEvent::Rotated { file } => {
                            eprintln!("  Rotated {} {}", file.path.display(), file.fingerprint.ino)
                        }
                        TailEvent::Closed { file } => {
                            eprintln!("  Closed {} {}", file.path.display(), file.fingerprint.ino)
                        }
                        TailEvent::Truncated { file } => eprintln!(
                            "  Truncated {} {}",
                            file.path.display(),
                            file.fingerprint.ino
                        ),
                        TailEvent::Stats { .. } => {}
                        e => eprintln!("  {e:?}"),
                    }
                }
                let mut per: BTreeMap<u64, (u64, u64, usize)> = BTreeMap::new();
                for (ino, l) in &s.lines {
                    if let Ok(n) = l.parse::<u64>() {
                        let e = per.entry(*ino).or_insert((n, n, 0));
                        e.0 = e.0.min(n);
                        e.1 = e.1.max(n);
                        e.2 += 1;
                    }
                }
                eprintln!("  per inode (min,max,count): {per:?}");
                for e in fs::read_dir(d.path()).expect("rd").flatten() {
                    eprintln!(
                        "  file {:?} ino {} len {}",
                        e.file_name(),
                        e.ino(),
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    );
                }
            }
        }
        let mut nums: Vec<u64> = s
            .texts()
            .iter()
            .map(|l| {
                l.parse()
                    .unwrap_or_else(|_| panic!("seed {seed}: bad line {l:?}"))
            })
            .collect();
        nums.sort_unstable();
        assert_eq!(
            nums.len() as u64,
            N,
            "seed {seed} {glob}: duplicates or losses"
        );
        assert!(
            nums.iter().copied().eq(0..N),
            "seed {seed} {glob}: not exactly once"
        );
    }
}

#[test]
fn file_created_and_rotated_away_while_tailer_stalled() {
    // The pipeline stalls the tailer; meanwhile a new file is created, written and rotated out
    // of the glob before the tailer ever looks. The rename event tells where it went.
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "a1\n");
    let r = start(opts(d.path(), &["app.log"]), vec![]);
    r.wait_lines(&["a1"]);
    r.paused.store(true, Ordering::SeqCst);
    append(&log, "a2\n"); // the tailer blocks delivering this
    thread::sleep(Duration::from_millis(100));
    fs::rename(&log, d.path().join("app.log.1")).expect("rename");
    append(&log, "b\n");
    fs::rename(&log, d.path().join("app.log.2")).expect("rename");
    append(&log, "c\n");
    r.paused.store(false, Ordering::SeqCst);
    r.wait_lines(&["a1", "a2", "b", "c"]);
    thread::sleep(Duration::from_millis(300));
    let s = r.stop();
    let mut got = s.texts();
    got.sort();
    assert_eq!(got, strs(&["a1", "a2", "b", "c"]));
}

#[test]
fn small_new_file_renamed_away_while_held() {
    // A new file too short to tell whether it is a copy is held briefly; renamed away meanwhile,
    // it must still be read.
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "a1\n");
    let r = start(opts(d.path(), &["app.log"]), vec![]);
    r.wait_lines(&["a1"]);
    fs::rename(&log, d.path().join("app.log.1")).expect("rename");
    append(&log, "x\n");
    thread::sleep(Duration::from_millis(50)); // opened and held (hold: up to 250 ms)
    fs::rename(&log, d.path().join("app.log.2")).expect("rename");
    append(&log, "y\n");
    r.wait_lines(&["a1", "x", "y"]);
    thread::sleep(Duration::from_millis(300));
    let s = r.stop();
    let mut got = s.texts();
    got.sort();
    assert_eq!(got, strs(&["a1", "x", "y"]));
}
