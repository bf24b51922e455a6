//! Raw → validated: every check on a config, in one place, each run once.
//!
//! Errors name the key path at fault (`sources[0].metrics[2].labels.route`); the caller adds
//! the file. Limits that bound work or memory (bucket counts, format variables) are checked
//! before anything is allocated from them.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::model::{Config, ExemplarField, Global, Multiline, Source, TimeConfig};
use super::profiles::Context;
use super::raw::{RawConfig, RawGlobal, RawSource};
use crate::parse::multiline::{DEFAULT_MAX_BYTES, DEFAULT_MAX_LINES};
use crate::parse::time::Zone;
use crate::parse::{FormatSpec, MultilineSpec};
use crate::rules::transform::{SourceSpecs, SourceTransforms, TransformName};
use crate::source::StartAt;

mod bounds;
mod estimate;
mod lines;
mod metric;

pub use estimate::{capacity, series_estimates, PLANNED_VALUES};
pub use lines::{
    DEFAULT_MAX_BYTES as DEFAULT_LINES_MAX_BYTES,
    DEFAULT_MAX_BYTES_PER_SOURCE as DEFAULT_LINES_MAX_BYTES_PER_SOURCE,
    DEFAULT_MAX_LINE_BYTES as DEFAULT_LINES_MAX_LINE_BYTES, RESERVED_FIELDS,
};

pub use metric::{bucket_bounds, MAX_BUCKETS};
use metric::{Fields, Metrics};

/// Default listen address (9145: next to grok_exporter's 9144).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9145";

/// Most `$variables` in an nginx `log_format` (real ones have a few dozen).
pub const MAX_FORMAT_VARIABLES: usize = 256;

/// A value that is not acceptable, at a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Invalid {
    pub key: String,
    pub message: String,
}

