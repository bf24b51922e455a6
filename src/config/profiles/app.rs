//! `profile: app`: application and system logs (`java`, `nginx_error`, `apache_error`,
//! `syslog`, and `json`/`logfmt`/`regex` with a level field) counted by normalised level, by
//! exception class, and the time of the last error (docs/metrics.md).
//!
//! - `log_messages_total{source,level}`: every record; `level` is `transform: level` (six
//!   levels, `other` for a word that is not a level, or no level at all: a syslog line without
//!   `<PRI>`), so all seven values are exported at 0 from start-up.
//! - `log_exceptions_total{source,exception}`: records naming an exception class, when the
//!   format has an `exception` field (`java`; any key of `json`/`logfmt`). The class is left
//!   open: a new class is news, so it is not folded into a fixed set; past the series limit
//!   only `exception` folds into `__overflow__` (`source` is bounded).
//! - `log_last_error_timestamp_seconds{source}`: set to the time an `error` or `fatal` record
//!   is applied. The condition is [`Level::regex`], so it means what the `level` label means.

use std::collections::BTreeMap;

use super::{
    constant, exists, label, metric, regex, Context, Profile, ProfileLines, ProfileMetric,
};
use crate::config::raw::{GaugeAction, MetricType, RawLabel, RawLabelFull};
use crate::parse::Level;
use crate::rules::transform::TransformName;

/// The `app` profile.
pub static PROFILE: Profile = Profile {
    name: "app",
    roles: &["level", "exception"],
    options: &[],
    metrics,
    open_labels: &["exception"],
    lines,
};

fn metrics(cx: &mut Context<'_>) -> Vec<ProfileMetric> {
    let has_exception = cx.has("exception");
    let cx = &*cx;
    let source = || constant(&cx.source.name);
    let level = RawLabel::Full(Box::new(RawLabelFull {
        field: Some(cx.field("level")),
        transform: Some(TransformName::Level),
        // No level at all counts with the words that are not levels.
        default: Some("other".into()),
        ..Default::default()
    }));
    let mut out = vec![ProfileMetric {
        metric: metric(
            "log_messages_total",
            MetricType::Counter,
            "Log records by normalised level (trace, debug, info, warn, error, fatal, other).",
            None,
            vec![("source", source()), ("level", level)],
        ),
        needs: "the app profile needs a level field; map one with `fields: {level: <field>}`",
    }];
    if has_exception {
        let mut m = metric(
            "log_exceptions_total",
            MetricType::Counter,
            "Log records naming an exception, by exception class.",
            None,
            vec![
                ("source", source()),
                ("exception", label(cx.field("exception"), None)),
            ],
        );
        m.matches = BTreeMap::from([(cx.field("exception"), exists())]);
        out.push(ProfileMetric {
            metric: m,
            needs: "from the format's exception field",
        });
    }
    let mut m = metric(
        "log_last_error_timestamp_seconds",
        MetricType::Gauge,
        "Unix time the last error or fatal record was read.",
        None,
        vec![("source", source())],
    );
    m.action = Some(GaugeAction::Now);
    m.matches = BTreeMap::from([(
        cx.field("level"),
        regex(&Level::regex(&[Level::Error, Level::Fatal]), None),
    )]);
    out.push(ProfileMetric {
        metric: m,
        needs: "the app profile needs a level field; map one with `fields: {level: <field>}`",
    });
    out
}

/// The line view keeps error and fatal records (as `log_last_error_timestamp_seconds` counts
/// them), with their normalised level.
fn lines(cx: &mut Context<'_>) -> ProfileLines {
    ProfileLines {
        keep: vec![BTreeMap::from([(
            cx.field("level"),
            regex(&Level::regex(&[Level::Error, Level::Fatal]), None),
        )])],
        fields: vec![(
            "level",
            label(cx.field("level"), Some(TransformName::Level)),
        )],
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn cfg(format: &str, extra: &str) -> Result<Config, String> {
        Config::from_yaml(
            &format!("sources: [{{name: a, paths: [x], format: {format}, profile: app{extra}}}]\n"),
            "t.yml",
        )
        .map_err(|e| e.to_string())
    }

    fn names(c: &Config) -> Vec<&str> {
        c.sources[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect()
    }

    #[test]
    fn exceptions_only_where_the_format_has_them() {
        let java = cfg("java", "").unwrap();
        assert_eq!(
            names(&java),
            [
                "log_messages_total",
                "log_exceptions_total",
                "log_last_error_timestamp_seconds"
            ]
        );
        for f in ["syslog", "nginx_error", "apache_error"] {
            let c = cfg(f, "").unwrap();
            assert_eq!(
                names(&c),
                ["log_messages_total", "log_last_error_timestamp_seconds"],
                "{f}"
            );
        }
        // Only the profile's documented open label is left without a warning.
        assert!(java.warnings.is_empty(), "{:?}", java.warnings);
    }

    #[test]
    fn a_format_without_a_level_is_refused_with_the_role_to_map() {
        let e = cfg("{regex: '^(?P<msg>.*)$'}", "").unwrap_err();
        assert!(
            e.contains("profile(app).log_messages_total") && e.contains("fields: {level:"),
            "{e}"
        );
        let ok = cfg(
            "{regex: '^(?P<sev>\\w+) (?P<msg>.*)$'}",
            ", fields: {level: sev}",
        )
        .unwrap();
        assert_eq!(ok.sources[0].metrics.len(), 2);
        let j = cfg("json", ", fields: {level: severity, exception: error.type}").unwrap();
        assert_eq!(j.sources[0].metrics.len(), 3);
    }
}
