//! The offline commands, as a user runs them: `check`, `replay`, `explain`.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

fn logpulse(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::bin())
        .args(args)
        .output()
        .expect("run logpulse");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

#[test]
fn check_accepts_the_shipped_examples_and_the_embedded_default() {
    let (ok, out, err) = logpulse(&["check"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("embedded default config") && out.contains("OK"),
        "{out}"
    );
    for entry in std::fs::read_dir(common::root().join("examples")).expect("examples/") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "yml") {
            let (ok, _, err) = logpulse(&["check", "--config", &p.display().to_string()]);
            assert!(ok, "{}: {err}", p.display());
        }
    }
}

#[test]
fn check_rejects_bad_configs_naming_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &[&str])] = &[
        ("sources:\n  - name: a\n    paths: [x]\n    profile: http\n    colour: red\n", &["colour", "line 5"]),
        ("sources:\n  - name: a\n    paths: [x]\n    format: {regex: '(unclosed'}\n    metrics: [{name: a_total, type: counter}]\n", &["sources[0].format", "regex"]),
        ("sources:\n  - name: a\n    paths: [x]\n    metrics:\n      - {name: a_total, type: counter, labels: {ip: nope}}\n", &["sources[0].metrics[0].labels.ip", "\"nope\" does not exist"]),
        ("sources:\n  - name: a\n    paths: [x]\n    metrics:\n      - {name: a_total, type: counter, match: {status: {regex: '[5'}}}\n", &["sources[0].metrics[0].match.status.regex"]),
        ("sources:\n  - name: a\n    paths: [x]\n    metrics:\n      - {name: x_total, type: counter}\n      - {name: x_total, type: counter}\n", &["sources[0].metrics[1].name", "twice"]),
        ("sources:\n  - name: a\n    paths: [x]\n    metrics:\n      - {name: x_total, type: counter, labels: {__bad: status}}\n", &["labels.__bad", "label name"]),
        ("sources: [{name: a, paths: ['[x'], profile: http}]\n", &["sources[0].paths[0]", "glob"]),
        ("sources: [{name: a, paths: [x], profile: http, multiline: {start: '(['}}]\n", &["sources[0].multiline.start", "regex"]),
        ("\t- not yaml: [\n", &["bad.yml"]),
    ];
    for (yaml, needles) in cases {
        let p = write(dir.path(), "bad.yml", yaml);
        let (ok, _, err) = logpulse(&["check", "--config", &p]);
        assert!(!ok, "accepted:\n{yaml}");
        assert!(
            err.contains("bad.yml"),
            "message does not name the file: {err}"
        );
        for n in *needles {
            assert!(err.contains(n), "message for\n{yaml}\nlacks {n:?}: {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    let (ok, _, err) = logpulse(&["check", "--config", "/nonexistent/logpulse.yml"]);
    assert!(!ok && err.contains("/nonexistent/logpulse.yml"), "{err}");
}

#[test]
fn check_warns_about_unbounded_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "c.yml",
        "sources:\n  - name: a\n    paths: [x]\n    format: combined\n    metrics:\n      - {name: by_ip_total, type: counter, labels: {ip: remote_addr, route: {field: request_uri, transform: route}}}\n",
    );
    let (ok, _, err) = logpulse(&["check", "--config", &p]);
    assert!(ok, "{err}");
    assert!(
        err.contains("warning") && err.contains("labels.ip") && err.contains("client IP"),
        "{err}"
    );
    assert!(!err.contains("labels.route"), "{err}");
}

