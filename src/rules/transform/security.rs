//! `transform: security`: a request → one kind of security event (`scanner_probe`,
//! `path_traversal`, `sql_injection`, `bad_request`, `auth_failure`), or no value (the update
//! is skipped) for an ordinary request.
//!
//! Its input is the label template `"{status}\n{request_method}\n{request_uri}\n{http_user_agent}"`
//! (the `http` profile writes it), so one transform sees the four fields. An ordered list of
//! rules decides: the source's `security_rules`, then the built-in ones; the first rule whose
//! conditions all hold gives the kind. The kinds are a fixed set, so the label is bounded.
//!
//! Per line: one `RegexSet::is_match` over every URI regex (no allocation; ordinary URIs stop
//! there), a scan of the path's segments for probe targets, and a memo lookup of the user
//! agent's regex matches.

use regex::bytes::{Regex, RegexSet};
use serde::Deserialize;

use super::memo::Memo;
use super::TransformError;

/// Every kind, in [`SecurityKind`] order.
pub const SECURITY_KINDS: &[&str] = &[
    "scanner_probe",
    "path_traversal",
    "sql_injection",
    "bad_request",
    "auth_failure",
];

/// Most `security_rules` in a source (user-agent regexes are kept as bits of a `u64`).
pub const MAX_RULES: usize = 60;

/// A kind of security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SecurityKind {
    /// A request for something only attackers ask for (`/.env`, `/wp-login.php`), or from a
    /// scanner that names itself.
    #[default]
    ScannerProbe,
    /// `../` and its encodings, `/etc/passwd`.
    PathTraversal,
    /// SQL injection patterns in the URI.
    SqlInjection,
    /// Requests the server could not parse (400, 414, 431).
    BadRequest,
    /// 401 and 403 answers.
    AuthFailure,
}

/// One `security_rules` entry as written: all given conditions must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SecurityRuleSpec {
    /// The kind counted when the rule matches.
    pub kind: SecurityKind,
    /// Regex on the request URI (path and query, unanchored).
    pub uri: Option<String>,
    /// Regex on the user agent.
    pub user_agent: Option<String>,
    /// Status codes.
    #[serde(default)]
    pub status: Vec<u16>,
    /// Request methods.
    #[serde(default)]
    pub method: Vec<String>,
}

const TRAVERSAL: &str =
    r"(?i)\.\./|\.\.\\|\.\.%2f|\.\.%5c|%2e%2e|%252e|/etc/passwd|/proc/self/|win\.ini";
const SQLI: &str = r"(?i)union(?:\s|\+|%20|%09|/\*\*/)+(?:all(?:\s|\+|%20)+)?select|information_schema|sleep(?:\s|%20)*\((?:\s|%20)*\d|benchmark(?:\s|%20)*\(|waitfor(?:\s|\+|%20)+delay|(?:'|%27)(?:\s|\+|%20)*or(?:\s|\+|%20)+(?:'|%27)?\d+(?:'|%27)?(?:\s|%20)*(?:=|%3d)|xp_cmdshell|load_file(?:\s|%20)*\(";
const SCANNER_AGENTS: &str = r"(?i)sqlmap|nikto|nuclei|zgrab|masscan|nmap|acunetix|netsparker|wpscan|dirbuster|gobuster|ffuf|feroxbuster|openvas|nessus";

/// Path segments only attackers ask for (compared case-insensitively; `wp-*` and dot-files
/// other than `.well-known` are probes too).
const PROBE_SEGMENTS: &[&[u8]] = &[
    b"xmlrpc.php",
    b"phpmyadmin",
    b"pma",
    b"myadmin",
    b"mysqladmin",
    b"cgi-bin",
    b"phpinfo.php",
    b"info.php",
    b"phpunit",
    b"eval-stdin.php",
    b"boaform",
    b"hnap1",
    b"server-status",
    b"actuator",
];

#[derive(Debug)]
struct Rule {
    kind: SecurityKind,
    uri: Option<usize>,
    ua: Option<usize>,
    status: Vec<u16>,
    method: Vec<Box<[u8]>>,
    probe_path: bool,
}

impl Rule {
    /// A rule decided by the URI alone (menus leave such probes out).
    fn uri_only(&self) -> bool {
        self.ua.is_none() && self.status.is_empty() && self.method.is_empty()
    }
}

