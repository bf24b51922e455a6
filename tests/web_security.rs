//! `--web.config.file` and the listener as processes see them: TLS (server and client
//! certificates, rotation), basic auth, which requests move the checkpoint (wrong credentials,
//! curl, two Prometheus replicas and a crash), and slow clients against the connection cap.

mod common;
#[path = "common/web.rs"]
mod web;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{access_line, append, sample, wait_for, Agent};
use web::{bcrypt_hash, http_get, https_get, Client, Pki};

const LINES: &str = "logpulse_lines_total{source=\"web\"}";
const PROM_UA: &str = "Prometheus/2.42.0";

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
    cfg
}

fn lines(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| access_line(i, "GET", "/mail/view/42", 200))
        .collect()
}

fn checkpoint(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("state/checkpoints.json")).unwrap_or_default()
}

/// Start `logpulse run` with extra arguments; `ready` is polled with the port until it holds.
fn start(cfg: &Path, dir: &Path, args: &[&str], ready: impl Fn(u16) -> bool) -> Agent {
    let cfg = cfg.display().to_string();
    let args: Vec<&str> = ["--config", &cfg]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    Agent::launch(dir, "127.0.0.1", &args, &[], ready)
}

/// Scrape until `series` is `want`; returns the body.
fn scrape_until(
    what: &str,
    want: f64,
    mut get: impl FnMut() -> Result<web::Reply, String>,
) -> String {
    let mut last = String::new();
    let found = (0..200).find_map(|_| {
        match get() {
            Ok(r) if r.status == 200 => {
                if sample(&r.body, what) == Some(want) {
                    return Some(r.body);
                }
                last = r.body;
            }
            other => last = format!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
        None
    });
    found.unwrap_or_else(|| panic!("{what} never reached {want}; last answer:\n{last}"))
}

#[test]
fn tls_and_basic_auth_gate_every_request_and_only_scrapers_move_the_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let pki = Pki::new(d, "a");
    // Relative paths: resolved against the web config's directory, as exporter-toolkit does.
    std::fs::write(
        d.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: a-server.pem\n  key_file: a-server-key.pem\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  prometheus: '{}'\n",
            bcrypt_hash("s3cret")
        ),
    )
    .unwrap();
    let web_cfg = d.join("web.yml");
    let ca = Some(pki.ca.as_path());
    let anon = Client {
        ca,
        ..Client::default()
    };
    let a = start(
        &cfg,
        d,
        &["--web.config.file", web_cfg.to_str().unwrap()],
        |port| https_get(port, "/healthz", &anon).is_ok_and(|r| r.status == 200),
    );
    let log = d.join("logs/access.log");
    let prom = Client {
        ca,
        basic: Some(("prometheus", "s3cret")),
        user_agent: Some(PROM_UA),
        ..Client::default()
    };
    let curl = Client {
        user_agent: Some("curl/8.5.0"),
        ..prom.clone()
    };

    append(&log, lines(0, 10).as_bytes());
    let body = scrape_until(LINES, 10.0, || https_get(a.port, "/metrics", &prom));
    assert!(body.contains("http_requests_total"), "{body}");
    let saved = checkpoint(d);
    assert!(
        saved.contains("access.log"),
        "checkpoint after an authenticated scrape: {saved}"
    );

    // Past the render reuse, new lines; people and strangers look.
    std::thread::sleep(Duration::from_millis(1100));
    append(&log, lines(10, 5).as_bytes());
    scrape_until(LINES, 15.0, || https_get(a.port, "/metrics", &curl));
    for (who, c) in [
        ("no credentials", anon.clone()),
        (
            "a wrong password",
            Client {
                basic: Some(("prometheus", "guess")),
                ..prom.clone()
            },
        ),
        (
            "an unknown user",
            Client {
                basic: Some(("admin", "s3cret")),
                ..prom.clone()
            },
        ),
    ] {
        for path in ["/metrics", "/"] {
            let r = https_get(a.port, path, &c).expect("https");
            assert_eq!(r.status, 401, "{path} with {who}: {r:?}");
            assert!(r.head.contains("www-authenticate: basic"), "{r:?}");
            assert!(
                r.head.contains("x-frame-options: deny"),
                "headers on a 401 too: {r:?}"
            );
            assert!(!r.body.contains("logpulse_"), "{r:?}");
        }
    }
    assert_eq!(
        checkpoint(d),
        saved,
        "401s and curl must not move the checkpoint"
    );

    // A scraper right after curl's render gets a render of its own, saved with a checkpoint.
    let r = https_get(a.port, "/metrics", &prom).expect("https");
    assert_eq!(r.status, 200);
    assert!(r.head.contains("x-content-type-options: nosniff"), "{r:?}");
    assert_eq!(sample(&r.body, LINES), Some(15.0));
    assert_ne!(
        checkpoint(d),
        saved,
        "the authenticated scrape moves the checkpoint"
    );

    // The status page for the authenticated; /healthz for everyone, without details.
    let r = https_get(a.port, "/", &curl).expect("https");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("access.log"), "{}", r.body);
    let r = https_get(a.port, "/healthz", &anon).expect("https");
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));

    // Plain HTTP to the TLS listener is refused; so is a server the client's CA did not sign.
    let r = http_get(a.port, "/metrics", &Client::default()).expect("an answer");
    assert!(r.status == 400 && r.body.contains("HTTPS"), "{r:?}");
    let other = Pki::new(d, "other");
    let wrong_ca = Client {
        ca: Some(other.ca.as_path()),
        ..prom.clone()
    };
    let e = https_get(a.port, "/metrics", &wrong_ca).expect_err("unknown CA");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
}