/// An independent count: status codes tallied by splitting lines on quotes in this test, not by
/// logpulse's parser.
#[test]
fn replay_totals_match_an_independent_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let mut text = String::new();
    let statuses = [200u16, 200, 200, 304, 404, 500, 503, 201, 401, 200, 302];
    let paths = [
        "/mail/list",
        "/mail/view/123",
        "/api/v1/approval/items/9?x=1",
        "/drive/a.1b2c3d4e5.js",
        "/",
    ];
    for i in 0..20_000 {
        text.push_str(&common::access_line(
            i,
            ["GET", "POST", "PUT"][i % 3],
            paths[i % paths.len()],
            statuses[i % statuses.len()],
        ));
    }
    std::fs::write(&log, &text).expect("write log");
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for line in text.lines() {
        let status = line
            .split('"')
            .nth(2)
            .and_then(|s| s.split_whitespace().next())
            .expect("status");
        *want.entry(status.to_string()).or_default() += 1;
    }
    let cfg = write(
        dir.path(),
        "c.yml",
        "sources:\n  - name: a\n    paths: [x]\n    format: combined\n    metrics:\n      - {name: by_status_total, type: counter, labels: {status: status}}\n",
    );
    let (ok, out, err) = logpulse(&["replay", "--config", &cfg, &log.display().to_string()]);
    assert!(ok, "{err}");
    assert!(
        err.contains("replayed 20000 lines, 0 parse errors"),
        "{err}"
    );
    for (status, n) in &want {
        let got = common::sample(&out, &format!("by_status_total{{status=\"{status}\"}}"));
        assert_eq!(got, Some(*n as f64), "status {status}");
    }
    let total: f64 = out
        .lines()
        .filter(|l| l.starts_with("by_status_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 20_000.0);
}

#[test]
fn replay_survives_binary_junk_huge_lines_and_missing_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("junk.log");
    let mut data = Vec::new();
    data.extend_from_slice(common::access_line(1, "GET", "/a", 200).as_bytes());
    data.extend((0..=255u8).cycle().take(10_000));
    data.push(b'\n');
    data.extend(std::iter::repeat_n(b'x', 3 << 20));
    data.push(b'\n');
    data.extend_from_slice(common::access_line(2, "GET", "/b", 500).as_bytes());
    std::fs::write(&log, &data).expect("write");
    let cfg = write(
        dir.path(),
        "c.yml",
        "global: {max_line_bytes: 65536}\nsources:\n  - name: a\n    paths: [x]\n    format: combined\n    metrics:\n      - {name: by_status_total, type: counter, labels: {status: status}}\n",
    );
    let (ok, out, err) = logpulse(&["replay", "--config", &cfg, &log.display().to_string()]);
    assert!(ok, "{err}");
    assert_eq!(
        common::sample(&out, "by_status_total{status=\"200\"}"),
        Some(1.0),
        "{out}"
    );
    assert_eq!(
        common::sample(&out, "by_status_total{status=\"500\"}"),
        Some(1.0),
        "{out}"
    );
    assert!(err.contains("parse errors"), "{err}");
    let (ok, _, err) = logpulse(&["replay", "--config", &cfg, "/nonexistent/access.log"]);
    assert!(!ok && err.contains("/nonexistent/access.log"), "{err}");
}

#[test]
fn explain_shows_fields_updates_and_parse_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "c.yml",
        "sources:\n  - name: web\n    paths: [x]\n    format: auto\n    profile: http\n",
    );
    let mut child = Command::new(common::bin())
        .args(["explain", "--config", &cfg])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let input = format!(
        "{}not a log line\n",
        common::access_line(3, "POST", "/api/v1/approval/items/42?x=1", 503)
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("status = \"503\""), "{text}");
    assert!(
        text.contains("http_requests_total{source=\"web\",method=\"POST\",status=\"503\",route=\"/api/v1/approval/items/:id\"} += 1")
            || text.contains("http_requests_total{method=\"POST\",route=\"/api/v1/approval/items/:id\",source=\"web\",status=\"503\"} += 1"),
        "{text}"
    );
    assert!(
        text.contains("line 2") && text.contains("parse error"),
        "{text}"
    );
}

#[test]
fn explain_joins_multiline_records() {
    let cfg = common::root().join("tests/golden/java_app.yml");
    let log = std::fs::read(common::root().join("tests/golden/java_app.log")).expect("fixture");
    let mut child = Command::new(common::bin())
        .args(["explain", "--config", &cfg.display().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&log)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        !text.contains("parse error"),
        "stack frames must join their record:\n{text}"
    );
    assert_eq!(
        text.matches("\nline ").count() + 1,
        6,
        "six records:\n{text}"
    );
    assert!(text.contains("exception=\"java.io.IOException\""), "{text}");
}

