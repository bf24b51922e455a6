//! Config reload (SIGHUP, `POST /-/reload`): re-read `--config`, change only what changed.
//!
//! A reload is planned first, with no effect on what runs: the new file is loaded and validated,
//! every source's rules are compiled into a scratch store, and each new family is compared with
//! the running one of the same name. Any error there rejects the reload, logged with the file
//! and key, and the running config stays. Then it is applied:
//! - a family whose definition (name, help, type, labels, buckets, limit) is unchanged is the
//!   same object in the new store: its values go on; a redefined one starts from zero (logged);
//!   a removed one leaves `/metrics`;
//! - a source whose definition and families are unchanged keeps its thread: no line is missed
//!   or read twice; a changed one is stopped, then started again from the offsets it applied,
//!   with the new rules; a removed one is stopped, its series and checkpoint dropped; a new one
//!   starts like at start-up;
//! - global settings that the running agent cannot change (listen address, state directory,
//!   checkpoint mode, series limit) keep their running values and are logged as needing a
//!   restart.
//!
//! The swap happens under the scrape lock, so no scrape (and no checkpoint) sees half of it:
//! sources that restart are stopped before it, and started only once the new store is in place.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::run::{self, Live, Running, SourceHandle};
use super::setup;
use super::worker::{SelfMetrics, SourceShared, Worker};
use crate::config::{Config, Global, LabelValue, Metric};
use crate::rules::SourceRules;
use crate::source::Tailer;
use crate::store::{key_values, Family, Kind, Series, Store};

/// The reload trigger's state and its two self-metrics (Prometheus' names, prefixed).
pub(super) struct Reloader {
    /// `--config` (`None`: the embedded config).
    path: Option<PathBuf>,
    /// `--listen` was given: `global.listen` in the file is not used, so not reported.
    listen_overridden: bool,
    /// One reload at a time; `true` once the agent shuts down (no reload may start sources).
    lock: Mutex<bool>,
    ok: Arc<Series>,
    last_ok: Arc<Series>,
}

impl Reloader {
    /// Register the reload metrics; the config loaded at start-up counts as a success.
    pub(super) fn new(selfstore: &Store, path: Option<PathBuf>, listen_overridden: bool) -> Self {
        let ok = setup::self_family(
            selfstore,
            "logpulse_config_last_reload_successful",
            Kind::Gauge,
            "Whether the last configuration reload attempt was successful.",
            &[],
        )
        .declare(&[]);
        let last_ok = setup::self_family(
            selfstore,
            "logpulse_config_last_reload_success_timestamp_seconds",
            Kind::Gauge,
            "Timestamp of the last successful configuration reload (or of the start).",
            &[],
        )
        .declare(&[]);
        let r = Reloader {
            path,
            listen_overridden,
            lock: Mutex::new(false),
            ok,
            last_ok,
        };
        r.succeeded();
        r
    }

    fn succeeded(&self) {
        self.ok.set(1.0);
        self.last_ok.set(crate::store::now_secs() as f64);
    }

    /// At shutdown: wait for a reload in progress; none starts afterwards.
    pub(super) fn close(&self) {
        *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
    }
}

/// How a source of the new config comes to run.
enum Step {
    /// Same definition, same families: its thread goes on untouched.
    Keep(Arc<SourceHandle>),
    /// Changed: stopped, then started from its applied offsets with the new rules.
    Restart {
        old: Arc<SourceHandle>,
        rules: SourceRules,
        why: String,
    },
    /// New in the config.
    Start { rules: SourceRules },
}

/// What a reload will do, worked out with no effect on what runs.
struct Plan {
    /// The new config, with the settings that need a restart at their running values.
    cfg: Config,
    store: Arc<Store>,
    /// One per source of `cfg`, in order.
    steps: Vec<Step>,
    /// Sources gone from the config.
    removed: Vec<Arc<SourceHandle>>,
    families_added: Vec<String>,
    families_redefined: Vec<String>,
    families_removed: Vec<String>,
    /// Settings changed in the file that keep their running value.
    needs_restart: Vec<String>,
}

