//! Page views, as web analytics count them: a document a person asked for, not an API call,
//! an asset or a crawler's visit. Three transforms read a request through a template of its
//! fields, one per line (`{request_uri}\n{http_user_agent}[\n{http_referer}]`), and give no
//! value (the update is skipped) unless the request is a page of a person:
//! - `page`: the menu of the page;
//! - `page_referrer`: the referrer of the page (as `transform: referrer`);
//! - `page_referrer_kind`: the same with every site folded into `site` (bounded per tenant).
//!
//! And `person_menu` (`{request_uri}\n{http_user_agent}`): the menu of any request of a person
//! (per-tenant errors leave bots and scanners out with it).
//!
//! A URI is a page unless the scanner rules call it a probe, its path starts with one of the
//! `pages.exclude` prefixes (default `/api/`), its menu is `static`, or its last segment ends
//! with one of `pages.extensions` (scripts, styles, images, fonts, media, downloads). An agent is
//! a person unless the device rules call it a bot (crawlers, scripts, monitors, scanners). The
//! method (GET) and the status (200, 304) are the metric's conditions.

use std::sync::Arc;

use serde::Deserialize;

use super::device::{DeviceClassifier, DeviceState};
use super::menu::{self, MenuState, Menus};
use super::referrer::{self, ReferrerState, Referrers};
use super::security::{path_of, UriMemo};
use super::TransformError;

/// Path prefixes that are never pages by default.
pub const DEFAULT_EXCLUDE: &[&str] = &["/api/"];

/// Extensions of what is never a page by default: code, styles, images, fonts, media,
/// documents and archives downloaded.
pub const DEFAULT_EXTENSIONS: &[&str] = &[
    "js", "mjs", "css", "map", "json", "xml", "txt", "wasm", "png", "jpg", "jpeg", "gif", "svg",
    "ico", "webp", "avif", "bmp", "woff", "woff2", "ttf", "otf", "eot", "mp3", "mp4", "webm",
    "wav", "ogg", "pdf", "zip", "gz", "7z", "csv", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
    "hwp", "hwpx",
];

/// The menu whose requests are assets, never pages.
pub const STATIC_MENU: &str = "static";

/// `pages:` options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PageSpec {
    /// Path prefixes that are never pages (API calls, downloads); default `[/api/]`.
    pub exclude: Option<Vec<String>>,
    /// File extensions that are never pages (without the dot); default: scripts, styles,
    /// images, fonts, media, documents, archives.
    pub extensions: Option<Vec<String>>,
}

/// Compiled `pages:` options, with the tables they need.
#[derive(Debug)]
pub struct Pages {
    exclude: Vec<Box<[u8]>>,
    /// Longest first is not needed: any match excludes.
    extensions: Vec<Box<[u8]>>,
    menus: Arc<Menus>,
    devices: Arc<DeviceClassifier>,
    /// Index of the `static` menu, when the table has one.
    static_menu: Option<u16>,
}

/// Most `exclude` prefixes and `extensions`.
const MAX_ENTRIES: usize = 200;

