//! `transform: device`, `person`, `platform`, `app` and `app_version`: user agent → device class
//! (`mobile_app | mobile_web | desktop | bot | other`; `person` gives no value for bots and
//! scanners), the platform it runs on (`android | ios | windows | macos | linux | other`), and
//! for agents of known apps the app's name and its version (`DaouOffice/3.5.1` → `3.5.1`, or
//! `3.5` with `versions: major_minor`).
//!
//! An ordered list of rules decides: the source's `device_rules`, then the built-in ones
//! ([`DEFAULT_RULES`]); the first rule that matches wins. The rules' regexes run as one
//! `RegexSet`, once per distinct user agent (the memo in [`DeviceState`] answers repeats), so the
//! per-line cost is one hash lookup or a byte comparison with the previous line's agent.

use std::sync::Arc;

use memchr::memmem;
use regex::bytes::{Regex, RegexSet};
use serde::Deserialize;

use super::memo::Memo;
use super::TransformError;

/// Every class [`DeviceClassifier`] returns, in [`DeviceClass`] order.
pub const DEVICE_CLASSES: &[&str] = &["mobile_app", "mobile_web", "desktop", "bot", "other"];

/// Every platform [`DeviceInfo::platform`] returns, in [`Platform`] order.
pub const PLATFORMS: &[&str] = &["android", "ios", "windows", "macos", "linux", "other"];

/// Most distinct versions of one app kept by default; later ones count as `other`.
pub const DEFAULT_MAX_VERSIONS: usize = 30;

/// Longest version label: four numbers of up to five digits.
const VERSION_LEN: usize = 23;

/// Most `device_rules` in a source.
pub const MAX_RULES: usize = 200;

/// Version label of an app rule whose regex gave no version.
const UNKNOWN_VERSION: &[u8] = b"unknown";
/// Version label past an app's `max_versions`, or for a version that is not `1`, `1.2`, …
/// (at most four numbers of 1–5 digits).
const OTHER_VERSION: &[u8] = b"other";

/// A device class (a `device_rules` entry's `class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// A native app, or a page inside an app's WebView.
    MobileApp,
    /// A browser on a phone or tablet, including in-app browsers of other apps.
    MobileWeb,
    /// A desktop browser.
    Desktop,
    /// Crawlers, link previewers, scripts, monitors and scanners.
    Bot,
    /// Anything else.
    #[default]
    Other,
}

/// How much of an app's version is kept (a `device_rules` entry's `versions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum VersionFormat {
    /// The version as the agent gives it, up to four numbers: `3.5.1`.
    #[default]
    Full,
    /// Major and minor: `3.5.1` → `3.5`.
    MajorMinor,
}

/// One `device_rules` entry as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceRuleSpec {
    /// Regex on the user agent (unanchored); a group named `version` gives the app version.
    pub regex: Option<String>,
    /// Substrings that must all be in the user agent (case-sensitive).
    #[serde(default)]
    pub contains: Vec<String>,
    /// The class of matching agents.
    pub class: DeviceClass,
    /// A known app's name: matching agents are counted in `http_app_requests_total`.
    pub app: Option<String>,
    /// Most distinct versions of this app kept (default 30); later ones count as `other`.
    pub max_versions: Option<usize>,
    /// How much of the version is kept: `full` (default) or `major_minor`.
    pub versions: Option<VersionFormat>,
}