/// Run logpulse with `stdin` and, if given, an address-space limit; a run that has not ended
/// after 60 s is killed and fails the test (these tests guard against hangs and huge
/// allocations, so they must end by themselves).
fn logpulse_bounded(
    args: &[&str],
    stdin: &[u8],
    max_memory: Option<u64>,
) -> (bool, String, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(bytes) = max_memory {
        let lim = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("logpulse {args:?} did not end within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = feeder.join();
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 8: `check --config /dev/zero` never ended; a config is read up to a cap.
#[test]
fn check_refuses_endless_and_huge_config_files() {
    let (ok, _, err) = logpulse_bounded(&["check", "--config", "/dev/zero"], b"", None);
    assert!(
        !ok && err.contains("/dev/zero") && err.contains("larger than"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let big = format!("# {}\n", "x".repeat(5 << 20));
    let p = write(dir.path(), "big.yml", &big);
    let (ok, _, err) = logpulse_bounded(&["check", "--config", &p], b"", None);
    assert!(
        !ok && err.contains("big.yml") && err.contains("larger than"),
        "{err}"
    );
}

/// Issue 8: a billion buckets were allocated (7.8 GB) before being refused. Under a 1 GiB
/// address-space limit that allocation aborts the process; checked first, it is a message.
#[test]
fn check_refuses_huge_bucket_counts_before_allocating() {
    let dir = tempfile::tempdir().expect("tempdir");
    for buckets in [
        "{linear: {start: 0, width: 1, count: 1000000000}}",
        "{exponential: {start: 1, factor: 1.0000001, count: 1000000000}}",
    ] {
        let p = write(
            dir.path(),
            "c.yml",
            &format!("sources:\n  - name: a\n    paths: [x]\n    profile: http\n    buckets: {buckets}\n"),
        );
        let (ok, _, err) = logpulse_bounded(&["check", "--config", &p], b"", Some(1 << 30));
        assert!(!ok, "accepted {buckets}");
        assert!(
            err.contains("sources[0].buckets") && err.contains("between 1 and 200"),
            "{err}"
        );
    }
}

/// Issue 8: an nginx log_format with a huge number of variables was compiled (quadratic in
/// their number) instead of being refused.
#[test]
fn check_refuses_log_formats_with_too_many_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vars: String = (0..100_000).map(|i| format!("$v{i} ")).collect();
    let p = write(
        dir.path(),
        "c.yml",
        &format!("sources:\n  - name: a\n    paths: [x]\n    format: {{nginx: '{vars}'}}\n    metrics: [{{name: a_total, type: counter}}]\n"),
    );
    let (ok, _, err) = logpulse_bounded(&["check", "--config", &p], b"", None);
    assert!(!ok, "accepted");
    assert!(
        err.contains("sources[0].format.nginx") && err.contains("100000 variables"),
        "{err}"
    );
}

/// Issue 8: `explain` printed log bytes raw, so a line could clear the screen or retitle the
/// terminal. Everything it prints from the log is escaped.
#[test]
fn explain_escapes_control_characters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "c.yml",
        "sources:\n  - name: web\n    paths: [x]\n    format: json\n    profile: http\n    fields: {request_method: m, request_uri: u, status: s, body_bytes_sent: b, http_user_agent: ua}\n",
    );
    let input = "{\"m\":\"GET\",\"u\":\"/a\\u001b[2J\\u001b]0;pwned\\u0007/b\",\"s\":\"200\",\"b\":\"1\",\"ua\":\"x\\u009b31m\"}\n\
                 \x1b[2J\x1b]0;pwned\x07 not json\r\n";
    let (ok, out, err) = logpulse_bounded(&["explain", "--config", &cfg], input.as_bytes(), None);
    assert!(ok, "{err}");
    let bad: Vec<char> = out
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        bad.is_empty(),
        "control characters {bad:?} in:\n{}",
        out.escape_debug()
    );
    assert!(out.contains("\\u{1b}[2J"), "{out}");
    assert!(out.contains("route=\"/:id/b\""), "{out}");
    assert!(
        out.contains("line 2") && out.contains("parse error"),
        "{out}"
    );
}

/// Sum of the `metric{...}` samples whose labels contain every one of `having`.
fn sum_where(expo: &str, metric: &str, having: &[&str]) -> f64 {
    expo.lines()
        .filter_map(|l| l.strip_prefix(metric)?.strip_prefix('{'))
        .filter(|l| having.iter().all(|h| l.contains(h)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_route_flood_keeps_statuses_exact_past_the_series_limit() {
    // Reported: the default http profile, 10,000 scanner lines `GET /<random>` 404, then 100
    // `POST /api/orders` 500: the 500s were only in an all-`__overflow__` series, so no 5xx
    // alert could fire during the scan.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let mut text = String::new();
    for i in 0..10_000usize {
        // Letters only, so the route transform keeps each path as its own route.
        let word: String = (0..4)
            .map(|k| char::from(b'a' + ((i / 26usize.pow(k)) % 26) as u8))
            .collect();
        text.push_str(&common::access_line(i, "GET", &format!("/{word}"), 404));
    }
    for i in 0..100 {
        text.push_str(&common::access_line(i, "POST", "/api/orders", 500));
    }
    std::fs::write(&log, &text).expect("write log");
    let (ok, out, err) = logpulse(&["replay", &log.display().to_string()]);
    assert!(ok, "{err}");
    let m = "http_requests_total";
    assert_eq!(sum_where(&out, m, &["status=\"500\""]), 100.0, "{err}");
    assert_eq!(
        sum_where(&out, m, &["method=\"POST\"", "status=\"500\""]),
        100.0
    );
    assert_eq!(sum_where(&out, m, &["status=\"404\""]), 10_000.0);
    assert_eq!(sum_where(&out, m, &[]), 10_100.0);
    assert!(
        !out.contains("status=\"__overflow__\""),
        "bounded labels kept"
    );
    assert!(
        out.contains("route=\"__overflow__\""),
        "the unbounded label folds"
    );
    common::promtool_check(&out);
}