#[test]
fn client_certificates_are_required_and_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let pki = Pki::new(d, "m");
    let web_cfg = d.join("web.yml");
    std::fs::write(
        &web_cfg,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n  min_version: TLS13\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            pki.ca.display()
        ),
    )
    .unwrap();
    let with_cert = Client {
        ca: Some(pki.ca.as_path()),
        cert: Some((pki.client_cert.as_path(), pki.client_key.as_path())),
        user_agent: Some(PROM_UA),
        ..Client::default()
    };
    let a = start(
        &cfg,
        d,
        &["--web.config.file", web_cfg.to_str().unwrap()],
        |port| https_get(port, "/healthz", &with_cert).is_ok_and(|r| r.status == 200),
    );
    let r = https_get(a.port, "/metrics", &with_cert).expect("with a client certificate");
    assert_eq!(r.status, 200);
    let none = Client {
        cert: None,
        ..with_cert.clone()
    };
    // TLS 1.3: the client learns of the rejection when it reads.
    let e = https_get(a.port, "/metrics", &none).expect_err("no client certificate");
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    let stranger = Pki::new(d, "stranger");
    let foreign = Client {
        cert: Some((
            stranger.client_cert.as_path(),
            stranger.client_key.as_path(),
        )),
        ..with_cert.clone()
    };
    let e = https_get(a.port, "/metrics", &foreign).expect_err("certificate of another CA");
    assert!(!e.is_empty());
}

