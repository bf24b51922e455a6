//! `caddy`: Caddy's access log (its default JSON encoder, `log { output file … }`), read under
//! the access-log names of the `http` profile.
//!
//! | field | Caddy key |
//! |---|---|
//! | `request_method`, `request_uri`, `server_protocol` | `request.method`, `request.uri`, `request.proto` |
//! | `status`, `body_bytes_sent` | `status`, `size` |
//! | `request_time` | `duration` (seconds) |
//! | `http_user_agent`, `http_referer` | the first of `request.headers.User-Agent`, `request.headers.Referer` |
//! | `remote_addr`, `host` | `request.client_ip` (else `request.remote_ip`), `request.host` |
//! | `timestamp`, `logger`, `level`, `message` | `ts`, `logger`, `level`, `msg` |
//!
//! Any other key or dotted path is read by name, as `format: json` reads it; a journald prefix
//! (`caddy[772]: {…}`) is skipped.

use super::json_map::{Conv, JsonMapParser, Mapping};

const MAP: &[Mapping] = &[
    m("request_method", &["request.method"], Conv::Raw),
    m("request_uri", &["request.uri"], Conv::Raw),
    m("server_protocol", &["request.proto"], Conv::Raw),
    m("status", &["status"], Conv::Raw),
    m("body_bytes_sent", &["size"], Conv::Raw),
    m("request_time", &["duration"], Conv::Raw),
    m(
        "http_user_agent",
        &["request.headers.User-Agent"],
        Conv::First,
    ),
    m("http_referer", &["request.headers.Referer"], Conv::First),
    m(
        "remote_addr",
        &["request.client_ip", "request.remote_ip"],
        Conv::Raw,
    ),
    m("host", &["request.host"], Conv::Raw),
    m("timestamp", &["ts"], Conv::Raw),
    m("logger", &["logger"], Conv::Raw),
    m("level", &["level"], Conv::Raw),
    m("message", &["msg"], Conv::Raw),
];

const fn m(name: &'static str, keys: &'static [&'static str], conv: Conv) -> Mapping {
    Mapping { name, keys, conv }
}

/// The `caddy` parser.
pub fn parser() -> JsonMapParser {
    JsonMapParser::new(MAP)
}
