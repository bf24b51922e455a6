//! The usage aggregates (alert-rules/usage.rules.yml): every rule has the shape the docs
//! describe, the remote-write regex of its header selects exactly them, the Kubernetes copy is
//! in sync, and Prometheus loads them beside the alert rules.

#[path = "common/stack.rs"]
mod support;

use std::process::Command;

use support::*;

/// The `__name__` regex the rule file's header gives for a remote-write of the aggregates.
const AGGREGATES: &str = "[a-z_]+:http_[a-z_]+:increase1[mhd]";

fn usage_rules() -> std::path::PathBuf {
    repo().join("alert-rules/usage.rules.yml")
}

/// (record, expr) of every rule of a rule file.
fn records(path: &std::path::Path) -> Vec<(String, String)> {
    let y = yaml(path);
    let mut out = Vec::new();
    for g in y["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            let name = r["record"].as_str().or(r["alert"].as_str()).unwrap_or("");
            out.push((
                name.to_string(),
                r["expr"].as_str().unwrap_or("").trim().to_string(),
            ));
        }
    }
    out
}

/// The per-minute expression for raw counter `x` (the rule file's header explains it).
fn per_minute(x: &str) -> String {
    format!(
        "sum without (instance) (
    (({x} offset 30s) - last_over_time({x}[10m] offset 90s) >= 0)
      unless (min_over_time({x}[1m] offset 30s) == 0)
  or
    (({x} offset 30s) + clamp_min(max_over_time({x}[1m] offset 30s) - last_over_time({x}[10m] offset 90s), 0))
      and (({x} offset 30s) < last_over_time({x}[10m] offset 90s))
  or
    ({x} offset 30s) and (min_over_time({x}[1m] offset 30s) == 0)
)"
    )
}

#[test]
fn every_aggregate_has_the_documented_shape() {
    let y = yaml(&usage_rules());
    let groups = y["groups"].as_array().unwrap();
    assert_eq!(
        groups.len(),
        1,
        "one group: hours and days read the minutes of the same evaluation"
    );
    assert_eq!(
        groups[0]["interval"], "1m",
        "the per-minute arithmetic (offset 90s = 1m + 30s) needs a 1m interval"
    );
    let rules = records(&usage_rules());
    let minutes: Vec<&(String, String)> = rules
        .iter()
        .filter(|(n, _)| n.ends_with(":increase1m"))
        .collect();
    assert!(minutes.len() >= 9, "{} per-minute rules", minutes.len());
    let mut problems = Vec::new();
    for (name, expr) in &rules {
        let parts: Vec<&str> = name.split(':').collect();
        let [level, metric, op] = parts[..] else {
            problems.push(format!("{name}: not level:metric:operations"));
            continue;
        };
        let want = match op {
            "increase1m" => per_minute(&format!("{metric}_total")),
            "increase1h" => format!(
                "sum_over_time({level}:{metric}:increase1m[59m30s]) and on () (minute() == 59)"
            ),
            "increase1d" => format!(
                "sum_over_time({level}:{metric}:increase1h[23h30m]) and on () (hour() == 23 and minute() == 59)"
            ),
            _ => {
                problems.push(format!("{name}: unknown operation {op}"));
                continue;
            }
        };
        if *expr != want {
            problems.push(format!("{name}:\n{expr}\n  should be\n{want}"));
        }
        // Each minute rule has its hour and its day, after it (same evaluation, in order).
        if op == "increase1m" {
            let pos = |n: String| rules.iter().position(|(r, _)| *r == n);
            let m = pos(name.clone());
            let h = pos(format!("{level}:{metric}:increase1h"));
            let d = pos(format!("{level}:{metric}:increase1d"));
            if !(m < h && h < d && m.is_some()) {
                problems.push(format!(
                    "{name}: needs its increase1h and increase1d after it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The regex documented for remote-write keeps every aggregate and nothing else the repository
/// records or exports.
#[test]
fn remote_write_regex_selects_exactly_the_aggregates() {
    let header = read(&usage_rules());
    assert!(
        header.contains(&format!("__name__ =~ \"{AGGREGATES}\""))
            && header.contains(&format!("regex: \"{AGGREGATES}\"")),
        "alert-rules/usage.rules.yml's header must give the regex {AGGREGATES}"
    );
    let re = regex::Regex::new(&format!("^(?:{AGGREGATES})$")).unwrap();
    for (name, _) in records(&usage_rules()) {
        assert!(re.is_match(&name), "{name} is not selected by {AGGREGATES}");
    }
    for (name, _) in records(&repo().join("alert-rules/logpulse.rules.yml")) {
        assert!(
            !re.is_match(&name),
            "{name} (logpulse.rules.yml) would be kept by the aggregates' regex {AGGREGATES}"
        );
    }
    let docs = read(&repo().join("docs/metrics.md"));
    for word in docs.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        if word.starts_with("http_") || word.starts_with("logpulse_") {
            assert!(!re.is_match(word), "{word} would be kept by {AGGREGATES}");
        }
    }
}

#[test]
fn prometheus_operator_usage_rule_is_in_sync() {
    let rules = yaml(&usage_rules());
    let pr = yaml(&repo().join("deploy/kubernetes/prometheusrule-usage.yaml"));
    assert_eq!(pr["kind"], "PrometheusRule");
    assert!(
        pr["spec"]["groups"] == rules["groups"],
        "deploy/kubernetes/prometheusrule-usage.yaml differs from alert-rules/usage.rules.yml: \
         regenerate it with the command in its header"
    );
}

/// deploy/prometheus/prometheus.yml loads both rule files as installed (rules/*.rules.yml), and
/// deploy/compose.yaml mounts both.
#[test]
fn prometheus_loads_usage_rules_beside_the_alerts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        &d.join("prometheus.yml"),
        &read(&repo().join("deploy/prometheus/prometheus.yml")),
    );
    for f in ["logpulse.rules.yml", "usage.rules.yml"] {
        write(
            &d.join("rules").join(f),
            &read(&repo().join("alert-rules").join(f)),
        );
    }
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
    assert!(text.contains("2 rule files found"), "{text}");
    let compose = read(&repo().join("deploy/compose.yaml"));
    assert!(
        compose.contains("../alert-rules/usage.rules.yml:/etc/prometheus/rules/usage.rules.yml"),
        "deploy/compose.yaml does not mount the usage rules"
    );
}
