//! `transform: menu`: request URI → the menu (feature) of the application it belongs to, from a
//! table of path prefixes, the longest matching prefix winning; `other` when none matches.
//!
//! A prefix is a path (`/api/v1/mail`, `:name` matching any one segment, `/` only the root) or
//! a bare name (`mail`), short for `/mail`, `/api/mail`, `/api/:version/mail`, `/app/mail` and
//! `/m/mail`. Segments compare case-insensitively. Requests the security rules call a scanner
//! probe or a path traversal by their URI (`/.env`, `/wp-login.php`, `/../`) are never a menu:
//! the transform gives no value, so the update is skipped (they are counted in
//! `http_security_events_total`).
//!
//! Per line: the prefix table is a trie walked over at most [`MAX_SEGMENTS`] segments, with no
//! allocation; the labels of one line that use the same table share the result.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::security::{path_of, SecurityKind, SecurityRules, UriMemo};
use super::TransformError;

/// The menus used when a source has no `menus:` table: a groupware's (name, prefixes).
pub const DEFAULT_MENUS: &[(&str, &[&str])] = &[
    ("home", &["/", "home", "main", "portal", "dashboard"]),
    (
        "login",
        &["login", "logout", "sso", "auth", "oauth", "signin", "saml"],
    ),
    ("mail", &["mail", "webmail"]),
    ("calendar", &["calendar", "schedule"]),
    ("approval", &["approval", "eapproval"]),
    ("board", &["board", "bbs", "notice"]),
    ("contacts", &["contacts", "contact", "addressbook"]),
    ("drive", &["drive", "webfolder", "files"]),
    ("todo", &["todo", "task", "tasks"]),
    ("survey", &["survey"]),
    ("report", &["report", "reports"]),
    ("reservation", &["reservation", "resource", "asset"]),
    ("community", &["community"]),
    ("messenger", &["messenger", "chat", "talk"]),
    ("attendance", &["attendance", "ehr"]),
    ("organization", &["org", "organization", "orgchart"]),
    ("search", &["search"]),
    (
        "notification",
        &["noti", "notification", "notifications", "push"],
    ),
    (
        "settings",
        &["settings", "setting", "preferences", "profile"],
    ),
    ("admin", &["admin"]),
    (
        "static",
        &[
            "static",
            "assets",
            "resources",
            "js",
            "css",
            "img",
            "images",
            "fonts",
            "favicon.ico",
            "robots.txt",
        ],
    ),
];

/// The prefixes a bare name stands for (`{}` is the name).
const ALIAS_PREFIXES: &[&str] = &["/{}", "/api/{}", "/api/:version/{}", "/app/{}", "/m/{}"];

/// Most segments in a prefix (and segments of a path looked at).
pub const MAX_SEGMENTS: usize = 8;
/// Longest segment in a prefix.
const MAX_SEGMENT_LEN: usize = 64;
/// Most menus in a table.
pub const MAX_MENUS: usize = 200;
/// The label value when no prefix matches.
pub const OTHER: &str = "other";

#[derive(Debug, Default)]
struct Node {
    lit: HashMap<Box<[u8]>, Node, foldhash::fast::RandomState>,
    any: Option<Box<Node>>,
    menu: Option<u16>,
}

/// A compiled menu table.
#[derive(Debug)]
pub struct Menus {
    names: Vec<Box<str>>,
    root: Node,
    /// Menu of the path `/` itself.
    root_menu: Option<u16>,
    security: Arc<SecurityRules>,
}

