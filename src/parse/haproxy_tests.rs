use super::*;
use std::collections::BTreeMap;

fn parse(line: &str) -> Result<BTreeMap<&'static str, String>, ParseError> {
    let p = HaproxyParser::new();
    let mut rec = Record::with_fields(p.field_count());
    p.parse(line.as_bytes(), &mut rec)?;
    Ok(SCHEMA
        .names
        .iter()
        .enumerate()
        .filter_map(|(id, n)| {
            let v = rec.get(line.as_bytes(), id)?;
            Some((*n, String::from_utf8_lossy(v).into_owned()))
        })
        .collect())
}

fn want(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Lines as HAProxy 2.6 writes them with `log stdout format raw` (captured from a run).
#[test]
fn httplog() {
    assert_eq!(
        parse(r#"127.0.0.1:56810 [06/Dec/2026:13:54:32.270] fe_http be/s1 0/0/1001/35/1036 404 500 - - ---- 1/1/0/0/1 0/0 "GET /a?b=c HTTP/1.1""#).unwrap(),
        want(&[
            ("remote_addr", "127.0.0.1"),
            ("client_port", "56810"),
            ("time_local", "06/Dec/2026:13:54:32.270"),
            ("frontend", "fe_http"),
            ("backend", "be"),
            ("server", "s1"),
            ("time_request", "0"),
            ("time_queue", "0"),
            ("time_connect", "1001"),
            ("time_response", "35"),
            ("time_active", "1036"),
            ("request_time", "1.036"),
            ("status", "404"),
            ("body_bytes_sent", "500"),
            ("captured_request_cookie", "-"),
            ("captured_response_cookie", "-"),
            ("termination_state", "----"),
            ("actconn", "1"),
            ("feconn", "1"),
            ("beconn", "0"),
            ("srv_conn", "0"),
            ("retries", "1"),
            ("srv_queue", "0"),
            ("backend_queue", "0"),
            ("request", "GET /a?b=c HTTP/1.1"),
            ("request_method", "GET"),
            ("request_uri", "/a?b=c"),
            ("server_protocol", "HTTP/1.1"),
        ])
    );
    // Header captures, TLS frontend, aborted timers, logasap, a syslog prefix, IPv6.
    let f = parse(r#"Dec  6 11:00:00 lb1 haproxy[14389]: ::1:33317 [06/Dec/2026:11:00:00.655] https-in~ static/<NOSRV> 10/-1/-1/-1/+109 503 +2750 - - SC-- 1/1/1/1/+3 0/0 {example.com|Mozilla/5.0 (X11)} {} "GET /index.html HTTP/1.1""#).unwrap();
    assert_eq!(f["remote_addr"], "::1");
    assert_eq!(f["frontend"], "https-in~");
    assert_eq!(f["server"], "<NOSRV>");
    assert_eq!(
        (f["time_connect"].as_str(), f["time_active"].as_str()),
        ("-1", "109")
    );
    assert_eq!(
        (f["status"].as_str(), f["body_bytes_sent"].as_str()),
        ("503", "2750")
    );
    assert_eq!(f["retries"], "3");
    assert_eq!(
        f["captured_request_headers"],
        "example.com|Mozilla/5.0 (X11)"
    );
    assert_eq!(f.get("captured_response_headers"), None);
    assert_eq!(f["request_time"], "0.109");
    // A bad request has no method.
    let b = parse(r#"10.0.0.1:1 [06/Dec/2026:11:00:00.000] fe fe/<NOSRV> -1/-1/-1/-1/0 400 0 - - PR-- 1/1/0/0/0 0/0 "<BADREQ>""#).unwrap();
    assert_eq!(
        (b["status"].as_str(), b.get("request_method")),
        ("400", None)
    );
}

#[test]
fn tcplog_and_clf() {
    let t = parse(
        "127.0.0.1:43494 [06/Dec/2026:13:54:33.510] fe_tcp be_tcp/s1 1/0/28 520 -- 1/1/0/0/0 0/0",
    )
    .unwrap();
    assert_eq!(
        (
            t["time_total"].as_str(),
            t["request_time"].as_str(),
            t["body_bytes_sent"].as_str()
        ),
        ("28", "0.028", "520")
    );
    assert_eq!(
        (t.get("status"), t["termination_state"].as_str()),
        (None, "--")
    );
    let c = parse(r#"127.0.0.1 - - [06/Dec/2026:13:54:33 +0000] "GET /x HTTP/1.1" 404 500 "" "" 54058 390 "fe_clf" "be" "s1" 0 0 0 1 1 ---- 1 1 0 0 0 0 0 "" "" "#).unwrap();
    assert_eq!(c["time_local"], "06/Dec/2026:13:54:33 +0000");
    assert_eq!(
        (c["request_uri"].as_str(), c["status"].as_str()),
        ("/x", "404")
    );
    assert_eq!(
        (
            c["frontend"].as_str(),
            c["backend"].as_str(),
            c["server"].as_str()
        ),
        ("fe_clf", "be", "s1")
    );
    assert_eq!(
        (c["time_active"].as_str(), c["request_time"].as_str()),
        ("1", "0.001")
    );
    assert_eq!(c.get("http_user_agent"), None);
    let u = parse(r#"127.0.0.1 - - [06/Dec/2026:13:54:33 +0000] "GET /y HTTP/1.1" 200 5 "https://r.example/" "curl/8.0" 1 2 "fe" "be" "s1" 0 0 0 1 1 ---- 1 1 0 0 0 0 0 "" "" "#).unwrap();
    assert_eq!(
        (u["http_referer"].as_str(), u["http_user_agent"].as_str()),
        ("https://r.example/", "curl/8.0")
    );
}

#[test]
fn not_haproxy() {
    for bad in [
        "",
        "hello world",
        "Dec  6 11:00:00 lb1 haproxy[1]: Proxy fe started.",
        "Dec  6 11:00:00 lb1 haproxy[1]: Connect from 10.0.1.2:33312 to 10.0.3.31:8012 (www/HTTP)",
        r#"127.0.0.1:1 [06/Dec/2026:13:54:32.270] fe be/s1 0/0/1/35 404 500 - - ---- 1/1/0/0/1 0/0 "GET / HTTP/1.1""#,
        r#"127.0.0.1 - - [06/Dec/2026:13:54:33 +0000] "GET /x HTTP/1.1" 404 500"#,
        "1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}
