//! Memory of the line view at its cap: the bytes the store counts against its caps, beside the
//! heap it really holds (a counting allocator) and the growth of the process's resident memory.
//!
//! `cargo bench --bench lines` fills every source of the default settings (1 MiB per source,
//! 8 MiB in all: 8 sources) with 5xx lines of a realistic shape (an access line with a query
//! string, a browser user agent, about 250 bytes) through the `http` profile's rules, well past
//! the cap so eviction runs, and prints the figures. Not a timing benchmark: the per-line cost
//! of deciding and keeping is measured with callgrind (docs/lines.md#cost).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use logpulse::config::Config;
use logpulse::rules::SourceRules;
use logpulse::store::lines::{Budget, FieldNames, Limits, LineStore};
use logpulse::store::Store;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

const SOURCES: usize = 8;
const LINES_PER_SOURCE: usize = 20_000;

fn line(i: usize) -> Vec<u8> {
    format!(
        r#"203.0.113.{} - - [27/Nov/2026:10:{:02}:{:02} +0900] "POST /api/v1/approval/items/{}?draft=1&token=c0ffee{i:06} HTTP/1.1" 503 {} "https://gw.example.co.kr/approval/list" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36" 0.{:03}"#,
        i % 250,
        i / 60 % 60,
        i % 60,
        100_000 + i,
        200 + i % 5000,
        i % 1000,
    )
    .into_bytes()
}

fn main() {
    let mut yaml = String::from("sources:\n");
    for s in 0..SOURCES {
        yaml += &format!("  - {{name: web{s}, paths: [/dev/null], format: auto, profile: http}}\n");
    }
    let cfg = Config::from_yaml(&yaml, "bench").expect("bench config");
    let g = &cfg.global.lines;
    let store = Store::new();
    let mut rules: Vec<SourceRules> = (0..SOURCES)
        .map(|i| SourceRules::compile(&cfg, i, &store).expect("rules"))
        .collect();
    let lines: Vec<Vec<u8>> = (0..LINES_PER_SOURCE).map(line).collect();
    let path = std::path::Path::new("/var/log/nginx/access.log");
    // Warm the rules (route memo, device memo, series) before the baseline.
    for r in &mut rules {
        for l in lines.iter().take(1000) {
            r.apply(l).expect("parses");
        }
    }
    let (heap0, rss0) = (LIVE.load(Ordering::Relaxed), rss_bytes());
    let limits = Limits {
        max_bytes: g.max_bytes,
        max_line_bytes: g.max_line_bytes,
        allow_unauthenticated: false,
    };
    let ls = LineStore::new(limits, &g.redact, &store);
    for (i, r) in rules.iter_mut().enumerate() {
        let v = &cfg.sources[i].lines;
        let names = FieldNames {
            names: v.fields.iter().map(|l| l.name.as_str().into()).collect(),
            exemplar: v.exemplar,
        };
        let sink = ls
            .source(
                &cfg.sources[i].name,
                Budget::split(v.max_bytes, !v.keep.is_empty(), v.unparsed),
                names,
            )
            .expect("enabled");
        r.keep_lines(v, sink);
        r.set_file(path);
    }
    for r in &mut rules {
        for l in &lines {
            r.apply(l).expect("parses");
        }
    }
    let heap = LIVE.load(Ordering::Relaxed) - heap0;
    let rss = rss_bytes().saturating_sub(rss0);
    let held = ls
        .query(&logpulse::store::lines::Query {
            limit: 0,
            ..Default::default()
        })
        .matched;
    let counted = ls.total_bytes();
    println!(
        "line view at its cap: {SOURCES} sources x {LINES_PER_SOURCE} kept lines of {} bytes",
        lines[0].len()
    );
    println!(
        "  caps: {} bytes per source, {} in all",
        g.max_bytes_per_source, g.max_bytes
    );
    println!(
        "  lines held: {held} ({} per source), counted bytes: {counted} ({:.0} per line)",
        held / SOURCES,
        counted as f64 / held as f64
    );
    println!(
        "  live heap: {heap} bytes ({:.3} x counted); resident memory grew {rss} bytes ({:.3} x counted)",
        heap as f64 / counted as f64,
        rss as f64 / counted as f64
    );
    assert!(counted <= g.max_bytes, "over the cap");
}
