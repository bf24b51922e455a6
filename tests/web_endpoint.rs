//! The endpoint under hostile clients, as processes and loopback sockets see it: per-client
//! rate limits, a password-guessing flood, a flood of idle connections, ambiguous request
//! framing; and gzip on `/metrics`. Hostile clients connect from 127.0.0.2 (Linux routes all of
//! 127/8 to loopback), the Prometheus-like scraper from 127.0.0.1, so the agent tells them apart
//! as it would two hosts. No timing assertions: counts of answers, connections and bcrypt runs.

mod common;
#[path = "common/web.rs"]
mod web;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{access_line, append, sample, wait_for, Agent};
use web::bcrypt_hash;

const PROM_UA: &str = "Prometheus/2.42.0";
const LINES: &str = "logpulse_lines_total{source=\"web\"}";

fn config(dir: &Path) -> PathBuf {
    let cfg = dir.join("logpulse.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  state_dir: {state}\n  poll_interval: 200ms\nsources:\n  - name: web\n    paths: ['{logs}/*.log']\n    format: auto\n    profile: http\n    start_at: beginning\n",
            state = dir.join("state").display(),
            logs = dir.join("logs").display(),
        ),
    )
    .expect("write config");
    std::fs::create_dir_all(dir.join("logs")).expect("mkdir");
    let lines: String = (0..5)
        .map(|i| access_line(i, "GET", "/mail/view/42", 200))
        .collect();
    append(&dir.join("logs/access.log"), lines.as_bytes());
    cfg
}

fn start(dir: &Path, args: &[&str]) -> Agent {
    let cfg = config(dir).display().to_string();
    let args: Vec<&str> = ["--config", cfg.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    Agent::launch(dir, "127.0.0.1", &args, &[], |port| {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
}

/// A TCP connection to the agent from source address `src`.
fn connect_from(src: &str, port: u16) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let from: SocketAddr = format!("{src}:0").parse().expect("address");
    s.bind(&from.into())?;
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    s.connect_timeout(&to.into(), Duration::from_secs(10))?;
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    Ok(s)
}

/// One answer: status, head (lower case), body bytes (de-chunked).
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let start = &self.body[..self.body.len().min(120)];
        write!(
            f,
            "{} [{}] {} bytes: {:?}",
            self.status,
            self.head.replace("\r\n", "; "),
            self.body.len(),
            String::from_utf8_lossy(start)
        )
    }
}

fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(eof());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let mut rest = buf[end + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(eof)?;
    let mut fill = |rest: &mut Vec<u8>, want: usize| -> std::io::Result<()> {
        while rest.len() < want {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(eof());
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    };
    let body = if let Some(l) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        let n: usize = l.trim().parse().map_err(|_| eof())?;
        fill(&mut rest, n)?;
        rest.truncate(n);
        rest
    } else if head.contains("transfer-encoding: chunked") {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = loop {
                if let Some(i) = rest[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + i;
                }
                let want = rest.len() + 1;
                fill(&mut rest, want)?;
            };
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[at..line_end]).trim(), 16)
                    .map_err(|_| eof())?;
            fill(&mut rest, line_end + 2 + size + 2)?;
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            at = line_end + 2 + size + 2;
            if size == 0 {
                break body;
            }
        }
    } else {
        rest
    };
    Ok(Answer { status, head, body })
}

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

/// A scraper as Prometheus' Go client behaves: one keep-alive connection, a GET re-sent once
/// on a new connection when the kept one turns out closed. Counts those reconnections.
struct Scraper {
    port: u16,
    extra: String,
    conn: Option<TcpStream>,
    reconnects: usize,
}

impl Scraper {
    fn new(port: u16, extra: &str) -> Scraper {
        Scraper {
            port,
            extra: extra.to_string(),
            conn: None,
            reconnects: 0,
        }
    }

