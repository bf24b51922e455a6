//! Helpers for the integration tests: run the real binary, scrape over loopback, wait for
//! conditions with a bounded deadline (no timing assertions: a slow machine only waits longer).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The logpulse binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_logpulse"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free loopback port (bound then released; good enough for tests run one agent at a time
/// per port).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Poll `f` until it returns `Some`, at most `secs` seconds.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {secs}s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// HTTP GET on loopback; returns (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    // axum answers small bodies with Content-Length; larger ones may be chunked.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

/// `port` answers GET /healthz with 200 (plain HTTP).
pub fn healthz(port: u16) -> bool {
    http_get(port, "/healthz").is_some_and(|(s, _)| s == 200)
}

/// Decode a chunked HTTP body (whatever is complete of it).
pub fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// The value of the sample `series` (exact text before the value, e.g. `m{a="b"}`) in an
/// exposition, or `None` when absent.
pub fn sample(expo: &str, series: &str) -> Option<f64> {
    expo.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    })
}

/// A running `logpulse run`, killed on drop.
pub struct Agent {
    pub child: Child,
    pub port: u16,
    pub stderr: PathBuf,
}

impl Agent {
    /// Start `logpulse run --config cfg` on a free port; waits until /healthz answers.
    pub fn start(cfg: &Path, dir: &Path) -> Agent {
        let cfg = cfg.display().to_string();
        Agent::launch(dir, "127.0.0.1", &["--config", &cfg], &[], healthz)
    }

    /// Start `logpulse run ARGS --listen HOST:PORT` (a free port) with `env` added and
    /// `LOGPULSE_LOG=debug`, stderr to a file in `dir`; waits until `ready(port)` holds and
    /// panics with the agent's log if it exits first.
    pub fn launch(
        dir: &Path,
        host: &str,
        args: &[&str],
        env: &[(&str, &Path)],
        ready: impl Fn(u16) -> bool,
    ) -> Agent {
        let port = free_port();
        let stderr = dir.join(format!("agent-{port}.log"));
        let mut cmd = Command::new(bin());
        cmd.arg("run")
            .args(args)
            .args(["--listen", &format!("{host}:{port}")])
            .env("LOGPULSE_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut a = Agent {
            child: cmd.spawn().expect("spawn logpulse"),
            port,
            stderr,
        };
        wait_for(20, "the agent to be ready", || {
            if let Ok(Some(st)) = a.child.try_wait() {
                panic!("agent exited early with {st}: {}", a.log());
            }
            ready(port).then_some(())
        });
        a
    }

    /// The agent's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Scrape /metrics.
    pub fn scrape(&self) -> String {
        match http_get(self.port, "/metrics") {
            Some((200, body)) => body,
            other => panic!("scrape failed: {other:?}\n{}", self.log()),
        }
    }

    /// Wait until `series` has exactly `want` (scraping repeatedly); panics with the last
    /// exposition otherwise.
    pub fn wait_value(&self, series: &str, want: f64, secs: u64) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let last = self.scrape();
            if sample(&last, series) == Some(want) {
                return last;
            }
            if Instant::now() > end {
                panic!("{series} != {want} after {secs}s; got {:?}\n--- exposition\n{last}\n--- agent log\n{}", sample(&last, series), self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Send a signal and wait for the exit status.
    pub fn signal(mut self, sig: i32) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), sig);
        let st = wait_for(20, "the agent to exit", || {
            self.child.try_wait().ok().flatten()
        });
        std::mem::forget(self);
        st
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Append bytes to a file (opening with O_APPEND each time, like a logger).
pub fn append(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(data).expect("append");
}

/// A combined-format access line with a request time.
pub fn access_line(i: usize, method: &str, path: &str, status: u16) -> String {
    format!(
        "192.0.2.{} - - [25/Nov/2026:10:{:02}:{:02} +0900] \"{method} {path} HTTP/1.1\" {status} {} \"-\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0\" 0.{:03}\n",
        i % 250 + 1,
        (i / 60) % 60,
        i % 60,
        100 + i % 900,
        i % 1000
    )
}

/// Assert that `promtool check metrics` accepts an exposition.
pub fn promtool_check(expo: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: run scripts/setup");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(expo.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics rejected the output:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
