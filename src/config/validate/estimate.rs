//! Worst-case series per metric, from the value sets of its labels, for `check`'s estimates
//! and warnings.
//!
//! A label's value set is known when it is a constant (1), declared `values` (their number), a
//! `map` with a `default` (its distinct outputs), or a transform with a fixed output set
//! (`device` 5, `status_class` 6, `method` 18, `status` 501, `menu` the table's menus + `other`,
//! `referrer` engines + 3 + `max_sites`, `security` 5, `app`, `app_version`); a `default` adds
//! one value. Other labels (a route, a tenant, a raw field) are open: the estimate is per value
//! of them. Warnings:
//! - the known labels alone can exceed the metric's series limit;
//! - two open labels are crossed (`tenant × route`), with no `series_limit` sized for it;
//! - one open label other than a route has room for fewer than [`PLANNED_VALUES`] values
//!   (1,000 tenants, customers, hosts ...) before the limit, with no `series_limit` of its own.
//!   Routes are left out of this one: their count is the application's, and the route
//!   transform normalises them.

use std::collections::BTreeSet;

use crate::config::model::{Config, Label, LabelValue, Metric, MetricType};
use crate::rules::transform::Transform;
use crate::store::family::overflow_reserve;

/// Values of an open label (tenants, ...) a metric should have room for.
pub const PLANNED_VALUES: usize = 1000;

/// Most values `l` takes, `None` when the set is open.
fn size(l: &Label) -> Option<usize> {
    if matches!(l.value, LabelValue::Const(_)) {
        return Some(1);
    }
    let default = l.default.as_deref();
    if let Some(map) = &l.map {
        let d = default?;
        let outs: BTreeSet<&str> = map.values().map(String::as_str).chain([d]).collect();
        return Some(outs.len());
    }
    let extra =
        |vals: &[String]| usize::from(default.is_some_and(|d| !vals.iter().any(|v| v == d)));
    if let Some(k) = &l.known {
        return Some(k.len() + extra(k));
    }
    let c = l
        .transform
        .as_ref()
        .and_then(Transform::cardinality)
        .or(l.bound)?;
    Some(c + usize::from(default.is_some()))
}

fn is_route(l: &Label) -> bool {
    matches!(l.transform, Some(Transform::Route(_)))
}

struct Estimate<'a> {
    /// Product of the known labels' sizes (saturating).
    known: u128,
    /// `method 18 × status 501`.
    factors: String,
    open: Vec<&'a Label>,
}

fn estimate(m: &Metric) -> Estimate<'_> {
    let mut known = 1u128;
    let mut factors = Vec::new();
    let mut open = Vec::new();
    for l in &m.labels {
        match size(l) {
            Some(n) => {
                known = known.saturating_mul(n as u128);
                if n > 1 {
                    factors.push(format!("{} {n}", l.name));
                }
            }
            None => open.push(l),
        }
    }
    Estimate {
        known,
        factors: if factors.is_empty() {
            "one series".into()
        } else {
            factors.join(" × ")
        },
        open,
    }
}

/// Add the series warnings of one source's `metrics` (limit `global` unless their own).
pub(super) fn warn(metrics: &[Metric], global: usize, warnings: &mut Vec<String>) {
    for m in metrics {
        let limit = m.series_limit.unwrap_or(global);
        let e = estimate(m);
        let (key, name) = (&m.key, &m.name);
        if e.known > limit as u128 {
            warnings.push(format!(
                "{key}: {name} can take {} series from its known labels alone ({}), more than \
                 its series limit {limit}: new combinations will fold into __overflow__",
                e.known, e.factors
            ));
            continue;
        }
        if m.series_limit.is_some() {
            continue;
        }
        let room = limit as u128 / e.known.max(1);
        match e.open.as_slice() {
            [a, b, ..] => warnings.push(format!(
                "{key}: {name} crosses two open labels, {} and {} ({} series per pair: {}): its \
                 series limit {limit} holds {room} pairs, e.g. 100 {} × {} {}; count them in \
                 separate metrics, or give the metric a series_limit sized for it",
                a.name,
                b.name,
                e.known,
                e.factors,
                a.name,
                room / 100,
                b.name
            )),
            // Said even when the label is warned about as open (bounds.rs): that warning is
            // about where its values come from, this one about how many fit.
            [l] if !is_route(l) && room < PLANNED_VALUES as u128 => {
                warnings.push(format!(
                    "{key}: {name} has room for {room} values of {} before its series limit \
                     {limit} ({} series per value: {}); {PLANNED_VALUES} values need \
                     series_limit {}",
                    l.name,
                    e.known,
                    e.factors,
                    e.known * PLANNED_VALUES as u128
                ));
            }
            _ => {}
        }
    }
}

