//! `profile: http`: access-log metrics with the names dashboards and alerts rely on
//! (docs/metrics.md): requests by method, status and route, response bytes, device classes,
//! request duration when the format has it, menus by device, known apps by platform and
//! version, security events, referrers when the format has a referer, page views (documents
//! people asked for) and their referrers, and per-tenant views with `tenant:`.
//!
//! Per-tenant metrics count people only (bots and scanners are in the per-source metrics,
//! `device="bot"`), and are sized, not capped by chance: their series limit is `tenants`
//! (default 1,000) times the series one tenant can take (menus × devices, menus × error
//! classes, referrer kinds), so the planned number of tenants never overflows, however they use
//! the service.

use super::{constant, label, metric, Context, Profile, ProfileLines, ProfileMetric};
use crate::config::raw::RawLabelFull;
use crate::config::raw::{
    MetricType, RawBuckets, RawCondition, RawConditionFull, RawLabel, RawMetric, Scalar,
};
use crate::rules::transform::{Referrers, TransformName, PERSON_CLASSES};

/// Tenants the per-tenant metrics are sized for when `tenants:` is not set.
pub const DEFAULT_TENANTS: usize = 1000;

/// The error classes of `http_tenant_errors_total`.
const ERROR_CLASSES: [&str; 2] = ["4xx", "5xx"];

/// The `http` profile.
pub static PROFILE: Profile = Profile {
    name: "http",
    roles: &[
        "request_method",
        "request_uri",
        "status",
        "body_bytes_sent",
        "http_user_agent",
        "http_referer",
        "request_time",
    ],
    options: &["tenant", "tenants", "routes", "path_prefix", "buckets"],
    metrics,
    // The tenant is open by design (a customer company per value); `check`'s series estimates
    // size it against `tenants:`.
    open_labels: &["tenant"],
    lines,
};

/// Longest `path_prefix`.
const MAX_PATH_PREFIX: usize = 200;

/// One `*` segment of a `path_prefix`: never a `/`, query, fragment, space or newline (the
/// templates join fields with newlines).
const SEGMENT: &str = r"[^/?#\s]+";

/// The label regex that leaves `prefix` (`/t/*`: `*` is any one segment) out of a URI, or of a
/// template that starts with one (`{request_uri}\n{http_user_agent}`), with the replacement
/// `$1$2$3$4`: `/t/acme/mail/list` → `/mail/list`, `/t/acme?x=1` → `/?x=1`, anything else as
/// it is. Errors say what a prefix may hold.
pub fn path_prefix_regex(prefix: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "{prefix:?}: a path of segments (letters, digits, '-', '.', '_', '~') or `*` for any \
             one segment, e.g. /t/*, at most {MAX_PATH_PREFIX} characters"
        )
    };
    let rest = prefix
        .strip_prefix('/')
        .filter(|r| !r.is_empty() && prefix.len() <= MAX_PATH_PREFIX)
        .ok_or_else(bad)?;
    let mut re = String::new();
    for (i, seg) in rest.split('/').enumerate() {
        if i > 0 {
            re.push('/');
        }
        match seg {
            "*" => re.push_str(SEGMENT),
            s if !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) =>
            {
                re.push_str(&regex::escape(s))
            }
            _ => return Err(bad()),
        }
    }
    // Leftmost alternative first: the prefix and a path after it; the prefix alone (its first
    // `/` kept, so that it becomes the root); anything else.
    Ok(format!(r"(?s)^(?:/{re}(/.*)|(/){re}((?:[?#\n].*)?)|(.*))$"))
}

/// A label whose value starts with the request URI, through `transform`, with the source's
/// `path_prefix` left out of the URI first.
fn uri_label(cx: &Context<'_>, mut l: RawLabelFull, transform: TransformName) -> RawLabel {
    l.transform = Some(transform);
    if let Some(p) = &cx.source.path_prefix {
        // Checked at validation.
        l.regex = path_prefix_regex(p).ok();
        l.replacement = Some("$1$2$3$4".into());
    }
    RawLabel::Full(Box::new(l))
}

/// The route label, as the metrics have it (same patterns, so `/lines?route=` takes an alert's
/// `route` label as it is).
fn route(cx: &Context<'_>) -> RawLabel {
    let l = RawLabelFull {
        field: Some(cx.field("request_uri")),
        patterns: cx.source.routes.clone(),
        ..Default::default()
    };
    uri_label(cx, l, TransformName::Route)
}

/// The menu label of a URI.
fn menu(cx: &Context<'_>) -> RawLabel {
    let l = RawLabelFull {
        field: Some(cx.field("request_uri")),
        ..Default::default()
    };
    uri_label(cx, l, TransformName::Menu)
}

/// A label from a template of fields, the URI first (`{request_uri}\n{http_user_agent}`),
/// through `transform`.
fn joined(cx: &Context<'_>, roles: &[&str], transform: TransformName) -> RawLabel {
    let template = roles
        .iter()
        .map(|r| format!("{{{}}}", cx.field(r)))
        .collect::<Vec<_>>()
        .join("\n");
    let l = RawLabelFull {
        template: Some(template),
        ..Default::default()
    };
    uri_label(cx, l, transform)
}

