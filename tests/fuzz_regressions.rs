//! Replays the inputs kept for the fuzz targets through the very code `cargo fuzz` runs
//! (`fuzz/src/targets.rs`): the seeds (`fuzz/seeds/TARGET/`) and every input a fuzzer found to
//! crash (`fuzz/regressions/TARGET/`), so that a fixed crash stays fixed in `cargo test`,
//! without libFuzzer or nightly flags. See `fuzz/README.md`.

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn fuzz_seeds_and_regressions_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for (name, run) in targets::TARGETS {
        let mut seeds = 0;
        for dir in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("read fuzz input dir").path();
                let data = std::fs::read(&path).expect("read fuzz input");
                if std::panic::catch_unwind(|| run(&data)).is_err() {
                    failures.push(path.display().to_string());
                }
                seeds += usize::from(dir == "seeds");
            }
        }
        assert!(
            seeds > 0,
            "fuzz target {name} has no seed in fuzz/seeds/{name}"
        );
    }
    assert!(
        failures.is_empty(),
        "kept fuzz inputs that fail: {failures:?}"
    );
}

#[test]
fn every_fuzz_target_has_a_binary() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .expect("read fuzz/Cargo.toml");
    for (name, _) in targets::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] for target {name}"
        );
    }
}
