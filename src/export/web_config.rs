//! `--web.config.file`: the web configuration file of Prometheus' exporter-toolkit (the one
//! node_exporter, Prometheus and Alertmanager read), so one file and one habit serve them all.
//!
//! Two stages like the main config: [`RawWebConfig`] (serde, unknown keys refused) →
//! [`WebConfig`] (files read, hashes and headers checked, TLS built). [`WebConfigFile`] re-reads
//! the file when it or a file it names changes (certificate rotation without a restart), at most
//! once per [`RECHECK`]; a broken new version is logged and the last good one kept.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::tls::{self, ClientAuth, TlsSettings};

/// How often the files are stat'ed for changes (exporter-toolkit re-reads them per request).
pub const RECHECK: Duration = Duration::from_secs(1);

/// A web config that cannot be used; names the file and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {msg}")]
pub struct WebConfigError {
    /// The web config file.
    pub file: String,
    /// The key at fault (`-` for the file as a whole).
    pub key: String,
    /// What is wrong.
    pub msg: String,
}

/// The file as written (exporter-toolkit's keys).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    interval: Option<String>,
    burst: Option<u32>,
}

/// Token bucket: `burst` requests at once, one more every `interval`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Time for one token.
    pub interval: Duration,
    /// Bucket size.
    pub burst: u32,
}

/// A validated web config.
#[derive(Default)]
pub struct WebConfig {
    /// TLS, when `tls_server_config` is set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User → bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// Extra response headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `rate_limit`, when its interval is not 0.
    pub rate_limit: Option<RateLimit>,
    /// Every client presents a certificate verified against the client CA
    /// (`RequireAndVerifyClientCert`): every request is authenticated.
    pub clients_verified: bool,
    /// Files the config names (re-read when they change).
    files: Vec<PathBuf>,
}

/// Headers exporter-toolkit lets a config set, with the values allowed (empty: any).
const HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// `$2a$`/`$2b$`/`$2x$`/`$2y$`, two-digit cost 4..=31, 53 characters of bcrypt base64.
fn is_bcrypt(h: &str) -> bool {
    let b = h.as_bytes();
    b.len() == 60
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && h[4..6].parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
        && b[6] == b'$'
        && b[7..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/')
}

impl WebConfig {
    /// Read and validate `path` (and the files it names).
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let file = path.display().to_string();
        let e = |key: &str, msg: String| WebConfigError {
            file: file.clone(),
            key: key.to_string(),
            msg,
        };
        let text =
            std::fs::read_to_string(path).map_err(|x| e("-", format!("cannot read: {x}")))?;
        // An empty (or all-comment) file is a valid, empty config in exporter-toolkit.
        let raw: RawWebConfig = serde_saphyr::from_str::<Option<RawWebConfig>>(&text)
            .map_err(|x| e("-", x.to_string()))?
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::validate(raw, dir).map_err(|(key, msg)| e(&key, msg))
    }

    fn validate(raw: RawWebConfig, dir: &Path) -> Result<WebConfig, (String, String)> {
        let mut out = WebConfig::default();
        for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
            if !is_bcrypt(&hash) {
                return Err((
                    format!("basic_auth_users.{user}"),
                    "is not a bcrypt hash (make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
                        .into(),
                ));
            }
            out.users.insert(user, hash);
        }
        let http = raw.http_server_config.unwrap_or_default();
        if http.http2 == Some(true) {
            tracing::info!("http_server_config.http2: HTTP/2 is not served; HTTP/1.1 only");
        }
        for (name, value) in http.headers.unwrap_or_default() {
            let key = format!("http_server_config.headers.{name}");
            let Some((_, allowed)) = HEADERS.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = HEADERS.iter().map(|(n, _)| *n).collect();
                return Err((
                    key,
                    format!("cannot be configured; one of {}", names.join(", ")),
                ));
            };
            if value.is_empty() {
                continue;
            }
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err((key, format!("{value:?} is not one of {allowed:?}")));
            }
            let v = HeaderValue::from_str(&value)
                .map_err(|_| (key.clone(), "is not a valid header value".to_string()))?;
            out.headers
                .push((HeaderName::from_static(lower(name.as_str())), v));
        }
        if let Some(r) = raw.rate_limit {
            let interval = match r.interval.as_deref() {
                None => Duration::ZERO,
                Some(s) => crate::config::parse_duration(s).ok_or_else(|| {
                    (
                        "rate_limit.interval".to_string(),
                        format!("{s:?} is not a duration (500ms, 1s, 1m)"),
                    )
                })?,
            };
            if !interval.is_zero() {
                let burst = r.burst.unwrap_or(0);
                if burst == 0 {
                    return Err((
                        "rate_limit.burst".into(),
                        "must be at least 1 when interval is set".into(),
                    ));
                }
                out.rate_limit = Some(RateLimit { interval, burst });
            }
        }
        if let Some(t) = raw.tls_server_config {
            out.clients_verified =
                t.client_auth_type.as_deref() == Some("RequireAndVerifyClientCert");
            let tls = Self::tls(t, dir, &mut out.files)?;
            out.tls = Some(Arc::new(tls));
        }
        Ok(out)
    }

    fn tls(
        t: RawTls,
        dir: &Path,
        files: &mut Vec<PathBuf>,
    ) -> Result<rustls::ServerConfig, (String, String)> {
        let k = |key: &str, msg: String| (format!("tls_server_config.{key}"), msg);
        if t.client_allowed_sans.is_some() {
            return Err(k("client_allowed_sans", "is not supported by logpulse; use a dedicated client CA with RequireAndVerifyClientCert".into()));
        }
        let mut read =
            |inline: Option<String>, file: Option<PathBuf>, ikey: &str, fkey: &str| match (
                inline, file,
            ) {
                (Some(_), Some(_)) => {
                    Err(k(ikey, format!("give either {ikey} or {fkey}, not both")))
                }
                (Some(text), None) => Ok(Some(text.into_bytes())),
                (None, Some(p)) => {
                    let p = dir.join(p);
                    let bytes = std::fs::read(&p)
                        .map_err(|e| k(fkey, format!("cannot read {}: {e}", p.display())))?;
                    files.push(p);
                    Ok(Some(bytes))
                }
                (None, None) => Ok(None),
            };
        let cert_pem = read(t.cert, t.cert_file, "cert", "cert_file")?
            .ok_or_else(|| k("cert_file", "missing (or an inline cert)".into()))?;
        let key_pem = read(t.key, t.key_file, "key", "key_file")?
            .ok_or_else(|| k("key_file", "missing (or an inline key)".into()))?;
        let ca_key = if t.client_ca.is_some() {
            "tls_server_config.client_ca"
        } else {
            "tls_server_config.client_ca_file"
        };
        let client_ca_pem = read(t.client_ca, t.client_ca_file, "client_ca", "client_ca_file")?;
        let client_auth = ClientAuth::parse(t.client_auth_type.as_deref().unwrap_or(""))
            .map_err(|m| k("client_auth_type", m))?;
        let s = TlsSettings {
            cert_pem,
            key_pem,
            client_ca_pem,
            client_auth,
            min_version: t.min_version,
            max_version: t.max_version,
            cipher_suites: t.cipher_suites.unwrap_or_default(),
            curves: t.curve_preferences.unwrap_or_default(),
            prefer_server: t.prefer_server_cipher_suites.unwrap_or(true),
        };
        tls::server_config(&s, ca_key).map_err(|e| (e.key.to_string(), e.msg))
    }
}

