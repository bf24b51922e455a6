//! Shared by the benches: access-log lines of a realistic shape, from a file named by an
//! environment variable (e.g. written by `scripts/gen-access-log.py`) or generated here.
#![allow(dead_code)]

const UAS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "GroupwareApp/4.2.1 (iOS 17.5; iPhone15,2)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
];
const PATHS: [&str; 5] = [
    "/mail/list",
    "/api/v1/board/items/",
    "/static/drive/app.css",
    "/login",
    "/api/v1/users/",
];
const REFS: [&str; 3] = [
    "-",
    "https://gw.example.co.kr/mail/list",
    "https://www.google.com/",
];
const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
const STATUS: [u16; 5] = [200, 200, 304, 404, 500];

pub fn synthetic(n: usize, json: bool) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |m: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m as u64) as usize
    };
    (0..n)
        .map(|_| {
            let ip = format!("{}.{}.{}.{}", 1 + next(223), next(256), next(256), 1 + next(254));
            let path = format!("{}{}", PATHS[next(PATHS.len())], next(999_999));
            let (m, st, size) = (METHODS[next(4)], STATUS[next(5)], next(50_000));
            let (r, ua, rt) = (REFS[next(3)], UAS[next(UAS.len())], next(2000) as f64 / 1000.0);
            let ts = "24/Nov/2025:16:00:00 +0000";
            if json {
                format!(
                    r#"{{"time":"{ts}","remote_addr":"{ip}","method":"{m}","uri":"{path}","status":{st},"body_bytes_sent":{size},"referer":"{r}","user_agent":"{ua}","request_time":{rt:.3}}}"#
                )
            } else {
                format!(r#"{ip} - - [{ts}] "{m} {path} HTTP/1.1" {st} {size} "{r}" "{ua}" {rt:.3}"#)
            }
            .into_bytes()
        })
        .collect()
}

pub fn load(var: &str, json: bool) -> Vec<Vec<u8>> {
    match std::env::var(var).ok().and_then(|p| std::fs::read(p).ok()) {
        Some(data) => data
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
        None => synthetic(1000, json),
    }
}
