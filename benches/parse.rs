//! Parser throughput, per line. Data: `LOGPULSE_BENCH_ACCESS` / `LOGPULSE_BENCH_JSON` files if set
//! (e.g. from `scripts/gen-access-log.py --format combined_rt` / `--format json`), else 1000 synthetic
//! lines of the same shape generated here. Each iteration parses every line once; criterion's
//! "time" is per 1000 lines when the default data is used (see the throughput in elements/s).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logpulse::parse::{build, FormatSpec, Record};

mod common;
use common::load;

fn bench_one(c: &mut Criterion, name: &str, spec: FormatSpec, fields: &[&str], lines: &[Vec<u8>]) {
    let mut p = build(&spec).expect("spec builds");
    for f in fields {
        assert!(p.field(f).is_some(), "{name}: field {f}");
    }
    let mut rec = Record::with_fields(p.field_count());
    // every line must parse: a bench of error paths would be meaningless
    for l in lines {
        rec.clear();
        p.parse(l, &mut rec)
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(l)));
    }
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            for l in lines {
                rec.clear();
                let _ = black_box(p.parse(black_box(l), &mut rec));
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let access = load("LOGPULSE_BENCH_ACCESS", false);
    let json = load("LOGPULSE_BENCH_JSON", true);
    let rules = [
        "method",
        "status",
        "uri",
        "bytes",
        "user_agent",
        "request_time",
    ];
    bench_one(c, "auto", FormatSpec::Auto, &rules, &access);
    bench_one(c, "combined", FormatSpec::Combined, &rules[..5], &access);
    let nginx = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;
    bench_one(
        c,
        "nginx_log_format",
        FormatSpec::Nginx(nginx.into()),
        &rules,
        &access,
    );
    bench_one(c, "json", FormatSpec::Json, &rules, &json);
    let re = r#"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]*)\] "(?P<method>\S+) (?P<uri>\S+) (?P<protocol>[^"]*)" (?P<status>\d+) (?P<bytes>\S+) "(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)" (?P<request_time>\S+)"#;
    bench_one(
        c,
        "regex_same_fields",
        FormatSpec::Regex(re.into()),
        &rules,
        &access,
    );
}

criterion_group!(parse, benches);
criterion_main!(parse);
