//! `tls_server_config` of the web config → a rustls `ServerConfig` (ring provider).
//!
//! Names follow exporter-toolkit (Go's `crypto/tls`): versions `TLS10`…`TLS13`, Go cipher-suite
//! and curve names, Go's client-auth policies. What rustls cannot do (TLS < 1.2, CBC or RSA
//! key-exchange suites, P-521) is refused with the supported alternatives in the message.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CipherSuite, DigitallySignedStruct, DistinguishedName, NamedGroup, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};

/// Go's `tls.ClientAuthType` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate asked for.
    NoClientCert,
    /// Asked for, not required, not verified.
    RequestClientCert,
    /// Required, not verified against a CA.
    RequireAnyClientCert,
    /// Verified against `client_ca_file` when given.
    VerifyClientCertIfGiven,
    /// Required and verified against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Parse a Go policy name (`RequireClientCert` is Go's old name for `RequireAnyClientCert`).
    pub fn parse(s: &str) -> Result<ClientAuth, String> {
        Ok(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return Err(format!(
                "unknown {s:?}; one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            )),
        })
    }
}

/// What the web config says about TLS, with files already read.
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert_pem: Vec<u8>,
    /// PEM private key.
    pub key_pem: Vec<u8>,
    /// PEM CA bundle for client certificates.
    pub client_ca_pem: Option<Vec<u8>>,
    /// Client certificate policy.
    pub client_auth: ClientAuth,
    /// `min_version`.
    pub min_version: Option<String>,
    /// `max_version`.
    pub max_version: Option<String>,
    /// `cipher_suites` (TLS 1.2 only, as in Go).
    pub cipher_suites: Vec<String>,
    /// `curve_preferences`.
    pub curves: Vec<String>,
    /// `prefer_server_cipher_suites` (default true).
    pub prefer_server: bool,
}

/// An error with the web config key at fault.
#[derive(Debug)]
pub struct KeyError {
    /// Key path, e.g. `tls_server_config.min_version`.
    pub key: &'static str,
    /// What is wrong.
    pub msg: String,
}

fn err(key: &'static str, msg: impl Into<String>) -> KeyError {
    KeyError {
        key,
        msg: msg.into(),
    }
}

/// Go names of the suites the ring provider has; TLS 1.3 suites are always on (Go ignores them
/// in `cipher_suites` too).
const SUITES: &[(&str, CipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

const TLS13_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

fn versions(s: &TlsSettings) -> Result<Vec<&'static SupportedProtocolVersion>, KeyError> {
    let rank = |key: &'static str, v: &Option<String>, default: u8| -> Result<u8, KeyError> {
        match v.as_deref() {
            None | Some("") => Ok(default),
            Some("TLS10") => Ok(10),
            Some("TLS11") => Ok(11),
            Some("TLS12") => Ok(12),
            Some("TLS13") => Ok(13),
            Some(o) => Err(err(
                key,
                format!("unknown {o:?}; one of TLS10, TLS11, TLS12, TLS13"),
            )),
        }
    };
    let min = rank("tls_server_config.min_version", &s.min_version, 12)?;
    let max = rank("tls_server_config.max_version", &s.max_version, 13)?;
    if max < 12 {
        return Err(err(
            "tls_server_config.max_version",
            "TLS 1.0 and 1.1 are not served (rustls has TLS12 and TLS13 only)",
        ));
    }
    if min > max {
        return Err(err("tls_server_config.min_version", "is above max_version"));
    }
    // TLS10/TLS11 as a minimum are accepted: TLS 1.2 is the lowest rustls speaks anyway.
    let mut v: Vec<&'static SupportedProtocolVersion> = Vec::new();
    if max >= 13 {
        v.push(&rustls::version::TLS13);
    }
    if min <= 12 {
        v.push(&rustls::version::TLS12);
    }
    Ok(v)
}

