//! Exporter: HTTP `/metrics`, `/healthz`, `/` (status page) and `/lines` (the line view), and
//! the encoders they use.
//!
//! axum routes on a current-thread tokio runtime; [`server`] drives the connections (TLS,
//! per-client limits, timeouts) and [`gate`] checks every request ([`web_config`]: basic auth,
//! headers, rate limit). The handlers only read snapshots through [`Snapshot`]; rendering (and
//! gzip, [`gzip`]) runs on the blocking pool so a large scrape never stalls the accept loop.
//! Each encoder is a file beside this one, reading label values and atomics from the store.

use std::future::Future;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::store::{Family, Series, Store};

pub mod auth;
pub mod clients;
pub mod escape;
pub mod gate;
pub mod gzip;
pub mod http_metrics;
pub mod lines;
pub mod openmetrics;
pub mod openmetrics_backfill;
pub mod server;
pub mod status;
pub mod text;
pub mod tls;
pub mod web_config;

pub use gzip::Exposition;
pub use http_metrics::HttpMetrics;
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
    /// OpenMetrics 1.0.0, with exemplars.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => text::CONTENT_TYPE,
            Format::OpenMetrics => openmetrics::CONTENT_TYPE,
        }
    }

    /// The format an `Accept` header prefers: OpenMetrics when it is asked for (version 1.0.0,
    /// or no version) with a higher weight than the text format, else text.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let (mut om, mut text) = (0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let mime = parts.next().unwrap_or_default().to_ascii_lowercase();
            let (mut q, mut version) = (1.0f32, None);
            for p in parts {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.parse().unwrap_or(0.0),
                    "version" => version = Some(v.to_string()),
                    _ => {}
                }
            }
            match (mime.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0")) => om = om.max(q),
                ("text/plain", None | Some("0.0.4")) | ("text/*" | "*/*", _) => text = text.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Which values an exposition shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Every series at its value: `replay`, people's requests (curl, a browser).
    #[default]
    Current,
    /// What scrapers are served: a counter or histogram series at 0 until it is revealed
    /// (see [`crate::store::hold`]), so that Prometheus counts its first increments.
    Scrape,
}

impl View {
    /// Whether series `s` of `f` is shown at its value (else at 0).
    #[inline]
    pub fn shows(self, f: &Family, s: &Series) -> bool {
        self == View::Current || f.shows_value(s)
    }
}

/// Writes an exposition: families store after store, then the format's end marker.
pub struct Encoder<'a> {
    format: Format,
    view: View,
    out: &'a mut String,
}

impl<'a> Encoder<'a> {
    /// An encoder appending to `out`, showing every value as it is ([`View::Current`]).
    pub fn new(format: Format, out: &'a mut String) -> Self {
        Encoder {
            format,
            view: View::Current,
            out,
        }
    }

    /// Show values as `view` says.
    pub fn view(mut self, view: View) -> Self {
        self.view = view;
        self
    }

    /// Append every family of `stores`, each store's families sorted by name.
    pub fn stores(&mut self, stores: &[&Store]) {
        for store in stores {
            let mut fams = store.families();
            fams.sort_by(|a, b| a.desc().name.cmp(&b.desc().name));
            for f in &fams {
                match self.format {
                    Format::Text => text::family(self.out, f, self.view),
                    Format::OpenMetrics => openmetrics::family(
                        self.out,
                        f,
                        openmetrics::Options {
                            timestamp_ms: None,
                            exemplars: true,
                            view: self.view,
                        },
                    ),
                }
            }
        }
    }

