//! The agent: wires config → sources → rules → store → exporter, and the three offline modes.
//!
//! One thread per source runs its tailer and applies lines; the exporter renders on demand.
//! Checkpoints (mode `scrape`, the default) are written at each scrape with the offsets that
//! match the values being exported, so after any restart every line is counted exactly once in
//! what Prometheus sees: lines it scraped are not read again, lines it never saw are.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{parse_duration, CheckpointMode, Config, ConfigError};
use crate::export::{html_escape, Snapshot};
use crate::parse::MultilineSpec;
use crate::rules::{RuleError, SourceRules};
use crate::source::checkpoint;
use crate::source::{Checkpoint, StartAt, TailError, TailOptions, Tailer};
use crate::store::{push_label, Desc, Family, Kind, Store};

pub mod worker;

use worker::{MultilineOpts, SelfMetrics, SourceShared, Worker};

/// Errors starting or running the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A rule does not compile (the message has the key path).
    #[error("{file}: {error}")]
    Rules {
        /// Config file.
        file: String,
        /// Cause.
        error: RuleError,
    },
    /// A source cannot be set up.
    #[error("source {source_name:?}: {error}")]
    Tail {
        /// Source.
        source_name: String,
        /// Cause.
        error: TailError,
    },
    /// `--source` names no source.
    #[error("no source named {0:?} in the config")]
    NoSuchSource(String),
    /// Cannot listen.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// Address.
        addr: String,
        /// Cause.
        error: std::io::Error,
    },
    /// Other I/O (a file given on the command line, stdin, thread spawn).
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        error: std::io::Error,
    },
}

fn multiline_opts(cfg: &Config, i: usize) -> Result<Option<MultilineOpts>, AgentError> {
    let Some(MultilineSpec {
        start,
        max_lines,
        max_bytes,
        timeout,
    }) = &cfg.sources[i].multiline
    else {
        return Ok(None);
    };
    let t = match timeout {
        None => Duration::from_secs(2),
        Some(t) => parse_duration(t).ok_or_else(|| ConfigError::Invalid {
            file: cfg.file.clone(),
            key: format!("sources[{i}].multiline.timeout"),
            message: format!("{t:?} is not a duration"),
        })?,
    };
    let (max_lines, max_bytes) = (max_lines.unwrap_or(500), max_bytes.unwrap_or(65536));
    // Compiled here once so a bad regex stops start-up with its key path, in every mode;
    // workers build their per-file joiners from the same, now known-good, settings.
    crate::parse::Joiner::new(start, max_lines, max_bytes).map_err(|e| ConfigError::Invalid {
        file: cfg.file.clone(),
        key: format!("sources[{i}].multiline.start"),
        message: e.to_string(),
    })?;
    Ok(Some((start.clone(), max_lines, max_bytes, t)))
}

/// What [`build`] makes: the rules store, the self-metrics store and one worker per source.
type Built = (Arc<Store>, Arc<Store>, Vec<Worker>);

/// Compile every source (or only source `only`).
fn build(cfg: &Config, only: Option<usize>) -> Result<Built, AgentError> {
    let store = Arc::new(Store::new());
    let selfstore = Arc::new(Store::new());
    let mut workers = Vec::new();
    for i in 0..cfg.sources.len() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let rules = SourceRules::compile(cfg, i, &store).map_err(|error| AgentError::Rules {
            file: cfg.file.clone(),
            error,
        })?;
        for w in &rules.warnings {
            tracing::warn!("{}: {w}", cfg.file);
        }
        let name = cfg.sources[i].name.clone();
        let shared = Arc::new(SourceShared {
            metrics: SelfMetrics::new(&selfstore, &name),
            name,
            progress: Default::default(),
            last_error: Default::default(),
        });
        workers.push(Worker::new(rules, shared, multiline_opts(cfg, i)?));
    }
    Ok((store, selfstore, workers))
}

