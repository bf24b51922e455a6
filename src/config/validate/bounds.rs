//! Can log content give a label new values, and by which path? `check`'s warnings about
//! unbounded labels.
//!
//! A label is open when it is not bounded by construction ([`Label::bounded`]) and has no
//! normalising transform (a route is open by design and normalised). Its values then come from
//! the log: a field (a regex format's named capture, a json/logfmt key, a column of an access
//! or error log), a template of fields, or a label `regex` extraction. The path is bounded
//! when what feeds it is: a capture group (of the format's regex or of the label's) that can
//! match at most `series_limit` distinct strings (`(?P<level>INFO|WARN|ERROR)`, `(\d{3})`), or
//! a field the parser derives from a fixed set (syslog's names from `<PRI>`). Anything else is
//! warned about, naming the path, so that `rhost` captured by `(?P<rhost>\S+)` does not slip
//! through where `remote_addr` would be caught.

use std::collections::HashMap;

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::config::model::Label;
use crate::config::raw::RawLabelFull;
use crate::parse::{canonical_field_name, FormatSpec};
use crate::rules::transform::Transform;

/// Fields whose values are unbounded by nature, with what they hold (for the message): the
/// fields of the built-in formats (access logs, `syslog`, `nginx_error`, `apache_error`, `java`;
/// docs/formats.md) and the usual names in json and logfmt logs. Any other open field is
/// warned about too, only less specifically; see also [`SUFFIXES`] and `sd.*`.
const NATURE: &[(&str, &str)] = &[
    ("remote_addr", "client IP"),
    ("http_x_forwarded_for", "client IP list"),
    ("http_x_real_ip", "client IP"),
    ("realip_remote_addr", "client IP"),
    ("ip", "client IP"),
    ("client", "client IP"),
    ("client_ip", "client IP"),
    ("rhost", "client host"),
    ("host", "host name"),
    ("hostname", "host name"),
    ("server", "server name"),
    ("server_name", "server name"),
    ("request", "raw request line"),
    ("request_uri", "raw URI with query"),
    ("args", "query string"),
    ("query_string", "query string"),
    ("http_user_agent", "user agent"),
    ("http_referer", "referer URL"),
    ("http_cookie", "cookies"),
    ("time_local", "timestamp"),
    ("time_iso8601", "timestamp"),
    ("time", "timestamp"),
    ("timestamp", "timestamp"),
    ("ts", "timestamp"),
    ("msec", "timestamp"),
    ("request_time", "duration"),
    ("upstream_response_time", "duration"),
    ("upstream_connect_time", "duration"),
    ("upstream_header_time", "duration"),
    ("duration", "duration"),
    ("latency", "duration"),
    ("body_bytes_sent", "byte count"),
    ("bytes_sent", "byte count"),
    ("request_length", "byte count"),
    ("upstream", "upstream address"),
    ("upstream_addr", "upstream address"),
    ("request_id", "request id"),
    ("http_x_request_id", "request id"),
    ("x_request_id", "request id"),
    ("req_id", "request id"),
    ("reqid", "request id"),
    ("correlation_id", "correlation id"),
    ("trace_id", "trace id"),
    ("traceid", "trace id"),
    ("http_traceparent", "trace context"),
    ("traceparent", "trace context"),
    ("span_id", "span id"),
    ("spanid", "span id"),
    ("session_id", "session id"),
    ("user", "user name"),
    ("remote_user", "user name"),
    ("username", "user name"),
    ("user_id", "user id"),
    ("uid", "user id"),
    ("pid", "process id"),
    ("procid", "process id"),
    ("tid", "thread id"),
    ("thread", "thread name"),
    ("connection", "connection serial number"),
    ("cid", "connection serial number"),
    ("connection_requests", "request count"),
    ("client_port", "client port"),
    ("remote_port", "client port"),
    ("structured_data", "raw structured data"),
    ("msgid", "message id"),
    ("prefix", "source location or status text"),
    ("message", "free text"),
    ("msg", "free text"),
    ("exception", "exception text"),
    ("root_cause", "exception text"),
    ("error", "free text"),
    ("err", "free text"),
];

