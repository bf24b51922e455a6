//! Parser throughput, per line. Data: `LOGPULSE_BENCH_ACCESS` / `LOGPULSE_BENCH_JSON` files if set
//! (e.g. from `gen_access_log.py --format combined_rt` / `--format json`), else 1000 synthetic
//! lines of the same shape generated here. Each iteration parses every line once; criterion's
//! "time" is per 1000 lines when the default data is used (see the throughput in elements/s).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logpulse::parse::{build, FormatSpec, Record};

const UAS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "GroupwareApp/4.2.1 (iOS 17.5; iPhone15,2)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
];
const PATHS: [&str; 5] = [
    "/mail/list",
    "/api/v1/board/items/",
    "/static/drive/app.css",
    "/login",
    "/api/v1/users/",
];
const REFS: [&str; 3] = [
    "-",
    "https://gw.example.co.kr/mail/list",
    "https://www.google.com/",
];
const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
const STATUS: [u16; 5] = [200, 200, 304, 404, 500];

fn synthetic(n: usize, json: bool) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |m: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m as u64) as usize
    };
    (0..n)
        .map(|_| {
            let ip = format!("{}.{}.{}.{}", 1 + next(223), next(256), next(256), 1 + next(254));
            let path = format!("{}{}", PATHS[next(PATHS.len())], next(999_999));
            let (m, st, size) = (METHODS[next(4)], STATUS[next(5)], next(50_000));
            let (r, ua, rt) = (REFS[next(3)], UAS[next(UAS.len())], next(2000) as f64 / 1000.0);
            let ts = "24/Nov/2025:16:00:00 +0000";
            if json {
                format!(
                    r#"{{"time":"{ts}","remote_addr":"{ip}","method":"{m}","uri":"{path}","status":{st},"body_bytes_sent":{size},"referer":"{r}","user_agent":"{ua}","request_time":{rt:.3}}}"#
                )
            } else {
                format!(r#"{ip} - - [{ts}] "{m} {path} HTTP/1.1" {st} {size} "{r}" "{ua}" {rt:.3}"#)
            }
            .into_bytes()
        })
        .collect()
}

fn load(var: &str, json: bool) -> Vec<Vec<u8>> {
    match std::env::var(var).ok().and_then(|p| std::fs::read(p).ok()) {
        Some(data) => data
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
        None => synthetic(1000, json),
    }
}

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
