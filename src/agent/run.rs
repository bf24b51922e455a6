//! `run`: every source on a supervised thread, the exporter on a current-thread runtime, and
//! the checkpoints that tie what Prometheus scraped to the offsets read.
//!
//! In mode `scrape` (the default) a scrape renders the metrics and saves the offsets that match
//! them, so after any restart every line is counted once in what Prometheus sees. Renders are
//! reused for [`RENDER_REUSE`]: however many clients scrape, the checkpoint file is written at
//! most once per that interval, and every body served still matches a saved checkpoint. An
//! unchanged set of offsets is not written again.
//!
//! Only requests the exporter marks `moves_checkpoint` (authenticated scrapers, not people with
//! curl) save offsets; the others get a render of their own (reused among them), never one
//! that a moving request is then served.
//!
//! Scrapers see every new counter and histogram series at 0 first ([`crate::store::hold`]);
//! the values of series not yet revealed are saved in the same checkpoint write as the offsets
//! and added back at start-up ([`Pending`]), so a restart loses none of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::reload::Reloader;
use super::setup::{
    restore_pending, self_family, source_series, state_dir, tail_options, web_info, zero_hold_ms,
};
use super::supervise::{supervise, SourceRun};
use super::worker::{self, SourceShared, Worker};
use super::{build, AgentError};
use crate::config::{CheckpointMode, Config};
use crate::export::status::{metric_rows, CheckpointState, FileRow, SourceRow, StatusPage};
use crate::export::web_config::WebConfigFile;
use crate::export::{Exposition, Format, HttpMetrics, ScrapeRequest, Snapshot, View, WebOptions};
use crate::logging::LogStats;
use crate::source::checkpoint;
use crate::source::{Checkpoint, TailOptions, Tailer};
use crate::store::lines::LineStore;
use crate::store::{push_label, Family, Kind, Pending, Series, Store};

/// How long a rendered exposition (and the checkpoint saved with it) is served again.
pub const RENDER_REUSE: Duration = Duration::from_secs(1);

/// Longest a first run's baseline lasts (see [`crate::store::hold`]) while a source is still
/// reading what its files held at start.
const FIRST_RUN_BASELINE: Duration = Duration::from_secs(600);

/// What `run` needs besides the config.
pub struct RunOptions {
    /// Listen address, overriding `global.listen`.
    pub listen: Option<String>,
    /// The log writer's counters (exported as `logpulse_log_messages_dropped_total`).
    pub log_stats: Arc<LogStats>,
    /// `--web.config.file`.
    pub web_config: Option<PathBuf>,
    /// Listener limits and timeouts (its `config` is filled from `web_config`).
    pub web: WebOptions,
    /// The `--config` file, re-read on SIGHUP and `POST /-/reload` (`None`: the embedded
    /// config, which a reload keeps).
    pub config_path: Option<PathBuf>,
    /// `--web.external-url`: where people reach this agent (links to the line view).
    pub external_url: Option<String>,
}

/// What one checkpoint write holds: the offsets, and the values scrapers were shown at 0
/// (lines behind those offsets that Prometheus has not counted yet).
#[derive(PartialEq)]
struct Saved {
    offsets: HashMap<String, Vec<Checkpoint>>,
    pending: Pending,
}

/// The checkpoint file and how its last save went.
struct Checkpoints {
    file: Option<PathBuf>,
    /// What was last written successfully (a save of the same is skipped).
    saved: Option<Saved>,
    /// Why the last save failed, while it keeps failing (or why there is no file).
    error: Option<String>,
    last_ok: Option<SystemTime>,
}

/// The self-metrics that describe checkpoints; rendered after the save of the same scrape.
struct CheckpointMetrics {
    store: Store,
    errors: Arc<Series>,
    last_ok: Arc<Series>,
}

