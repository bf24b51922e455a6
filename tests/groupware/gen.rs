//! A deterministic access log of a Korean groupware (nginx `main_ext` format, tenant =
//! first label of `$host`, or a customer's own domain), and what every line is *by
//! construction*: its tenant, menu, device class, app, platform and version, referrer, security
//! kind, and whether it is a page view. Tests compare logpulse's numbers with counts made from
//! these facts, never from logpulse's own code.
//!
//! 1,000 tenants (`acme`, `beta`, `c0002` …, five of them on their own domains, as
//! examples/groupware.yml maps them) with Zipf-like sizes (every tenant gets at least three
//! lines), web and the DaouOffice app (native, Android WebView, iOS WKWebView; full versions),
//! KakaoTalk and Naver in-app browsers, Naver/Daum/Kakao/Google crawlers, referrers from Naver's
//! many hosts, Daum, Google, apps (`android-app://`), news sites and the tenants' own hosts,
//! and scanner noise (probes, traversal, SQL injection, TLS on the plain port, failed logins).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

/// The nginx `log_format` the lines follow.
pub const LOG_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $host"#;

/// The service's domain: tenant `acme` is `acme.office.example.com`.
pub const DOMAIN: &str = "office.example.com";

/// Tenants on their own domains (tenant index, name, host), as examples/groupware.yml's
/// `tenant_map.hosts` has them.
pub const CUSTOM_DOMAINS: &[(usize, &str, &str)] = &[
    (7, "jinsoft", "gw.jinsoft.co.kr"),
    (42, "hanbit", "office.hanbit.kr"),
    (130, "daehan", "gw.daehan.com"),
    (480, "minjung", "groupware.minjung.org"),
    (901, "seoultrade", "gw.seoul-trade.co.kr"),
];

/// Unix seconds → nginx's `$time_local` in UTC (`06/Oct/2026:10:00:00 +0000`).
pub fn nginx_time(unix: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = unix.rem_euclid(86_400);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// splitmix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    /// An index drawn with the given weights.
    pub fn weighted(&mut self, w: &[u32]) -> usize {
        let total: u32 = w.iter().sum();
        let mut x = self.below(total as usize) as u32;
        for (i, &wi) in w.iter().enumerate() {
            if x < wi {
                return i;
            }
            x -= wi;
        }
        w.len() - 1
    }
}

/// Menus of the built-in table, with weights and paths (`{id}`, `{hex}`, `{n}` filled in). A
/// path under `/api/`, a `static` one, or a download (`.pdf`, `.hwp`) is not a page.
const MENUS: &[(&str, u32, &[&str])] = &[
    (
        "mail",
        300,
        &[
            "/mail/list?folder=inbox&page={n}",
            "/api/v1/mail/items/{id}",
            "/mail/read/{id}",
            "/app/mail/compose",
            "/m/mail/list",
        ],
    ),
    (
        "approval",
        150,
        &[
            "/approval/list",
            "/api/v1/approval/docs/{id}",
            "/app/approval/doc/{id}",
            "/approval/sign/{id}",
        ],
    ),
    (
        "calendar",
        100,
        &[
            "/calendar/week",
            "/api/v1/calendar/events",
            "/schedule/day?d={n}",
        ],
    ),
    (
        "board",
        100,
        &[
            "/board/notice/list",
            "/board/free/list?page={n}",
            "/api/v1/board/posts/{id}",
        ],
    ),
    ("home", 80, &["/", "/home", "/portal/widgets"]),
    (
        "static",
        100,
        &[
            "/static/js/app.{hex}.js",
            "/static/css/main.{hex}.css",
            "/favicon.ico",
            "/resources/img/logo.png",
        ],
    ),
    (
        "drive",
        50,
        &[
            "/drive/files/{hex}",
            "/api/v1/drive/folders/{id}",
            "/drive/files/{hex}/report.pdf",
            "/drive/files/{hex}/plan.hwp",
        ],
    ),
    (
        "contacts",
        40,
        &["/contacts/search?q=kim", "/api/v1/contacts/{id}"],
    ),
    ("login", 30, &["/login", "/sso/callback?code={hex}"]),
    (
        "messenger",
        20,
        &["/api/v1/chat/rooms/{id}/messages", "/messenger/list"],
    ),
    ("todo", 10, &["/todo/list"]),
    ("survey", 5, &["/survey/{id}"]),
    ("report", 5, &["/report/daily"]),
    ("search", 10, &["/search?q=meeting"]),
    ("notification", 15, &["/api/v1/noti/count"]),
    ("organization", 10, &["/org/tree"]),
    ("works", 5, &["/app/works/list"]),
    (
        "other",
        20,
        &["/api/v1/users/me", "/health", "/api/v2/sync"],
    ),
];

