//! How `logpulse lines` reaches the agents and Prometheus: `--http.config.file` (the keys of a
//! Prometheus scrape job's HTTP client, `basic_auth` and `tls_config`, so the block can be
//! copied from `prometheus.yml`) and flags, which override the file's `agents:` block.
//!
//! ```yaml
//! agents:                     # as the scrape job of the agents
//!   basic_auth: {username: prometheus, password_file: scrape-password}
//!   tls_config: {ca_file: ca.pem, cert_file: client.pem, key_file: client-key.pem}
//! prometheus:                 # only when Prometheus itself sits behind a web config
//!   basic_auth: {username: sre, password_file: prometheus-password}
//!   tls_config: {ca_file: ca.pem, server_name: prometheus.example.com}
//! ```
//!
//! Two stages like the other configs: raw (serde, unknown keys refused) → [`Endpoint`]s (files
//! read, certificates parsed). Relative paths are relative to the file, as in Prometheus.
//! A password is never a flag: `password_file`, `password` in the (protected) file, or the
//! `LOGPULSE_LINES_PASSWORD` environment variable with `--basic-auth.username`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::http::{basic_auth, Endpoint};

/// The environment variable holding the agents' basic-auth password.
pub const PASSWORD_ENV: &str = "LOGPULSE_LINES_PASSWORD";

/// A client setting that cannot be used; names the file (or flag) and key.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {key}: {msg}")]
pub struct ClientConfigError {
    /// The config file, or `flags`.
    pub place: String,
    /// The key (or flag) at fault.
    pub key: String,
    /// What is wrong.
    pub msg: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    agents: Option<RawHttp>,
    prometheus: Option<RawHttp>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    basic_auth: Option<RawBasic>,
    tls_config: Option<RawTls>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasic {
    username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
}

/// What the flags say about the agents (each overrides the file's key).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--http.config.file`.
    pub file: Option<PathBuf>,
    /// `--tls.ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--tls.cert-file`.
    pub cert_file: Option<PathBuf>,
    /// `--tls.key-file`.
    pub key_file: Option<PathBuf>,
    /// `--tls.server-name`.
    pub server_name: Option<String>,
    /// `--basic-auth.username`.
    pub username: Option<String>,
    /// `--basic-auth.password-file`.
    pub password_file: Option<PathBuf>,
}

/// The agents' and Prometheus' endpoints.
pub struct Endpoints {
    /// How to reach the agents.
    pub agents: Endpoint,
    /// How to reach Prometheus.
    pub prometheus: Endpoint,
}

/// Read the file (if any), apply the flags and `password_env` (the value of
/// [`PASSWORD_ENV`], passed in so tests need not set the process environment).
pub fn load(flags: &Flags, password_env: Option<String>) -> Result<Endpoints, ClientConfigError> {
    let (raw, place, dir) = match &flags.file {
        Some(p) => {
            let place = p.display().to_string();
            let e = |msg: String| ClientConfigError {
                place: place.clone(),
                key: "-".into(),
                msg,
            };
            let text = std::fs::read_to_string(p).map_err(|x| e(format!("cannot read: {x}")))?;
            let raw = serde_saphyr::from_str::<Option<RawFile>>(&text)
                .map_err(|x| e(x.to_string()))?
                .unwrap_or_default();
            let dir = p.parent().unwrap_or(Path::new(".")).to_path_buf();
            (raw, place, dir)
        }
        None => (RawFile::default(), "flags".to_string(), PathBuf::from(".")),
    };
    let file_agents = raw.agents.unwrap_or_default();
    let prometheus = endpoint(
        &raw.prometheus.unwrap_or_default(),
        &dir,
        &place,
        "prometheus",
        None,
    )?;
    // Flags replace the file's keys one by one; their paths are the shell's (relative to the
    // working directory), so they are made absolute before joining with the file's directory.
    let cwd = std::env::current_dir().unwrap_or_default();
    let abs = |p: &Option<PathBuf>| p.as_ref().map(|p| cwd.join(p));
    let mut a = file_agents.clone();
    let mut tls = a.tls_config.take().unwrap_or_default();
    let mut any_tls = file_agents.tls_config.is_some();
    for (slot, flag) in [
        (&mut tls.ca_file, abs(&flags.ca_file)),
        (&mut tls.cert_file, abs(&flags.cert_file)),
        (&mut tls.key_file, abs(&flags.key_file)),
    ] {
        if flag.is_some() {
            *slot = flag;
            any_tls = true;
        }
    }
    if flags.server_name.is_some() {
        tls.server_name = flags.server_name.clone();
        any_tls = true;
    }
    a.tls_config = any_tls.then_some(tls);
    if let Some(u) = &flags.username {
        a.basic_auth = Some(RawBasic {
            username: u.clone(),
            password: None,
            password_file: abs(&flags.password_file),
        });
    } else if flags.password_file.is_some() {
        return Err(ClientConfigError {
            place: "flags".into(),
            key: "--basic-auth.password-file".into(),
            msg: "needs --basic-auth.username".into(),
        });
    }
    let agents = endpoint(&a, &dir, &place, "agents", password_env)?;
    Ok(Endpoints { agents, prometheus })
}

