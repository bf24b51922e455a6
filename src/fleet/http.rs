//! One HTTP GET over plain TCP or TLS (rustls), on a connection of its own: `logpulse lines`
//! asks each agent and Prometheus once, so there is no pool to keep. Everything is bounded: the
//! whole exchange by a timeout, the body by a size.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How to reach one kind of server (the agents, or Prometheus).
#[derive(Clone, Default)]
pub struct Endpoint {
    /// TLS for `https://` URLs (None: https is refused with a message naming the flags).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The name the certificate must carry, instead of the URL's host.
    pub server_name: Option<String>,
    /// `Authorization` header value (`Basic ...`).
    pub authorization: Option<HeaderValue>,
}

/// Why a GET got no answer.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be used.
    #[error("{0}")]
    Url(String),
    /// TCP connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed (certificate, name, client certificate refused...).
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(String),
    /// No complete answer within the time given.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The body is larger than allowed.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body, complete.
    pub body: Bytes,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// `GET url` with `ep`'s TLS and credentials; the whole exchange within `timeout`, a body of
/// at most `max_body` bytes.
pub async fn get(
    url: &Uri,
    ep: &Endpoint,
    timeout: Duration,
    max_body: usize,
) -> Result<Response, FetchError> {
    match tokio::time::timeout(timeout, exchange(url, ep, max_body)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout(timeout)),
    }
}

async fn exchange(url: &Uri, ep: &Endpoint, max_body: usize) -> Result<Response, FetchError> {
    let tls = match url.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(FetchError::Url(format!("{url}: not an http(s) URL"))),
    };
    let authority = url
        .authority()
        .ok_or_else(|| FetchError::Url(format!("{url}: no host")))?;
    // An IPv6 literal comes with its brackets, which neither connect nor a name takes.
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(FetchError::Connect)?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if tls {
        let cfg = ep.tls.clone().ok_or_else(|| {
            FetchError::Url(format!(
                "{url}: https needs the CA that signed the certificate (--tls.ca-file, or tls_config.ca_file in --http.config.file)"
            ))
        })?;
        let name = ep.server_name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.to_string())
            .map_err(|e| FetchError::Url(format!("server name {name:?}: {e}")))?;
        let s = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(FetchError::Tls)?;
        Box::new(s)
    } else {
        Box::new(tcp)
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    // Drives the connection; ends when the exchange is done or the timeout drops the future.
    let driver = tokio::spawn(conn);
    let path = url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = Request::get(path)
        .header(HOST, authority.as_str())
        .header(ACCEPT, "application/json")
        .header(
            USER_AGENT,
            concat!("logpulse-lines/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(a) = &ep.authorization {
        req = req.header(AUTHORIZATION, a.clone());
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Url(e.to_string()))?;
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FetchError::TooLarge(max_body)
                } else {
                    FetchError::Http(e.to_string())
                }
            })?
            .to_bytes();
        Ok(Response { status, body })
    }
    .await;
    driver.abort();
    result
}

/// `Basic base64(user:password)`, marked sensitive (never logged by hyper).
pub fn basic_auth(user: &str, password: &str) -> Result<HeaderValue, String> {
    use base64::Engine as _;
    if user.contains(':') {
        return Err(format!("user name {user:?} contains ':'"));
    }
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut v = HeaderValue::from_str(&format!("Basic {token}"))
        .map_err(|_| "credentials are not a valid header".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}