/// A page view's conditions: a GET answered 200 or 304 (the document was shown).
fn page_view(cx: &Context<'_>, mut m: RawMetric) -> RawMetric {
    m.matches.insert(
        cx.field("request_method"),
        RawCondition::Equals(Scalar::Str("GET".into())),
    );
    m.matches.insert(
        cx.field("status"),
        RawCondition::Full(RawConditionFull {
            one_of: Some(vec![Scalar::Int(200), Scalar::Int(304)]),
            ..Default::default()
        }),
    );
    m
}

/// Keep 5xx responses; store route, menu, status, method and tenant for filtering (`route` and
/// `menu` as the metrics have them, so an alert's labels are valid `/lines` filters).
fn lines(cx: &mut Context<'_>) -> ProfileLines {
    let five_xx = RawCondition::Full(RawConditionFull {
        ge: Some(500.0),
        lt: Some(600.0),
        ..Default::default()
    });
    let mut fields = vec![
        ("route", route(cx)),
        ("menu", menu(cx)),
        (
            "status",
            label(cx.field("status"), Some(TransformName::Status)),
        ),
        (
            "method",
            label(cx.field("request_method"), Some(TransformName::Method)),
        ),
    ];
    if let Some(t) = &cx.source.tenant {
        fields.push(("tenant", t.clone()));
    }
    ProfileLines {
        keep: vec![[(cx.field("status"), five_xx)].into_iter().collect()],
        fields,
    }
}

