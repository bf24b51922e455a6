//! Profiles: built-in sets of metrics with the names dashboards and alerts rely on.
//!
//! A profile expands, at validation, into ordinary [`RawMetric`]s, which are then checked like
//! the user's own (fields resolved against the format, labels, limits), so a profile can only
//! make what a user could write. Each profile is one file here exporting a [`Profile`];
//! registering it is a variant in [`ProfileName`] and an arm in [`ProfileName::profile`].
//! Source-level options a profile reads (`tenant`, `routes`, ...) are raw keys of the source
//! (see `super::raw::RawSource`), listed in [`Profile::options`] so that validation rejects
//! them on sources whose profile does not read them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::raw::{
    MetricType, RawCondition, RawConditionFull, RawLabel, RawLabelFull, RawMetric, RawSource,
};
use crate::rules::transform::{SourceTransforms, TransformName};

pub mod app;
pub mod auth;
pub mod http;

/// A profile's name in the config (`profile: http`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProfileName {
    /// Access-log metrics (RED + usage).
    Http,
    /// Application and system logs: messages by level, exceptions, last error.
    App,
    /// Authentication logs (auth.log, secure): failures and logins by program.
    Auth,
}

impl ProfileName {
    /// The profile's definition.
    pub fn profile(self) -> &'static Profile {
        match self {
            ProfileName::Http => &http::PROFILE,
            ProfileName::App => &app::PROFILE,
            ProfileName::Auth => &auth::PROFILE,
        }
    }
}

/// A profile's definition.
#[derive(Debug)]
pub struct Profile {
    /// Config name.
    pub name: &'static str,
    /// Field roles the profile reads; each defaults to the field of the same name and can be
    /// remapped with the source's `fields: {role: field}`.
    pub roles: &'static [&'static str],
    /// Source-level options (besides `fields`) the profile reads.
    pub options: &'static [&'static str],
    /// The metrics for one source.
    pub metrics: fn(&mut Context<'_>) -> Vec<ProfileMetric>,
    /// Labels the profile leaves open on purpose, bounded only by the series limit (their
    /// bound is documented in docs/metrics.md): `check` does not warn about them.
    pub open_labels: &'static [&'static str],
    /// What the line view keeps by default, and the fields it stores for filtering.
    pub lines: fn(&mut Context<'_>) -> ProfileLines,
}

/// A profile's line view defaults (a source's `lines.keep` replaces `keep`; its
/// `lines.fields` are added to `fields`).
#[derive(Debug, Default)]
pub struct ProfileLines {
    /// Keep a line when all conditions of any entry hold.
    pub keep: Vec<BTreeMap<String, RawCondition>>,
    /// Fields stored with each kept line, by name.
    pub fields: Vec<(&'static str, RawLabel)>,
}

/// A metric made by a profile, with what it needs from the format (added to error messages).
#[derive(Debug)]
pub struct ProfileMetric {
    /// The metric, as if the user had written it.
    pub metric: RawMetric,
    /// E.g. "the http profile needs a user agent field".
    pub needs: &'static str,
}

/// What a profile sees of its source.
pub struct Context<'a> {
    /// The source as written.
    pub source: &'a RawSource,
    /// The source's `buckets:`, already checked and computed.
    pub buckets: Option<Vec<f64>>,
    /// The source's compiled transform options (menu table, device rules, ...).
    pub transforms: &'a SourceTransforms,
    /// `global.series_limit`.
    pub series_limit: usize,
    /// Whether the format has a field (for metrics made only when it does).
    pub(super) has_field: &'a mut dyn FnMut(&str) -> bool,
}

impl Context<'_> {
    /// The field playing `role` (the `fields:` mapping, else the role's own name).
    pub fn field(&self, role: &str) -> String {
        self.source
            .fields
            .get(role)
            .map_or_else(|| role.to_string(), |f| f.name().to_string())
    }

    /// The factor given with the field playing `role` (`fields: {role: {field, scale}}`).
    pub fn scale(&self, role: &str) -> Option<f64> {
        self.source.fields.get(role).and_then(|f| f.scale())
    }

    /// True when the format has the field playing `role`.
    pub fn has(&mut self, role: &str) -> bool {
        let f = self.field(role);
        (self.has_field)(&f)
    }
}

/// A label taking `field`'s value, through `transform` if given.
pub fn label(field: String, transform: Option<TransformName>) -> RawLabel {
    RawLabel::Full(Box::new(RawLabelFull {
        field: Some(field),
        transform,
        ..Default::default()
    }))
}

/// A label with a constant value.
pub fn constant(value: &str) -> RawLabel {
    RawLabel::Full(Box::new(RawLabelFull {
        value: Some(value.into()),
        ..Default::default()
    }))
}

/// A metric definition, as a user would write it.
pub fn metric(
    name: &str,
    kind: MetricType,
    help: &str,
    value: Option<String>,
    labels: Vec<(&str, RawLabel)>,
) -> RawMetric {
    RawMetric {
        name: name.into(),
        kind,
        help: Some(help.into()),
        matches: BTreeMap::new(),
        value,
        scale: None,
        series_limit: None,
        action: None,
        buckets: None,
        labels: labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// A condition: the field matches `re` (and, when given, does not match `not`).
pub fn regex(re: &str, not: Option<&str>) -> RawCondition {
    RawCondition::Full(RawConditionFull {
        regex: Some(re.into()),
        not_regex: not.map(Into::into),
        ..Default::default()
    })
}

/// A condition: the field does not match `re`.
pub fn not_regex(re: &str) -> RawCondition {
    RawCondition::Full(RawConditionFull {
        not_regex: Some(re.into()),
        ..Default::default()
    })
}

/// A condition: the field is present and not empty.
pub fn exists() -> RawCondition {
    RawCondition::Full(RawConditionFull {
        exists: Some(true),
        ..Default::default()
    })
}
