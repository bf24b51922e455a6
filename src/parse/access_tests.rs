//! Tests of the access-log parser.

use super::*;

fn parse(mode: AccessMode, line: &[u8]) -> Result<Vec<Option<String>>, ParseError> {
    let p = AccessParser::new(mode);
    let mut rec = Record::with_fields(p.field_count());
    p.parse(line, &mut rec)?;
    Ok((0..NAMES.len())
        .map(|i| {
            rec.get(line, i)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .collect())
}

/// Field values by name, `None` for missing.
fn fields(mode: AccessMode, line: &[u8]) -> std::collections::BTreeMap<&'static str, String> {
    let v = parse(mode, line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
    NAMES
        .iter()
        .zip(v)
        .filter_map(|(n, v)| v.map(|v| (*n, v)))
        .collect()
}

fn get(mode: AccessMode, line: &[u8], name: &str) -> Option<String> {
    fields(mode, line).get(name).cloned()
}

const NORMAL: &[u8] = br#"203.0.113.7 - alice [10/Oct/2023:13:55:36 -0700] "GET /api/v1/items?id=3 HTTP/1.1" 200 2326 "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64)""#;

#[test]
fn combined_normal() {
    let f = fields(AccessMode::Combined, NORMAL);
    let want: &[(&str, &str)] = &[
        ("remote_addr", "203.0.113.7"),
        ("remote_user", "alice"),
        ("time_local", "10/Oct/2023:13:55:36 -0700"),
        ("request", "GET /api/v1/items?id=3 HTTP/1.1"),
        ("request_method", "GET"),
        ("request_uri", "/api/v1/items?id=3"),
        ("server_protocol", "HTTP/1.1"),
        ("status", "200"),
        ("body_bytes_sent", "2326"),
        ("http_referer", "https://example.com/start"),
        ("http_user_agent", "Mozilla/5.0 (X11; Linux x86_64)"),
    ];
    let want: std::collections::BTreeMap<&str, String> =
        want.iter().map(|(k, v)| (*k, v.to_string())).collect();
    assert_eq!(f, want);
    // auto gives the same on a plain combined line
    assert_eq!(fields(AccessMode::Auto, NORMAL), want);
}

#[test]
fn common_normal_and_extras_ignored() {
    let line = b"::1 - - [26/Dec/2016:16:16:29 +0200] \"GET /favicon.ico HTTP/1.1\" 404 209";
    let f = fields(AccessMode::Common, line);
    assert_eq!(f.get("remote_addr").map(String::as_str), Some("::1"));
    assert_eq!(f.get("status").map(String::as_str), Some("404"));
    assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("209"));
    assert_eq!(
        f.get("request_uri").map(String::as_str),
        Some("/favicon.ico")
    );
    assert_eq!(f.len(), 9);
    // common on a combined line: the referer/UA are ignored
    let f = fields(AccessMode::Common, NORMAL);
    assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("2326"));
    assert!(!f.contains_key("http_referer"));
    // combined requires referer and UA
    assert_eq!(parse(AccessMode::Combined, line), Err(E_REFERER));
    // auto takes the common line
    assert_eq!(
        get(AccessMode::Auto, line, "body_bytes_sent").as_deref(),
        Some("209")
    );
    assert_eq!(get(AccessMode::Auto, line, "http_user_agent"), None);
}

#[test]
fn field_names_and_aliases() {
    let mut p = AccessParser::new(AccessMode::Combined);
    assert_eq!(p.field("method"), Some(REQUEST_METHOD));
    assert_eq!(p.field("uri"), Some(REQUEST_URI));
    assert_eq!(p.field("path"), Some(REQUEST_URI));
    assert_eq!(p.field("protocol"), Some(SERVER_PROTOCOL));
    assert_eq!(p.field("bytes"), Some(BODY_BYTES_SENT));
    assert_eq!(p.field("size"), Some(BODY_BYTES_SENT));
    assert_eq!(p.field("referer"), Some(HTTP_REFERER));
    assert_eq!(p.field("user_agent"), Some(HTTP_USER_AGENT));
    assert_eq!(p.field("request_time"), None);
    assert_eq!(p.field("host"), None);
    assert_eq!(p.field("nope"), None);
    assert_eq!(p.field_count(), 11);
    let mut c = AccessParser::new(AccessMode::Common);
    assert_eq!(c.field("user_agent"), None);
    assert_eq!(c.field("status"), Some(STATUS));
    let mut a = AccessParser::new(AccessMode::Auto);
    assert_eq!(a.field("request_time"), Some(REQUEST_TIME));
    assert_eq!(a.field("host"), Some(HOST));
    assert_eq!(a.known_fields().len(), 13);
}

