//! `logpulse lines`: one view of the kept lines of a whole fleet. Prometheus already knows the
//! agents (its targets API: whatever service discovery it runs), so the command asks it for the
//! job's active targets, then every agent's `GET /lines` at once (bounded concurrency, a timeout
//! each, the scrape job's TLS and credentials), and merges the answers newest first, each line
//! with its server. Servers that did not answer are listed with the reason, never left out.
//!
//! Outside the pipeline (config → … → export): a client of two HTTP APIs, depending on
//! `export::lines` only for the line view's parameters (the same `since` syntax, the same
//! limits), so the agent and this command cannot drift apart.

pub mod client_config;
pub mod http;
mod report;
pub mod targets;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;

pub use report::{Answered, FleetLine, Report, ServerResult};

use crate::export::lines::{self as view, MAX_LIMIT};
use client_config::{ClientConfigError, Flags, PASSWORD_ENV};
use http::Endpoint;

/// Largest `/lines` answer read from one agent (5,000 lines of at most a few KiB each).
const MAX_LINES_BODY: usize = 64 << 20;
/// Largest targets API answer read (a few KiB per target).
const MAX_TARGETS_BODY: usize = 64 << 20;

/// `text`: one line per kept line; `json`: one document with the servers' outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// `TIME SERVER SOURCE LINE`, newest first; servers' outcomes on stderr.
    Text,
    /// One JSON document: lines (each with `server`), servers, totals.
    Json,
}

/// The flags of `logpulse lines`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Prometheus' URL, with its route prefix if it has one (http://prometheus:9090).
    #[arg(long, value_name = "URL")]
    pub prometheus: String,
    /// The agents' scrape jobs: a regex matched against the whole `job` label, as PromQL's
    /// =~ (the default is the alert rules' convention: any job with logpulse in its name).
    #[arg(long, default_value = ".*logpulse.*")]
    pub job: String,
    /// Only the targets whose `instance` label matches this regex (anchored).
    #[arg(long, value_name = "REGEX")]
    pub instance: Option<String>,
    /// Lines of this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Lines of this normalised route (`/api/v1/mail/items/:id`).
    #[arg(long)]
    pub route: Option<String>,
    /// Lines of this menu (`mail`, `approval`...).
    #[arg(long)]
    pub menu: Option<String>,
    /// Lines of this status, or class (`503`, `5xx`).
    #[arg(long)]
    pub status: Option<String>,
    /// Lines of this tenant (customer company).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Lines of this request method.
    #[arg(long)]
    pub method: Option<String>,
    /// Another field the sources keep (`lines.fields`): NAME=VALUE; repeatable.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
    /// Lines read since: a duration back from now (15m, 2h) or a time (RFC 3339, unix
    /// seconds); one instant for every server, computed here.
    #[arg(long)]
    pub since: Option<String>,
    /// A line reference, or an `exemplar_field` value (request or trace id).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Most lines shown, newest first across the fleet (each server is asked for as many).
    #[arg(long, default_value_t = view::DEFAULT_LIMIT, value_parser = limit)]
    pub limit: usize,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Time each server (and Prometheus) has to answer completely.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub timeout: Duration,
    /// Servers asked at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Client config: `agents:` and `prometheus:` blocks with `basic_auth` and `tls_config`
    /// as in a Prometheus scrape job (see docs/lines.md).
    #[arg(long = "http.config.file", value_name = "FILE")]
    pub http_config: Option<PathBuf>,
    /// CA certificate(s) that signed the agents' certificates (https targets).
    #[arg(long = "tls.ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate for agents that require one.
    #[arg(long = "tls.cert-file", value_name = "FILE")]
    pub cert_file: Option<PathBuf>,
    /// Its key.
    #[arg(long = "tls.key-file", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Name the agents' certificates carry, when not the host of their scrape URL.
    #[arg(long = "tls.server-name", value_name = "NAME")]
    pub server_name: Option<String>,
    /// Basic-auth user for the agents; the password comes from --basic-auth.password-file
    /// or the LOGPULSE_LINES_PASSWORD environment variable (never a flag).
    #[arg(long = "basic-auth.username", value_name = "USER")]
    pub username: Option<String>,
    /// File holding the basic-auth password (surrounding whitespace removed).
    #[arg(long = "basic-auth.password-file", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

