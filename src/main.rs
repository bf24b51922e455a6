//! logpulse command line: `run` (default), `check`, `replay`, `backfill`, `explain`, `lines`.
//! The only place for anyhow-style errors; everything below returns typed errors.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use logpulse::agent;
use logpulse::config::Config;
use logpulse::logging::NonBlockingStderr;

#[derive(Parser)]
#[command(
    name = "logpulse",
    version,
    about = "Tail log files, export labeled Prometheus metrics"
)]
struct Cli {
    /// Log output format (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Follow the configured files and serve /metrics (the default command).
    Run {
        /// Config file (default: the embedded config, the `http` profile on the usual access logs).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen address, overriding global.listen (default 0.0.0.0:9145).
        #[arg(long, short)]
        listen: Option<String>,
        /// Web config (TLS, basic auth, headers): the exporter-toolkit file that node_exporter
        /// and Prometheus read; re-read when it or its certificates change.
        #[arg(long = "web.config.file", value_name = "FILE")]
        web_config: Option<PathBuf>,
        /// Open connections at most; one more evicts the longest-waiting idle or slow one.
        #[arg(long = "web.max-connections", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
        max_connections: u32,
        /// Time for a request head (and a TLS handshake) to arrive.
        #[arg(long = "web.read-header-timeout", default_value = "10s", value_parser = duration)]
        read_header_timeout: Duration,
        /// Time an idle keep-alive connection is kept.
        #[arg(long = "web.idle-timeout", default_value = "2m", value_parser = duration)]
        idle_timeout: Duration,
        /// Let `POST /-/reload` reload the config, as SIGHUP does (as in Prometheus; behind
        /// the web config's authentication).
        #[arg(long = "web.enable-lifecycle")]
        enable_lifecycle: bool,
        /// The URL people reach this agent at (behind a proxy, or when Prometheus' `instance`
        /// label is not host:port): alert links to the line view start with it. Default: the
        /// scheme served and the scraped `instance`.
        #[arg(long = "web.external-url", value_name = "URL", value_parser = external_url)]
        external_url: Option<String>,
    },
    /// Validate a config; exit 1 with a message naming the place at fault.
    Check {
        /// Config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Also validate this web config (and the certificates it names).
        #[arg(long = "web.config.file", value_name = "FILE")]
        web_config: Option<PathBuf>,
        /// Also print the most series this many servers with this config put into Prometheus.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        servers: Option<u32>,
    },
    /// Read files start to end through one source and print the resulting metrics.
    Replay {
        /// Config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Source to use (default: the first).
        #[arg(long, short)]
        source: Option<String>,
        /// Log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Turn old and rotated log files (plain or .gz) into timestamped OpenMetrics for
    /// `promtool tsdb create-blocks-from openmetrics`: the metrics' values at every step of the
    /// time the lines cover.
    Backfill {
        /// Config file (default: the embedded config).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Source whose format and metrics apply (default: the first).
        #[arg(long, short)]
        source: Option<String>,
        /// Output file; or a directory (existing, or given with a trailing `/`) to get one
        /// file per 2-hour chunk, which promtool reads much faster for long ranges.
        #[arg(long, short)]
        out: PathBuf,
        /// Time between the written samples of a series (as a scrape interval).
        #[arg(long, default_value = "15s", value_parser = duration)]
        step: std::time::Duration,
        /// Lines up to this much older than the latest line read still count at their own
        /// step; older ones are dropped and counted.
        #[arg(long, default_value = "5m", value_parser = duration)]
        out_of_order_window: std::time::Duration,
        /// A value that did not change since the step before is written again only after this
        /// long (the samples around each change are always written); at most the step: every
        /// value at every step.
        #[arg(long, default_value = "1m", value_parser = duration)]
        refresh: std::time::Duration,
        /// A stretch of log time without lines longer than this is skipped: the series are
        /// written for this long after the latest line, then again from just before the next.
        #[arg(long, default_value = "1h", value_parser = duration)]
        max_gap: std::time::Duration,
        /// `job` label of every series, as Prometheus adds when it scrapes (empty: none).
        #[arg(long, default_value = "logpulse")]
        job: String,
        /// `instance` label of every series; use the agent's scrape address (`host:9145`) to
        /// continue its live series (empty: none).
        #[arg(long, default_value = "backfill")]
        instance: String,
        /// Log files, in any order (a rotated set is put in time order).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The kept lines of every agent of a Prometheus job (found through Prometheus' targets
    /// API), merged newest first, each with its server. Exit 0: every server answered; 2:
    /// some did not (they are listed on stderr, or in the JSON); 1: no answer at all.
    Lines(Box<logpulse::fleet::Args>),
    /// Read lines on stdin; print the fields and metric updates each yields, or why not.
    Explain {
        /// Config file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Source to use (default: the first).
        #[arg(long, short)]
        source: Option<String>,
    },
}

fn duration(s: &str) -> Result<Duration, String> {
    logpulse::config::parse_duration(s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a duration above 0 (500ms, 10s, 2m)"))
}

/// `http(s)://host[:port][/prefix]`, without a trailing `/`, no query, no control characters.
fn external_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?}: give an http:// or https:// URL"))?;
    if rest.is_empty()
        || rest.starts_with('/')
        || rest.contains(['?', '#', '"', '<', '>', ' '])
        || rest.chars().any(char::is_control)
    {
        return Err(format!(
            "{s:?}: give scheme, host, optional port and path prefix (https://logs.example:9145/agent)"
        ));
    }
    Ok(s.trim_end_matches('/').to_string())
}

fn load(config: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(match config {
        Some(p) => Config::load(p)?,
        None => Config::embedded()?,
    })
}

/// Logs go to stderr through a queue that never blocks or panics, every value escaped (see
/// `logpulse::logging`); the returned counters are exported by `run`.
fn init_logs(format: LogFormat) -> NonBlockingStderr {
    logpulse::logging::init(matches!(format, LogFormat::Json))
}

/// Print to stdout/stderr without the panic of `println!` when the reader is gone; what the
/// message quotes (file names, config values) cannot forge a line or reach the terminal raw.
fn say(mut to: impl Write, text: std::fmt::Arguments<'_>) {
    let text = text.to_string();
    let text = logpulse::logging::for_stderr(&text);
    let _ = to
        .write_all(text.as_bytes())
        .and_then(|()| to.write_all(b"\n"));
}

fn real_main(cli: Cli, logs: &NonBlockingStderr) -> anyhow::Result<ExitCode> {
    match cli.cmd.unwrap_or(Cmd::Run {
        config: None,
        listen: None,
        web_config: None,
        max_connections: 128,
        read_header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
        enable_lifecycle: false,
        external_url: None,
    }) {
        Cmd::Run {
            config,
            listen,
            web_config,
            max_connections,
            read_header_timeout,
            idle_timeout,
            enable_lifecycle,
            external_url,
        } => {
            let cfg = load(config.as_ref())?;
            agent::run(
                cfg,
                agent::RunOptions {
                    listen,
                    log_stats: logs.stats(),
                    web_config,
                    web: logpulse::export::WebOptions {
                        config: None,
                        max_connections: max_connections as usize,
                        read_header_timeout,
                        idle_timeout,
                        enable_lifecycle,
                        metrics: Default::default(),
                    },
                    config_path: config,
                    external_url,
                },
            )?;
        }
        Cmd::Check {
            config,
            web_config,
            servers,
        } => {
            let cfg = load(config.as_ref())?;
            if let Some(p) = &web_config {
                logpulse::export::web_config::WebConfig::load(p)?;
                say(std::io::stdout(), format_args!("{}: OK", p.display()));
            }
            let warnings = agent::check(&cfg)?;
            for w in &warnings {
                say(std::io::stderr(), format_args!("warning: {w}"));
            }
            for e in logpulse::config::series_estimates(&cfg) {
                say(std::io::stdout(), format_args!("series: {e}"));
            }
            for c in logpulse::config::capacity(&cfg, servers.map(|n| n as usize)) {
                say(std::io::stdout(), format_args!("capacity: {c}"));
            }
            say(
                std::io::stdout(),
                format_args!(
                    "{}: OK ({} sources, {} warnings)",
                    cfg.file,
                    cfg.sources.len(),
                    warnings.len()
                ),
            );
        }
        Cmd::Replay {
            config,
            source,
            files,
        } => {
            let cfg = load(config.as_ref())?;
            let (out, stats) = agent::replay(&cfg, source.as_deref(), &files)?;
            if let Err(e) = std::io::stdout().lock().write_all(out.as_bytes()) {
                // `logpulse replay ... | head` is fine: stop quietly when the reader goes away.
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e).context("writing to stdout");
                }
            }
            say(
                std::io::stderr(),
                format_args!(
                    "replayed {} lines, {} parse errors",
                    stats.lines, stats.parse_errors
                ),
            );
        }
        Cmd::Backfill {
            config,
            source,
            out,
            step,
            out_of_order_window,
            refresh,
            max_gap,
            job,
            instance,
            files,
        } => {
            let cfg = load(config.as_ref())?;
            let target_labels = [("job", job), ("instance", instance)]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            let opts = agent::backfill::Options {
                source,
                files,
                step,
                window: out_of_order_window,
                refresh,
                target_labels,
                max_gap,
            };
            let started = std::time::Instant::now();
            let mut shown = agent::backfill::progress::Line::stderr();
            let mut show = |p: &agent::backfill::Progress| shown.show(p);
            // A directory (existing, or named with a trailing `/`): one file per chunk.
            let summary = if out.is_dir() || out.to_string_lossy().ends_with('/') {
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("cannot create {}", out.display()))?;
                let sink = agent::backfill::ChunkFiles::new(&out);
                agent::backfill::backfill(&cfg, &opts, sink, &mut show)
                    .with_context(|| format!("backfill into {}", out.display()))?
                    .0
            } else {
                let file = std::fs::File::create(&out)
                    .with_context(|| format!("cannot create {}", out.display()))?;
                let sink =
                    agent::backfill::OneFile(std::io::BufWriter::with_capacity(1 << 20, file));
                agent::backfill::backfill(&cfg, &opts, sink, &mut show)
                    .with_context(|| format!("backfill into {}", out.display()))?
                    .0
            };
            shown.clear();
            for line in agent::backfill::progress::issues(&summary) {
                say(std::io::stderr(), format_args!("{line}"));
            }
            say(
                std::io::stderr(),
                format_args!(
                    "{}",
                    agent::backfill::progress::summary(&summary, &out, started.elapsed())
                ),
            );
            if !summary.failed.is_empty() {
                // The output is complete for everything that was read; say so in the status.
                anyhow::bail!(
                    "backfill: {} of {} files not read to their end (above); the output holds \
                     every line read",
                    summary.failed.len(),
                    summary.files
                );
            }
        }
        Cmd::Lines(args) => {
            let report = logpulse::fleet::run(&args)?;
            report
                .print(
                    args.output,
                    std::io::stdout().lock(),
                    std::io::stderr().lock(),
                )
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::BrokenPipe => Ok(()),
                    _ => Err(e),
                })
                .context("writing the lines")?;
            if !report.all_answered() {
                return Ok(ExitCode::from(2));
            }
        }
        Cmd::Explain { config, source } => {
            let cfg = load(config.as_ref())?;
            agent::explain(
                &cfg,
                source.as_deref(),
                std::io::stdin().lock(),
                std::io::stdout().lock(),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = init_logs(cli.log_format);
    // The default hook writes to stderr directly, which can block when stderr is stuck.
    std::panic::set_hook(Box::new(|info| tracing::error!("{info}")));
    let result = real_main(cli, &logs);
    // Let the last log lines out before exiting (bounded: stderr may be stuck).
    logs.flush(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(e) => {
            say(std::io::stderr(), format_args!("logpulse: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
