//! logpulse: tail log files, turn lines into labeled Prometheus metrics.
//!
//! The modules are the pipeline, and dependencies point one way:
//!
//! ```text
//! config → source (tailing, checkpoints) → parse (line → fields) → rules (fields → updates)
//!        → store (series, limits, expiry, snapshots) ← export (HTTP /metrics, /healthz, /)
//! ```
//!
//! `agent` wires it: `agent::worker` applies one source's lines (rules → store, offsets and
//! self-metrics under one lock per batch); `agent::run` runs every source and the exporter.
//! `fleet` is no stage: it is `logpulse lines`, a client that reads many agents' line views
//! through Prometheus' targets API.

#![warn(missing_docs)]

pub mod agent;
pub mod config;
pub mod export;
pub mod fleet;
pub mod logging;
pub mod parse;
pub mod regular;
pub mod rules;
pub mod source;
pub mod store;