/// The compiled rules of one source.
#[derive(Debug)]
pub struct SecurityRules {
    rules: Vec<Rule>,
    uri_set: RegexSet,
    uri: Vec<Regex>,
    ua: Vec<Regex>,
}

/// The parts of the transform's input.
struct Request<'a> {
    status: &'a [u8],
    method: &'a [u8],
    uri: &'a [u8],
    ua: &'a [u8],
}

fn split(v: &[u8]) -> Request<'_> {
    let mut it = v.splitn(4, |b| *b == b'\n');
    Request {
        status: it.next().unwrap_or_default(),
        method: it.next().unwrap_or_default(),
        uri: it.next().unwrap_or_default(),
        ua: it.next().unwrap_or_default(),
    }
}

fn status_code(s: &[u8]) -> Option<u16> {
    match s {
        [a, b, c] if s.iter().all(u8::is_ascii_digit) => {
            Some((*a - b'0') as u16 * 100 + (*b - b'0') as u16 * 10 + (*c - b'0') as u16)
        }
        _ => None,
    }
}

/// The path of a URI: no query or fragment, no `scheme://host`.
pub(super) fn path_of(uri: &[u8]) -> &[u8] {
    let end = memchr::memchr2(b'?', b'#', uri).unwrap_or(uri.len());
    let mut path = &uri[..end];
    if let Some(i) = memchr::memmem::find(path, b"://") {
        if path[..i].iter().all(u8::is_ascii_alphabetic) {
            let rest = &path[i + 3..];
            path = memchr::memchr(b'/', rest).map_or(&b"/"[..], |j| &rest[j..]);
        }
    }
    path
}

/// True when a segment of the path is something only attackers ask for.
pub fn is_probe_path(uri: &[u8]) -> bool {
    path_of(uri).split(|b| *b == b'/').any(|seg| {
        let dot = seg.first() == Some(&b'.')
            && seg.len() > 1
            && seg != b".."
            && !seg.eq_ignore_ascii_case(b".well-known");
        dot || (seg.len() > 3 && seg[..3].eq_ignore_ascii_case(b"wp-"))
            || (seg.len() >= 10 && seg[..10].eq_ignore_ascii_case(b"phpmyadmin"))
            || PROBE_SEGMENTS.iter().any(|p| seg.eq_ignore_ascii_case(p))
    })
}

impl SecurityRules {
    /// Compile `user` rules followed by the built-in ones. Errors name the rule
    /// (`security_rules[1].uri`).
    pub fn new(user: &[SecurityRuleSpec]) -> Result<SecurityRules, TransformError> {
        if user.len() > MAX_RULES {
            return Err(TransformError {
                key: "security_rules".into(),
                message: format!("{} rules; at most {MAX_RULES} are supported", user.len()),
            });
        }
        let mut rules = Vec::new();
        let mut uri_src: Vec<String> = Vec::new();
        let mut uri = Vec::new();
        let mut ua = Vec::new();
        for (i, r) in user.iter().enumerate() {
            let err = |k: &str, message: String| TransformError {
                key: format!("security_rules[{i}]{k}"),
                message,
            };
            if r.uri.is_none()
                && r.user_agent.is_none()
                && r.status.is_empty()
                && r.method.is_empty()
            {
                return Err(err(
                    "",
                    "a rule needs at least one of `uri`, `user_agent`, `status`, `method`".into(),
                ));
            }
            if let Some(s) = r.status.iter().find(|s| !(100..=599).contains(*s)) {
                return Err(err(
                    ".status",
                    format!("{s} is not a status code (100-599)"),
                ));
            }
            let re =
                |k: &str, s: &str| Regex::new(s).map_err(|e| err(k, format!("invalid regex: {e}")));
            let u = match &r.uri {
                Some(s) => {
                    uri.push(re(".uri", s)?);
                    uri_src.push(s.clone());
                    Some(uri.len() - 1)
                }
                None => None,
            };
            let a = match &r.user_agent {
                Some(s) => {
                    ua.push(re(".user_agent", s)?);
                    Some(ua.len() - 1)
                }
                None => None,
            };
            rules.push(Rule {
                kind: r.kind,
                uri: u,
                ua: a,
                status: r.status.clone(),
                method: r.method.iter().map(|m| m.as_bytes().into()).collect(),
                probe_path: false,
            });
        }
        let mut builtin_uri = |kind, src: &str| {
            uri.push(Regex::new(src).expect("built-in security regex"));
            uri_src.push(src.to_string());
            rules.push(Rule {
                kind,
                uri: Some(uri.len() - 1),
                ua: None,
                status: Vec::new(),
                method: Vec::new(),
                probe_path: false,
            });
        };
        builtin_uri(SecurityKind::PathTraversal, TRAVERSAL);
        builtin_uri(SecurityKind::SqlInjection, SQLI);
        let plain = |kind, status: &[u16]| Rule {
            kind,
            uri: None,
            ua: None,
            status: status.to_vec(),
            method: Vec::new(),
            probe_path: false,
        };
        rules.push(Rule {
            probe_path: true,
            ..plain(SecurityKind::ScannerProbe, &[])
        });
        ua.push(Regex::new(SCANNER_AGENTS).expect("built-in scanner regex"));
        rules.push(Rule {
            ua: Some(ua.len() - 1),
            ..plain(SecurityKind::ScannerProbe, &[])
        });
        rules.push(plain(SecurityKind::BadRequest, &[400, 414, 431]));
        rules.push(plain(SecurityKind::AuthFailure, &[401, 403]));
        let uri_set = RegexSet::new(&uri_src).map_err(|e| TransformError {
            key: "security_rules".into(),
            message: format!("the rules do not compile together: {e}"),
        })?;
        Ok(SecurityRules {
            rules,
            uri_set,
            uri,
            ua,
        })
    }