/// Name endings that say what an unbounded field holds, for names not in [`NATURE`]
/// (`order_id`, `upstream_port`, `peer_addr`).
const SUFFIXES: &[(&str, &str)] = &[
    ("_id", "an id"),
    ("_uuid", "an id"),
    ("_port", "a port number"),
    ("_addr", "an address"),
    ("_ip", "an IP address"),
    ("_time", "a time or duration"),
    ("_bytes", "a byte count"),
];

/// What field `field` holds when its name tells (for the warning).
fn nature(field: &str) -> Option<&'static str> {
    let f = canonical(field);
    NATURE
        .iter()
        .find(|(n, _)| *n == f)
        .or_else(|| SUFFIXES.iter().find(|(end, _)| f.ends_with(end)))
        .map(|(_, what)| *what)
        .or_else(|| f.starts_with("sd.").then_some("structured data parameter"))
}

/// Fields of the built-in formats that the writing software fills from a small vocabulary of
/// its own, which content passing through (a URI, a user name, a message) cannot choose:
/// syslog's names derived from `<PRI>`, the level of error logs, Apache's module and `AH` code.
const VOCABULARY: &[(&str, &[&str])] = &[
    (
        "syslog",
        &["priority", "facility", "severity", "level", "version"],
    ),
    ("nginx_error", &["level"]),
    ("apache_error", &["level", "module", "code"]),
    ("java", &["level"]),
    ("pattern", &["level"]),
];

/// What the format tells about its fields' values.
pub(super) struct Bounds {
    format: &'static str,
    /// A regex format's named captures and their patterns.
    captures: HashMap<String, Hir>,
}

impl Bounds {
    pub(super) fn new(spec: &FormatSpec) -> Bounds {
        let mut captures = HashMap::new();
        let format = match spec {
            FormatSpec::Regex(re) => {
                if let Some(hir) = parse(re) {
                    for (name, sub) in named_groups(&hir) {
                        captures.insert(name, sub.clone());
                    }
                }
                "regex"
            }
            FormatSpec::Json => "json",
            FormatSpec::Logfmt => "logfmt",
            FormatSpec::Syslog => "syslog",
            FormatSpec::Java => "java",
            FormatSpec::Pattern(_) => "pattern",
            FormatSpec::Haproxy => "haproxy",
            FormatSpec::Traefik => "traefik",
            FormatSpec::Caddy => "caddy",
            FormatSpec::Envoy => "envoy",
            FormatSpec::NginxError => "nginx_error",
            FormatSpec::ApacheError => "apache_error",
            FormatSpec::Nginx(_) => "nginx",
            FormatSpec::Auto | FormatSpec::Combined | FormatSpec::Common => "access log",
        };
        Bounds { format, captures }
    }

    /// What bounds `field`'s values.
    fn field(&self, field: &str, limit: u128) -> Path {
        if VOCABULARY
            .iter()
            .any(|(f, names)| *f == self.format && names.contains(&canonical(field)))
        {
            return Path::Decided;
        }
        if let Some(sub) = self.captures.get(field) {
            return match size(sub, limit) {
                Some(n) => Path::Bounded(n),
                None => Path::Open(format!(
                    "from the format's capture group `{field}`, which matches too many strings"
                )),
            };
        }
        Path::Open(match nature(field) {
            Some(what) => format!("from field {field:?} ({what})"),
            None => format!("from {} field {field:?}", self.format),
        })
    }