/// Keep in `new` the running value of each global setting that cannot change live; say which
/// changed in the file.
fn keep_running_globals(old: &Global, new: &mut Global, listen_overridden: bool) -> Vec<String> {
    let mut msgs = Vec::new();
    if old.listen != new.listen {
        if !listen_overridden {
            msgs.push(format!(
                "global.listen: {:?} (running: {:?})",
                new.listen, old.listen
            ));
        }
        new.listen = old.listen.clone();
    }
    if old.state_dir != new.state_dir {
        msgs.push(format!(
            "global.state_dir: {:?} (running: {:?})",
            new.state_dir, old.state_dir
        ));
        new.state_dir = old.state_dir.clone();
    }
    if old.checkpoint != new.checkpoint {
        msgs.push(format!(
            "global.checkpoint: {:?} (running: {:?})",
            new.checkpoint, old.checkpoint
        ));
        new.checkpoint = old.checkpoint;
    }
    if old.series_limit != new.series_limit {
        msgs.push(format!(
            "global.series_limit: {} (running: {})",
            new.series_limit, old.series_limit
        ));
        new.series_limit = old.series_limit;
    }
    msgs
}

/// Whether the global settings every tailer runs with differ (every source then restarts).
fn tailing_changed(old: &Global, new: &Global) -> bool {
    old.max_line_bytes != new.max_line_bytes
        || old.poll_interval != new.poll_interval
        || old.partial_flush != new.partial_flush
        || old.rotate_wait != new.rotate_wait
}

/// By the store's index: a scan of its families for each name made reloading a config of
/// many metrics quadratic.
fn family_named(store: &Store, name: &str) -> Option<Arc<Family>> {
    store.family(name)
}

fn compile(cfg: &Config, i: usize, store: &Store) -> Result<SourceRules, String> {
    SourceRules::compile(cfg, i, store).map_err(|e| format!("{}: {e}", cfg.file))
}

/// Work out the reload of `old` to `new`; an error rejects it (nothing has changed then).
fn plan(old: &Live, mut new: Config, listen_overridden: bool) -> Result<Plan, String> {
    let needs_restart = keep_running_globals(&old.cfg.global, &mut new.global, listen_overridden);
    // A tailer started by the reload must not fail on what validation let through: try now.
    for (i, src) in new.sources.iter().enumerate() {
        Tailer::new(setup::tail_options(src, &new.global), Vec::new())
            .map_err(|e| format!("{}: sources[{i}] ({}): {e}", new.file, src.name))?;
    }
    // Every source compiled once into a scratch store: conflicts are found here, and the new
    // families (with their declared series) are made there.
    let scratch = Store::new();
    for i in 0..new.sources.len() {
        compile(&new, i, &scratch)?;
    }
    let store = Arc::new(Store::new());
    let (mut families_added, mut families_redefined) = (Vec::new(), Vec::new());
    for f in scratch.families() {
        let name = f.desc().name.clone();
        let fam = match family_named(&old.store, &name) {
            Some(o) if o.same_definition(&f) => o,
            Some(_) => {
                families_redefined.push(name);
                f
            }
            None => {
                families_added.push(name);
                f
            }
        };
        store.adopt(fam).map_err(|e| format!("{}: {e}", new.file))?;
    }
    let families_removed = old
        .store
        .families()
        .iter()
        .map(|f| f.desc().name.clone())
        .filter(|n| family_named(&store, n).is_none())
        .collect();
    let retail = tailing_changed(&old.cfg.global, &new.global);
    let mut steps = Vec::new();
    for (i, src) in new.sources.iter().enumerate() {
        let running = old
            .cfg
            .sources
            .iter()
            .position(|s| s.name == src.name)
            .map(|j| (&old.cfg.sources[j], &old.sources[j]));
        let Some((before, handle)) = running else {
            steps.push(Step::Start {
                rules: compile(&new, i, &store)?,
            });
            continue;
        };
        let redefined = src.metrics.iter().find(|m| {
            let now = family_named(&store, &m.name);
            let then = family_named(&old.store, &m.name);
            !matches!((now, then), (Some(a), Some(b)) if Arc::ptr_eq(&a, &b))
        });
        let why = if before.definition != src.definition {
            Some("its definition changed".to_string())
        } else if before.inputs != src.inputs {
            Some("a file it reads changed".to_string())
        } else if retail {
            Some("global tailing settings changed".to_string())
        } else {
            redefined.map(|m| format!("metric {} changed", m.name))
        };
        steps.push(match why {
            None => Step::Keep(handle.clone()),
            Some(why) => Step::Restart {
                old: handle.clone(),
                rules: compile(&new, i, &store)?,
                why,
            },
        });
    }
    let removed = old
        .cfg
        .sources
        .iter()
        .zip(&old.sources)
        .filter(|(s, _)| !new.sources.iter().any(|n| n.name == s.name))
        .map(|(_, h)| h.clone())
        .collect();
    Ok(Plan {
        cfg: new,
        store,
        steps,
        removed,
        families_added,
        families_redefined,
        families_removed,
        needs_restart,
    })
}