/// Whether a path template of [`MENUS`] is a page (a document people look at).
fn page_path(menu: &str, template: &str) -> bool {
    menu != "static"
        && !template.starts_with("/api/")
        && !template.ends_with(".pdf")
        && !template.ends_with(".hwp")
}

/// An agent and, for agents of a known app, (app, platform, version label).
type Agent = (
    &'static str,
    Option<(&'static str, &'static str, &'static str)>,
);

/// Device kinds: class, weight, agents.
struct Kind {
    class: &'static str,
    weight: u32,
    agents: &'static [Agent],
}

const KINDS: &[Kind] = &[
    Kind {
        class: "desktop",
        weight: 520,
        agents: &[
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", None),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", None),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Whale/3.28.266.14 Safari/537.36", None),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", None),
            ("GroupwareDrive/2.1.4 (Windows 10)", Some(("drive_sync", "windows", "2.1.4"))),
        ],
    },
    Kind {
        class: "mobile_web",
        weight: 110,
        agents: &[
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", None),
            ("Mozilla/5.0 (Linux; Android 14; SM-S928N) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", None),
            ("Mozilla/5.0 (Linux; Android 13; SM-S918N Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.5845.163 Mobile Safari/537.36;KAKAOTALK 2410430", Some(("kakaotalk", "android", "unknown"))),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 NAVER(inapp; search; 2000; 12.5.1; 15PRO)", Some(("naver", "ios", "unknown"))),
        ],
    },
    Kind {
        class: "mobile_app",
        weight: 300,
        agents: &[
            ("Mozilla/5.0 (Linux; Android 14; SM-S928N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 DaouOffice/3.5.1", Some(("daouoffice", "android", "3.5.1"))),
            ("Mozilla/5.0 (Linux; Android 14; SM-A546N Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 DaouOffice/3.5.0", Some(("daouoffice", "android", "3.5.0"))),
            ("Mozilla/5.0 (Linux; Android 12; SM-G991N Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/110.0.5481.153 Mobile Safari/537.36 DaouOffice/3.4.9", Some(("daouoffice", "android", "3.4.9"))),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 DaouOffice/3.4.8", Some(("daouoffice", "ios", "3.4.8"))),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 DaouOffice/3.6.0", Some(("daouoffice", "ios", "3.6.0"))),
            ("DaouOffice/3.5.3 (iOS 17.5; iPhone15,2)", Some(("daouoffice", "ios", "3.5.3"))),
            ("Mozilla/5.0 (Linux; Android 11; SM-A525N Build/RP1A.200720.012; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.127 Mobile Safari/537.36", None),
        ],
    },
    Kind {
        class: "bot",
        weight: 50,
        agents: &[
            ("Mozilla/5.0 (compatible; Yeti/1.1; +https://naver.me/spd)", None),
            ("Mozilla/5.0 (compatible; Daum/4.1; +http://cs.daum.net/faq/15/4118.html?faqId=28966)", None),
            ("facebookexternalhit/1.1; kakaotalk-scrap/1.0; +https://devtalk.kakao.com/t/scrap/33984", None),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", None),
            ("ELB-HealthChecker/2.0", None),
        ],
    },
];

