//! `GET /lines`: the line view, as JSON (default) or as an HTML table (`format=html`, or a
//! browser's `Accept`), with filters `source`, `since`, `limit`, `ref` (a line reference or an
//! exemplar value such as a request id), `parsed` (`false`: the lines that did not parse) and
//! any stored field (`route`, `menu`, `status`, `tenant`...; `status=5xx` matches a class).
//!
//! Who may read it: log lines say more than metrics do, so they are served only on a loopback
//! listener, or to a client the web config authenticated (basic auth, or a verified client
//! certificate), unless `global.lines.allow_unauthenticated` says otherwise. Everything shown
//! comes from logs, which attackers write: the text was cleaned of control characters when
//! kept, and is escaped here for JSON or HTML; the HTML page also forbids scripts by policy.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::escape::push_html;
use super::{Access, Snapshot};
use crate::parse::time::{format_utc, Layout, TimeParser, Zone};
use crate::store::lines::{Answer, Kept, LineStore, Query};

/// Lines returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most lines one answer returns.
pub const MAX_LIMIT: usize = 5000;

/// Parameters that are not field filters.
pub const PARAMS: &[&str] = &[
    "source", "since", "limit", "ref", "line_ref", "parsed", "format",
];

/// How an answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `application/json`.
    Json,
    /// A page.
    Html,
}

/// A parsed request: the store query, the output, and the parameters as given (for links).
#[derive(Debug, Clone)]
pub struct Request {
    /// What to look up.
    pub query: Query,
    /// JSON or HTML.
    pub output: Option<Output>,
    /// `(name, value)` as decoded, in order.
    pub params: Vec<(String, String)>,
}

