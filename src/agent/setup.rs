//! What `run` and reloads build before wiring a source or the agent: the state directory,
//! self-metric families, the values a checkpoint saved, a source's tail options.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{Config, Global, Source};
use crate::export::WebOptions;
use crate::source::TailOptions;
use crate::store::{push_label, Family, Kind, Pending, Series, Store};

/// How long scrapers see a new counter series at 0 ([`crate::store::hold`]): half a second
/// less than `global.scrape_interval`, so that a Prometheus scraping at that interval sees the
/// value at its next scrape, and a second replica (whose scrapes fall within the interval, or
/// within the second a render is reused) gets a 0 first. Without it, one scrape's render.
pub(super) fn zero_hold_ms(g: &Global) -> u64 {
    g.scrape_interval
        .map_or(0, |d| (d.as_millis() as u64).saturating_sub(500))
}

/// Add back the values a checkpoint saved for series scrapers had only seen at 0.
pub(super) fn restore_pending(extra: &str, path: &std::path::Path, stores: &[&Store]) {
    match Pending::restore_json(extra, stores) {
        Ok(r) => {
            if r.series > 0 {
                tracing::info!(
                    series = r.series,
                    "restored the values of series Prometheus had seen at 0 only"
                );
            }
            if r.invalid > 0 {
                tracing::warn!(
                    "{}: {} saved values not restored: no counting makes them (a negative counter, histogram buckets not adding up to the count); was the file altered?",
                    path.display(),
                    r.invalid
                );
            }
            for (name, n) in &r.dropped {
                tracing::warn!(
                    "{}: {n} saved values of metric {name:?} not restored: the metric is no longer defined the same way; lines counted in them before the restart are lost",
                    path.display()
                );
            }
        }
        Err(e) => tracing::error!(
            "{}: the values saved with the offsets are unreadable ({e}); those read before it were restored, lines counted in the others (series Prometheus had seen at 0 only) are lost",
            path.display()
        ),
    }
}

/// The state directory: `global.state_dir`, else `$STATE_DIRECTORY` (systemd), else
/// `/var/lib/logpulse`, else (not root, nothing configured) the user's state directory.
pub(super) fn state_dir(cfg: &Config) -> Result<PathBuf, String> {
    let chosen = cfg
        .global
        .state_dir
        .clone()
        .or_else(|| std::env::var_os("STATE_DIRECTORY").map(PathBuf::from));
    let explicit = chosen.is_some();
    let dir = chosen.unwrap_or_else(|| PathBuf::from("/var/lib/logpulse"));
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if !explicit => {
            let user = std::env::var_os("XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
                .map(|d| d.join("logpulse"));
            match user {
                Some(u) if std::fs::create_dir_all(&u).is_ok() => {
                    tracing::info!(
                        "cannot create {} ({e}); keeping checkpoints in {} (set global.state_dir to choose)",
                        dir.display(),
                        u.display()
                    );
                    Ok(u)
                }
                _ => Err(format!(
                    "cannot create state_dir {}: {e}; set global.state_dir to a writable directory",
                    dir.display()
                )),
            }
        }
        Err(e) => Err(format!(
            "cannot create state_dir {}: {e}; set global.state_dir to a writable directory",
            dir.display()
        )),
    }
}

pub(super) fn self_family(
    store: &Store,
    name: &str,
    kind: Kind,
    help: &str,
    labels: &[&str],
) -> Arc<Family> {
    store.own_family(name, kind, help, labels)
}

/// `logpulse_web_info{scheme, external_url}`: what alert annotations need to link to this
/// agent's line view (`external_url`, else `scheme` and the `instance` Prometheus scrapes).
pub(super) fn web_info(selfstore: &Store, web: &WebOptions, external_url: Option<&str>) {
    let tls = web
        .config
        .as_ref()
        .is_some_and(|w| w.current().tls.is_some());
    let f = self_family(
        selfstore,
        "logpulse_web_info",
        Kind::Gauge,
        "Where people reach this agent: the scheme it serves (https with TLS in the web config) and --web.external-url when given; value 1.",
        &["scheme", "external_url"],
    );
    let mut k = Vec::new();
    push_label(&mut k, if tls { b"https" } else { b"http" });
    push_label(&mut k, external_url.unwrap_or("").as_bytes());
    f.declare(&k).set(1.0);
}

pub(super) fn source_series(family: &Family, source: &str) -> Arc<Series> {
    let mut k = Vec::new();
    push_label(&mut k, source.as_bytes());
    family.declare(&k)
}

/// How source `src` tails its files under `global`.
pub(super) fn tail_options(src: &Source, global: &Global) -> TailOptions {
    TailOptions {
        source: src.name.clone(),
        paths: src.paths.clone(),
        exclude: src.exclude.clone(),
        start_at: src.start_at,
        poll_interval: global.poll_interval,
        force_poll: src.poll,
        max_line_bytes: global.max_line_bytes,
        partial_flush: global.partial_flush,
        rotate_wait: global.rotate_wait,
    }
}
