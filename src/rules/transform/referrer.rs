//! `transform: referrer`: a `Referer` header → a bounded label: `direct` (empty or `-`),
//! `internal` (the service's own domains, and every host `tenant_map` resolves to a tenant), a
//! search engine or portal folded to its name (`search.naver.com`, `m.search.naver.com`,
//! `blog.naver.com` → `naver`), an app (`android-app://com.google.android.googlequicksearchbox/`
//! → `google`, `android-app://com.kakao.talk/` → `kakaotalk`, any other app → `app`), the
//! registrable domain of any other site (`www.example.co.kr` → `example.co.kr`) for the first
//! `max_sites` distinct sites seen, and `other` for the rest and for what is not a URL.
//! (`page_referrer_kind` folds every site into `site`.)
//!
//! The registrable domain comes from a small built-in table of two-label public suffixes
//! (`co.kr`, `or.kr`, `co.jp`, `co.uk`, `com.au`, …; no network, no public-suffix file): right
//! for `.com`, `.net`, `.kr`, `.co.kr` and their peers, approximate for rarer suffixes. The
//! first sites are admitted per source and process, so the label has at most
//! `ENGINES + APPS + 3 + max_sites` values whatever the input.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;

use super::tenant::TenantMap;
use super::TransformError;

/// Sites kept by default.
pub const DEFAULT_MAX_SITES: usize = 30;
/// Most sites a config may keep.
pub const MAX_SITES: usize = 1000;

/// `referrers:` options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReferrerSpec {
    /// The service's own domains (each with its subdomains): referrals from them are `internal`.
    #[serde(default)]
    pub internal_domains: Vec<String>,
    /// Most distinct other sites with a value of their own (default 30); later ones are `other`.
    pub max_sites: Option<usize>,
}

/// Search engines and portals folded to one name: the registrable domain's first label.
pub const ENGINES: &[&str] = &[
    "naver",
    "daum",
    "google",
    "bing",
    "yahoo",
    "nate",
    "zum",
    "baidu",
    "yandex",
    "duckduckgo",
    "ecosia",
];

/// Fixed values besides the engines and apps.
pub const FIXED: &[&str] = &["direct", "internal", "other"];

/// The value of every site for `page_referrer_kind`.
pub const SITE: &str = "site";

/// Android apps, by package (`android-app://<package>/…`, what Chrome sends for a link opened
/// from an app): the portals' apps fold into their engine, the others have a name of their own.
const APP_PACKAGES: &[(&str, &str)] = &[
    ("com.google.android.googlequicksearchbox", "google"),
    ("com.google.android.apps.searchlite", "google"),
    ("com.nhn.android.search", "naver"),
    ("net.daum.android.daum", "daum"),
    ("com.google.android.gm", "gmail"),
    ("com.kakao.talk", "kakaotalk"),
    ("com.nhn.android.band", "band"),
    ("jp.naver.line.android", "line"),
    ("com.facebook.katana", "facebook"),
    ("com.facebook.orca", "facebook"),
    ("com.instagram.android", "instagram"),
    ("com.slack", "slack"),
    ("com.microsoft.teams", "teams"),
    ("org.telegram.messenger", "telegram"),
];

/// Apps' own URL schemes (`naversearchapp://…`): scheme → name.
const APP_SCHEMES: &[(&str, &str)] = &[
    ("naversearchapp", "naver"),
    ("navercafe", "naver"),
    ("daumapps", "daum"),
    ("kakaotalk", "kakaotalk"),
    ("kakaolink", "kakaotalk"),
    ("bandapp", "band"),
    ("googlegmail", "gmail"),
    ("fb", "facebook"),
    ("instagram", "instagram"),
    ("slack", "slack"),
    ("msteams", "teams"),
    ("tg", "telegram"),
];

/// Values of apps that are not engines; `app` is any other app.
pub const APPS: &[&str] = &[
    "gmail",
    "kakaotalk",
    "band",
    "line",
    "facebook",
    "instagram",
    "slack",
    "teams",
    "telegram",
    "app",
];

