//! `logpulse backfill` on hostile or broken input, with the real binary and real files: memory
//! bounded by what is in flight whatever the time the lines span (run under an address-space
//! limit, so an unbounded run fails at once instead of taking the machine), a broken `.gz` in a
//! set reported while the others are written, and messages that say what happened. Each test
//! failed before its fix.

#[path = "common/stack.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::*;

/// Address space allowed to the backfill (`ulimit -v`, KiB): a few hundred MB.
const LIMIT_KIB: u64 = 256 * 1024;

fn access(t: &str, path: &str) -> String {
    format!("192.0.2.1 - - [{t}] \"GET {path} HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n")
}

/// `logpulse backfill ARGS` under `ulimit -v LIMIT_KIB`.
fn backfill_limited(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {LIMIT_KIB} && exec \"$0\" backfill \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_logpulse"))
        .args(args)
        .output()
        .expect("run logpulse backfill")
}

/// Samples (lines that are not comments) in the `.om` files of `dir`.
fn samples_in(dir: &Path) -> usize {
    files(dir, ".om")
        .iter()
        .map(|f| read(f).lines().filter(|l| !l.starts_with('#')).count())
        .sum()
}

/// The last value of `series` (exact text up to the value) in an OpenMetrics file.
fn last_value(om: &str, series: &str) -> Option<f64> {
    om.lines()
        .rev()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .find_map(|r| r.split(' ').next()?.parse().ok())
}

/// Regression: two lines 1970 → 2026 (232 bytes of input) made backfill record every 15 s step
/// between them: 16.4 GB before the kernel stopped it. Now the stretch is skipped, the run fits
/// in a 256 MB address space, writes a few thousand samples, and promtool reads them.
#[test]
fn two_lines_56_years_apart_fit_in_a_small_address_space() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let text =
        access("01/Jan/1970:00:00:10 +0000", "/a") + &access("01/Jan/2026:00:00:10 +0000", "/a");
    write(&log, &text);
    let out_dir = dir.path().join("om");
    let out = backfill_limited(&[
        "--out",
        &format!("{}/", out_dir.display()),
        log.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {err}", out.status);
    assert!(err.contains("2 placed"), "{err}");
    assert!(
        err.contains("1 stretch without lines longer than --max-gap skipped"),
        "{err}"
    );
    // The embedded `http` profile has about 150 series; an hour after the first line at a
    // sample a minute, and the window before the second.
    let n = samples_in(&out_dir);
    assert!((1_000..50_000).contains(&n), "{n} samples");
    let tsdb = dir.path().join("tsdb");
    for f in files(&out_dir, ".om") {
        run_ok(
            Command::new(tool("promtool"))
                .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
                .arg(&f)
                .arg(&tsdb),
        );
    }
}

/// Regression: one broken `.gz` in a rotated set stopped the whole backfill with "invalid
/// gzip header" and no usable output (no `# EOF`); trailing garbage after a complete member was
/// reported as an invalid header too. Now every file is read, the broken one up to its fault;
/// the output is complete; each file's problem is named; the exit status says a file failed.
#[test]
fn a_broken_gz_in_a_set_is_reported_and_the_others_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Four hours of a rotated set, 30 lines each, oldest first.
    let hour = |h: u32, path: &str| -> String {
        (0..30)
            .map(|i| {
                access(
                    &format!(
                        "05/Jan/2026:{h:02}:{:02}:{:02} +0000",
                        i * 2 / 60,
                        i * 2 % 60
                    ),
                    path,
                )
            })
            .collect()
    };
    let gz = |text: &str| -> Vec<u8> {
        let plain = d.join("tmp.txt");
        write(&plain, text);
        run_ok(Command::new("gzip").arg("-c").arg(&plain)).stdout
    };
    // .3.gz: a complete member, then a second one cut in the middle (a copy that stopped).
    let second = gz(&hour(1, "/b"));
    let mut three = gz(&hour(0, "/a"));
    three.extend_from_slice(&second[..second.len() / 2]);
    std::fs::write(d.join("access.log.3.gz"), three).unwrap();
    // .2.gz: complete, then zeros and text (a padded or overwritten tail).
    let mut two = gz(&hour(2, "/c"));
    two.extend_from_slice(b"\0\0\0\0not gzip at all\n");
    std::fs::write(d.join("access.log.2.gz"), two).unwrap();
    write(&d.join("access.log.1"), &hour(3, "/d"));
    write(&d.join("access.log"), &hour(4, "/e"));
    let om = d.join("out.om");
    let mut args = vec!["--out".to_string(), om.display().to_string()];
    for f in [
        "access.log.3.gz",
        "access.log.2.gz",
        "access.log.1",
        "access.log",
    ] {
        args.push(d.join(f).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = backfill_limited(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("access.log.3.gz: the gzip data ends inside member 2"),
        "{err}"
    );
    assert!(
        err.contains("the 30 lines before it are in the output"),
        "{err}"
    );
    assert!(
        err.contains("access.log.2.gz: decompression OK") && err.contains("trailing garbage"),
        "{err}"
    );
    assert!(!err.contains("invalid gzip header"), "{err}");
    assert!(err.contains("1 of 4 files not read to their end"), "{err}");
    let text = read(&om);
    assert!(text.ends_with("# EOF\n"), "no # EOF");
    // 30 lines of the broken file's first member, 90 of the others.
    for (route, want) in [
        ("/a", 30.0),
        ("/b", 0.0),
        ("/c", 30.0),
        ("/d", 30.0),
        ("/e", 30.0),
    ] {
        let series = format!(
            "http_requests_total{{method=\"GET\",route=\"{route}\",source=\"http\",status=\"200\",job=\"logpulse\",instance=\"backfill\"}}"
        );
        assert_eq!(last_value(&text, &series).unwrap_or(0.0), want, "{route}");
    }
    run_ok(
        Command::new(tool("promtool"))
            .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
            .arg(&om)
            .arg(d.join("tsdb")),
    );
}

/// Regression: a file whose lines were all in the future was summed up as "no line with a
/// usable time"; the summary now says the lines are ahead of the clock.
#[test]
fn lines_all_in_the_future_are_called_that() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    write(
        &log,
        &(access("01/Jan/2099:00:00:00 +0000", "/") + &access("01/Jan/2099:00:00:10 +0000", "/")),
    );
    let om = dir.path().join("out.om");
    let out = backfill_limited(&["--out", om.to_str().unwrap(), log.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "no line placed: every line's time is more than a day after this machine's clock"
        ),
        "{err}"
    );
    assert!(!err.contains("usable time"), "{err}");
}