#[test]
fn certificates_rotate_without_restart_and_a_broken_web_config_keeps_the_last_good_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let old = Pki::new(d, "old");
    let new = Pki::new(d, "new");
    let (cert, key) = (d.join("tls.crt"), d.join("tls.key"));
    std::fs::copy(&old.server_cert, &cert).unwrap();
    std::fs::copy(&old.server_key, &key).unwrap();
    let web_cfg = d.join("web.yml");
    let tls = "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n";
    std::fs::write(&web_cfg, tls).unwrap();
    let trusts_old = Client {
        ca: Some(old.ca.as_path()),
        ..Client::default()
    };
    let trusts_new = Client {
        ca: Some(new.ca.as_path()),
        ..Client::default()
    };
    let a = start(
        &cfg,
        d,
        &["--web.config.file", web_cfg.to_str().unwrap()],
        |port| https_get(port, "/healthz", &trusts_old).is_ok(),
    );

    // Rotation the way cert-manager or a deploy script does it: new files renamed into place.
    std::fs::copy(&new.server_cert, d.join("tls.crt.tmp")).unwrap();
    std::fs::copy(&new.server_key, d.join("tls.key.tmp")).unwrap();
    std::fs::rename(d.join("tls.key.tmp"), &key).unwrap();
    std::fs::rename(d.join("tls.crt.tmp"), &cert).unwrap();
    wait_for(20, "the new certificate to be served", || {
        https_get(a.port, "/healthz", &trusts_new)
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(
        https_get(a.port, "/healthz", &trusts_old).is_err(),
        "old certificate still served"
    );

    // A broken edit (seen at the next request): logged with file and key, the running config
    // stays.
    std::fs::write(
        &web_cfg,
        format!("{tls}basic_auth_users:\n  prometheus: not-a-hash\n"),
    )
    .unwrap();
    wait_for(20, "the reload error in the log", || {
        let _ = https_get(a.port, "/healthz", &trusts_new);
        a.log()
            .contains("web.yml: basic_auth_users.prometheus")
            .then_some(())
    });
    assert!(
        a.log().contains("keeping the web config loaded before"),
        "{}",
        a.log()
    );
    let r = https_get(a.port, "/metrics", &trusts_new).expect("still serving");
    assert_eq!(r.status, 200, "the last good config has no auth");

    // A good edit turns basic auth on without a restart.
    std::fs::write(
        &web_cfg,
        format!(
            "{tls}basic_auth_users:\n  prometheus: '{}'\n",
            bcrypt_hash("pw")
        ),
    )
    .unwrap();
    wait_for(20, "basic auth to be required", || {
        https_get(a.port, "/metrics", &trusts_new)
            .ok()
            .filter(|r| r.status == 401)
    });
    let ok = Client {
        basic: Some(("prometheus", "pw")),
        ..trusts_new.clone()
    };
    assert_eq!(
        https_get(a.port, "/metrics", &ok).expect("https").status,
        200
    );
}

#[test]
fn a_bad_web_config_stops_start_up_naming_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let web_cfg = d.join("web.yml");
    for (text, key) in [
        ("tls_server_config:\n  cert_file: missing.pem\n  key_file: k.pem\n", "tls_server_config.cert_file"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n", "tls_server_config.cert_file"),
        ("http_server_config:\n  headers:\n    Set-Cookie: x\n", "http_server_config.headers.Set-Cookie"),
        ("basic_auth_user:\n  a: b\n", "basic_auth_user"),
    ] {
        std::fs::write(&web_cfg, text).unwrap();
        let out = Command::new(common::bin())
            .args(["run", "--config"])
            .arg(&cfg)
            .args(["--listen", "127.0.0.1:0", "--web.config.file"])
            .arg(&web_cfg)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(err.contains("web.yml") && err.contains(key), "{text}: {err}");
        // `check` says the same, so a systemd ExecStartPre catches it before a restart.
        let out = Command::new(common::bin())
            .args(["check", "--config"])
            .arg(&cfg)
            .arg("--web.config.file")
            .arg(&web_cfg)
            .output()
            .expect("check");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(key));
    }
    // The shipped template (all commented out) is valid: plain HTTP.
    let shipped = common::root().join("deploy/web/web.yml");
    let out = Command::new(common::bin())
        .args(["check", "--config"])
        .arg(&cfg)
        .arg("--web.config.file")
        .arg(&shipped)
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn slow_clients_neither_starve_scrapes_nor_exhaust_fds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    append(&d.join("logs/access.log"), lines(0, 3).as_bytes());
    let a = start(
        &cfg,
        d,
        &[
            "--web.max-connections",
            "64",
            "--web.read-header-timeout",
            "3s",
            "--web.idle-timeout",
            "1s",
        ],
        |port| common::http_get(port, "/healthz").is_some_and(|(s, _)| s == 200),
    );
    a.wait_value(LINES, 3.0, 20);
    let pid = a.child.id();
    let base = fd_count(pid);

    // 200 clients send half a request line and stall.
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", a.port)).expect("connect");
            let _ = s.write_all(b"GET /metr");
            s
        })
        .collect();
    for i in 0..20 {
        let (status, body) = common::http_get(a.port, "/metrics")
            .unwrap_or_else(|| panic!("scrape {i} failed with 200 slow clients\n{}", a.log()));
        assert_eq!(status, 200, "scrape {i}: {body}");
        assert_eq!(sample(&body, LINES), Some(3.0));
        let fds = fd_count(pid);
        assert!(fds <= base + 64 + 4, "{fds} fds open (base {base}, cap 64)");
    }
    eprintln!("fds: base {base}, with 200 slow clients {}", fd_count(pid));

    // Every slow client is closed: evicted, or by the header-read timeout.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("a slow client got {:?}", String::from_utf8_lossy(&buf[..n])),
        }
    }
    wait_for(20, "the agent's fds to come back down", || {
        (fd_count(pid) <= base + 1).then_some(())
    });

    // An idle keep-alive connection is closed after --web.idle-timeout.
    let mut s = TcpStream::connect(("127.0.0.1", a.port)).expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("idle connection not closed: {e}"),
        }
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{got:?}"
    );
}

