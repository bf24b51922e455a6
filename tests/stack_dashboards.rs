//! Lints the Grafana dashboards (there is no Grafana server or schema package here): structure,
//! variables, panel layout, data source use, rate windows, and every PromQL expression parsed by
//! Prometheus' own parser (promtool on generated recording rules). tests/stack_e2e.rs then runs
//! every expression against a live Prometheus fed by the agent.

#[path = "common/stack.rs"]
mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use support::*;

fn dashboards() -> Vec<(String, Value)> {
    let files = files(&repo().join("grafana-dashboards"), ".json");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Every dashboard is one an end-to-end test runs against live data, and the other way round.
    let proven: Vec<&str> = ACCESS_LOG_DASHBOARDS
        .iter()
        .chain(APP_SECURITY_DASHBOARDS)
        .copied()
        .collect();
    for want in &proven {
        assert!(
            names.iter().any(|n| n == want),
            "grafana-dashboards/{want} missing"
        );
    }
    for n in &names {
        assert!(
            proven.contains(&n.as_str()),
            "grafana-dashboards/{n}: no end-to-end test runs its queries (tests/common/stack.rs)"
        );
    }
    files
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&read(f))
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", f.display()));
            (f.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect()
}

const BUILTIN_VARS: &[&str] = &[
    "__rate_interval",
    "__interval",
    "__range",
    "__interval_ms",
    "__range_s",
    "__range_ms",
];

