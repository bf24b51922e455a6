//! The agent: wires config → sources → rules → store → exporter, and the three offline modes.
//!
//! One thread per source runs its tailer and applies lines; the exporter renders on demand.
//! Checkpoints (mode `scrape`, the default) are written at each scrape with the offsets that
//! match the values being exported, so after any restart every line is counted exactly once in
//! what Prometheus sees: lines it scraped are not read again, lines it never saw are.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, ConfigError, Source};
use crate::rules::{RuleError, SourceRules};
use crate::source::TailError;
use crate::store::lines::{Budget, FieldNames, Limits, LineStore};
use crate::store::Store;

pub mod backfill;
mod reload;
mod run;
mod setup;
pub mod supervise;
pub mod worker;

pub use run::{run, RunOptions, RENDER_REUSE};

use worker::{SelfMetrics, SourceShared, Worker};

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
    /// Bad `--web.config.file`.
    #[error(transparent)]
    WebConfig(#[from] crate::export::web_config::WebConfigError),
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

/// What [`build`] makes: the rules store, the self-metrics store, the line view's store and
/// one worker per source.
type Built = (Arc<Store>, Arc<Store>, Arc<LineStore>, Vec<Worker>);

/// The line view's store for `cfg` (its self-metrics in `selfstore`).
fn line_store(cfg: &Config, selfstore: &Store) -> Arc<LineStore> {
    let g = &cfg.global.lines;
    let limits = Limits {
        max_bytes: g.max_bytes,
        max_line_bytes: g.max_line_bytes,
        allow_unauthenticated: g.allow_unauthenticated,
    };
    LineStore::new(limits, &g.redact, selfstore)
}

/// Let `rules` of source `src` keep the lines its `lines:` selects in `lines`.
fn keep_lines(rules: &mut SourceRules, src: &Source, lines: &Arc<LineStore>) {
    let v = &src.lines;
    if !v.enabled() {
        return;
    }
    let fields = FieldNames {
        names: v.fields.iter().map(|l| l.name.as_str().into()).collect(),
        exemplar: v.exemplar,
    };
    let budget = Budget::split(v.max_bytes, !v.keep.is_empty(), v.unparsed);
    if let Some(sink) = lines.source(&src.name, budget, fields) {
        rules.keep_lines(v, sink);
    }
}

/// Compile every source (or only source `only`).
fn build(cfg: &Config, only: Option<usize>) -> Result<Built, AgentError> {
    let store = Arc::new(Store::new());
    let selfstore = Arc::new(Store::new());
    let lines = line_store(cfg, &selfstore);
    let mut workers = Vec::new();
    for i in 0..cfg.sources.len() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let mut rules =
            SourceRules::compile(cfg, i, &store).map_err(|error| AgentError::Rules {
                file: cfg.file.clone(),
                error,
            })?;
        keep_lines(&mut rules, &cfg.sources[i], &lines);
        let name = cfg.sources[i].name.clone();
        let shared = Arc::new(SourceShared {
            metrics: SelfMetrics::new(&selfstore, &name),
            name,
            progress: Default::default(),
            last_error: Default::default(),
            caught_up: Default::default(),
        });
        workers.push(Worker::new(rules, shared, cfg.sources[i].multiline.clone()));
    }
    Ok((store, selfstore, lines, workers))
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

/// `check`: compile everything (the config was validated when loaded); returns the warnings.
pub fn check(cfg: &Config) -> Result<Vec<String>, AgentError> {
    build(cfg, None)?;
    Ok(cfg.warnings.clone())
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
    let (store, _selfstore, _lines, mut workers) = build(cfg, Some(i))?;
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
    crate::export::encode(crate::export::Format::Text, &[&store], &mut out);
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
    let mut joiner = cfg.sources[i].multiline.as_ref().map(|m| m.joiner());
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
    out.write_all(rules.explain(line).render(n, line).as_bytes())
}
