//! Cost of rendering `/metrics` (Prometheus text format) from a store of 50,000 series:
//! 40,000 counter series (`http_requests_total{source,method,status,route}`) and 10,000
//! histogram series with 11 buckets (`http_request_duration_seconds{source,method,route}`),
//! about 200,000 sample lines, all with non-zero values. The target is well under 100 ms.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logpulse::export::{encode, Format};
use logpulse::store::{push_label, Desc, Kind, Label, Store};

const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn store() -> (Store, usize) {
    let store = Store::new();
    let desc = |name: &str, kind, labels: &[&str], buckets: &[f64]| Desc {
        name: name.into(),
        help: format!("{name} help text."),
        kind,
        labels: labels.iter().map(|l| Label::unbounded(*l)).collect(),
        buckets: buckets.to_vec(),
    };
    let requests = store
        .register(
            desc(
                "http_requests_total",
                Kind::Counter,
                &["source", "method", "status", "route"],
                &[],
            ),
            usize::MAX,
        )
        .expect("registers");
    let durations = store
        .register(
            desc(
                "http_request_duration_seconds",
                Kind::Histogram,
                &["source", "method", "route"],
                &BUCKETS,
            ),
            usize::MAX,
        )
        .expect("registers");
    let mut series = 0;
    let mut key = Vec::new();
    for route in 0..2500 {
        let route = format!("/api/v{}/tenant{}/items/:id", route % 3, route);
        for (m, method) in ["GET", "POST", "PUT", "DELETE"].iter().enumerate() {
            for status in ["200", "304", "404", "500"] {
                key.clear();
                for v in ["web", method, status, &route] {
                    push_label(&mut key, v.as_bytes());
                }
                requests.declare(&key).add(1234.0 + m as f64);
                series += 1;
            }
            key.clear();
            for v in ["web", method, &route] {
                push_label(&mut key, v.as_bytes());
            }
            let h = durations.declare(&key);
            for i in 0..20 {
                h.observe(&BUCKETS, f64::from(i) * 0.137);
            }
            series += 1;
        }
    }
    (store, series)
}

fn benches(c: &mut Criterion) {
    let (store, series) = store();
    let mut out = String::new();
    encode(Format::Text, &[&store], &mut out);
    let size = out.len();
    let samples = out.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!("scrape: {series} series, {samples} samples, {size} bytes");
    let mut g = c.benchmark_group("scrape");
    g.throughput(Throughput::Elements(series as u64));
    g.sample_size(20);
    g.bench_function("render_50k_series", |b| {
        b.iter(|| {
            // A fresh String per scrape, as the exporter does.
            let mut out = String::new();
            encode(Format::Text, &[&store], &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(scrape, benches);
criterion_main!(scrape);
