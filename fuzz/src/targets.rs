//! The fuzz targets' bodies, shared by the libFuzzer binaries (`fuzz/fuzz_targets/`) and by the
//! replay of kept inputs in `cargo test` (`tests/fuzz_regressions.rs`), which includes this file.
//!
//! Each takes arbitrary bytes and must not panic. Beyond that, each checks what a panic would
//! not show: parsers give the same fields when run twice and values no longer than the line;
//! the multiline joiner keeps its limits and, when nothing was cut, loses or adds no byte.

use std::cell::RefCell;
use std::collections::HashMap;

use logpulse::config::Config;
use logpulse::parse::{self, FormatSpec, Joiner, LineParser, Record};
use logpulse::rules::transform::route::{route as route_transform, RoutePattern};

/// A target: its name and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name: the directory names under `fuzz/seeds/` and `fuzz/regressions/`.
pub const TARGETS: &[Target] = &[
    ("access", access),
    ("nginx_log_format", nginx_log_format),
    ("json", json),
    ("logfmt", logfmt),
    ("regex", regex),
    ("syslog", syslog),
    ("nginx_error", nginx_error),
    ("apache_error", apache_error),
    ("java", java),
    ("pattern", pattern),
    ("haproxy", haproxy),
    ("proxy_json", proxy_json),
    ("auth_event", auth_event),
    ("multiline", multiline),
    ("route", route),
    ("config", config),
];

/// Parse `line` with `p` (after asking for `extra` fields and every known one) twice and check
/// that both runs agree.
fn check_parser(p: &mut dyn LineParser, extra: &[&str], line: &[u8]) {
    for name in extra {
        let _ = p.field(name);
    }
    for name in p.known_fields() {
        assert!(p.field(&name).is_some(), "known field {name:?} has no id");
    }
    // Callers strip the `\n` and a trailing `\r`; joined records keep inner `\n`s.
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let n = p.field_count();
    let mut rec = Record::with_fields(n);
    let first = p.parse(line, &mut rec).map(|()| {
        (0..n)
            .map(|id| rec.get(line, id).map(<[u8]>::to_vec))
            .collect::<Vec<_>>()
    });
    if let Ok(values) = &first {
        for v in values.iter().flatten() {
            assert!(v.len() <= line.len(), "a value longer than its line");
        }
    }
    rec.clear();
    let second = p.parse(line, &mut rec).map(|()| {
        (0..n)
            .map(|id| rec.get(line, id).map(<[u8]>::to_vec))
            .collect::<Vec<_>>()
    });
    assert_eq!(first, second, "two parses of one line differ");
}

fn build(spec: FormatSpec) -> Box<dyn LineParser> {
    parse::build(&spec).expect("a built-in format builds")
}

/// `auto`, `combined` or `common` (first byte), then the line.
pub fn access(data: &[u8]) {
    let Some((&mode, line)) = data.split_first() else {
        return;
    };
    let spec = match mode % 3 {
        0 => FormatSpec::Auto,
        1 => FormatSpec::Combined,
        _ => FormatSpec::Common,
    };
    check_parser(&mut *build(spec), &[], line);
}

/// An nginx `log_format` (up to the first `\n`), then a line in it.
pub fn nginx_log_format(data: &[u8]) {
    let (fmt, line) = match memchr_nl(data) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let fmt = String::from_utf8_lossy(fmt).into_owned();
    if let Ok(mut p) = parse::build(&FormatSpec::Nginx(fmt)) {
        check_parser(&mut *p, &["request_method", "status"], line);
    }
}

/// One JSON object per line.
pub fn json(data: &[u8]) {
    let fields = ["status", "msg", "a", "a.b", "a.b.c", "0", "x.0", "level"];
    check_parser(&mut *build(FormatSpec::Json), &fields, data);
}

/// logfmt.
pub fn logfmt(data: &[u8]) {
    let fields = ["status", "msg", "a", "level", "ts"];
    check_parser(&mut *build(FormatSpec::Logfmt), &fields, data);
}

/// A regex with optional and multi-line groups.
pub fn regex(data: &[u8]) {
    thread_local! {
        // Built once: compiling the regex would take most of each run.
        static PARSER: RefCell<Box<dyn LineParser>> = RefCell::new(build(FormatSpec::Regex(
            r"(?s)^(?P<ts>\S+) (?P<level>[A-Z]+)(?: \[(?P<thread>[^\]]*)\])? (?P<msg>.*?)(?:\n(?P<trace>.*))?$".into(),
        )));
    }
    PARSER.with(|p| check_parser(&mut **p.borrow_mut(), &[], data));
}

/// `syslog`, with structured-data fields asked for.
pub fn syslog(data: &[u8]) {
    let fields = ["sd.x@1.y", "sd.meta.note", "sd.a.b", "level"];
    check_parser(&mut *build(FormatSpec::Syslog), &fields, data);
}

/// `nginx_error`.
pub fn nginx_error(data: &[u8]) {
    check_parser(&mut *build(FormatSpec::NginxError), &[], data);
}

/// `apache_error`.
pub fn apache_error(data: &[u8]) {
    check_parser(&mut *build(FormatSpec::ApacheError), &[], data);
}