    /// The built-in rules only.
    pub fn builtin() -> SecurityRules {
        SecurityRules::new(&[]).expect("built-in security rules compile")
    }

    fn holds(&self, r: &Rule, q: &Request<'_>, uri_any: &mut Option<bool>, ua_bits: u64) -> bool {
        if !r.status.is_empty() && !status_code(q.status).is_some_and(|s| r.status.contains(&s)) {
            return false;
        }
        if !r.method.is_empty() && !r.method.iter().any(|m| q.method.eq_ignore_ascii_case(m)) {
            return false;
        }
        if r.ua.is_some_and(|i| ua_bits & (1u64 << i) == 0) {
            return false;
        }
        if r.probe_path && !is_probe_path(q.uri) {
            return false;
        }
        if let Some(i) = r.uri {
            let any = *uri_any.get_or_insert_with(|| self.uri_set.is_match(q.uri));
            if !any || !self.uri[i].is_match(q.uri) {
                return false;
            }
        }
        true
    }

    /// The kind of a request, from the rules decided by its URI alone: menus leave out what
    /// this calls `scanner_probe` or `path_traversal`.
    pub fn uri_kind(&self, uri: &[u8]) -> Option<SecurityKind> {
        let q = Request {
            status: b"",
            method: b"",
            uri,
            ua: b"",
        };
        let mut any = None;
        self.rules
            .iter()
            .filter(|r| r.uri_only())
            .find(|r| self.holds(r, &q, &mut any, 0))
            .map(|r| r.kind)
    }

    /// The kind of the request in `v` (the transform's template), if any.
    fn kind(&self, v: &[u8], memo: &mut Memo<u64>) -> Option<SecurityKind> {
        let q = split(v);
        let ua_bits = if self.ua.is_empty() {
            0
        } else {
            memo.get(self as *const _ as usize, q.ua, || {
                self.ua
                    .iter()
                    .enumerate()
                    .filter(|(_, re)| re.is_match(q.ua))
                    .fold(0u64, |bits, (i, _)| bits | 1u64 << i)
            })
        };
        let mut any = None;
        self.rules
            .iter()
            .find(|r| self.holds(r, &q, &mut any, ua_bits))
            .map(|r| r.kind)
    }
}

/// Per-source state: the memo of user agents' regex matches.
#[derive(Debug, Default)]
pub struct SecurityState {
    memo: Memo<u64>,
}

