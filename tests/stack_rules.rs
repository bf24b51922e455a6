//! The alert rules, their unit tests, the Alertmanager and Prometheus configs, checked with the
//! real tools (promtool, amtool from Debian's prometheus / prometheus-alertmanager packages).
//! A missing tool fails the test with "run scripts/setup".

#[path = "common/stack.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use support::*;

fn rules_file() -> std::path::PathBuf {
    repo().join("alert-rules/logpulse.rules.yml")
}

/// (alertname, rule) for every alerting rule.
fn alerts() -> Vec<(String, serde_json::Value)> {
    let y = yaml(&rules_file());
    let mut out = Vec::new();
    for g in y["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            if let Some(a) = r["alert"].as_str() {
                out.push((a.to_string(), r.clone()));
            }
        }
    }
    out
}

#[test]
fn promtool_check_rules() {
    run_ok(
        Command::new(tool("promtool"))
            .arg("check")
            .arg("rules")
            .arg(rules_file()),
    );
}

#[test]
fn promtool_unit_tests_pass() {
    let tests = files(&repo().join("alert-rules/tests"), ".yml");
    assert!(!tests.is_empty(), "no alert-rules/tests/*.yml");
    // Annotations give times in Prometheus' local zone: the tests expect UTC.
    let out = run_ok(
        Command::new(tool("promtool"))
            .arg("test")
            .arg("rules")
            .args(&tests)
            .env("TZ", "UTC")
            .current_dir(repo()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("FAILED"), "{text}");
}

/// Every alert has a unit test where it fires and one where it stays silent.
#[test]
fn every_alert_is_unit_tested_firing_and_silent() {
    let mut fires: BTreeSet<String> = BTreeSet::new();
    let mut silent: BTreeSet<String> = BTreeSet::new();
    for f in files(&repo().join("alert-rules/tests"), ".yml") {
        let y = yaml(&f);
        let rf: Vec<&str> = y["rule_files"]
            .as_array()
            .expect("rule_files")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(
            rf.iter().any(|r| r.ends_with("logpulse.rules.yml")),
            "{} must load ../logpulse.rules.yml",
            f.display()
        );
        for t in y["tests"].as_array().expect("tests") {
            for a in t["alert_rule_test"].as_array().into_iter().flatten() {
                let name = a["alertname"].as_str().unwrap().to_string();
                let exp = a["exp_alerts"].as_array().map(|v| v.len()).unwrap_or(0);
                if exp > 0 {
                    fires.insert(name);
                } else {
                    silent.insert(name);
                }
            }
        }
    }
    let mut missing = Vec::new();
    for (a, _) in alerts() {
        if !fires.contains(&a) {
            missing.push(format!("{a}: no test where it fires"));
        }
        if !silent.contains(&a) {
            missing.push(format!("{a}: no test where it does not fire"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Labels and annotations every alert needs for routing and for a useful page, and a runbook
/// section in docs/runbooks.md for every runbook_url anchor.
#[test]
fn alerts_have_severity_annotations_and_runbooks() {
    let docs = read(&repo().join("docs/runbooks.md"));
    // GitHub anchors of the docs' headings: lower case, spaces → '-', punctuation dropped.
    let anchors: BTreeSet<String> = docs
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let mut problems = Vec::new();
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for (a, r) in alerts() {
        *by_name.entry(a.clone()).or_default() += 1;
        let sev = r["labels"]["severity"].as_str().unwrap_or("");
        if sev != "critical" && sev != "warning" {
            problems.push(format!("{a}: severity {sev:?} is not critical|warning"));
        }
        for k in ["summary", "description", "runbook_url"] {
            if r["annotations"][k].as_str().unwrap_or("").trim().is_empty() {
                problems.push(format!("{a}: annotation {k} missing"));
            }
        }
        let url = r["annotations"]["runbook_url"].as_str().unwrap_or("");
        let want = format!(
            "https://github.com/logpulse/logpulse/blob/main/docs/runbooks.md#runbook-{}",
            a.to_lowercase()
        );
        if url != want {
            problems.push(format!("{a}: runbook_url {url:?}, want {want:?}"));
        }
        if !anchors.contains(&format!("runbook-{}", a.to_lowercase())) {
            problems.push(format!(
                "{a}: docs/runbooks.md has no heading \"Runbook: {a}\""
            ));
        }
        // Alerts on HTTP metrics must say which source (and route, where they are per route).
        let expr = r["expr"].as_str().unwrap_or("");
        let summary = r["annotations"]["summary"].as_str().unwrap_or("");
        if expr.contains("http_") || expr.contains("job_source") {
            if !summary.contains("$labels.source") {
                problems.push(format!("{a}: summary does not name the source"));
            }
            if expr.contains("route") && !summary.contains("$labels.route") {
                problems.push(format!(
                    "{a}: per-route alert whose summary does not name the route"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        by_name.contains_key("HTTP5xxBurst"),
        "the fast per-route page is missing"
    );
}

#[test]
fn amtool_check_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = alertmanager_config_copy(
        tmp.path(),
        "https://hooks.slack.invalid/services/T0/B0/x",
        "dummy-routing-key",
    );
    let out = run_ok(Command::new(tool("amtool")).arg("check-config").arg(&cfg));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SUCCESS"), "{text}");
}

/// Secrets come from files: no inline webhook URL, routing key or API key in the repo's config.
#[test]
fn alertmanager_config_has_no_inline_secrets() {
    let text = read(&repo().join("alert-rules/alertmanager.yml"));
    for l in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        for k in [
            "api_url:",
            "slack_api_url:",
            "routing_key:",
            "service_key:",
            "api_key:",
            "opsgenie_api_key:",
            "auth_password:",
        ] {
            assert!(
                !l.starts_with(k) && !l.starts_with(&format!("- {k}")),
                "inline secret in alertmanager.yml: {l}"
            );
        }
    }
    assert!(text.contains("api_url_file:") && text.contains("routing_key_file:"));
}

/// Routing: critical → page (phone + Slack), warning → Slack ticket; resolved notices on.
#[test]
fn alertmanager_routes_by_severity() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = alertmanager_config_copy(tmp.path(), "https://hooks.slack.invalid/x", "dummy");
    let route = |labels: &[&str]| {
        let out = run_ok(
            Command::new(tool("amtool"))
                .args(["config", "routes", "test"])
                .arg(format!("--config.file={}", cfg.display()))
                .args(labels),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        route(&[
            "alertname=HTTP5xxBurst",
            "severity=critical",
            "source=web",
            "route=/api/v1/approval/items/:id"
        ]),
        "page"
    );
    assert_eq!(
        route(&[
            "alertname=LogSourceSilent",
            "severity=warning",
            "source=web"
        ]),
        "slack-ticket"
    );
    assert_eq!(route(&["alertname=Unknown"]), "slack-ticket");
    // A customer's alerts page (or ticket) grouped per tenant, whatever their name.
    assert_eq!(
        route(&[
            "alertname=HTTPTenant5xxBurst",
            "severity=critical",
            "source=web",
            "tenant=acme"
        ]),
        "page"
    );
    assert_eq!(
        route(&[
            "alertname=HTTPTenantErrorBudgetBurn",
            "severity=warning",
            "tenant=acme"
        ]),
        "slack-ticket"
    );
    let am = yaml(&repo().join("alert-rules/alertmanager.yml"));
    let tenant_route = am["route"]["routes"]
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["matchers"].to_string().contains("tenant"))
        })
        .expect("a route for tenant alerts");
    assert_eq!(
        tenant_route["group_by"],
        serde_json::json!(["service", "job", "source", "tenant"]),
        "one notification per tenant incident"
    );

    let am = yaml(&repo().join("alert-rules/alertmanager.yml"));
    let page = am["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "page")
        .expect("page receiver");
    assert!(
        page["pagerduty_configs"].is_array()
            || page["opsgenie_configs"].is_array()
            || page["webhook_configs"].is_array(),
        "page receiver has no phone integration"
    );
    assert!(
        page["slack_configs"].is_array(),
        "page receiver does not post to Slack"
    );
    for r in am["receivers"].as_array().unwrap() {
        for (k, v) in r.as_object().unwrap() {
            if let Some(list) = v.as_array() {
                for c in list {
                    assert_eq!(
                        c["send_resolved"],
                        serde_json::Value::Bool(true),
                        "receiver {} {k}: send_resolved must be true",
                        r["name"]
                    );
                }
            }
        }
    }
    let inhibits = am["inhibit_rules"].as_array().expect("inhibit_rules");
    assert!(inhibits.iter().any(|i| i["source_matchers"]
        .to_string()
        .contains("LogpulseAgentDown")
        && i["target_matchers"].to_string().contains("LogSourceSilent")
        && i["target_matchers"].to_string().contains("HTTPTrafficDrop")
        && i["equal"].to_string().contains("instance")));
}

/// deploy/prometheus/prometheus.yml, laid out as it is installed (rules/, targets/ beside it).
#[test]
fn promtool_check_prometheus_config() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        &d.join("prometheus.yml"),
        &read(&repo().join("deploy/prometheus/prometheus.yml")),
    );
    write(&d.join("rules/logpulse.rules.yml"), &read(&rules_file()));
    write(
        &d.join("targets/example.json"),
        &read(&repo().join("deploy/prometheus/targets.json")),
    );
    let out = run_ok(
        Command::new(tool("promtool"))
            .arg("check")
            .arg("config")
            .arg(d.join("prometheus.yml")),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 rule files found"),
        "rule_files do not match the rules: {text}"
    );
    let targets: serde_json::Value =
        serde_json::from_str(&read(&repo().join("deploy/prometheus/targets.json"))).unwrap();
    assert!(targets
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["targets"].is_array()));
}

/// deploy/kubernetes/prometheusrule.yaml carries exactly the groups of the rule file.
#[test]
fn prometheus_operator_rule_is_in_sync() {
    let rules = yaml(&rules_file());
    let pr = yaml(&repo().join("deploy/kubernetes/prometheusrule.yaml"));
    assert_eq!(pr["kind"], "PrometheusRule");
    assert!(
        pr["spec"]["groups"] == rules["groups"],
        "deploy/kubernetes/prometheusrule.yaml differs from alert-rules/logpulse.rules.yml: \
         regenerate it with the command in its header"
    );
}
