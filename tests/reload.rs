//! Config reload with the real binary: SIGHUP and `POST /-/reload` re-read `--config`; sources
//! added, removed and changed while another source is being written to, a rejected config, the
//! lifecycle flag behind basic auth, and SIGHUP with the embedded config.

mod common;
#[path = "common/web.rs"]
mod web;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{access_line, append, bin, sample, wait_for, Agent};
use web::{bcrypt_hash, Client};

/// Start `logpulse run` with `args` (plus `--listen`) and `env`; waits for /healthz.
fn start(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Agent {
    Agent::launch(dir, "127.0.0.1", args, env, common::healthz)
}

fn hup(a: &Agent) {
    let st = Command::new("kill")
        .args(["-HUP", &a.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

/// Wait until the agent's log has `n` occurrences of `what`.
fn wait_log(a: &Agent, what: &str, n: usize) -> String {
    wait_for(20, what, || {
        let log = a.log();
        (log.matches(what).count() >= n).then_some(log)
    })
}

fn alive(a: &mut Agent) {
    assert!(
        a.child.try_wait().expect("try_wait").is_none(),
        "the agent exited: {}",
        a.log()
    );
}

/// A logfmt source `name` with a counter `NAME_total` of its lines.
fn plain_source(dir: &Path, name: &str) -> String {
    format!(
        "  - name: {name}\n    paths: ['{}/logs/{name}.log']\n    format: logfmt\n    start_at: beginning\n    metrics:\n      - name: {name}_total\n        type: counter\n        help: Lines of {name}.\n",
        dir.display()
    )
}

/// `web` (http profile), `app` (records by level, with `help`, and errors) and `others`.
fn config(dir: &Path, app_help: &str, others: &[&str]) -> String {
    let mut y = format!(
        "global:\n  state_dir: {d}/state\n  poll_interval: 200ms\nsources:\n  - name: web\n    paths: ['{d}/logs/web.log']\n    format: auto\n    profile: http\n    start_at: beginning\n  - name: app\n    paths: ['{d}/logs/app.log']\n    format: logfmt\n    start_at: beginning\n    metrics:\n      - name: app_records_total\n        type: counter\n        help: {app_help}\n        labels:\n          level: {{field: level, values: [error, info]}}\n      - name: app_errors_total\n        type: counter\n        help: Errors.\n        match: {{level: error}}\n",
        d = dir.display()
    );
    for o in others {
        y.push_str(&plain_source(dir, o));
    }
    y
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("logs")).expect("mkdir");
    let cfg = dir.path().join("logpulse.yml");
    (dir, cfg)
}

/// Sum of the samples of `metric` whose labels contain `label`.
fn sum(expo: &str, metric: &str, label: &str) -> f64 {
    expo.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn sighup_adds_removes_and_changes_sources_while_an_unchanged_one_counts_exactly() {
    let (dir, cfg) = setup();
    let d = dir.path();
    std::fs::write(&cfg, config(d, "Records.", &["old"])).expect("config");
    let logs = d.join("logs");
    append(
        &logs.join("app.log"),
        b"level=error msg=a\nlevel=error msg=b\nlevel=info msg=c\nlevel=error msg=d\nlevel=info msg=e\n",
    );
    append(&logs.join("old.log"), b"a=1\na=2\na=3\na=4\n");
    std::fs::write(logs.join("web.log"), b"").expect("web.log");
    let mut a = start(d, &["--config", &cfg.display().to_string()], &[]);
    a.wait_value("old_total", 4.0, 20);
    a.wait_value("app_errors_total", 3.0, 20);
    a.wait_value(r#"app_records_total{level="error"}"#, 3.0, 20);

    // `web` is written to before, during and after the reload.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, web) = (stop.clone(), logs.join("web.log"));
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let batch: String = (n..n + 7)
                    .map(|i| access_line(i, "GET", "/mail/list", 200))
                    .collect();
                append(&web, batch.as_bytes());
                n += 7;
                std::thread::sleep(Duration::from_millis(3));
            }
            n
        })
    };
    wait_for(20, "web lines counted", || {
        (sample(&a.scrape(), r#"logpulse_lines_total{source="web"}"#)? > 50.0).then_some(())
    });

    // `old` removed, `new` added (its file written before), app_records_total redefined.
    append(&logs.join("new.log"), b"b=1\nb=2\n");
    std::fs::write(&cfg, config(d, "Log records.", &["new"])).expect("config");
    hup(&a);
    let log = wait_log(&a, "config reloaded", 1);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().expect("writer") as f64;

    alive(&mut a);
    assert!(
        log.contains("sources unchanged: web; started: new; restarted from their offsets: app (its definition changed); stopped: old"),
        "{log}"
    );
    assert!(
        log.contains("metric app_records_total is redefined"),
        "{log}"
    );
    let expo = a.wait_value("new_total", 2.0, 20);
    assert!(
        !expo.contains("old_total"),
        "removed metric still exported:\n{expo}"
    );
    assert!(
        !expo.contains(r#"source="old""#),
        "removed source's series:\n{expo}"
    );
    assert!(
        expo.contains("# HELP app_records_total Log records.\n"),
        "{expo}"
    );
    assert_eq!(
        sample(&expo, "app_errors_total"),
        Some(3.0),
        "kept: same value"
    );
    assert_eq!(
        sample(&expo, r#"app_records_total{level="error"}"#),
        Some(0.0),
        "redefined: starts from 0"
    );
    assert_eq!(
        sample(&expo, "logpulse_config_last_reload_successful"),
        Some(1.0)
    );

    // The restarted source goes on from its offsets (nothing read again), with the new rules.
    append(&logs.join("app.log"), b"level=error msg=f\n");
    append(&logs.join("new.log"), b"b=3\n");
    a.wait_value("app_errors_total", 4.0, 20);
    let expo = a.wait_value(r#"app_records_total{level="error"}"#, 1.0, 20);
    assert_eq!(
        sample(&expo, r#"logpulse_lines_total{source="app"}"#),
        Some(6.0)
    );
    a.wait_value("new_total", 3.0, 20);

    // The unchanged source: every line once, none missed or doubled across the reload.
    let expo = a.wait_value(r#"logpulse_lines_total{source="web"}"#, written, 20);
    assert_eq!(
        sum(&expo, "http_requests_total", r#"source="web""#),
        written
    );
    std::thread::sleep(Duration::from_millis(600));
    let expo = a.scrape();
    assert_eq!(
        sample(&expo, r#"logpulse_lines_total{source="web"}"#),
        Some(written)
    );
    let log = a.log();
    assert!(!log.contains("ERROR"), "no error logged:\n{log}");
    common::promtool_check(&expo);

    // The checkpoint no longer names the removed source.
    let st = a.signal(15);
    assert!(st.success(), "{st}");
    let ck = std::fs::read_to_string(d.join("state/checkpoints.json")).expect("checkpoints");
    assert!(ck.contains("\"web\"") && ck.contains("\"new\""), "{ck}");
    assert!(!ck.contains("\"old\""), "{ck}");
}

#[test]
fn a_config_that_fails_validation_is_rejected_and_the_running_one_stays() {
    let (dir, cfg) = setup();
    let d = dir.path();
    let good = config(d, "Records.", &[]);
    std::fs::write(&cfg, &good).expect("config");
    let mut a = start(d, &["--config", &cfg.display().to_string()], &[]);
    let before = sample(
        &a.scrape(),
        "logpulse_config_last_reload_success_timestamp_seconds",
    )
    .expect("timestamp");
    assert!(before > 1.7e9, "set at start: {before}");

    // A bad value: rejected with its key.
    std::fs::write(&cfg, good.replace("app_errors_total", "app-errors")).expect("config");
    hup(&a);
    a.wait_value("logpulse_config_last_reload_successful", 0.0, 20);
    let log = wait_log(&a, "config not reloaded", 1);
    let file = cfg.display().to_string();
    assert!(
        log.contains(&format!("{file}: sources[1].metrics[1].name")),
        "{log}"
    );
    // A syntax error: rejected with its line.
    std::fs::write(
        &cfg,
        good.replace("    format: logfmt", "    formatt: logfmt"),
    )
    .expect("config");
    hup(&a);
    let log = wait_log(&a, "config not reloaded", 2);
    let last = log
        .lines()
        .rev()
        .find(|l| l.contains("config not reloaded"))
        .unwrap_or("");
    assert!(last.contains(&file) && last.contains("line"), "{last}");

    // The running config goes on.
    alive(&mut a);
    append(&d.join("logs/app.log"), b"level=error\nlevel=info\n");
    let expo = a.wait_value("app_errors_total", 1.0, 20);
    assert_eq!(
        sample(&expo, "logpulse_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &expo,
            "logpulse_config_last_reload_success_timestamp_seconds"
        ),
        Some(before),
        "no success since the start"
    );

    // Fixed: accepted.
    std::fs::write(&cfg, &good).expect("config");
    hup(&a);
    a.wait_value("logpulse_config_last_reload_successful", 1.0, 20);
    assert!(a
        .log()
        .contains("sources unchanged: web, app; started: none"));
}

#[test]
fn post_reload_needs_the_lifecycle_flag_and_passes_the_web_config_auth() {
    let (dir, cfg) = setup();
    let d = dir.path();
    let good = config(d, "Records.", &[]);
    std::fs::write(&cfg, &good).expect("config");
    let cfg_arg = cfg.display().to_string();
    let post = |port, method, c: &Client<'_>| {
        web::http_get(
            port,
            "/-/reload",
            &Client {
                method: Some(method),
                ..c.clone()
            },
        )
        .expect("request")
    };

    // Without --web.enable-lifecycle: refused as by Prometheus 2.42.
    let a = start(d, &["--config", &cfg_arg], &[]);
    for m in ["POST", "PUT"] {
        let r = post(a.port, m, &Client::default());
        assert_eq!(r.status, 403, "{m}");
        assert_eq!(r.body, "Lifecycle API is not enabled.\n");
    }
    let r = post(a.port, "GET", &Client::default());
    assert_eq!(
        (r.status, r.body.as_str()),
        (405, "Only POST or PUT requests allowed\n")
    );
    drop(a);

    // With it, behind basic auth.
    let web_yml = d.join("web.yml");
    std::fs::write(
        &web_yml,
        format!(
            "basic_auth_users:\n  prometheus: '{}'\n",
            bcrypt_hash("s3cret")
        ),
    )
    .expect("web.yml");
    let a = start(
        d,
        &[
            "--config",
            &cfg_arg,
            "--web.enable-lifecycle",
            "--web.config.file",
            &web_yml.display().to_string(),
        ],
        &[],
    );
    let auth = Client {
        basic: Some(("prometheus", "s3cret")),
        ..Client::default()
    };
    let scrape = || {
        web::http_get(a.port, "/metrics", &auth)
            .expect("scrape")
            .body
    };
    assert_eq!(
        sample(&scrape(), "logpulse_web_config_last_reload_successful"),
        Some(1.0)
    );
    std::fs::write(&cfg, config(d, "Records.", &["extra"])).expect("config");
    assert_eq!(post(a.port, "POST", &Client::default()).status, 401);
    assert!(
        !scrape().contains("extra_total"),
        "an unauthenticated reload did nothing"
    );
    let r = post(a.port, "POST", &auth);
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert!(scrape().contains("# TYPE extra_total counter"));

    std::fs::write(&cfg, good.replace("app_errors_total", "app-errors")).expect("config");
    let r = post(a.port, "PUT", &auth);
    assert_eq!(r.status, 500);
    assert!(
        r.body.starts_with(&format!(
            "failed to reload config: {cfg_arg}: sources[1].metrics[1].name"
        )),
        "{}",
        r.body
    );
    let expo = scrape();
    assert_eq!(
        sample(&expo, "logpulse_config_last_reload_successful"),
        Some(0.0)
    );
    assert!(expo.contains("extra_total"), "the running config stays");

    // A broken web config shows in its own metric (the last good one stays in force).
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&web_yml, "basic_auth_users:\n  prometheus: not-a-hash\n").expect("web.yml");
    wait_for(20, "the broken web config to be noticed", || {
        (sample(&scrape(), "logpulse_web_config_last_reload_successful") == Some(0.0)).then_some(())
    });
}

#[test]
fn sighup_no_longer_kills_the_agent() {
    // Regression: SIGHUP had its default action, exit 129 with nothing logged. With the
    // embedded config there is nothing to re-read: a success.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a = start(dir.path(), &[], &[("STATE_DIRECTORY", dir.path())]);
    for n in 1..=3 {
        hup(&a);
        wait_log(&a, "nothing to re-read", n);
    }
    alive(&mut a);
    let expo = a.scrape();
    assert_eq!(
        sample(&expo, "logpulse_config_last_reload_successful"),
        Some(1.0)
    );
    let st = a.signal(15);
    assert_eq!(st.code(), Some(0), "{st}");
}

#[test]
fn the_systemd_unit_reloads_with_sighup_and_verifies() {
    let unit =
        std::fs::read_to_string(common::root().join("deploy/logpulse.service")).expect("unit");
    assert!(
        unit.lines()
            .any(|l| l == "ExecReload=/bin/kill -HUP $MAINPID"),
        "{unit}"
    );
    // `systemd-analyze verify` checks every directive, and that the commands exist: point
    // them at the binary under test.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("logpulse.service");
    let bin = bin();
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/logpulse", &bin.display().to_string()),
    )
    .expect("copy");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze not found: run scripts/setup");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}

/// Regression: a `--config` replaced by a FIFO held the reload in open(2) for ever, with
/// nothing logged, and with it the shutdown: SIGTERM no longer ended the agent.
#[test]
fn a_config_replaced_by_a_fifo_is_refused_and_the_agent_still_stops() {
    let (dir, cfg) = setup();
    let d = dir.path();
    std::fs::write(&cfg, config(d, "Records.", &[])).expect("config");
    let a = start(d, &["--config", &cfg.display().to_string()], &[]);
    std::fs::remove_file(&cfg).expect("rm config");
    let st = Command::new("mkfifo").arg(&cfg).status().expect("mkfifo");
    assert!(st.success());
    hup(&a);
    a.wait_value("logpulse_config_last_reload_successful", 0.0, 20);
    let log = wait_log(&a, "not a regular file (a FIFO)", 1);
    assert!(log.contains(&cfg.display().to_string()), "{log}");
    a.signal(15);
}