/// Header names as `HeaderName` wants them (lower case, static).
fn lower(name: &str) -> &'static str {
    match name {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

/// (dev, inode, size, mtime ns) of a file, or None when it cannot be stat'ed.
type Stamp = Option<(u64, u64, u64, i64)>;

fn stamp(p: &Path) -> Stamp {
    // metadata() follows symlinks: a Kubernetes secret swaps a `..data` link, which changes
    // the inode seen here.
    std::fs::metadata(p).ok().map(|m| {
        (
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        )
    })
}

struct State {
    checked: Instant,
    stamps: Vec<Stamp>,
    current: Arc<WebConfig>,
    /// The last reload error, logged once until it changes.
    error: Option<String>,
}

/// The web config file, re-read when it or a file it names changes.
pub struct WebConfigFile {
    path: PathBuf,
    state: Mutex<State>,
}

impl WebConfigFile {
    /// Load `path`; an error stops start-up.
    pub fn open(path: &Path) -> Result<WebConfigFile, WebConfigError> {
        let stamps_before = stamp(path);
        let cfg = WebConfig::load(path)?;
        let mut stamps = vec![stamps_before];
        stamps.extend(cfg.files.iter().map(|f| stamp(f)));
        Ok(WebConfigFile {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                checked: Instant::now(),
                stamps,
                current: Arc::new(cfg),
                error: None,
            }),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The config in force: re-read when a file changed since the last check (checks at most
    /// once per [`RECHECK`]). A new version that fails is logged and the last good one kept;
    /// so is one that turns TLS on or off, which needs a restart (the listener is set up once).
    pub fn current(&self) -> Arc<WebConfig> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.checked.elapsed() < RECHECK {
            return st.current.clone();
        }
        st.checked = Instant::now();
        let mut now = vec![stamp(&self.path)];
        now.extend(st.current.files.iter().map(|f| stamp(f)));
        if now == st.stamps {
            return st.current.clone();
        }
        let outcome = WebConfig::load(&self.path).and_then(|c| {
            if c.tls.is_some() != st.current.tls.is_some() {
                Err(WebConfigError {
                    file: self.path.display().to_string(),
                    key: "tls_server_config".into(),
                    msg: "turning TLS on or off needs a restart".into(),
                })
            } else {
                Ok(c)
            }
        });
        match outcome {
            Ok(c) => {
                // Stamps of the new config's files (it may name other files).
                let mut stamps = vec![now[0]];
                stamps.extend(c.files.iter().map(|f| stamp(f)));
                st.stamps = stamps;
                st.current = Arc::new(c);
                st.error = None;
                tracing::info!(file = %self.path.display(), "web config reloaded");
            }
            Err(e) => {
                // Not retried until a file changes again.
                st.stamps = now;
                let msg = e.to_string();
                if st.error.as_deref() != Some(msg.as_str()) {
                    tracing::error!("{msg}; keeping the web config loaded before");
                }
                st.error = Some(msg);
            }
        }
        st.current.clone()
    }

    /// Why the last reload failed, while the file stays broken.
    pub fn reload_error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$04$6fXVf0Yl/v3dOhk2ZBqY3.bDfGLpSgYGhY9pEO4KgfQzUo9TtZ8aS";

    fn load(dir: &Path, text: &str) -> Result<WebConfig, WebConfigError> {
        let p = dir.join("web.yml");
        std::fs::write(&p, text).unwrap();
        WebConfig::load(&p)
    }

    fn certs(dir: &Path) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(dir.join("c.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.join("k.pem"), ck.signing_key.serialize_pem()).unwrap();
    }

    #[test]
    fn empty_file_means_nothing_on() {
        let d = tempfile::tempdir().unwrap();
        for text in ["", "# all commented out\n# basic_auth_users:\n"] {
            let c = load(d.path(), text).unwrap();
            assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
        }
    }

    #[test]
    fn errors_name_file_and_key() {
        let d = tempfile::tempdir().unwrap();
        let e = load(
            d.path(),
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: k.pem\n",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("web.yml: tls_server_config.cert_file: cannot read"),
            "{e}"
        );
        let e = load(d.path(), "basic_auth_users:\n  alice: secret\n")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("basic_auth_users.alice: is not a bcrypt hash"),
            "{e}"
        );
        let e = load(d.path(), "tls:\n  x: 1\n").err().unwrap().to_string();
        assert!(e.contains("web.yml") && e.contains("tls"), "{e}");
        let e = load(d.path(), "http_server_config:\n  headers:\n    Server: x\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("headers.Server: cannot be configured"), "{e}");
        let e = load(
            d.path(),
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("X-Frame-Options") && e.contains("sameorigin"),
            "{e}"
        );
        let e = load(d.path(), "rate_limit:\n  interval: 1s\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("rate_limit.burst"), "{e}");
        certs(d.path());
        let e = load(d.path(), "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_allowed_sans: [a]\n").err().unwrap().to_string();
        assert!(e.contains("client_allowed_sans"), "{e}");
        let e = load(d.path(), "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_auth_type: Maybe\n").err().unwrap().to_string();
        assert!(
            e.contains("tls_server_config.client_auth_type: unknown"),
            "{e}"
        );
    }

    #[test]
    fn full_config_loads_relative_to_its_directory() {
        let d = tempfile::tempdir().unwrap();
        certs(d.path());
        let c = load(
            d.path(),
            &format!(
                "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n\
                 http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    Content-Security-Policy: \"default-src 'self'\"\n\
                 basic_auth_users:\n  prometheus: '{HASH}'\nrate_limit:\n  interval: 100ms\n  burst: 5\n"
            ),
        )
        .unwrap();
        assert!(c.tls.is_some());
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.headers.len(), 2);
        assert_eq!(
            c.rate_limit,
            Some(RateLimit {
                interval: Duration::from_millis(100),
                burst: 5
            })
        );
        assert_eq!(c.files.len(), 2);
    }

    #[test]
    fn inline_cert_and_key() {
        let d = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let indent = |s: String| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
        let text = format!(
            "tls_server_config:\n  cert: |\n{}  key: |\n{}",
            indent(ck.cert.pem()),
            indent(ck.signing_key.serialize_pem())
        );
        assert!(load(d.path(), &text).unwrap().tls.is_some());
        let both = format!("{text}  cert_file: c.pem\n");
        let e = load(d.path(), &both).err().unwrap().to_string();
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn reload_keeps_the_last_good_config() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("web.yml");
        std::fs::write(&p, format!("basic_auth_users:\n  a: '{HASH}'\n")).unwrap();
        let f = WebConfigFile::open(&p).unwrap();
        assert_eq!(f.current().users.len(), 1);
        std::fs::write(&p, "basic_auth_users:\n  a: plain\n  b: plain\n").unwrap();
        f.state.lock().unwrap().checked -= RECHECK;
        assert_eq!(f.current().users.len(), 1, "broken file: last good kept");
        assert!(f.reload_error().unwrap().contains("basic_auth_users.a"));
        std::fs::write(
            &p,
            format!("basic_auth_users:\n  a: '{HASH}'\n  b: '{HASH}'\n"),
        )
        .unwrap();
        f.state.lock().unwrap().checked -= RECHECK;
        assert_eq!(f.current().users.len(), 2);
        assert!(f.reload_error().is_none());
    }

    #[test]
    fn bcrypt_shape() {
        assert!(is_bcrypt(HASH));
        assert!(!is_bcrypt(
            "$2y$99$6fXVf0Yl/v3dOhk2ZBqY3.bDfGLpSgYGhY9pEO4KgfQzUo9TtZ8aS"
        ));
        assert!(!is_bcrypt("$1$abc"));
    }
}