/// The built-in rules, after the source's own, first match wins:
/// (regex, class, app).
pub const DEFAULT_RULES: &[(&str, DeviceClass, Option<&str>)] = &[
    // Scanners announce themselves; they are bots here and `scanner_probe` security events.
    (
        r"(?i)sqlmap|nikto|nuclei|zgrab|masscan|nmap|acunetix|netsparker|wpscan|dirbuster|gobuster|ffuf|feroxbuster|openvas|nessus",
        DeviceClass::Bot,
        None,
    ),
    // Korean portals' crawlers and link previewers: Naver (Yeti), Daum (Daumoa), Kakao.
    (
        r"Yeti/|Daumoa|Daum/\d|kakaotalk-scrap|Kakaotalk-scrap|Kakaobot|NaverBot",
        DeviceClass::Bot,
        None,
    ),
    (
        r"(?i)bot[/\-;)+_]|bot$|crawl|spider|slurp|facebookexternalhit|^curl/|^wget|python-requests|python-urllib|aiohttp|go-http-client|^java/|libwww|apache-httpclient|headlesschrome|phantomjs|prometheus|kube-probe|elb-healthchecker|pingdom|uptimerobot|statuscake|site24x7",
        DeviceClass::Bot,
        None,
    ),
    // The groupware's own app (native or WebView with the app's token).
    (
        r"DaouOffice/(?P<version>[0-9]+(?:\.[0-9]+)*)",
        DeviceClass::MobileApp,
        Some("daouoffice"),
    ),
    // In-app browsers of other apps (KakaoTalk, Naver, Daum, Band, Line, Instagram, Facebook):
    // a web page on a phone, whatever WebView hosts it.
    (r"KAKAOTALK", DeviceClass::MobileWeb, Some("kakaotalk")),
    (r"NAVER\(inapp", DeviceClass::MobileWeb, Some("naver")),
    (r"DaumApps/", DeviceClass::MobileWeb, Some("daum")),
    (r"BAND/", DeviceClass::MobileWeb, Some("band")),
    (r" Line/", DeviceClass::MobileWeb, Some("line")),
    (r"Instagram ", DeviceClass::MobileWeb, Some("instagram")),
    (r"FBAN/|FBAV/", DeviceClass::MobileWeb, Some("facebook")),
    // Native HTTP stacks, `App/1.2 (iOS 17.5; …)`, and any other Android WebView (`; wv)`).
    (
        r"CFNetwork/|Dalvik/|okhttp/|^[A-Za-z][\w.\-]*/[\w.\-]+ \((?:iOS|iPadOS|Android)[ ;]|; wv\)",
        DeviceClass::MobileApp,
        None,
    ),
    (
        r"^(?:Mozilla|Opera)/.*(?:Mobile|Android|iPhone|iPad|iPod|Windows Phone|Opera Mini)",
        DeviceClass::MobileWeb,
        None,
    ),
    (
        r"^(?:Mozilla|Opera)/.*(?:Windows NT|Macintosh|X11|Linux|CrOS)",
        DeviceClass::Desktop,
        None,
    ),
];

struct Rule {
    class: DeviceClass,
    /// Index in the set, when the rule has a regex.
    regex: Option<usize>,
    contains: Vec<memmem::Finder<'static>>,
    /// Index into `apps`.
    app: Option<u16>,
    /// The rule's regex again, for its `version` group (only run for the winning rule).
    version: Option<Regex>,
    max_versions: usize,
    format: VersionFormat,
}

/// User agent → class, app and version, with the rules compiled once.
pub struct DeviceClassifier {
    rules: Vec<Rule>,
    set: RegexSet,
    apps: Vec<Box<str>>,
}

impl std::fmt::Debug for DeviceClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceClassifier({} rules)", self.rules.len())
    }
}

/// What a user agent is: a class, and for agents of a known app, the app and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    class: DeviceClass,
    /// An agent that says what it is (not empty or `-`): scripts send none.
    named: bool,
    platform: Platform,
    app: Option<u16>,
    version: Version,
}

/// The platform an agent runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Android,
    Ios,
    Windows,
    Macos,
    Linux,
    Other,
}

