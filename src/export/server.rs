//! The listener: one hyper HTTP/1.1 connection per accepted socket, with the hygiene
//! `axum::serve` has no knobs for, TLS from the web config, and the [gate](super::gate) every
//! request passes (framing, per-client rate limit, basic auth, response headers, which scrapes
//! may move the checkpoint).
//!
//! Connection hygiene, per connection, on the single runtime thread:
//! - a request head (and the TLS handshake before the first one) must arrive within
//!   `read_header_timeout` of the connection or of its first byte: a client that sends half a
//!   request line and stalls is closed;
//! - a connection with no request in flight and no bytes moving for `idle_timeout` is closed,
//!   and one whose answer the client stopped taking after `read_header_timeout` (the answer,
//!   shared with other requests, is not copied per connection);
//! - at most `max_connections` are open, and one client (an IPv4 address or an IPv6 /64, see
//!   [`ClientKey`]) holds at most half of them. A new connection past either cap evicts a
//!   connection with no request in flight: past its own share, one of the client's own; past
//!   the total, one of the client holding the most (never of a client holding fewer than the
//!   newcomer's would then hold), a connection still waiting for its first request head before
//!   an idle keep-alive one, the longest waiting first. So a flood of idle or slow connections
//!   only ever evicts its own, and Prometheus' connection stays. Only when no connection may
//!   be evicted is the newcomer turned away (503 on plain HTTP).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use super::clients::ClientKey;
use super::gate::{gate, Gate, Peer};
use super::http_metrics::{Closed, HttpMetrics, Rejected};
use super::web_config::WebConfigFile;

pub use super::gate::{moves_checkpoint, Access};

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
    /// The listener's self-metrics (`logpulse_http_*`); the agent registers them in its store.
    pub metrics: Arc<HttpMetrics>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            config: None,
            max_connections: 128,
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            enable_lifecycle: false,
            metrics: Arc::default(),
        }
    }
}

const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// One open connection as the watchdog and the eviction see it.
struct Conn {
    client: ClientKey,
    phase: AtomicU8,
    /// Milliseconds since the server's epoch: start of the awaited head (HEAD), or last
    /// activity (IDLE).
    mark: AtomicU64,
    in_flight: AtomicU32,
    /// The last write of a response could not go out: the client is not reading.
    write_blocked: AtomicBool,
    evicted: AtomicBool,
    kill: Notify,
}

impl Conn {
    fn live(&self) -> bool {
        !self.evicted.load(Ordering::Relaxed)
    }

    /// Eviction order among a client's connections: not busy; waiting for a head before idle,
    /// then the longest waiting. `None`: a request is in flight.
    fn eviction_rank(&self) -> Option<(bool, u64)> {
        let phase = self.phase.load(Ordering::Relaxed);
        (phase != BUSY).then(|| (phase != HEAD, self.mark.load(Ordering::Relaxed)))
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        self.kill.notify_one();
    }
}

struct Shared {
    epoch: Instant,
    opts: WebOptions,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    shutdown: watch::Receiver<bool>,
    router: Router,
}