    /// What bounds `label` (checked from `spec`), given the series limit.
    pub(super) fn label(&self, spec: &RawLabelFull, label: &Label, limit: usize) -> Path {
        let lim = limit as u128;
        if label.bounded() || label.transform.as_ref().is_some_and(normalises) {
            return Path::Decided;
        }
        let path = if let Some(re) = &spec.regex {
            let rep = spec.replacement.as_deref().unwrap_or("$1");
            let Some(hir) = parse(re) else {
                return Path::Decided;
            };
            let mut open = Vec::new();
            let mut n: u128 = 1;
            for g in references(rep) {
                match group(&hir, &g).map(|sub| size(sub, lim)) {
                    Some(Some(k)) => n = n.saturating_mul(k),
                    Some(None) => open.push(format!("${g}")),
                    None => {}
                }
            }
            if !open.is_empty() {
                Path::Open(format!(
                    "through its regex ({} of `{re}` matches too many strings)",
                    open.join(", ")
                ))
            } else if n > lim {
                Path::Open(format!(
                    "through its regex (the groups of `{re}` together match too many strings)"
                ))
            } else {
                Path::Bounded(n)
            }
        } else if let Some(t) = &spec.template {
            let mut open = Vec::new();
            let mut n: u128 = 1;
            let mut decided = false;
            for f in template_fields(t) {
                match self.field(f, lim) {
                    Path::Open(d) => open.push(d),
                    Path::Bounded(k) => n = n.saturating_mul(k),
                    Path::Decided => decided = true,
                }
            }
            if !open.is_empty() || n > lim {
                Path::Open(format!("through template {t:?}: {}", open.join("; ")))
            } else if decided {
                Path::Decided
            } else {
                Path::Bounded(n)
            }
        } else {
            match &spec.field {
                Some(f) => self.field(f, lim),
                None => Path::Decided,
            }
        };
        match (path, &spec.map) {
            (Path::Open(p), Some(_)) => Path::Open(format!(
                "{p} (a `map` without `default` passes other values through)"
            )),
            // Mapped values are replaced, the others pass: at most one more value per entry.
            (Path::Bounded(n), Some(m)) => Path::Bounded(n.saturating_add(m.len() as u128)),
            (p, _) => p,
        }
    }
}

/// What bounds a label's values.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Path {
    /// Another step decides (a constant, `values`, a `map` with a `default`, a transform), or
    /// the field is the writing software's vocabulary: nothing to add.
    Decided,
    /// The regex groups feeding it match at most this many strings.
    Bounded(u128),
    /// Log content chooses its values: from where (for the warning).
    Open(String),
}

fn canonical(field: &str) -> &str {
    canonical_field_name(field)
}

/// Transforms that normalise an open input into a usable label (a route), as opposed to
/// `lower`, which only changes case.
fn normalises(t: &Transform) -> bool {
    !matches!(t, Transform::Lower)
}

/// The regex as the regex crate's parser sees it (`None` if it does not parse: validation
/// reports that elsewhere).
fn parse(re: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(re)
        .ok()
}

/// Every named capture group with its pattern.
fn named_groups(hir: &Hir) -> Vec<(String, &Hir)> {
    let mut out = Vec::new();
    walk(hir, &mut |h| {
        if let HirKind::Capture(c) = h.kind() {
            if let Some(n) = &c.name {
                out.push((n.to_string(), &*c.sub));
            }
        }
    });
    out
}

fn walk<'a>(hir: &'a Hir, f: &mut impl FnMut(&'a Hir)) {
    f(hir);
    match hir.kind() {
        HirKind::Repetition(r) => walk(&r.sub, f),
        HirKind::Capture(c) => walk(&c.sub, f),
        HirKind::Concat(xs) | HirKind::Alternation(xs) => xs.iter().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// The group a replacement reference names (`0`, `1`, `name`); `None` for a group that does
/// not exist (it expands to nothing).
fn group<'a>(hir: &'a Hir, reference: &str) -> Option<&'a Hir> {
    if reference == "0" {
        return Some(hir);
    }
    let index: Option<u32> = reference.parse().ok();
    let mut found = None;
    walk(hir, &mut |h| {
        if let HirKind::Capture(c) = h.kind() {
            let hit = match index {
                Some(i) => c.index == i,
                None => c.name.as_deref() == Some(reference),
            };
            if hit && found.is_none() {
                found = Some(&*c.sub);
            }
        }
    });
    found
}