fn metrics(cx: &mut Context<'_>) -> Vec<ProfileMetric> {
    let has_time = cx.has("request_time");
    let has_referer = cx.has("http_referer");
    let has_ua = cx.has("http_user_agent");
    let cx = &*cx;
    let src = cx.source;
    let route = || route(cx);
    let source = || constant(&src.name);
    let method = || label(cx.field("request_method"), Some(TransformName::Method));
    let ua = |t| label(cx.field("http_user_agent"), Some(t));
    let device = || ua(TransformName::Device);
    let person = || ua(TransformName::Person);
    let menu = || menu(cx);
    // The menu of a person's request: bots and scanners are not any tenant's usage.
    let person_menu = || match has_ua {
        true => joined(
            cx,
            &["request_uri", "http_user_agent"],
            TransformName::PersonMenu,
        ),
        false => menu(),
    };
    let page = || joined(cx, &["request_uri", "http_user_agent"], TransformName::Page);
    let page_referrer = |t| joined(cx, &["request_uri", "http_user_agent", "http_referer"], t);
    let with_scale = |mut m: crate::config::raw::RawMetric, role: &str| {
        m.scale = cx.scale(role);
        m
    };
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
            metric: with_scale(
                metric(
                    "http_response_bytes_total",
                    MetricType::Counter,
                    "Response body bytes by route.",
                    Some(cx.field("body_bytes_sent")),
                    vec![("source", source()), ("route", route())],
                ),
                "body_bytes_sent",
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
        ProfileMetric {
            metric: metric(
                "http_menu_requests_total",
                MetricType::Counter,
                "HTTP requests by menu (from the `menus` table; scanner probes left out) and device class.",
                None,
                vec![("source", source()), ("menu", menu()), ("device", device())],
            ),
            needs: "the http profile needs URI and user agent fields",
        },
        ProfileMetric {
            metric: metric(
                "http_security_events_total",
                MetricType::Counter,
                "Requests flagged by the security rules, by kind (scanner_probe, path_traversal, sql_injection, bad_request, auth_failure).",
                None,
                vec![("source", source()), ("kind", security_label(cx, has_ua))],
            ),
            needs: "the http profile needs status, method and URI fields",
        },
    ];
    if !cx.transforms.devices.apps().is_empty() {
        out.push(ProfileMetric {
            metric: metric(
                "http_app_requests_total",
                MetricType::Counter,
                "HTTP requests from known apps (device_rules with `app`), by app, platform and version.",
                None,
                vec![
                    ("source", source()),
                    ("app", ua(TransformName::App)),
                    ("platform", ua(TransformName::Platform)),
                    ("app_version", ua(TransformName::AppVersion)),
                ],
            ),
            needs: "the http profile needs a user agent field",
        });
    }
    if has_time {
        let mut m = with_scale(
            metric(
                "http_request_duration_seconds",
                MetricType::Histogram,
                "HTTP request duration in seconds (from the log's request time).",
                Some(cx.field("request_time")),
                vec![
                    ("source", source()),
                    ("method", method()),
                    ("route", route()),
                ],
            ),
            "request_time",
        );
        m.buckets = cx.buckets.clone().map(RawBuckets::List);
        out.push(ProfileMetric {
            metric: m,
            needs: "sources with `profile: http` share this histogram, so they need the same `buckets`",
        });
    }
    if has_ua {
        out.push(ProfileMetric {
            metric: page_view(
                cx,
                metric(
                    "http_page_views_total",
                    MetricType::Counter,
                    "Page views: GETs of documents (not API calls or assets) by people (not bots or scanners) answered 200 or 304, by menu and device class.",
                    None,
                    vec![("source", source()), ("menu", page()), ("device", person())],
                ),
            ),
            needs: "the http profile needs method, status, URI and user agent fields",
        });
    }
    if has_referer && has_ua {
        out.push(ProfileMetric {
            metric: page_view(
                cx,
                metric(
                    "http_page_referrers_total",
                    MetricType::Counter,
                    "Page views by referrer: direct, internal, a search engine or app, a site's registrable domain (first `max_sites`), other.",
                    None,
                    vec![
                        ("source", source()),
                        ("referrer", page_referrer(TransformName::PageReferrer)),
                    ],
                ),
            ),
            needs: "from the format's referer field",
        });
    }
    if has_referer {
        out.push(ProfileMetric {
            metric: metric(
                "http_referrer_requests_total",
                MetricType::Counter,
                "HTTP requests by referrer: direct, internal, a search engine, a site's registrable domain (first `max_sites`), other.",
                None,
                vec![
                    ("source", source()),
                    (
                        "referrer",
                        label(cx.field("http_referer"), Some(TransformName::Referrer)),
                    ),
                ],
            ),
            needs: "from the format's referer field",
        });
    }
    if let Some(t) = &src.tenant {
        let tenants = src.tenants.unwrap_or(DEFAULT_TENANTS);
        let menus = cx.transforms.menus.names().len() + 1;
        let sized =
            |per_tenant: usize| Some(cx.series_limit.max(tenants.saturating_mul(per_tenant)));
        let people = if has_ua { PERSON_CLASSES.len() } else { 1 };
        let mut requests = metric(
            "http_tenant_requests_total",
            MetricType::Counter,
            "HTTP requests of people (bots and scanners left out) by tenant (customer company), menu and device class.",
            None,
            vec![
                ("source", source()),
                ("tenant", t.clone()),
                ("menu", menu()),
                ("device", person()),
            ],
        );
        requests.series_limit = sized(menus * people);
        let mut errors = metric(
            "http_tenant_errors_total",
            MetricType::Counter,
            "HTTP 4xx and 5xx responses to people (bots and scanners left out) by tenant (customer company), menu and status class: who sees errors, where.",
            None,
            vec![
                ("source", source()),
                ("tenant", t.clone()),
                ("menu", person_menu()),
                (
                    "status_class",
                    RawLabel::Full(Box::new(RawLabelFull {
                        field: Some(cx.field("status")),
                        transform: Some(TransformName::StatusClass),
                        values: Some(ERROR_CLASSES.map(String::from).to_vec()),
                        ..Default::default()
                    })),
                ),
            ],
        );
        errors.matches.insert(
            cx.field("status"),
            RawCondition::Full(RawConditionFull {
                ge: Some(400.0),
                lt: Some(600.0),
                ..Default::default()
            }),
        );
        errors.series_limit = sized(menus * ERROR_CLASSES.len());
        let mut per_tenant = vec![requests, errors];
        if has_ua {
            let mut views = page_view(
                cx,
                metric(
                    "http_tenant_page_views_total",
                    MetricType::Counter,
                    "Page views (documents people asked for, answered 200 or 304) by tenant (customer company), menu and device class.",
                    None,
                    vec![
                        ("source", source()),
                        ("tenant", t.clone()),
                        ("menu", page()),
                        ("device", person()),
                    ],
                ),
            );
            views.series_limit = sized(cx.transforms.pages.values().len() * people);
            per_tenant.push(views);
        }
        if has_ua && has_referer {
            let mut referrers = page_view(
                cx,
                metric(
                    "http_tenant_page_referrers_total",
                    MetricType::Counter,
                    "Page views by tenant (customer company) and referrer: direct, internal, a search engine or app, site (any other website), other.",
                    None,
                    vec![
                        ("source", source()),
                        ("tenant", t.clone()),
                        ("referrer", page_referrer(TransformName::PageReferrerKind)),
                    ],
                ),
            );
            referrers.series_limit = sized(Referrers::kind_values().len());
            per_tenant.push(referrers);
        }
        for m in per_tenant {
            out.push(ProfileMetric {
                metric: m,
                needs: "from the source's `tenant:` label",
            });
        }
    }
    out
}

/// `kind`: the security transform over status, method, URI and (when the format has one) the
/// user agent, joined by newlines as the transform reads them.
fn security_label(cx: &Context<'_>, has_ua: bool) -> RawLabel {
    let mut template = format!(
        "{{{}}}\n{{{}}}\n{{{}}}\n",
        cx.field("status"),
        cx.field("request_method"),
        cx.field("request_uri")
    );
    if has_ua {
        template.push_str(&format!("{{{}}}", cx.field("http_user_agent")));
    }
    RawLabel::Full(Box::new(RawLabelFull {
        template: Some(template),
        transform: Some(TransformName::Security),
        ..Default::default()
    }))
}