impl Pages {
    /// Check and compile; errors name the key (`pages.exclude[1]`).
    pub fn new(
        spec: Option<&PageSpec>,
        menus: Arc<Menus>,
        devices: Arc<DeviceClassifier>,
    ) -> Result<Pages, TransformError> {
        let spec = spec.cloned().unwrap_or_default();
        let err = |key: String, message: String| TransformError { key, message };
        let own = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let exclude = spec.exclude.unwrap_or_else(|| own(DEFAULT_EXCLUDE));
        let extensions = spec.extensions.unwrap_or_else(|| own(DEFAULT_EXTENSIONS));
        for (k, n) in [("exclude", exclude.len()), ("extensions", extensions.len())] {
            if n > MAX_ENTRIES {
                return Err(err(format!("pages.{k}"), format!("at most {MAX_ENTRIES}")));
            }
        }
        for (i, p) in exclude.iter().enumerate() {
            if !p.starts_with('/') || p.len() > 256 || p.chars().any(char::is_control) {
                return Err(err(
                    format!("pages.exclude[{i}]"),
                    format!("{p:?}: a path prefix starting with '/' (e.g. /api/)"),
                ));
            }
        }
        for (i, e) in extensions.iter().enumerate() {
            if e.is_empty() || e.len() > 16 || !e.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(err(
                    format!("pages.extensions[{i}]"),
                    format!("{e:?}: letters and digits without the dot (e.g. js)"),
                ));
            }
        }
        let lower = |s: &String| s.to_ascii_lowercase().into_bytes().into_boxed_slice();
        let static_menu = menus
            .names()
            .iter()
            .position(|n| &**n == STATIC_MENU)
            .map(|i| i as u16);
        Ok(Pages {
            exclude: exclude.iter().map(lower).collect(),
            extensions: extensions.iter().map(lower).collect(),
            menus,
            devices,
            static_menu,
        })
    }

    /// Values `page` can take: the menus but `static`, and `other`.
    pub fn values(&self) -> Vec<String> {
        self.menus
            .names()
            .iter()
            .filter(|n| &***n != STATIC_MENU)
            .map(|n| n.to_string())
            .chain([menu::OTHER.to_string()])
            .collect()
    }

    /// The menus, for the labels that share them.
    pub fn menus(&self) -> &Arc<Menus> {
        &self.menus
    }

    /// The device rules, for the labels that share them.
    pub fn devices(&self) -> &Arc<DeviceClassifier> {
        &self.devices
    }

    /// False when the path is excluded or ends with an asset's extension.
    fn document(&self, uri: &[u8]) -> bool {
        let path = path_of(uri);
        let starts = |p: &[u8]| path.len() >= p.len() && path[..p.len()].eq_ignore_ascii_case(p);
        if self.exclude.iter().any(|p| starts(p)) {
            return false;
        }
        let last = path.rsplit(|b| *b == b'/').next().unwrap_or_default();
        match memchr::memrchr(b'.', last) {
            Some(dot) => {
                let ext = &last[dot + 1..];
                !self.extensions.iter().any(|e| ext.eq_ignore_ascii_case(e))
            }
            None => true,
        }
    }
}

/// `uri\nua[\nreferer]` → (uri, ua, referer): fields hold no newline (a log line ends at one).
fn split(v: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let Some(a) = memchr::memchr(b'\n', v) else {
        return (v, b"", b"");
    };
    let (uri, rest) = (&v[..a], &v[a + 1..]);
    match memchr::memrchr(b'\n', rest) {
        Some(b) => (uri, &rest[..b], &rest[b + 1..]),
        None => (uri, rest, b""),
    }
}

/// The per-line state the page transforms share with `device`, `menu` and `referrer`.
pub(super) struct PageState<'a> {
    pub device: &'a mut DeviceState,
    pub menu: &'a mut MenuState,
    pub uri: &'a mut UriMemo,
    pub referrer: &'a mut ReferrerState,
}

/// The menu of the request in `v` (`uri\nua…`) when it is a person's page.
fn page_menu(p: &Pages, v: &[u8], st: &mut PageState<'_>) -> Option<Option<u16>> {
    let (uri, ua, _) = split(v);
    st.device.info(&p.devices, ua).person()?;
    let id = menu::lookup(&p.menus, uri, st.menu, st.uri).ok()?;
    if (id.is_some() && id == p.static_menu) || !p.document(uri) {
        return None;
    }
    Some(id)
}

/// `transform: page`.
#[inline]
pub(super) fn page(p: &Pages, v: &[u8], st: &mut PageState<'_>, out: &mut Vec<u8>) -> bool {
    match page_menu(p, v, st) {
        Some(id) => {
            out.extend_from_slice(p.menus.name(id).as_bytes());
            true
        }
        None => false,
    }
}

/// `transform: person_menu`: the menu of a person's request (`uri\nua`).
#[inline]
pub(super) fn person_menu(
    menus: &Arc<Menus>,
    devices: &Arc<DeviceClassifier>,
    v: &[u8],
    st: &mut PageState<'_>,
    out: &mut Vec<u8>,
) -> bool {
    let (uri, ua, _) = split(v);
    if st.device.info(devices, ua).person().is_none() {
        return false;
    }
    menu::menu(menus, uri, st.menu, st.uri, out)
}