/// The labels of `m` that are a plain constant, by position (the family's label order).
fn constant_labels(m: &Metric) -> Vec<(usize, &str)> {
    m.labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match &l.value {
            LabelValue::Const(v)
                if l.regex.is_none() && l.transform.is_none() && l.map.is_none() =>
            {
                Some((i, v.as_str()))
            }
            _ => None,
        })
        .collect()
}

/// Remove the series that `removed`'s metrics left in families the new config keeps (another
/// source feeds them), when a constant label (the `source` label of profiles) tells them apart.
fn remove_rule_series(removed: &crate::config::Source, old: &Live, new: &Config, store: &Store) {
    for m in &removed.metrics {
        let (Some(now), Some(then)) = (
            family_named(store, &m.name),
            family_named(&old.store, &m.name),
        ) else {
            continue;
        };
        if !Arc::ptr_eq(&now, &then) {
            continue;
        }
        let consts = constant_labels(m);
        let shared = new
            .sources
            .iter()
            .flat_map(|s| &s.metrics)
            .any(|o| o.name == m.name && constant_labels(o) == consts);
        if consts.is_empty() || shared {
            continue;
        }
        now.remove_where(|key| {
            let values: Vec<&[u8]> = key_values(key).collect();
            consts
                .iter()
                .all(|(i, v)| values.get(*i) == Some(&v.as_bytes()))
        });
    }
}