/// One line per metric of every source: its worst-case series, per value of its open labels,
/// and its series limit (`logpulse check` prints them).
pub fn series_estimates(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for s in &cfg.sources {
        for m in &s.metrics {
            let limit = m.series_limit.unwrap_or(cfg.global.series_limit);
            let e = estimate(m);
            let per = if e.open.is_empty() {
                String::new()
            } else {
                let names: Vec<&str> = e.open.iter().map(|l| l.name.as_str()).collect();
                format!(" per {}", names.join(" × "))
            };
            let mut line = format!(
                "{} {}: {} series{per} ({}), limit {limit}",
                s.name, m.name, e.known, e.factors
            );
            if let [l] = e.open.as_slice() {
                if !is_route(l) {
                    line.push_str(&format!(
                        ": room for {} values of {}",
                        limit as u128 / e.known.max(1),
                        l.name
                    ));
                }
            }
            out.push(line);
        }
    }
    out
}

/// Most series one metric can put into Prometheus: its label combinations when every label is
/// known and they fit the limit, else the limit plus the overflow reserve plus the
/// all-`__overflow__` series (the store never holds more); times the samples of one
/// combination (a histogram: its buckets, `+Inf`, `_sum` and `_count`).
fn most_series(m: &Metric, global: usize) -> u128 {
    let limit = m.series_limit.unwrap_or(global);
    let e = estimate(m);
    let combos = if e.open.is_empty() && e.known <= limit as u128 {
        e.known
    } else {
        (limit + overflow_reserve(limit) + 1) as u128
    };
    let samples = match m.kind {
        MetricType::Histogram => m.buckets.len() as u128 + 3,
        _ => 1,
    };
    combos.saturating_mul(samples)
}