impl Menus {
    /// Compile a `menus:` table (`None`: [`DEFAULT_MENUS`]); probes are recognised by
    /// `security`. Errors name the entry (`menus.mail[1]`).
    pub fn new(
        table: Option<&BTreeMap<String, Vec<String>>>,
        security: Arc<SecurityRules>,
    ) -> Result<Menus, TransformError> {
        let owned: Vec<(String, Vec<String>)> = match table {
            Some(t) => t.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => DEFAULT_MENUS
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|p| p.to_string()).collect()))
                .collect(),
        };
        if owned.is_empty() || owned.len() > MAX_MENUS {
            return Err(TransformError {
                key: "menus".into(),
                message: format!("between 1 and {MAX_MENUS} menus are needed"),
            });
        }
        let mut m = Menus {
            names: Vec::new(),
            root: Node::default(),
            root_menu: None,
            security,
        };
        let mut owner: HashMap<String, String> = HashMap::new();
        for (name, prefixes) in &owned {
            let err = |k: String, message: String| TransformError {
                key: format!("menus.{name}{k}"),
                message,
            };
            if !super::device::valid_name(name) {
                return Err(err(
                    String::new(),
                    format!("menu name {name:?}: 1 to 40 letters, digits, '_', '-' or '.'"),
                ));
            }
            if prefixes.is_empty() {
                return Err(err(String::new(), "no prefixes".into()));
            }
            let id = m.names.len() as u16;
            m.names.push(name.as_str().into());
            for (j, p) in prefixes.iter().enumerate() {
                let expanded: Vec<String> = if p.starts_with('/') {
                    vec![p.clone()]
                } else if !p.is_empty() && !p.contains('/') {
                    ALIAS_PREFIXES.iter().map(|a| a.replace("{}", p)).collect()
                } else {
                    return Err(err(
                        format!("[{j}]"),
                        format!("{p:?}: a path starting with '/' or a bare name"),
                    ));
                };
                for path in expanded {
                    let canon = path.to_ascii_lowercase();
                    if let Some(other) = owner.insert(canon.clone(), name.clone()) {
                        return Err(err(
                            format!("[{j}]"),
                            format!("prefix {path:?} is also a prefix of menu {other:?}"),
                        ));
                    }
                    m.insert(&canon, id)
                        .map_err(|msg| err(format!("[{j}]"), format!("{path:?}: {msg}")))?;
                }
            }
        }
        Ok(m)
    }

    fn insert(&mut self, path: &str, id: u16) -> Result<(), String> {
        if path == "/" {
            self.root_menu = Some(id);
            return Ok(());
        }
        let segs: Vec<&str> = path[1..].split('/').collect();
        if segs.len() > MAX_SEGMENTS {
            return Err(format!("at most {MAX_SEGMENTS} segments"));
        }
        let mut node = &mut self.root;
        for s in segs {
            if s.is_empty() || s.len() > MAX_SEGMENT_LEN || s.contains(['?', '#', '*']) {
                return Err(format!(
                    "segments are 1 to {MAX_SEGMENT_LEN} characters, without '?', '#' or '*'"
                ));
            }
            node = if s.starts_with(':') {
                node.any.get_or_insert_with(Default::default)
            } else {
                node.lit.entry(s.as_bytes().into()).or_default()
            };
        }
        node.menu = Some(id);
        Ok(())
    }

    /// Menu names, in table order (without `other`).
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }

    /// The name of a menu found by [`lookup`] (`None`: `other`).
    pub(super) fn name(&self, id: Option<u16>) -> &str {
        id.map_or(OTHER, |i| &self.names[i as usize])
    }

    /// The menu of `uri`: `Some(index)`, `None` for `other`; `Err(())` for a probe.
    fn find(&self, uri: &[u8], security: &mut UriMemo) -> Result<Option<u16>, ()> {
        if matches!(
            security.uri_kind(&self.security, uri),
            Some(SecurityKind::ScannerProbe | SecurityKind::PathTraversal)
        ) {
            return Err(());
        }
        let path = path_of(uri);
        if path.first() != Some(&b'/') {
            return Ok(None);
        }
        if path == b"/" {
            return Ok(self.root_menu);
        }
        let mut best = None;
        walk(&self.root, &path[1..], 0, &mut best);
        Ok(best.map(|(_, id)| id))
    }
}

/// Deepest node with a menu along the segments of `rest` (a literal segment before `:name`),
/// at most [`MAX_SEGMENTS`] deep. Each level lower-cases its segment into a small stack buffer.
fn walk(node: &Node, rest: &[u8], depth: usize, best: &mut Option<(usize, u16)>) {
    if let Some(id) = node.menu {
        if best.is_none_or(|(d, _)| depth > d) {
            *best = Some((depth, id));
        }
    }
    if depth == MAX_SEGMENTS || rest.is_empty() && node.lit.is_empty() && node.any.is_none() {
        return;
    }
    let end = memchr::memchr(b'/', rest).unwrap_or(rest.len());
    let (seg, next) = (&rest[..end], rest.get(end + 1..).unwrap_or_default());
    if !node.lit.is_empty() && seg.len() <= MAX_SEGMENT_LEN {
        let mut buf = [0u8; MAX_SEGMENT_LEN];
        for (d, s) in buf.iter_mut().zip(seg) {
            *d = s.to_ascii_lowercase();
        }
        if let Some(child) = node.lit.get(&buf[..seg.len()]) {
            walk(child, next, depth + 1, best);
        }
    }
    if let Some(child) = &node.any {
        if !seg.is_empty() {
            walk(child, next, depth + 1, best);
        }
    }
}

/// The last URI looked up, with its answer: three labels of a line ask about the same URI.
#[derive(Debug)]
pub struct MenuState {
    set: usize,
    input: Vec<u8>,
    output: Result<Option<u16>, ()>,
}