/// The groups a replacement refers to, as the regex crate expands it: `$1`, `${1}`, `$name`,
/// `${name}` (the longest run of `[_0-9A-Za-z]`), `$$` for a dollar.
fn references(rep: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = rep;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            if let Some(end) = r.find('}') {
                out.push(r[..end].to_string());
                rest = &r[end + 1..];
            }
        } else {
            let end = rest
                .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .unwrap_or(rest.len());
            if end > 0 {
                out.push(rest[..end].to_string());
            }
            rest = &rest[end..];
        }
    }
    out
}

/// The `{field}` names of a label template.
fn template_fields(t: &str) -> impl Iterator<Item = &str> {
    t.split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(f, _)| f))
}

/// How many distinct strings `hir` can match, when that is at most `limit`.
fn size(hir: &Hir, limit: u128) -> Option<u128> {
    let n = match hir.kind() {
        HirKind::Empty | HirKind::Literal(_) | HirKind::Look(_) => 1,
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| u128::from(r.end()) - u128::from(r.start()) + 1)
            .sum(),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .map(|r| u128::from(r.end()) - u128::from(r.start()) + 1)
            .sum(),
        HirKind::Capture(c) => size(&c.sub, limit)?,
        HirKind::Concat(xs) => xs.iter().try_fold(1u128, |acc, x| {
            let n = acc.checked_mul(size(x, limit)?)?;
            (n <= limit).then_some(n)
        })?,
        HirKind::Alternation(xs) => xs
            .iter()
            .try_fold(0u128, |acc, x| acc.checked_add(size(x, limit)?))?,
        HirKind::Repetition(r) => {
            let sub = size(&r.sub, limit)?;
            if matches!(r.sub.kind(), HirKind::Empty) {
                1
            } else {
                // One string per length when the group is a single string; `max: None` is `*`/`+`.
                let max = r.max?;
                let mut total = 0u128;
                let mut pow = sub.checked_pow(r.min)?;
                for _ in r.min..=max {
                    total = total.checked_add(pow)?;
                    if total > limit {
                        return None;
                    }
                    pow = pow.checked_mul(sub)?;
                }
                total
            }
        }
    };
    (n <= limit).then_some(n)
}

