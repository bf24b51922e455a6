//! The agent: wires config → sources → rules → store → exporter, and the three offline modes.
//!
//! One thread per source runs its tailer and applies lines; the exporter renders on demand.
//! Checkpoints (mode `scrape`, the default) are written at each scrape with the offsets that
//! match the values being exported, so after any restart every line is counted exactly once in
//! what Prometheus sees: lines it scraped are not read again, lines it never saw are.

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{parse_duration, Config, ConfigError};
use crate::parse::MultilineSpec;
use crate::rules::{RuleError, SourceRules};
use crate::source::TailError;
use crate::store::Store;

mod run;
pub mod supervise;
pub mod worker;

pub use run::{run, RunOptions, RENDER_REUSE};

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
