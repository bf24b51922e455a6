//! The gate every request passes before its handler: framing hygiene, the per-client rate
//! limit, basic auth (with a bounded cost, see [`super::auth`]), the web config's response
//! headers, and which scrapes may move the checkpoint.
//!
//! Order matters for cost: the cheap checks (framing, remembered credentials, the rate bucket)
//! come before the expensive one (bcrypt), so a flood is turned away before it costs anything.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{Authenticator, Verdict, BUDGET_INTERVAL};
use super::clients::{Bucket, ClientKey, ClientTable, Forgettable};
use super::http_metrics::{HttpMetrics, Rejected};
use super::web_config::{RateLimit, WebConfigFile};

/// What the gate found out about a request; handlers read it from the request extensions.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// Authenticated (or no authentication configured).
    pub authorized: bool,
    /// Credentials were checked: the web config's basic auth passed, or every client presents
    /// a verified certificate (`RequireAndVerifyClientCert`).
    pub authenticated: bool,
    /// The listener is bound to a loopback address: only this host can connect.
    pub loopback: bool,
    /// A `/metrics` answer to this request may save the checkpoint (see [`moves_checkpoint`]).
    pub moves_checkpoint: bool,
}

/// The client a request came from; the connection driver puts it in the extensions.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub ClientKey);

/// User agents of people, not scrapers: their requests never move the checkpoint, so a `curl`
/// between two Prometheus scrapes followed by a crash hides nothing from Prometheus.
const INTERACTIVE_AGENTS: &[&str] = &["curl/", "Wget/", "Mozilla/", "HTTPie/"];

/// Whether a request may move the checkpoint: it passed authentication (when configured) and
/// does not come from a browser or a command-line HTTP tool. Any other client is treated like a
/// Prometheus replica (an unknown scraper that never moved it would make every restart re-read
/// everything since start).
pub fn moves_checkpoint(authorized: bool, user_agent: Option<&[u8]>) -> bool {
    authorized
        && !user_agent.is_some_and(|ua| {
            INTERACTIVE_AGENTS
                .iter()
                .any(|p| ua.starts_with(p.as_bytes()))
        })
}

/// Rate buckets kept, one per client and kind (with or without remembered credentials).
const RATE_CLIENTS: usize = 4096;

struct RateEntry {
    rl: RateLimit,
    bucket: Bucket,
}

impl Forgettable for RateEntry {
    fn is_fresh(&self, now: Instant) -> bool {
        self.bucket.full_by(self.rl.interval, self.rl.burst, now)
    }
}

/// Per-client token buckets for `rate_limit`, keyed by client and by whether the request
/// carried credentials already verified: a client flooding without them cannot spend the
/// bucket of a scraper that has them, even from the same address.
struct RateLimiter {
    settings: Option<RateLimit>,
    table: ClientTable<(ClientKey, bool), RateEntry>,
}

impl RateLimiter {
    fn allow(&mut self, rl: RateLimit, key: (ClientKey, bool)) -> bool {
        if self.settings != Some(rl) {
            self.settings = Some(rl);
            self.table.clear();
        }
        let now = Instant::now();
        let e = self.table.entry(key, now, || RateEntry {
            rl,
            bucket: Bucket::full(rl.burst, now),
        });
        e.bucket.take(rl.interval, rl.burst, now)
    }
}

/// The gate's state; one per server.
pub struct Gate {
    web: Option<Arc<WebConfigFile>>,
    /// The listener's address is a loopback one.
    loopback: bool,
    auth: Authenticator,
    rate: Mutex<RateLimiter>,
    metrics: Arc<HttpMetrics>,
}

impl Gate {
    /// A gate for a listener (`loopback`: bound to a loopback address).
    pub fn new(web: Option<Arc<WebConfigFile>>, loopback: bool, metrics: Arc<HttpMetrics>) -> Gate {
        Gate {
            web,
            loopback,
            auth: Authenticator::new(metrics.bcrypt.clone()),
            rate: Mutex::new(RateLimiter {
                settings: None,
                table: ClientTable::new(RATE_CLIENTS),
            }),
            metrics,
        }
    }

    fn allow(&self, rl: RateLimit, key: (ClientKey, bool)) -> bool {
        self.rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .allow(rl, key)
    }
}

/// Why a request's framing is refused (RFC 9112 §6.1, §6.3 and §3.2), or `Ok`.
///
/// hyper resolves `Transfer-Encoding` + `Content-Length` in favour of the former and drops the
/// latter, so by here the conflict shows only as a `Transfer-Encoding`. No endpoint takes a
/// request body, so any `Transfer-Encoding` is refused: a front proxy that framed the request
/// by its `Content-Length` can never make this server read a second, smuggled request.
pub fn framing(req: &Request) -> Result<(), &'static str> {
    let h = req.headers();
    if h.contains_key(header::TRANSFER_ENCODING) {
        return Err("Transfer-Encoding is not accepted: no endpoint takes a request body\n");
    }
    match h.get_all(header::HOST).iter().count() {
        0 if req.version() == Version::HTTP_11 => Err("missing Host header\n"),
        0 | 1 => Ok(()),
        _ => Err("more than one Host header\n"),
    }
}

