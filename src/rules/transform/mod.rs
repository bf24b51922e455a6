//! Label transforms: the registry, and what each does per line.
//!
//! A transform turns a field's value into a label value, usually folding an unbounded input
//! (URI, user agent, status text) into a small set. Each lives in its own file with its unit
//! tests; this file registers them. Adding one: a file here, a variant in [`TransformName`]
//! (its config name), and an arm in [`Transform::new`], [`Transform::cardinality`],
//! [`Transform::clean_output`] and [`Applier::apply`]. Options a transform takes are checked in
//! [`Transform::new`] (label options) or [`SourceTransforms::new`] (source options), at config
//! validation; what runs per line cannot fail and does not allocate after warm-up (output goes
//! to a caller-owned buffer). A transform may give no value for a line (`apply` returns false):
//! the label then takes its `default`, or the update is skipped.
//!
//! This module depends on nothing else in the crate but `parse::Level` (the level words):
//! config validation compiles transforms through it, and the rule compiler runs them.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

mod cache;
pub mod device;
pub mod http;
pub mod level;
mod memo;
pub mod menu;
pub mod page;
pub mod referrer;
pub mod route;
pub mod security;
pub mod tenant;

pub use device::{
    DeviceClass, DeviceClassifier, DeviceRuleSpec, VersionFormat, DEVICE_CLASSES, PLATFORMS,
};
pub use level::LEVEL_VALUES;
pub use menu::Menus;
pub use page::{PageSpec, Pages};
pub use referrer::{ReferrerSpec, Referrers};
pub use route::RoutePattern;
pub use security::{SecurityKind, SecurityRuleSpec, SecurityRules, SECURITY_KINDS};
pub use tenant::{TenantMap, TenantSpec};

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
    /// User agent → `mobile_app | mobile_web | desktop | bot | other` (`device_rules`).
    Device,
    /// User agent → the device class of a person; no value for bots, scanners and an empty
    /// agent.
    Person,
    /// User agent → `android | ios | windows | macos | linux | other`.
    Platform,
    /// User agent → the name of a known app; no value for other agents.
    App,
    /// User agent → a known app's version (`3.5`); no value for other agents.
    AppVersion,
    /// URI → menu name from the `menus` table, `other`; no value for scanner probes.
    Menu,
    /// `uri\nuser agent` → the menu of a person's request; no value for bots and probes.
    PersonMenu,
    /// `uri\nuser agent` → the menu of a page a person asked for; no value for anything else.
    Page,
    /// `uri\nuser agent\nreferer` → the referrer of a page a person asked for.
    PageReferrer,
    /// Same, every site folded into `site`.
    PageReferrerKind,
    /// Host (or a header or path value) → tenant from `tenant_map`; no value when unknown.
    Tenant,
    /// Referer → `direct`, `internal`, a search engine, a site's registrable domain, `other`.
    Referrer,
    /// `status\nmethod\nuri\nuser agent` → a security event kind; no value for ordinary
    /// requests.
    Security,
    /// Lower-case.
    Lower,
    /// A level word → `trace | debug | info | warn | error | fatal | other`.
    Level,
}

/// A source's transform options as written (`device_rules`, `menus`, `referrers`,
/// `security_rules`, `pages`, `tenant_map`): they apply to every label of the source using the
/// transform.
#[derive(Debug, Default, Clone, Copy)]
pub struct SourceSpecs<'a> {
    /// `device_rules:`, tried before the built-in rules.
    pub device_rules: &'a [DeviceRuleSpec],
    /// `menus:` (`None`: the built-in groupware table).
    pub menus: Option<&'a BTreeMap<String, Vec<String>>>,
    /// `referrers:`.
    pub referrers: Option<&'a ReferrerSpec>,
    /// `security_rules:`, tried before the built-in rules.
    pub security_rules: &'a [SecurityRuleSpec],
    /// `pages:`.
    pub pages: Option<&'a PageSpec>,
    /// `tenant_map:`.
    pub tenant_map: Option<&'a TenantSpec>,
}

