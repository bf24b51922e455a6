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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
    /// The user rules' URI regexes as one set (the built-in ones are gated by
    /// [`maybe_attack`] instead).
    uri_set: RegexSet,
    /// How many of `uri` are the user rules'.
    user_uri: usize,
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
    // A scheme is letters before `://`: a path starting with '/' (almost every request) has
    // none, and skipping the substring search there is most of this function's cost.
    if path.first() == Some(&b'/') {
        return path;
    }
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
        // Most segments start with a byte no probe starts with: one table lookup.
        let Some(first) = seg.first() else {
            return false;
        };
        if !PROBE_FIRST[first.to_ascii_lowercase() as usize] {
            return false;
        }
        let dot = *first == b'.'
            && seg.len() > 1
            && seg != b".."
            && !seg.eq_ignore_ascii_case(b".well-known");
        dot || (seg.len() > 3 && seg[..3].eq_ignore_ascii_case(b"wp-"))
            || (seg.len() >= 10 && seg[..10].eq_ignore_ascii_case(b"phpmyadmin"))
            || PROBE_SEGMENTS
                .iter()
                .any(|p| p.len() == seg.len() && seg.eq_ignore_ascii_case(p))
    })
}

/// False when no built-in URI pattern can match `uri`: each of them needs one of these bytes
/// (`.`, `%`, `_`, `(`, `'`, `+`, `*`, a backslash, whitespace, non-ASCII) or `passwd`/`proc/s`. A
/// byte loop instead of the regexes for the ordinary URI (about half the cost of a
/// `RegexSet` pass here).
fn maybe_attack(uri: &[u8]) -> bool {
    uri.iter().enumerate().any(|(i, &b)| match b {
        b'.' | b'%' | b'_' | b'(' | b'\'' | b'+' | b'*' | b'\\' => true,
        b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x80.. => true,
        b'p' | b'P' => uri
            .get(i + 1..i + 6)
            .is_some_and(|r| r.eq_ignore_ascii_case(b"asswd") || r.eq_ignore_ascii_case(b"roc/s")),
        _ => false,
    })
}

/// First bytes (lower case) of every probe segment: `.`, `w` (`wp-`), and [`PROBE_SEGMENTS`]'.
const PROBE_FIRST: [bool; 256] = {
    let mut t = [false; 256];
    t[b'.' as usize] = true;
    t[b'w' as usize] = true;
    let mut i = 0;
    while i < PROBE_SEGMENTS.len() {
        t[PROBE_SEGMENTS[i][0] as usize] = true;
        i += 1;
    }
    t
};

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
        let user_uri = uri.len();
        let mut builtin_uri = |kind, src: &str| {
            uri.push(Regex::new(src).expect("built-in security regex"));
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
            user_uri,
            uri,
            ua,
        })
    }

    /// The built-in rules only.
    pub fn builtin() -> SecurityRules {
        SecurityRules::new(&[]).expect("built-in security rules compile")
    }

    /// Which rules' URI conditions (regex, probe path) hold for `uri`: bit `i` for rule `i`.
    /// One `RegexSet` pass decides for ordinary URIs; the rules' own regexes run only when it
    /// matches.
    fn uri_bits(&self, uri: &[u8]) -> u128 {
        let user = self.user_uri > 0 && self.uri_set.is_match(uri);
        let builtin = maybe_attack(uri);
        let mut probe = None;
        let mut bits = 0u128;
        for (i, r) in self.rules.iter().enumerate() {
            let hit = match (r.uri, r.probe_path) {
                (Some(u), _) => {
                    (if u < self.user_uri { user } else { builtin }) && self.uri[u].is_match(uri)
                }
                (None, true) => *probe.get_or_insert_with(|| is_probe_path(uri)),
                (None, false) => continue,
            };
            if hit {
                bits |= 1 << i;
            }
        }
        bits
    }

    fn holds(&self, i: usize, r: &Rule, q: &Request<'_>, uri_bits: u128, ua_bits: u64) -> bool {
        if !r.status.is_empty() && !status_code(q.status).is_some_and(|s| r.status.contains(&s)) {
            return false;
        }
        if !r.method.is_empty() && !r.method.iter().any(|m| q.method.eq_ignore_ascii_case(m)) {
            return false;
        }
        if r.ua.is_some_and(|u| ua_bits & (1u64 << u) == 0) {
            return false;
        }
        if (r.uri.is_some() || r.probe_path) && uri_bits & (1 << i) == 0 {
            return false;
        }
        true
    }

    /// The first rule decided by the URI alone whose condition holds.
    fn uri_kind_of(&self, uri_bits: u128) -> Option<SecurityKind> {
        self.rules
            .iter()
            .enumerate()
            .find(|(i, r)| r.uri_only() && uri_bits & (1 << i) != 0)
            .map(|(_, r)| r.kind)
    }

    /// The kind of a request, from the rules decided by its URI alone: menus leave out what
    /// this calls `scanner_probe` or `path_traversal`.
    pub fn uri_kind(&self, uri: &[u8]) -> Option<SecurityKind> {
        self.uri_kind_of(self.uri_bits(uri))
    }

    /// The kind of the request in `v` (the transform's template), if any.
    fn kind(&self, v: &[u8], st: &mut SecurityState) -> Option<SecurityKind> {
        let q = split(v);
        let ua_bits = if self.ua.is_empty() {
            0
        } else {
            st.agents.get(self as *const _ as usize, q.ua, || {
                self.ua
                    .iter()
                    .enumerate()
                    .filter(|(_, re)| re.is_match(q.ua))
                    .fold(0u64, |bits, (i, _)| bits | 1u64 << i)
            })
        };
        let uri_bits = st.uri.bits(self, q.uri);
        self.rules
            .iter()
            .enumerate()
            .find(|(i, r)| self.holds(*i, r, &q, uri_bits, ua_bits))
            .map(|(_, r)| r.kind)
    }
}