/// Why the watchdog ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Shutdown,
    Evicted,
    HeaderTimeout,
    IdleTimeout,
    WriteTimeout,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn metrics(&self) -> &HttpMetrics {
        &self.opts.metrics
    }

    /// When `c` is due to be closed, in ms since the epoch, and why (None: a request is in
    /// flight).
    fn deadline(&self, c: &Conn) -> Option<(u64, Ended)> {
        let mark = c.mark.load(Ordering::Relaxed);
        match c.phase.load(Ordering::Relaxed) {
            HEAD => Some((
                mark + self.opts.read_header_timeout.as_millis() as u64,
                Ended::HeaderTimeout,
            )),
            // An answer the client stopped taking has the time of a request head to move again:
            // a slow reader cannot hold a render (megabytes) for the whole idle timeout.
            IDLE if c.write_blocked.load(Ordering::Relaxed) => Some((
                mark + self.opts.read_header_timeout.as_millis() as u64,
                Ended::WriteTimeout,
            )),
            IDLE => Some((
                mark + self.opts.idle_timeout.as_millis() as u64,
                Ended::IdleTimeout,
            )),
            _ => None,
        }
    }

    /// Connections one client may hold: half the cap, so others always find room.
    fn per_client(&self) -> usize {
        (self.opts.max_connections / 2).max(1)
    }

    /// Make room for one more connection of `client`; false when nothing may be evicted.
    fn admit(&self, client: ClientKey) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let mut held: HashMap<ClientKey, usize> = HashMap::new();
        for c in conns.values().filter(|c| c.live()) {
            *held.entry(c.client).or_default() += 1;
        }
        let total: usize = held.values().sum();
        let mine = held.get(&client).copied().unwrap_or(0);
        let victim = if mine >= self.per_client() {
            // Past its share: one of its own.
            conns
                .values()
                .filter(|c| c.live() && c.client == client)
                .filter_map(|c| Some((c.eviction_rank()?, c)))
                .min_by_key(|(rank, _)| *rank)
                .map(|(_, c)| c)
        } else if total >= self.opts.max_connections {
            // Past the cap: from whoever holds the most, and at least as many as this client
            // would with the newcomer (so nobody loses a slot to a smaller holder).
            conns
                .values()
                .filter(|c| c.live() && held[&c.client] > mine)
                .filter_map(|c| {
                    let rank = c.eviction_rank()?;
                    Some(((std::cmp::Reverse(held[&c.client]), rank), c))
                })
                .min_by_key(|(rank, _)| *rank)
                .map(|(_, c)| c)
        } else {
            return true;
        };
        match victim {
            Some(c) => {
                c.evict();
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

impl Watched {
    /// A response still going out is activity; a client that stops reading is not.
    fn wrote(&self, r: &Poll<io::Result<usize>>) {
        match r {
            Poll::Pending => self.conn.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.conn.write_blocked.store(false, Ordering::Relaxed);
                if self.conn.phase.load(Ordering::Relaxed) == IDLE {
                    self.conn
                        .mark
                        .store(self.shared.now_ms(), Ordering::Relaxed);
                }
            }
            Poll::Ready(_) => {}
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(&r);
        r
    }
    // Vectored writes let hyper queue the shared body instead of copying it into its own
    // buffer (a copy of the whole exposition per connection otherwise).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(&r);
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
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

/// Resolves when `conn` is evicted, times out, or the server shuts down.
async fn watchdog(conn: &Conn, shared: &Shared, shutdown: &mut watch::Receiver<bool>) -> Ended {
    loop {
        let wait = match shared.deadline(conn) {
            Some((d, why)) => {
                let now = shared.now_ms();
                if now >= d {
                    return why;
                }
                Duration::from_millis(d - now)
            }
            None => shared.opts.read_header_timeout,
        };
        // Woken at least this often: a deadline can come closer meanwhile (an idle connection
        // starts a head, an answer stops moving).
        let wait = wait.min(shared.opts.read_header_timeout);
        tokio::select! {
            _ = conn.kill.notified() => return Ended::Evicted,
            _ = tokio::time::sleep(wait) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return Ended::Shutdown },
        }
    }
}

/// Count why the listener closed a connection.
fn count_end(shared: &Shared, why: Ended) {
    match why {
        Ended::Shutdown => {}
        Ended::Evicted => shared.metrics().closed(Closed::Evicted),
        Ended::HeaderTimeout => shared.metrics().closed(Closed::HeaderTimeout),
        Ended::IdleTimeout => shared.metrics().closed(Closed::IdleTimeout),
        Ended::WriteTimeout => shared.metrics().closed(Closed::WriteTimeout),
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    id: u64,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
) {
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
        None => drive(io, peer, &conn, &shared, &mut shutdown).await,
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
                s = handshake => {
                    if s.is_none() {
                        shared.metrics().closed(Closed::TlsHandshake);
                    }
                    s
                }
                why = watchdog(&conn, &shared, &mut shutdown) => {
                    count_end(&shared, why);
                    None
                }
            };
            if let Some(s) = stream {
                drive(s, peer, &conn, &shared, &mut shutdown).await;
            }
        }
    }
    shared
        .conns
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    shared.metrics().open.add(-1.0);
}