/// Second-level labels under which registrations happen one level down
/// (`example.co.kr`, `example.com.au`).
const SECOND_LEVEL: &[&str] = &[
    // Korea
    "co.kr",
    "or.kr",
    "go.kr",
    "ac.kr",
    "ne.kr",
    "re.kr",
    "pe.kr",
    "mil.kr",
    "hs.kr",
    "ms.kr",
    "es.kr",
    "sc.kr",
    "kg.kr",
    "seoul.kr",
    "busan.kr",
    "daegu.kr",
    "incheon.kr",
    "gwangju.kr",
    "daejeon.kr",
    "ulsan.kr",
    "gyeonggi.kr",
    "gangwon.kr",
    "chungbuk.kr",
    "chungnam.kr",
    "jeonbuk.kr",
    "jeonnam.kr",
    "gyeongbuk.kr",
    "gyeongnam.kr",
    "jeju.kr",
    // Elsewhere
    "co.jp",
    "ne.jp",
    "or.jp",
    "ac.jp",
    "go.jp",
    "co.uk",
    "org.uk",
    "ac.uk",
    "gov.uk",
    "com.au",
    "net.au",
    "org.au",
    "com.cn",
    "net.cn",
    "org.cn",
    "com.tw",
    "com.hk",
    "com.sg",
    "co.in",
    "com.br",
    "co.nz",
    "com.vn",
    "co.th",
    "co.id",
    "com.my",
    "com.ph",
];

/// Compiled `referrers:` options.
#[derive(Debug)]
pub struct Referrers {
    internal: Vec<Box<[u8]>>,
    max_sites: usize,
    /// Hosts of tenants (`tenant_map`): internal too.
    tenants: Option<Arc<TenantMap>>,
}

impl Referrers {
    /// Check and compile; errors name the key (`referrers.internal_domains[0]`). Hosts that
    /// `tenants` resolves are internal.
    pub fn new(
        spec: Option<&ReferrerSpec>,
        tenants: Option<Arc<TenantMap>>,
    ) -> Result<Referrers, TransformError> {
        let spec = spec.cloned().unwrap_or_default();
        let max_sites = spec.max_sites.unwrap_or(DEFAULT_MAX_SITES);
        if max_sites > MAX_SITES {
            return Err(TransformError {
                key: "referrers.max_sites".into(),
                message: format!("at most {MAX_SITES}"),
            });
        }
        let mut internal = Vec::new();
        for (i, d) in spec.internal_domains.iter().enumerate() {
            let d = d.strip_prefix("*.").unwrap_or(d).to_ascii_lowercase();
            let ok = d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !ok {
                return Err(TransformError {
                    key: format!("referrers.internal_domains[{i}]"),
                    message: format!(
                        "{:?} is not a domain name (e.g. office.example.com or *.office.example.com)",
                        spec.internal_domains[i]
                    ),
                });
            }
            internal.push(d.into_bytes().into());
        }
        Ok(Referrers {
            internal,
            max_sites,
            tenants,
        })
    }

    /// Most values the label can take.
    pub fn cardinality(&self) -> usize {
        ENGINES.len() + APPS.len() + FIXED.len() + self.max_sites
    }

    /// Values `page_referrer_kind` can take: sites folded into `site`.
    pub fn kind_values() -> Vec<String> {
        ENGINES
            .iter()
            .chain(APPS)
            .chain(FIXED)
            .chain([&SITE])
            .map(|s| s.to_string())
            .collect()
    }