#[test]
fn dash_sizes_and_dash_request() {
    // apache 408: request "-" and size "-"
    let line = b"::1 - - [26/Dec/2016:16:16:48 +0200] \"-\" 408 -";
    for mode in [AccessMode::Common, AccessMode::Auto] {
        let f = fields(mode, line);
        assert_eq!(f.get("request").map(String::as_str), Some("-"));
        assert_eq!(f.get("status").map(String::as_str), Some("408"));
        assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("-"));
        assert!(!f.contains_key("request_method"));
        assert!(!f.contains_key("request_uri"));
        assert!(!f.contains_key("server_protocol"));
    }
    let line = b"127.0.0.1 - - [02/Feb/2019:05:38:45 +0100] \"-\" 408 152 \"-\" \"-\"";
    let f = fields(AccessMode::Combined, line);
    assert_eq!(f.get("request").map(String::as_str), Some("-"));
    assert_eq!(f.get("http_referer").map(String::as_str), Some("-"));
    assert_eq!(f.get("http_user_agent").map(String::as_str), Some("-"));
}

#[test]
fn empty_request() {
    let line = b"127.0.0.1 - - [12/Apr/2018:09:48:40 +0200] \"\" 400 0 \"-\" \"-\"";
    for mode in [AccessMode::Combined, AccessMode::Auto] {
        let f = fields(mode, line);
        assert_eq!(f.get("request").map(String::as_str), Some(""));
        assert_eq!(f.get("status").map(String::as_str), Some("400"));
        assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("0"));
        assert!(!f.contains_key("request_method"));
    }
}