const SCANNER_AGENTS: &[(&str, &str)] = &[
    ("sqlmap/1.8.4#stable (https://sqlmap.org)", "bot"),
    ("Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)", "bot"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36 Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", "bot"),
    ("Mozilla/5.0 zgrab/0.x", "bot"),
    ("masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "bot"),
    ("curl/8.5.0", "bot"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop"),
];

const PROBES: &[(&str, u16)] = &[
    ("/.env", 404),
    ("/.git/config", 403),
    ("/wp-login.php", 404),
    ("/wp-admin/setup-config.php", 404),
    ("/phpmyadmin/index.php", 404),
    ("/cgi-bin/luci/;stok=/locale", 404),
    ("/xmlrpc.php", 404),
    ("/actuator/env", 404),
    ("/.aws/credentials", 404),
    ("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 404),
    ("/owa/auth/logon.aspx", 404),
];

/// Sites that link to the service: `news00.co.kr` … (35, more than `max_sites` 30).
pub const SITES: usize = 35;

/// What a referrer is by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// `direct`, `internal`, `other`, a search engine's or an app's name.
    Fixed(&'static str),
    /// Another site, by registrable domain (admitted or not by the agent).
    Site(String),
}

impl Ref {
    /// The per-tenant referrer (`page_referrer_kind`): every site is `site`.
    pub fn kind(&self) -> &str {
        match self {
            Ref::Fixed(f) => f,
            Ref::Site(_) => "site",
        }
    }
}

/// One generated line and what it is.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    pub server: usize,
    pub tenant: String,
    /// `None`: a probe, never a menu.
    pub menu: Option<&'static str>,
    pub device: &'static str,
    /// (app, platform, version label) for agents of a known app.
    pub app: Option<(&'static str, &'static str, &'static str)>,
    pub referrer: Ref,
    pub security: Option<&'static str>,
    pub status: u16,
    /// A person's request: not a bot or scanner, and with a user agent.
    pub person: bool,
    /// A page view: a GET of a page by a person, answered 200 or 304.
    pub page: bool,
}

impl Line {
    /// The same request answered with `status` instead (an outage, an error of one's choice).
    pub fn set_status(&mut self, status: u16) {
        let from = format!(" HTTP/1.1\" {} ", self.status);
        let to = format!(" HTTP/1.1\" {status} ");
        assert!(self.text.contains(&from), "no status in {}", self.text);
        self.text = self.text.replacen(&from, &to, 1);
        self.status = status;
    }
}

/// The generator's state.
pub struct Gen {
    /// 500/503 of ordinary traffic per million requests (7,000: 0.7 %); 0: every 5xx is a
    /// [`Gen::burst`] or set with [`Line::set_status`].
    pub server_error_ppm: u32,
    rng: Rng,
    tenants: Vec<String>,
    weights: Vec<u32>,
    count: usize,
    servers: usize,
}

impl Gen {
    pub fn new(seed: u64, tenants: usize, servers: usize) -> Gen {
        let names = (0..tenants)
            .map(|i| match i {
                0 => "acme".to_string(),
                1 => "beta".to_string(),
                _ => match CUSTOM_DOMAINS.iter().find(|c| c.0 == i) {
                    Some(c) => c.1.to_string(),
                    None => format!("c{i:04}"),
                },
            })
            .collect();
        // Zipf-like: a few large companies, a long tail of small ones.
        let weights = (0..tenants)
            .map(|i| (100_000.0 / (i as f64 + 1.0).powf(0.9)) as u32 + 1)
            .collect();
        Gen {
            server_error_ppm: 7000,
            rng: Rng::new(seed),
            tenants: names,
            weights,
            count: 0,
            servers,
        }
    }

    pub fn tenants(&self) -> &[String] {
        &self.tenants
    }

    /// The host of a tenant's requests: its own domain, or `<tenant>.office.example.com`.
    pub fn host(tenant: &str) -> String {
        match CUSTOM_DOMAINS.iter().find(|c| c.1 == tenant) {
            Some(c) => c.2.to_string(),
            None => format!("{tenant}.{DOMAIN}"),
        }
    }

    fn fill(&mut self, path: &str) -> String {
        let id = 1000 + self.rng.below(900_000);
        let hex = format!("{:016x}", self.rng.next());
        let n = 1 + self.rng.below(20);
        path.replace("{id}", &id.to_string())
            .replace("{hex}", &hex)
            .replace("{n}", &n.to_string())
    }

    fn referrer(&mut self, tenant: &str) -> (String, Ref) {
        match self.rng.weighted(&[500, 250, 80, 40, 30, 10, 70, 20]) {
            0 => (
                format!("https://{}/mail/list", Gen::host(tenant)),
                Ref::Fixed("internal"),
            ),
            1 => ("-".into(), Ref::Fixed("direct")),
            2 => {
                let h = *self.rng.pick(&[
                    "search.naver.com",
                    "m.search.naver.com",
                    "blog.naver.com",
                    "cafe.naver.com",
                ]);
                (
                    format!("https://{h}/search.naver?query=groupware"),
                    Ref::Fixed("naver"),
                )
            }
            3 => {
                let h = *self.rng.pick(&["www.google.com", "www.google.co.kr"]);
                (format!("https://{h}/"), Ref::Fixed("google"))
            }
            4 => {
                let h = *self.rng.pick(&["search.daum.net", "m.search.daum.net"]);
                (format!("https://{h}/search?q=x"), Ref::Fixed("daum"))
            }
            5 => ("https://www.bing.com/search?q=x".into(), Ref::Fixed("bing")),
            6 => {
                // Zipf over the sites, so the first ones seen are mostly the popular ones.
                let w: Vec<u32> = (0..SITES).map(|i| 1000 / (i as u32 + 1) + 5).collect();
                let i = self.rng.weighted(&w);
                let sub = *self.rng.pick(&["www", "m", "news"]);
                (
                    format!(
                        "https://{sub}.news{i:02}.co.kr/article/{}",
                        self.rng.below(99999)
                    ),
                    Ref::Site(format!("news{i:02}.co.kr")),
                )
            }
            _ => {
                let (v, r) = *self.rng.pick(&[
                    ("android-app://com.kakao.talk/", "kakaotalk"),
                    (
                        "android-app://com.google.android.googlequicksearchbox/https/www.google.com",
                        "google",
                    ),
                    ("https://203.0.113.9/x", "other"),
                ]);
                (v.to_string(), Ref::Fixed(r))
            }
        }
    }

    fn tenant(&mut self) -> String {
        let i = if self.count < 3 * self.tenants.len() {
            self.count % self.tenants.len()
        } else {
            self.rng.weighted(&self.weights)
        };
        self.tenants[i].clone()
    }

    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        time: &str,
        ip: &str,
        request: &str,
        status: u16,
        referer: &str,
        ua: &str,
        host: &str,
    ) -> String {
        let bytes = if status == 304 {
            0
        } else {
            200 + self.rng.below(40_000)
        };
        let rt = (1 + self.rng.below(900)) as f64 / 1000.0;
        format!("{ip} - - [{time}] \"{request}\" {status} {bytes} \"{referer}\" \"{ua}\" {rt:.3} {host}\n")
    }

    fn ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.rng.below(4),
            self.rng.below(256),
            1 + self.rng.below(254)
        )
    }

    /// One line of ordinary traffic (or, 3 % of the time, scanner noise).
    pub fn next(&mut self, time: &str) -> Line {
        self.count += 1;
        let server = self.rng.below(self.servers);
        if self.rng.below(1000) < 30 {
            return self.noise(time, server);
        }
        let tenant = self.tenant();
        let host = Gen::host(&tenant);
        let mi = self
            .rng
            .weighted(&MENUS.iter().map(|m| m.1).collect::<Vec<_>>());
        let (menu, _, paths) = MENUS[mi];
        let template = *self.rng.pick::<&str>(paths);
        let path = self.fill(template);
        let ki = self
            .rng
            .weighted(&KINDS.iter().map(|k| k.weight).collect::<Vec<_>>());
        let kind = &KINDS[ki];
        let (ua, version) = *self.rng.pick(kind.agents);
        let method = if path.starts_with("/api/") && self.rng.below(5) == 0 {
            "POST"
        } else {
            "GET"
        };
        let page = page_path(menu, template);
        let error = (self.rng.below(1_000_000) as u32) < self.server_error_ppm;
        let status = match self.rng.below(1000) {
            _ if error && self.rng.below(7) < 5 => 500,
            _ if error => 503,
            7..=26 => 404,
            27..=76 if menu == "static" => 304,
            27..=46 if page => 304,
            _ if menu == "login" => 302,
            _ => 200,
        };
        let (referer, referrer) = self.referrer(&tenant);
        let ip = self.ip();
        let text = self.line(
            time,
            &ip,
            &format!("{method} {path} HTTP/1.1"),
            status,
            &referer,
            ua,
            &host,
        );
        let security = match status {
            401 | 403 => Some("auth_failure"),
            _ => None,
        };
        Line {
            text,
            server,
            tenant,
            menu: Some(menu),
            device: kind.class,
            app: version,
            referrer,
            security,
            status,
            person: kind.class != "bot",
            page: page && method == "GET" && matches!(status, 200 | 304) && kind.class != "bot",
        }
    }

    fn noise(&mut self, time: &str, server: usize) -> Line {
        let ip = format!("203.0.113.{}", 1 + self.rng.below(200));
        let by_ip = self.rng.below(3) == 0;
        let tenant = if by_ip {
            "other".to_string()
        } else {
            self.tenant()
        };
        let host = if by_ip {
            "203.0.113.250".to_string()
        } else {
            Gen::host(&tenant)
        };
        let (ua, device) = *self.rng.pick(SCANNER_AGENTS);
        let mut line = Line {
            text: String::new(),
            server,
            tenant: tenant.clone(),
            menu: None,
            device,
            app: None,
            referrer: Ref::Fixed("direct"),
            security: None,
            status: 404,
            person: device != "bot",
            page: false,
        };
        let chrome = KINDS[0].agents[0].0;
        match self.rng.below(10) {
            0..=4 => {
                let (path, status) = *self.rng.pick(PROBES);
                line.status = status;
                line.security = Some("scanner_probe");
                line.text = self.line(
                    time,
                    &ip,
                    &format!("GET {path} HTTP/1.1"),
                    status,
                    "-",
                    ua,
                    &host,
                );
            }
            5 => {
                // SQL injection on a real menu, by sqlmap: a menu, and a security event.
                line.status = 200;
                line.menu = Some("board");
                line.device = "bot";
                line.security = Some("sql_injection");
                let id = self.rng.below(999);
                line.text = self.line(
                    time,
                    &ip,
                    &format!(
                        "GET /board/view?id={id}%20UNION%20SELECT%20NULL,NULL,NULL-- HTTP/1.1"
                    ),
                    200,
                    "-",
                    SCANNER_AGENTS[0].0,
                    &host,
                );
            }
            6 => {
                line.status = 400;
                line.security = Some("path_traversal");
                line.device = "desktop";
                line.text = self.line(
                    time,
                    &ip,
                    "GET /static/../../../../etc/passwd HTTP/1.1",
                    400,
                    "-",
                    chrome,
                    &host,
                );
            }
            7 => {
                // TLS on the plain port: no method, no URI; nginx answers 400.
                line.status = 400;
                line.menu = Some("other");
                line.device = "other";
                line.person = false;
                line.security = Some("bad_request");
                line.tenant = "other".into();
                line.text = self.line(
                    time,
                    &ip,
                    "\\x16\\x03\\x01\\x00\\xA5\\x01\\x00\\x00\\xA1\\x03\\x03",
                    400,
                    "-",
                    "-",
                    "_",
                );
            }
            8 => {
                // A wrong password: 401 from the login API, a user on the login menu.
                line.status = 401;
                line.menu = Some("login");
                line.device = "desktop";
                line.security = Some("auth_failure");
                let (referer, referrer) = self.referrer(&tenant.clone());
                line.referrer = referrer;
                line.text = self.line(
                    time,
                    &ip,
                    "POST /api/v1/login HTTP/1.1",
                    401,
                    &referer,
                    chrome,
                    &host,
                );
            }
            _ => {
                // Redirected back to the form: the example's own auth_failure rule. The form is
                // a page a person looks at.
                line.status = 200;
                line.menu = Some("login");
                line.device = "desktop";
                line.security = Some("auth_failure");
                line.page = true;
                line.text = self.line(
                    time,
                    &ip,
                    "GET /login?error=bad_password HTTP/1.1",
                    200,
                    "-",
                    chrome,
                    &host,
                );
            }
        }
        // Noise agents are scanners (bots), Chrome (a person) or none at all (`-`).
        line.person = line.device != "bot" && line.device != "other";
        line
    }

    /// A 503 on approval documents, for `tenant`, on `server`.
    pub fn burst(&mut self, time: &str, server: usize, tenant: &str) -> Line {
        let id = 10_000 + self.rng.below(90_000);
        let host = Gen::host(tenant);
        let (referer, referrer) = (
            format!("https://{host}/approval/list"),
            Ref::Fixed("internal"),
        );
        let ip = self.ip();
        let ua = KINDS[0].agents[0].0;
        let text = self.line(
            time,
            &ip,
            &format!("GET /api/v1/approval/docs/{id} HTTP/1.1"),
            503,
            &referer,
            ua,
            &host,
        );
        Line {
            text,
            server,
            tenant: tenant.to_string(),
            menu: Some("approval"),
            device: "desktop",
            app: None,
            referrer,
            security: None,
            status: 503,
            person: true,
            page: false,
        }
    }
}

/// Counts made from the lines' facts.
#[derive(Debug, Default, PartialEq)]
pub struct Truth {
    pub lines: u64,
    /// Requests of people (not bots or scanners) by tenant and menu.
    pub tenant_menu: BTreeMap<(String, String), u64>,
    pub tenant_device: BTreeMap<(String, String), u64>,
    pub tenant_errors: BTreeMap<(String, String, String), u64>,
    pub referrer: BTreeMap<String, u64>,
    pub device: BTreeMap<String, u64>,
    pub security: BTreeMap<String, u64>,
    pub app: BTreeMap<(String, String), u64>,
    /// (app, platform, version).
    pub app_platform: BTreeMap<(String, String, String), u64>,
    /// Requests by menu and device, bots included.
    pub menu_device: BTreeMap<(String, String), u64>,
    /// Page views by (tenant, menu, device).
    pub pages: BTreeMap<(String, String, String), u64>,
    /// Referrers of page views (sites as the agent admits them).
    pub page_referrer: BTreeMap<String, u64>,
    /// Referrers of page views by tenant, sites as `site`.
    pub tenant_page_referrer: BTreeMap<(String, String), u64>,
}

/// Tally `lines`. Sites keep their own referrer value for the first `max_sites` distinct ones
/// each server's agent sees (in file order), as docs/configuration.md says; later ones are
/// `other`.
pub fn truth(lines: &[Line], max_sites: usize) -> Truth {
    truth_from(lines, 0, max_sites)
}

/// Tally `lines[from..]`, the sites admitted as after all of `lines` in order.
pub fn truth_from(lines: &[Line], from: usize, max_sites: usize) -> Truth {
    let mut t = Truth::default();
    let mut admitted: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let r = match &l.referrer {
            Ref::Fixed(f) => f.to_string(),
            Ref::Site(s) => {
                let seen = admitted.entry(l.server).or_default();
                if seen.contains(s) || seen.len() < max_sites {
                    seen.insert(s.clone());
                    s.clone()
                } else {
                    "other".into()
                }
            }
        };
        if i < from {
            continue;
        }
        t.lines += 1;
        *t.device.entry(l.device.into()).or_default() += 1;
        let person = l.person;
        if let Some(m) = l.menu {
            *t.menu_device
                .entry((m.into(), l.device.into()))
                .or_default() += 1;
        }
        if let (Some(m), true) = (l.menu, person) {
            *t.tenant_menu
                .entry((l.tenant.clone(), m.into()))
                .or_default() += 1;
            *t.tenant_device
                .entry((l.tenant.clone(), l.device.into()))
                .or_default() += 1;
            if (400..600).contains(&l.status) {
                let class = format!("{}xx", l.status / 100);
                *t.tenant_errors
                    .entry((l.tenant.clone(), m.into(), class))
                    .or_default() += 1;
            }
        }
        if let (Some(m), true) = (l.menu, l.page) {
            *t.pages
                .entry((l.tenant.clone(), m.into(), l.device.into()))
                .or_default() += 1;
            *t.page_referrer.entry(r.clone()).or_default() += 1;
            *t.tenant_page_referrer
                .entry((l.tenant.clone(), l.referrer.kind().into()))
                .or_default() += 1;
        }
        if let Some(k) = l.security {
            *t.security.entry(k.into()).or_default() += 1;
        }
        if let Some((a, p, v)) = l.app {
            *t.app.entry((a.into(), v.into())).or_default() += 1;
            *t.app_platform
                .entry((a.into(), p.into(), v.into()))
                .or_default() += 1;
        }
        *t.referrer.entry(r).or_default() += 1;
    }
    t
}