/// 1234567 → `1,234,567`.
fn thousands(n: u128) -> String {
    let d = n.to_string();
    let mut out = String::with_capacity(d.len() + d.len() / 3);
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The most series one server's agent can put into Prometheus with `cfg` (every metric at its
/// bound), the metrics that weigh most, and with `servers`, the fleet's total: what one
/// Prometheus must be sized for at worst (`logpulse check --servers N`; docs/scaling.md has
/// what real traffic makes).
pub fn capacity(cfg: &Config, servers: Option<usize>) -> Vec<String> {
    let mut per: Vec<(u128, String)> = Vec::new();
    for s in &cfg.sources {
        for m in &s.metrics {
            per.push((
                most_series(m, cfg.global.series_limit),
                format!("{} {}", s.name, m.name),
            ));
        }
    }
    let total = per.iter().fold(0u128, |a, (n, _)| a.saturating_add(*n));
    per.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let top: Vec<String> = per
        .iter()
        .take(3)
        .filter(|(n, _)| *n > 0)
        .map(|(n, name)| format!("{name} {}", thousands(*n)))
        .collect();
    let mut out = vec![format!(
        "one server: at most {} series in Prometheus (each metric's label combinations, or its \
         series limit + overflow reserve; a histogram's buckets + 3 samples each), plus the agent's \
         own few dozen; most: {}",
        thousands(total),
        top.join(", ")
    )];
    if let Some(n) = servers {
        out.push(format!(
            "{n} servers: at most {} series in Prometheus (docs/scaling.md: what real traffic \
             makes, and when to shard, federate or remote-write)",
            thousands(total.saturating_mul(n as u128))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const NGINX: &str = r#"'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $host'"#;

    fn warnings(extra: &str) -> Vec<String> {
        let yaml = format!(
            "sources:\n  - name: w\n    paths: [x]\n    format: {{nginx: {NGINX}}}\n{extra}"
        );
        Config::from_yaml(&yaml, "t.yml")
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
            .warnings
            .into_iter()
            // The open-label warnings have their own tests (bounds.rs).
            .filter(|w| !w.contains("takes any value"))
            .collect()
    }

    /// Issue 10: 600 tenants × route × device overflowed 10,000 series and `check` said nothing.
    #[test]
    fn tenant_by_route_warns_and_the_sized_profile_does_not() {
        let w = warnings(
            "    metrics:\n      - name: t_total\n        type: counter\n        labels:\n          tenant: {field: host, regex: '^([^.]+)\\.'}\n          route: {field: request_uri, transform: route}\n          device: {field: http_user_agent, transform: device}\n",
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("crosses two open labels, route and tenant"),
            "{w:?}"
        );
        let w = warnings(
            "    metrics:\n      - name: t_total\n        type: counter\n        labels:\n          tenant: {field: host, regex: '^([^.]+)\\.'}\n          menu: {field: request_uri, transform: menu}\n          device: {field: http_user_agent, transform: device}\n",
        );
        assert!(
            w[0].contains("room for 90 values of tenant")
                && w[0].contains("(110 series per value: device 5 × menu 22)")
                && w[0].contains("need series_limit 110000"),
            "{w:?}"
        );
        let sized =
            warnings("    profile: http\n    tenant: {field: host, regex: '^([^.]+)\\.'}\n");
        assert!(sized.is_empty(), "{sized:?}");
    }

    #[test]
    fn known_labels_alone_can_exceed_a_limit() {
        let w = warnings(
            "    metrics:\n      - name: s_total\n        type: counter\n        series_limit: 100\n        labels:\n          m: {field: request_method, transform: method}\n          s: {field: status, transform: status_class}\n",
        );
        assert!(
            w[0].contains("can take 108 series from its known labels alone (m 18 × s 6)"),
            "{w:?}"
        );
        assert!(w[0].contains("series limit 100"), "{w:?}");
    }

    #[test]
    fn estimates_name_each_metric_and_its_room() {
        let cfg = Config::from_yaml(
            &format!("sources:\n  - name: w\n    paths: [x]\n    format: {{nginx: {NGINX}}}\n    profile: http\n    tenant: {{field: host}}\n    tenants: 200\n"),
            "t.yml",
        )
        .unwrap();
        let e = super::series_estimates(&cfg);
        let line = |m: &str| {
            e.iter()
                .find(|l| l.contains(m))
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            line("http_tenant_requests_total"),
            "w http_tenant_requests_total: 88 series per tenant (device 4 × menu 22), limit 17600: room for 200 values of tenant"
        );
        assert_eq!(
            line("http_tenant_errors_total"),
            "w http_tenant_errors_total: 44 series per tenant (menu 22 × status_class 2), limit 10000: room for 227 values of tenant"
        );
        assert_eq!(
            line("http_tenant_page_views_total"),
            "w http_tenant_page_views_total: 84 series per tenant (device 4 × menu 21), limit 16800: room for 200 values of tenant"
        );
        assert_eq!(
            line("http_tenant_page_referrers_total"),
            "w http_tenant_page_referrers_total: 25 series per tenant (referrer 25), limit 10000: room for 400 values of tenant"
        );
        assert!(line("http_requests_total")
            .ends_with("series per route (method 18 × status 501), limit 10000"));
        assert!(line("http_security_events_total").contains("5 series (kind 5)"));
    }

    #[test]
    fn source_transform_options_are_checked_where_they_are_written() {
        let err = |extra: &str| {
            let yaml = format!(
                "sources:\n  - name: w\n    paths: [x]\n    format: {{nginx: {NGINX}}}\n{extra}"
            );
            Config::from_yaml(&yaml, "t.yml").unwrap_err().to_string()
        };
        let e = err("    profile: http\n    device_rules: [{regex: '(', class: bot}]\n");
        assert!(
            e.contains("sources[0].device_rules[0].regex: invalid regex"),
            "{e}"
        );
        let e = err("    profile: http\n    menus: {mail: [mail], post: [/MAIL]}\n");
        assert!(e.contains("sources[0].menus.post[0]"), "{e}");
        let e =
            err("    metrics: [{name: a_total, type: counter}]\n    referrers: {max_sites: 3}\n");
        assert!(
            e.contains("sources[0].referrers: no label of this source reads it"),
            "{e}"
        );
        let e = err("    profile: http\n    tenants: 10\n");
        assert!(
            e.contains("sources[0].tenants") && e.contains("need `tenant:`"),
            "{e}"
        );
        let e =
            err("    profile: http\n    fields: {request_time: {field: request_time, scale: 0}}\n");
        assert!(e.contains("sources[0].fields.request_time.scale"), "{e}");
        let e = err("    profile: http\n    security_rules: [{kind: sql_injection}]\n");
        assert!(
            e.contains("sources[0].security_rules[0]: a rule needs"),
            "{e}"
        );
    }

    #[test]
    fn capacity_counts_bounds_and_histogram_samples() {
        let cfg = Config::from_yaml(
            &format!("global:\n  series_limit: 1000\nsources:\n  - name: w\n    paths: [x]\n    format: {{nginx: {NGINX}}}\n    metrics:\n      - {{name: a_total, type: counter, labels: {{d: {{field: http_user_agent, transform: device}}}}}}\n      - {{name: r_total, type: counter, labels: {{r: {{field: request_uri, transform: route}}}}}}\n      - {{name: t_seconds, type: histogram, value: request_time, buckets: [0.1, 1], labels: {{r: {{field: request_uri, transform: route}}}}, series_limit: 200}}\n"),
            "t.yml",
        )
        .unwrap();
        let c = super::capacity(&cfg, Some(100));
        // device: 5 combinations; route: 1000 + reserve 100 + 1; histogram: (200 + 64 + 1) × 5.
        assert!(
            c[0].starts_with("one server: at most 2,431 series in Prometheus"),
            "{c:?}"
        );
        assert!(
            c[0].ends_with("most: w t_seconds 1,325, w r_total 1,101, w a_total 5"),
            "{c:?}"
        );
        assert!(
            c[1].starts_with("100 servers: at most 243,100 series"),
            "{c:?}"
        );
        assert_eq!(super::capacity(&cfg, None).len(), 1);
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000), "1,000");
    }
}
