//! `traefik`: Traefik's access log with `format: json` (`accessLog.format=json`), read under the
//! access-log names of the `http` profile.
//!
//! | field | Traefik key |
//! |---|---|
//! | `request_method`, `request_uri`, `server_protocol` | `RequestMethod`, `RequestPath`, `RequestProtocol` |
//! | `status`, `body_bytes_sent` | `DownstreamStatus`, `DownstreamContentSize` (what the client got) |
//! | `request_time` | `Duration` (nanoseconds) in seconds |
//! | `http_user_agent`, `http_referer` | `request_User-Agent`, `request_Referer` (only with `accessLog.fields.headers` kept) |
//! | `remote_addr`, `host` | `ClientHost`, `RequestHost` |
//! | `router`, `service`, `origin_status`, `retry_attempts` | `RouterName`, `ServiceName`, `OriginStatus`, `RetryAttempts` |
//! | `timestamp` | `time` (else `StartUTC`) |
//!
//! Any other key is read by name, as `format: json` reads it.

use super::json_map::{Conv, JsonMapParser, Mapping};

const MAP: &[Mapping] = &[
    m("request_method", &["RequestMethod"], Conv::Raw),
    m("request_uri", &["RequestPath"], Conv::Raw),
    m("server_protocol", &["RequestProtocol"], Conv::Raw),
    m("status", &["DownstreamStatus", "OriginStatus"], Conv::Raw),
    m(
        "body_bytes_sent",
        &["DownstreamContentSize", "OriginContentSize"],
        Conv::Raw,
    ),
    m("request_time", &["Duration"], Conv::Seconds(9)),
    m("http_user_agent", &["request_User-Agent"], Conv::Raw),
    m("http_referer", &["request_Referer"], Conv::Raw),
    m("remote_addr", &["ClientHost"], Conv::Raw),
    m("host", &["RequestHost"], Conv::Raw),
    m("router", &["RouterName"], Conv::Raw),
    m("service", &["ServiceName"], Conv::Raw),
    m("origin_status", &["OriginStatus"], Conv::Raw),
    m("retry_attempts", &["RetryAttempts"], Conv::Raw),
    m("timestamp", &["time", "StartUTC"], Conv::Raw),
];

const fn m(name: &'static str, keys: &'static [&'static str], conv: Conv) -> Mapping {
    Mapping { name, keys, conv }
}

/// The `traefik` parser.
pub fn parser() -> JsonMapParser {
    JsonMapParser::new(MAP)
}
