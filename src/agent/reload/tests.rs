use super::*;
use crate::agent::build;
use crate::store::push_label;

/// A config of sources `web` and `api` (http profile) plus `app`, with `extra` appended to
/// `app`'s metric list and `global` lines inserted.
fn yaml(global: &str, app_help: &str, sources: &[&str]) -> String {
    let mut y = format!("global:\n  state_dir: /nonexistent/state\n{global}sources:\n");
    for s in sources {
        match *s {
            "web" | "api" => y.push_str(&format!(
                "  - name: {s}\n    paths: ['/nonexistent/{s}/*.log']\n    format: combined\n    profile: http\n"
            )),
            "app" => y.push_str(&format!(
                "  - name: app\n    paths: ['/nonexistent/app.log']\n    format: logfmt\n    metrics:\n      - name: app_records_total\n        type: counter\n        help: {app_help}\n        labels:\n          level: {{field: level, values: [error, info]}}\n      - name: app_errors_total\n        type: counter\n        help: Errors.\n        match: {{level: error}}\n"
            )),
            other => panic!("{other}"),
        }
    }
    y
}

fn cfg(text: &str) -> Config {
    Config::from_yaml(text, "test.yml").expect("valid config")
}

fn live(c: Config) -> Live {
    let (store, _selfstore, _lines, workers) = build(&c, None).expect("build");
    let sources = workers
        .iter()
        .map(|w| Arc::new(SourceHandle::detached(w.shared().clone())))
        .collect();
    Live {
        cfg: c,
        store,
        sources,
    }
}

fn step_names(p: &Plan) -> Vec<String> {
    p.steps
        .iter()
        .zip(&p.cfg.sources)
        .map(|(s, src)| {
            let what = match s {
                Step::Keep(_) => "keep",
                Step::Restart { .. } => "restart",
                Step::Start { .. } => "start",
            };
            format!("{}:{what}", src.name)
        })
        .collect()
}

#[test]
fn same_config_keeps_every_source_and_family() {
    let text = yaml("", "Records.", &["web", "app"]);
    let old = live(cfg(&text));
    let p = plan(&old, cfg(&text), false).expect("plan");
    assert_eq!(step_names(&p), ["web:keep", "app:keep"]);
    assert!(p.families_added.is_empty() && p.families_redefined.is_empty());
    assert!(p.families_removed.is_empty() && p.needs_restart.is_empty());
    for f in old.store.families() {
        let now = family_named(&p.store, &f.desc().name).expect("kept");
        assert!(
            Arc::ptr_eq(&f, &now),
            "{} is the same object",
            f.desc().name
        );
    }
}

#[test]
fn a_redefined_metric_restarts_its_source_only_and_keeps_the_others_families() {
    let old = live(cfg(&yaml("", "Records.", &["web", "app"])));
    let p = plan(&old, cfg(&yaml("", "Log records.", &["web", "app"])), false).expect("plan");
    assert_eq!(step_names(&p), ["web:keep", "app:restart"]);
    assert_eq!(p.families_redefined, ["app_records_total"]);
    let same = |n: &str| {
        Arc::ptr_eq(
            &family_named(&old.store, n).expect("old"),
            &family_named(&p.store, n).expect("new"),
        )
    };
    assert!(!same("app_records_total"), "help changed: a new family");
    assert!(
        same("app_errors_total"),
        "unchanged in a changed source: kept"
    );
    assert!(same("http_requests_total"));
}

#[test]
fn sources_added_and_removed() {
    let old = live(cfg(&yaml("", "Records.", &["web", "app"])));
    let p = plan(&old, cfg(&yaml("", "Records.", &["web", "api"])), false).expect("plan");
    assert_eq!(step_names(&p), ["web:keep", "api:start"]);
    let removed: Vec<&str> = p.removed.iter().map(|h| h.shared.name.as_str()).collect();
    assert_eq!(removed, ["app"]);
    let mut gone = p.families_removed.clone();
    gone.sort();
    assert_eq!(gone, ["app_errors_total", "app_records_total"]);
}

#[test]
fn settings_that_need_a_restart_keep_their_running_values() {
    let old = live(cfg(&yaml("  listen: 127.0.0.1:1\n", "Records.", &["web"])));
    let new = cfg(&yaml(
        "  listen: 127.0.0.1:2\n  series_limit: 7\n  checkpoint: read\n",
        "Records.",
        &["web"],
    ));
    let p = plan(&old, new.clone(), false).expect("plan");
    assert_eq!(p.needs_restart.len(), 3, "{:?}", p.needs_restart);
    assert!(p.needs_restart[0].starts_with("global.listen"));
    assert_eq!(p.cfg.global.listen, "127.0.0.1:1");
    assert_eq!(p.cfg.global.series_limit, old.cfg.global.series_limit);
    assert_eq!(p.cfg.global.checkpoint, old.cfg.global.checkpoint);
    // Unchanged limit: the families are kept, so is the source.
    assert_eq!(step_names(&p), ["web:keep"]);
    // With --listen, global.listen is not in use: not reported.
    let p = plan(&old, new, true).expect("plan");
    assert_eq!(p.needs_restart.len(), 2);
}