/// `transform: page_referrer` (`sites: true`) and `page_referrer_kind`: the referrer of a
/// person's page (`uri\nua\nreferer`), its output cached by referer.
#[inline]
pub(super) fn page_referrer(
    p: &Pages,
    r: &Arc<Referrers>,
    sites: bool,
    v: &[u8],
    st: &mut PageState<'_>,
    cache: &mut super::cache::OutputCache,
    out: &mut Vec<u8>,
) -> bool {
    if page_menu(p, v, st).is_none() {
        return false;
    }
    let referer = split(v).2;
    cache.get(referer, out, |out| {
        referrer::referrer(r, referer, st.referrer, sites, out);
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::transform::{SecurityRules, SourceTransforms};

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const APP: &str = "DaouOffice/3.5.3 (iOS 17.5; iPhone15,2)";

    fn pages(spec: Option<&PageSpec>) -> Pages {
        let b = SourceTransforms::builtin();
        Pages::new(spec, b.menus.clone(), b.devices.clone()).unwrap()
    }

    fn run(p: &Pages, uri: &str, ua: &str) -> Option<String> {
        let (mut d, mut m, mut u, mut r) = Default::default();
        let mut st = PageState {
            device: &mut d,
            menu: &mut m,
            uri: &mut u,
            referrer: &mut r,
        };
        let mut out = Vec::new();
        page(p, format!("{uri}\n{ua}").as_bytes(), &mut st, &mut out)
            .then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn pages_are_documents_people_ask_for() {
        let p = pages(None);
        for (uri, ua, want) in [
            ("/", CHROME, Some("home")),
            ("/mail/list?folder=inbox", CHROME, Some("mail")),
            ("/app/approval/doc/77", APP, Some("approval")),
            ("/m/mail/list", APP, Some("mail")),
            ("/login?error=bad_password", CHROME, Some("login")),
            ("/health", CHROME, Some("other")),
            ("/board/view.do?id=3", CHROME, Some("board")),
            // API calls, assets, downloads: not pages.
            ("/api/v1/mail/items/4", CHROME, None),
            ("/API/v1/mail", CHROME, None),
            ("/static/js/app.3f.js", CHROME, None),
            ("/favicon.ico", CHROME, None),
            ("/resources/img/logo.png", CHROME, None),
            ("/drive/files/report.PDF", CHROME, None),
            ("/drive/files/plan.hwp?download=1", CHROME, None),
            // Probes, crawlers, scanners: not pages.
            ("/.env", CHROME, None),
            ("/board/../../etc/passwd", CHROME, None),
            (
                "/mail/list",
                "Mozilla/5.0 (compatible; Yeti/1.1; +https://naver.me/spd)",
                None,
            ),
            (
                "/mail/list",
                "sqlmap/1.8.4#stable (https://sqlmap.org)",
                None,
            ),
        ] {
            assert_eq!(run(&p, uri, ua).as_deref(), want, "{uri} {ua}");
        }
        assert!(!p.values().contains(&"static".to_string()));
        assert!(p.values().contains(&"other".to_string()));
    }

    #[test]
    fn options_replace_the_defaults_and_are_checked() {
        let p = pages(Some(&PageSpec {
            exclude: Some(vec!["/rest/".into()]),
            extensions: Some(vec!["js".into()]),
        }));
        assert_eq!(run(&p, "/api/v1/mail", CHROME).as_deref(), Some("mail"));
        assert_eq!(run(&p, "/rest/mail", CHROME), None);
        assert_eq!(run(&p, "/drive/a.pdf", CHROME).as_deref(), Some("drive"));
        let b = SourceTransforms::builtin();
        let bad = |spec: PageSpec| {
            Pages::new(Some(&spec), b.menus.clone(), b.devices.clone())
                .unwrap_err()
                .key
        };
        assert_eq!(
            bad(PageSpec {
                exclude: Some(vec!["/ok/".into(), "api".into()]),
                ..Default::default()
            }),
            "pages.exclude[1]"
        );
        assert_eq!(
            bad(PageSpec {
                extensions: Some(vec![".js".into()]),
                ..Default::default()
            }),
            "pages.extensions[0]"
        );
        // A table without a `static` menu: assets are still left out by their extension.
        let t = [("mail".to_string(), vec!["mail".to_string()])].into();
        let menus = Arc::new(Menus::new(Some(&t), Arc::new(SecurityRules::builtin())).unwrap());
        let p = Pages::new(None, menus, b.devices.clone()).unwrap();
        assert_eq!(run(&p, "/static/app.css", CHROME), None);
        assert_eq!(run(&p, "/static/index", CHROME).as_deref(), Some("other"));
    }

    #[test]
    fn fields_split_at_newlines() {
        assert_eq!(
            split(b"/a\nUA x\nhttps://r/"),
            (&b"/a"[..], &b"UA x"[..], &b"https://r/"[..])
        );
        assert_eq!(split(b"/a\nUA"), (&b"/a"[..], &b"UA"[..], &b""[..]));
        assert_eq!(split(b"/a"), (&b"/a"[..], &b""[..], &b""[..]));
        assert_eq!(split(b"/a\n\n-"), (&b"/a"[..], &b""[..], &b"-"[..]));
    }
}