/// A source's compiled transform options, shared by the labels of the source.
#[derive(Debug, Clone)]
pub struct SourceTransforms {
    /// User agent rules.
    pub devices: Arc<DeviceClassifier>,
    /// Menu table.
    pub menus: Arc<Menus>,
    /// Referrer options.
    pub referrers: Arc<Referrers>,
    /// Security rules.
    pub security: Arc<SecurityRules>,
    /// Page options, with the menus and device rules above.
    pub pages: Arc<Pages>,
    /// Tenant map (`None`: the source has no `tenant_map`).
    pub tenants: Option<Arc<TenantMap>>,
}

impl SourceTransforms {
    /// Compile a source's options (reading `tenant_map.file`). Errors are keyed relative to the
    /// source (`menus.mail[1]`).
    pub fn new(spec: SourceSpecs<'_>) -> Result<SourceTransforms, TransformError> {
        let d = Self::builtin();
        let security = if spec.security_rules.is_empty() {
            d.security.clone()
        } else {
            Arc::new(SecurityRules::new(spec.security_rules)?)
        };
        let devices = if spec.device_rules.is_empty() {
            d.devices.clone()
        } else {
            Arc::new(DeviceClassifier::new(spec.device_rules)?)
        };
        let menus = if spec.menus.is_none() && spec.security_rules.is_empty() {
            d.menus.clone()
        } else {
            Arc::new(Menus::new(spec.menus, security.clone())?)
        };
        let tenants = spec
            .tenant_map
            .map(|t| TenantMap::new(t).map(Arc::new))
            .transpose()?;
        let pages = if spec.pages.is_none()
            && Arc::ptr_eq(&menus, &d.menus)
            && Arc::ptr_eq(&devices, &d.devices)
        {
            d.pages.clone()
        } else {
            Arc::new(Pages::new(spec.pages, menus.clone(), devices.clone())?)
        };
        Ok(SourceTransforms {
            referrers: match (spec.referrers, &tenants) {
                (None, None) => d.referrers.clone(),
                (r, t) => Arc::new(Referrers::new(r, t.clone())?),
            },
            devices,
            menus,
            security,
            pages,
            tenants,
        })
    }

    /// Files the options were read from, with a digest of their content: a reload restarts
    /// the source when one changed, though its config did not.
    pub fn inputs(&self) -> Vec<(std::path::PathBuf, u64)> {
        self.tenants
            .as_ref()
            .and_then(|t| t.input().cloned())
            .into_iter()
            .collect()
    }

    /// The built-in options, compiled once.
    pub fn builtin() -> &'static SourceTransforms {
        static BUILTIN: OnceLock<SourceTransforms> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let security = Arc::new(SecurityRules::builtin());
            let devices = Arc::new(DeviceClassifier::builtin());
            let menus =
                Arc::new(Menus::new(None, security.clone()).expect("built-in menus compile"));
            SourceTransforms {
                pages: Arc::new(
                    Pages::new(None, menus.clone(), devices.clone()).expect("built-in pages"),
                ),
                devices,
                menus,
                referrers: Arc::new(Referrers::new(None, None).expect("built-in referrers")),
                security,
                tenants: None,
            }
        })
    }
}

/// The options a label gives its transform.
#[derive(Debug, Default, Clone, Copy)]
pub struct TransformOptions<'a> {
    /// `patterns:` (route only).
    pub patterns: &'a [String],
    /// The source's compiled options (`None`: the built-in ones).
    pub source: Option<&'a SourceTransforms>,
}

