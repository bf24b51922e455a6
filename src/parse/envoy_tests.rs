use super::*;

fn get(p: &mut EnvoyParser, line: &str, names: &[&str]) -> Vec<Option<String>> {
    let ids: Vec<FieldId> = names.iter().map(|n| p.field(n).unwrap()).collect();
    let mut rec = Record::with_fields(p.field_count());
    p.parse(line.as_bytes(), &mut rec)
        .unwrap_or_else(|e| panic!("{e}: {line}"));
    ids.iter()
        .map(|&id| {
            rec.get(line.as_bytes(), id)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .collect()
}

const NAMES: &[&str] = &[
    "method",
    "uri",
    "status",
    "bytes",
    "request_time",
    "user_agent",
    "host",
    "response_flags",
    "upstream_service_time",
];

fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|x| x.map(String::from)).collect()
}

#[test]
fn default_text_format() {
    let mut p = EnvoyParser::new();
    assert_eq!(
        get(
            &mut p,
            r#"[2026-12-06T11:00:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80""#,
            NAMES
        ),
        s(&[
            Some("POST"),
            Some("/api/v1/locations"),
            Some("204"),
            Some("0"),
            Some("0.226"),
            Some("nsq2http"),
            Some("locations"),
            None,
            Some("100")
        ])
    );
    // No upstream: `-` everywhere it can be.
    let v = get(
        &mut p,
        r#"[2026-12-06T11:00:00.310Z] "GET /x HTTP/1.1" 503 UH 0 91 0 - "-" "curl/8.0" "id" "a.example" "-""#,
        NAMES,
    );
    assert_eq!(
        v,
        s(&[
            Some("GET"),
            Some("/x"),
            Some("503"),
            Some("91"),
            Some("0.000"),
            Some("curl/8.0"),
            Some("a.example"),
            Some("UH"),
            None
        ])
    );
}

#[test]
fn istio_and_envoy_gateway_json() {
    let mut p = EnvoyParser::new();
    let istio = r#"{"authority":"shop.example","bytes_received":0,"bytes_sent":1234,"downstream_remote_address":"10.0.0.9:5123","duration":17,"method":"GET","path":"/cart?x=1","protocol":"HTTP/1.1","response_code":200,"response_flags":"-","start_time":"2026-12-06T11:00:00.000Z","upstream_service_time":"15","user_agent":"Mozilla/5.0","x_forwarded_for":null}"#;
    assert_eq!(
        get(&mut p, istio, NAMES),
        s(&[
            Some("GET"),
            Some("/cart?x=1"),
            Some("200"),
            Some("1234"),
            Some("0.017"),
            Some("Mozilla/5.0"),
            Some("shop.example"),
            Some("-"),
            Some("15")
        ])
    );
    let gw = r#"{":authority":"shop.example","bytes_sent":5,"duration":1500,"method":"POST","x-envoy-origin-path":"/pay","protocol":"HTTP/2","response_code":502,"response_flags":"UF","user-agent":"okhttp/4.9","x-envoy-upstream-service-time":null}"#;
    assert_eq!(
        get(&mut p, gw, NAMES),
        s(&[
            Some("POST"),
            Some("/pay"),
            Some("502"),
            Some("5"),
            Some("1.500"),
            Some("okhttp/4.9"),
            Some("shop.example"),
            Some("UF"),
            None
        ])
    );
    // Any other key by name.
    assert_eq!(
        get(&mut p, istio, &["downstream_remote_address"]),
        s(&[Some("10.0.0.9:5123")])
    );
}

#[test]
fn traefik_and_caddy() {
    let mut t = crate::parse::traefik::parser();
    let line = r#"{"ClientHost":"192.0.2.7","DownstreamContentSize":357,"DownstreamStatus":404,"Duration":357313,"OriginStatus":404,"RequestHost":"shop.example","RequestMethod":"GET","RequestPath":"/x?y","RequestProtocol":"HTTP/1.1","RouterName":"web@docker","request_User-Agent":"curl/8.0","level":"info","msg":"","time":"2026-12-06T11:00:00Z"}"#;
    let names = [
        "method",
        "uri",
        "status",
        "bytes",
        "request_time",
        "user_agent",
        "referer",
        "router",
        "time",
        "RouterName",
    ];
    let ids: Vec<FieldId> = names.iter().map(|n| t.field(n).unwrap()).collect();
    let mut rec = Record::with_fields(t.field_count());
    t.parse(line.as_bytes(), &mut rec).unwrap();
    let got: Vec<Option<&[u8]>> = ids.iter().map(|&id| rec.get(line.as_bytes(), id)).collect();
    assert_eq!(
        got,
        [
            Some(&b"GET"[..]),
            Some(b"/x?y"),
            Some(b"404"),
            Some(b"357"),
            Some(b"0.000357313"),
            Some(b"curl/8.0"),
            None,
            Some(b"web@docker"),
            Some(b"2026-12-06T11:00:00Z"),
            Some(b"web@docker")
        ]
    );
    assert!(t
        .parse(b"DEBUG: CrowdsecBouncerTraefikPlugin: x", &mut rec)
        .is_err());

    let mut c = crate::parse::caddy::parser();
    let line = r#"Dec  6 11:00:00 web1 caddy[772]: {"level":"info","ts":1795741200.5,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"192.0.2.9","remote_port":"41342","client_ip":"198.51.100.2","proto":"HTTP/2.0","method":"GET","host":"shop.example","uri":"/mail/list","headers":{"User-Agent":["Mozilla/5.0 \"quoted\""],"Referer":["https://search.example/"],"Accept":["*/*"]}},"bytes_read":0,"user_id":"","duration":0.000929675,"size":10900,"status":200,"resp_headers":{"Server":["Caddy"]}}"#;
    let names = [
        "method",
        "uri",
        "status",
        "bytes",
        "request_time",
        "user_agent",
        "referer",
        "remote_addr",
        "protocol",
    ];
    let ids: Vec<FieldId> = names.iter().map(|n| c.field(n).unwrap()).collect();
    let mut rec = Record::with_fields(c.field_count());
    c.parse(line.as_bytes(), &mut rec).unwrap();
    let got: Vec<Option<&[u8]>> = ids.iter().map(|&id| rec.get(line.as_bytes(), id)).collect();
    assert_eq!(
        got,
        [
            Some(&b"GET"[..]),
            Some(b"/mail/list"),
            Some(b"200"),
            Some(b"10900"),
            Some(b"0.000929675"),
            Some(b"Mozilla/5.0 \"quoted\""),
            Some(b"https://search.example/"),
            Some(b"198.51.100.2"),
            Some(b"HTTP/2.0")
        ]
    );
}
