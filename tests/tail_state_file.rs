//! The checkpoint file is input too: whatever sits at `STATE_DIR/checkpoints.json` (a symlink
//! to `/dev/zero`, a FIFO, a huge file), the agent reads a bounded number of bytes from a
//! regular file only, says which file is wrong and why, counts it, and starts as on a first run
//! (as for a corrupt file); its first save replaces the bad file.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{access_line, sample, Agent};

const LINES: &str = "logpulse_lines_total{source=\"web\"}";
const ERRORS: &str = "logpulse_checkpoint_errors_total";

/// Start the agent with `plant` put at the checkpoint file's place; expect it up, the error
/// logged naming the file (with `why` in the message), counted, the log read from the start,
/// and a regular checkpoint file after a scrape.
fn starts_anyway(plant: impl FnOnce(&Path), why: &str) {
    let (dir, cp, a) = start_with(plant);
    let expo = a.wait_value(LINES, 5.0, 20);
    assert_eq!(sample(&expo, ERRORS), Some(1.0), "counted\n{}", a.log());
    let agent_log = a.log();
    let named = agent_log
        .lines()
        .find(|l| l.contains(&cp.display().to_string()) && l.contains(why));
    assert!(
        named.is_some(),
        "no error naming {} with {why:?}:\n{agent_log}",
        cp.display()
    );
    assert!(
        named.is_some_and(|l| l.contains("ERROR") && l.contains("without checkpoints")),
        "{named:?}"
    );
    let md = fs::symlink_metadata(&cp).expect("stat checkpoint file");
    assert!(md.is_file(), "replaced by a regular file: {md:?}");
    let rss_kb = peak_rss_kb(&a);
    assert!(rss_kb < 200_000, "peak RSS {rss_kb} kB");
    drop(dir);
}

/// The agent's peak resident memory so far (VmHWM).
fn peak_rss_kb(a: &Agent) -> u64 {
    let status = fs::read_to_string(format!("/proc/{}/status", a.child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Start the agent on five access lines with `plant` put at the checkpoint file's place.
fn start_with(plant: impl FnOnce(&Path)) -> (tempfile::TempDir, std::path::PathBuf, Agent) {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let state = dir.path().join("state");
    fs::create_dir(&state).expect("mkdir");
    let cp = state.join("checkpoints.json");
    plant(&cp);
    let log = dir.path().join("access.log");
    let text: String = (0..5).map(|i| access_line(i, "GET", "/", 200)).collect();
    fs::write(&log, text).expect("write log");
    let cfg = dir.path().join("logpulse.yml");
    fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {}\nsources:\n  - name: web\n    paths: ['{}']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            state.display(),
            log.display()
        ),
    )
    .expect("write config");
    // Up within Agent::start's 20 s, whatever the file is.
    let a = Agent::start(&cfg, dir.path());
    (dir, cp, a)
}

#[test]
fn a_checkpoint_symlink_to_dev_zero_is_refused() {
    starts_anyway(
        |cp| symlink("/dev/zero", cp).expect("symlink"),
        "not a regular file",
    );
}

#[test]
fn a_checkpoint_fifo_does_not_block_start_up() {
    starts_anyway(
        |cp| {
            let st = Command::new("mkfifo").arg(cp).status().expect("mkfifo");
            assert!(st.success());
            assert!(fs::symlink_metadata(cp)
                .expect("stat")
                .file_type()
                .is_fifo());
        },
        "not a regular file",
    );
}

#[test]
fn a_huge_checkpoint_file_is_not_read() {
    starts_anyway(
        |cp| {
            // Sparse: no disk used.
            let f = fs::File::create(cp).expect("create");
            f.set_len(1 << 30).expect("set_len");
        },
        "larger than",
    );
}

/// Regression: the values saved with the offsets were read into a JSON tree first: a 60 MB
/// file of six million values (under the size cap) took 2.3 GB, one million 400 MB.
/// Now each value is restored as it is read.
#[test]
fn millions_of_saved_values_are_restored_in_bounded_memory() {
    const VALUES: usize = 1_000_000;
    let (_dir, cp, a) = start_with(|cp| {
        let mut text = String::with_capacity(VALUES * 16 + 64);
        text.push_str(r#"{"version":2,"sources":{},"extra":{"gone_total":["#);
        for i in 0..VALUES {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!(r#"[["{}"],1]"#, i % 1000));
        }
        text.push_str("]}}");
        fs::write(cp, text).expect("write checkpoint");
    });
    let expo = a.wait_value(LINES, 5.0, 60);
    assert_eq!(
        sample(&expo, ERRORS),
        Some(0.0),
        "a valid file\n{}",
        a.log()
    );
    let log = a.log();
    assert!(
        log.lines().any(|l| l.contains(&cp.display().to_string())
            && l.contains(&format!("{VALUES} saved values of metric \"gone_total\""))),
        "the dropped values are reported:\n{log}"
    );
    let rss_kb = peak_rss_kb(&a);
    eprintln!("peak RSS with {VALUES} saved values: {rss_kb} kB");
    assert!(rss_kb < 200_000, "peak RSS {rss_kb} kB");
}
