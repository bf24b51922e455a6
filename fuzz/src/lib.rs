//! Fuzz target bodies for cargo-fuzz; see `targets`.
pub mod targets;
