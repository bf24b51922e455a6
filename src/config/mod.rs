//! Configuration, in two stages: YAML → [`raw`] (serde structs, `deny_unknown_fields`) →
//! [`validate`] → [`model`] (the checked config everything else uses).
//!
//! Syntax and type errors carry serde-saphyr's line and column; every other check is in
//! [`validate`], run once, and names the key path at fault (`sources[0].metrics[2].labels.route`).
//! Profiles ([`profiles`]) are expanded there into ordinary metrics and checked like them.
//!
//! Dependencies: the raw types embed the option types of the stages they configure
//! ([`crate::parse::FormatSpec`], [`crate::source::StartAt`], [`crate::rules::transform`]'s
//! names), and validation compiles formats and transforms through those modules to check them;
//! none of them depends on this one.

use std::io::Read;
use std::path::Path;

pub mod model;
pub mod profiles;
pub mod raw;
pub mod validate;

pub use model::{
    Action, CheckpointMode, Condition, Config, ExemplarField, Format, Global, Label, LabelValue,
    LineView, LinesGlobal, Metric, MetricType, Multiline, Redact, Source, TemplatePart, Test,
    TimeConfig,
};
pub use validate::{
    bucket_bounds, capacity, parse_duration, series_estimates, valid_label_name, valid_metric_name,
    DEFAULT_LISTEN, PLANNED_VALUES,
};

/// The configuration used when no `--config` is given.
pub const DEFAULT_CONFIG: &str = include_str!("default.yml");

/// Largest config file read (a real one is a few KiB): reading stops there, so a device or
/// an endless pipe given as `--config` is an error, not a hang.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// A configuration error, naming the file and the place in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: {error}")]
    Read {
        /// File.
        file: String,
        /// Cause.
        error: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error("{file}: larger than {} MiB: not a logpulse config (is it a device or a pipe?)", MAX_CONFIG_BYTES >> 20)]
    TooLarge {
        /// File.
        file: String,
    },
    /// YAML syntax, unknown key or wrong type (message has line and column).
    #[error("{file}: {message}")]
    Syntax {
        /// File.
        file: String,
        /// serde-saphyr's message.
        message: String,
    },
    /// A value is not acceptable.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// File.
        file: String,
        /// Key path, e.g. `sources[0].metrics[1].name`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Read and check a config file (at most [`MAX_CONFIG_BYTES`] of it).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let f = std::fs::File::open(path).map_err(|error| ConfigError::Read {
            file: path.display().to_string(),
            error,
        })?;
        Config::read(f, path)
    }

    /// [`Config::load`] for a reload: the file (links followed) must be a regular file, and
    /// opening it never waits. A config replaced by a FIFO held the reload in open(2) for
    /// ever, and with it the agent's shutdown.
    pub fn load_regular(path: &Path) -> Result<Config, ConfigError> {
        let read = |error| ConfigError::Read {
            file: path.display().to_string(),
            error,
        };
        let (f, _) = crate::regular::open(path, true).map_err(|e| match e {
            crate::regular::OpenError::Io(e) => read(e),
            not_regular => read(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{not_regular}: not read"),
            )),
        })?;
        Config::read(f, path)
    }

    fn read(f: std::fs::File, path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let read = |error| ConfigError::Read {
            file: file.clone(),
            error,
        };
        let mut bytes = Vec::new();
        f.take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge { file });
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            read(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            ))
        })?;
        Config::from_yaml(&text, &file)
    }

    /// The embedded default configuration.
    pub fn embedded() -> Result<Config, ConfigError> {
        Config::from_yaml(DEFAULT_CONFIG, "<embedded default config>")
    }

    /// Parse and check YAML text; `file` names it in messages.
    pub fn from_yaml(text: &str, file: &str) -> Result<Config, ConfigError> {
        // The parser's own node budget (250,000 by default) stopped a config at about 45,000
        // metrics; the byte cap already bounds a config, so the node and event budgets are
        // set past what MAX_CONFIG_BYTES can hold (a node takes at least two bytes: `a,`).
        // Depth and alias budgets stay: those are what hostile YAML uses.
        let options = serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_nodes: MAX_CONFIG_BYTES as usize / 2 + 16,
                max_events: MAX_CONFIG_BYTES as usize * 2 + 16,
            },
        };
        let raw: raw::RawConfig =
            serde_saphyr::from_str_with_options(text, options).map_err(|e| {
                let message = e.to_string();
                ConfigError::Syntax {
                    file: file.to_string(),
                    message: match message.split_once("budget breached: ") {
                        Some((at, rest)) => {
                            // `rest`: the limit, then the excerpt of the file on the next lines.
                            let (what, excerpt) = rest.split_once('\n').unwrap_or((rest, ""));
                            format!(
                                "{at}the YAML goes past a parser limit against hostile input ({what}): too many aliases, anchors or merge keys\n{excerpt}"
                            )
                        }
                        None => message,
                    },
                }
            })?;
        validate::validate(&raw, file).map_err(|e| ConfigError::Invalid {
            file: file.to_string(),
            key: e.key,
            message: e.message,
        })
    }
}

#[cfg(test)]
mod docs_test;
