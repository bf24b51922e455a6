//! `profile: http`: access-log metrics with the names dashboards and alerts rely on
//! (docs/metrics.md): requests by method, status and route, response bytes, device classes,
//! request duration when the format has it, and per-tenant views with `tenant:`.

use super::{constant, label, metric, Context, Profile, ProfileMetric};
use crate::config::raw::{MetricType, RawBuckets, RawLabel, RawLabelFull};
use crate::rules::transform::TransformName;

/// The `http` profile.
pub static PROFILE: Profile = Profile {
    name: "http",
    roles: &[
        "request_method",
        "request_uri",
        "status",
        "body_bytes_sent",
        "http_user_agent",
        "request_time",
    ],
    options: &["tenant", "routes", "buckets"],
    metrics,
};

fn metrics(cx: &mut Context<'_>) -> Vec<ProfileMetric> {
    let has_time = cx.has("request_time");
    let cx = &*cx;
    let src = cx.source;
    let route = || {
        RawLabel::Full(Box::new(RawLabelFull {
            field: Some(cx.field("request_uri")),
            transform: Some(TransformName::Route),
            patterns: src.routes.clone(),
            ..Default::default()
        }))
    };
    let source = || constant(&src.name);
    let method = || label(cx.field("request_method"), Some(TransformName::Method));
    let device = || label(cx.field("http_user_agent"), Some(TransformName::Device));
    let mut out = vec![
        ProfileMetric {
            metric: metric(
                "http_requests_total",
                MetricType::Counter,
                "HTTP requests by method, status code and route.",
                None,
                vec![
                    ("source", source()),
                    ("method", method()),
                    ("status", label(cx.field("status"), Some(TransformName::Status))),
                    ("route", route()),
                ],
            ),
            needs: "the http profile needs request method, status and URI fields",
        },
        ProfileMetric {
            metric: metric(
                "http_response_bytes_total",
                MetricType::Counter,
                "Response body bytes by route.",
                Some(cx.field("body_bytes_sent")),
                vec![("source", source()), ("route", route())],
            ),
            needs: "the http profile needs a body_bytes_sent field",
        },
        ProfileMetric {
            metric: metric(
                "http_client_requests_total",
                MetricType::Counter,
                "HTTP requests by client device class (mobile_app, mobile_web, desktop, bot, other).",
                None,
                vec![("source", source()), ("device", device())],
            ),
            needs: "the http profile needs a user agent field",
        },
    ];
    if has_time {
        let mut m = metric(
            "http_request_duration_seconds",
            MetricType::Histogram,
            "HTTP request duration in seconds (from the log's request time).",
            Some(cx.field("request_time")),
            vec![
                ("source", source()),
                ("method", method()),
                ("route", route()),
            ],
        );
        m.buckets = cx.buckets.clone().map(RawBuckets::List);
        out.push(ProfileMetric {
            metric: m,
            needs: "sources with `profile: http` share this histogram, so they need the same `buckets`",
        });
    }
    if let Some(t) = &src.tenant {
        out.push(ProfileMetric {
            metric: metric(
                "http_tenant_requests_total",
                MetricType::Counter,
                "HTTP requests by tenant (customer company), route and device class.",
                None,
                vec![
                    ("source", source()),
                    ("tenant", t.clone()),
                    ("route", route()),
                    ("device", device()),
                ],
            ),
            needs: "from the source's `tenant:` label",
        });
        out.push(ProfileMetric {
            metric: metric(
                "http_tenant_responses_total",
                MetricType::Counter,
                "HTTP responses by tenant (customer company) and status class: which customers see errors.",
                None,
                vec![
                    ("source", source()),
                    ("tenant", t.clone()),
                    ("status_class", label(cx.field("status"), Some(TransformName::StatusClass))),
                ],
            ),
            needs: "from the source's `tenant:` label",
        });
    }
    out
}