fn limit(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("{s:?}: give a number from 1 to {MAX_LIMIT}")),
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a duration above 0 (500ms, 10s, 2m)"))
}

/// Why the fleet could not be asked at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client config or credentials.
    #[error(transparent)]
    Config(#[from] ClientConfigError),
    /// A flag's value.
    #[error("{0}")]
    Flag(String),
    /// Prometheus did not give its targets.
    #[error("Prometheus at {url}: {msg}")]
    Prometheus {
        /// The targets API URL asked.
        url: String,
        /// What went wrong.
        msg: String,
    },
    /// No target matched.
    #[error(
        "Prometheus at {url} has no active target of job=~{job:?}{instance}; its jobs: {jobs}"
    )]
    NoTargets {
        /// The Prometheus URL.
        url: String,
        /// The job regex.
        job: String,
        /// ` and instance=~...` when given.
        instance: String,
        /// Jobs Prometheus has.
        jobs: String,
    },
}

/// Escapes what a terminal would act on (C0/C1 controls, DEL, bidirectional overrides):
/// everything shown comes from logs or from remote servers.
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    let bad =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(bad) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            c if bad(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.into()
}

/// The `/lines` query every server gets (JSON asked for explicitly), and the `since` instant.
pub fn query(args: &Args, now_ms: u64) -> Result<(String, Option<u64>), Error> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in [
        ("source", &args.source),
        ("route", &args.route),
        ("menu", &args.menu),
        ("status", &args.status),
        ("tenant", &args.tenant),
        ("method", &args.method),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            pairs.push((k.into(), v.clone()));
        }
    }
    for f in &args.fields {
        let (k, v) = f
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| Error::Flag(format!("--field {f:?}: give NAME=VALUE")))?;
        if view::PARAMS.contains(&k) || pairs.iter().any(|(n, _)| n == k) {
            return Err(Error::Flag(format!(
                "--field {f:?}: {k} is not a field (use --{k})"
            )));
        }
        pairs.push((k.into(), v.into()));
    }
    let since = match &args.since {
        Some(s) => Some(view::since(s, now_ms).map_err(Error::Flag)?),
        None => None,
    };
    if let Some(ms) = since {
        pairs.push(("since".into(), ms.to_string()));
    }
    if let Some(r) = &args.reference {
        pairs.push(("ref".into(), r.clone()));
    }
    pairs.push(("limit".into(), args.limit.to_string()));
    pairs.push(("format".into(), "json".into()));
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", view::encode(k), view::encode(v)))
        .collect();
    Ok((q.join("&"), since))
}

