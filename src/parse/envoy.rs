//! `envoy`: Envoy's access log, in its default text format or as JSON with the keys Istio
//! (`accessLogEncoding: JSON`) and Envoy Gateway write, read under the access-log names of the
//! `http` profile.
//!
//! The default text format:
//!
//! ```text
//! [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
//! %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
//! "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//! ```
//!
//! | field | text | JSON key |
//! |---|---|---|
//! | `timestamp` | `START_TIME` | `start_time` |
//! | `request`, `request_method`, `request_uri`, `server_protocol` | the quoted request | `method`, `path` (else `x-envoy-origin-path`), `protocol` |
//! | `status` | `RESPONSE_CODE` | `response_code` |
//! | `response_flags` | `RESPONSE_FLAGS` | `response_flags` |
//! | `bytes_received`, `body_bytes_sent` | `BYTES_RECEIVED`, `BYTES_SENT` | `bytes_received`, `bytes_sent` |
//! | `request_time` | `DURATION` (ms) in seconds | `duration` (ms) in seconds |
//! | `upstream_service_time` | `X-ENVOY-UPSTREAM-SERVICE-TIME` | `upstream_service_time` (else `x-envoy-upstream-service-time`) |
//! | `x_forwarded_for`, `http_user_agent`, `request_id`, `host`, `upstream_host` | the quoted fields | `x_forwarded_for` (`x-forwarded-for`), `user_agent` (`user-agent`), `request_id` (`x-request-id`), `authority` (`:authority`), `upstream_host` |
//! | `http_referer` | | `referer` (when the JSON format has one) |
//!
//! `-` is a missing value. In JSON, any other key is read by name, as `format: json` reads it.

use super::access::split_request;
use super::json_map::{object_start, Conv, JsonMapParser, Mapping};
use super::scan::Cursor;
use super::{FieldId, LineParser, ParseError, Record};

const MAP: &[Mapping] = &[
    m("timestamp", &["start_time"], Conv::Raw),
    m("request_method", &["method"], Conv::Raw),
    m("request_uri", &["path", "x-envoy-origin-path"], Conv::Raw),
    m("server_protocol", &["protocol"], Conv::Raw),
    m("status", &["response_code"], Conv::Raw),
    m("response_flags", &["response_flags"], Conv::Raw),
    m("bytes_received", &["bytes_received"], Conv::Raw),
    m("body_bytes_sent", &["bytes_sent"], Conv::Raw),
    m("request_time", &["duration"], Conv::Seconds(3)),
    m(
        "upstream_service_time",
        &["upstream_service_time", "x-envoy-upstream-service-time"],
        Conv::Raw,
    ),
    m(
        "x_forwarded_for",
        &["x_forwarded_for", "x-forwarded-for"],
        Conv::Raw,
    ),
    m("http_user_agent", &["user_agent", "user-agent"], Conv::Raw),
    m("request_id", &["request_id", "x-request-id"], Conv::Raw),
    m("host", &["authority", ":authority"], Conv::Raw),
    m("upstream_host", &["upstream_host"], Conv::Raw),
    m("http_referer", &["referer"], Conv::Raw),
    // Text only: the quoted request line.
    m("request", &["request"], Conv::Raw),
];

const fn m(name: &'static str, keys: &'static [&'static str], conv: Conv) -> Mapping {
    Mapping { name, keys, conv }
}

const E_TEXT: ParseError = ParseError("envoy: not the default access log format");

/// Parser for Envoy access logs.
#[derive(Debug, Clone)]
pub struct EnvoyParser {
    json: JsonMapParser,
    /// The ids of [`MAP`]'s names, in its order.
    ids: Vec<FieldId>,
}

impl EnvoyParser {
    /// The parser.
    pub fn new() -> EnvoyParser {
        let mut json = JsonMapParser::new(MAP);
        let ids = MAP
            .iter()
            .map(|m| json.field(m.name).unwrap_or(usize::MAX))
            .collect();
        EnvoyParser { json, ids }
    }

    fn id(&self, name: &str) -> FieldId {
        MAP.iter()
            .position(|m| m.name == name)
            .and_then(|i| self.ids.get(i).copied())
            .unwrap_or(usize::MAX)
    }

    /// The default text format.
    fn text(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        let mut c = Cursor::new(line);
        let set = |rec: &mut Record, name: &str, (s, e): (usize, usize)| {
            if line.get(s..e).is_some_and(|v| v != b"-") {
                rec.set(self.id(name), s, e);
            }
        };
        c.eat(b'[').then_some(()).ok_or(E_TEXT)?;
        let ts = c.pos;
        let end = c.until(b']').ok_or(E_TEXT)?;
        set(rec, "timestamp", (ts, end));
        c.pos += 1;
        (c.eat_str(b" \"")).then_some(()).ok_or(E_TEXT)?;
        let rs = c.pos;
        let re = quoted_end(&mut c).ok_or(E_TEXT)?;
        set(rec, "request", (rs, re));
        let ids = [
            self.id("request_method"),
            self.id("request_uri"),
            self.id("server_protocol"),
        ];
        split_request(line, rs, re, rec, ids);
        for name in [
            "status",
            "response_flags",
            "bytes_received",
            "body_bytes_sent",
            "request_time",
            "upstream_service_time",
        ] {
            c.eat(b' ').then_some(()).ok_or(E_TEXT)?;
            let span = c.token();
            if span.0 == span.1 {
                return Err(E_TEXT);
            }
            set(rec, name, span);
        }
        if !rec.is_set(self.id("status")) {
            return Err(E_TEXT);
        }
        for name in [
            "x_forwarded_for",
            "http_user_agent",
            "request_id",
            "host",
            "upstream_host",
        ] {
            if !c.eat_str(b" \"") {
                break;
            }
            let s = c.pos;
            let e = quoted_end(&mut c).ok_or(E_TEXT)?;
            set(rec, name, (s, e));
        }
        Ok(())
    }
}

impl Default for EnvoyParser {
    fn default() -> Self {
        EnvoyParser::new()
    }
}

/// After an opening quote: the closing quote's position; the cursor ends after it.
fn quoted_end(c: &mut Cursor) -> Option<usize> {
    let e = c.until(b'"')?;
    c.pos += 1;
    Some(e)
}

impl LineParser for EnvoyParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        self.json.field(name)
    }

    fn field_count(&self) -> usize {
        self.json.field_count()
    }

    fn known_fields(&self) -> Vec<String> {
        self.json.known_fields()
    }

    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        if line.first() == Some(&b'[') {
            self.text(line, rec)?;
            // Milliseconds → seconds, as for JSON.
            self.json.convert(line, rec);
            return Ok(());
        }
        let start = object_start(line).ok_or(E_TEXT)?;
        self.json.parse_json(line, start, rec)
    }
}

#[cfg(test)]
#[path = "envoy_tests.rs"]
mod tests;