fn endpoint(
    raw: &RawHttp,
    dir: &Path,
    place: &str,
    block: &str,
    password_env: Option<String>,
) -> Result<Endpoint, ClientConfigError> {
    let err = |key: &str, msg: String| ClientConfigError {
        place: place.to_string(),
        key: format!("{block}.{key}"),
        msg,
    };
    let mut ep = Endpoint::default();
    if let Some(b) = &raw.basic_auth {
        let password = match (&b.password, &b.password_file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "basic_auth",
                    "give either password or password_file, not both".into(),
                ))
            }
            (Some(p), None) => p.clone(),
            (None, Some(f)) => {
                let f = dir.join(f);
                // As Prometheus does: the file's content, surrounding whitespace removed.
                std::fs::read_to_string(&f)
                    .map_err(|e| {
                        err(
                            "basic_auth.password_file",
                            format!("cannot read {}: {e}", f.display()),
                        )
                    })?
                    .trim()
                    .to_string()
            }
            (None, None) => password_env.ok_or_else(|| {
                err(
                    "basic_auth",
                    format!(
                        "user {:?} has no password: give password_file (--basic-auth.password-file) or set {PASSWORD_ENV}",
                        b.username
                    ),
                )
            })?,
        };
        ep.authorization =
            Some(basic_auth(&b.username, &password).map_err(|m| err("basic_auth.username", m))?);
    }
    if let Some(t) = &raw.tls_config {
        ep.server_name = t.server_name.clone();
        ep.tls =
            Some(Arc::new(tls(t, dir).map_err(|(key, msg)| {
                err(&format!("tls_config.{key}"), msg)
            })?));
    }
    Ok(ep)
}