    /// The app named by a referer that is not an http(s) URL: `android-app://<package>/…` or an
    /// app's scheme.
    fn app(v: &[u8]) -> Option<&'static str> {
        let colon = memchr::memchr(b':', v)?;
        let scheme = &v[..colon];
        if scheme.eq_ignore_ascii_case(b"android-app") {
            let rest = v[colon + 1..].strip_prefix(b"//").unwrap_or_default();
            let end = memchr::memchr2(b'/', b'?', rest).unwrap_or(rest.len());
            let package = &rest[..end];
            let known = APP_PACKAGES
                .iter()
                .find(|(p, _)| package.eq_ignore_ascii_case(p.as_bytes()));
            return Some(known.map_or("app", |(_, name)| name));
        }
        if scheme.eq_ignore_ascii_case(b"ios-app") {
            return Some("app");
        }
        APP_SCHEMES
            .iter()
            .find(|(s, _)| scheme.eq_ignore_ascii_case(s.as_bytes()))
            .map(|(_, name)| *name)
    }

    fn classify<'a>(&self, v: &[u8], host_buf: &'a mut [u8; 256]) -> Class<'a> {
        if v.is_empty() || v == b"-" {
            return Class::Fixed("direct");
        }
        let rest = [&b"https://"[..], b"http://"].iter().find_map(|s| {
            (v.len() > s.len() && v[..s.len()].eq_ignore_ascii_case(s)).then(|| &v[s.len()..])
        });
        let Some(rest) = rest else {
            return Class::Fixed(Referrers::app(v).unwrap_or("other"));
        };
        let end = memchr::memchr3(b'/', b'?', b'#', rest).unwrap_or(rest.len());
        let mut host = &rest[..end];
        if let Some(at) = memchr::memrchr(b'@', host) {
            host = &host[at + 1..];
        }
        if host.first() == Some(&b'[') {
            return Class::Fixed("other");
        }
        if let Some(colon) = memchr::memchr(b':', host) {
            host = &host[..colon];
        }
        while host.last() == Some(&b'.') {
            host = &host[..host.len() - 1];
        }
        if host.is_empty() || host.len() > 253 {
            return Class::Fixed("other");
        }
        let buf = &mut host_buf[..host.len()];
        for (d, s) in buf.iter_mut().zip(host) {
            *d = s.to_ascii_lowercase();
        }
        let host: &[u8] = buf;
        if !host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            || host.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        {
            return Class::Fixed("other");
        }
        let internal = self.internal.iter().any(|d| {
            host == &**d
                || (host.len() > d.len()
                    && host.ends_with(d)
                    && host[host.len() - d.len() - 1] == b'.')
        }) || self
            .tenants
            .as_ref()
            .is_some_and(|t| t.is_tenant_host(host));
        if internal {
            return Class::Fixed("internal");
        }
        let Some(site) = registrable(host) else {
            return Class::Fixed("other");
        };
        let name = &site[..memchr::memchr(b'.', site).unwrap_or(site.len())];
        if let Some(e) = ENGINES.iter().find(|e| e.as_bytes() == name) {
            return Class::Fixed(e);
        }
        Class::Site(site)
    }
}

