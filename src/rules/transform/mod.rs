//! Label transforms: the registry, and what each does per line.
//!
//! A transform turns a field's value into a label value, usually folding an unbounded input
//! (URI, user agent, status text) into a small set. Each lives in its own file with its unit
//! tests; this file registers them. Adding one: a file here, a variant in [`TransformName`]
//! (its config name), and an arm in [`Transform::new`], [`Transform::bounded`],
//! [`Transform::clean_output`] and [`Applier::apply`]. Options a transform takes are checked in [`Transform::new`], at config
//! validation; what runs per line cannot fail and does not allocate (output goes to a
//! caller-owned buffer).
//!
//! This module depends on nothing else in the crate: config validation compiles transforms
//! through it, and the rule compiler runs them.

use std::sync::Arc;

use serde::Deserialize;

pub mod device;
pub mod http;
pub mod route;

pub use device::{DeviceClassifier, DeviceMemo, DEVICE_CLASSES};
pub use route::RoutePattern;

/// A transform's name in the config (`transform: route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TransformName {
    /// URI → route: query dropped, ids → `:id`, user `patterns` applied first.
    Route,
    /// `503` → `5xx`.
    StatusClass,
    /// A valid three-digit status, else `other`.
    Status,
    /// A known HTTP method, else `other`.
    Method,
    /// User agent → `mobile_app | mobile_web | desktop | bot | other`.
    Device,
    /// Lower-case.
    Lower,
}

/// The options a label gives its transform.
#[derive(Debug, Default, Clone, Copy)]
pub struct TransformOptions<'a> {
    /// `patterns:` (route only).
    pub patterns: &'a [String],
}

/// Why a transform's options are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransformError {
    /// The option at fault, relative to the label (`patterns[2]`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// A compiled transform, as the validated config holds it: cheap to clone, shared by every
/// label that uses the same options.
#[derive(Debug, Clone)]
pub enum Transform {
    /// The route patterns, tried before the automatic `:id` rules.
    Route(Arc<[RoutePattern]>),
    /// `503` → `5xx`.
    StatusClass,
    /// Valid status or `other`.
    Status,
    /// Known method or `other`.
    Method,
    /// Device class of a user agent.
    Device(Arc<DeviceClassifier>),
    /// Lower-case ASCII.
    Lower,
}

impl Transform {
    /// Compile `name` with its options.
    pub fn new(
        name: TransformName,
        opts: TransformOptions<'_>,
    ) -> Result<Transform, TransformError> {
        if !opts.patterns.is_empty() && name != TransformName::Route {
            return Err(TransformError {
                key: "patterns".into(),
                message: "`patterns` are for `transform: route`".into(),
            });
        }
        Ok(match name {
            TransformName::Route => Transform::Route(
                opts.patterns
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        RoutePattern::new(p).map_err(|message| TransformError {
                            key: format!("patterns[{i}]"),
                            message,
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            TransformName::StatusClass => Transform::StatusClass,
            TransformName::Status => Transform::Status,
            TransformName::Method => Transform::Method,
            TransformName::Device => Transform::Device(Arc::new(DeviceClassifier::default())),
            TransformName::Lower => Transform::Lower,
        })
    }

    /// The values this transform can produce, when they are few and known up front: their
    /// series are declared (exported at 0) from start-up.
    pub fn values(&self) -> Option<&'static [&'static str]> {
        match self {
            Transform::Device(_) => Some(DEVICE_CLASSES),
            _ => None,
        }
    }

    /// True when the output set is fixed whatever the input (no series can be created by
    /// crafting log lines).
    pub fn bounded(&self) -> bool {
        match self {
            Transform::StatusClass
            | Transform::Status
            | Transform::Method
            | Transform::Device(_) => true,
            Transform::Route(_) | Transform::Lower => false,
        }
    }

    /// True when the output never holds a control character whatever the input (a route turns
    /// a segment holding one into `:id`), so the label needs no check after it.
    pub fn clean_output(&self) -> bool {
        match self {
            Transform::Route(_)
            | Transform::StatusClass
            | Transform::Status
            | Transform::Method
            | Transform::Device(_) => true,
            Transform::Lower => false,
        }
    }
}

/// State shared by every label of one source, kept between lines.
#[derive(Debug, Default)]
pub struct Scratch {
    route: RouteMemo,
}

/// The last route computed: the `http` profile labels three metrics with the route of the same
/// URI, and normalising it is the costliest transform, so the 2nd and 3rd are a copy.
#[derive(Debug, Default)]
struct RouteMemo {
    /// Address of the pattern list the memo was made with (`0`: empty memo). Equal lists are
    /// one `Arc` after validation; distinct lists never share an address while both live.
    set: usize,
    input: Vec<u8>,
    output: Vec<u8>,
}

/// One label's transform, with the state it keeps from line to line.
#[derive(Debug)]
pub struct Applier {
    transform: Transform,
    device: DeviceMemo,
}

impl Applier {
    /// Ready `transform` for one label.
    pub fn new(transform: Transform) -> Applier {
        Applier {
            transform,
            device: DeviceMemo::default(),
        }
    }

    /// Write the transform of `v` into `out` (cleared by the caller).
    #[inline]
    pub fn apply(&mut self, v: &[u8], scratch: &mut Scratch, out: &mut Vec<u8>) {
        match &self.transform {
            Transform::Route(p) => {
                let set = p.as_ptr() as usize;
                let memo = &mut scratch.route;
                if memo.set == set && memo.input == v {
                    out.extend_from_slice(&memo.output);
                } else {
                    route::route(v, p, out);
                    memo.set = set;
                    memo.input.clear();
                    memo.input.extend_from_slice(v);
                    memo.output.clear();
                    memo.output.extend_from_slice(out);
                }
            }
            Transform::StatusClass => http::status_class(v, out),
            Transform::Status => http::status(v, out),
            Transform::Method => http::method(v, out),
            Transform::Device(d) => out.extend_from_slice(self.device.classify(d, v)),
            Transform::Lower => lower(v, out),
        }
    }
}

/// Lower-case ASCII.
pub fn lower(s: &[u8], out: &mut Vec<u8>) {
    out.extend(s.iter().map(u8::to_ascii_lowercase));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &mut Applier, s: &mut Scratch, v: &str) -> String {
        let mut out = Vec::new();
        a.apply(v.as_bytes(), s, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn route_memo_is_per_pattern_list() {
        let pats = |p: &[&str]| {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            Transform::new(TransformName::Route, TransformOptions { patterns: &p }).unwrap()
        };
        let mut user = Applier::new(pats(&["/u/:user"]));
        let mut auto = Applier::new(pats(&[]));
        let mut s = Scratch::default();
        for _ in 0..2 {
            assert_eq!(run(&mut user, &mut s, "/u/alice"), "/u/:user");
            assert_eq!(run(&mut auto, &mut s, "/u/alice"), "/u/alice");
        }
        assert_eq!(run(&mut auto, &mut s, "/u/42"), "/u/:id");
    }

    #[test]
    fn options_are_checked_with_their_key() {
        let p = vec!["/ok".to_string(), "nope".to_string()];
        let e =
            Transform::new(TransformName::Route, TransformOptions { patterns: &p }).unwrap_err();
        assert_eq!(e.key, "patterns[1]");
        let e =
            Transform::new(TransformName::Lower, TransformOptions { patterns: &p }).unwrap_err();
        assert_eq!(e.key, "patterns");
        assert_eq!(
            run(
                &mut Applier::new(Transform::Lower),
                &mut Scratch::default(),
                "WaRN"
            ),
            "warn"
        );
    }
}
