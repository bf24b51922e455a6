//! `logpulse backfill` finds each built-in format's time without a `time:` key: the default
//! field (`timestamp` for syslog, nginx_error, apache_error and java; `time_local` for access
//! logs) and the `auto` layout. Runs on the golden fixtures; a line without a time (a syslog
//! NILVALUE) is counted as `no_time`, never placed somewhere; a time of day without a date
//! (logback's `HH:mm:ss.SSS`) takes the date of the file's modification time.

use std::path::Path;
use std::process::Command;

fn backfill(name: &str) -> String {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(format!("{name}.log"));
    std::fs::copy(golden.join(format!("{name}.log")), &log).unwrap();
    // Syslog times have no year: it comes from the file's modification time.
    let st = Command::new("touch")
        .args(["-d", "2026-11-28T00:00:00Z"])
        .arg(&log)
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new(env!("CARGO_BIN_EXE_logpulse"))
        .arg("backfill")
        .arg("--config")
        .arg(golden.join(format!("{name}.yml")))
        .arg("--out")
        .arg(dir.path().join("out.om"))
        .arg(&log)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{name}: {err}");
    let om = std::fs::read_to_string(dir.path().join("out.om")).unwrap();
    assert!(om.ends_with("# EOF\n"), "{name}");
    err
}

#[test]
fn built_in_formats_have_a_default_time() {
    for (name, want) in [
        (
            "nginx_error",
            "11 placed (0 late, at their own step); dropped 0 (",
        ),
        (
            "apache_error",
            "11 placed (0 late, at their own step); dropped 0 (",
        ),
        // `<4>1 - host …`: RFC 5424 without a time.
        ("syslog_auth", "no_time 1, future 0"),
        // Two logback lines carry a time of day only: they take the file's day.
        ("java_spring", "no_time 0, future 0"),
        ("traefik_json", "no_time 0, future 0"),
    ] {
        let summary = backfill(name);
        assert!(summary.contains(want), "{name}: want {want:?} in {summary}");
        assert!(summary.contains("2026-11-2"), "{name}: {summary}");
    }
}