fn cipher_suites(
    names: &[String],
    available: &[SupportedCipherSuite],
) -> Result<Vec<SupportedCipherSuite>, KeyError> {
    if names.is_empty() {
        return Ok(available.to_vec());
    }
    let mut out: Vec<SupportedCipherSuite> = available
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
        .collect();
    for name in names {
        if TLS13_NAMES.contains(&name.as_str()) {
            continue;
        }
        let Some((_, id)) = SUITES.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = SUITES
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| !n.ends_with("POLY1305"))
                .collect();
            return Err(err(
                "tls_server_config.cipher_suites",
                format!(
                    "{name:?} is not supported (rustls has no CBC or RSA key-exchange suites); supported: {}",
                    known.join(", ")
                ),
            ));
        };
        if let Some(s) = available.iter().find(|s| s.suite() == *id) {
            if !out.iter().any(|o| o.suite() == *id) {
                out.push(*s);
            }
        }
    }
    Ok(out)
}

fn curves(
    names: &[String],
    available: &[&'static dyn SupportedKxGroup],
) -> Result<Vec<&'static dyn SupportedKxGroup>, KeyError> {
    if names.is_empty() {
        return Ok(available.to_vec());
    }
    let mut out = Vec::new();
    for name in names {
        let group = match name.as_str() {
            "X25519" => NamedGroup::X25519,
            "CurveP256" => NamedGroup::secp256r1,
            "CurveP384" => NamedGroup::secp384r1,
            other => {
                return Err(err(
                    "tls_server_config.curve_preferences",
                    format!("{other:?} is not supported; supported: X25519, CurveP256, CurveP384"),
                ))
            }
        };
        if let Some(g) = available.iter().find(|g| g.name() == group) {
            out.push(*g);
        }
    }
    Ok(out)
}

fn roots(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
        let c = c.map_err(|e| format!("bad PEM: {e}"))?;
        store
            .add(c)
            .map_err(|e| format!("bad CA certificate: {e}"))?;
    }
    if store.is_empty() {
        return Err("no certificate found".into());
    }
    Ok(store)
}