pub(super) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Parse `500ms`, `2s`, `5m`, `1h`, `1d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

fn duration(key: &str, v: Option<&str>) -> Result<Option<Duration>, Invalid> {
    v.map(|s| {
        parse_duration(s).ok_or_else(|| {
            invalid(
                key,
                format!("{s:?} is not a duration (e.g. 500ms, 5s, 10m)"),
            )
        })
    })
    .transpose()
}

/// A valid Prometheus metric name.
pub fn valid_metric_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A valid Prometheus label name (not reserved `__…`).
pub fn valid_label_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// Check everything; `file` names the config in the result.
pub(super) fn validate(raw: &RawConfig, file: &str) -> Result<Config, Invalid> {
    let global = global(&raw.global)?;
    if raw.sources.is_empty() {
        return Err(invalid("sources", "at least one source is needed"));
    }
    let mut names = HashSet::new();
    let mut warnings = Vec::new();
    let mut sources = Vec::with_capacity(raw.sources.len());
    for (i, s) in raw.sources.iter().enumerate() {
        if !names.insert(s.name.as_str()) {
            return Err(invalid(
                format!("sources[{i}].name"),
                format!("source {:?} is defined twice", s.name),
            ));
        }
        sources.push(source(i, s, &global, &mut warnings)?);
    }
    shared_families(&sources)?;
    Ok(Config {
        file: file.to_string(),
        global,
        sources,
        warnings,
    })
}

fn global(g: &RawGlobal) -> Result<Global, Invalid> {
    let global = Global {
        listen: g.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into()),
        state_dir: g.state_dir.clone(),
        series_limit: g.series_limit.unwrap_or(10_000),
        series_expiry: duration("global.series_expiry", g.series_expiry.as_deref())?
            .filter(|d| !d.is_zero()),
        max_line_bytes: g.max_line_bytes.unwrap_or(1 << 20),
        poll_interval: duration("global.poll_interval", g.poll_interval.as_deref())?
            .unwrap_or(Duration::from_secs(1)),
        partial_flush: duration("global.partial_flush", g.partial_flush.as_deref())?,
        rotate_wait: duration("global.rotate_wait", g.rotate_wait.as_deref())?
            .unwrap_or(Duration::from_secs(5)),
        max_open_files: g.max_open_files,
        checkpoint: g.checkpoint.unwrap_or_default(),
        scrape_interval: duration("global.scrape_interval", g.scrape_interval.as_deref())?,
        lines: lines::global(g.lines.as_ref())?,
    };
    if global
        .max_open_files
        .is_some_and(|n| n < crate::source::MIN_OPEN_FILES)
    {
        return Err(invalid(
            "global.max_open_files",
            format!("must be at least {}", crate::source::MIN_OPEN_FILES),
        ));
    }
    if global
        .scrape_interval
        .is_some_and(|d| d > Duration::from_secs(3600))
    {
        return Err(invalid("global.scrape_interval", "must be at most 1h"));
    }
    if global.series_limit == 0 {
        return Err(invalid("global.series_limit", "must be at least 1"));
    }
    if global.max_line_bytes < 256 {
        return Err(invalid("global.max_line_bytes", "must be at least 256"));
    }
    if global.poll_interval < Duration::from_millis(10) {
        return Err(invalid("global.poll_interval", "must be at least 10ms"));
    }
    Ok(global)
}

/// Source-level options that only a profile reads, and whether this source sets them.
fn profile_options(s: &RawSource) -> [(&'static str, bool); 5] {
    [
        ("tenant", s.tenant.is_some()),
        ("tenants", s.tenants.is_some()),
        ("routes", !s.routes.is_empty()),
        ("path_prefix", s.path_prefix.is_some()),
        ("buckets", s.buckets.is_some()),
    ]
}

/// Most tenants a source may be sized for.
pub const MAX_TENANTS: usize = 1_000_000;

/// Source-level transform options, whether the source sets each, and the transforms that
/// read it: an option no label reads is an error, not silently ignored.
fn transform_options(s: &RawSource) -> [(&'static str, bool, &'static [TransformName]); 6] {
    use TransformName::*;
    [
        ("menus", s.menus.is_some(), &[Menu, PersonMenu, Page]),
        (
            "device_rules",
            !s.device_rules.is_empty(),
            &[Device, Person, Platform, App, AppVersion, PersonMenu, Page],
        ),
        (
            "referrers",
            s.referrers.is_some(),
            &[Referrer, PageReferrer, PageReferrerKind],
        ),
        (
            "security_rules",
            !s.security_rules.is_empty(),
            &[Security, Menu, PersonMenu, Page],
        ),
        (
            "pages",
            s.pages.is_some(),
            &[Page, PageReferrer, PageReferrerKind],
        ),
        ("tenant_map", s.tenant_map.is_some(), &[Tenant]),
    ]
}

fn source(
    i: usize,
    s: &RawSource,
    global: &Global,
    warnings: &mut Vec<String>,
) -> Result<Source, Invalid> {
    let at = |k: &str| format!("sources[{i}].{k}");
    if s.name.is_empty() || s.name.chars().any(char::is_control) {
        return Err(invalid(
            at("name"),
            "must be a non-empty name without control characters",
        ));
    }
    if s.paths.is_empty() {
        return Err(invalid(at("paths"), "at least one path or glob is needed"));
    }
    for (list, globs) in [("paths", &s.paths), ("exclude", &s.exclude)] {
        for (j, p) in globs.iter().enumerate() {
            if let Err(e) = globset::Glob::new(p) {
                return Err(invalid(
                    at(&format!("{list}[{j}]")),
                    format!("bad glob {p:?}: {e}"),
                ));
            }
        }
    }
    let profile = s.profile.map(|p| p.profile());
    for (option, set) in profile_options(s) {
        if set && !profile.is_some_and(|p| p.options.contains(&option)) {
            let msg = match profile {
                Some(p) => format!("the {} profile does not use `{option}`", p.name),
                None => format!("`{option}` is an option of a profile, and this source has none"),
            };
            return Err(invalid(at(option), msg));
        }
    }
    for (role, f) in &s.fields {
        if f.scale().is_some_and(|x| !x.is_finite() || x == 0.0) {
            return Err(invalid(
                at(&format!("fields.{role}.scale")),
                "must be a finite number other than 0",
            ));
        }
    }
    if s.tenants.is_some() && s.tenant.is_none() {
        return Err(invalid(
            at("tenants"),
            "it sizes the per-tenant metrics, which need `tenant:` (the tenant label)",
        ));
    }
    if let Some(p) = &s.path_prefix {
        crate::config::profiles::http::path_prefix_regex(p)
            .map_err(|m| invalid(at("path_prefix"), m))?;
    }
    if let Some(n) = s.tenants {
        if n == 0 || n > MAX_TENANTS {
            return Err(invalid(
                at("tenants"),
                format!("between 1 and {MAX_TENANTS}"),
            ));
        }
    }
    for role in s.fields.keys() {
        match profile {
            None => {
                return Err(invalid(
                    at("fields"),
                    "`fields` maps profile roles to format fields, and this source has no profile",
                ))
            }
            Some(p) if !p.roles.contains(&role.as_str()) => {
                return Err(invalid(
                    at(&format!("fields.{role}")),
                    format!(
                        "{role:?} is not a role of the {} profile (roles: {})",
                        p.name,
                        p.roles.join(", ")
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if profile.is_none() && s.metrics.is_empty() {
        return Err(invalid(
            at("metrics"),
            "a source needs a `profile` or at least one metric",
        ));
    }
    let mut fields = format(&at("format"), &s.format)?;
    // A format's built-in joining rule (java stack traces) applies unless the source sets one.
    let builtin = s.format.default_multiline();
    let multiline = s
        .multiline
        .as_ref()
        .or(builtin.as_ref())
        .map(|m| multiline(&at("multiline"), m))
        .transpose()?;

    let time = time(&at("time"), s)?;
    let transforms = SourceTransforms::new(SourceSpecs {
        device_rules: &s.device_rules,
        menus: s.menus.as_ref(),
        referrers: s.referrers.as_ref(),
        security_rules: &s.security_rules,
        pages: s.pages.as_ref(),
        tenant_map: s.tenant_map.as_ref(),
    })
    .map_err(|e| invalid(at(&e.key), e.message))?;
    let mut metrics = Metrics::new(&mut fields, global.series_limit, warnings, &transforms);
    let mut line_defaults = Default::default();
    if let Some(p) = profile {
        let buckets = s
            .buckets
            .as_ref()
            .map(|b| bucket_bounds(b).map_err(|m| invalid(at("buckets"), m)))
            .transpose()?;
        let made = {
            let mut has = |name: &str| metrics.has_field(name);
            let mut cx = Context {
                source: s,
                buckets,
                transforms: &transforms,
                series_limit: global.series_limit,
                has_field: &mut has,
            };
            line_defaults = (p.lines)(&mut cx);
            (p.metrics)(&mut cx)
        };
        metrics.open_labels(p.open_labels);
        for pm in made {
            let key = at(&format!("profile({}).{}", p.name, pm.metric.name));
            metrics
                .add(&key, &pm.metric, &s.name)
                .map_err(|e| invalid(e.key, format!("{} ({})", e.message, pm.needs)))?;
        }
    }
    metrics.open_labels(&[]);
    let mut seen = HashSet::new();
    for (j, m) in s.metrics.iter().enumerate() {
        let key = at(&format!("metrics[{j}]"));
        if !seen.insert(m.name.as_str()) {
            return Err(invalid(
                format!("{key}.name"),
                format!("metric {:?} is defined twice in this source", m.name),
            ));
        }
        metrics.add(&key, m, &s.name)?;
    }
    for (option, set, readers) in transform_options(s) {
        if set && !metrics.uses(readers) {
            let names: Vec<String> = readers
                .iter()
                .map(|r| format!("`transform: {}`", transform_name(*r)))
                .collect();
            return Err(invalid(
                at(option),
                format!(
                    "no label of this source reads it (it is for {}; the http profile uses them)",
                    names.join(", ")
                ),
            ));
        }
    }
    let exemplar_label = s.exemplar_field.as_deref().map(|f| (f, exemplar_label(f)));
    let lines = lines::source(
        &format!("sources[{i}]"),
        s,
        line_defaults,
        exemplar_label.as_ref().map(|(f, l)| (*f, l.as_str())),
        &mut metrics,
        &global.lines,
    )?;
    let metrics = metrics.finish();
    let exemplar = s
        .exemplar_field
        .as_deref()
        .map(|f| exemplar_field(&at("exemplar_field"), f, &mut fields))
        .transpose()?;
    estimate::warn(&metrics, global.series_limit, warnings);
    Ok(Source {
        name: s.name.clone(),
        paths: s.paths.clone(),
        exclude: s.exclude.clone(),
        start_at: s.start_at.unwrap_or(StartAt::End),
        poll: s.poll,
        format: fields.into_format(s.format.clone()),
        multiline,
        metrics,
        exemplar,
        time,
        definition: s.clone(),
        inputs: transforms.inputs(),
        lines,
    })
}

/// `time:`: the layout and zone parse, and the field is one the format can have.
fn time(key: &str, s: &RawSource) -> Result<TimeConfig, Invalid> {
    let Some(t) = &s.time else {
        return Ok(TimeConfig {
            layout: s.format.time_layout().unwrap_or_default(),
            ..TimeConfig::default()
        });
    };
    let layout = match &t.layout {
        Some(l) => l.parse().map_err(|m| invalid(format!("{key}.layout"), m))?,
        None => s.format.time_layout().unwrap_or_default(),
    };
    let zone = match &t.zone {
        Some(z) => z.parse().map_err(|m| invalid(format!("{key}.zone"), m))?,
        None => Zone::Local,
    };
    if let Some(f) = &t.field {
        // A parser of its own: asking a schema-less format for the field must not make the
        // agent extract it from every line.
        let mut p = crate::parse::build(&s.format).map_err(|e| invalid(key, e.to_string()))?;
        if p.field(crate::parse::canonical_field_name(f)).is_none() {
            return Err(invalid(
                format!("{key}.field"),
                format!("the format has no field {f:?}"),
            ));
        }
    }
    Ok(TimeConfig {
        field: t.field.clone(),
        layout,
        zone,
    })
}

fn exemplar_label(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The exemplar field: it must exist in the format; its name, with characters a label name
/// cannot have made `_` (`trace.id` → `trace_id`), labels the exemplars.
fn exemplar_field(key: &str, name: &str, fields: &mut Fields) -> Result<ExemplarField, Invalid> {
    let label = exemplar_label(name);
    if !valid_label_name(&label) {
        return Err(invalid(
            key,
            format!("{name:?} does not make a label name (it must start with a letter)"),
        ));
    }
    let field = fields
        .get(name)
        .ok_or_else(|| invalid(key, format!("field {name:?} does not exist in this format")))?;
    Ok(ExemplarField { field, label })
}

/// A transform's config name.
fn transform_name(t: TransformName) -> &'static str {
    match t {
        TransformName::Route => "route",
        TransformName::StatusClass => "status_class",
        TransformName::Status => "status",
        TransformName::Method => "method",
        TransformName::Device => "device",
        TransformName::Person => "person",
        TransformName::Platform => "platform",
        TransformName::PersonMenu => "person_menu",
        TransformName::Page => "page",
        TransformName::PageReferrer => "page_referrer",
        TransformName::PageReferrerKind => "page_referrer_kind",
        TransformName::Tenant => "tenant",
        TransformName::App => "app",
        TransformName::AppVersion => "app_version",
        TransformName::Menu => "menu",
        TransformName::Referrer => "referrer",
        TransformName::Security => "security",
        TransformName::Lower => "lower",
        TransformName::Level => "level",
    }
}

/// Build the format's parser (it checks the format), after the limits on its size.
fn format(key: &str, spec: &FormatSpec) -> Result<Fields, Invalid> {
    if let FormatSpec::Nginx(f) = spec {
        let vars = memchr::memchr_iter(b'$', f.as_bytes()).count();
        if vars > MAX_FORMAT_VARIABLES {
            return Err(invalid(
                format!("{key}.nginx"),
                format!("{vars} variables; at most {MAX_FORMAT_VARIABLES} are supported"),
            ));
        }
    }
    let key = match spec {
        FormatSpec::Pattern(_) => format!("{key}.pattern"),
        _ => key.to_string(),
    };
    Fields::new(spec).map_err(|e| invalid(key, e.to_string()))
}

fn multiline(key: &str, m: &MultilineSpec) -> Result<Multiline, Invalid> {
    let start = regex::bytes::Regex::new(&m.start)
        .map_err(|e| invalid(format!("{key}.start"), format!("invalid regex: {e}")))?;
    Ok(Multiline {
        start,
        max_lines: m.max_lines.unwrap_or(DEFAULT_MAX_LINES).max(1),
        max_bytes: m.max_bytes.unwrap_or(DEFAULT_MAX_BYTES).max(1),
        timeout: duration(&format!("{key}.timeout"), m.timeout.as_deref())?
            .unwrap_or(Duration::from_secs(2)),
    })
}

/// Metrics of the same name in several sources (or profiles) are one family in the store,
/// told apart by their labels' values: they must agree on type, label names and buckets.
fn shared_families(sources: &[Source]) -> Result<(), Invalid> {
    let mut first = HashMap::new();
    for m in sources.iter().flat_map(|s| &s.metrics) {
        let names: Vec<&str> = m.labels.iter().map(|l| l.name.as_str()).collect();
        let shape = (m.kind, names, &m.buckets);
        match first.get(m.name.as_str()) {
            None => {
                first.insert(m.name.as_str(), (shape, &m.key));
            }
            Some((s, key)) if *s != shape => {
                return Err(invalid(
                    format!("{}.name", m.key),
                    format!(
                        "metric {:?} is also defined at {key} with another type, label names or \
                         buckets; metrics of the same name are one family and must agree",
                        m.name
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