fn tls(t: &RawTls, dir: &Path) -> Result<rustls::ClientConfig, (&'static str, String)> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = t.ca_file.as_ref().ok_or((
        "ca_file",
        "missing: the CA that signed the certificates".into(),
    ))?;
    let ca = dir.join(ca);
    let certs = CertificateDer::pem_file_iter(&ca)
        .map_err(|e| ("ca_file", format!("{}: {e}", ca.display())))?;
    for c in certs {
        let c = c.map_err(|e| ("ca_file", format!("{}: {e}", ca.display())))?;
        roots
            .add(c)
            .map_err(|e| ("ca_file", format!("{}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(("ca_file", format!("{}: no certificate in it", ca.display())));
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ("ca_file", e.to_string()))?
    .with_root_certificates(roots);
    match (&t.cert_file, &t.key_file) {
        (None, None) => Ok(b.with_no_client_auth()),
        (Some(c), Some(k)) => {
            let (c, k) = (dir.join(c), dir.join(k));
            let chain = CertificateDer::pem_file_iter(&c)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| ("cert_file", format!("{}: {e}", c.display())))?;
            if chain.is_empty() {
                return Err((
                    "cert_file",
                    format!("{}: no certificate in it", c.display()),
                ));
            }
            let key = PrivateKeyDer::from_pem_file(&k)
                .map_err(|e| ("key_file", format!("{}: {e}", k.display())))?;
            b.with_client_auth_cert(chain, key)
                .map_err(|e| ("key_file", e.to_string()))
        }
        (Some(_), None) => Err(("key_file", "missing (cert_file needs it)".into())),
        (None, Some(_)) => Err(("cert_file", "missing (key_file needs it)".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pki(dir: &Path) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(dir.join("ca.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    }

    fn file(dir: &Path, text: &str) -> Flags {
        let p = dir.join("client.yml");
        std::fs::write(&p, text).unwrap();
        Flags {
            file: Some(p),
            ..Default::default()
        }
    }

    fn error(flags: &Flags, env: Option<&str>) -> String {
        load(flags, env.map(String::from))
            .err()
            .unwrap()
            .to_string()
    }

    #[test]
    fn file_blocks_and_relative_paths() {
        let d = tempfile::tempdir().unwrap();
        pki(d.path());
        std::fs::write(d.path().join("pw"), "s3cret\n").unwrap();
        let f = file(
            d.path(),
            "agents:\n  basic_auth: {username: prometheus, password_file: pw}\n  tls_config: {ca_file: ca.pem, cert_file: ca.pem, key_file: key.pem, server_name: web.example}\n\
             prometheus:\n  basic_auth: {username: sre, password: hunter2}\n",
        );
        let e = load(&f, None).unwrap();
        assert!(e.agents.tls.is_some());
        assert_eq!(e.agents.server_name.as_deref(), Some("web.example"));
        let a = e.agents.authorization.unwrap();
        assert!(a.is_sensitive());
        // base64("prometheus:s3cret"): the file's trailing newline is not part of it.
        assert_eq!(a, "Basic cHJvbWV0aGV1czpzM2NyZXQ=");
        assert_eq!(
            e.prometheus.authorization.unwrap(),
            "Basic c3JlOmh1bnRlcjI="
        );
        assert!(e.prometheus.tls.is_none());
    }

    #[test]
    fn flags_override_and_env_password() {
        let d = tempfile::tempdir().unwrap();
        pki(d.path());
        let mut f = file(
            d.path(),
            "agents:\n  basic_auth: {username: a, password: b}\n",
        );
        f.username = Some("u".into());
        f.ca_file = Some(d.path().join("ca.pem"));
        let e = load(&f, Some("p".into())).unwrap();
        assert_eq!(e.agents.authorization.unwrap(), "Basic dTpw");
        assert!(e.agents.tls.is_some());
        f.file = None;
        f.username = Some("u".into());
        let e = error(&f, None);
        assert!(
            e.contains("agents.basic_auth") && e.contains(PASSWORD_ENV),
            "{e}"
        );
        f.username = None;
        f.password_file = Some("x".into());
        assert!(error(&f, None).contains("needs --basic-auth.username"));
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let d = tempfile::tempdir().unwrap();
        pki(d.path());
        let e = error(&file(d.path(), "agent:\n  basic_auth: {}\n"), None);
        assert!(e.contains("client.yml") && e.contains("agent"), "{e}");
        let e = error(
            &file(
                d.path(),
                "agents:\n  tls_config: {ca_file: ca.pem, insecure_skip_verify: true}\n",
            ),
            None,
        );
        assert!(e.contains("insecure_skip_verify"), "{e}");
        let e = error(
            &file(d.path(), "agents:\n  tls_config: {ca_file: nope.pem}\n"),
            None,
        );
        assert!(
            e.contains("agents.tls_config.ca_file") && e.contains("nope.pem"),
            "{e}"
        );
        let e = error(
            &file(d.path(), "prometheus:\n  tls_config: {server_name: x}\n"),
            None,
        );
        assert!(e.contains("prometheus.tls_config.ca_file: missing"), "{e}");
        let e = error(
            &file(
                d.path(),
                "agents:\n  tls_config: {ca_file: ca.pem, cert_file: ca.pem}\n",
            ),
            None,
        );
        assert!(e.contains("agents.tls_config.key_file: missing"), "{e}");
        let e = error(
            &file(
                d.path(),
                "agents:\n  basic_auth: {username: a, password: b, password_file: c}\n",
            ),
            None,
        );
        assert!(e.contains("not both"), "{e}");
        std::fs::write(d.path().join("empty.pem"), "").unwrap();
        let e = error(
            &file(d.path(), "agents:\n  tls_config: {ca_file: empty.pem}\n"),
            None,
        );
        assert!(e.contains("no certificate"), "{e}");
    }
}