/// `examples/groupware.yml` reading `log` from its beginning, with its state in `state`.
pub fn agent_config(example: &str, log: &std::path::Path, state: &std::path::Path) -> String {
    let from = r#"paths: ["/var/log/nginx/access.log*"]"#;
    assert!(
        example.contains(from),
        "examples/groupware.yml: paths line changed"
    );
    let cfg = example.replace(
        from,
        &format!("paths: [\"{}\"]\n    start_at: beginning", log.display()),
    );
    format!("global:\n  state_dir: {}\n{cfg}", state.display())
}

/// Samples of `metric` in a Prometheus text exposition: (labels, value).
pub fn samples(expo: &str, metric: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in expo.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.rsplit_once("} ") {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        let mut map = BTreeMap::new();
        let mut s = labels;
        while let Some((k, r)) = s.split_once("=\"") {
            let end = r
                .find('"')
                .expect("closing quote (test values have no escapes)");
            map.insert(k.trim_start_matches(',').to_string(), r[..end].to_string());
            s = &r[end + 1..];
        }
        out.push((map, value.trim().parse().expect("sample value")));
    }
    out
}

/// Sum of `samples` by the values of `keys`, leaving out zeros (declared series).
pub fn sum_by(
    samples: &[(BTreeMap<String, String>, f64)],
    keys: &[&str],
) -> BTreeMap<Vec<String>, u64> {
    let mut out: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for (l, v) in samples {
        if *v == 0.0 {
            continue;
        }
        let k = keys
            .iter()
            .map(|k| l.get(*k).cloned().unwrap_or_default())
            .collect();
        *out.entry(k).or_default() += *v as u64;
    }
    out
}

