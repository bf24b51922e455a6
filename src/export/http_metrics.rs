//! The listener's self-metrics (`logpulse_http_*`): what it turned away and why, what it
//! closed, the password checks it ran, and the scrapes it answered by format and encoding.

use std::sync::Arc;

use crate::store::{push_label, Family, Kind, Series, Store};

/// Why a request was answered without reaching its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// 400: ambiguous or malformed framing (`Transfer-Encoding`, duplicate or missing `Host`,
    /// a request hyper could not parse).
    BadRequest,
    /// 429: past the client's `rate_limit` bucket.
    RateLimited,
    /// 429: the client already has a password check waiting, or spent its budget of checks.
    AuthThrottled,
    /// 401: no or wrong credentials.
    Unauthorized,
}

/// Why the listener closed a connection the client had not closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Made room for a new connection (the connection cap, or the client's share of it).
    Evicted,
    /// Turned away at accept: every connection it could replace had a request in flight.
    Refused,
    /// No complete request head (or TLS handshake) within `--web.read-header-timeout`.
    HeaderTimeout,
    /// Nothing in flight and nothing moving for `--web.idle-timeout`.
    IdleTimeout,
    /// The TLS handshake failed (plain HTTP on the TLS port included).
    TlsHandshake,
    /// The client stopped taking its answer for `--web.read-header-timeout`.
    WriteTimeout,
}

/// The counters; registered in the agent's self-metrics store.
pub struct HttpMetrics {
    rejected: [Arc<Series>; 4],
    closed: [Arc<Series>; 6],
    /// `logpulse_http_connections_open`.
    pub open: Arc<Series>,
    /// `logpulse_http_bcrypt_verifications_total`.
    pub bcrypt: Arc<Series>,
    /// [text, openmetrics] × [identity, gzip].
    scrapes: [[Arc<Series>; 2]; 2],
}

fn family(store: &Store, name: &str, kind: Kind, help: &str, labels: &[&str]) -> Arc<Family> {
    store.own_family(name, kind, help, labels)
}

fn series(f: &Family, values: &[&str]) -> Arc<Series> {
    let mut k = Vec::new();
    for v in values {
        push_label(&mut k, v.as_bytes());
    }
    f.declare(&k)
}

impl HttpMetrics {
    /// Register the families in `store` (every series declared, at 0).
    pub fn register(store: &Store) -> HttpMetrics {
        let rej = family(
            store,
            "logpulse_http_requests_rejected_total",
            Kind::Counter,
            "Requests answered without reaching their handler, by reason: bad_request (400: ambiguous framing, Host), rate_limited (429: rate_limit), auth_throttled (429: too many password checks from the client), unauthorized (401).",
            &["reason"],
        );
        let closed = family(
            store,
            "logpulse_http_connections_closed_total",
            Kind::Counter,
            "Connections the listener closed, by reason: evicted (room for a new one), refused (at accept, all busy), header_timeout, idle_timeout, tls_handshake, write_timeout (the client stopped reading its answer).",
            &["reason"],
        );
        let scrapes = family(
            store,
            "logpulse_http_scrapes_total",
            Kind::Counter,
            "Answers to /metrics with 200, by format (text, openmetrics) and content encoding (identity, gzip).",
            &["format", "encoding"],
        );
        HttpMetrics {
            rejected: ["bad_request", "rate_limited", "auth_throttled", "unauthorized"]
                .map(|r| series(&rej, &[r])),
            closed: [
                "evicted",
                "refused",
                "header_timeout",
                "idle_timeout",
                "tls_handshake",
                "write_timeout",
            ]
            .map(|r| series(&closed, &[r])),
            open: series(
                &family(
                    store,
                    "logpulse_http_connections_open",
                    Kind::Gauge,
                    "Connections open on the listener.",
                    &[],
                ),
                &[],
            ),
            bcrypt: series(
                &family(
                    store,
                    "logpulse_http_bcrypt_verifications_total",
                    Kind::Counter,
                    "bcrypt password checks run (verified credentials are remembered, so this grows with new credentials and wrong guesses, within each client's budget).",
                    &[],
                ),
                &[],
            ),
            scrapes: [
                [
                    series(&scrapes, &["text", "identity"]),
                    series(&scrapes, &["text", "gzip"]),
                ],
                [
                    series(&scrapes, &["openmetrics", "identity"]),
                    series(&scrapes, &["openmetrics", "gzip"]),
                ],
            ],
        }
    }

    /// Count a request turned away.
    pub fn rejected(&self, why: Rejected) {
        self.rejected[why as usize].add(1.0);
    }

    /// Count a connection closed by the listener.
    pub fn closed(&self, why: Closed) {
        self.closed[why as usize].add(1.0);
    }

    /// Count a `/metrics` answer.
    pub fn scrape(&self, format: super::Format, gzip: bool) {
        let f = usize::from(format == super::Format::OpenMetrics);
        self.scrapes[f][usize::from(gzip)].add(1.0);
    }
}

impl Default for HttpMetrics {
    /// Counters nobody renders (tests, and `serve` without an agent).
    fn default() -> Self {
        HttpMetrics::register(&Store::new())
    }
}