/// The URI conditions of the URIs looked at lately: the menu labels and the security label of
/// a line ask about the same URI, and a log asks about the same URIs again and again.
#[derive(Debug, Default)]
pub struct UriMemo {
    owner: usize,
    cache: super::cache::OutputCache,
    out: Vec<u8>,
}

impl UriMemo {
    /// `rules.uri_bits(uri)`, from memory when `uri` was asked about lately.
    #[inline]
    fn bits(&mut self, rules: &SecurityRules, uri: &[u8]) -> u128 {
        let owner = rules as *const _ as usize;
        if self.owner != owner {
            self.cache = Default::default();
            self.owner = owner;
        }
        self.out.clear();
        self.cache.get(uri, &mut self.out, |o| {
            o.extend_from_slice(&rules.uri_bits(uri).to_le_bytes());
            true
        });
        self.out
            .first_chunk::<16>()
            .map_or(0, |b| u128::from_le_bytes(*b))
    }

    /// `rules.uri_kind(uri)`, sharing the work with the other labels of the line.
    #[inline]
    pub fn uri_kind(&mut self, rules: &SecurityRules, uri: &[u8]) -> Option<SecurityKind> {
        let bits = self.bits(rules, uri);
        rules.uri_kind_of(bits)
    }
}

/// Per-source state: the memo of user agents' regex matches, and the last URI's conditions.
#[derive(Debug, Default)]
pub struct SecurityState {
    agents: Memo<u64>,
    /// Shared with `transform: menu`.
    pub uri: UriMemo,
}

/// Write the kind of the request in `v` into `out`; false when it is an ordinary request.
#[inline]
pub fn security(
    rules: &SecurityRules,
    v: &[u8],
    st: &mut SecurityState,
    out: &mut Vec<u8>,
) -> bool {
    match rules.kind(v, st) {
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

    /// The byte gate never hides a URI the built-in regexes would flag.
    #[test]
    fn the_gate_lets_every_builtin_match_through() {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("../".to_string()),
            Just("%2E%2e".to_string()),
            Just("/ETC/PASSWD".to_string()),
            Just("/proc/self/".to_string()),
            Just("union".to_string()),
            Just("select".to_string()),
            Just("/**/".to_string()),
            Just("\u{a0}".to_string()),
            Just("\t".to_string()),
            Just("' or 1=1".to_string()),
            Just("sleep(5)".to_string()),
            Just("waitfor delay".to_string()),
            Just("xp_cmdshell".to_string()),
            "[a-zA-Z0-9/?=&]{0,6}".prop_map(String::from),
        ];
        let input = proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat());
        let res = [Regex::new(TRAVERSAL).unwrap(), Regex::new(SQLI).unwrap()];
        proptest::proptest!(proptest::test_runner::Config::with_cases(3000), |(u in input)| {
            let hit = res.iter().any(|r| r.is_match(u.as_bytes()));
            proptest::prop_assert!(!hit || maybe_attack(u.as_bytes()), "{u:?}");
        });
        assert!(!maybe_attack(b"/api/v1/users/348654?page=2&sort=asc"));
        assert!(maybe_attack(b"/x?f=/etc/Passwd"));
    }
}