/// `map` with tuple keys as vectors, to compare with [`sum_by`].
pub fn keyed2(m: &BTreeMap<(String, String), u64>) -> BTreeMap<Vec<String>, u64> {
    m.iter()
        .map(|((a, b), v)| (vec![a.clone(), b.clone()], *v))
        .collect()
}

/// Same for three-part keys.
pub fn keyed3(m: &BTreeMap<(String, String, String), u64>) -> BTreeMap<Vec<String>, u64> {
    m.iter()
        .map(|((a, b, c), v)| (vec![a.clone(), b.clone(), c.clone()], *v))
        .collect()
}

/// Same for one-part keys.
pub fn keyed1(m: &BTreeMap<String, u64>) -> BTreeMap<Vec<String>, u64> {
    m.iter().map(|(a, v)| (vec![a.clone()], *v)).collect()
}

/// The first difference between two tallies, for a readable failure.
pub fn diff(
    what: &str,
    got: &BTreeMap<Vec<String>, u64>,
    want: &BTreeMap<Vec<String>, u64>,
) -> Option<String> {
    if got == want {
        return None;
    }
    let keys: BTreeSet<&Vec<String>> = got.keys().chain(want.keys()).collect();
    let bad: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .take(8)
        .map(|k| format!("  {k:?}: logpulse {:?}, log {:?}", got.get(k), want.get(k)))
        .collect();
    Some(format!(
        "{what}: {} keys vs {}; first differences:\n{}",
        got.len(),
        want.len(),
        bad.join("\n")
    ))
}
