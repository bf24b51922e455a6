//! A Slack- and PagerDuty-compatible webhook receiver on 127.0.0.1 for the stack tests: it
//! records every request (path, body, arrival time) and answers 200 (Slack) or 202
//! (PagerDuty's `/pagerduty` path), as the real services do.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request received.
#[derive(Clone, Debug)]
pub struct Notification {
    pub at: Instant,
    pub path: String,
    pub body: String,
}

impl Notification {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    /// Slack: the first attachment's title and text; PagerDuty: the whole event.
    pub fn text(&self) -> String {
        let j = self.json();
        if self.path == "/slack" {
            let a = &j["attachments"][0];
            format!(
                "{}\n{}",
                a["title"].as_str().unwrap_or(""),
                a["text"].as_str().unwrap_or("")
            )
        } else {
            j.to_string()
        }
    }
}

/// The receiver; its thread lives as long as the test process (the listener is loopback only).
pub struct Receiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Notification>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                if let Some(n) = handle(s) {
                    g.lock().unwrap().push(n);
                }
            }
        });
        Receiver { addr, got }
    }

    pub fn all(&self) -> Vec<Notification> {
        self.got.lock().unwrap().clone()
    }

    /// First notification on `path` after `since` for which `pred` holds.
    pub fn find(
        &self,
        path: &str,
        since: Instant,
        pred: impl Fn(&Notification) -> bool,
    ) -> Option<Notification> {
        self.all()
            .into_iter()
            .find(|n| n.path == path && n.at >= since && pred(n))
    }
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body) and answers.
fn handle(s: TcpStream) -> Option<Notification> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut r = BufReader::new(s.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut len, mut chunked) = (0usize, false);
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        chunked |= h.starts_with("transfer-encoding:") && h.contains("chunked");
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut sz = String::new();
            r.read_line(&mut sz).ok()?;
            let n = usize::from_str_radix(sz.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len, 0);
        r.read_exact(&mut body).ok()?;
    }
    let status = if path == "/pagerduty" {
        "202 Accepted"
    } else {
        "200 OK"
    };
    let mut w = s;
    let _ = w.write_all(
        format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .as_bytes(),
    );
    Some(Notification {
        at: Instant::now(),
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
