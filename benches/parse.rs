//! Parser throughput, per line. Data: `LOGPULSE_BENCH_ACCESS` / `LOGPULSE_BENCH_JSON` files if set
//! (e.g. from `scripts/gen-access-log.py --format combined_rt` / `--format json`), else 1000 synthetic
//! lines of the same shape generated here. Each iteration parses every line once; criterion's
//! "time" is per 1000 lines when the default data is used (see the throughput in elements/s).
//! The application and system formats (`syslog`, `nginx_error`, `apache_error`, `java`) are
//! measured on 1000 synthetic lines each, a few layouts mixed (`java` with stack traces).

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

/// 1000 lines of an application or system log format, a few layouts mixed.
fn app_lines(layouts: &[&str]) -> Vec<Vec<u8>> {
    (0..1000)
        .map(|i| {
            let t = layouts[i % layouts.len()];
            t.replace("{i}", &i.to_string())
                .replace("{s}", &format!("{:02}", i % 60))
                .into_bytes()
        })
        .collect()
}

fn app_benches(c: &mut Criterion) {
    let syslog = app_lines(&[
        "Nov 27 10:00:{s} web1 sshd[{i}]: Failed password for root from 203.0.113.9 port 4{i} ssh2",
        "<86>Nov  3 10:00:{s} web1 sshd(pam_unix)[{i}]: authentication failure; logname= uid=0 rhost=203.0.113.9 user=root",
        "2026-11-27T10:00:{s}.203151+02:00 db1 CRON[{i}]: (root) CMD (run-parts /etc/cron.hourly)",
        "<165>1 2026-11-27T10:00:{s}.003Z fw1 evntslog {i} ID47 [ex@32473 iut=\"3\" eventSource=\"App\"] An event {i}",
    ]);
    let fields = ["service", "severity", "message", "sd.ex@32473.eventSource"];
    bench_one(c, "syslog", FormatSpec::Syslog, &fields, &syslog);
    let nginx_error = app_lines(&[
        "2026/11/27 10:00:{s} [error] 31#31: *{i} connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.8, server: shop.example, request: \"POST /api/orders/{i} HTTP/1.1\", upstream: \"http://10.0.0.5:8080/api/orders/{i}\", host: \"shop.example\"",
        "2026/11/27 10:00:{s} [notice] 1#1: signal {i} received",
    ]);
    let fields = ["level", "message", "request_method", "upstream"];
    bench_one(
        c,
        "nginx_error",
        FormatSpec::NginxError,
        &fields,
        &nginx_error,
    );
    let apache_error = app_lines(&[
        "[Fri Nov 27 06:58:{s}.169510 2026] [proxy_fcgi:error] [pid {i}:tid 140413273032448] [client 198.51.100.4:5{i}] AH01071: Got error 'Primary script unknown'",
        "[Wed Nov 25 10:00:{s} 2026] [error] [client 203.0.113.7] File does not exist: /var/www/{i}.ico, referer: http://shop.example/",
    ]);
    let fields = ["module", "level", "client", "code"];
    bench_one(
        c,
        "apache_error",
        FormatSpec::ApacheError,
        &fields,
        &apache_error,
    );
    let java = app_lines(&[
        "2026-11-27 10:00:{s}.101  INFO 4242 --- [nio-8080-exec-1] c.e.shop.order.OrderController           : order {i} created",
        "2026-11-27T10:00:{s}.505+09:00 ERROR 4243 --- [shop] [   scheduling-1] c.e.shop.drive.QuotaJob : sync {i} failed\njava.io.UncheckedIOException: java.io.IOException: reset\n\tat com.example.shop.drive.QuotaJob.run(QuotaJob.java:31)\nCaused by: java.io.IOException: reset\n\t... 5 more",
        "10:00:{s}.707 [pool-2-thread-1] WARN  c.e.shop.batch.Importer - skipped row {i}",
    ]);
    let fields = ["level", "logger", "exception", "root_cause"];
    bench_one(c, "java", FormatSpec::Java, &fields, &java);
}

criterion_group!(parse, benches, app_benches);
criterion_main!(parse);
