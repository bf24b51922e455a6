//! Identity: when is a new file a copy of another (read from where its original stood, or not
//! at all) and when is it a new file (read from 0)? Equal first bytes are not enough: files of
//! one application often start alike (a startup banner, a CSV header, IIS W3C headers). A copy
//! holds the same bytes as its original, and comes with a truncation (copytruncate) or is left
//! as it is (`cp app.log app.log.bak`); a new file that only starts alike is read whole.

#[path = "tail/harness.rs"]
mod harness;
use harness::*;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::thread;
use std::time::Duration;

use logpulse::source::TailEvent;

/// IIS writes these at the top of every log file, one line at a time: the first 72 bytes of
/// two files are equal.
const W3C_SAME: &str =
    "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n";

fn w3c_rest(minute: u32) -> String {
    format!("#Date: 2026-11-27 00:{minute:02}:00\r\n#Fields: date time s-ip cs-method cs-uri-stem sc-status\r\n")
}

fn w3c_line(file: usize, i: usize) -> String {
    format!("2026-11-27 00:00:{i:02} 10.0.0.{file} GET /mail/{file}/{i} 200\n")
}

/// Two new files in one glob, created while the tailer runs, starting with the same 71 bytes
/// and written line by line: every line of both is read, while it is written.
#[test]
fn new_files_that_start_alike_are_both_read_whole() {
    let d = tmp();
    let r = start(opts(d.path(), &["*.log"]), vec![]);
    let (a, b) = (d.path().join("u_ex_a.log"), d.path().join("u_ex_b.log"));
    let mut fa = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a)
        .expect("create a");
    fa.write_all(W3C_SAME.as_bytes()).expect("write");
    fa.write_all(w3c_rest(0).as_bytes()).expect("write");
    r.wait("a's header", |s| s.lines.len() >= 4);
    let mut fb = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&b)
        .expect("create b");
    // The lines the two have in common first, long enough for the tailer to look at them.
    fb.write_all(W3C_SAME.as_bytes()).expect("write");
    assert!(W3C_SAME.len() >= 64);
    thread::sleep(Duration::from_millis(500));
    fb.write_all(w3c_rest(1).as_bytes()).expect("write");
    let mut want = 8;
    for i in 0..47 {
        fa.write_all(w3c_line(1, i).as_bytes()).expect("write");
        fb.write_all(w3c_line(2, i).as_bytes()).expect("write");
        want += 2;
        if i == 10 {
            // Read while written, not only once quiet.
            r.wait("b's lines while it is written", |s| {
                s.lines.iter().any(|(_, l)| l.contains("/mail/2/5 "))
            });
        }
        thread::sleep(Duration::from_millis(2));
    }
    r.wait(&format!("{want} lines"), |s| s.lines.len() >= want);
    thread::sleep(Duration::from_millis(500));
    let s = r.stop();
    assert_eq!(s.lines.len(), want, "{:?}", s.texts());
    for f in [1, 2] {
        for i in 0..47 {
            let l = w3c_line(f, i);
            let l = l.trim_end();
            assert_eq!(
                s.texts().iter().filter(|t| *t == l).count(),
                1,
                "{l} counted once"
            );
        }
    }
}

/// A CSV export started twice: same header, then different rows. The second file is held as a
/// possible copy only while its bytes are the first one's; the hold is reported.
#[test]
fn csv_files_with_one_header_are_both_read_and_the_hold_is_reported() {
    let d = tmp();
    let header = "timestamp,tenant,user,menu,action,device,app_version,status,duration_ms\n";
    assert!(header.len() >= 64);
    let one = d.path().join("export-1.csv");
    fs::write(
        &one,
        format!("{header}2026-11-27T00:00:00,t1,u1,mail,open,app,3.5.1,200,12\n"),
    )
    .expect("write");
    let r = start(opts(d.path(), &["*.csv"]), vec![]);
    r.wait("the first export", |s| s.lines.len() >= 2);
    let two = d.path().join("export-2.csv");
    append(&two, header);
    // Held: so far it is the first file's first line, as a copy being written would be.
    r.wait("the hold", |s| {
        s.count(|e| matches!(e, TailEvent::Held { .. })) == 1
    });
    append(&two, "2026-11-27T00:00:01,t2,u2,drive,upload,pc,-,201,40\n");
    r.wait("4 lines", |s| s.lines.len() >= 4);
    thread::sleep(Duration::from_millis(300));
    let s = r.stop();
    let texts = s.texts();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts.contains(&"2026-11-27T00:00:01,t2,u2,drive,upload,pc,-,201,40".to_string()));
    let held: Vec<_> = s
        .events
        .iter()
        .filter_map(|e| match e {
            TailEvent::Held { path, of } => Some((path.clone(), of.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(held, vec![(two, one)]);
}
