//! `transform: tenant`: a host (or a header or path value) → the tenant (customer company) it
//! belongs to, from the source's `tenant_map`:
//! 1. `hosts` and the lines of `file`: a host (`gw.jinsoft.co.kr`), a wildcard
//!    (`*.jinsoft.co.kr`: its subdomains) or any other value (a header's, a path segment's) →
//!    a tenant; exact entries first, then the longest wildcard;
//! 2. `domains`: `<tenant>.<domain>` → `<tenant>` (one label of letters, digits and `-`);
//! 3. nothing else: no value (the label's `default`, e.g. `other`).
//!
//! Values are compared in lower case, a host without its `:port` and trailing dot. The file
//! (`<host> <tenant>` per line, `#` comments) is read when the config is, so a reload (SIGHUP,
//! `POST /-/reload`) picks up its changes; a bad line rejects the config with the file and line.
//! The referrer transforms of the source count every host resolved here as `internal`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::TransformError;

/// Largest `tenant_map.file` read.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Most entries (`hosts` and `file` together).
pub const MAX_ENTRIES: usize = 200_000;
/// Longest tenant name.
const MAX_TENANT_LEN: usize = 63;
/// Longest key (a host name has at most 253 characters).
const MAX_KEY_LEN: usize = 253;

/// `tenant_map:` options as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    /// The service's domains: a host `<tenant>.<domain>` is tenant `<tenant>`.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Host (or `*.domain`, or a header or path value) → tenant.
    #[serde(default)]
    pub hosts: BTreeMap<String, String>,
    /// A file of more entries, one `<host> <tenant>` per line, re-read on every reload.
    pub file: Option<PathBuf>,
}

/// A compiled `tenant_map`.
#[derive(Debug, Default)]
pub struct TenantMap {
    domains: Vec<Box<[u8]>>,
    exact: HashMap<Box<[u8]>, Box<str>>,
    /// Suffix after `*.` → tenant.
    wildcard: HashMap<Box<[u8]>, Box<str>>,
    /// The file and a digest of what was read from it.
    file: Option<(PathBuf, u64)>,
}