/// Remove from every family of `store` with a label `label` the series where it is `value`.
fn remove_label_value(store: &Store, label: &str, value: &str) {
    for f in store.families() {
        if let Some(i) = f.desc().labels.iter().position(|l| l.name == label) {
            f.remove_where(|key| key_values(key).nth(i) == Some(value.as_bytes()));
        }
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

impl Running {
    /// Re-read `--config` and apply it (see the module docs). `trigger` names the cause in the
    /// log. `Err` has why the new config was rejected (the running one stays).
    pub(super) fn reload_config(&self, trigger: &str) -> Result<(), String> {
        let closed = self.reload.lock.lock().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return Err("the agent is shutting down".into());
        }
        let Some(path) = &self.reload.path else {
            tracing::info!(
                "{trigger}: running the embedded default config (no --config): nothing to re-read"
            );
            self.reload.succeeded();
            return Ok(());
        };
        let outcome = crate::config::Config::load_regular(path)
            .map_err(|e| e.to_string())
            .and_then(|new| plan(&self.live(), new, self.reload.listen_overridden));
        match outcome {
            Ok(p) => {
                self.apply(p, trigger);
                self.reload.succeeded();
                Ok(())
            }
            Err(msg) => {
                self.reload.ok.set(0.0);
                // The next scrape shows it, not a render from before.
                self.scrape
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                tracing::error!(
                    "{trigger}: config not reloaded, the running one stays: {msg} (logpulse_config_last_reload_successful is 0)"
                );
                Err(msg)
            }
        }
    }

    fn apply(&self, plan: Plan, trigger: &str) {
        let old = self.live();
        for w in &plan.cfg.warnings {
            tracing::warn!("{}: {w}", plan.cfg.file);
        }
        for m in &plan.needs_restart {
            tracing::warn!(
                "{}: {m} needs a restart; the running value stays until then",
                plan.cfg.file
            );
        }
        // Stopped first, outside the scrape lock: their last batches applied, offsets final.
        let stopping: Vec<&Arc<SourceHandle>> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Restart { old, .. } => Some(old),
                _ => None,
            })
            .chain(&plan.removed)
            .collect();
        for h in &stopping {
            h.run.stop();
        }
        for h in &stopping {
            h.join();
        }
        // A process-wide budget the tailers read as they go: live.
        crate::source::set_max_open_files(plan.cfg.global.max_open_files);
        let mut renders = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let (mut kept, mut started, mut restarted) = (Vec::new(), Vec::new(), Vec::new());
        let mut handles = Vec::new();
        for (i, step) in plan.steps.into_iter().enumerate() {
            let src = &plan.cfg.sources[i];
            let (shared, mut rules) = match step {
                Step::Keep(h) => {
                    kept.push(src.name.clone());
                    handles.push(h);
                    continue;
                }
                Step::Restart { old, rules, why } => {
                    restarted.push(format!("{} ({why})", src.name));
                    (old.shared.clone(), rules)
                }
                Step::Start { rules } => {
                    started.push(src.name.clone());
                    let shared = Arc::new(SourceShared {
                        metrics: SelfMetrics::new(&self.selfstore, &src.name),
                        name: src.name.clone(),
                        progress: Default::default(),
                        last_error: Default::default(),
                        caught_up: Default::default(),
                    });
                    (shared, rules)
                }
            };
            super::keep_lines(&mut rules, src, &self.lines);
            let w = Worker::new(rules, shared, src.multiline.clone());
            let topts = setup::tail_options(src, &plan.cfg.global);
            let restarts = setup::source_series(&self.restarts, &src.name);
            match run::spawn_source(topts, w, None, restarts) {
                Ok(h) => handles.push(Arc::new(h)),
                Err(e) => tracing::error!(
                    source = %src.name,
                    "{e}; the source does not run until the agent restarts"
                ),
            }
        }
        let removed: Vec<String> = plan.removed.iter().map(|h| h.shared.name.clone()).collect();
        for h in &plan.removed {
            if let Some(def) = old.cfg.sources.iter().find(|s| s.name == h.shared.name) {
                remove_rule_series(def, &old, &plan.cfg, &plan.store);
            }
            remove_label_value(&self.selfstore, "source", &h.shared.name);
        }
        for f in [&self.series, &self.dropped] {
            f.remove_where(|key| {
                key_values(key)
                    .next()
                    .and_then(|m| std::str::from_utf8(m).ok())
                    .is_none_or(|m| family_named(&plan.store, m).is_none())
            });
        }
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Live {
            cfg: plan.cfg,
            store: plan.store,
            sources: handles,
        });
        self.drop_checkpoints(&removed);
        renders.clear();
        drop(renders);
        for f in &plan.families_redefined {
            tracing::warn!("metric {f} is redefined: its values start again from 0");
        }
        tracing::info!(
            "{trigger}: config reloaded from {}: sources unchanged: {}; started: {}; restarted from their offsets: {}; stopped: {}; metrics added: {}; redefined: {}; removed: {}",
            path_or_embedded(&self.reload.path),
            list(&kept),
            list(&started),
            list(&restarted),
            list(&removed),
            list(&plan.families_added),
            list(&plan.families_redefined),
            list(&plan.families_removed),
        );
    }
}

fn path_or_embedded(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<embedded default config>".into())
}

#[cfg(test)]
mod tests;