/// Whether a request may read lines (see the module docs).
pub fn allowed(access: &Access, store: &LineStore) -> bool {
    access.loopback || access.authenticated || store.allow_unauthenticated()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decode one `application/x-www-form-urlencoded` component (`+` is a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode a query component (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `since`: a duration back from `now_ms` (`15m`, `2h`, `90s`), or a time (RFC 3339,
/// `2026-11-27 10:00:00` in UTC, unix seconds or milliseconds). `logpulse lines` resolves it
/// once for the whole fleet.
pub fn since(v: &str, now_ms: u64) -> Result<u64, String> {
    let v = v.trim();
    if v.ends_with(|c: char| c.is_ascii_alphabetic()) && !v.ends_with(['Z', 'z']) {
        if let Some(d) = crate::config::parse_duration(v) {
            return Ok(now_ms.saturating_sub(d.as_millis() as u64));
        }
    }
    TimeParser::new(Layout::Auto, Zone::Fixed(0))
        .parse(v.as_bytes())
        .map(|ms| ms.max(0) as u64)
        .ok_or_else(|| {
            format!("since={v:?}: give a duration (15m, 2h) or a time (RFC 3339, unix seconds)")
        })
}

/// Parse a query string; `fields` are the field names some source stores.
pub fn parse_request(raw: Option<&str>, fields: &[String], now_ms: u64) -> Result<Request, String> {
    let mut q = Query {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    let mut output = None;
    let mut params = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        params.push((k.clone(), v.clone()));
        if v.is_empty() {
            // An empty box of the page's form: no filter.
            continue;
        }
        match k.as_str() {
            "source" => q.source = Some(v),
            "since" => q.since_ms = Some(since(&v, now_ms)?),
            "limit" => {
                q.limit = v
                    .parse::<usize>()
                    .map_err(|_| format!("limit={v:?}: give a number"))?
                    .min(MAX_LIMIT)
            }
            "ref" | "line_ref" => q.reference = Some(v),
            "parsed" => {
                q.parsed = Some(match v.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("parsed={v:?}: true or false")),
                })
            }
            "format" => {
                output = Some(match v.as_str() {
                    "json" => Output::Json,
                    "html" => Output::Html,
                    _ => return Err(format!("format={v:?}: json or html")),
                })
            }
            f if fields.iter().any(|n| n == f) => q.fields.push((k, v)),
            _ => {
                let mut known: Vec<&str> = PARAMS.to_vec();
                known.extend(fields.iter().map(String::as_str));
                return Err(format!(
                    "unknown parameter {k:?}; known: {}",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(Request {
        query: q,
        output,
        params,
    })
}

fn line_json(k: &Kept) -> Value {
    let mut fields = Map::new();
    for (n, v) in k.fields.names.iter().zip(k.values.iter()) {
        fields.insert(n.to_string(), Value::String(v.to_string()));
    }
    json!({
        "line_ref": k.line_ref(),
        "source": &*k.source,
        "time": format_utc(k.time_ms as i64),
        "time_ms": k.time_ms,
        "file": &*k.file,
        "parsed": k.parsed,
        "truncated": k.truncated,
        "fields": fields,
        "text": &*k.text,
    })
}

/// The answer as JSON.
pub fn render_json(a: &Answer, limit: usize) -> String {
    let sources: Vec<Value> = a
        .sources
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "lines": s.lines, "bytes": s.bytes, "max_bytes": s.cap,
                "unparsed_lines": s.unparsed_lines, "unparsed_max_bytes": s.unparsed_cap,
                "kept": s.kept, "evicted": s.evicted, "fields": s.fields,
            })
        })
        .collect();
    let v = json!({
        "matched": a.matched,
        "returned": a.lines.len(),
        "limit": limit,
        "lines": a.lines.iter().map(|k| line_json(k)).collect::<Vec<_>>(),
        "sources": sources,
    });
    let mut s = v.to_string();
    s.push('\n');
    s
}

fn td(h: &mut String, text: &str) {
    h.push_str("<td>");
    push_html(h, text);
    h.push_str("</td>");
}

/// The answer as a page: a filter form, the lines, the sources' totals.
pub fn render_html(a: &Answer, req: &Request, fields: &[String]) -> String {
    let mut h = String::from(
        "<!doctype html><meta charset=utf-8><title>logpulse lines</title>\
         <style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left;vertical-align:top}\
         th{background:#eee}.t{font-family:monospace;white-space:pre-wrap;word-break:break-all}\
         input{width:9em}</style><h1>logpulse lines</h1><p><a href=/>status</a> · <a href=\"",
    );
    let mut json_link = String::from("/lines?");
    for (k, v) in &req.params {
        if k != "format" && !v.is_empty() {
            let _ = write!(json_link, "{}={}&", encode(k), encode(v));
        }
    }
    json_link.push_str("format=json");
    push_html(&mut h, &json_link);
    h.push_str("\">JSON</a></p><form method=get action=/lines>");
    let mut names: Vec<&str> = vec!["source"];
    names.extend(fields.iter().map(String::as_str));
    names.extend(["since", "ref", "parsed", "limit"]);
    for n in names {
        let v = req
            .params
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        h.push_str("<label>");
        push_html(&mut h, n);
        h.push_str(" <input name=\"");
        push_html(&mut h, n);
        h.push_str("\" value=\"");
        push_html(&mut h, v);
        h.push_str("\"></label> ");
    }
    h.push_str("<input type=hidden name=format value=html><button>filter</button></form>");
    let _ = write!(
        h,
        "<p>{} matching, {} shown (newest first). Addresses, query values and e-mail addresses are masked when configured (default).</p>",
        a.matched,
        a.lines.len()
    );
    h.push_str("<table><tr><th>time (UTC)</th><th>source</th>");
    for n in fields {
        h.push_str("<th>");
        push_html(&mut h, n);
        h.push_str("</th>");
    }
    h.push_str("<th>line</th><th>ref</th><th>file</th></tr>");
    for k in &a.lines {
        h.push_str("<tr>");
        td(&mut h, &format_utc(k.time_ms as i64));
        td(&mut h, &k.source);
        for n in fields {
            td(&mut h, k.field(n).unwrap_or(""));
        }
        h.push_str("<td class=t>");
        push_html(&mut h, &k.text);
        if k.truncated {
            h.push_str(" …");
        }
        if !k.parsed {
            h.push_str(" <em>(did not parse)</em>");
        }
        h.push_str("</td>");
        td(&mut h, &k.line_ref());
        td(&mut h, &k.file);
        h.push_str("</tr>");
    }
    h.push_str("</table><h2>Kept per source</h2><table><tr><th>source</th><th>lines</th><th>of which did not parse</th><th>bytes</th><th>max bytes</th><th>of which for lines that did not parse</th><th>kept</th><th>evicted</th></tr>");
    for s in &a.sources {
        h.push_str("<tr>");
        td(&mut h, &s.name);
        for n in [
            s.lines as u64,
            s.unparsed_lines as u64,
            s.bytes as u64,
            s.cap as u64,
            s.unparsed_cap as u64,
            s.kept,
            s.evicted,
        ] {
            let _ = write!(h, "<td>{n}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    let hd = r.headers_mut();
    hd.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    hd.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    hd.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    hd.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

fn text(status: StatusCode, msg: String) -> Response {
    reply(status, "text/plain; charset=utf-8", msg)
}

/// The handler.
pub async fn handler(
    State(s): State<Arc<dyn Snapshot>>,
    Extension(access): Extension<Access>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(store) = s.lines() else {
        return text(StatusCode::NOT_FOUND, "no line view here\n".into());
    };
    if !allowed(&access, &store) {
        return text(
            StatusCode::FORBIDDEN,
            "lines are served on a loopback listener, or to clients the web config \
             authenticates (basic_auth_users, or RequireAndVerifyClientCert); \
             global.lines.allow_unauthenticated: true serves them to anyone\n"
                .into(),
        );
    }
    let fields = store.field_names();
    let req = match parse_request(uri.query(), &fields, crate::store::now_ms()) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let output = req
        .output
        .unwrap_or(if browser { Output::Html } else { Output::Json });
    let rendered = tokio::task::spawn_blocking(move || {
        let a = store.query(&req.query);
        match output {
            Output::Json => render_json(&a, req.query.limit),
            Output::Html => render_html(&a, &req, &fields),
        }
    })
    .await;
    match (rendered, output) {
        (Ok(body), Output::Json) => reply(StatusCode::OK, "application/json", body),
        (Ok(body), Output::Html) => reply(StatusCode::OK, "text/html; charset=utf-8", body),
        (Err(e), _) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("render failed: {e}\n"),
        ),
    }
}

#[cfg(test)]
mod tests;