#[test]
fn xff_lists() {
    let line = b"10.0.0.2, 10.0.0.1, 127.0.0.1 - - [07/Dec/2016:11:05:07 +0100] \"GET /ocelot HTTP/1.1\" 200 571 \"-\" \"Mozilla/5.0 Firefox/49.0\"";
    for mode in [AccessMode::Combined, AccessMode::Auto] {
        let f = fields(mode, line);
        assert_eq!(
            f.get("remote_addr").map(String::as_str),
            Some("10.0.0.2, 10.0.0.1, 127.0.0.1")
        );
        assert_eq!(f.get("request_uri").map(String::as_str), Some("/ocelot"));
        assert!(!f.contains_key("host"));
    }
    // quoted list before the client address (CloudFront)
    let line = br#""10.5.102.222, 199.96.1.1, 204.246.1.1" 10.2.1.185 - - [22/Jan/2016:13:18:29 +0000] "GET /assets/x?q=100 HTTP/1.1" 200 25507 "-" "Amazon CloudFront""#;
    for mode in [AccessMode::Combined, AccessMode::Auto] {
        let f = fields(mode, line);
        assert_eq!(
            f.get("remote_addr").map(String::as_str),
            Some(r#""10.5.102.222, 199.96.1.1, 204.246.1.1" 10.2.1.185"#)
        );
        assert!(!f.contains_key("host"));
        assert_eq!(
            f.get("http_user_agent").map(String::as_str),
            Some("Amazon CloudFront")
        );
    }
    // full-form IPv6 inside the list
    let line = b"2a03:0000:10ff:f00f:0000:0000:0:8000, 10.225.192.17 10.2.2.121 - - [30/Dec/2016:06:47:09 +0000] \"GET /test.html HTTP/1.1\" 404 8571 \"-\" \"Facebot\"";
    let f = fields(AccessMode::Auto, line);
    assert_eq!(
        f.get("remote_addr").map(String::as_str),
        Some("2a03:0000:10ff:f00f:0000:0000:0:8000, 10.225.192.17 10.2.2.121")
    );
    assert!(!f.contains_key("host"));
    assert_eq!(f.get("status").map(String::as_str), Some("404"));
}

#[test]
fn vhost_prefix_auto_only() {
    let line = b"vhost1.example.fr 123.123.123.123 - - [04/Jul/2019:09:20:46 +0200] \"GET / HTTP/1.1\" 200 32953 \"-\" \"Mozilla/5.0\"";
    let f = fields(AccessMode::Auto, line);
    assert_eq!(f.get("host").map(String::as_str), Some("vhost1.example.fr"));
    assert_eq!(
        f.get("remote_addr").map(String::as_str),
        Some("123.123.123.123")
    );
    assert_eq!(f.get("request_uri").map(String::as_str), Some("/"));
    let f = fields(AccessMode::Combined, line);
    assert_eq!(
        f.get("remote_addr").map(String::as_str),
        Some("vhost1.example.fr 123.123.123.123")
    );
}

#[test]
fn hostnames_ipv6_and_tz() {
    let line = b"monitoring-server - - [29/May/2017:19:02:48 +0000] \"GET /status HTTP/1.1\" 200 612 \"-\" \"Mozilla/5.0\" \"-\"";
    let f = fields(AccessMode::Auto, line);
    assert_eq!(
        f.get("remote_addr").map(String::as_str),
        Some("monitoring-server")
    );
    assert!(!f.contains_key("host"));
    assert!(!f.contains_key("request_time"), "trailing \"-\" is ignored");
    assert_eq!(
        f.get("http_user_agent").map(String::as_str),
        Some("Mozilla/5.0")
    );
    let line = b"2001:db8::1 - - [26/Dec/2016:16:22:13 -0930] \"GET /hello HTTP/2.0\" 404 499 \"-\" \"curl/8\"";
    let f = fields(AccessMode::Combined, line);
    assert_eq!(
        f.get("remote_addr").map(String::as_str),
        Some("2001:db8::1")
    );
    assert_eq!(
        f.get("time_local").map(String::as_str),
        Some("26/Dec/2016:16:22:13 -0930")
    );
    assert_eq!(
        f.get("server_protocol").map(String::as_str),
        Some("HTTP/2.0")
    );
    // an IPv6 address in brackets is not the time
    let line =
        b"[2001:db8::1] - - [26/Dec/2016:16:22:13 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"";
    assert_eq!(
        get(AccessMode::Combined, line, "remote_addr").as_deref(),
        Some("[2001:db8::1]")
    );
}

#[test]
fn auto_trailing_request_time() {
    let line = b"88.60.217.98 - - [24/Nov/2025:16:00:00 +0000] \"GET /api/v1/contacts/items/152910 HTTP/1.1\" 200 1724 \"https://gw.example.co.kr/\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\" 0.022";
    let f = fields(AccessMode::Auto, line);
    assert_eq!(f.get("request_time").map(String::as_str), Some("0.022"));
    assert_eq!(
        f.get("http_user_agent").map(String::as_str),
        Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
    );
    assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("1724"));
    // combined ignores it
    assert!(!fields(AccessMode::Combined, line).contains_key("request_time"));
    // after "-" extras, and with upstream time following
    let line = b"1.2.3.4 - - [24/Nov/2025:16:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\" \"-\" 1.5 0.9";
    assert_eq!(
        get(AccessMode::Auto, line, "request_time").as_deref(),
        Some("1.5")
    );
    // a non-number extra is skipped
    let line =
        b"1.2.3.4 - - [24/Nov/2025:16:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\" - 0.5";
    assert_eq!(
        get(AccessMode::Auto, line, "request_time").as_deref(),
        Some("0.5")
    );
    // common + trailing number
    let line = b"1.2.3.4 - - [24/Nov/2025:16:00:00 +0000] \"GET / HTTP/1.1\" 200 1 0.25";
    let f = fields(AccessMode::Auto, line);
    assert_eq!(f.get("request_time").map(String::as_str), Some("0.25"));
    assert!(!f.contains_key("http_referer"));
}

