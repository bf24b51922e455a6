//! Helpers for the web-config tests: a throwaway PKI (rcgen), bcrypt hashes, and a blocking
//! HTTPS client (rustls) that can send basic auth and a client certificate. Goes with `mod common;`
//! (chunked bodies are decoded there).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// PEM files of a CA, a server certificate (localhost, 127.0.0.1) and a client certificate,
/// all written to one directory.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn leaf(
    issuer: &CertifiedIssuer<'_, KeyPair>,
    names: &[&str],
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    /// A fresh CA named `name` and its two leaves in `dir` (files prefixed with `name`).
    pub fn new(dir: &Path, name: &str) -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("ca");
        let (sc, sk) = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            "logpulse",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (cc, ck) = leaf(
            &ca,
            &["prometheus"],
            "prometheus",
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let p = |f: &str| dir.join(format!("{name}-{f}"));
        let pki = Pki {
            ca: p("ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server-key.pem"),
            client_cert: p("client.pem"),
            client_key: p("client-key.pem"),
        };
        for (path, text) in [
            (&pki.ca, ca.pem()),
            (&pki.server_cert, sc),
            (&pki.server_key, sk),
            (&pki.client_cert, cc),
            (&pki.client_key, ck),
        ] {
            std::fs::write(path, text).expect("write pem");
        }
        pki
    }
}

/// A bcrypt hash of `password` (cost 4: fast tests; the agent accepts any cost).
pub fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt")
}

/// What an HTTPS request needs besides the path.
#[derive(Default, Clone)]
pub struct Client<'a> {
    pub ca: Option<&'a Path>,
    pub basic: Option<(&'a str, &'a str)>,
    pub cert: Option<(&'a Path, &'a Path)>,
    pub user_agent: Option<&'a str>,
    /// Request method (default GET; others are sent with an empty body).
    pub method: Option<&'a str>,
}

/// Status, headers (lower-cased names) and body of one response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

fn tls_config(c: &Client<'_>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = c.ca {
        for cert in CertificateDer::pem_file_iter(ca).expect("ca file") {
            roots.add(cert.expect("ca pem")).expect("add ca");
        }
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    match c.cert {
        Some((cert, key)) => {
            let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
                .expect("cert")
                .map(|c| c.expect("pem"))
                .collect();
            b.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).expect("key"))
                .expect("client cert")
        }
        None => b.with_no_client_auth(),
    }
}

fn request(path: &str, c: &Client<'_>) -> String {
    use base64::Engine as _;
    let method = c.method.unwrap_or("GET");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if method != "GET" {
        req.push_str("Content-Length: 0\r\n");
    }
    if let Some(ua) = c.user_agent {
        req.push_str(&format!("User-Agent: {ua}\r\n"));
    }
    if let Some((u, p)) = c.basic {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req.push_str(&format!("Authorization: Basic {b}\r\n"));
    }
    req + "\r\n"
}

fn parse(raw: &[u8]) -> Result<Reply, String> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no response head in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        crate::common::dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Reply { status, head, body })
}

/// One HTTPS GET to 127.0.0.1:`port` (server name `localhost`). Err: TLS or I/O failure.
pub fn https_get(port: u16, path: &str, c: &Client<'_>) -> Result<Reply, String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let conn = rustls::ClientConnection::new(
        Arc::new(tls_config(c)),
        ServerName::try_from("localhost").expect("name"),
    )
    .map_err(|e| e.to_string())?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(request(path, c).as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer that closes without close_notify: keep what arrived.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    parse(&raw)
}

/// One plain-HTTP GET (with the same options, except TLS). Err: I/O failure.
pub fn http_get(port: u16, path: &str, c: &Client<'_>) -> Result<Reply, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(request(path, c).as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    parse(&raw)
}