/// `java`.
pub fn java(data: &[u8]) {
    check_parser(&mut *build(FormatSpec::Java), &[], data);
}

/// A log4j / logback / log4j2 layout pattern (up to the first `\n`), then a record in it; its
/// built-in multiline rule, when it has one, must compile.
pub fn pattern(data: &[u8]) {
    let (pat, line) = match memchr_nl(data) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let spec = FormatSpec::Pattern(String::from_utf8_lossy(pat).into_owned());
    if let Ok(mut p) = parse::build(&spec) {
        check_parser(&mut *p, &["level", "message", "exception"], line);
        if let Some(m) = spec.default_multiline() {
            assert!(
                m.joiner().is_ok(),
                "a pattern's start rule does not compile: {:?}",
                m.start
            );
        }
    }
}

/// `haproxy`.
pub fn haproxy(data: &[u8]) {
    check_parser(&mut *build(FormatSpec::Haproxy), &[], data);
}

/// `traefik`, `caddy` or `envoy` (first byte), then the line; a mapped field and a raw key.
pub fn proxy_json(data: &[u8]) {
    let Some((&sel, line)) = data.split_first() else {
        return;
    };
    let spec = match sel % 3 {
        0 => FormatSpec::Traefik,
        1 => FormatSpec::Caddy,
        _ => FormatSpec::Envoy,
    };
    check_parser(&mut *build(spec), &["request_time", "a.b", "x"], line);
}

/// Syslog lines (one per `\n`) through the `auth` profile's derived fields, which follow the
/// records in order: every event has a count of at least one, never more than the line says.
pub fn auth_event(data: &[u8]) {
    let mut p = build(FormatSpec::Syslog);
    let event = p.field("auth_event").expect("auth_event");
    let count = p.field("auth_count").expect("auth_count");
    let mut rec = Record::with_fields(p.field_count());
    for line in data.split(|&b| b == b'\n') {
        rec.clear();
        if p.parse(line, &mut rec).is_err() {
            continue;
        }
        match (rec.get(line, event), rec.get(line, count)) {
            (None, None) => {}
            (Some(e), Some(n)) => {
                assert!(e == b"failure" || e == b"login", "event {e:?}");
                let n: u64 = std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .expect("a count is a number");
                assert!((1..=999_999 * 999_999).contains(&n), "count {n}");
            }
            other => panic!("event and count disagree: {other:?}"),
        }
    }
}

/// Joiners by start rule, `max_lines` and `max_bytes`.
type Joiners = HashMap<(String, usize, usize), Joiner>;

/// The joiner: byte 0 picks the start rule, bytes 1 and 2 the limits; the rest is lines.
pub fn multiline(data: &[u8]) {
    let [sel, lines_b, bytes_b, rest @ ..] = data else {
        return;
    };
    let start = match sel % 4 {
        0 => FormatSpec::Java.default_multiline(),
        1 => FormatSpec::Syslog.default_multiline(),
        2 => FormatSpec::NginxError.default_multiline(),
        _ => None,
    }
    .map_or_else(|| r"^\S".to_string(), |m| m.start);
    let max_lines = usize::from(lines_b % 8);
    let max_bytes = usize::from(*bytes_b);
    thread_local! {
        // One joiner per rule and limits, built once (compiling the rule would take most of
        // each run); each run ends with a flush, which leaves it as new.
        static JOINERS: RefCell<Joiners> = RefCell::default();
    }
    JOINERS.with(|js| {
        let mut js = js.borrow_mut();
        let j = js
            .entry((start.clone(), max_lines, max_bytes))
            .or_insert_with(|| Joiner::new(&start, max_lines, max_bytes).expect("rules compile"));
        join_checked(j, max_lines.max(1), max_bytes.max(1), rest);
    });
}

fn join_checked(j: &mut Joiner, max_lines: usize, max_bytes: usize, rest: &[u8]) {
    let truncated_before = j.truncated_records();
    let input: Vec<&[u8]> = rest.split(|&b| b == b'\n').collect();
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in &input {
        j.push(line, &mut |r| out.push(r.to_vec()));
    }
    j.flush(&mut |r| out.push(r.to_vec()));
    assert!(!j.has_pending());
    assert!(out.len() <= input.len());
    for r in &out {
        assert!(r.len() <= max_bytes, "record over max_bytes");
        assert!(
            r.iter().filter(|&&b| b == b'\n').count() < max_lines,
            "record over max_lines"
        );
    }
    if j.truncated_records() == truncated_before {
        assert_eq!(
            out.join(&b'\n'),
            input.join(&b'\n'),
            "joining lost or added bytes"
        );
    }
}

/// Route patterns (one per line), then a URI on the last line.
pub fn route(data: &[u8]) {
    let mut parts: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let uri = parts.pop().unwrap_or_default();
    let patterns: Vec<RoutePattern> = parts
        .iter()
        .filter_map(|p| RoutePattern::new(&String::from_utf8_lossy(p)).ok())
        .collect();
    let mut out = Vec::new();
    route_transform(uri, &patterns, &mut out);
    assert!(!out.is_empty(), "empty route");
}

/// A whole config file.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_yaml(text, "fuzz.yml");
    }
}

fn memchr_nl(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == b'\n')
}
