//! One test per tailing hazard, against real files in temp dirs (see `tail/harness.rs`):
//! appends, partial and long lines, globs, directories appearing, permissions, restarts.

#[path = "tail/harness.rs"]
mod harness;
use harness::*;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use logpulse::source::{read_file, Checkpoint, Fingerprint, StartAt, TailEvent, Tailer};

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

/// Regression: a copytruncate copy read to its end before a restart, with the original's
/// checkpoint still at the truncation's position (a checkpoint saved before the original's
/// `Truncated`): the original, empty now, was looked at first and its copy read again from
/// the original's position, past the copy's own checkpoint (801 lines counted twice).
#[test]
fn a_copy_with_a_checkpoint_of_its_own_is_not_read_again_for_its_original() {
    let d = tmp();
    let log = d.path().join("app.log");
    let text: String = (0..1000)
        .map(|i| long_line(&format!("n{i:05}")) + "\n")
        .collect();
    append(&log, &text);
    let r = start(opts(d.path(), &["app.log*"]), vec![]);
    r.wait("1000 lines", |s| s.lines.len() >= 1000);
    let first = r.stop();
    let orig = first.cps.values().next().expect("a checkpoint").clone();
    assert_eq!(orig.offset, text.len() as u64);
    // logrotate's copytruncate while we were down, as the two checkpoints tell it: the copy
    // was read to its end, the original's checkpoint is where the truncation found it.
    let copy = d.path().join("app.log-20261206");
    fs::copy(&log, &copy).expect("copy");
    File::create(&log).expect("truncate");
    let cmd = fs::metadata(&copy).expect("stat copy");
    let resume = vec![
        Checkpoint {
            offset: 199 * (text.len() as u64 / 1000),
            ..orig.clone()
        },
        Checkpoint {
            path: copy.clone(),
            fingerprint: Fingerprint {
                ino: cmd.ino(),
                ..orig.fingerprint
            },
            offset: text.len() as u64,
        },
    ];
    let r = start(opts(d.path(), &["app.log*"]), resume);
    append(&log, "after the restart\n");
    r.wait_lines(&["after the restart"]);
    thread::sleep(Duration::from_millis(500));
    let got = r.stop().texts();
    assert!(
        got == strs(&["after the restart"]),
        "{} lines, the first {:?}: the copy read again",
        got.len(),
        got.first()
    );
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

/// The lag reported in the last stats event.
fn last_lag(s: &Seen) -> Option<(u64, f64)> {
    s.events.iter().rev().find_map(|e| match e {
        TailEvent::Stats {
            lag_bytes,
            oldest_unread_age,
            ..
        } => Some((*lag_bytes, *oldest_unread_age)),
        _ => None,
    })
}

/// A line too long, written in pieces, whose newline comes last with nothing after it: the
/// skipped rest is consumed (no lag, no unread age, the checkpoint past it), and the cut line
/// is delivered once. Before: the lag stayed at the skipped bytes and the unread age climbed.
#[test]
fn too_long_line_ending_last_leaves_no_lag() {
    let d = tmp();
    let log = d.path().join("app.log");
    let mut o = opts(d.path(), &["app.log"]);
    o.max_line_bytes = 10;
    o.poll_interval = Duration::from_millis(50);
    append(&log, "short\n");
    let r = start(o.clone(), vec![]);
    r.wait_lines(&["short"]);
    let piece = "y".repeat(300_000);
    for _ in 0..3 {
        append(&log, &piece);
        thread::sleep(Duration::from_millis(50));
    }
    let size = fs::metadata(&log).expect("stat").len();
    // While the rest is being skipped, what was written is consumed too.
    r.wait("no lag while the rest is skipped", |s| {
        s.lines.len() == 2 && s.cps.values().any(|cp| cp.offset == size)
    });
    append(&log, "\n");
    let size = size + 1;
    r.wait("checkpoint past the newline", |s| {
        s.cps.values().any(|cp| cp.offset == size)
    });
    let stats_before = lock(&r.seen).count(|e| matches!(e, TailEvent::Stats { .. }));
    r.wait("stats after the newline", |s| {
        s.count(|e| matches!(e, TailEvent::Stats { .. })) > stats_before + 2
    });
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["short", "yyyyyyyyyy"]));
    assert_eq!(last_lag(&s), Some((0, 0.0)), "lag after the long line");
    assert_eq!(s.count(|e| matches!(e, TailEvent::LineTooLong { .. })), 1);
    // Resumed from there: nothing read again.
    let resume: Vec<Checkpoint> = s.cps.values().cloned().collect();
    append(&log, "after\n");
    let r = start(o, resume);
    r.wait_lines(&["after"]);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(r.stop().texts(), strs(&["after"]));
}