    /// End the exposition.
    pub fn finish(self) {
        match self.format {
            Format::Text => {}
            Format::OpenMetrics => openmetrics::eof(self.out),
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
    /// The full exposition in `format` (may block briefly: runs on the blocking pool). A render
    /// may be shared by several requests (its gzip form is then made once).
    fn metrics(&self, format: Format, req: ScrapeRequest) -> Arc<Exposition>;
    /// What the status page shows.
    fn status(&self) -> StatusPage;
    /// `Ok` when every source is running; `Err(why)` otherwise.
    fn health(&self) -> Result<(), String>;
    /// Re-read the configuration (`POST /-/reload` with `--web.enable-lifecycle`); `Err` says
    /// why the new one was rejected (the running one stays).
    fn reload(&self) -> Result<(), String> {
        Err("reloading is not supported here".into())
    }

    /// The line view's store (`None`: `/lines` answers 404).
    fn lines(&self) -> Option<Arc<crate::store::lines::LineStore>> {
        None
    }
}

/// The answer's body: the shared render itself, not a copy.
struct Shared(Arc<Exposition>, bool);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        if self.1 {
            self.0.gzip()
        } else {
            self.0.text().as_bytes()
        }
    }
}

/// Every field line of `name` joined with `,` (how a list-valued header may be split).
fn joined(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
}

async fn metrics(
    State(s): State<Arc<dyn Snapshot>>,
    Extension(access): Extension<Access>,
    Extension(counters): Extension<Arc<HttpMetrics>>,
    headers: HeaderMap,
) -> Response {
    let accept = joined(&headers, header::ACCEPT);
    let format = Format::negotiate((!accept.is_empty()).then_some(accept.as_str()));
    let gzip = gzip::accepts_gzip(&joined(&headers, header::ACCEPT_ENCODING));
    let req = ScrapeRequest {
        moves_checkpoint: access.moves_checkpoint,
    };
    // The render saves the checkpoint (when it may) before it returns, so before any byte of
    // the answer, compressed or not, leaves.
    let render = tokio::task::spawn_blocking(move || {
        let e = s.metrics(format, req);
        if gzip {
            e.gzip();
        }
        e
    });
    match render.await {
        Ok(e) => {
            counters.scrape(format, gzip);
            let mut r = Response::new(Body::from(Bytes::from_owner(Shared(e, gzip))));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(format.content_type()),
            );
            h.insert(
                header::VARY,
                header::HeaderValue::from_static("Accept, Accept-Encoding"),
            );
            if gzip {
                h.insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static("gzip"),
                );
            }
            r
        }
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

/// `POST`/`PUT /-/reload`, answered as Prometheus 2.42 does: 200 and an empty body, 500 with
/// the reason, 403 when `--web.enable-lifecycle` was not given.
async fn reload(State(s): State<Arc<dyn Snapshot>>) -> Response {
    match tokio::task::spawn_blocking(move || s.reload()).await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(why)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {why}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

async fn lifecycle_disabled() -> Response {
    (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n").into_response()
}

async fn post_or_put_only() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        "Only POST or PUT requests allowed\n",
    )
        .into_response()
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
        .route("/lines", get(lines::handler))
        .route("/", get(index))
        .route(
            "/-/reload",
            if web.enable_lifecycle {
                post(reload).put(reload)
            } else {
                post(lifecycle_disabled).put(lifecycle_disabled)
            }
            .get(post_or_put_only),
        )
        .with_state(snapshot)
        .layer(Extension(web.metrics.clone()));
    server::serve(listener, app, web, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn openmetrics_is_served_when_asked_for_first() {
        // What Prometheus 2.x sends by default.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        // Prometheus with `scrape_protocols` / old versions, curl, browsers.
        for a in [
            "text/plain;version=0.0.4;q=1,*/*;q=0.1",
            "*/*",
            "text/html,application/xhtml+xml,*/*;q=0.8",
            "application/openmetrics-text;version=0.0.1",
            "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;q=0.9",
            "application/openmetrics-text;q=0",
            "",
        ] {
            assert_eq!(Format::negotiate(Some(a)), Format::Text, "{a}");
        }
        assert_eq!(Format::negotiate(None), Format::Text);
    }
}