/// Why a transform's options are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransformError {
    /// The option at fault, relative to the label (`patterns[2]`) or the source
    /// (`device_rules[1].regex`).
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
    /// Device class of a person's user agent.
    Person(Arc<DeviceClassifier>),
    /// Platform of a user agent.
    Platform(Arc<DeviceClassifier>),
    /// App of a user agent.
    App(Arc<DeviceClassifier>),
    /// App version of a user agent.
    AppVersion(Arc<DeviceClassifier>),
    /// Menu of a URI.
    Menu(Arc<Menus>),
    /// Menu of a person's request.
    PersonMenu(Arc<Pages>),
    /// Menu of a person's page.
    Page(Arc<Pages>),
    /// Referrer of a person's page, with sites (`true`) or folded into `site`.
    PageReferrer(Arc<Pages>, Arc<Referrers>, bool),
    /// Tenant of a host.
    Tenant(Arc<TenantMap>),
    /// Referrer class of a Referer.
    Referrer(Arc<Referrers>),
    /// Security event kind of a request.
    Security(Arc<SecurityRules>),
    /// Lower-case ASCII.
    Lower,
    /// Normalised log level.
    Level,
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
        let src = match opts.source {
            Some(s) => s,
            None => SourceTransforms::builtin(),
        };
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
            TransformName::Device => Transform::Device(src.devices.clone()),
            TransformName::Person => Transform::Person(src.devices.clone()),
            TransformName::Platform => Transform::Platform(src.devices.clone()),
            TransformName::PersonMenu => Transform::PersonMenu(src.pages.clone()),
            TransformName::Page => Transform::Page(src.pages.clone()),
            TransformName::PageReferrer => {
                Transform::PageReferrer(src.pages.clone(), src.referrers.clone(), true)
            }
            TransformName::PageReferrerKind => {
                Transform::PageReferrer(src.pages.clone(), src.referrers.clone(), false)
            }
            TransformName::Tenant => {
                match &src.tenants {
                    Some(t) => Transform::Tenant(t.clone()),
                    None => return Err(TransformError {
                        key: "transform".into(),
                        message:
                            "`transform: tenant` reads the source's `tenant_map`, which is not set"
                                .into(),
                    }),
                }
            }
            TransformName::App => Transform::App(src.devices.clone()),
            TransformName::AppVersion => Transform::AppVersion(src.devices.clone()),
            TransformName::Menu => Transform::Menu(src.menus.clone()),
            TransformName::Referrer => Transform::Referrer(src.referrers.clone()),
            TransformName::Security => Transform::Security(src.security.clone()),
            TransformName::Lower => Transform::Lower,
            TransformName::Level => Transform::Level,
        })
    }

    /// The values declared up front (exported at 0 from start-up), when they are known.
    pub fn values(&self) -> Option<Vec<String>> {
        let s = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
        match self {
            Transform::Device(_) => Some(s(DEVICE_CLASSES)),
            Transform::Person(_) => Some(s(&PERSON_CLASSES)),
            Transform::Platform(_) => Some(s(PLATFORMS)),
            Transform::Page(p) => Some(p.values()),
            Transform::PersonMenu(p) => Transform::Menu(p.menus().clone()).values(),
            Transform::PageReferrer(_, _, false) => Some(Referrers::kind_values()),
            Transform::Security(_) => Some(s(SECURITY_KINDS)),
            Transform::Menu(m) => Some(
                m.names()
                    .iter()
                    .map(|n| n.to_string())
                    .chain([menu::OTHER.to_string()])
                    .collect(),
            ),
            Transform::Level => Some(s(LEVEL_VALUES)),
            _ => None,
        }
    }

    /// How many values the output can take at most, when that is fixed whatever the input
    /// (for `check`'s series estimates); `None` for open sets (routes, lower-cased text).
    pub fn cardinality(&self) -> Option<usize> {
        Some(match self {
            Transform::StatusClass => 6,
            Transform::Status => 501,
            Transform::Method => http::METHOD_COUNT + 1,
            Transform::Device(_) => DEVICE_CLASSES.len(),
            Transform::Person(_) => PERSON_CLASSES.len(),
            Transform::Platform(_) => PLATFORMS.len(),
            Transform::App(d) => d.apps().len(),
            Transform::AppVersion(d) => d.version_count(),
            Transform::Menu(m) => m.names().len() + 1,
            Transform::PersonMenu(p) => p.menus().names().len() + 1,
            Transform::Page(p) => p.values().len(),
            Transform::Referrer(r) | Transform::PageReferrer(_, r, true) => r.cardinality(),
            Transform::PageReferrer(_, _, false) => Referrers::kind_values().len(),
            Transform::Security(_) => SECURITY_KINDS.len(),
            Transform::Level => LEVEL_VALUES.len(),
            Transform::Route(_) | Transform::Lower | Transform::Tenant(_) => return None,
        })
    }

    /// True when the output set is fixed whatever the input (no series can be created by
    /// crafting log lines).
    pub fn bounded(&self) -> bool {
        self.cardinality().is_some()
    }

    /// True when `self` and `other` give the same output for every input: the same variant
    /// over the same compiled tables (one `Arc` per source after validation, so pointers
    /// compare).
    pub fn same(&self, other: &Transform) -> bool {
        use Transform as T;
        match (self, other) {
            (T::Route(a), T::Route(b)) => Arc::ptr_eq(a, b),
            (T::Device(a), T::Device(b))
            | (T::Person(a), T::Person(b))
            | (T::Platform(a), T::Platform(b))
            | (T::App(a), T::App(b))
            | (T::AppVersion(a), T::AppVersion(b)) => Arc::ptr_eq(a, b),
            (T::Menu(a), T::Menu(b)) => Arc::ptr_eq(a, b),
            (T::PersonMenu(a), T::PersonMenu(b)) | (T::Page(a), T::Page(b)) => Arc::ptr_eq(a, b),
            (T::PageReferrer(a, r, x), T::PageReferrer(b, s, y)) => {
                Arc::ptr_eq(a, b) && Arc::ptr_eq(r, s) && x == y
            }
            (T::Tenant(a), T::Tenant(b)) => Arc::ptr_eq(a, b),
            (T::Referrer(a), T::Referrer(b)) => Arc::ptr_eq(a, b),
            (T::Security(a), T::Security(b)) => Arc::ptr_eq(a, b),
            (T::StatusClass, T::StatusClass)
            | (T::Status, T::Status)
            | (T::Method, T::Method)
            | (T::Lower, T::Lower)
            | (T::Level, T::Level) => true,
            _ => false,
        }
    }

    /// True when the output never holds a control character whatever the input (a route turns
    /// a segment holding one into `:id`; menu, app and mapped tenant names are checked config
    /// text; a referrer's site and a tenant from a domain are letters, digits, `-`, `.`, `_`),
    /// so the label needs no check after it.
    pub fn clean_output(&self) -> bool {
        !matches!(self, Transform::Lower)
    }
}

