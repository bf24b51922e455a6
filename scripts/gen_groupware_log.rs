//! Groupware access logs for a fleet, from the generator the tests trust (tests/groupware/gen.rs:
//! 1,000 Zipf-sized tenants, web and app clients, in-app browsers, crawlers, referrers,
//! scanners). Used by scripts/bench-fleet.
//!
//!   cargo run --release --example gen-groupware-log -- --servers 20 --lines 600000 --out DIR
//!       writes DIR/web-001.log … DIR/web-020.log (the lines spread over the servers)
//!   … --servers 20 --follow 200 --out DIR
//!       then appends 200 lines/s in all to those files, stamped now, until killed
//!
//! `--seed N` changes the lines (default 2026). Lines as nginx writes them with examples/
//! groupware.yml's `log_format` (`$host` last: the tenant).

#[path = "../tests/groupware/gen.rs"]
mod gen;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn usage() -> ! {
    eprintln!(
        "usage: gen-groupware-log --servers N (--lines L | --follow LINES_PER_SECOND) --out DIR [--seed S]"
    );
    std::process::exit(2)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn main() {
    let (mut servers, mut lines, mut follow, mut seed, mut out) =
        (0usize, 0usize, 0usize, 2026u64, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--servers" => servers = val().parse().unwrap_or_else(|_| usage()),
            "--lines" => lines = val().parse().unwrap_or_else(|_| usage()),
            "--follow" => follow = val().parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = val().parse().unwrap_or_else(|_| usage()),
            "--out" => out = Some(PathBuf::from(val())),
            _ => usage(),
        }
    }
    let Some(out) = out else { usage() };
    if servers == 0 || (lines == 0) == (follow == 0) {
        usage();
    }
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let path = |i: usize| out.join(format!("web-{:03}.log", i + 1));
    let mut g = gen::Gen::new(seed, 1000, servers);
    if lines > 0 {
        let mut files: Vec<BufWriter<File>> = (0..servers)
            .map(|i| BufWriter::new(File::create(path(i)).expect("create log")))
            .collect();
        let time = gen::nginx_time(now());
        for _ in 0..lines {
            let l = g.next(&time);
            files[l.server]
                .write_all(l.text.as_bytes())
                .expect("write log");
        }
        for mut f in files {
            f.flush().expect("flush log");
        }
        return;
    }
    // Follow: appends spread over each 100 ms, one write per line as loggers do.
    let mut files: Vec<File> = (0..servers)
        .map(|i| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path(i))
                .expect("open log")
        })
        .collect();
    let start = Instant::now();
    let mut written = 0u64;
    loop {
        let due = (start.elapsed().as_secs_f64() * follow as f64) as u64;
        let time = gen::nginx_time(now());
        while written < due {
            let l = g.next(&time);
            files[l.server]
                .write_all(l.text.as_bytes())
                .expect("append log");
            written += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