fn source_index(cfg: &Config, name: Option<&str>) -> Result<usize, AgentError> {
    match name {
        None => Ok(0),
        Some(n) => cfg
            .sources
            .iter()
            .position(|s| s.name == n)
            .ok_or_else(|| AgentError::NoSuchSource(n.to_string())),
    }
}

/// `check`: validate and compile everything; returns the cardinality warnings.
pub fn check(cfg: &Config) -> Result<Vec<String>, AgentError> {
    for i in 0..cfg.sources.len() {
        multiline_opts(cfg, i)?;
    }
    crate::rules::check(cfg).map_err(|error| AgentError::Rules {
        file: cfg.file.clone(),
        error,
    })
}

/// Totals of a replay.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayStats {
    /// Lines read.
    pub lines: u64,
    /// Lines that did not parse.
    pub parse_errors: u64,
}

/// `replay`: read `files` start to end through one source's pipeline; returns the exposition.
pub fn replay(
    cfg: &Config,
    source: Option<&str>,
    files: &[PathBuf],
) -> Result<(String, ReplayStats), AgentError> {
    let i = source_index(cfg, source)?;
    let (store, _selfstore, mut workers) = build(cfg, Some(i))?;
    let Some(mut w) = workers.pop() else {
        return Err(AgentError::NoSuchSource(source.unwrap_or_default().into()));
    };
    for f in files {
        crate::source::read_file(f, cfg.global.max_line_bytes, &mut w).map_err(|error| {
            AgentError::Tail {
                source_name: cfg.sources[i].name.clone(),
                error,
            }
        })?;
    }
    w.finish();
    let m = &w.shared().metrics;
    let stats = ReplayStats {
        lines: m.lines.scalar() as u64,
        parse_errors: m.parse_errors.scalar() as u64,
    };
    let mut out = String::new();
    store.render(&mut out);
    Ok((out, stats))
}

/// `explain`: for each line of `input`, what it parses to and which updates it yields.
pub fn explain(
    cfg: &Config,
    source: Option<&str>,
    input: impl BufRead,
    mut out: impl std::io::Write,
) -> Result<(), AgentError> {
    let i = source_index(cfg, source)?;
    let store = Store::new();
    let mut rules = SourceRules::compile(cfg, i, &store).map_err(|error| AgentError::Rules {
        file: cfg.file.clone(),
        error,
    })?;
    let io = |error| AgentError::Io {
        what: "explain".into(),
        error,
    };
    let mut joiner = match multiline_opts(cfg, i)? {
        Some((start, max_lines, max_bytes, _)) => {
            match crate::parse::Joiner::new(&start, max_lines, max_bytes) {
                Ok(j) => Some(j),
                Err(e) => unreachable!("validated by multiline_opts: {e}"),
            }
        }
        None => None,
    };
    // With `multiline`, records (not physical lines) are explained, numbered by their first line.
    let mut records: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut first_line = 1;
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(io)?;
        match &mut joiner {
            None => records.push((n + 1, line)),
            Some(j) => {
                let was = j.has_pending();
                let mut emitted = false;
                j.push(&line, &mut |rec: &[u8]| {
                    emitted = true;
                    records.push((first_line, rec.to_vec()));
                });
                if j.has_pending() && (!was || emitted) {
                    first_line = n + 1;
                }
            }
        }
        for (n, rec) in records.drain(..) {
            explain_one(&mut rules, n, &rec, &mut out).map_err(io)?;
        }
    }
    if let Some(j) = &mut joiner {
        j.flush(&mut |rec: &[u8]| records.push((first_line, rec.to_vec())));
        for (n, rec) in records.drain(..) {
            explain_one(&mut rules, n, &rec, &mut out).map_err(io)?;
        }
    }
    Ok(())
}