#[test]
fn escapes_in_quoted_fields() {
    // apache \" inside the UA and the request; nginx \x22
    let line = br#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /a\"b HTTP/1.1" 200 5 "-" "Bot \"quoted\" \\" 0.1"#;
    let f = fields(AccessMode::Auto, line);
    assert_eq!(
        f.get("request").map(String::as_str),
        Some(r#"GET /a\"b HTTP/1.1"#)
    );
    assert_eq!(f.get("request_uri").map(String::as_str), Some(r#"/a\"b"#));
    assert_eq!(
        f.get("http_user_agent").map(String::as_str),
        Some(r#"Bot \"quoted\" \\"#)
    );
    assert_eq!(f.get("request_time").map(String::as_str), Some("0.1"));
    let line =
        br#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /\x22x HTTP/1.1" 200 5 "-" "a\x22b""#;
    let f = fields(AccessMode::Combined, line);
    assert_eq!(f.get("request_uri").map(String::as_str), Some(r#"/\x22x"#));
    assert_eq!(
        f.get("http_user_agent").map(String::as_str),
        Some(r#"a\x22b"#)
    );
    // an unescaped stray quote inside the request does not end it
    let line = br#"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /a"b HTTP/1.1" 400 5 "-" "ua""#;
    assert_eq!(
        get(AccessMode::Combined, line, "request").as_deref(),
        Some(r#"GET /a"b HTTP/1.1"#)
    );
}

#[test]
fn junk_requests() {
    let cases: &[&[u8]] = &[
        br#"lv|'|'|VHJvamFuX0M0NkY2RTk=|'|'|MARK|'|'|user|'|'|2013-11-22|'|'||'|'|Win XP|'|'|[endof]"#,
        br#"Gh0st\xAD\x00\x00\x00\xE0\x00\x00\x00x\x9CKS``\x98"#,
        br#"\x16\x03\x01\x00t\x01\x00\x00p\x03\x01YF}\xF6\x7F3\xD3\xA2'O"#,
        b"HELP",
        b"batman",
        b"get / http/1.1",
        b"GET /only-two",
        b"GET  HTTP/1.1",
    ];
    for req in cases {
        let mut line = b"1.2.3.4 - - [29/Jul/2023:10:26:06 -0700] \"".to_vec();
        line.extend_from_slice(req);
        line.extend_from_slice(b"\" 400 157 \"-\" \"-\"");
        let f = fields(AccessMode::Auto, &line);
        assert_eq!(f.get("request").map(|s| s.as_bytes()), Some(*req));
        assert_eq!(f.get("status").map(String::as_str), Some("400"));
        assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("157"));
        assert!(
            !f.contains_key("request_method"),
            "{}",
            String::from_utf8_lossy(req)
        );
        assert!(!f.contains_key("request_uri"));
        assert!(!f.contains_key("server_protocol"));
    }
    // URI with a space, WebDAV method
    let line = b"1.2.3.4 - - [29/Jul/2023:10:26:06 -0700] \"VERSION-CONTROL /a b HTTP/1.1\" 400 1 \"-\" \"-\"";
    let f = fields(AccessMode::Combined, line);
    assert_eq!(
        f.get("request_method").map(String::as_str),
        Some("VERSION-CONTROL")
    );
    assert_eq!(f.get("request_uri").map(String::as_str), Some("/a b"));
}

#[test]
fn raw_bytes_invalid_utf8_and_nul() {
    let line = b"1.2.3.4 - us\xffer [29/Jul/2023:10:26:06 -0700] \"GET /\xc3\x28\x00x HTTP/1.1\" 200 1 \"\xfe\" \"\x00\x01\"";
    let p = AccessParser::new(AccessMode::Auto);
    let mut rec = Record::with_fields(p.field_count());
    p.parse(line, &mut rec).unwrap();
    assert_eq!(rec.get(line, REMOTE_USER), Some(&b"us\xffer"[..]));
    assert_eq!(rec.get(line, REQUEST_URI), Some(&b"/\xc3\x28\x00x"[..]));
    assert_eq!(rec.get(line, HTTP_REFERER), Some(&b"\xfe"[..]));
    assert_eq!(rec.get(line, HTTP_USER_AGENT), Some(&b"\x00\x01"[..]));
}

#[test]
fn malformed_lines_are_errors() {
    let bad: &[(&[u8], ParseError)] = &[
        (b"", E_PREFIX),
        (b"\x00\x00\x00", E_PREFIX),
        (b"just some text", E_PREFIX),
        (b"[10/Oct/2023:13:55:36 +0000]", E_PREFIX),
        (b"x [10/Oct/2023:13:55:36 +0000]", E_PREFIX),
        (b"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000", E_TIME),
        (b"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000]", E_REQUEST),
        (b"1.2.3.4 - - [t] GET / HTTP/1.1 200 1", E_REQUEST),
        (b"1.2.3.4 - - [t] \"GET / HTTP/1.1", E_REQUEST),
        (b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" ", E_REQUEST),
        (b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200", E_STATUS),
        (b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 ", E_STATUS),
    ];
    for (line, err) in bad {
        for mode in [AccessMode::Common, AccessMode::Combined, AccessMode::Auto] {
            assert_eq!(
                parse(mode, line).err(),
                Some(err.clone()),
                "{mode:?} {}",
                String::from_utf8_lossy(line)
            );
        }
    }
    let line = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"unterminated";
    assert_eq!(parse(AccessMode::Combined, line), Err(E_REFERER));
    assert_eq!(
        get(AccessMode::Common, line, "status").as_deref(),
        Some("200")
    );
    // auto keeps what it has: status and size, no referer/agent
    let f = fields(AccessMode::Auto, line);
    assert_eq!(f.get("status").map(String::as_str), Some("200"));
    assert_eq!(f.get("body_bytes_sent").map(String::as_str), Some("1"));
    assert!(!f.contains_key("http_referer") && !f.contains_key("http_user_agent"));
    // only one quoted field after the size, then a number
    let line = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" 0.7";
    let f = fields(AccessMode::Auto, line);
    assert_eq!(f.get("request_time").map(String::as_str), Some("0.7"));
    assert!(!f.contains_key("http_referer"));
    // junk glued to the size stays in the size (the rules layer sees a non-number)
    let line = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1\"x";
    assert_eq!(
        get(AccessMode::Auto, line, "body_bytes_sent").as_deref(),
        Some("1\"x")
    );
}

#[test]
fn very_long_line() {
    let mut line = b"1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET /".to_vec();
    line.extend(std::iter::repeat_n(b'a', 1 << 20));
    line.extend_from_slice(b" HTTP/1.1\" 414 0 \"-\" \"");
    line.extend(std::iter::repeat_n(b'"', 1000));
    line.extend_from_slice(b"\" 0.5");
    let p = AccessParser::new(AccessMode::Auto);
    let mut rec = Record::with_fields(p.field_count());
    p.parse(&line, &mut rec).unwrap();
    assert_eq!(
        rec.get(&line, REQUEST_URI).map(<[u8]>::len),
        Some((1 << 20) + 1)
    );
    assert_eq!(rec.get(&line, STATUS), Some(&b"414"[..]));
    assert_eq!(rec.get(&line, HTTP_USER_AGENT).map(<[u8]>::len), Some(1000));
    assert_eq!(rec.get(&line, REQUEST_TIME), Some(&b"0.5"[..]));
    // a megabyte of '[' and spaces fails quickly without panicking
    let junk: Vec<u8> = b" [".iter().copied().cycle().take(1 << 20).collect();
    assert!(p.parse(&junk, &mut rec).is_err());
}

#[test]
fn time_fast_path_is_exact() {
    // a `]` at the usual offset but after a shorter time must not be taken as its end
    let line = b"1.2.3.4 - - [short] \"GET /aaaaaaaaaaaaa]b HTTP/1.1\" 200 1 \"-\" \"-\"";
    assert_eq!(
        get(AccessMode::Combined, line, "time_local").as_deref(),
        Some("short")
    );
    assert_eq!(
        get(AccessMode::Combined, line, "request_uri").as_deref(),
        Some("/aaaaaaaaaaaaa]b")
    );
    let line =
        b"1.2.3.4 - - [2023-10-10T13:55:36.123456+02:00] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"";
    assert_eq!(
        get(AccessMode::Combined, line, "time_local").as_deref(),
        Some("2023-10-10T13:55:36.123456+02:00")
    );
}

#[test]
fn crlf_is_the_callers_job() {
    // the caller strips `\r\n`; a `\r` left in stays in a bare last field, and after the
    // quoted agent it is ignored
    let base = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1 \"-\" \"ua\"".to_vec();
    assert_eq!(
        get(AccessMode::Combined, &base, "http_user_agent").as_deref(),
        Some("ua")
    );
    let mut cr = base.clone();
    cr.push(b'\r');
    assert_eq!(
        get(AccessMode::Combined, &cr, "http_user_agent").as_deref(),
        Some("ua")
    );
    let common = b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200 1\r";
    assert_eq!(
        get(AccessMode::Common, common, "body_bytes_sent").as_deref(),
        Some("1\r")
    );
}

#[test]
fn record_reuse_after_clear() {
    let p = AccessParser::new(AccessMode::Auto);
    let mut rec = Record::with_fields(p.field_count());
    let a = b"h 1.1.1.1 - - [t] \"GET /x HTTP/1.1\" 200 1 \"-\" \"ua\" 0.1";
    p.parse(a, &mut rec).unwrap();
    assert_eq!(rec.get(a, HOST), Some(&b"h"[..]));
    rec.clear();
    let b = b"1.1.1.1 - - [t] \"-\" 200 1";
    p.parse(b, &mut rec).unwrap();
    assert_eq!(rec.get(b, HOST), None);
    assert_eq!(rec.get(b, REQUEST_TIME), None);
    assert_eq!(rec.get(b, REQUEST_METHOD), None);
    assert_eq!(rec.get(b, REMOTE_ADDR), Some(&b"1.1.1.1"[..]));
}