/// A tenant name: a label value the dashboards show (letters, digits, `_`, `-`, `.`).
fn valid_tenant(t: &str) -> bool {
    (1..=MAX_TENANT_LEN).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A key: printable ASCII without spaces (hosts, header values, path segments).
fn valid_key(k: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
}

fn valid_domain(d: &str) -> bool {
    d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.len() <= MAX_KEY_LEN
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

impl TenantMap {
    /// Check and compile, reading `spec.file`; errors name the key (`tenant_map.hosts`) or the
    /// file and line.
    pub fn new(spec: &TenantSpec) -> Result<TenantMap, TransformError> {
        let err = |key: &str, message: String| TransformError {
            key: format!("tenant_map{key}"),
            message,
        };
        let mut m = TenantMap::default();
        for (i, d) in spec.domains.iter().enumerate() {
            let d = d.strip_prefix("*.").unwrap_or(d).to_ascii_lowercase();
            if !valid_domain(&d) {
                return Err(err(
                    &format!(".domains[{i}]"),
                    format!("{d:?} is not a domain name (e.g. office.example.com)"),
                ));
            }
            m.domains.push(d.into_bytes().into());
        }
        let mut origin: HashMap<Box<[u8]>, String> = HashMap::new();
        for (k, t) in &spec.hosts {
            m.insert(k, t, format!("hosts.{k}"), &mut origin)
                .map_err(|e| err(&format!(".hosts.{k}"), e))?;
        }
        if let Some(path) = &spec.file {
            let text = read_file(path).map_err(|e| err(".file", e))?;
            let mut h = std::hash::DefaultHasher::new();
            text.hash(&mut h);
            m.file = Some((path.clone(), h.finish()));
            for (n, line) in text.lines().enumerate() {
                let at = format!("{}:{}", path.display(), n + 1);
                let line = line.split('#').next().unwrap_or_default().trim();
                if line.is_empty() {
                    continue;
                }
                let mut words = line.split_whitespace();
                let (Some(k), Some(t), None) = (words.next(), words.next(), words.next()) else {
                    return Err(err(
                        ".file",
                        format!("{at}: expected `<host> <tenant>`, found {line:?}"),
                    ));
                };
                m.insert(k, t, at.clone(), &mut origin)
                    .map_err(|e| err(".file", format!("{at}: {e}")))?;
            }
        }
        if m.exact.len() + m.wildcard.len() > MAX_ENTRIES {
            return Err(err(
                "",
                format!("more than {MAX_ENTRIES} entries in hosts and file"),
            ));
        }
        Ok(m)
    }

    fn insert(
        &mut self,
        key: &str,
        tenant: &str,
        at: String,
        origin: &mut HashMap<Box<[u8]>, String>,
    ) -> Result<(), String> {
        if !valid_key(key) {
            return Err(format!(
                "{key:?}: a host, `*.domain` or value of 1 to {MAX_KEY_LEN} printable characters"
            ));
        }
        if !valid_tenant(tenant) {
            return Err(format!(
                "tenant {tenant:?}: 1 to {MAX_TENANT_LEN} letters, digits, '_', '-' or '.'"
            ));
        }
        let lower = key.to_ascii_lowercase();
        let (table, k) = match lower.strip_prefix("*.") {
            Some(suffix) => (&mut self.wildcard, suffix.as_bytes()),
            None => (&mut self.exact, lower.as_bytes()),
        };
        let k: Box<[u8]> = k.into();
        if let Some(t) = table.get(&k) {
            if &**t != tenant {
                let first = origin.get(lower.as_bytes()).cloned().unwrap_or_default();
                return Err(format!("{key:?} is also mapped to {t:?} ({first})"));
            }
        }
        origin.insert(lower.as_bytes().into(), at);
        table.insert(k, tenant.into());
        Ok(())
    }

    /// The file read and the digest of its content: a reload restarts the sources whose
    /// file changed.
    pub fn input(&self) -> Option<&(PathBuf, u64)> {
        self.file.as_ref()
    }

    /// The tenant of `v` (a host, a header or path value), written into `out`.
    pub fn resolve(&self, v: &[u8], out: &mut Vec<u8>) -> bool {
        let mut buf = [0u8; MAX_KEY_LEN];
        let Some(key) = normalize(v, &mut buf) else {
            return false;
        };
        if let Some(t) = self.lookup(key) {
            out.extend_from_slice(t.as_bytes());
            return true;
        }
        if let Some(t) = self.domain_tenant(key) {
            out.extend_from_slice(t);
            return true;
        }
        false
    }

    /// Whether `host` (lower case, no port) belongs to a tenant: a referrer from it is internal.
    pub fn is_tenant_host(&self, host: &[u8]) -> bool {
        self.lookup(host).is_some()
            || self.domain_tenant(host).is_some()
            || self.domains.iter().any(|d| host == &**d)
    }

    fn lookup(&self, key: &[u8]) -> Option<&str> {
        if let Some(t) = self.exact.get(key) {
            return Some(t);
        }
        if self.wildcard.is_empty() {
            return None;
        }
        // Longest suffix first: the first dot from the left.
        memchr::memchr_iter(b'.', key).find_map(|i| self.wildcard.get(&key[i + 1..]).map(|t| &**t))
    }

    fn domain_tenant<'a>(&self, host: &'a [u8]) -> Option<&'a [u8]> {
        self.domains.iter().find_map(|d| {
            let label = host.strip_suffix(&**d)?.strip_suffix(b".")?;
            let ok = (1..=MAX_TENANT_LEN).contains(&label.len())
                && label
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
            ok.then_some(label)
        })
    }
}

/// `v` in lower case, without a `:port` after a host or a trailing dot; `None` when it cannot be
/// a key (empty, too long, not printable ASCII).
fn normalize<'a>(v: &[u8], buf: &'a mut [u8; MAX_KEY_LEN]) -> Option<&'a [u8]> {
    let mut v = v;
    if let Some(c) = memchr::memrchr(b':', v) {
        if c + 1 < v.len() && v[c + 1..].iter().all(u8::is_ascii_digit) && !v[..c].contains(&b':') {
            v = &v[..c];
        }
    }
    while let [rest @ .., b'.'] = v {
        v = rest;
    }
    if v.is_empty() || v.len() > MAX_KEY_LEN || !v.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    let out = &mut buf[..v.len()];
    for (d, s) in out.iter_mut().zip(v) {
        *d = s.to_ascii_lowercase();
    }
    Some(out)
}