#[test]
fn dashboards_are_well_formed() {
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for (name, d) in dashboards() {
        let mut p = |m: String| problems.push(format!("{name}: {m}"));
        let uid = d["uid"].as_str().unwrap_or("");
        if uid.is_empty()
            || uid.len() > 40
            || !uid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            p(format!("bad uid {uid:?}"));
        }
        if !uids.insert(uid.to_string()) {
            p(format!("duplicate uid {uid}"));
        }
        if format!("{uid}.json") != name {
            p(format!("file name should be <uid>.json (uid {uid})"));
        }
        if d["title"].as_str().unwrap_or("").is_empty() {
            p("no title".into());
        }
        if d["schemaVersion"] != 39 {
            p(format!("schemaVersion {} (want 39)", d["schemaVersion"]));
        }
        if !d["id"].is_null() {
            p("dashboard id must be null (Grafana assigns it)".into());
        }
        if !d["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "logpulse"))
        {
            p("tag logpulse missing (dashboard links use it)".into());
        }

        // Variables.
        let vars = d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let var_names: BTreeSet<String> = vars
            .iter()
            .filter_map(|v| v["name"].as_str().map(String::from))
            .collect();
        match vars.iter().find(|v| v["name"] == "datasource") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            _ => p("needs a variable `datasource` of type datasource, query prometheus".into()),
        }
        for want in ["job", "instance", "source"] {
            match vars.iter().find(|v| v["name"] == want) {
                None => p(format!("variable {want} missing")),
                Some(v) => {
                    let q = v["definition"].as_str().unwrap_or("");
                    if v["type"] != "query" || !q.starts_with("label_values(") {
                        p(format!(
                            "variable {want} should be a label_values(...) query, is {q:?}"
                        ));
                    }
                    // The classic string form works in every Grafana version; an object with
                    // qryType 1 would need separate label/metric fields.
                    if v["query"].as_str() != Some(q) {
                        p(format!("variable {want}: query should be the string {q:?}"));
                    }
                    if v["datasource"]["uid"] != "${datasource}" {
                        p(format!("variable {want} does not use ${{datasource}}"));
                    }
                }
            }
        }
        for v in &vars {
            if v["type"] == "query" {
                let q = v["query"]["query"]
                    .as_str()
                    .or(v["query"].as_str())
                    .unwrap_or("");
                for used in grafana_vars(q) {
                    if !var_names.contains(&used) {
                        p(format!("variable {} uses undefined ${used}", v["name"]));
                    }
                }
            }
        }

        // Panels: unique ids, layout inside 24 columns and without overlaps.
        let all = panels(&d);
        let mut ids = BTreeSet::new();
        let mut boxes: Vec<(i64, i64, i64, i64, String)> = Vec::new();
        let mut threshold_lines = 0;
        for panel in &all {
            let title = panel["title"].as_str().unwrap_or("").to_string();
            let id = panel["id"].as_i64();
            match id {
                Some(id) if ids.insert(id) => {}
                _ => p(format!(
                    "panel {title:?}: missing or duplicate id {:?}",
                    panel["id"]
                )),
            }
            let g = &panel["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_i64(),
                g["y"].as_i64(),
                g["w"].as_i64(),
                g["h"].as_i64(),
            );
            let (Some(x), Some(y), Some(w), Some(h)) = (x, y, w, h) else {
                p(format!("panel {title:?}: gridPos needs x, y, w, h"));
                continue;
            };
            if x < 0 || w < 1 || x + w > 24 || h < 1 || y < 0 {
                p(format!(
                    "panel {title:?}: gridPos out of the 24-column grid: {g}"
                ));
            }
            for (bx, by, bw, bh, bt) in &boxes {
                if x < bx + bw && bx < &(x + w) && y < by + bh && by < &(y + h) {
                    p(format!("panels {bt:?} and {title:?} overlap"));
                }
            }
            boxes.push((x, y, w, h, title.clone()));
            if panel["type"] == "row" {
                continue;
            }
            if panel["datasource"]["uid"] != "${datasource}" {
                p(format!(
                    "panel {title:?}: datasource must be ${{datasource}}"
                ));
            }
            let ty = panel["type"].as_str().unwrap_or("");
            if ty != "heatmap"
                && ty != "text"
                && panel["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty()
            {
                p(format!("panel {title:?}: no unit"));
            }
            if panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
                .as_str()
                .is_some_and(|m| m != "off")
            {
                threshold_lines += 1;
            }
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() && ty != "text" {
                p(format!("panel {title:?}: no targets"));
            }
            let mut refs = BTreeSet::new();
            for t in &targets {
                let r = t["refId"].as_str().unwrap_or("");
                if !refs.insert(r.to_string()) {
                    p(format!("panel {title:?}: duplicate refId {r:?}"));
                }
                if t["datasource"]["uid"] != "${datasource}" {
                    p(format!(
                        "panel {title:?} {r}: target datasource must be ${{datasource}}"
                    ));
                }
                let expr = t["expr"].as_str().unwrap_or("");
                if expr.trim().is_empty() {
                    p(format!("panel {title:?} {r}: empty expr"));
                }
                let instant = t["instant"].as_bool().unwrap_or(false);
                for sel in range_selectors(expr) {
                    let ok = sel == "$__rate_interval" || (instant && sel == "$__range");
                    if !ok {
                        p(format!("panel {title:?} {r}: range [{sel}] should be [$__rate_interval] ([$__range] only in instant queries): {expr}"));
                    }
                }
                for v in grafana_vars(expr) {
                    if !var_names.contains(&v) && !BUILTIN_VARS.contains(&v.as_str()) {
                        p(format!("panel {title:?} {r}: undefined variable ${v}"));
                    }
                }
                for v in ["job", "instance"] {
                    if !expr.contains(&format!("{v}=~\"${v}\""))
                        && !expr.starts_with("count(ALERTS")
                        && !expr.contains("ALERTS{")
                    {
                        p(format!(
                            "panel {title:?} {r}: does not filter on {v}=~\"${v}\": {expr}"
                        ));
                    }
                }
            }
        }
        if name == "logpulse-service.json" && threshold_lines < 4 {
            p(format!("service dashboard should draw the alert thresholds as lines (found {threshold_lines} panels)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The thresholds the alerts use appear on the service dashboard, so a page and the graph agree.
#[test]
fn service_dashboard_draws_alert_thresholds() {
    let d: Value = serde_json::from_str(&read(
        &repo().join("grafana-dashboards/logpulse-service.json"),
    ))
    .unwrap();
    let mut values = BTreeSet::new();
    for p in panels(&d) {
        for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(v) = s["value"].as_f64() {
                values.insert(format!("{v}"));
            }
        }
    }
    for want in ["0.25", "0.0144", "0.006", "1", "5"] {
        assert!(
            values.contains(want),
            "threshold {want} of the alert rules is not drawn on the service dashboard: {values:?}"
        );
    }
}

/// Every panel and variable expression parses with Prometheus' own parser.
#[test]
fn dashboard_expressions_parse() {
    let promtool = tool("promtool");
    let tmp = tempfile::tempdir().unwrap();
    let mut rules = Vec::new();
    for (file, title, refid, expr, _) in dashboard_queries() {
        let e = substitute_grafana(&expr, "1m", "1h");
        rules.push(serde_json::json!({"record": format!("dashboard:check:{}", rules.len()), "expr": e, "labels": {"panel": format!("{file} / {title} / {refid}")}}));
    }
    assert!(rules.len() > 30, "only {} queries found", rules.len());
    // label_values(metric{...}, label): the selector must parse too.
    for (_, d) in dashboards() {
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            if let Some(q) = v["definition"].as_str() {
                if let Some(inner) = q
                    .strip_prefix("label_values(")
                    .and_then(|s| s.strip_suffix(')'))
                {
                    let sel = match inner.rfind(',') {
                        Some(i) => &inner[..i],
                        None => inner,
                    };
                    rules.push(serde_json::json!({"record": format!("dashboard:check:{}", rules.len()), "expr": substitute_grafana(sel, "1m", "1h")}));
                }
            }
        }
    }
    let file = tmp.path().join("dashboards.rules.yml");
    // JSON is YAML: promtool reads it as a rule file.
    write(
        &file,
        &serde_json::json!({"groups": [{"name": "dashboards", "rules": rules}]}).to_string(),
    );
    let out = Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a dashboard expression does not parse:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn provisioning_matches_the_dashboards() {
    let ds = yaml(&repo().join("grafana-dashboards/provisioning/datasources/prometheus.yml"));
    let d0 = &ds["datasources"][0];
    assert_eq!(d0["type"], "prometheus");
    assert!(
        d0["jsonData"]["timeInterval"].is_string(),
        "set timeInterval so $__rate_interval fits the scrape interval"
    );
    let prov = yaml(&repo().join("grafana-dashboards/provisioning/dashboards/logpulse.yml"));
    let path = prov["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path")
        .to_string();
    let compose = read(&repo().join("deploy/compose.yaml"));
    assert!(
        compose.contains(&format!("../grafana-dashboards:{path}")),
        "compose.yaml must mount the dashboards at {path}"
    );
}
