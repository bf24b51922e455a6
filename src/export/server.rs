//! The listener: one hyper HTTP/1.1 connection per accepted socket, with the hygiene
//! `axum::serve` has no knobs for, TLS from the web config, and the gate every request passes
//! (rate limit, basic auth, response headers, which scrapes may move the checkpoint).
//!
//! Connection hygiene, per connection, on the single runtime thread:
//! - a request head (and the TLS handshake before the first one) must arrive within
//!   `read_header_timeout` of the connection or of its first byte: a client that sends half a
//!   request line and stalls is closed;
//! - a connection with no request in flight and no bytes moving for `idle_timeout` is closed;
//! - at most `max_connections` are open: one more evicts the open connection that waits longest
//!   for a request head (then the longest idle one), so slow or idle clients can never lock
//!   Prometheus out; only when every connection has a request in flight is the newcomer turned
//!   away (503 on plain HTTP).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use super::auth::Authenticator;
use super::web_config::{RateLimit, WebConfigFile};

/// How the listener behaves (`run`'s `--web.*` flags).
#[derive(Clone)]
pub struct WebOptions {
    /// The web config (TLS, basic auth, headers, rate limit), re-read when it changes.
    pub config: Option<Arc<WebConfigFile>>,
    /// Open connections at most.
    pub max_connections: usize,
    /// Time for a request head (and a TLS handshake) to arrive.
    pub read_header_timeout: Duration,
    /// Time a connection may sit with nothing in flight and nothing moving.
    pub idle_timeout: Duration,
    /// `--web.enable-lifecycle`: `POST /-/reload` reloads the config (else it answers 403).
    pub enable_lifecycle: bool,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            config: None,
            max_connections: 128,
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            enable_lifecycle: false,
        }
    }
}

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

struct Gate {
    web: Option<Arc<WebConfigFile>>,
    /// The listener's address is a loopback one.
    loopback: bool,
    auth: Authenticator,
    /// (settings, tokens, last refill)
    bucket: Mutex<Option<(RateLimit, f64, Instant)>>,
}