/// Build the rustls server config. `ca_key` names the key the CA came from (`client_ca_file` or
/// `client_ca`), for messages.
pub fn server_config(s: &TlsSettings, ca_key: &'static str) -> Result<ServerConfig, KeyError> {
    let base = ring::default_provider();
    let provider = Arc::new(CryptoProvider {
        cipher_suites: cipher_suites(&s.cipher_suites, &base.cipher_suites)?,
        kx_groups: curves(&s.curves, &base.kx_groups)?,
        ..base
    });
    let versions = versions(s)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&s.cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err("tls_server_config.cert_file", format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(err(
            "tls_server_config.cert_file",
            "no certificate found in the PEM",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&s.key_pem)
        .map_err(|e| err("tls_server_config.key_file", format!("no private key: {e}")))?;

    let roots = match &s.client_ca_pem {
        Some(pem) => Some(Arc::new(roots(pem).map_err(|m| err(ca_key, m))?)),
        None => None,
    };
    let verifier: Arc<dyn ClientCertVerifier> = match (s.client_auth, roots) {
        (ClientAuth::NoClientCert, Some(_)) => {
            return Err(err(
                "tls_server_config.client_auth_type",
                "a client CA is configured but client_auth_type is NoClientCert (use RequireAndVerifyClientCert)",
            ))
        }
        (ClientAuth::NoClientCert, None) => Arc::new(rustls::server::NoClientAuth),
        (ClientAuth::RequestClientCert, _) => Arc::new(AnyClientCert {
            mandatory: false,
            provider: provider.clone(),
        }),
        (ClientAuth::RequireAnyClientCert, _) => Arc::new(AnyClientCert {
            mandatory: true,
            provider: provider.clone(),
        }),
        (ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert, None) => {
            return Err(err(
                "tls_server_config.client_ca_file",
                "required by client_auth_type VerifyClientCertIfGiven / RequireAndVerifyClientCert",
            ))
        }
        (policy, Some(roots)) => {
            let b = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let b = if policy == ClientAuth::VerifyClientCertIfGiven {
                b.allow_unauthenticated()
            } else {
                b
            };
            b.build().map_err(|e| err(ca_key, e.to_string()))?
        }
    };
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| err("tls_server_config.min_version", e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            err(
                "tls_server_config.key_file",
                format!("does not go with the certificate: {e}"),
            )
        })?;
    cfg.ignore_client_order = s.prefer_server;
    // HTTP/1.1 only: the header and idle timeouts are defined for it (see server.rs).
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Go's `RequestClientCert` / `RequireAnyClientCert`: any certificate is taken (the handshake
/// still proves the client holds its key); nothing is checked against a CA.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TlsSettings {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
        TlsSettings {
            cert_pem: ck.cert.pem().into_bytes(),
            key_pem: ck.signing_key.serialize_pem().into_bytes(),
            client_ca_pem: None,
            client_auth: ClientAuth::NoClientCert,
            min_version: None,
            max_version: None,
            cipher_suites: vec![],
            curves: vec![],
            prefer_server: true,
        }
    }

    #[test]
    fn defaults_build() {
        let c = server_config(&settings(), "tls_server_config.client_ca_file").expect("config");
        assert!(c.ignore_client_order);
    }

    #[test]
    fn versions_map_and_refuse() {
        let mut s = settings();
        s.min_version = Some("TLS13".into());
        assert_eq!(versions(&s).unwrap().len(), 1);
        s.min_version = Some("TLS10".into());
        assert_eq!(versions(&s).unwrap().len(), 2);
        s.max_version = Some("TLS11".into());
        assert!(versions(&s).unwrap_err().msg.contains("rustls"));
        s.max_version = Some("TLS14".into());
        assert_eq!(
            versions(&s).unwrap_err().key,
            "tls_server_config.max_version"
        );
        s.max_version = Some("TLS12".into());
        s.min_version = Some("TLS13".into());
        assert!(versions(&s).is_err());
    }

    #[test]
    fn cipher_suites_map_go_names_and_refuse_cbc() {
        let mut s = settings();
        s.cipher_suites = vec![
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
            "TLS_AES_128_GCM_SHA256".into(),
        ];
        let c = server_config(&s, "k").expect("config");
        let tls12: Vec<_> = c
            .crypto_provider()
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            tls12,
            vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
        );
        s.cipher_suites = vec!["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".into()];
        let e = server_config(&s, "k").expect_err("refused");
        assert_eq!(e.key, "tls_server_config.cipher_suites");
        assert!(
            e.msg.contains("CBC_SHA") && e.msg.contains("supported:"),
            "{}",
            e.msg
        );
    }

    #[test]
    fn curves_and_client_auth() {
        let mut s = settings();
        s.curves = vec!["CurveP521".into()];
        assert!(server_config(&s, "k").is_err());
        s.curves = vec!["X25519".into()];
        assert!(server_config(&s, "k").is_ok());
        s.client_auth = ClientAuth::RequireAndVerifyClientCert;
        let e = server_config(&s, "k").expect_err("needs a CA");
        assert_eq!(e.key, "tls_server_config.client_ca_file");
        s.client_ca_pem = Some(s.cert_pem.clone());
        assert!(server_config(&s, "k").is_ok());
        s.client_auth = ClientAuth::NoClientCert;
        assert!(server_config(&s, "k").is_err());
        assert!(ClientAuth::parse("Whatever").is_err());
        assert_eq!(
            ClientAuth::parse("RequireClientCert").unwrap(),
            ClientAuth::RequireAnyClientCert
        );
    }

    #[test]
    fn mismatched_key_is_refused() {
        let mut s = settings();
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).expect("rcgen");
        s.key_pem = other.signing_key.serialize_pem().into_bytes();
        let e = server_config(&s, "k").expect_err("refused");
        assert_eq!(e.key, "tls_server_config.key_file");
    }
}