    fn once(&mut self) -> std::io::Result<Answer> {
        if self.conn.is_none() {
            self.conn = Some(connect_from("127.0.0.1", self.port)?);
        }
        let s = self.conn.as_mut().expect("connected");
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {PROM_UA}\r\n{}\r\n",
            self.extra
        )?;
        read_answer(s)
    }

    fn scrape(&mut self) -> Result<Answer, String> {
        let fresh = self.conn.is_none();
        match self.once() {
            Ok(a) => Ok(a),
            Err(e) if !fresh => {
                self.conn = None;
                self.reconnects += 1;
                self.once().map_err(|e2| format!("{e}, then {e2}"))
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The agent's self-metric `series` as an authenticated scraper sees it, from a render made
/// now (past the one-second reuse of the last one).
fn self_metric(port: u16, auth: &str, series: &str) -> f64 {
    std::thread::sleep(Duration::from_millis(1100));
    let mut s = Scraper::new(port, auth);
    let a = s.scrape().expect("scrape");
    assert_eq!(a.status, 200, "{a:?}");
    sample(&String::from_utf8_lossy(&a.body), series).unwrap_or(-1.0)
}

/// Run `n` threads of `f` until `stop` is set; returns their total count.
fn flood(
    n: usize,
    stop: &Arc<AtomicBool>,
    f: impl Fn(&AtomicBool) -> usize + Send + Sync + 'static,
) -> std::thread::JoinHandle<usize> {
    let stop = stop.clone();
    let f = Arc::new(f);
    std::thread::spawn(move || {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (stop, f) = (stop.clone(), f.clone());
                std::thread::spawn(move || f(&stop))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    })
}

#[test]
fn rate_limit_is_per_client_and_spares_scrapers_with_verified_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let web_yml = d.join("web.yml");
    std::fs::write(
        &web_yml,
        format!(
            "basic_auth_users:\n  prometheus: '{}'\nrate_limit:\n  interval: 100ms\n  burst: 5\n",
            bcrypt_hash("s3cret")
        ),
    )
    .unwrap();
    let a = start(d, &["--web.config.file", web_yml.to_str().unwrap()]);
    let auth = basic("prometheus", "s3cret");
    let mut prom = Scraper::new(a.port, &auth);
    assert_eq!(prom.scrape().expect("first scrape").status, 200);

    // Unauthenticated, from another host, and with a wrong password from Prometheus' own
    // host: as fast as they can (far above 10 requests per second).
    let stop = Arc::new(AtomicBool::new(false));
    let limited = Arc::new(AtomicUsize::new(0));
    let port = a.port;
    let l = limited.clone();
    let strangers = flood(2, &stop, move |stop| {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut s) = connect_from("127.0.0.2", port) else {
                continue;
            };
            while !stop.load(Ordering::Relaxed) {
                if s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    .is_err()
                {
                    break;
                }
                match read_answer(&mut s) {
                    Ok(a) => {
                        n += 1;
                        if a.status == 429 {
                            l.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        n
    });
    let wrong = basic("prometheus", "guess");
    let neighbours = flood(2, &stop, move |stop| {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let Ok(mut s) = connect_from("127.0.0.1", port) else {
                continue;
            };
            while !stop.load(Ordering::Relaxed) {
                let req = format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{wrong}\r\n");
                if s.write_all(req.as_bytes()).is_err() || read_answer(&mut s).is_err() {
                    break;
                }
                n += 1;
            }
        }
        n
    });
    // Prometheus scrapes well within its own bucket (at most ~7 per second).
    let mut got = Vec::new();
    for _ in 0..20 {
        got.push(prom.scrape().map(|a| a.status));
        std::thread::sleep(Duration::from_millis(150));
    }
    stop.store(true, Ordering::Relaxed);
    let (sent_a, sent_b) = (strangers.join().unwrap(), neighbours.join().unwrap());
    eprintln!(
        "flood: {sent_a} requests from 127.0.0.2 ({} answered 429), {sent_b} with a wrong password",
        limited.load(Ordering::Relaxed)
    );
    let ok = got.iter().filter(|r| matches!(r, Ok(200))).count();
    assert_eq!(ok, 20, "Prometheus got {ok} of 20 scrapes: {got:?}");
    assert!(
        limited.load(Ordering::Relaxed) > 0,
        "the flood was never limited"
    );
    let rl = self_metric(
        a.port,
        &auth,
        "logpulse_http_requests_rejected_total{reason=\"rate_limited\"}",
    );
    assert!(rl > 0.0, "rate-limited requests not counted: {rl}");
}

#[test]
fn password_guessing_costs_a_bounded_number_of_bcrypt_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let web_yml = d.join("web.yml");
    std::fs::write(
        &web_yml,
        format!(
            "basic_auth_users:\n  prometheus: '{}'\n",
            bcrypt_hash("s3cret")
        ),
    )
    .unwrap();
    let a = start(d, &["--web.config.file", web_yml.to_str().unwrap()]);
    let auth = basic("prometheus", "s3cret");
    let mut prom = Scraper::new(a.port, &auth);
    assert_eq!(prom.scrape().expect("first scrape").status, 200);
    const BCRYPT: &str = "logpulse_http_bcrypt_verifications_total";
    let before = self_metric(a.port, &auth, BCRYPT);
    assert_eq!(before, 1.0, "Prometheus' password, once");

    // 200 different wrong passwords from one host, 8 at a time, a connection each.
    let port = a.port;
    let next = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let guessers: Vec<_> = (0..8)
        .map(|_| {
            let (next, statuses) = (next.clone(), statuses.clone());
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= 200 {
                    return;
                }
                let st = connect_from("127.0.0.2", port).and_then(|mut s| {
                    let req = format!(
                        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n",
                        basic("prometheus", &format!("guess{i}"))
                    );
                    s.write_all(req.as_bytes())?;
                    read_answer(&mut s).map(|a| a.status)
                });
                statuses.lock().unwrap().push(st.unwrap_or(0));
            })
        })
        .collect();
    // Prometheus scrapes while they guess.
    let mut got = Vec::new();
    while !guessers.iter().all(|g| g.is_finished()) || got.len() < 5 {
        got.push(prom.scrape().map(|a| a.status));
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    for g in guessers {
        g.join().unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    let count = |s: u16| statuses.iter().filter(|x| **x == s).count();
    let ran = self_metric(a.port, &auth, BCRYPT) - before;
    eprintln!(
        "200 wrong passwords in {elapsed:?}: {} × 401, {} × 429; {ran} bcrypt checks; Prometheus {} scrapes",
        count(401),
        count(429),
        got.len()
    );
    let ok = got.iter().filter(|r| matches!(r, Ok(200))).count();
    assert_eq!(ok, got.len(), "Prometheus during the guessing: {got:?}");
    assert_eq!(count(401) + count(429), 200, "{statuses:?}");
    // The client's budget: 10 at once, one more per second.
    let bound = 10.0 + elapsed.as_secs_f64().ceil() + 1.0;
    assert!(
        ran <= bound,
        "{ran} bcrypt checks for 200 guesses in {elapsed:?} (bound {bound})"
    );
    assert_eq!(
        count(401) as f64,
        ran,
        "every bcrypt is a 401, the rest were not checked"
    );

    // A scraper left with an old password (on Prometheus' host, whose budget is untouched)
    // costs one bcrypt, however often it comes back.
    let stale = basic("prometheus", "old-password");
    let base = self_metric(a.port, &auth, BCRYPT);
    let mut old = Scraper::new(a.port, &stale);
    for _ in 0..31 {
        assert_eq!(old.scrape().expect("scrape").status, 401);
    }
    assert_eq!(self_metric(a.port, &auth, BCRYPT) - base, 1.0);
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Raise the soft descriptor limit so the test can hold its 2,000 connections.
fn raise_fd_limit(want: u64) -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return 1024;
        }
        if l.rlim_cur < want {
            l.rlim_cur = want.min(l.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
    l.rlim_cur
}

#[test]
fn a_burst_of_idle_connections_leaves_the_scraper_its_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let a = start(
        d,
        &[
            "--web.max-connections",
            "64",
            "--web.read-header-timeout",
            "3s",
            "--web.idle-timeout",
            "3s",
        ],
    );
    a.wait_value(LINES, 5.0, 20);
    let pid = a.child.id();
    let base = fd_count(pid);
    let hold = (raise_fd_limit(4096).saturating_sub(200) as usize).min(2000);
    let mut prom = Scraper::new(a.port, "");
    assert_eq!(prom.scrape().expect("first scrape").status, 200);

    // 2,000 connections from another host, as fast as it can: every other one sends a request
    // and then idles on keep-alive (fresher than Prometheus' idle connection), the others
    // never send a byte.
    let port = a.port;
    let burst = std::thread::spawn(move || {
        let mut held = Vec::new();
        for i in 0..2000 {
            let Ok(mut s) = connect_from("127.0.0.2", port) else {
                continue;
            };
            if i % 2 == 0
                && (s
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    .is_err()
                    || read_answer(&mut s).is_err())
            {
                continue;
            }
            held.push(s);
            if held.len() > hold {
                held.remove(0);
            }
        }
        held
    });
    let mut got = Vec::new();
    let mut max_fds = 0;
    while !burst.is_finished() || got.len() < 30 {
        got.push(prom.scrape().map(|a| a.status));
        max_fds = max_fds.max(fd_count(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = burst.join().unwrap();
    let ok = got.iter().filter(|r| matches!(r, Ok(200))).count();
    eprintln!(
        "{ok} of {} scrapes during the burst, {} reconnections; fds base {base}, max {max_fds}; {} burst connections held",
        got.len(),
        prom.reconnects,
        held.len()
    );
    assert_eq!(ok, got.len(), "{got:?}");
    assert_eq!(
        prom.reconnects, 0,
        "the scraper's keep-alive connection was closed under it"
    );
    assert!(
        max_fds <= base + 64 + 8,
        "{max_fds} fds (base {base}, cap 64)"
    );
    let evicted = sample(
        &String::from_utf8_lossy(&prom.scrape().expect("scrape").body),
        "logpulse_http_connections_closed_total{reason=\"evicted\"}",
    );
    assert!(evicted.is_some_and(|e| e > 0.0), "{evicted:?}");
    drop(held);
}

/// Send raw bytes on a new connection; every answer until the server closes it.
fn raw(port: u16, bytes: &[u8]) -> Vec<Answer> {
    let mut s = connect_from("127.0.0.1", port).expect("connect");
    s.write_all(bytes).expect("send");
    let mut out = Vec::new();
    while let Ok(a) = read_answer(&mut s) {
        let close = a.head.contains("connection: close");
        out.push(a);
        if close {
            break;
        }
    }
    out
}

#[test]
fn ambiguous_request_framing_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = start(dir.path(), &[]);
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (what, req) in [
        (
            "CL then TE",
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "TE then CL",
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 48\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        (
            "TE alone",
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
        ),
        ("two Host lines", format!("GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n{smuggled}")),
        ("no Host in HTTP/1.1", format!("GET /metrics HTTP/1.1\r\n\r\n{smuggled}")),
        (
            "two different Content-Lengths",
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab{smuggled}"),
        ),
        ("space before the colon", format!("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n{smuggled}")),
        ("obsolete line folding", format!("GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n{smuggled}")),
        ("TE in HTTP/1.0", format!("GET /metrics HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}")),
        ("a signed Content-Length", format!("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n{smuggled}")),
    ] {
        let answers = raw(a.port, req.as_bytes());
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses, vec![400], "{what}: only a 400, nothing smuggled through");
    }
    // A header section past the buffer: 431.
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    let answers = raw(a.port, big.as_bytes());
    assert_eq!(answers.first().map(|a| a.status), Some(431), "{answers:?}");
    // Unambiguous framing still works: a body framed by Content-Length is a body, whatever it
    // says; HTTP/1.0 may omit Host.
    let answers = raw(
        a.port,
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /{smuggled}")
            .as_bytes(),
    );
    // (hyper may close instead of draining a body nobody read; never does it take the body
    // for a request: that would be a 404 for `GET /GET /healthz`.)
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(statuses == [200] || statuses == [200, 200], "{answers:?}");
    let answers = raw(a.port, b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(answers.first().map(|a| a.status), Some(200));
    // A scrape shows a counter at 0 first (docs/metrics.md), then its value: 10 refused
    // framings and one 431.
    a.wait_value(
        "logpulse_http_requests_rejected_total{reason=\"bad_request\"}",
        11.0,
        20,
    );
}

/// Decompress with Python's gzip module (an implementation independent of the agent's).
fn python_gunzip(bytes: &[u8]) -> String {
    let mut child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 not found: run scripts/setup");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "python3 could not gunzip");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The exposition without the listener's own counters (they move between two requests).
fn stable(expo: &str) -> String {
    expo.lines()
        .filter(|l| !l.contains("logpulse_http_"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn metrics_are_gzipped_when_asked_and_only_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let a = start(d, &[]);
    a.wait_value(LINES, 5.0, 20);
    let get = |extra: &str| {
        let mut s = connect_from("127.0.0.1", a.port).expect("connect");
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nConnection: close\r\n{extra}\r\n"
        )
        .unwrap();
        read_answer(&mut s).expect("answer")
    };
    let plain = get("");
    assert_eq!(plain.status, 200);
    assert!(!plain.head.contains("content-encoding"), "{}", plain.head);
    assert!(
        plain.head.contains("vary: accept, accept-encoding"),
        "{}",
        plain.head
    );
    let plain = String::from_utf8(plain.body).expect("utf-8");
    for ae in [
        "gzip",
        "gzip, deflate, br",
        "br;q=1, *;q=0.5",
        "identity;q=0.5, gzip",
    ] {
        let z = get(&format!("Accept-Encoding: {ae}\r\n"));
        assert_eq!(z.status, 200);
        assert!(
            z.head.contains("content-encoding: gzip"),
            "{ae}: {}",
            z.head
        );
        assert!(
            z.head.contains("vary: accept, accept-encoding"),
            "{}",
            z.head
        );
        assert!(
            z.body.len() * 3 < plain.len(),
            "{ae}: {} bytes",
            z.body.len()
        );
        assert_eq!(stable(&python_gunzip(&z.body)), stable(&plain), "{ae}");
    }
    for ae in ["gzip;q=0", "identity", "deflate", "gzip;q=0, *", "*;q=0"] {
        let r = get(&format!("Accept-Encoding: {ae}\r\n"));
        assert!(!r.head.contains("content-encoding"), "{ae}: {}", r.head);
        assert_eq!(
            stable(&String::from_utf8_lossy(&r.body)),
            stable(&plain),
            "{ae}"
        );
    }
    // OpenMetrics too, ending with # EOF.
    let om =
        get("Accept: application/openmetrics-text; version=1.0.0\r\nAccept-Encoding: gzip\r\n");
    assert!(
        om.head.contains("application/openmetrics-text"),
        "{}",
        om.head
    );
    assert!(python_gunzip(&om.body).ends_with("# EOF\n"));

    // A scraper's gzip answer leaves only after the checkpoint is saved.
    append(
        &d.join("logs/access.log"),
        access_line(9, "GET", "/x", 200).as_bytes(),
    );
    let mut prom = Scraper::new(a.port, "Accept-Encoding: gzip\r\n");
    wait_for(20, "6 lines in a gzip scrape", || {
        let z = prom.scrape().ok()?;
        let text = python_gunzip(&z.body);
        (sample(&text, LINES) == Some(6.0)).then_some(())
    });
    let cp = std::fs::read_to_string(d.join("state/checkpoints.json")).unwrap_or_default();
    let size = std::fs::metadata(d.join("logs/access.log")).unwrap().len();
    assert!(
        cp.contains(&format!("\"offset\":{size}")),
        "checkpoint at the scraped offset {size}: {cp}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let gz = sample(
        &a.scrape(),
        "logpulse_http_scrapes_total{format=\"text\",encoding=\"gzip\"}",
    );
    assert!(gz.is_some_and(|n| n >= 5.0), "{gz:?}");
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
fn slow_readers_share_one_answer_and_lose_their_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let a = start(
        d,
        &[
            "--web.read-header-timeout",
            "2s",
            "--web.idle-timeout",
            "60s",
        ],
    );
    // 4,000 routes: an exposition of about 5.7 MB, more than the kernel takes into a socket's
    // send buffer (4 MB at most by default), so the writes of an unread answer block.
    let word = |mut i: usize| -> String {
        (0..3)
            .map(|_| {
                let c = (b'a' + (i % 26) as u8) as char;
                i /= 26;
                c
            })
            .collect()
    };
    let lines: String = (0..4000)
        .map(|i| access_line(i, "GET", &format!("/{}/list", word(i)), 200))
        .collect();
    append(&d.join("logs/access.log"), lines.as_bytes());
    let size = a.wait_value(LINES, 4005.0, 30).len();
    assert!(size > 5_000_000, "exposition of {size} bytes");
    let pid = a.child.id();
    let base = rss_mb(pid);

    // 20 clients ask for /metrics and never read the answer.
    let slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            s.set_recv_buffer_size(4096).expect("rcvbuf");
            let from: SocketAddr = "127.0.0.2:0".parse().unwrap();
            s.bind(&from.into()).expect("bind");
            let to: SocketAddr = format!("127.0.0.1:{}", a.port).parse().unwrap();
            s.connect(&to.into()).expect("connect");
            let mut s: TcpStream = s.into();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\n\r\n")
                .expect("send");
            s
        })
        .collect();
    let mut peak = base;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss_mb(pid));
    }
    // Each answer copied (per request, and again into hyper's buffer) would be 20 × 2 × 5.7 MB.
    eprintln!("RSS {base:.1} MB, with 20 slow readers at most {peak:.1} MB");
    assert!(
        peak - base < 40.0,
        "RSS grew from {base:.1} to {peak:.1} MB"
    );

    // They are closed once their answer stops moving for the header timeout (2 s), long
    // before the idle timeout (60 s).
    wait_for(30, "the slow readers to be closed", || {
        std::thread::sleep(Duration::from_millis(1000));
        let n = sample(
            &a.scrape(),
            "logpulse_http_connections_closed_total{reason=\"write_timeout\"}",
        )?;
        (n >= 20.0).then_some(())
    });
    drop(slow);
}