#[test]
fn tailing_settings_restart_every_source() {
    let old = live(cfg(&yaml("", "Records.", &["web", "app"])));
    let p = plan(
        &old,
        cfg(&yaml("  rotate_wait: 9s\n", "Records.", &["web", "app"])),
        false,
    )
    .expect("plan");
    assert_eq!(step_names(&p), ["web:restart", "app:restart"]);
    assert!(p.families_redefined.is_empty());
}

#[test]
fn a_conflict_between_sources_rejects_the_reload_naming_the_key() {
    let old = live(cfg(&yaml("", "Records.", &["web"])));
    let bad =
        yaml("", "Records.", &["web", "app"]).replace("app_errors_total", "app_records_total");
    // Same name twice in one source is a validation error; across the file it names the key.
    let err = match Config::from_yaml(&bad, "test.yml") {
        Err(e) => e.to_string(),
        Ok(c) => plan(&old, c, false).err().expect("rejected"),
    };
    assert!(err.starts_with("test.yml: sources[1].metrics[1]"), "{err}");
}

#[test]
fn a_removed_source_leaves_no_series_in_shared_families() {
    let old = live(cfg(&yaml("", "Records.", &["web", "api"])));
    let fam = family_named(&old.store, "http_requests_total").expect("family");
    let src = fam
        .desc()
        .labels
        .iter()
        .position(|l| l.name == "source")
        .expect("source label");
    let mut keys = Vec::new();
    for s in ["web", "api"] {
        let mut k = Vec::new();
        for (i, _) in fam.desc().labels.iter().enumerate() {
            push_label(&mut k, if i == src { s.as_bytes() } else { b"x" });
        }
        fam.declare(&k);
        keys.push(k);
    }
    let new = cfg(&yaml("", "Records.", &["web"]));
    let p = plan(&old, new, false).expect("plan");
    let def = old
        .cfg
        .sources
        .iter()
        .find(|s| s.name == "api")
        .expect("api");
    remove_rule_series(def, &old, &p.cfg, &p.store);
    let mut left = Vec::new();
    fam.for_each(|s| left.push(s.label_values().nth(src).unwrap_or_default().to_vec()));
    assert!(!left.contains(&b"api".to_vec()), "api's series removed");
    assert!(left.contains(&b"web".to_vec()), "web's series kept");
}

#[test]
fn the_shipped_examples_reload_onto_themselves_with_nothing_restarted() {
    for name in ["full.yml", "groupware.yml", "quickstart.yml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        let c = Config::load(&path).expect("example loads");
        let old = live(c.clone());
        let p = plan(&old, c, false).expect("plan");
        assert!(
            p.steps.iter().all(|s| matches!(s, Step::Keep(_))),
            "{name}: {:?}",
            step_names(&p)
        );
        assert!(p.families_redefined.is_empty(), "{name}");
    }
}

/// Planning a reload looks each family up by name in the store's index. It scanned the
/// family list several times per metric: 40,000 metrics took 138 s of CPU in a release build
/// (`scripts/bench-many-metrics`), 20,000 take minutes here in a debug build; building them
/// takes seconds. Bound: 10 × the time the same config
/// took to build, however loaded the machine.
#[test]
fn reloading_many_metrics_takes_time_linear_in_them() {
    let mut text = String::from(
        "global:\n  state_dir: /nonexistent/state\nsources:\n  - name: app\n    paths: ['/nonexistent/app.log']\n    format: logfmt\n    metrics:\n",
    );
    for i in 0..20_000 {
        text.push_str(&format!("      - {{name: m{i}_total, type: counter}}\n"));
    }
    let c = cfg(&text);
    let start = std::time::Instant::now();
    let old = live(c.clone());
    let built = start.elapsed();
    let start = std::time::Instant::now();
    let p = plan(&old, c, false).expect("plan");
    let planned = start.elapsed();
    assert_eq!(step_names(&p), ["app:keep"]);
    assert_eq!(p.store.families().len(), 20_000);
    assert!(
        planned < built * 10 + std::time::Duration::from_secs(2),
        "planning took {planned:?}, building {built:?}: quadratic?"
    );
}