#[test]
fn two_prometheus_replicas_and_a_crash_miss_at_most_what_the_other_scraped_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = config(d);
    let log = d.join("logs/access.log");
    let ready = |port: u16| common::http_get(port, "/healthz").is_some_and(|(s, _)| s == 200);
    let replica = |name: &'static str| Client {
        user_agent: Some(if name == "a" {
            "Prometheus/2.42.0 (replica a)"
        } else {
            "Prometheus/2.42.0 (replica b)"
        }),
        ..Client::default()
    };
    let curl = Client {
        user_agent: Some("curl/8.5.0"),
        ..Client::default()
    };
    let a = start(&cfg, d, &[], ready);

    append(&log, lines(0, 10).as_bytes());
    let seen_a = scrape_until(LINES, 10.0, || http_get(a.port, "/metrics", &replica("a")));
    std::thread::sleep(Duration::from_millis(1100));
    append(&log, lines(10, 5).as_bytes());
    let seen_b = scrape_until(LINES, 15.0, || http_get(a.port, "/metrics", &replica("b")));
    std::thread::sleep(Duration::from_millis(1100));
    append(&log, lines(15, 3).as_bytes());
    // Someone looks with curl after both replicas: this must not move the checkpoint.
    scrape_until(LINES, 18.0, || http_get(a.port, "/metrics", &curl));
    let status = a.signal(9);
    assert!(!status.success());

    // After the crash the agent re-reads from replica b's scrape: the 3 lines nobody scraped.
    let b = start(&cfg, d, &[], ready);
    let after = scrape_until(LINES, 3.0, || http_get(b.port, "/metrics", &curl));
    // Replica b is shown the restarted counter at 0 first (docs/metrics.md), then its value.
    let after_b = scrape_until(LINES, 3.0, || http_get(b.port, "/metrics", &replica("b")));
    assert_eq!(
        sample(&after_b, LINES),
        Some(3.0),
        "nothing more was read: {after}"
    );
    // What each replica's increase() sees across the counter reset.
    let total_a = sample(&seen_a, LINES).unwrap() + sample(&after_b, LINES).unwrap();
    let total_b = sample(&seen_b, LINES).unwrap() + sample(&after_b, LINES).unwrap();
    assert_eq!(
        total_b, 18.0,
        "the replica that scraped last sees every line once"
    );
    assert_eq!(
        total_a, 13.0,
        "the other misses only what arrived between its last scrape and b's (< 1 interval)"
    );
}
