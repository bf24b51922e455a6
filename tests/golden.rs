//! Golden tests: `logpulse replay` of `tests/golden/NAME.log` with `NAME.yml` must print exactly
//! `NAME.prom`, and that output must pass `promtool check metrics`.
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test golden`, then
//! read the diff before committing it.

mod common;

use std::process::Command;

fn replay(name: &str) -> String {
    let dir = common::root().join("tests/golden");
    let out = Command::new(common::bin())
        .arg("replay")
        .arg("--config")
        .arg(dir.join(format!("{name}.yml")))
        .arg(dir.join(format!("{name}.log")))
        .output()
        .expect("run logpulse replay");
    assert!(
        out.status.success(),
        "replay {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("exposition is UTF-8")
}

fn golden(name: &str) {
    let got = replay(name);
    let path = common::root().join(format!("tests/golden/{name}.prom"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden");
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!(
            "{name}: exposition differs from {} ({} vs {} lines):\n{}",
            path.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
    common::promtool_check(&got);
}

#[test]
fn messy_access_log_http_profile() {
    golden("messy_access");
}

#[test]
fn java_stack_traces_multiline_regex() {
    golden("java_app");
}

#[test]
fn logfmt_counters_gauges_histograms() {
    golden("app_logfmt");
}

#[test]
fn traefik_json_http_profile_with_field_map() {
    golden("traefik_json");
}