/// The file's text, at most [`MAX_FILE_BYTES`], UTF-8. A regular file only: opening a FIFO
/// would wait for a writer, and a device has no end ([`crate::regular::open`]).
fn read_file(path: &Path) -> Result<String, String> {
    let name = path.display();
    let (f, _) = crate::regular::open(path, true).map_err(|e| match e {
        crate::regular::OpenError::Io(e) => format!("{name}: {e}"),
        crate::regular::OpenError::NotRegular(_) => format!("{name}: not a regular file"),
    })?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{name}: larger than {} MiB", MAX_FILE_BYTES >> 20));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{name}: not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(m: &TenantMap, v: &str) -> Option<String> {
        let mut out = Vec::new();
        m.resolve(v.as_bytes(), &mut out)
            .then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn hosts_wildcards_domains_then_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tenants");
        std::fs::write(
            &file,
            "# custom domains\ngw.jinsoft.co.kr   jinsoft\n*.hanbit.kr hanbit  # all of them\n\nmail.hanbit.kr hanbit-mail\nacme-corp acme\n",
        )
        .unwrap();
        let m = TenantMap::new(&TenantSpec {
            domains: vec!["office.example.com".into()],
            hosts: [("GW.Daehan.com".to_string(), "daehan".to_string())].into(),
            file: Some(file),
        })
        .unwrap();
        for (v, want) in [
            ("acme.office.example.com", Some("acme")),
            ("ACME.Office.Example.com:443", Some("acme")),
            ("acme.office.example.com.", Some("acme")),
            ("gw.jinsoft.co.kr", Some("jinsoft")),
            ("gw.daehan.com", Some("daehan")),
            ("x.hanbit.kr", Some("hanbit")),
            ("a.b.hanbit.kr", Some("hanbit")),
            ("mail.hanbit.kr", Some("hanbit-mail")),
            ("hanbit.kr", None),
            ("acme-corp", Some("acme")),
            ("a.b.office.example.com", None),
            ("office.example.com", None),
            ("203.0.113.250", None),
            ("_", None),
            ("", None),
            ("gw.jinsoft.co.kr.evil.net", None),
            ("bad\u{1b}host", None),
        ] {
            assert_eq!(resolve(&m, v).as_deref(), want, "{v}");
        }
        assert!(m.is_tenant_host(b"gw.jinsoft.co.kr"));
        assert!(m.is_tenant_host(b"office.example.com"));
        assert!(!m.is_tenant_host(b"www.example.co.kr"));
        assert!(m.input().is_some());
    }

    #[test]
    fn bad_entries_name_their_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tenants");
        let err = |text: &str| {
            std::fs::write(&file, text).unwrap();
            let e = TenantMap::new(&TenantSpec {
                file: Some(file.clone()),
                ..Default::default()
            })
            .unwrap_err();
            (e.key, e.message)
        };
        let (key, msg) = err("a.example.com a\nb.example.com\n");
        assert_eq!(key, "tenant_map.file");
        assert!(
            msg.ends_with(":2: expected `<host> <tenant>`, found \"b.example.com\""),
            "{msg}"
        );
        let (_, msg) = err("a.example.com a\na.example.com b\n");
        assert!(
            msg.contains(":2: \"a.example.com\" is also mapped to \"a\""),
            "{msg}"
        );
        assert!(msg.contains(":1)"), "{msg}");
        let (_, msg) = err("a.example.com bad/name\n");
        assert!(msg.contains("tenant \"bad/name\""), "{msg}");
        let missing = TenantMap::new(&TenantSpec {
            file: Some(dir.path().join("missing")),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(missing.key, "tenant_map.file");
        assert!(missing.message.contains("missing"), "{}", missing.message);
        // A FIFO is opened without waiting for a writer, then refused.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for not_a_file in [dir.path().to_path_buf(), "/dev/zero".into(), fifo] {
            let e = TenantMap::new(&TenantSpec {
                file: Some(not_a_file),
                ..Default::default()
            })
            .unwrap_err();
            assert!(e.message.ends_with("not a regular file"), "{}", e.message);
        }
        let e = TenantMap::new(&TenantSpec {
            domains: vec!["example".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.key, "tenant_map.domains[0]");
    }

    #[test]
    fn the_digest_follows_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tenants");
        let spec = TenantSpec {
            file: Some(file.clone()),
            ..Default::default()
        };
        std::fs::write(&file, "a.example.com a\n").unwrap();
        let one = TenantMap::new(&spec).unwrap().input().cloned();
        assert_eq!(TenantMap::new(&spec).unwrap().input().cloned(), one);
        std::fs::write(&file, "a.example.com a\nb.example.com b\n").unwrap();
        assert_ne!(TenantMap::new(&spec).unwrap().input().cloned(), one);
    }
}
