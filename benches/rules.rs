//! Per-line cost of [`SourceRules::apply`]: parse, conditions, label values, series lookup and
//! atomic updates, for
//!
//! - `http_profile`: `format: auto` + `profile: http` (4 metrics, route normalisation, device
//!   classification), what the default config does to an nginx access log;
//! - `equivalent`: `benches/equivalent.yml`, the rules `scripts/bench-vs-mtail` runs against mtail
//!   (requests by method and status, bytes by status, duration histogram by method).
//!
//! `*_exemplar_every_pass` runs the same lines with the clock a second further each pass (the
//! worst case for exemplars, which are taken at most once a second per series and bucket).
//!
//! Data: the file named by `LOGPULSE_BENCH_ACCESS` (`combined_rt` lines), else 1000 synthetic lines.
//! Criterion's time is per pass over all lines; the throughput line gives lines per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logpulse::config::Config;
use logpulse::rules::SourceRules;
use logpulse::store::Store;

mod common;
use common::load;

const HTTP_PROFILE: &str = r#"
sources:
  - name: web
    paths: [/dev/null]
    format: auto
    profile: http
"#;

fn bench_config(c: &mut Criterion, name: &str, yaml: &str, lines: &[Vec<u8>]) {
    let cfg = Config::from_yaml(yaml, name).expect("bench config is valid");
    let store = Store::new();
    let mut rules = SourceRules::compile(&cfg, 0, &store).expect("bench rules compile");
    // Every line must parse and update every metric, or the bench measures error paths.
    for l in lines {
        let n = rules
            .apply(l)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(l)));
        assert!(
            n >= 3,
            "{name}: only {n} updates for {}",
            String::from_utf8_lossy(l)
        );
    }
    let mut g = c.benchmark_group("rules");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            for l in lines {
                let _ = black_box(rules.apply(black_box(l)));
            }
        })
    });
    // Worst case for exemplars: the clock moves a second before every pass, so every
    // exemplar slot touched in a pass takes a new exemplar (formats a line reference, locks,
    // copies) once per 1000 lines, where in steady state it is once a second.
    let mut now = logpulse::store::now_secs();
    g.bench_function(format!("{name}_exemplar_every_pass"), |b| {
        b.iter(|| {
            now += 1;
            rules.set_now(now);
            for l in lines {
                let _ = black_box(rules.apply(black_box(l)));
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let access = load("LOGPULSE_BENCH_ACCESS", false);
    bench_config(c, "http_profile", HTTP_PROFILE, &access);
    let equivalent = include_str!("equivalent.yml");
    bench_config(c, "equivalent", equivalent, &access);
}

criterion_group!(rules, benches);
criterion_main!(rules);