/// The platform named by a user agent: Android before Linux (Android agents say both), iOS
/// before macOS (iPhone agents say "like Mac OS X"); native HTTP stacks by their library
/// (`okhttp`, `Dalvik`: Android; `CFNetwork`, `Darwin`: iOS, where apps that use them mostly
/// are).
fn platform(ua: &[u8]) -> Platform {
    let has = |s: &[u8]| memmem::find(ua, s).is_some();
    if has(b"Android") || has(b"Dalvik/") || ua.starts_with(b"okhttp/") {
        Platform::Android
    } else if has(b"iPhone")
        || has(b"iPad")
        || has(b"iPod")
        || has(b"iOS")
        || has(b"CFNetwork/")
        || has(b"Darwin/")
    {
        Platform::Ios
    } else if has(b"Windows") {
        Platform::Windows
    } else if has(b"Macintosh") || has(b"Mac OS X") {
        Platform::Macos
    } else if has(b"Linux") || has(b"X11") || has(b"CrOS") {
        Platform::Linux
    } else {
        Platform::Other
    }
}

/// A short version label kept inline (`3.5.1`, `other`, `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u8,
    bytes: [u8; VERSION_LEN],
}

impl Version {
    fn new(s: &[u8]) -> Version {
        let mut v = Version {
            len: s.len().min(VERSION_LEN) as u8,
            bytes: [0; VERSION_LEN],
        };
        v.bytes[..v.len as usize].copy_from_slice(&s[..v.len as usize]);
        v
    }
    fn get(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// The version label of `v` in `format`: `full` keeps up to four numbers of 1–5 digits
/// (`3.5.1`, `12.0.3.1024`), `major_minor` the first two (`3.5`); anything else → `None`.
fn version_label(v: &[u8], format: VersionFormat) -> Option<&[u8]> {
    let keep = match format {
        VersionFormat::Full => 4,
        VersionFormat::MajorMinor => 2,
    };
    let mut end = 0;
    for (n, p) in v.split(|b| *b == b'.').enumerate() {
        if n == keep {
            // A fifth number is not a version this knows; past the minor, the rest is dropped.
            return (format == VersionFormat::MajorMinor).then_some(&v[..end]);
        }
        if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        end = if n == 0 { p.len() } else { end + 1 + p.len() };
    }
    Some(&v[..end])
}

/// A label value made of safe characters only (app names are label values and config text).
pub(super) fn valid_name(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl DeviceClassifier {
    /// Compile `user` rules followed by [`DEFAULT_RULES`]. Errors name the rule
    /// (`device_rules[2].regex`).
    pub fn new(user: &[DeviceRuleSpec]) -> Result<DeviceClassifier, TransformError> {
        if user.len() > MAX_RULES {
            return Err(TransformError {
                key: "device_rules".into(),
                message: format!("{} rules; at most {MAX_RULES} are supported", user.len()),
            });
        }
        let mut patterns = Vec::new();
        let mut rules = Vec::new();
        let mut apps: Vec<Box<str>> = Vec::new();
        let mut app_index = |name: &str| -> u16 {
            match apps.iter().position(|a| &**a == name) {
                Some(i) => i as u16,
                None => {
                    apps.push(name.into());
                    (apps.len() - 1) as u16
                }
            }
        };
        for (i, r) in user.iter().enumerate() {
            let err = |k: &str, message: String| TransformError {
                key: format!("device_rules[{i}]{k}"),
                message,
            };
            let class = r.class;
            if r.regex.is_none() && r.contains.is_empty() {
                return Err(err("", "a rule needs `regex` or `contains`".into()));
            }
            if r.contains.iter().any(String::is_empty) {
                return Err(err(".contains", "empty substring".into()));
            }
            let mut version = None;
            if let Some(re) = &r.regex {
                let compiled =
                    Regex::new(re).map_err(|e| err(".regex", format!("invalid regex: {e}")))?;
                if compiled.capture_names().flatten().any(|n| n == "version") {
                    if r.app.is_none() {
                        return Err(err(
                            ".regex",
                            "a `version` group is only used with `app`".into(),
                        ));
                    }
                    version = Some(compiled);
                }
                patterns.push(re.clone());
            }
            if let Some(a) = &r.app {
                if !valid_name(a) {
                    return Err(err(
                        ".app",
                        format!("{a:?}: 1 to 40 letters, digits, '_', '-' or '.'"),
                    ));
                }
            }
            if r.max_versions.is_some() && r.app.is_none() {
                return Err(err(".max_versions", "only app rules have versions".into()));
            }
            if r.versions.is_some() && r.app.is_none() {
                return Err(err(".versions", "only app rules have versions".into()));
            }
            let max_versions = r.max_versions.unwrap_or(DEFAULT_MAX_VERSIONS);
            if max_versions > 1000 {
                return Err(err(".max_versions", "at most 1000".into()));
            }
            rules.push(Rule {
                class,
                regex: r.regex.as_ref().map(|_| patterns.len() - 1),
                contains: r
                    .contains
                    .iter()
                    .map(|c| memmem::Finder::new(c.as_bytes()).into_owned())
                    .collect(),
                app: r.app.as_deref().map(&mut app_index),
                version,
                max_versions,
                format: r.versions.unwrap_or_default(),
            });
        }
        for (re, class, app) in DEFAULT_RULES {
            patterns.push(re.to_string());
            let compiled = Regex::new(re).expect("built-in device rule");
            let version = compiled
                .capture_names()
                .flatten()
                .any(|n| n == "version")
                .then_some(compiled);
            rules.push(Rule {
                class: *class,
                regex: Some(patterns.len() - 1),
                contains: Vec::new(),
                app: app.map(&mut app_index),
                version,
                max_versions: DEFAULT_MAX_VERSIONS,
                format: VersionFormat::Full,
            });
        }
        let set = RegexSet::new(&patterns).map_err(|e| TransformError {
            key: "device_rules".into(),
            message: format!("the rules do not compile together: {e}"),
        })?;
        Ok(DeviceClassifier { rules, set, apps })
    }

    /// The built-in rules only.
    pub fn builtin() -> DeviceClassifier {
        DeviceClassifier::new(&[]).expect("built-in device rules compile")
    }

    /// App names, in rule order.
    pub fn apps(&self) -> &[Box<str>] {
        &self.apps
    }

    /// Most distinct app versions: `max_versions` of each rule with a `version` group, plus
    /// `other` and `unknown`.
    pub fn version_count(&self) -> usize {
        self.rules
            .iter()
            .filter(|r| r.version.is_some())
            .map(|r| r.max_versions)
            .sum::<usize>()
            + 2
    }

    /// Classify `ua`; `state` holds the versions admitted so far per rule.
    fn classify(&self, ua: &[u8], admitted: &mut Vec<Vec<Version>>) -> DeviceInfo {
        let mut info = DeviceInfo {
            class: DeviceClass::Other,
            named: false,
            platform: Platform::Other,
            app: None,
            version: Version::new(b""),
        };
        if ua.is_empty() || ua == b"-" {
            return info;
        }
        info.named = true;
        info.platform = platform(ua);
        let hits = self.set.matches(ua);
        let Some((i, rule)) = self.rules.iter().enumerate().find(|(_, r)| {
            r.regex.is_none_or(|x| hits.matched(x))
                && r.contains.iter().all(|f| f.find(ua).is_some())
        }) else {
            return info;
        };
        info.class = rule.class;
        info.app = rule.app;
        if rule.app.is_some() {
            let raw = rule
                .version
                .as_ref()
                .and_then(|re| re.captures(ua))
                .and_then(|c| c.name("version"))
                .map(|m| m.as_bytes());
            info.version = match raw {
                None => Version::new(UNKNOWN_VERSION),
                Some(raw) => match version_label(raw, rule.format) {
                    None => Version::new(OTHER_VERSION),
                    Some(v) => {
                        if admitted.len() <= i {
                            admitted.resize(i + 1, Vec::new());
                        }
                        let seen = &mut admitted[i];
                        let v = Version::new(v);
                        if seen.contains(&v) {
                            v
                        } else if seen.len() < rule.max_versions {
                            seen.push(v);
                            v
                        } else {
                            Version::new(OTHER_VERSION)
                        }
                    }
                },
            };
        }
        info
    }
}

/// Per-source state: the memo of classified agents, and the app versions admitted so far
/// (the first `max_versions` distinct ones of each app rule keep their value).
#[derive(Debug, Default)]
pub struct DeviceState {
    memo: Memo<DeviceInfo>,
    admitted: Vec<Vec<Version>>,
}

impl DeviceState {
    /// `classifier`'s answer for `ua`, remembered.
    #[inline]
    pub fn info(&mut self, classifier: &Arc<DeviceClassifier>, ua: &[u8]) -> DeviceInfo {
        let admitted = &mut self.admitted;
        self.memo.get(Arc::as_ptr(classifier) as usize, ua, || {
            classifier.classify(ua, admitted)
        })
    }
}

impl DeviceInfo {
    /// The class label.
    pub fn class(&self) -> &'static [u8] {
        DEVICE_CLASSES[self.class as usize].as_bytes()
    }

    /// The class label of a person's agent; `None` for bots, scanners and agents that send no
    /// user agent (empty or `-`: scripts, probes, TLS on the plain port).
    pub fn person(&self) -> Option<&'static [u8]> {
        (self.class != DeviceClass::Bot && self.named).then(|| self.class())
    }

    /// The platform label.
    pub fn platform(&self) -> &'static [u8] {
        PLATFORMS[self.platform as usize].as_bytes()
    }