async fn drive<I>(
    io: I,
    peer: SocketAddr,
    conn: &Arc<Conn>,
    shared: &Arc<Shared>,
    shutdown: &mut watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = TowerToHyperService::new(shared.router.clone());
    let (c2, s2) = (conn.clone(), shared.clone());
    let client = Peer(ClientKey::of(peer.ip()));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let guard = InFlight::new(c2.clone(), s2.clone());
        req.extensions_mut().insert(client);
        let fut = hyper::service::Service::call(&svc, req);
        async move {
            let r = fut.await;
            drop(guard);
            r
        }
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    // A request head above 64 KiB gets 431 (hyper's buffer limit alone lets a head that
    // arrives in one read through).
    b.keep_alive(true)
        .header_read_timeout(None)
        .max_buf_size(64 * 1024)
        .max_header_size(64 * 1024);
    let http = b.serve_connection(TokioIo::new(io), service);
    tokio::pin!(http);
    let mut draining = false;
    loop {
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    // hyper answered 400 or 431 itself.
                    if e.is_parse() || e.is_parse_too_large() {
                        shared.metrics().rejected(Rejected::BadRequest);
                    }
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            why = watchdog(conn, shared, shutdown), if !draining => {
                count_end(shared, why);
                // Evicted just as a request arrived: that one is answered first.
                let busy = shared.deadline(conn).is_none();
                if why != Ended::Shutdown && !(why == Ended::Evicted && busy) {
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
    let g = Arc::new(Gate::new(
        opts.config.clone(),
        loopback,
        opts.metrics.clone(),
    ));
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
        let (tcp, peer) = tokio::select! {
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
        let client = ClientKey::of(peer.ip());
        if !shared.admit(client) {
            shared.metrics().closed(Closed::Refused);
            if !tls {
                let _ = tcp.try_write(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many connections",
                );
            }
            continue;
        }
        next_id += 1;
        let conn = Arc::new(Conn {
            client,
            phase: AtomicU8::new(HEAD),
            mark: AtomicU64::new(shared.now_ms()),
            in_flight: AtomicU32::new(0),
            write_blocked: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            kill: Notify::new(),
        });
        shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(next_id, conn.clone());
        shared.metrics().open.add(1.0);
        tokio::spawn(connection(tcp, peer, next_id, conn, shared.clone()));
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

    fn shared(max: usize) -> Shared {
        Shared {
            epoch: Instant::now(),
            opts: WebOptions {
                max_connections: max,
                ..WebOptions::default()
            },
            conns: Mutex::new(HashMap::new()),
            shutdown: watch::channel(false).1,
            router: Router::new(),
        }
    }

    /// Admit a connection of client `who` (last octet) with `phase` and `mark`; its id.
    fn open(s: &Shared, id: u64, who: u8, phase: u8, mark: u64) -> bool {
        let client = ClientKey::V4([192, 0, 2, who]);
        let ok = s.admit(client);
        if ok {
            s.conns.lock().unwrap().insert(
                id,
                Arc::new(Conn {
                    client,
                    phase: AtomicU8::new(phase),
                    mark: AtomicU64::new(mark),
                    in_flight: AtomicU32::new(0),
                    write_blocked: AtomicBool::new(false),
                    evicted: AtomicBool::new(false),
                    kill: Notify::new(),
                }),
            );
        }
        ok
    }

    fn evicted(s: &Shared) -> Vec<u64> {
        let mut v: Vec<u64> = s
            .conns
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, c)| !c.live())
            .map(|(id, _)| *id)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_flood_evicts_its_own_connections_not_the_scrapers() {
        let s = shared(8);
        // The scraper's keep-alive connection, idle since long ago.
        assert!(open(&s, 1, 1, IDLE, 0));
        // A flood from another address: it may hold half the cap, then evicts its own,
        // waiting-for-a-head ones first, oldest first.
        for i in 0..4 {
            assert!(open(&s, 10 + i, 2, IDLE, 100 + i));
        }
        assert!(open(&s, 20, 2, HEAD, 200));
        assert_eq!(evicted(&s), vec![10]);
        assert!(open(&s, 21, 2, HEAD, 300));
        assert_eq!(evicted(&s), vec![10, 20]);
        // A third client fills the rest; past the cap the biggest holder gives up one.
        for i in 0..3 {
            assert!(open(&s, 30 + i, 3, HEAD, 400 + i));
        }
        assert!(open(&s, 40, 4, HEAD, 500));
        assert!(!evicted(&s).contains(&1), "{:?}", evicted(&s));
        assert_eq!(evicted(&s).len(), 3);
        // A holder never loses a slot to a client that would then hold more.
        let s = shared(4);
        for i in 0..2 {
            assert!(open(&s, i, 1, IDLE, i));
            assert!(open(&s, 10 + i, 2, IDLE, i));
        }
        assert!(open(&s, 20, 2, HEAD, 50));
        assert_eq!(
            evicted(&s),
            vec![10],
            "client 2 at its share evicts its own"
        );
    }

    #[test]
    fn busy_connections_are_never_evicted() {
        let s = shared(2);
        assert!(open(&s, 1, 1, BUSY, 0));
        assert!(open(&s, 2, 2, BUSY, 0));
        assert!(!open(&s, 3, 3, HEAD, 1), "everything is busy: refused");
        assert!(!open(&s, 4, 1, HEAD, 1), "its one slot is busy: refused");
        assert!(evicted(&s).is_empty());
    }
}