impl Default for MenuState {
    fn default() -> Self {
        MenuState {
            set: 0,
            input: Vec::new(),
            output: Ok(None),
        }
    }
}

/// The menu of `uri`: `Ok(Some(index))`, `Ok(None)` for `other`, `Err(())` for a probe;
/// remembered for the next label of the line asking about the same URI.
#[inline]
pub(super) fn lookup(
    menus: &Arc<Menus>,
    uri: &[u8],
    st: &mut MenuState,
    security: &mut UriMemo,
) -> Result<Option<u16>, ()> {
    let set = Arc::as_ptr(menus) as usize;
    if st.set != set || st.input != uri {
        st.output = menus.find(uri, security);
        st.set = set;
        st.input.clear();
        st.input.extend_from_slice(uri);
    }
    st.output
}

/// Write the menu of `uri` into `out`; false for a probe (no value). `security` holds the
/// URI's security conditions, shared with the security label of the same line.
#[inline]
pub fn menu(
    menus: &Arc<Menus>,
    uri: &[u8],
    st: &mut MenuState,
    security: &mut UriMemo,
    out: &mut Vec<u8>,
) -> bool {
    match lookup(menus, uri, st, security) {
        Ok(id) => out.extend_from_slice(menus.name(id).as_bytes()),
        Err(()) => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(menus: &Arc<Menus>, uri: &str) -> String {
        let mut out = Vec::new();
        let (mut st, mut sec) = (MenuState::default(), UriMemo::default());
        if !menu(menus, uri.as_bytes(), &mut st, &mut sec, &mut out) {
            return "(probe)".into();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn groupware_defaults() {
        let d = Arc::new(Menus::new(None, Arc::new(SecurityRules::builtin())).unwrap());
        for (uri, want) in [
            ("/", "home"),
            ("/?lang=ko", "home"),
            ("/mail/list?folder=inbox", "mail"),
            ("/Mail/List", "mail"),
            ("/api/v1/mail/items/48213", "mail"),
            ("/api/mail/items/1", "mail"),
            ("/app/approval/doc/77", "approval"),
            ("/m/calendar/week", "calendar"),
            ("/approval", "approval"),
            ("/approvals", "other"),
            ("/static/mail/app.3f9a.js", "static"),
            ("/favicon.ico", "static"),
            ("https://acme.office.example.com/board/list", "board"),
            ("/api/v1/users/7", "other"),
            ("*", "other"),
            ("", "other"),
            ("/.env", "(probe)"),
            ("/mail/.git/config", "(probe)"),
            ("/wp-login.php", "(probe)"),
            ("/phpmyadmin/index.php", "(probe)"),
            ("/cgi-bin/test.cgi", "(probe)"),
            ("/board/../../etc/passwd", "(probe)"),
            ("/.well-known/security.txt", "other"),
        ] {
            assert_eq!(m(&d, uri), want, "{uri}");
        }
        assert_eq!(d.names().len(), DEFAULT_MENUS.len());
    }

    #[test]
    fn user_tables_longest_prefix_wins() {
        let t: BTreeMap<String, Vec<String>> = [
            ("mail".to_string(), vec!["/mail".to_string()]),
            ("mail_read".to_string(), vec!["/mail/read".to_string()]),
            ("tenant_api".to_string(), vec!["/t/:tenant/api".to_string()]),
            ("api".to_string(), vec!["/t/:tenant".to_string()]),
        ]
        .into();
        let d = Arc::new(Menus::new(Some(&t), Arc::new(SecurityRules::builtin())).unwrap());
        assert_eq!(m(&d, "/mail/list"), "mail");
        assert_eq!(m(&d, "/mail/read/5"), "mail_read");
        assert_eq!(m(&d, "/t/acme/api/x"), "tenant_api");
        assert_eq!(m(&d, "/t/acme/web"), "api");
        assert_eq!(m(&d, "/"), "other");
        let long = format!("/mail/{}", "x".repeat(5000));
        assert_eq!(m(&d, &long), "mail");
    }

    #[test]
    fn bad_tables_name_their_key() {
        let bad = |t: &[(&str, &[&str])]| {
            let t: BTreeMap<String, Vec<String>> = t
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect();
            Menus::new(Some(&t), Arc::new(SecurityRules::builtin()))
                .unwrap_err()
                .key
        };
        assert_eq!(bad(&[("a", &["/x", "y/z"])]), "menus.a[1]");
        assert_eq!(bad(&[("a", &["/x"]), ("b", &["/X"])]), "menus.b[0]");
        assert_eq!(bad(&[("bad name", &["/x"])]), "menus.bad name");
        assert_eq!(bad(&[("a", &["/x//y"])]), "menus.a[0]");
        assert_eq!(bad(&[]), "menus");
    }
}