/// Ask the fleet. Servers that fail are in the report, not an error.
pub fn run(args: &Args) -> Result<Report, Error> {
    let flags = Flags {
        file: args.http_config.clone(),
        ca_file: args.ca_file.clone(),
        cert_file: args.cert_file.clone(),
        key_file: args.key_file.clone(),
        server_name: args.server_name.clone(),
        username: args.username.clone(),
        password_file: args.password_file.clone(),
    };
    let eps = client_config::load(&flags, std::env::var(PASSWORD_ENV).ok())?;
    let job = targets::anchored(&args.job).map_err(|e| Error::Flag(format!("--job {e}")))?;
    let instance = match &args.instance {
        Some(i) => Some(targets::anchored(i).map_err(|e| Error::Flag(format!("--instance {e}")))?),
        None => None,
    };
    let (q, since_ms) = query(args, crate::store::now_ms())?;
    let base = args.prometheus.trim_end_matches('/');
    let targets_url = format!("{base}/api/v1/targets?state=active");
    let prom_err = |msg: String| Error::Prometheus {
        url: targets_url.clone(),
        msg,
    };
    let turi: Uri = targets_url
        .parse()
        .map_err(|e| prom_err(format!("not a URL: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Flag(format!("cannot start the I/O runtime: {e}")))?;
    rt.block_on(async {
        let r = http::get(&turi, &eps.prometheus, args.timeout, MAX_TARGETS_BODY)
            .await
            .map_err(|e| prom_err(e.to_string()))?;
        if r.status != 200 {
            return Err(prom_err(format!(
                "HTTP {}: {}",
                r.status,
                report::first_line(&r.body)
            )));
        }
        let found = targets::parse(&r.body, &job, instance.as_ref()).map_err(prom_err)?;
        if found.targets.is_empty() {
            return Err(Error::NoTargets {
                url: base.to_string(),
                job: args.job.clone(),
                instance: args
                    .instance
                    .as_ref()
                    .map(|i| format!(" and instance=~{i:?}"))
                    .unwrap_or_default(),
                jobs: if found.jobs.is_empty() {
                    "none".into()
                } else {
                    found.jobs.join(", ")
                },
            });
        }
        let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency as usize));
        let agents = Arc::new(eps.agents);
        let mut set = tokio::task::JoinSet::new();
        for (i, t) in found.targets.iter().enumerate() {
            let (gate, agents) = (gate.clone(), agents.clone());
            let url = format!("{}?{q}", t.lines_url);
            let timeout = args.timeout;
            set.spawn(async move {
                // The gate is never closed, so acquiring only waits.
                let _permit = gate.acquire_owned().await.ok();
                (i, ask(&url, &agents, timeout).await)
            });
        }
        let mut outcomes: Vec<Option<Result<report::Answer, String>>> =
            (0..found.targets.len()).map(|_| None).collect();
        while let Some(done) = set.join_next().await {
            if let Ok((i, o)) = done {
                outcomes[i] = Some(o);
            }
        }
        let servers = found
            .targets
            .into_iter()
            .zip(outcomes)
            .map(|(t, o)| {
                (
                    t,
                    o.unwrap_or_else(|| Err("the request task failed".into())),
                )
            })
            .collect();
        Ok(Report::merge(servers, args.limit, since_ms, q.clone()))
    })
}

async fn ask(url: &str, ep: &Endpoint, timeout: Duration) -> Result<report::Answer, String> {
    let u: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let r = http::get(&u, ep, timeout, MAX_LINES_BODY)
        .await
        .map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!(
            "HTTP {}: {}",
            r.status,
            report::first_line(&r.body)
        ));
    }
    report::Answer::parse(&r.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(a: &[&str]) -> Args {
        let mut v = vec!["lines", "--prometheus", "http://p:9090"];
        v.extend(a);
        Cli::try_parse_from(v).unwrap().args
    }

    #[test]
    fn the_query_every_server_gets() {
        let a = args(&[
            "--status",
            "5xx",
            "--route",
            "/api/v1/mail/items/:id",
            "--menu",
            "mail",
            "--tenant",
            "acme",
            "--field",
            "host=a b",
            "--since",
            "15m",
            "--limit",
            "7",
        ]);
        let (q, since) = query(&a, 1_000_000_000).unwrap();
        assert_eq!(since, Some(1_000_000_000 - 15 * 60_000));
        assert_eq!(
            q,
            "route=%2Fapi%2Fv1%2Fmail%2Fitems%2F%3Aid&menu=mail&status=5xx&tenant=acme&host=a%20b&since=999100000&limit=7&format=json"
        );
        let (q, since) = query(&args(&["--ref", "req-1"]), 0).unwrap();
        assert_eq!(
            (q.as_str(), since),
            ("ref=req-1&limit=100&format=json", None)
        );
    }

    #[test]
    fn bad_flags_are_named() {
        let e = query(&args(&["--field", "since=1"]), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("since is not a field"), "{e}");
        let e = query(&args(&["--field", "x"]), 0).unwrap_err().to_string();
        assert!(e.contains("NAME=VALUE"), "{e}");
        let e = query(&args(&["--since", "yesterday"]), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("since=\"yesterday\""), "{e}");
        let mut v = vec!["lines", "--prometheus", "http://p", "--limit", "5001"];
        assert!(Cli::try_parse_from(&v).is_err());
        v[4] = "0";
        assert!(Cli::try_parse_from(&v).is_err());
    }

    #[test]
    fn clean_escapes_terminal_controls_only() {
        assert_eq!(clean("plain 한글 …"), "plain 한글 …");
        assert_eq!(
            clean("a\u{1b}[31mb\u{85}\u{2067}"),
            "a\\u{1b}[31mb\\u{85}\\u{2067}"
        );
    }
}