enum Class<'a> {
    Fixed(&'static str),
    Site(&'a [u8]),
}

/// `m.search.naver.com` → `naver.com`, `www.example.co.kr` → `example.co.kr`; `None` for a
/// single label.
fn registrable(host: &[u8]) -> Option<&[u8]> {
    let mut dots = memchr::memrchr_iter(b'.', host);
    dots.next()?;
    let two_start = dots.next().map_or(0, |d| d + 1);
    let two = &host[two_start..];
    if SECOND_LEVEL.iter().any(|s| s.as_bytes() == two) {
        if two_start == 0 {
            return None;
        }
        return Some(&host[dots.next().map_or(0, |d| d + 1)..]);
    }
    Some(two)
}

/// Per-source state: the sites admitted so far.
#[derive(Debug, Default)]
pub struct ReferrerState {
    set: usize,
    sites: HashSet<Box<[u8]>, foldhash::fast::RandomState>,
}

/// Write the referrer label of `v` into `out`: a site by its name when `sites` (the first
/// `max_sites` of them), else `site`.
#[inline]
pub fn referrer(
    r: &Arc<Referrers>,
    v: &[u8],
    st: &mut ReferrerState,
    sites: bool,
    out: &mut Vec<u8>,
) {
    let set = Arc::as_ptr(r) as usize;
    if st.set != set {
        st.sites.clear();
        st.set = set;
    }
    let mut buf = [0u8; 256];
    match r.classify(v, &mut buf) {
        Class::Fixed(f) => out.extend_from_slice(f.as_bytes()),
        Class::Site(_) if !sites => out.extend_from_slice(SITE.as_bytes()),
        Class::Site(s) => {
            if st.sites.contains(s) || (st.sites.len() < r.max_sites && st.sites.insert(s.into())) {
                out.extend_from_slice(s);
            } else {
                out.extend_from_slice(b"other");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &Arc<Referrers>, st: &mut ReferrerState, v: &str) -> String {
        let mut out = Vec::new();
        referrer(r, v.as_bytes(), st, true, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn referrers_fold_to_a_bounded_set() {
        let r = Arc::new(
            Referrers::new(
                Some(&ReferrerSpec {
                    internal_domains: vec!["*.office.example.com".into()],
                    max_sites: Some(2),
                }),
                None,
            )
            .unwrap(),
        );
        let mut st = ReferrerState::default();
        for (v, want) in [
            ("-", "direct"),
            ("", "direct"),
            ("https://search.naver.com/search.naver?query=gw", "naver"),
            ("https://m.search.naver.com/search.naver?query=x", "naver"),
            ("https://blog.naver.com/someone/2233", "naver"),
            ("http://cafe.naver.com/x", "naver"),
            ("https://search.daum.net/search?q=x", "daum"),
            ("https://www.google.com/", "google"),
            ("https://www.google.co.kr/url?q=x", "google"),
            ("https://www.bing.com/search?q=x", "bing"),
            ("https://acme.office.example.com/mail/list", "internal"),
            ("https://ACME.Office.Example.com:443/", "internal"),
            ("https://office.example.com/", "internal"),
            ("https://office.example.com.evil.net/", "evil.net"),
            ("https://www.example.co.kr/a", "example.co.kr"),
            ("https://news.example.co.kr/a", "example.co.kr"),
            ("https://third.example.org/", "other"),
            ("android-app://com.google.android.gm/", "gmail"),
            (
                "android-app://com.google.android.googlequicksearchbox/https/www.google.com",
                "google",
            ),
            ("android-app://com.nhn.android.search/", "naver"),
            ("android-app://com.kakao.talk/", "kakaotalk"),
            ("ANDROID-APP://com.kakao.talk", "kakaotalk"),
            ("android-app://org.example.reader/", "app"),
            ("ios-app://123456789/example/path", "app"),
            ("naversearchapp://search?q=x", "naver"),
            ("mailto:someone@example.com", "other"),
            ("https://10.1.2.3/x", "other"),
            ("https://[::1]/x", "other"),
            ("https://localhost/x", "other"),
            ("https://user@www.google.com/", "google"),
            ("https://co.kr/", "other"),
            ("https://exa\u{1b}mple.com/", "other"),
        ] {
            assert_eq!(run(&r, &mut st, v), want, "{v}");
        }
        assert_eq!(st.sites.len(), 2);
        assert_eq!(r.cardinality(), ENGINES.len() + APPS.len() + 3 + 2);
        let mut out = Vec::new();
        referrer(&r, b"https://www.example.co.kr/a", &mut st, false, &mut out);
        assert_eq!(out, b"site");
        let values = Referrers::kind_values();
        for v in [
            "naver",
            "kakaotalk",
            "app",
            "site",
            "direct",
            "internal",
            "other",
        ] {
            assert!(values.iter().any(|x| x == v), "{v}");
        }
    }

    #[test]
    fn bad_options_name_their_key() {
        let e = Referrers::new(
            Some(&ReferrerSpec {
                internal_domains: vec!["ok.example.com".into(), "not a domain".into()],
                max_sites: None,
            }),
            None,
        )
        .unwrap_err();
        assert_eq!(e.key, "referrers.internal_domains[1]");
        let e = Referrers::new(
            Some(&ReferrerSpec {
                max_sites: Some(MAX_SITES + 1),
                ..Default::default()
            }),
            None,
        )
        .unwrap_err();
        assert_eq!(e.key, "referrers.max_sites");
    }
}