    /// The app label, for agents of a known app.
    pub fn app<'a>(&self, c: &'a DeviceClassifier) -> Option<&'a [u8]> {
        self.app.map(|i| c.apps[i as usize].as_bytes())
    }

    /// The app version label, for agents of a known app.
    pub fn version(&self) -> Option<&[u8]> {
        self.app.map(|_| self.version.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(d: &Arc<DeviceClassifier>, ua: &str) -> (String, Option<String>, Option<String>) {
        let mut st = DeviceState::default();
        let i = st.info(d, ua.as_bytes());
        let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        (s(i.class()), i.app(d).map(s), i.version().map(s))
    }

    fn platform_of(d: &Arc<DeviceClassifier>, ua: &str) -> String {
        let i = DeviceState::default().info(d, ua.as_bytes());
        String::from_utf8(i.platform().to_vec()).unwrap()
    }

    fn class(d: &Arc<DeviceClassifier>, ua: &str) -> String {
        c(d, ua).0
    }

    #[test]
    fn devices_of_this_market() {
        let d = Arc::new(DeviceClassifier::builtin());
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36", "desktop"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Whale/3.28.266.14 Safari/537.36", "desktop"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15", "desktop"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "mobile_web"),
            ("Mozilla/5.0 (Linux; Android 14; SM-S928N) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36", "mobile_web"),
            ("Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", "mobile_web"),
            ("Mozilla/5.0 (Linux; Android 13; SM-S918N Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36;KAKAOTALK 2410430", "mobile_web"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 NAVER(inapp; search; 2000; 12.5.1; 15PRO)", "mobile_web"),
            ("Mozilla/5.0 (Linux; Android 14; SM-S928N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 DaouOffice/3.5.1", "mobile_app"),
            ("Mozilla/5.0 (Linux; Android 12; SM-G991N Build/SP1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/110.0 Mobile Safari/537.36", "mobile_app"),
            ("GroupwareApp/4.2.1 (iOS 17.5; iPhone15,2)", "mobile_app"),
            ("GroupwareApp/4.2.0 (Android 14; SM-S928N)", "mobile_app"),
            ("MyApp/1.0 CFNetwork/1490.0.4 Darwin/23.2.0", "mobile_app"),
            ("okhttp/4.12.0", "mobile_app"),
            ("Mozilla/5.0 (compatible; Yeti/1.1; +https://naver.me/spd)", "bot"),
            ("Mozilla/5.0 (compatible; Daum/4.1; +http://cs.daum.net/faq/15/4118.html?faqId=28966)", "bot"),
            ("facebookexternalhit/1.1; kakaotalk-scrap/1.0; +https://devtalk.kakao.com/t/scrap/33984", "bot"),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
            ("sqlmap/1.8.4#stable (https://sqlmap.org)", "bot"),
            ("Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)", "bot"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36 Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", "bot"),
            ("Mozilla/5.0 zgrab/0.x", "bot"),
            ("masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "bot"),
            ("curl/8.5.0", "bot"),
            ("python-requests/2.32.3", "bot"),
            ("-", "other"),
            ("", "other"),
            ("\u{fffd}\u{0}junk", "other"),
        ];
        for (ua, want) in cases {
            assert_eq!(class(&d, ua), want, "{ua}");
        }
        let app = c(&d, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 DaouOffice/3.5.1");
        assert_eq!(
            app,
            (
                "mobile_app".into(),
                Some("daouoffice".into()),
                Some("3.5.1".into())
            )
        );
        let inapp = c(&d, "Mozilla/5.0 (Linux; Android 13; wv) Chrome/116.0 Mobile Safari/537.36;KAKAOTALK 2410430");
        assert_eq!(inapp.1.as_deref(), Some("kakaotalk"));
        assert_eq!(inapp.2.as_deref(), Some("unknown"));
        assert_eq!(c(&d, "curl/8.5.0").1, None);
    }

    /// Issue 20: `3.5` hid Android 3.5.0, and `3.4` mixed Android 3.4.9 with iOS 3.4.8.
    #[test]
    fn app_versions_are_full_with_their_platform() {
        let d = Arc::new(DeviceClassifier::builtin());
        let cases = [
            ("Mozilla/5.0 (Linux; Android 14; SM-S928N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36 DaouOffice/3.5.0", "android", "3.5.0"),
            ("Mozilla/5.0 (Linux; Android 12; SM-G991N; wv) AppleWebKit/537.36 Mobile Safari/537.36 DaouOffice/3.4.9", "android", "3.4.9"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 DaouOffice/3.4.8", "ios", "3.4.8"),
            ("DaouOffice/3.5.3 (iOS 17.5; iPhone15,2)", "ios", "3.5.3"),
            ("DaouOffice/3.6.0.1024 (iPadOS 17.5; iPad13,1)", "ios", "3.6.0.1024"),
            ("DaouOffice/3.6.0.1.2 (Android 14)", "android", "other"),
            ("DaouOffice/123456.1 (Android 14)", "android", "other"),
        ];
        for (ua, platform, version) in cases {
            assert_eq!(c(&d, ua).2.as_deref(), Some(version), "{ua}");
            assert_eq!(platform_of(&d, ua), platform, "{ua}");
        }
        for (ua, platform) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0",
                "windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
                "macos",
            ),
            ("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "linux"),
            ("okhttp/4.12.0", "android"),
            ("MyApp/1.0 CFNetwork/1490.0.4 Darwin/23.2.0", "ios"),
            ("curl/8.5.0", "other"),
            ("-", "other"),
        ] {
            assert_eq!(platform_of(&d, ua), platform, "{ua}");
        }
        // A person is anything but a bot or a scanner.
        let person = |ua: &str| DeviceState::default().info(&d, ua.as_bytes()).person();
        assert_eq!(person("curl/8.5.0"), None);
        assert_eq!(
            person("Mozilla/5.0 (compatible; Yeti/1.1; +https://naver.me/spd)"),
            None
        );
        assert_eq!(person("sqlmap/1.8.4#stable (https://sqlmap.org)"), None);
        assert_eq!(person("-"), None);
        assert_eq!(person(""), None);
        assert_eq!(person("SomeSyncTool/2.0"), Some(&b"other"[..]));
        assert_eq!(person("okhttp/4.12.0"), Some(&b"mobile_app"[..]));
    }

    #[test]
    fn user_rules_come_first_and_versions_are_bounded() {
        let rules = vec![
            DeviceRuleSpec {
                regex: Some(r"GroupwareApp/(?P<version>[\d.]+)".into()),
                class: DeviceClass::MobileApp,
                app: Some("gw".into()),
                max_versions: Some(2),
                versions: Some(VersionFormat::MajorMinor),
                ..Default::default()
            },
            DeviceRuleSpec {
                contains: vec!["Yeti/".into()],
                class: DeviceClass::Other,
                ..Default::default()
            },
        ];
        let d = Arc::new(DeviceClassifier::new(&rules).unwrap());
        assert_eq!(class(&d, "Mozilla/5.0 (compatible; Yeti/1.1)"), "other");
        let mut st = DeviceState::default();
        let mut v = |ua: &str| {
            let i = st.info(&d, ua.as_bytes());
            String::from_utf8(i.version().unwrap().to_vec()).unwrap()
        };
        assert_eq!(v("GroupwareApp/4.2.1 (iOS 17.5)"), "4.2");
        assert_eq!(v("GroupwareApp/4.3 (iOS 17.5)"), "4.3");
        assert_eq!(v("GroupwareApp/4.2.0 (Android 14)"), "4.2");
        assert_eq!(
            v("GroupwareApp/9.9 (iOS 17.5)"),
            "other",
            "past max_versions"
        );
        assert_eq!(v("GroupwareApp/123456.1 (iOS)"), "other", "not a version");
        assert_eq!(
            d.version_count(),
            2 + DEFAULT_MAX_VERSIONS + 2,
            "gw and daouoffice"
        );
        assert_eq!(d.apps()[0].as_ref(), "gw");
    }

    #[test]
    fn bad_rules_name_their_key() {
        let bad = |r: DeviceRuleSpec| DeviceClassifier::new(&[r]).unwrap_err().key;
        assert_eq!(
            bad(DeviceRuleSpec {
                regex: Some("(".into()),
                class: DeviceClass::Bot,
                ..Default::default()
            }),
            "device_rules[0].regex"
        );
        assert_eq!(
            bad(DeviceRuleSpec {
                class: DeviceClass::Bot,
                ..Default::default()
            }),
            "device_rules[0]"
        );
        assert_eq!(
            bad(DeviceRuleSpec {
                contains: vec!["x".into()],
                class: DeviceClass::Bot,
                app: Some("bad app".into()),
                ..Default::default()
            }),
            "device_rules[0].app"
        );
        assert_eq!(
            bad(DeviceRuleSpec {
                regex: Some("A/(?P<version>.*)".into()),
                class: DeviceClass::Bot,
                ..Default::default()
            }),
            "device_rules[0].regex"
        );
        assert_eq!(
            bad(DeviceRuleSpec {
                contains: vec!["x".into()],
                class: DeviceClass::Bot,
                versions: Some(VersionFormat::Full),
                ..Default::default()
            }),
            "device_rules[0].versions"
        );
    }

    #[test]
    fn remembered_answers_are_the_answers() {
        let d = Arc::new(DeviceClassifier::builtin());
        let mut st = DeviceState::default();
        let uas: Vec<Vec<u8>> = (0..3000)
            .map(|i| match i % 4 {
                0 => format!("Mozilla/5.0 (iPhone; CPU iPhone OS {i}) Mobile").into_bytes(),
                1 => b"curl/8.5.0".to_vec(),
                2 => format!("App/{i} (Android 14)").into_bytes(),
                _ => vec![b'x'; 600 + i % 7],
            })
            .collect();
        for _ in 0..2 {
            for ua in &uas {
                let fresh = d.classify(ua, &mut Vec::new());
                assert_eq!(st.info(&d, ua), fresh);
            }
        }
    }
}
