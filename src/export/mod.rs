//! Exporter: HTTP `/metrics`, `/healthz` and `/` (status page), and the encoders they use.
//!
//! axum routes on a current-thread tokio runtime; [`server`] drives the connections (TLS, limits,
//! timeouts) and gates every request ([`web_config`]: basic auth, headers, rate limit). The
//! handlers only read snapshots through [`Snapshot`]; rendering runs on the blocking pool so a
//! large scrape never stalls the accept loop. Each encoder is a file beside this one, reading
//! label values and atomics from the store.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::store::Store;

pub mod auth;
pub mod escape;
pub mod server;
pub mod status;
pub mod text;
pub mod tls;
pub mod web_config;

pub use server::{Access, WebOptions};

/// Facts about a `/metrics` request that decide what its answer may do.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScrapeRequest {
    /// The answer may save the checkpoint (an authenticated scraper, not a person with curl):
    /// only such answers may be reused for another request that moves it.
    pub moves_checkpoint: bool,
}

pub use status::StatusPage;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => text::CONTENT_TYPE,
        }
    }
}

/// Writes an exposition: families store after store, then the format's end marker.
pub struct Encoder<'a> {
    format: Format,
    out: &'a mut String,
}

impl<'a> Encoder<'a> {
    /// An encoder appending to `out`.
    pub fn new(format: Format, out: &'a mut String) -> Self {
        Encoder { format, out }
    }

    /// Append every family of `stores`, each store's families sorted by name.
    pub fn stores(&mut self, stores: &[&Store]) {
        for store in stores {
            let mut fams = store.families();
            fams.sort_by(|a, b| a.desc().name.cmp(&b.desc().name));
            for f in &fams {
                match self.format {
                    Format::Text => text::family(self.out, f),
                }
            }
        }
    }

    /// End the exposition.
    pub fn finish(self) {
        match self.format {
            Format::Text => {}
        }
    }
}

/// Render every family of `stores` in `format`, a whole exposition.
pub fn encode(format: Format, stores: &[&Store], out: &mut String) {
    let mut e = Encoder::new(format, out);
    e.stores(stores);
    e.finish();
}

/// What the exporter serves; implemented by the agent.
pub trait Snapshot: Send + Sync + 'static {
    /// The full exposition in `format` (may block briefly: runs on the blocking pool).
    fn metrics(&self, format: Format, req: ScrapeRequest) -> String;
    /// What the status page shows.
    fn status(&self) -> StatusPage;
    /// `Ok` when every source is running; `Err(why)` otherwise.
    fn health(&self) -> Result<(), String>;
}

async fn metrics(
    State(s): State<Arc<dyn Snapshot>>,
    Extension(access): Extension<Access>,
    _headers: HeaderMap,
) -> Response {
    let format = Format::Text;
    let req = ScrapeRequest {
        moves_checkpoint: access.moves_checkpoint,
    };
    match tokio::task::spawn_blocking(move || s.metrics(format, req)).await {
        Ok(body) => ([(header::CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("render failed: {e}"),
        )
            .into_response(),
    }
}

async fn healthz(
    State(s): State<Arc<dyn Snapshot>>,
    Extension(access): Extension<Access>,
) -> Response {
    match s.health() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        // Source names and paths only for those allowed to read the status page.
        Err(why) if access.authorized => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy\n").into_response(),
    }
}

async fn index(State(s): State<Arc<dyn Snapshot>>) -> Html<String> {
    Html(status::render(&s.status()))
}

/// Serve until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    snapshot: Arc<dyn Snapshot>,
    web: WebOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/", get(index))
        .with_state(snapshot);
    server::serve(listener, app, web, shutdown).await
}