/// State shared by every label of one source, kept between lines.
#[derive(Debug, Default)]
pub struct Scratch {
    device: device::DeviceState,
    menu: menu::MenuState,
    referrer: referrer::ReferrerState,
    security: security::SecurityState,
}

/// One label's transform, with the state it keeps from line to line.
#[derive(Debug)]
pub struct Applier {
    transform: Transform,
    /// Outputs of the costly transforms (route, menu, referrer) by input.
    cache: cache::OutputCache,
}

impl Applier {
    /// Ready `transform` for one label.
    pub fn new(transform: Transform) -> Applier {
        Applier {
            transform,
            cache: cache::OutputCache::default(),
        }
    }

    /// The transform applied.
    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    /// Write the transform of `v` into `out` (cleared by the caller). False when the transform
    /// gives no value for this input (an agent of no known app, a scanner probe's menu, an
    /// ordinary request's security kind): `out` is then left empty.
    #[inline]
    pub fn apply(&mut self, v: &[u8], scratch: &mut Scratch, out: &mut Vec<u8>) -> bool {
        let cache = &mut self.cache;
        match &self.transform {
            Transform::Route(p) => {
                return cache.get(v, out, |out| {
                    route::route(v, p, out);
                    true
                })
            }
            Transform::StatusClass => http::status_class(v, out),
            Transform::Status => http::status(v, out),
            Transform::Method => http::method(v, out),
            Transform::Device(d) => out.extend_from_slice(scratch.device.info(d, v).class()),
            Transform::Person(d) => match scratch.device.info(d, v).person() {
                Some(c) => out.extend_from_slice(c),
                None => return false,
            },
            Transform::Platform(d) => out.extend_from_slice(scratch.device.info(d, v).platform()),
            Transform::PersonMenu(p) => {
                let mut st = page::PageState {
                    device: &mut scratch.device,
                    menu: &mut scratch.menu,
                    uri: &mut scratch.security.uri,
                    referrer: &mut scratch.referrer,
                };
                return page::person_menu(p.menus(), p.devices(), v, &mut st, out);
            }
            Transform::Page(p) => {
                let mut st = page::PageState {
                    device: &mut scratch.device,
                    menu: &mut scratch.menu,
                    uri: &mut scratch.security.uri,
                    referrer: &mut scratch.referrer,
                };
                return page::page(p, v, &mut st, out);
            }
            Transform::PageReferrer(p, r, sites) => {
                let mut st = page::PageState {
                    device: &mut scratch.device,
                    menu: &mut scratch.menu,
                    uri: &mut scratch.security.uri,
                    referrer: &mut scratch.referrer,
                };
                return page::page_referrer(p, r, *sites, v, &mut st, cache, out);
            }
            Transform::Tenant(t) => return cache.get(v, out, |out| t.resolve(v, out)),
            Transform::App(d) => match scratch.device.info(d, v).app(d) {
                Some(a) => out.extend_from_slice(a),
                None => return false,
            },
            Transform::AppVersion(d) => match scratch.device.info(d, v).version() {
                Some(a) => out.extend_from_slice(a),
                None => return false,
            },
            Transform::Menu(m) => {
                return cache.get(v, out, |out| {
                    menu::menu(m, v, &mut scratch.menu, &mut scratch.security.uri, out)
                })
            }
            Transform::Referrer(r) => {
                return cache.get(v, out, |out| {
                    referrer::referrer(r, v, &mut scratch.referrer, true, out);
                    true
                })
            }
            Transform::Security(r) => return security::security(r, v, &mut scratch.security, out),
            Transform::Lower => lower(v, out),
            Transform::Level => level::level(v, out),
        }
        true
    }
}