/// One running source: what the exporter reads, and its thread.
pub(super) struct SourceHandle {
    pub(super) shared: Arc<SourceShared>,
    pub(super) run: Arc<SourceRun>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SourceHandle {
    /// A handle with no thread (planning tests).
    #[cfg(test)]
    pub(super) fn detached(shared: Arc<SourceShared>) -> SourceHandle {
        SourceHandle {
            shared,
            run: Arc::default(),
            thread: Mutex::new(None),
        }
    }

    /// Wait for the thread after [`SourceRun::stop`]: its last batch is applied, its offsets final.
    pub(super) fn join(&self) {
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

/// What a config reload replaces as a whole: the config in force (after a reload, with the
/// settings that need a restart kept at their running values), the store of its metrics and
/// its sources, in config order.
pub(super) struct Live {
    pub(super) cfg: Config,
    pub(super) store: Arc<Store>,
    pub(super) sources: Vec<Arc<SourceHandle>>,
}

/// A render kept for reuse: its format, whether it was for scrapers (saved with a checkpoint in
/// mode `scrape`; new series at 0 first), when.
pub(super) type Render = (Format, bool, Instant, Arc<Exposition>);

/// The running agent as the exporter sees it.
pub(super) struct Running {
    pub(super) live: RwLock<Arc<Live>>,
    pub(super) selfstore: Arc<Store>,
    /// The line view's kept lines (sources started by a reload keep theirs through it).
    pub(super) lines: Arc<LineStore>,
    /// `logpulse_source_restarts_total`, per source.
    pub(super) restarts: Arc<Family>,
    pub(super) reload: Reloader,
    pub(super) mode: CheckpointMode,
    /// Serialises scrapes (checkpoints are written in snapshot order) and reloads (a
    /// checkpoint never mixes two configs), and holds the last render per format and per kind:
    /// for scrapers (`true`: saved with a checkpoint in mode `scrape`) or for people.
    pub(super) scrape: Mutex<Vec<Render>>,
    checkpoints: Mutex<Checkpoints>,
    /// No checkpoint was loaded at start-up: the first scraper render is Prometheus' baseline
    /// (every series revealed, see [`crate::store::hold`]).
    first_run: std::sync::atomic::AtomicBool,
    ckm: CheckpointMetrics,
    pub(super) series: Arc<Family>,
    pub(super) dropped: Arc<Family>,
    log_dropped: Arc<Series>,
    log_stats: Arc<LogStats>,
    /// `--web.config.file` and `logpulse_web_config_last_reload_successful`.
    web_config: Option<(Arc<WebConfigFile>, Arc<Series>)>,
    last_expiry: Mutex<Instant>,
    started: Instant,
    listen: String,
}

impl Running {
    /// The config in force and what runs it.
    pub(super) fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn refresh_store_metrics(&self, live: &Live) {
        if let Some(e) = live.cfg.global.series_expiry {
            let mut last = self.last_expiry.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= Duration::from_secs(10).min(e) {
                *last = Instant::now();
                let removed = live
                    .store
                    .expire(crate::store::now_secs().saturating_sub(e.as_secs()));
                if removed > 0 {
                    tracing::debug!(removed, "expired idle series");
                }
            }
        }
        for f in live.store.families() {
            let mut k = Vec::new();
            push_label(&mut k, f.desc().name.as_bytes());
            self.series.declare(&k).set(f.len() as f64);
            self.dropped.declare(&k).set(f.dropped() as f64);
        }
        self.log_dropped.set(self.log_stats.dropped() as f64);
        if let Some((file, ok)) = &self.web_config {
            ok.set(if file.reload_error().is_none() {
                1.0
            } else {
                0.0
            });
        }
    }

    fn collect_checkpoints(
        &self,
        live: &Live,
        guards: &[std::sync::MutexGuard<'_, worker::Progress>],
    ) -> HashMap<String, Vec<Checkpoint>> {
        live.sources
            .iter()
            .zip(guards)
            .map(|(s, g)| {
                let mut v: Vec<Checkpoint> = g.files.values().cloned().collect();
                // A stable order, so that equal offsets compare equal and are not rewritten.
                v.sort_by(|a, b| a.path.cmp(&b.path).then(a.offset.cmp(&b.offset)));
                (s.shared.name.clone(), v)
            })
            .collect()
    }

    /// The stores whose counters scrapers see at 0 first, in the order their pending values
    /// are saved and restored.
    fn stores<'a>(&'a self, live: &'a Live) -> [&'a Store; 3] {
        [&live.store, &self.selfstore, &self.ckm.store]
    }

    /// Write `cps` unless they are what the file already holds; record the outcome.
    fn save(&self, cps: Saved) {
        let mut ck = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = ck.file.clone() else { return };
        if ck.saved.as_ref() == Some(&cps) && ck.error.is_none() {
            return;
        }
        // Serialized straight into the file's text: no JSON tree of the values.
        let extra = (!cps.pending.is_empty()).then_some(&cps.pending);
        let result = checkpoint::save_with(&path, &cps.offsets, extra);
        match result {
            Ok(()) => {
                if ck.error.take().is_some() {
                    tracing::info!(file = %path.display(), "checkpoints are saved again");
                }
                ck.saved = Some(cps);
                ck.last_ok = Some(SystemTime::now());
                self.ckm.last_ok.set(crate::store::now_secs() as f64);
            }
            Err(e) => {
                self.ckm.errors.add(1.0);
                let msg = e.to_string();
                if ck.error.as_deref() != Some(msg.as_str()) {
                    tracing::error!(
                        "cannot save checkpoints: {msg}; after a restart, lines since the last save will be read again (counted in logpulse_checkpoint_errors_total)"
                    );
                }
                ck.error = Some(msg);
            }
        }
    }

    /// Save the offsets read so far (mode `read`, and at shutdown in that mode).
    fn save_current(&self) {
        let _serial = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let live = self.live();
        let guards: Vec<_> = live.sources.iter().map(|s| s.shared.lock()).collect();
        let cps = Saved {
            offsets: self.collect_checkpoints(&live, &guards),
            pending: Pending::collect(&self.stores(&live)),
        };
        drop(guards);
        self.save(cps);
    }

    /// After a reload removed sources (the caller holds the scrape lock): the checkpoint file
    /// keeps the offsets it had for the others (in mode `scrape` they are still what
    /// Prometheus scraped) and no longer names the removed ones.
    pub(super) fn drop_checkpoints(&self, removed: &[String]) {
        let kept = {
            let ck = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
            match &ck.saved {
                Some(saved) if removed.iter().any(|r| saved.offsets.contains_key(r)) => {
                    let mut offsets = saved.offsets.clone();
                    offsets.retain(|name, _| !removed.contains(name));
                    Saved {
                        offsets,
                        pending: saved.pending.clone(),
                    }
                }
                _ => return,
            }
        };
        self.save(kept);
    }

    /// Stop every source and wait for their threads.
    fn stop_sources(&self) {
        let live = self.live();
        for s in &live.sources {
            s.run.stop();
        }
        for s in &live.sources {
            s.join();
        }
    }
}

impl Snapshot for Running {
    fn metrics(&self, format: Format, req: ScrapeRequest) -> Arc<Exposition> {
        let mut last = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        // A scraper (not a person's curl or browser), whatever the checkpoint mode.
        let scraper = req.moves_checkpoint;
        let moves = scraper && self.mode == CheckpointMode::Scrape;
        // Reused per format: with scrapers asking for both formats, the checkpoint is still
        // written at most once per RENDER_REUSE per format. Scrapers and people never share a
        // body: a scraper's is saved with its checkpoint and shows new series at 0.
        let reusable = last
            .iter()
            .filter(|(f, s, _, _)| *f == format && *s == scraper)
            .max_by_key(|(_, _, at, _)| *at);
        if let Some((_, _, at, body)) = reusable {
            if at.elapsed() < RENDER_REUSE {
                return body.clone();
            }
        }
        let mut out = String::with_capacity(64 * 1024);
        // Every source is paused between batches while we render: values, series counts and
        // offsets all describe the same moment.
        let live = self.live();
        let guards: Vec<_> = live.sources.iter().map(|s| s.shared.lock()).collect();
        self.refresh_store_metrics(&live);
        let view = if scraper {
            let (now, hold) = (crate::store::mono_ms(), zero_hold_ms(&live.cfg.global));
            // A first run's baseline lasts until every source has read what its files held
            // at start (history, not traffic of that moment): its renders reveal everything,
            // the last one included. FIRST_RUN_BASELINE at most: a source that never catches up
            // must not keep new series from starting at 0 for ever.
            let baseline = self.first_run.load(std::sync::atomic::Ordering::Relaxed);
            if baseline
                && (self.started.elapsed() >= FIRST_RUN_BASELINE
                    || live.sources.iter().all(|s| {
                        s.shared
                            .caught_up
                            .load(std::sync::atomic::Ordering::Relaxed)
                    }))
            {
                self.first_run
                    .store(false, std::sync::atomic::Ordering::Relaxed);
            }
            for st in self.stores(&live) {
                if baseline {
                    st.reveal_all();
                } else {
                    st.step_holds(now, hold);
                }
            }
            View::Scrape
        } else {
            View::Current
        };
        let mut enc = crate::export::Encoder::new(format, &mut out).view(view);
        enc.stores(&[&live.store, &self.selfstore]);
        let cps = moves.then(|| Saved {
            offsets: self.collect_checkpoints(&live, &guards),
            pending: Pending::collect(&self.stores(&live)),
        });
        drop(guards);
        if let Some(cps) = cps {
            // Written before the response leaves: a crash after this point re-reads nothing
            // Prometheus has; one before it re-reads what it never got.
            self.save(cps);
        }
        // After the save, so this very scrape shows a failed save.
        let mut enc = crate::export::Encoder::new(format, &mut out).view(view);
        enc.stores(&[&self.ckm.store]);
        enc.finish();
        let out = Arc::new(Exposition::new(out));
        last.retain(|(f, s, _, _)| (*f, *s) != (format, scraper));
        last.push((format, scraper, Instant::now(), out.clone()));
        out
    }

    fn status(&self) -> StatusPage {
        let (checkpoint_file, checkpoint_state) = {
            let ck = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
            let file = ck
                .file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "none".into());
            let state = match (&ck.error, ck.last_ok) {
                (Some(e), _) => CheckpointState::Failing(e.clone()),
                (None, Some(t)) => {
                    CheckpointState::SavedSecsAgo(t.elapsed().map(|d| d.as_secs()).unwrap_or(0))
                }
                (None, None) => CheckpointState::NotSavedYet,
            };
            (file, state)
        };
        let live = self.live();
        let sources = live
            .sources
            .iter()
            .map(|h| {
                let (s, run) = (&h.shared, &h.run);
                let m = &s.metrics;
                SourceRow {
                    name: s.name.clone(),
                    lines: m.lines.scalar(),
                    parse_errors: m.parse_errors.scalar(),
                    files: m.files.scalar(),
                    lag_bytes: m.lag.scalar(),
                    running: run.is_running(),
                    last_error: s
                        .last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                }
            })
            .collect();
        let mut files = Vec::new();
        for s in live.sources.iter().map(|h| &h.shared) {
            for (p, offset) in worker::file_rows(&s.lock()) {
                files.push(FileRow {
                    source: s.name.clone(),
                    path: p.display().to_string(),
                    offset,
                });
            }
        }
        StatusPage {
            version: env!("CARGO_PKG_VERSION").into(),
            listen: self.listen.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
            checkpoint_file,
            checkpoint_state,
            sources,
            files,
            metrics: metric_rows(&live.store),
        }
    }

    fn reload(&self) -> Result<(), String> {
        self.reload_config("POST /-/reload")
    }

    fn lines(&self) -> Option<Arc<LineStore>> {
        Some(self.lines.clone())
    }

    fn health(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let live = self.live();
        let dead: Vec<&str> = live
            .sources
            .iter()
            .filter(|h| !h.run.is_running())
            .map(|h| h.shared.name.as_str())
            .collect();
        if !dead.is_empty() {
            problems.push(format!("sources not running: {}", dead.join(", ")));
        }
        let ck = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = &ck.error {
            problems.push(format!("checkpoints failing: {e}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Start source `topts.source` on a supervised thread feeding `w`. `first` is its tailer
/// when already built (at start-up, so a bad glob stops start-up); otherwise, and after
/// every failure, the tailer resumes from the offsets applied so far.
pub(super) fn spawn_source(
    topts: TailOptions,
    mut w: Worker,
    first: Option<Tailer>,
    restarts: Arc<Series>,
) -> Result<SourceHandle, AgentError> {
    let run = Arc::new(SourceRun::default());
    let shared = w.shared().clone();
    let name = topts.source.clone();
    let r = run.clone();
    let t = std::thread::Builder::new()
        .name(format!("source-{name}"))
        .spawn(move || {
            let run = r;
            let mut next = first;
            supervise(&name, &run, &restarts, || {
                let mut tailer = match next.take() {
                    Some(t) => t,
                    None => {
                        // From what was applied: the offsets a scrape would save.
                        w.forget_pending();
                        let cps: Vec<Checkpoint> =
                            w.shared().lock().files.values().cloned().collect();
                        Tailer::new(topts.clone(), cps).map_err(|e| e.to_string())?
                    }
                };
                if run.set_stopper(tailer.stopper()) {
                    tailer.run(&mut w);
                }
                w.finish();
                Ok(())
            });
        })
        .map_err(|error| AgentError::Io {
            what: "spawning a source thread".into(),
            error,
        })?;
    Ok(SourceHandle {
        shared,
        run,
        thread: Mutex::new(Some(t)),
    })
}

/// `run`: follow every source and serve `/metrics` on `listen` until SIGTERM/SIGINT; reload
/// the config on SIGHUP (and `POST /-/reload` with `--web.enable-lifecycle`).
pub fn run(cfg: Config, opts: RunOptions) -> Result<(), AgentError> {
    let listen_overridden = opts.listen.is_some();
    let listen = opts.listen.unwrap_or_else(|| cfg.global.listen.clone());
    let mut web = opts.web;
    if let Some(p) = &opts.web_config {
        // Before any source starts: a bad web config stops start-up with the file and key.
        web.config = Some(Arc::new(WebConfigFile::open(p)?));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| AgentError::Io {
            what: "starting the HTTP runtime".into(),
            error,
        })?;
    // First thing: from here on a SIGHUP (a `systemctl reload` right after start) waits for
    // the reload task instead of killing the agent.
    let hup = {
        let _rt = rt.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    };
    let (store, selfstore, lines, workers) = build(&cfg, None)?;
    for w in &cfg.warnings {
        tracing::warn!("{}: {w}", cfg.file);
    }
    let ckm_store = Store::new();
    let ckm = CheckpointMetrics {
        errors: self_family(
            &ckm_store,
            "logpulse_checkpoint_errors_total",
            Kind::Counter,
            "Checkpoint writes that failed (also counts a state directory that cannot be created, and a checkpoint file that could not be loaded at start).",
            &[],
        )
        .declare(&[]),
        last_ok: self_family(
            &ckm_store,
            "logpulse_checkpoint_last_success_timestamp_seconds",
            Kind::Gauge,
            "Unix time of the last successful checkpoint write (0: none yet).",
            &[],
        )
        .declare(&[]),
        store: ckm_store,
    };
    let mut checkpoints = Checkpoints {
        file: None,
        saved: None,
        error: None,
        last_ok: None,
    };
    let checkpoint::State {
        sources: mut resume,
        extra,
    } = match state_dir(&cfg) {
        Ok(dir) => {
            let path = dir.join("checkpoints.json");
            checkpoints.file = Some(path.clone());
            match checkpoint::load_state(&path) {
                Ok(m) => m,
                Err(e) => {
                    // A corrupt (or unreadable, oversized, non-regular) file must not stop the
                    // agent: start as on a first run, loudly and counted.
                    tracing::error!("{e}; starting without checkpoints");
                    ckm.errors.add(1.0);
                    checkpoint::State::default()
                }
            }
        }
        Err(why) => {
            tracing::error!("checkpoints disabled: {why}");
            ckm.errors.add(1.0);
            checkpoints.error = Some(why);
            checkpoint::State::default()
        }
    };
    let build_info = self_family(
        &selfstore,
        "logpulse_build_info",
        Kind::Gauge,
        "logpulse build; value 1.",
        &["version"],
    );
    source_series(&build_info, env!("CARGO_PKG_VERSION")).set(1.0);
    web_info(&selfstore, &web, opts.external_url.as_deref());
    web.metrics = Arc::new(HttpMetrics::register(&selfstore));
    let series = self_family(
        &selfstore,
        "logpulse_series",
        Kind::Gauge,
        "Series per metric (the overflow series not counted).",
        &["metric"],
    );
    let dropped = self_family(
        &selfstore,
        "logpulse_series_dropped_total",
        Kind::Counter,
        "Updates sent to the __overflow__ series because the metric's series limit was reached.",
        &["metric"],
    );
    let log_dropped = self_family(
        &selfstore,
        "logpulse_log_messages_dropped_total",
        Kind::Counter,
        "The agent's own log messages dropped because stderr was full, stuck or closed.",
        &[],
    )
    .declare(&[]);
    let restarts = self_family(
        &selfstore,
        "logpulse_source_restarts_total",
        Kind::Counter,
        "Source threads restarted after a failure (they resume from their applied offsets).",
        &["source"],
    );
    let reload = Reloader::new(&selfstore, opts.config_path, listen_overridden);
    let web_config = web.config.clone().map(|file| {
        let ok = self_family(
            &selfstore,
            "logpulse_web_config_last_reload_successful",
            Kind::Gauge,
            "Whether the --web.config.file in force is the file as it is now (0: its last change was rejected; the one before is kept).",
            &[],
        )
        .declare(&[]);
        (file, ok)
    });

    // No checkpoint file yet (not a broken one: its error count must reach increase()).
    let first_run = ckm.errors.scalar() == 0.0 && resume.is_empty() && extra.is_none();
    // Before any line is read: values saved with the offsets that scrapers had only seen at 0.
    if let (Some(extra), Some(path)) = (extra, &checkpoints.file) {
        restore_pending(&extra, path, &[&store, &selfstore, &ckm.store]);
    }

    crate::source::set_max_open_files(cfg.global.max_open_files);
    let mut handles = Vec::new();
    for (i, w) in workers.into_iter().enumerate() {
        let src = &cfg.sources[i];
        let cps = resume.remove(&src.name).unwrap_or_default();
        {
            let mut p = w.shared().lock();
            for c in &cps {
                let k = (c.fingerprint.dev, c.fingerprint.ino);
                p.files.insert(k, c.clone());
                p.seeded.push(k);
            }
        }
        let topts = tail_options(src, &cfg.global);
        // Built here once so a bad glob stops start-up; restarts build their own.
        let first = Tailer::new(topts.clone(), cps).map_err(|error| AgentError::Tail {
            source_name: src.name.clone(),
            error,
        })?;
        let restarts = source_series(&restarts, &src.name);
        handles.push(Arc::new(spawn_source(topts, w, Some(first), restarts)?));
    }
    let running = Arc::new(Running {
        lines,
        mode: cfg.global.checkpoint,
        live: RwLock::new(Arc::new(Live {
            cfg,
            store,
            sources: handles,
        })),
        selfstore,
        restarts,
        reload,
        scrape: Mutex::new(Vec::new()),
        checkpoints: Mutex::new(checkpoints),
        first_run: std::sync::atomic::AtomicBool::new(first_run),
        ckm,
        series,
        dropped,
        log_dropped,
        log_stats: opts.log_stats,
        web_config,
        last_expiry: Mutex::new(Instant::now()),
        started: Instant::now(),
        listen: listen.clone(),
    });
    // Saved at once: a state directory that cannot be written shows at start-up, not at the
    // first scrape.
    running.save_current();

    let stop_saver = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let saver = (running.mode == CheckpointMode::Read).then(|| {
        let r = running.clone();
        let stop = stop_saver.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::park_timeout(Duration::from_secs(1));
                r.save_current();
            }
        })
    });

    let served = rt.block_on(async {
        reload_on_sighup(hup, running.clone());
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|error| AgentError::Listen {
                addr: listen.clone(),
                error,
            })?;
        let tls = web.config.as_ref().is_some_and(|w| w.current().tls.is_some());
        let auth = web.config.as_ref().is_some_and(|w| !w.current().users.is_empty());
        let sources = running.live().sources.len();
        tracing::info!(listen = %listen, sources, tls, basic_auth = auth, lifecycle = web.enable_lifecycle, "logpulse running");
        let snap: Arc<dyn Snapshot> = running.clone();
        crate::export::serve(listener, snap, web, shutdown_signal())
            .await
            .map_err(|error| AgentError::Io {
                what: format!("serving on {listen}"),
                error,
            })
    });
    tracing::info!("shutting down");
    // A reload in progress finishes first (it may be starting sources); none starts after.
    running.reload.close();
    running.stop_sources();
    if let Some(s) = saver {
        stop_saver.store(true, std::sync::atomic::Ordering::Relaxed);
        s.thread().unpark();
        let _ = s.join();
    }
    if running.mode == CheckpointMode::Read {
        running.save_current();
    }
    served
}

/// Reload the config on every SIGHUP (on the blocking pool: a reload joins source threads).
fn reload_on_sighup(hup: std::io::Result<tokio::signal::unix::Signal>, running: Arc<Running>) {
    let mut hup = match hup {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for SIGHUP: {e}; reload with POST /-/reload");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let r = running.clone();
            // The outcome is logged and exported by the reload itself.
            let _ = tokio::task::spawn_blocking(move || r.reload_config("SIGHUP")).await;
        }
    });
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
}
