//! The `http` profile: access-log metrics with the names dashboards and alerts rely on
//! (README "Metrics reference"). Built as ordinary metric specs, so they go through the same
//! compiler, limits and checks as user metrics.

use std::collections::BTreeMap;

use crate::config::{Buckets, LabelFull, LabelSpec, MetricSpec, MetricType, RawSource, Transform};
use crate::parse::LineParser;

fn label(field: &str, transform: Option<Transform>) -> LabelSpec {
    LabelSpec::Full(Box::new(LabelFull {
        field: Some(field.into()),
        transform,
        ..Default::default()
    }))
}

fn constant(v: &str) -> LabelSpec {
    LabelSpec::Full(Box::new(LabelFull {
        value: Some(v.into()),
        ..Default::default()
    }))
}

fn spec(
    name: &str,
    kind: MetricType,
    help: &str,
    value: Option<String>,
    labels: Vec<(&str, LabelSpec)>,
) -> MetricSpec {
    MetricSpec {
        name: name.into(),
        kind,
        help: Some(help.into()),
        matches: BTreeMap::new(),
        value,
        scale: None,
        action: None,
        buckets: None,
        labels: labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// The profile's metrics for `src`, each with a note on what it needs from the format.
pub fn metrics(
    src: &RawSource,
    buckets: Option<Vec<f64>>,
    parser: &mut dyn LineParser,
) -> Vec<(MetricSpec, &'static str)> {
    let f = |role: &str| {
        src.fields
            .get(role)
            .cloned()
            .unwrap_or_else(|| role.to_string())
    };
    let route = || {
        LabelSpec::Full(Box::new(LabelFull {
            field: Some(f("request_uri")),
            transform: Some(Transform::Route),
            patterns: src.routes.clone(),
            ..Default::default()
        }))
    };
    let source = || constant(&src.name);
    let method = || label(&f("request_method"), Some(Transform::Method));
    let mut out = vec![
        (
            spec(
                "http_requests_total",
                MetricType::Counter,
                "HTTP requests by method, status code and route.",
                None,
                vec![("source", source()), ("method", method()), ("status", label(&f("status"), Some(Transform::Status))), ("route", route())],
            ),
            "the http profile needs request method, status and URI fields",
        ),
        (
            spec(
                "http_response_bytes_total",
                MetricType::Counter,
                "Response body bytes by route.",
                Some(f("body_bytes_sent")),
                vec![("source", source()), ("route", route())],
            ),
            "the http profile needs a body_bytes_sent field",
        ),
        (
            spec(
                "http_client_requests_total",
                MetricType::Counter,
                "HTTP requests by client device class (mobile_app, mobile_web, desktop, bot, other).",
                None,
                vec![("source", source()), ("device", label(&f("http_user_agent"), Some(Transform::Device)))],
            ),
            "the http profile needs a user agent field",
        ),
    ];
    if parser.field(&f("request_time")).is_some() {
        let mut m = spec(
            "http_request_duration_seconds",
            MetricType::Histogram,
            "HTTP request duration in seconds (from the log's request time).",
            Some(f("request_time")),
            vec![
                ("source", source()),
                ("method", method()),
                ("route", route()),
            ],
        );
        m.buckets = buckets.map(Buckets::List);
        out.push((
            m,
            "sources with `profile: http` share this histogram, so they need the same `buckets`",
        ));
    }
    if let Some(t) = &src.tenant {
        out.push((
            spec(
                "http_tenant_requests_total",
                MetricType::Counter,
                "HTTP requests by tenant (customer company), route and device class.",
                None,
                vec![
                    ("source", source()),
                    ("tenant", t.clone()),
                    ("route", route()),
                    (
                        "device",
                        label(&f("http_user_agent"), Some(Transform::Device)),
                    ),
                ],
            ),
            "from the source's `tenant:` label",
        ));
        out.push((
            spec(
                "http_tenant_responses_total",
                MetricType::Counter,
                "HTTP responses by tenant (customer company) and status class: which customers see errors.",
                None,
                vec![
                    ("source", source()),
                    ("tenant", t.clone()),
                    ("status_class", label(&f("status"), Some(Transform::StatusClass))),
                ],
            ),
            "from the source's `tenant:` label",
        ));
    }
    out
}
