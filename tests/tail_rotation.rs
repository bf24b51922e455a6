//! Rotation, truncation, copies and deletion against real files in temp dirs (see
//! `tail/harness.rs`), including restarts in the middle and randomised stress.

#[path = "tail/harness.rs"]
mod harness;
use harness::*;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::DirEntryExt;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use logpulse::source::{Checkpoint, TailEvent};

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