impl Gate {
    fn allow(&self, rl: RateLimit) -> bool {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if b.as_ref().is_none_or(|(r, _, _)| *r != rl) {
            *b = Some((rl, f64::from(rl.burst), now));
        }
        let Some((rl, tokens, last)) = b.as_mut() else {
            return true;
        };
        let refill = now.duration_since(*last).as_secs_f64() / rl.interval.as_secs_f64();
        *tokens = (*tokens + refill).min(f64::from(rl.burst));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn gate(State(g): State<Arc<Gate>>, mut req: Request, next: Next) -> Response {
    let cfg = g.web.as_ref().map(|w| w.current());
    let mut resp = 'resp: {
        if let Some(rl) = cfg.as_ref().and_then(|c| c.rate_limit) {
            if !g.allow(rl) {
                break 'resp (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n").into_response();
            }
        }
        let (authorized, checked) = match &cfg {
            Some(c) if !c.users.is_empty() => {
                let h = req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes());
                let ok = g.auth.check(&c.users, h).await;
                (ok, ok)
            }
            _ => (true, false),
        };
        let authenticated = checked || cfg.as_ref().is_some_and(|c| c.clients_verified);
        // /healthz answers everyone (probes carry no credentials), without details.
        if !authorized && req.uri().path() != "/healthz" {
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

const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// One open connection as the watchdog and the eviction see it.
struct Conn {
    phase: AtomicU8,
    /// Milliseconds since the server's epoch: start of the awaited head (HEAD), or last
    /// activity (IDLE).
    mark: AtomicU64,
    in_flight: AtomicU32,
    evicted: AtomicBool,
    kill: Notify,
}

struct Shared {
    epoch: Instant,
    opts: WebOptions,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    shutdown: watch::Receiver<bool>,
    router: Router,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// When `c` is due to be closed, in ms since the epoch (None: a request is in flight).
    fn deadline(&self, c: &Conn) -> Option<u64> {
        let mark = c.mark.load(Ordering::Relaxed);
        match c.phase.load(Ordering::Relaxed) {
            HEAD => Some(mark + self.opts.read_header_timeout.as_millis() as u64),
            IDLE => Some(mark + self.opts.idle_timeout.as_millis() as u64),
            _ => None,
        }
    }

    /// Make room for one more connection; false when every open one is busy.
    fn admit(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let live = conns
            .values()
            .filter(|c| !c.evicted.load(Ordering::Relaxed))
            .count();
        if live < self.opts.max_connections {
            return true;
        }
        let victim = conns
            .values()
            .filter(|c| !c.evicted.load(Ordering::Relaxed))
            .filter_map(|c| {
                let phase = c.phase.load(Ordering::Relaxed);
                (phase != BUSY).then(|| ((phase != HEAD, c.mark.load(Ordering::Relaxed)), c))
            })
            .min_by_key(|(k, _)| *k);
        match victim {
            Some((_, c)) => {
                c.evicted.store(true, Ordering::Relaxed);
                c.kill.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The socket as hyper (or rustls) sees it, reporting traffic to the watchdog.
struct Watched {
    io: TcpStream,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            let c = &self.conn;
            // The first byte after a response starts the clock for the next head.
            if c.phase
                .compare_exchange(IDLE, HEAD, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                c.mark.store(self.shared.now_ms(), Ordering::Relaxed);
            }
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0)
            && self.conn.phase.load(Ordering::Relaxed) == IDLE
        {
            // A response still going out is activity (a client that stops reading is not).
            self.conn
                .mark
                .store(self.shared.now_ms(), Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Marks a request in flight for as long as it lives (also when the connection is dropped).
struct InFlight {
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl InFlight {
    fn new(conn: Arc<Conn>, shared: Arc<Shared>) -> InFlight {
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        conn.phase.store(BUSY, Ordering::Relaxed);
        InFlight { conn, shared }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.conn.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.conn
                .mark
                .store(self.shared.now_ms(), Ordering::Relaxed);
            self.conn.phase.store(IDLE, Ordering::Relaxed);
        }
    }
}

/// Resolves when `conn` is evicted, times out, or the server shuts down (`true` then).
async fn watchdog(conn: &Conn, shared: &Shared, shutdown: &mut watch::Receiver<bool>) -> bool {
    loop {
        let wait = match shared.deadline(conn) {
            Some(d) => {
                let now = shared.now_ms();
                if now >= d {
                    return false;
                }
                Duration::from_millis(d - now)
            }
            None => shared.opts.read_header_timeout,
        };
        tokio::select! {
            _ = conn.kill.notified() => return false,
            _ = tokio::time::sleep(wait) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return true },
        }
    }
}

async fn connection(tcp: TcpStream, id: u64, conn: Arc<Conn>, shared: Arc<Shared>) {
    let tls = shared
        .opts
        .config
        .as_ref()
        .and_then(|w| w.current().tls.clone());
    let mut shutdown = shared.shutdown.clone();
    let io = Watched {
        io: tcp,
        conn: conn.clone(),
        shared: shared.clone(),
    };
    match tls {
        None => drive(io, &conn, &shared, &mut shutdown).await,
        Some(cfg) => {
            let handshake = async {
                let mut first = [0u8; 1];
                // Go's answer to plain HTTP on a TLS port, rather than a TLS alert nobody reads.
                if io.io.peek(&mut first).await.is_ok() && first[0].is_ascii_alphabetic() {
                    // Consume the request (closing on unread bytes sends a reset that can
                    // destroy the answer); the answer fits any socket buffer.
                    let _ = io.io.try_read(&mut [0u8; 4096]);
                    let _ = io.io.try_write(
                        b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
                    );
                    return None;
                }
                match tokio_rustls::TlsAcceptor::from(cfg).accept(io).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::debug!("TLS handshake failed: {e}");
                        None
                    }
                }
            };
            let stream = tokio::select! {
                s = handshake => s,
                _ = watchdog(&conn, &shared, &mut shutdown) => None,
            };
            if let Some(s) = stream {
                drive(s, &conn, &shared, &mut shutdown).await;
            }
        }
    }
    shared
        .conns
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
}

async fn drive<I>(
    io: I,
    conn: &Arc<Conn>,
    shared: &Arc<Shared>,
    shutdown: &mut watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = TowerToHyperService::new(shared.router.clone());
    let (c2, s2) = (conn.clone(), shared.clone());
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let guard = InFlight::new(c2.clone(), s2.clone());
        let fut = hyper::service::Service::call(&svc, req);
        async move {
            let r = fut.await;
            drop(guard);
            r
        }
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    b.keep_alive(true)
        .header_read_timeout(None)
        .max_buf_size(64 * 1024);
    let http = b.serve_connection(TokioIo::new(io), service);
    tokio::pin!(http);
    let mut draining = false;
    loop {
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            down = watchdog(conn, shared, shutdown), if !draining => {
                if !down {
                    return;
                }
                // Finish the request in flight, then close; the caller bounds the wait.
                draining = true;
                http.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Accept connections until `shutdown` completes, then let open ones finish (at most 5 s).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    opts: WebOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    let g = Arc::new(Gate {
        web: opts.config.clone(),
        loopback,
        auth: Authenticator::default(),
        bucket: Mutex::new(None),
    });
    let router = router.layer(axum::middleware::from_fn_with_state(g, gate));
    let (down_tx, down_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        opts,
        conns: Mutex::new(HashMap::new()),
        shutdown: down_rx,
        router,
    });
    let tls = shared
        .opts
        .config
        .as_ref()
        .is_some_and(|w| w.current().tls.is_some());
    tokio::pin!(shutdown);
    let mut next_id = 0u64;
    let mut last_accept_error: Option<Instant> = None;
    loop {
        let (tcp, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of fds or similar: say so now and then, and let connections drain.
                    if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::error!("accepting a connection failed: {e}");
                        last_accept_error = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        if !shared.admit() {
            if !tls {
                let _ = tcp.try_write(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many connections",
                );
            }
            continue;
        }
        next_id += 1;
        let conn = Arc::new(Conn {
            phase: AtomicU8::new(HEAD),
            mark: AtomicU64::new(shared.now_ms()),
            in_flight: AtomicU32::new(0),
            evicted: AtomicBool::new(false),
            kill: Notify::new(),
        });
        shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(next_id, conn.clone());
        tokio::spawn(connection(tcp, next_id, conn, shared.clone()));
    }
    drop(listener);
    let _ = down_tx.send(true);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end
        && !shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rate_limit_is_a_token_bucket() {
        let g = Gate {
            web: None,
            loopback: true,
            auth: Authenticator::default(),
            bucket: Mutex::new(None),
        };
        let rl = RateLimit {
            interval: Duration::from_secs(3600),
            burst: 2,
        };
        assert!(g.allow(rl) && g.allow(rl));
        assert!(!g.allow(rl));
    }
}
