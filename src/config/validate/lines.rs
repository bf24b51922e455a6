//! The line view's settings: global caps, redaction and access; per source, which lines are
//! kept and which fields are stored with each (label specs, checked like a metric's labels).

use std::collections::BTreeMap;

use super::metric::Metrics;
use super::{invalid, valid_label_name, Invalid};
use crate::config::model::{LineView, LinesGlobal, Redact};
use crate::config::profiles::ProfileLines;
use crate::config::raw::{RawLabel, RawLinesGlobal, RawSource};

/// Default `global.lines.max_bytes`: kept lines of all sources together.
pub const DEFAULT_MAX_BYTES: usize = 8 << 20;
/// Default `global.lines.max_bytes_per_source`.
pub const DEFAULT_MAX_BYTES_PER_SOURCE: usize = 1 << 20;
/// Default `global.lines.max_line_bytes`.
pub const DEFAULT_MAX_LINE_BYTES: usize = 2048;

/// Query parameters of `/lines` that are not field filters: no field may take these names.
pub const RESERVED_FIELDS: &[&str] = &[
    "source", "since", "limit", "ref", "line_ref", "format", "file", "time", "text", "parsed",
];

pub(super) fn global(g: Option<&RawLinesGlobal>) -> Result<LinesGlobal, Invalid> {
    let d = RawLinesGlobal::default();
    let g = g.unwrap_or(&d);
    let r = g.redact.clone().unwrap_or_default();
    let mut patterns = Vec::with_capacity(r.patterns.len());
    for (i, p) in r.patterns.iter().enumerate() {
        let re = regex::Regex::new(p).map_err(|e| {
            invalid(
                format!("global.lines.redact.patterns[{i}]"),
                format!("invalid regex: {e}"),
            )
        })?;
        if re.is_match("") {
            return Err(invalid(
                format!("global.lines.redact.patterns[{i}]"),
                "matches the empty string (it would put `*` between every character)",
            ));
        }
        patterns.push(re);
    }
    let out = LinesGlobal {
        max_bytes: g.max_bytes.unwrap_or(DEFAULT_MAX_BYTES),
        max_bytes_per_source: g
            .max_bytes_per_source
            .unwrap_or(DEFAULT_MAX_BYTES_PER_SOURCE),
        max_line_bytes: g.max_line_bytes.unwrap_or(DEFAULT_MAX_LINE_BYTES),
        redact: Redact {
            addresses: r.addresses.unwrap_or(true),
            query: r.query.unwrap_or(true),
            emails: r.emails.unwrap_or(true),
            patterns,
        },
        allow_unauthenticated: g.allow_unauthenticated.unwrap_or(false),
    };
    if out.max_line_bytes < 64 {
        return Err(invalid(
            "global.lines.max_line_bytes",
            "must be at least 64",
        ));
    }
    Ok(out)
}

/// Source `s`'s line view (`key` is `sources[i]`): its `lines:` over its profile's defaults.
/// `exemplar` is the exemplar field (name, label) when the source has one: stored under the
/// label's name, so `ref=` finds a line by the value an exemplar carries.
pub(super) fn source(
    key: &str,
    s: &RawSource,
    defaults: ProfileLines,
    exemplar: Option<(&str, &str)>,
    metrics: &mut Metrics<'_>,
    global: &LinesGlobal,
) -> Result<LineView, Invalid> {
    let at = |k: &str| format!("{key}.lines.{k}");
    let raw = s.lines.clone().unwrap_or_default();
    let mut keep = Vec::new();
    match &raw.keep {
        Some(entries) => {
            for (j, entry) in entries.iter().enumerate() {
                if entry.is_empty() {
                    return Err(invalid(
                        at(&format!("keep[{j}]")),
                        "an empty entry would keep every line; give at least one condition",
                    ));
                }
                keep.push(conditions(&at(&format!("keep[{j}]")), entry, metrics)?);
            }
        }
        None => {
            for (j, entry) in defaults.keep.iter().enumerate() {
                let k = format!("{key}.profile.lines.keep[{j}]");
                keep.push(conditions(&k, entry, metrics)?);
            }
        }
    }
    // The profile's fields, then the source's (which may redefine one of the profile's).
    let mut specs: Vec<(String, String, RawLabel)> = defaults
        .fields
        .into_iter()
        .filter(|(n, _)| !raw.fields.contains_key(*n))
        .map(|(n, l)| (format!("{key}.profile.lines.fields.{n}"), n.to_string(), l))
        .collect();
    for (n, l) in &raw.fields {
        specs.push((at(&format!("fields.{n}")), n.clone(), l.clone()));
    }
    let mut fields = Vec::with_capacity(specs.len() + 1);
    for (k, name, spec) in &specs {
        check_name(k, name)?;
        fields.push(metrics.field_label(k, name, spec)?);
    }
    let exemplar = match exemplar {
        None => None,
        Some((field, label)) => match fields.iter().position(|f| f.name == label) {
            Some(i) => Some(i),
            None => {
                let k = format!("{key}.exemplar_field");
                fields.push(metrics.field_label(&k, label, &RawLabel::Field(field.into()))?);
                Some(fields.len() - 1)
            }
        },
    };
    // The default never exceeds the total; a value given for the source must not.
    let max_bytes = raw
        .max_bytes
        .unwrap_or(global.max_bytes_per_source.min(global.max_bytes));
    if global.max_bytes > 0 && max_bytes > global.max_bytes {
        return Err(invalid(
            at("max_bytes"),
            format!(
                "{max_bytes} is more than global.lines.max_bytes ({})",
                global.max_bytes
            ),
        ));
    }
    Ok(LineView {
        keep,
        unparsed: raw.unparsed.unwrap_or(true),
        fields,
        exemplar,
        max_bytes: if global.max_bytes == 0 { 0 } else { max_bytes },
    })
}

fn conditions(
    key: &str,
    entry: &BTreeMap<String, crate::config::raw::RawCondition>,
    metrics: &mut Metrics<'_>,
) -> Result<Vec<crate::config::Condition>, Invalid> {
    let mut out = Vec::new();
    for (field, c) in entry {
        metrics.condition(&format!("{key}.{field}"), field, c, &mut out)?;
    }
    Ok(out)
}

fn check_name(key: &str, name: &str) -> Result<(), Invalid> {
    if !valid_label_name(name) {
        return Err(invalid(
            key,
            format!("{name:?} is not a valid field name here (letters, digits, `_`)"),
        ));
    }
    if RESERVED_FIELDS.contains(&name) {
        return Err(invalid(
            key,
            format!(
                "{name:?} is a query parameter of /lines; pick another name (reserved: {})",
                RESERVED_FIELDS.join(", ")
            ),
        ));
    }
    Ok(())
}