/// The warning for one open label, at every key where the same spec appears.
pub(super) fn warning(keys: &[String], name: &str, path: &str, limit: usize) -> String {
    let at = match keys {
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {})", rest.join(", ")),
        [] => String::new(),
    };
    format!(
        "{at}: label {name:?} takes any value {path}; each new value is a new series, up to the \
         series limit ({limit}) where they fold into __overflow__. Bound it with a transform, \
         `values`, a `map` with a `default`, or a regex group matching a fixed set"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(re: &str) -> Option<u128> {
        size(&parse(re).unwrap(), 10_000)
    }

    #[test]
    fn sizes_of_patterns() {
        assert_eq!(n("INFO|WARN|ERROR"), Some(3));
        assert_eq!(n(r"[0-9]{3}"), Some(1000));
        assert_eq!(n(r"(?-u:\d{3})"), Some(1000));
        // A Unicode \d is any of 680 digits.
        assert_eq!(n(r"\d{3}"), None);
        assert_eq!(n("(?i)get"), Some(8));
        assert_eq!(n("[a-c]x?"), Some(6));
        assert_eq!(n(r"[0-9]{5}"), None);
        assert_eq!(n(r"\S+"), None);
        assert_eq!(n(r"[^.]+"), None);
        assert_eq!(n(r".*"), None);
        assert_eq!(n(r"a{2,}"), None);
        assert_eq!(n(r"(?:)*"), Some(1));
    }

    /// The warnings `check` gives for one source of `format` with `labels` on a counter.
    fn warnings(format: &str, labels: &str) -> Vec<String> {
        let yaml = format!(
            "sources: [{{name: s, paths: [x], format: {format}, metrics: [\
             {{name: a_total, type: counter, labels: {labels}}}, \
             {{name: b_total, type: counter, labels: {labels}}}]}}]\n"
        );
        crate::config::Config::from_yaml(&yaml, "t.yml")
            .unwrap_or_else(|e| panic!("{yaml}: {e}"))
            .warnings
            .into_iter()
            // The series estimates' warnings have their own tests (estimate.rs).
            .filter(|w| w.contains("takes any value"))
            .collect()
    }

    #[test]
    fn open_labels_are_warned_about_whatever_their_path() {
        let rhost =
            r#"{regex: '^(?P<rhost>\S+) (?P<level>INFO|WARN) (?P<code>[0-9]{3}) (?P<msg>.*)$'}"#;
        // A regex capture: the case `remote_addr` was caught and `rhost` was not.
        let w = warnings(rhost, "{host: rhost}");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "sources[0].metrics[0].labels.host (and sources[0].metrics[1].labels.host)"
            ) && w[0].contains("capture group `rhost`")
                && w[0].contains("10000"),
            "{w:?}"
        );
        // Captures matching a fixed set are bounded, and so are templates of them; `check`'s
        // series estimates then count their values.
        assert!(warnings(
            rhost,
            "{l: level, c: code, t: {template: '{level}/{code}'}}"
        )
        .is_empty());
        let c = crate::config::Config::from_yaml(
            &format!("sources: [{{name: s, paths: [x], format: {rhost}, metrics: [{{name: a_total, type: counter, labels: {{l: level, t: {{template: '{{level}}/{{code}}'}}}}}}]}}]\n"),
            "t.yml",
        )
        .unwrap();
        let bounds: Vec<Option<usize>> = c.sources[0].metrics[0]
            .labels
            .iter()
            .map(|l| l.bound)
            .collect();
        assert_eq!(bounds, [Some(2), Some(2000)]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            warnings(rhost, "{t: {template: '{level}/{rhost}'}}").len(),
            1
        );
        // A label regex: bounded when its groups are, whatever the field.
        assert!(warnings(rhost, r#"{m: {field: msg, regex: '^(GET|POST) '}}"#).is_empty());
        assert!(warnings(
            rhost,
            r#"{m: {field: msg, regex: '^x', replacement: 'hit'}}"#
        )
        .is_empty());
        let w = warnings(rhost, r#"{m: {field: msg, regex: 'user=(\w+)'}}"#);
        assert!(
            w.len() == 1 && w[0].contains("$1 of `user=(\\w+)`"),
            "{w:?}"
        );
        // Raw json and logfmt keys, a map without a default.
        for f in ["json", "logfmt"] {
            let w = warnings(f, "{u: user}");
            assert!(w.len() == 1 && w[0].contains("user name"), "{f}: {w:?}");
        }
        let w = warnings("json", "{t: {field: tier, map: {gold: paid}}}");
        assert!(w.len() == 1 && w[0].contains("without `default`"), "{w:?}");
        // `lower` changes case, not the number of values.
        assert_eq!(
            warnings("json", "{l: {field: level, transform: lower}}").len(),
            1
        );
        // Bounded: a normalising transform, a map with a default, declared values, a vocabulary
        // field of a built-in format.
        for (format, labels) in [
            ("json", "{l: {field: level, transform: level}}"),
            (
                "json",
                "{t: {field: tier, map: {gold: paid}, default: free}}",
            ),
            ("json", "{t: {field: tier, values: [a, b]}}"),
            ("combined", "{r: {field: request_uri, transform: route}}"),
            ("syslog", "{f: facility, s: severity}"),
            ("apache_error", "{m: module, l: level}"),
        ] {
            assert!(warnings(format, labels).is_empty(), "{format} {labels}");
        }
        assert_eq!(warnings("syslog", "{p: service}").len(), 1);
    }

    /// Fields of the built-in formats (and usual json/logfmt names) that log content fills:
    /// a label on one warns, saying what the field holds.
    #[test]
    fn unbounded_fields_of_the_built_in_formats_warn_naming_what_they_hold() {
        for (format, field, what) in [
            ("syslog", "pid", "process id"),
            ("syslog", "procid", "process id"),
            ("syslog", "host", "host name"),
            ("syslog", "msgid", "message id"),
            ("syslog", "structured_data", "raw structured data"),
            ("syslog", "sd.origin@32473.ip", "structured data parameter"),
            ("syslog", "sd.meta.sequenceId", "structured data parameter"),
            ("nginx_error", "pid", "process id"),
            ("nginx_error", "tid", "thread id"),
            ("nginx_error", "connection", "connection serial number"),
            ("nginx_error", "cid", "connection serial number"),
            ("nginx_error", "client", "client IP"),
            ("nginx_error", "server", "server name"),
            ("nginx_error", "upstream", "upstream address"),
            ("nginx_error", "request", "raw request line"),
            ("apache_error", "tid", "thread id"),
            ("apache_error", "client_port", "client port"),
            ("apache_error", "prefix", "source location"),
            ("apache_error", "http_referer", "referer URL"),
            ("java", "pid", "process id"),
            ("java", "thread", "thread name"),
            ("java", "exception", "exception text"),
            ("java", "root_cause", "exception text"),
            ("combined", "remote_addr", "client IP"),
            ("combined", "uri", "raw URI with query"),
            ("combined", "body_bytes_sent", "byte count"),
            ("auto", "request_time", "duration"),
            (
                "{nginx: '$remote_addr $upstream_addr $request_id $connection'}",
                "upstream_addr",
                "upstream address",
            ),
            (
                "{nginx: '$remote_addr $upstream_addr $request_id $connection'}",
                "request_id",
                "request id",
            ),
            ("json", "trace_id", "trace id"),
            ("json", "span_id", "span id"),
            ("json", "http_x_request_id", "request id"),
            ("logfmt", "correlation_id", "correlation id"),
            // By name ending, for names the list does not have.
            ("json", "order_id", "an id"),
            ("logfmt", "upstream_port", "a port number"),
            ("json", "peer_addr", "an address"),
        ] {
            let w = warnings(format, &format!("{{x: {{field: '{field}'}}}}"));
            assert!(
                w.len() == 1 && w[0].contains(&format!("from field {field:?} ({what}")),
                "{format} {field}: {w:?}"
            );
        }
        // A name that tells nothing still warns, naming the format.
        let w = warnings("json", "{x: colour}");
        assert!(
            w.len() == 1 && w[0].contains("from json field \"colour\""),
            "{w:?}"
        );
        // The writing software's vocabulary does not warn, whatever the list says.
        assert!(warnings("syslog", "{s: severity, f: facility}").is_empty());
        assert!(warnings("apache_error", "{c: code}").is_empty());
    }

    #[test]
    fn replacement_references() {
        assert_eq!(
            references("$1-${2}x$name.$$3${a_b}"),
            ["1", "2", "name", "a_b"]
        );
        assert!(references("plain").is_empty());
        let hir = parse(r"(?P<k>a|b)-(\d+)").unwrap();
        assert_eq!(size(group(&hir, "k").unwrap(), 100), Some(2));
        assert_eq!(size(group(&hir, "2").unwrap(), 100), None);
        assert!(group(&hir, "9").is_none());
        assert_eq!(template_fields("{a}-{b}x").collect::<Vec<_>>(), ["a", "b"]);
    }
}