/// The same with the whole long line and its newline in one write, and a partial line flushed
/// then ended by a newline alone: no byte is left unread.
#[test]
fn swallowed_bytes_leave_no_lag() {
    let d = tmp();
    let log = d.path().join("app.log");
    let mut o = opts(d.path(), &["app.log"]);
    o.max_line_bytes = 10;
    o.poll_interval = Duration::from_millis(50);
    o.partial_flush = Some(Duration::from_millis(100));
    append(&log, "short\n");
    let r = start(o, vec![]);
    r.wait_lines(&["short"]);
    append(&log, &format!("{}\n", "z".repeat(5000)));
    r.wait_lines(&["short", "zzzzzzzzzz"]);
    append(&log, "partial");
    r.wait_lines(&["short", "zzzzzzzzzz", "partial"]);
    append(&log, "\n");
    let size = fs::metadata(&log).expect("stat").len();
    r.wait("checkpoint at the end", |s| {
        s.cps.values().any(|cp| cp.offset == size)
    });
    let stats_before = lock(&r.seen).count(|e| matches!(e, TailEvent::Stats { .. }));
    r.wait("stats", |s| {
        s.count(|e| matches!(e, TailEvent::Stats { .. })) > stats_before + 2
    });
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["short", "zzzzzzzzzz", "partial"]));
    assert_eq!(last_lag(&s), Some((0, 0.0)));
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

#[test]
fn unreadable_directory_is_reported_once_per_state_change() {
    let d = tmp();
    let sub = d.path().join("sub");
    fs::create_dir(&sub).expect("mkdir");
    append(&sub.join("a.log"), "1\n");
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o000)).expect("chmod");
    let mut o = opts(d.path(), &["sub/*.log"]);
    o.poll_interval = Duration::from_millis(20);
    let r = start_as(o, vec![], true);
    let errors = |s: &Seen| s.count(|e| matches!(e, TailEvent::Error { .. }));
    // Many polls, each of which finds the directory unreadable (and unwatchable).
    r.wait("40 polls", |s| {
        s.count(|e| matches!(e, TailEvent::Stats { .. })) >= 40
    });
    let first = errors(&lock(&r.seen));
    assert!(
        (1..=2).contains(&first),
        "one report per problem (cannot list, cannot watch), not per poll: {first}"
    );
    // Readable again: the file is read. Unreadable again: reported again, once.
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).expect("chmod");
    r.wait_lines(&["1"]);
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o000)).expect("chmod");
    r.wait("reported again", |s| errors(s) > first);
    let polls = lock(&r.seen).count(|e| matches!(e, TailEvent::Stats { .. }));
    r.wait("40 more polls", |s| {
        s.count(|e| matches!(e, TailEvent::Stats { .. })) >= polls + 40
    });
    let s = r.stop();
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).expect("chmod");
    let total = errors(&s);
    assert!(
        total <= 2 * first,
        "reported once per state change, not per poll: {total} reports: {:?}",
        s.events
            .iter()
            .filter(|e| matches!(e, TailEvent::Error { .. }))
            .take(6)
            .collect::<Vec<_>>()
    );
}

/// A FIFO created next to a followed file under a name logrotate gives copies (opened at once
/// on its create event, to catch a copy before it is compressed away): opening it must not wait
/// for a writer. Before, the tailer thread blocked in open(2) for good.
#[test]
fn a_fifo_named_like_a_copy_does_not_stall_the_tailer() {
    let d = tmp();
    let log = d.path().join("app.log");
    append(&log, "one\n");
    let r = start(opts(d.path(), &["app.log"]), vec![]);
    r.wait_lines(&["one"]);
    for name in ["app.log.1", "app.log-20261127"] {
        let st = std::process::Command::new("mkfifo")
            .arg(d.path().join(name))
            .status()
            .expect("mkfifo");
        assert!(st.success());
    }
    thread::sleep(Duration::from_millis(200));
    append(&log, "two\n");
    r.wait_lines(&["one", "two"]);
    let s = r.stop();
    assert_eq!(s.texts(), strs(&["one", "two"]));
}