fn explain_one(
    rules: &mut SourceRules,
    n: usize,
    line: &[u8],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let e = rules.explain(line);
    let shown: String = String::from_utf8_lossy(line).chars().take(300).collect();
    let mut s = format!("line {n}: {shown}\n");
    match e.fields {
        Err(err) => {
            let _ = writeln!(
                s,
                "  parse error: {err} (counted in logpulse_parse_errors_total)"
            );
        }
        Ok(fields) => {
            s.push_str("  fields:\n");
            for (k, v) in fields {
                let _ = writeln!(s, "    {k} = {v:?}");
            }
            s.push_str("  updates:\n");
            for u in e.updates {
                let _ = writeln!(s, "    {u}");
            }
        }
    }
    out.write_all(s.as_bytes())
}

/// The running agent as the exporter sees it.
struct Running {
    store: Arc<Store>,
    selfstore: Arc<Store>,
    sources: Vec<Arc<SourceShared>>,
    alive: Vec<Arc<AtomicBool>>,
    checkpoint_file: Option<PathBuf>,
    mode: CheckpointMode,
    /// Serialises scrapes, so checkpoints are written in snapshot order.
    scrape: Mutex<()>,
    series: Arc<Family>,
    dropped: Arc<Family>,
    checkpoint_errors: Arc<crate::store::Series>,
    expiry: Option<Duration>,
    last_expiry: Mutex<Instant>,
    started: Instant,
    listen: String,
}

impl Running {
    fn refresh_store_metrics(&self) {
        if let Some(e) = self.expiry {
            let mut last = self.last_expiry.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= Duration::from_secs(10).min(e) {
                *last = Instant::now();
                let removed = self
                    .store
                    .expire(crate::store::now_secs().saturating_sub(e.as_secs()));
                if removed > 0 {
                    tracing::debug!(removed, "expired idle series");
                }
            }
        }
        for f in self.store.families() {
            let mut k = Vec::new();
            push_label(&mut k, f.desc().name.as_bytes());
            self.series.declare(&k).set(f.len() as f64);
            self.dropped.declare(&k).set(f.dropped() as f64);
        }
    }

    fn collect_checkpoints(
        &self,
        guards: &[std::sync::MutexGuard<'_, worker::Progress>],
    ) -> HashMap<String, Vec<Checkpoint>> {
        self.sources
            .iter()
            .zip(guards)
            .map(|(s, g)| (s.name.clone(), g.files.values().cloned().collect()))
            .collect()
    }

    fn save(&self, cps: &HashMap<String, Vec<Checkpoint>>) {
        if let Some(path) = &self.checkpoint_file {
            if let Err(e) = checkpoint::save(path, cps) {
                self.checkpoint_errors.add(1.0);
                tracing::error!("cannot save checkpoints: {e}");
            }
        }
    }

    /// Save the offsets read so far (mode `read`, and at shutdown in that mode).
    fn save_current(&self) {
        let _serial = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let guards: Vec<_> = self.sources.iter().map(|s| s.lock()).collect();
        let cps = self.collect_checkpoints(&guards);
        drop(guards);
        self.save(&cps);
    }
}

impl Snapshot for Running {
    fn metrics(&self) -> String {
        let _serial = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::with_capacity(64 * 1024);
        // Every source is paused between batches while we render: values, series counts and
        // offsets all describe the same moment.
        let guards: Vec<_> = self.sources.iter().map(|s| s.lock()).collect();
        self.refresh_store_metrics();
        self.store.render(&mut out);
        self.selfstore.render(&mut out);
        let cps = (self.mode == CheckpointMode::Scrape).then(|| self.collect_checkpoints(&guards));
        drop(guards);
        if let Some(cps) = cps {
            // Written before the response leaves: a crash after this point re-reads nothing
            // Prometheus has; one before it re-reads what it never got.
            self.save(&cps);
        }
        out
    }

