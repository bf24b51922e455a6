//! Exporter: HTTP `/metrics` (Prometheus text format 0.0.4), `/healthz`, and `/` (status page).
//!
//! axum on a current-thread tokio runtime: three endpoints and graceful shutdown for little code.
//! The handlers only read snapshots through [`Snapshot`]; rendering runs on the blocking pool so a
//! large scrape never stalls the accept loop.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What the exporter serves; implemented by the agent.
pub trait Snapshot: Send + Sync + 'static {
    /// The full exposition (may block briefly: runs on the blocking pool).
    fn metrics(&self) -> String;
    /// The status page, as HTML.
    fn status_html(&self) -> String;
    /// `Ok` when every source is running; `Err(why)` otherwise.
    fn health(&self) -> Result<(), String>;
}

/// Content type of the Prometheus text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics(State(s): State<Arc<dyn Snapshot>>) -> Response {
    match tokio::task::spawn_blocking(move || s.metrics()).await {
        Ok(body) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("render failed: {e}"),
        )
            .into_response(),
    }
}

async fn healthz(State(s): State<Arc<dyn Snapshot>>) -> Response {
    match s.health() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

async fn index(State(s): State<Arc<dyn Snapshot>>) -> Html<String> {
    Html(s.status_html())
}

/// Serve until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    snapshot: Arc<dyn Snapshot>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/", get(index))
        .with_state(snapshot);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Escape text for HTML.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}
