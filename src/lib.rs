//! logpulse: tail log files, turn lines into labeled Prometheus metrics.
//!
//! The modules are the pipeline, and dependencies point one way:
//!
//! ```text
//! config → source (tailing, checkpoints) → parse (line → fields) → rules (fields → updates)
//!        → store (series, limits, expiry, snapshots) ← export (HTTP /metrics, /healthz, /)
//! ```
//!
//! `pipeline` wires one configured source end to end; `agent` runs all sources plus the exporter.

pub mod agent;
pub mod config;
pub mod export;
pub mod parse;
pub mod rules;
pub mod source;
pub mod store;