/// Write the kind of the request in `v` into `out`; false when it is an ordinary request.
#[inline]
pub fn security(
    rules: &SecurityRules,
    v: &[u8],
    st: &mut SecurityState,
    out: &mut Vec<u8>,
) -> bool {
    match rules.kind(v, &mut st.memo) {
        Some(k) => {
            out.extend_from_slice(SECURITY_KINDS[k as usize].as_bytes());
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(r: &SecurityRules, status: &str, method: &str, uri: &str, ua: &str) -> String {
        let v = format!("{status}\n{method}\n{uri}\n{ua}");
        let mut out = Vec::new();
        let mut st = SecurityState::default();
        if !security(r, v.as_bytes(), &mut st, &mut out) {
            return "-".into();
        }
        String::from_utf8(out).unwrap()
    }

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36";

    #[test]
    fn built_in_kinds() {
        let r = SecurityRules::builtin();
        let k = |status, method, uri, ua| kind(&r, status, method, uri, ua);
        assert_eq!(k("200", "GET", "/mail/list?page=2", CHROME), "-");
        assert_eq!(
            k("200", "GET", "/board/search?q=union+station", CHROME),
            "-"
        );
        assert_eq!(k("200", "GET", "/.well-known/security.txt", CHROME), "-");
        assert_eq!(k("302", "GET", "/login", CHROME), "-");
        assert_eq!(k("404", "GET", "/.env", CHROME), "scanner_probe");
        assert_eq!(k("403", "GET", "/.git/config", CHROME), "scanner_probe");
        assert_eq!(k("404", "GET", "/wp-login.php", CHROME), "scanner_probe");
        assert_eq!(
            k("404", "GET", "/phpMyAdmin-5.2.1/index.php", CHROME),
            "scanner_probe"
        );
        assert_eq!(k("404", "GET", "/cgi-bin/luci", CHROME), "scanner_probe");
        assert_eq!(
            k("404", "GET", "/mail/list", "sqlmap/1.8.4#stable"),
            "scanner_probe"
        );
        assert_eq!(
            k("400", "GET", "/static/../../etc/passwd", CHROME),
            "path_traversal"
        );
        assert_eq!(
            k("400", "GET", "/download?f=..%2f..%2fetc%2fpasswd", CHROME),
            "path_traversal"
        );
        assert_eq!(
            k(
                "200",
                "GET",
                "/board/view?id=1%20UNION%20SELECT%20password",
                CHROME
            ),
            "sql_injection"
        );
        assert_eq!(
            k("200", "GET", "/board/view?id=1'%20or%20'1'='1", CHROME),
            "sql_injection"
        );
        assert_eq!(
            k("200", "GET", "/x?id=1;waitfor delay '0:0:5'", CHROME),
            "sql_injection"
        );
        assert_eq!(k("400", "-", "", ""), "bad_request");
        assert_eq!(k("414", "GET", "/a", CHROME), "bad_request");
        assert_eq!(k("401", "POST", "/api/v1/login", CHROME), "auth_failure");
        assert_eq!(k("403", "GET", "/admin/users", CHROME), "auth_failure");
        assert_eq!(k("", "", "", ""), "-");
    }

    #[test]
    fn user_rules_come_first() {
        let r = SecurityRules::new(&[
            SecurityRuleSpec {
                kind: SecurityKind::ScannerProbe,
                uri: Some("(?i)^/owa/".into()),
                ..Default::default()
            },
            SecurityRuleSpec {
                kind: SecurityKind::AuthFailure,
                status: vec![200],
                method: vec!["POST".into()],
                uri: Some("^/login/failed".into()),
                ..Default::default()
            },
        ])
        .unwrap();
        assert_eq!(
            kind(&r, "404", "GET", "/owa/auth/logon.aspx", CHROME),
            "scanner_probe"
        );
        assert_eq!(
            kind(&r, "200", "POST", "/login/failed?u=kim", CHROME),
            "auth_failure"
        );
        assert_eq!(kind(&r, "200", "GET", "/login/failed?u=kim", CHROME), "-");
        assert_eq!(r.uri_kind(b"/owa/x"), Some(SecurityKind::ScannerProbe));
        assert_eq!(
            r.uri_kind(b"/login/failed"),
            None,
            "not decided by the URI alone"
        );
        assert_eq!(r.uri_kind(b"/.env"), Some(SecurityKind::ScannerProbe));
        assert_eq!(r.uri_kind(b"/a/../../b"), Some(SecurityKind::PathTraversal));
        assert_eq!(r.uri_kind(b"/mail"), None);
    }

    #[test]
    fn bad_rules_name_their_key() {
        let bad = |r: SecurityRuleSpec| SecurityRules::new(&[r]).unwrap_err().key;
        assert_eq!(bad(SecurityRuleSpec::default()), "security_rules[0]");
        assert_eq!(
            bad(SecurityRuleSpec {
                uri: Some("(".into()),
                ..Default::default()
            }),
            "security_rules[0].uri"
        );
        assert_eq!(
            bad(SecurityRuleSpec {
                status: vec![1000],
                ..Default::default()
            }),
            "security_rules[0].status"
        );
    }
}