    fn status_html(&self) -> String {
        let mut h = String::from(
            "<!doctype html><meta charset=utf-8><title>logpulse</title>\
             <style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}\
             th{background:#eee}.num{text-align:right}</style><h1>logpulse</h1>",
        );
        let _ = write!(
            h,
            "<p>version {} · listening on {} · up {}s · <a href=/metrics>/metrics</a> · <a href=/healthz>/healthz</a></p>",
            env!("CARGO_PKG_VERSION"),
            html_escape(&self.listen),
            self.started.elapsed().as_secs()
        );
        h.push_str("<h2>Sources</h2><table><tr><th>source</th><th>lines</th><th>parse errors</th><th>files</th><th>lag bytes</th><th>last error</th></tr>");
        for s in &self.sources {
            let last_error = s
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let m = &s.metrics;
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td class=num>{}</td><td>{}</td></tr>",
                html_escape(&s.name),
                m.lines.scalar(),
                m.parse_errors.scalar(),
                m.files.scalar(),
                m.lag.scalar(),
                html_escape(last_error.as_deref().unwrap_or("")),
            );
        }
        h.push_str(
            "</table><h2>Files</h2><table><tr><th>source</th><th>file</th><th>offset</th></tr>",
        );
        for s in &self.sources {
            let rows = worker::file_rows(&s.lock());
            for (p, off) in rows {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=num>{off}</td></tr>",
                    html_escape(&s.name),
                    html_escape(&p.display().to_string())
                );
            }
        }
        h.push_str("</table><h2>Series per metric</h2><table><tr><th>metric</th><th>series</th><th>dropped (overflow)</th></tr>");
        for f in self.store.families() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=num>{}</td><td class=num>{}</td></tr>",
                html_escape(&f.desc().name),
                f.len(),
                f.dropped()
            );
        }
        h.push_str("</table>");
        h
    }

    fn health(&self) -> Result<(), String> {
        let dead: Vec<&str> = self
            .sources
            .iter()
            .zip(&self.alive)
            .filter(|(_, a)| !a.load(Ordering::Relaxed))
            .map(|(s, _)| s.name.as_str())
            .collect();
        if dead.is_empty() {
            Ok(())
        } else {
            Err(format!("source threads stopped: {}", dead.join(", ")))
        }
    }
}

fn state_dir(cfg: &Config) -> Option<PathBuf> {
    let dir = cfg
        .global
        .state_dir
        .clone()
        .or_else(|| std::env::var_os("STATE_DIRECTORY").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/lib/logpulse"));
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Some(dir),
        Err(e) => {
            tracing::warn!(
                "checkpoints disabled: cannot create state_dir {}: {e}; set global.state_dir to a writable directory",
                dir.display()
            );
            None
        }
    }
}

fn self_family(store: &Store, name: &str, kind: Kind, help: &str, label: &str) -> Arc<Family> {
    let desc = Desc {
        name: name.into(),
        help: help.into(),
        kind,
        labels: vec![label.into()],
        buckets: vec![],
    };
    match store.register(desc, usize::MAX) {
        Ok(f) => f,
        Err(e) => unreachable!("{e}"),
    }
}