fn too_many(retry_after_secs: u64) -> Response {
    let secs = HeaderValue::from(retry_after_secs.max(1));
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs)],
        "Too Many Requests\n",
    )
        .into_response()
}

/// The middleware.
pub async fn gate(State(g): State<Arc<Gate>>, mut req: Request, next: Next) -> Response {
    let cfg = g.web.as_ref().map(|w| w.current());
    let client = req
        .extensions()
        .get::<Peer>()
        .map_or(ClientKey::V4([0; 4]), |p| p.0);
    let mut resp = 'resp: {
        if let Err(why) = framing(&req) {
            g.metrics.rejected(Rejected::BadRequest);
            break 'resp (
                StatusCode::BAD_REQUEST,
                // Whatever follows on this connection cannot be trusted to be a request.
                [(header::CONNECTION, "close")],
                why,
            )
                .into_response();
        }
        let users = cfg.as_ref().map(|c| &c.users).filter(|u| !u.is_empty());
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let remembered = users.and_then(|u| g.auth.cached(u, authorization));
        let verified_certs = cfg.as_ref().is_some_and(|c| c.clients_verified);
        if let Some(rl) = cfg.as_ref().and_then(|c| c.rate_limit) {
            if !g.allow(rl, (client, remembered.is_some() || verified_certs)) {
                g.metrics.rejected(Rejected::RateLimited);
                break 'resp too_many(rl.interval.as_secs_f64().ceil() as u64);
            }
        }
        let is_healthz = req.uri().path() == "/healthz";
        let authorized = match (users, remembered) {
            (None, _) | (_, Some(_)) => true,
            (Some(u), None) => match g.auth.check(client, u, authorization).await {
                Verdict::Ok(_) => true,
                Verdict::Wrong => false,
                // /healthz answers anyway, without details.
                Verdict::Throttled if is_healthz => false,
                Verdict::Throttled => {
                    g.metrics.rejected(Rejected::AuthThrottled);
                    break 'resp too_many(BUDGET_INTERVAL.as_secs());
                }
            },
        };
        let authenticated = (users.is_some() && authorized) || verified_certs;
        // /healthz answers everyone (probes carry no credentials), without details.
        if !authorized && !is_healthz {
            g.metrics.rejected(Rejected::Unauthorized);
            break 'resp (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic")],
                "Unauthorized\n",
            )
                .into_response();
        }
        let ua = req.headers().get(header::USER_AGENT).map(|v| v.as_bytes());
        let access = Access {
            authorized,
            authenticated,
            loopback: g.loopback,
            moves_checkpoint: moves_checkpoint(authorized, ua),
        };
        req.extensions_mut().insert(access);
        next.run(req).await
    };
    if let Some(c) = &cfg {
        for (n, v) in &c.headers {
            resp.headers_mut().insert(n.clone(), v.clone());
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn interactive_clients_never_move_the_checkpoint() {
        assert!(moves_checkpoint(true, Some(b"Prometheus/2.42.0")));
        assert!(moves_checkpoint(true, Some(b"vm_promscrape")));
        assert!(moves_checkpoint(true, None));
        assert!(!moves_checkpoint(true, Some(b"curl/8.5.0")));
        assert!(!moves_checkpoint(true, Some(b"Mozilla/5.0 (X11)")));
        assert!(!moves_checkpoint(false, Some(b"Prometheus/2.42.0")));
    }

    #[test]
    fn rate_limit_is_a_token_bucket_per_client_and_kind() {
        let g = Gate::new(None, true, Arc::default());
        let rl = RateLimit {
            interval: Duration::from_secs(3600),
            burst: 2,
        };
        let a = ClientKey::V4([192, 0, 2, 1]);
        let b = ClientKey::V4([192, 0, 2, 2]);
        assert!(g.allow(rl, (a, false)) && g.allow(rl, (a, false)));
        assert!(!g.allow(rl, (a, false)));
        // Someone else, and the same address with verified credentials, are not affected.
        assert!(g.allow(rl, (b, false)));
        assert!(g.allow(rl, (a, true)) && g.allow(rl, (a, true)));
        assert!(!g.allow(rl, (a, true)));
        // New settings start everyone afresh.
        let rl2 = RateLimit { burst: 3, ..rl };
        assert!(g.allow(rl2, (a, false)));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let req = |lines: &[(&str, &str)], v: Version| {
            let mut b = axum::http::Request::builder().uri("/metrics").version(v);
            for (k, val) in lines {
                b = b.header(*k, *val);
            }
            b.body(axum::body::Body::empty()).unwrap()
        };
        let ok = req(&[("host", "x")], Version::HTTP_11);
        assert!(framing(&ok).is_ok());
        assert!(framing(&req(&[], Version::HTTP_10)).is_ok());
        for bad in [
            req(
                &[("host", "x"), ("transfer-encoding", "chunked")],
                Version::HTTP_11,
            ),
            req(&[("host", "x"), ("host", "y")], Version::HTTP_11),
            req(&[], Version::HTTP_11),
        ] {
            assert!(framing(&bad).is_err(), "{:?}", bad.headers());
        }
    }
}