/// The device classes of people (`transform: person`): every class but `bot`.
pub const PERSON_CLASSES: [&str; 4] = ["mobile_app", "mobile_web", "desktop", "other"];

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
            Transform::new(
                TransformName::Route,
                TransformOptions {
                    patterns: &p,
                    source: None,
                },
            )
            .unwrap()
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
        let e = Transform::new(
            TransformName::Route,
            TransformOptions {
                patterns: &p,
                source: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.key, "patterns[1]");
        let e = Transform::new(
            TransformName::Lower,
            TransformOptions {
                patterns: &p,
                source: None,
            },
        )
        .unwrap_err();
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

    /// Untrusted bytes through every transform that claims a clean output: never a panic,
    /// never a control character or invalid UTF-8 in a label value, never an unbounded output.
    #[test]
    fn clean_outputs_hold_for_any_input() {
        use proptest::prelude::*;
        let parts = prop_oneof![
            Just(b"/".to_vec()),
            Just(b"../".to_vec()),
            Just(b".env".to_vec()),
            Just(b"https://".to_vec()),
            Just(b"m.search.naver.com".to_vec()),
            Just(b".co.kr".to_vec()),
            Just(b"DaouOffice/".to_vec()),
            Just(b"; wv)".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"%2e".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..12),
        ];
        let input = proptest::collection::vec(parts, 0..12).prop_map(|v| v.concat());
        let names = [
            TransformName::Route,
            TransformName::StatusClass,
            TransformName::Status,
            TransformName::Method,
            TransformName::Device,
            TransformName::Person,
            TransformName::Platform,
            TransformName::App,
            TransformName::AppVersion,
            TransformName::Menu,
            TransformName::PersonMenu,
            TransformName::Page,
            TransformName::PageReferrer,
            TransformName::PageReferrerKind,
            TransformName::Referrer,
            TransformName::Security,
        ];
        let appliers: Vec<(Transform, Applier)> = names
            .iter()
            .map(|n| {
                let t = Transform::new(*n, TransformOptions::default()).unwrap();
                (t.clone(), Applier::new(t))
            })
            .collect();
        // State kept across cases, as across lines (memos, admitted sites and versions).
        let state = std::cell::RefCell::new((appliers, Scratch::default()));
        proptest!(ProptestConfig::with_cases(2000), |(v in input)| {
            let (appliers, scratch) = &mut *state.borrow_mut();
            for (t, a) in appliers.iter_mut() {
                let mut out = Vec::new();
                if a.apply(&v, scratch, &mut out) {
                    prop_assert!(t.clean_output());
                    let s = std::str::from_utf8(&out);
                    prop_assert!(s.is_ok_and(|s| !s.chars().any(char::is_control)), "{t:?} {out:?}");
                    if let Some(vals) = t.values() {
                        if !matches!(t, Transform::Referrer(_) | Transform::PageReferrer(_, _, true)) {
                            prop_assert!(vals.iter().any(|x| x.as_bytes() == out), "{t:?} {out:?}");
                        }
                    }
                } else {
                    prop_assert!(out.is_empty());
                }
            }
        });
    }
}