/// `run`: follow every source and serve `/metrics` on `listen` until SIGTERM/SIGINT.
pub fn run(cfg: Config, listen: Option<String>) -> Result<(), AgentError> {
    let listen = listen.unwrap_or_else(|| cfg.global.listen.clone());
    let (store, selfstore, workers) = build(&cfg, None)?;
    let state = state_dir(&cfg);
    let checkpoint_file = state.map(|d| d.join("checkpoints.json"));
    let mut resume = match &checkpoint_file {
        Some(p) => match checkpoint::load(p) {
            Ok(m) => m,
            Err(e) => {
                // A corrupt file must not stop the agent: start as on a first run, loudly.
                tracing::error!("{e}; starting without checkpoints");
                HashMap::new()
            }
        },
        None => HashMap::new(),
    };
    let build_info = self_family(
        &selfstore,
        "logpulse_build_info",
        Kind::Gauge,
        "logpulse build; value 1.",
        "version",
    );
    let mut k = Vec::new();
    push_label(&mut k, env!("CARGO_PKG_VERSION").as_bytes());
    build_info.declare(&k).set(1.0);
    let series = self_family(
        &selfstore,
        "logpulse_series",
        Kind::Gauge,
        "Series per metric (the overflow series not counted).",
        "metric",
    );
    let dropped = self_family(
        &selfstore,
        "logpulse_series_dropped_total",
        Kind::Counter,
        "Updates sent to the __overflow__ series because the metric's series limit was reached.",
        "metric",
    );
    let cperr = {
        let desc = Desc {
            name: "logpulse_checkpoint_errors_total".into(),
            help: "Checkpoint writes that failed.".into(),
            kind: Kind::Counter,
            labels: vec![],
            buckets: vec![],
        };
        match selfstore.register(desc, 1) {
            Ok(f) => f.declare(&[]),
            Err(e) => unreachable!("{e}"),
        }
    };

    let mut sources = Vec::new();
    let mut alive = Vec::new();
    let mut stoppers = Vec::new();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    for (i, mut w) in workers.into_iter().enumerate() {
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
        let opts = TailOptions {
            source: src.name.clone(),
            paths: src.paths.clone(),
            exclude: src.exclude.clone(),
            start_at: src.start_at.unwrap_or(StartAt::End),
            poll_interval: cfg.global.poll_interval,
            force_poll: src.poll,
            max_line_bytes: cfg.global.max_line_bytes,
            partial_flush: cfg.global.partial_flush,
            rotate_wait: cfg.global.rotate_wait,
        };
        let mut tailer = Tailer::new(opts, cps).map_err(|error| AgentError::Tail {
            source_name: src.name.clone(),
            error,
        })?;
        stoppers.push(tailer.stopper());
        sources.push(w.shared().clone());
        let flag = Arc::new(AtomicBool::new(true));
        alive.push(flag.clone());
        let t = std::thread::Builder::new()
            .name(format!("source-{}", src.name))
            .spawn(move || {
                tailer.run(&mut w);
                w.finish();
                flag.store(false, Ordering::Relaxed);
            })
            .map_err(|error| AgentError::Io {
                what: "spawning a source thread".into(),
                error,
            })?;
        threads.push(t);
    }
    let running = Arc::new(Running {
        store,
        selfstore,
        sources,
        alive,
        checkpoint_file,
        mode: cfg.global.checkpoint,
        scrape: Mutex::new(()),
        series,
        dropped,
        checkpoint_errors: cperr,
        expiry: cfg.global.series_expiry,
        last_expiry: Mutex::new(Instant::now()),
        started: Instant::now(),
        listen: listen.clone(),
    });

    let stop_saver = Arc::new(AtomicBool::new(false));
    let saver = (running.mode == CheckpointMode::Read).then(|| {
        let r = running.clone();
        let stop = stop_saver.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(Duration::from_secs(1));
                r.save_current();
            }
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| AgentError::Io {
            what: "starting the HTTP runtime".into(),
            error,
        })?;
    let served = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|error| AgentError::Listen {
                addr: listen.clone(),
                error,
            })?;
        tracing::info!(listen = %listen, sources = cfg.sources.len(), "logpulse running");
        let snap: Arc<dyn Snapshot> = running.clone();
        crate::export::serve(listener, snap, shutdown_signal())
            .await
            .map_err(|error| AgentError::Io {
                what: format!("serving on {listen}"),
                error,
            })
    });
    tracing::info!("shutting down");
    for s in &stoppers {
        s.stop();
    }
    for t in threads {
        let _ = t.join();
    }
    if let Some(s) = saver {
        stop_saver.store(true, Ordering::Relaxed);
        s.thread().unpark();
        let _ = s.join();
    }
    if running.mode == CheckpointMode::Read {
        running.save_current();
    }
    served
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
