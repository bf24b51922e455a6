//! The formats on what real daemons write: Debian's nginx, apache2 and HAProxy serve a known
//! set of requests from a real client (curl) on 127.0.0.1, rsyslog writes auth lines sent with
//! `logger`; `logpulse replay` then reads the daemon's own log, and the counts per status and
//! path must equal the requests sent (or, for auth, the attempts made). Each daemon runs in the
//! foreground with its own config and prefix in a temp dir, no systemd; `scripts/setup`
//! installs them, and a missing one fails the test with that hint (CI has them).

mod common;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bin, free_port, wait_for};

/// The path of a daemon's binary, or a failure naming the package that has it.
fn need(program: &str, package: &str) -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ] {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} not found: these tests run the real daemon; install it with scripts/setup (Debian package {package})");
}

fn is_root() -> bool {
    // SAFETY-free: `id -u` rather than libc, the tests crate has no libc dependency.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A daemon process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Daemon {
    name: &'static str,
    child: Child,
}

impl Daemon {
    fn start(name: &'static str, cmd: &mut Command, dir: &Path) -> Daemon {
        let out = std::fs::File::create(dir.join(format!("{name}.out"))).unwrap();
        let err = std::fs::File::create(dir.join(format!("{name}.err"))).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon { name, child }
    }

    /// Wait until it accepts connections on `port` (or fail with its stderr).
    fn listening(&mut self, port: u16, dir: &Path) {
        let name = self.name;
        wait_for(20, &format!("{name} to listen on {port}"), || {
            if let Ok(Some(st)) = self.child.try_wait() {
                let err =
                    std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap_or_default();
                panic!("{name} exited ({st}): {err}");
            }
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the client sends, and the status the daemon must answer.
struct Req {
    method: &'static str,
    path: &'static str,
    status: u16,
}

const fn req(method: &'static str, path: &'static str, status: u16) -> Req {
    Req {
        method,
        path,
        status,
    }
}

/// Send `reqs` with curl to `port`; each answer must have its expected status.
fn send(port: u16, reqs: &[Req], agent: &str) {
    let curl = need("curl", "curl");
    for r in reqs {
        let mut cmd = Command::new(&curl);
        cmd.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(["-A", agent, "-e", "https://search.example/?q=x"]);
        // `-X HEAD` would wait for a body that never comes.
        if r.method == "HEAD" {
            cmd.arg("--head");
        } else {
            cmd.args(["-X", r.method]);
        }
        let out = cmd
            .arg(format!("http://127.0.0.1:{port}{}", r.path))
            .output()
            .expect("run curl");
        let got = String::from_utf8_lossy(&out.stdout);
        assert_eq!(got, r.status.to_string(), "{} {}", r.method, r.path);
    }
}

/// Lines of `path` once it has `n` of them (daemons write their log after answering).
fn lines(path: &Path, n: usize) -> String {
    wait_for(20, &format!("{} lines in {}", n, path.display()), || {
        let text = std::fs::read_to_string(path).ok()?;
        (text.lines().count() >= n).then_some(text)
    })
}

/// `logpulse replay` of `log` with `config`: the exposition; the line count and no parse
/// error are checked.
fn replay(dir: &Path, config: &str, log: &Path, lines: usize) -> String {
    let cfg = dir.join("logpulse.yml");
    std::fs::write(&cfg, config).unwrap();
    let out = Command::new(bin())
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg(log)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay {}: {err}", log.display());
    let want = format!("replayed {lines} lines, 0 parse errors");
    assert!(
        err.contains(&want),
        "{}: want {want:?}: {err}\n{}",
        log.display(),
        std::fs::read_to_string(log).unwrap_or_default()
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `metric{…}` samples with a value above 0, as (labels, value), `source` left out.
fn samples(expo: &str, metric: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{metric}{{");
    expo.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| {
            let (labels, v) = l.rsplit_once("} ")?;
            let v: f64 = v.parse().ok()?;
            let labels: Vec<&str> = labels
                .split(',')
                .filter(|kv| !kv.starts_with("source="))
                .collect();
            (v > 0.0).then(|| (labels.join(","), v))
        })
        .collect()
}

/// The `http_requests_total` samples `reqs` must give.
fn want_requests(reqs: &[Req]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for r in reqs {
        let key = format!(
            "method=\"{}\",route=\"{}\",status=\"{}\"",
            r.method, r.path, r.status
        );
        *m.entry(key).or_insert(0.0) += 1.0;
    }
    m
}

/// The pages the web servers serve, in `dir/html`.
fn docroot(dir: &Path) -> PathBuf {
    let html = dir.join("html");
    for (path, body) in [
        ("index.html", "home\n"),
        ("mail/list", "inbox\n"),
        ("drive/files", "files\n"),
    ] {
        let p = html.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    html
}

/// Let unprivileged workers (`nobody`) of a daemon started as root read the temp dir.
fn open_up(dir: &Path) {
    if is_root() {
        let _ = Command::new("chmod").args(["-R", "a+rX"]).arg(dir).status();
    }
}

/// nginx in the foreground with `conf` as `d/nginx.conf`, its prefix `d` (workers as `nobody`
/// when run as root).
fn start_nginx(nginx: &Path, d: &Path, conf: &str) -> Daemon {
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    open_up(d);
    let global = if is_root() {
        "daemon off; user nobody nogroup;"
    } else {
        "daemon off;"
    };
    Daemon::start(
        "nginx",
        Command::new(nginx)
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .args(["-g", global]),
        d,
    )
}

const STATIC: &[Req] = &[
    req("GET", "/", 200),
    req("GET", "/mail/list", 200),
    req("GET", "/mail/list", 200),
    req("HEAD", "/drive/files", 200),
    req("GET", "/missing", 404),
    req("POST", "/mail/list", 405),
];

/// nginx: its default `combined` log, a `log_format` with `$request_time` and
/// `$upstream_response_time` (a `-`, one server, and `0.000, 0.001` after a dead upstream),
/// and an `escape=json` log, each read by its format with the http profile.
#[test]
fn nginx_combined_timing_and_json_logs() {
    let nginx = need("nginx", "nginx");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let html = docroot(d);
    let (port, live, dead) = (free_port(), free_port(), free_port());
    let logs = d.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let timing = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $upstream_addr $upstream_status"#;
    let conf = format!(
        r#"worker_processes 1;
error_log {logs}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log {logs}/upstream.log;
    log_format timing '{timing}';
    log_format j escape=json '{{"time":"$time_iso8601","method":"$request_method","uri":"$request_uri","status":$status,"bytes":$body_bytes_sent,"ua":"$http_user_agent","rt":$request_time,"urt":"$upstream_response_time"}}';
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    # The dead server is never marked down: every other request tries it, then the live one.
    upstream app {{ server 127.0.0.1:{dead} max_fails=0; server 127.0.0.1:{live}; }}
    server {{
        listen 127.0.0.1:{port};
        root {html};
        access_log {logs}/access.log;
        access_log {logs}/timing.log timing;
        access_log {logs}/json.log j;
        location /api/ {{ proxy_pass http://app; proxy_next_upstream error; }}
    }}
    server {{ listen 127.0.0.1:{live}; root {html}; location /api/ {{ return 200 "sent\n"; }} }}
}}
"#,
        logs = logs.display(),
        d = d.display(),
        html = html.display(),
    );
    let mut n = start_nginx(&nginx, d, &conf);
    n.listening(port, d);
    let mut reqs: Vec<Req> = STATIC
        .iter()
        .map(|r| req(r.method, r.path, r.status))
        .collect();
    for _ in 0..4 {
        reqs.push(req("GET", "/api/mail/send", 200));
    }
    // A user agent needing escapes in both the combined (`\x22`) and JSON (`\"`) logs.
    send(port, &reqs, r#"Mozilla/5.0 (X11) "quoted" \ back"#);
    let access = lines(&logs.join("access.log"), reqs.len());
    let timing_log = lines(&logs.join("timing.log"), reqs.len());
    lines(&logs.join("json.log"), reqs.len());
    drop(n);
    assert!(access.contains(r"\x22quoted\x22"), "{access}");
    // The dead upstream made lists: `0.000, 0.001` and `127.0.0.1:A, 127.0.0.1:B`.
    assert!(timing_log.contains(", 127.0.0.1:"), "{timing_log}");
    let want = want_requests(&reqs);

    for (log, format, extra) in [
        ("access.log", "combined".to_string(), ""),
        ("timing.log", format!("{{nginx: '{timing}'}}"), ""),
        (
            "json.log",
            "json".to_string(),
            "\n    fields: {request_method: method, request_uri: uri, body_bytes_sent: bytes, http_user_agent: ua, request_time: rt}",
        ),
    ] {
        let expo = replay(
            d,
            &format!(
                "sources:\n  - name: web\n    paths: [unused]\n    format: {format}\n    profile: http{extra}\n"
            ),
            &logs.join(log),
            reqs.len(),
        );
        assert_eq!(samples(&expo, "http_requests_total"), want, "{log}\n{expo}");
        // Every request has a user agent, from the desktop.
        assert_eq!(
            samples(&expo, "http_client_requests_total"),
            [("device=\"desktop\"".to_string(), reqs.len() as f64)].into(),
            "{log}"
        );
        if log != "access.log" {
            assert!(
                expo.contains(
                    "http_request_duration_seconds_count{method=\"GET\",route=\"/api/mail/send\",source=\"web\"} 4"
                ),
                "{log}: {expo}"
            );
        }
    }
    // The upstream list fields, one per request that reached the proxy.
    let expo = replay(
        d,
        &format!(
            "sources:\n  - name: up\n    paths: [unused]\n    format: {{nginx: '{timing}'}}\n    metrics:\n      - name: upstream_tries_total\n        type: counter\n        labels: {{status: upstream_status}}\n"
        ),
        &logs.join("timing.log"),
        reqs.len(),
    );
    assert_eq!(
        samples(&expo, "upstream_tries_total"),
        [
            ("status=\"-\"".to_string(), 6.0),
            ("status=\"200\"".to_string(), 2.0),
            ("status=\"502, 200\"".to_string(), 2.0),
        ]
        .into(),
        "{expo}"
    );
}

/// Apache's default handler answers a POST to a file with the file: ask for a DELETE.
const APACHE: &[Req] = &[
    req("GET", "/", 200),
    req("GET", "/mail/list", 200),
    req("GET", "/mail/list", 200),
    req("HEAD", "/drive/files", 200),
    req("GET", "/missing", 404),
    req("DELETE", "/mail/list", 405),
];

/// apache2: Debian's `combined` for the access log and `vhost_combined` for
/// `other_vhosts_access.log`, both read by `auto`.
#[test]
fn apache_combined_and_vhost_combined() {
    let apache = need("apache2", "apache2");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let html = docroot(d);
    let port = free_port();
    let logs = d.join("logs");
    let run = d.join("run");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    let modules = Path::new("/usr/lib/apache2/modules");
    let user = if is_root() {
        "User nobody\nGroup nogroup\n"
    } else {
        ""
    };
    let conf = format!(
        r#"ServerRoot {d}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {run}/httpd.pid
DefaultRuntimeDir {run}
Mutex file:{run} default
LoadModule mpm_event_module {m}/mod_mpm_event.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule dir_module {m}/mod_dir.so
LoadModule mime_module {m}/mod_mime.so
TypesConfig /etc/mime.types
{user}ErrorLog {logs}/error.log
DocumentRoot {html}
<Directory {html}>
    Require all granted
</Directory>
# Debian's /etc/apache2/apache2.conf
LogFormat "%v:%p %h %l %u %t \"%r\" %>s %O \"%{{Referer}}i\" \"%{{User-Agent}}i\"" vhost_combined
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{{Referer}}i\" \"%{{User-Agent}}i\"" combined
CustomLog {logs}/access.log combined
CustomLog {logs}/other_vhosts_access.log vhost_combined
"#,
        d = d.display(),
        run = run.display(),
        m = modules.display(),
        logs = logs.display(),
        html = html.display(),
    );
    std::fs::write(d.join("httpd.conf"), conf).unwrap();
    open_up(d);
    let mut a = Daemon::start(
        "apache2",
        Command::new(&apache)
            .arg("-d")
            .arg(d)
            .arg("-f")
            .arg(d.join("httpd.conf"))
            .arg("-DFOREGROUND")
            .env("APACHE_RUN_DIR", &run)
            .env("APACHE_LOCK_DIR", &run)
            .env("APACHE_LOG_DIR", &logs),
        d,
    );
    a.listening(port, d);
    send(
        port,
        APACHE,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
    );
    let vhost = lines(&logs.join("other_vhosts_access.log"), APACHE.len());
    lines(&logs.join("access.log"), APACHE.len());
    drop(a);
    assert!(vhost.starts_with("localhost:"), "{vhost}");
    let want = want_requests(APACHE);
    for log in ["access.log", "other_vhosts_access.log"] {
        let expo = replay(
            d,
            "sources:\n  - name: web\n    paths: [unused]\n    format: auto\n    profile: http\n",
            &logs.join(log),
            APACHE.len(),
        );
        assert_eq!(samples(&expo, "http_requests_total"), want, "{log}\n{expo}");
        assert_eq!(
            samples(&expo, "http_client_requests_total"),
            [("device=\"mobile_web\"".to_string(), APACHE.len() as f64)].into(),
            "{log}"
        );
    }
    // `vhost_combined`'s prefix is the `host` field.
    let expo = replay(
        d,
        "sources:\n  - name: v\n    paths: [unused]\n    format: auto\n    metrics:\n      - {name: vhost_requests_total, type: counter, labels: {host: host}}\n",
        &logs.join("other_vhosts_access.log"),
        APACHE.len(),
    );
    assert_eq!(
        samples(&expo, "vhost_requests_total"),
        [("host=\"localhost:80\"".to_string(), APACHE.len() as f64)].into()
    );
}

/// Caddy's file server (Debian's caddy 2.6) with its default access log, JSON with the request's
/// headers as arrays and the duration in seconds, read by the `caddy` format with the http
/// profile: requests by method, route and status, devices from the User-Agent header, request
/// time histogram, and referrers.
#[test]
fn caddy_default_json_access_log() {
    let caddy = need("caddy", "caddy");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let html = docroot(d);
    let port = free_port();
    let log = d.join("access.log");
    let conf = format!(
        "{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {data}\n}}\n\
         http://127.0.0.1:{port} {{\n\troot * {html}\n\tfile_server\n\tlog {{\n\t\toutput file {log}\n\t}}\n}}\n",
        data = d.join("data").display(),
        html = html.display(),
        log = log.display(),
    );
    std::fs::write(d.join("Caddyfile"), conf).unwrap();
    let mut c = Daemon::start(
        "caddy",
        Command::new(&caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(d.join("Caddyfile"))
            .env("HOME", d)
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_CONFIG_HOME", d.join("config")),
        d,
    );
    c.listening(port, d);
    send(
        port,
        CADDY,
        "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    );
    let text = lines(&log, CADDY.len());
    drop(c);
    assert!(text.contains("\"User-Agent\":[\"Mozilla"), "{text}");
    let expo = replay(
        d,
        "sources:\n  - name: web\n    paths: [unused]\n    format: caddy\n    profile: http\n",
        &log,
        CADDY.len(),
    );
    assert_eq!(
        samples(&expo, "http_requests_total"),
        want_requests(CADDY),
        "{expo}"
    );
    assert_eq!(
        samples(&expo, "http_client_requests_total"),
        [("device=\"mobile_web\"".to_string(), CADDY.len() as f64)].into(),
        "{expo}"
    );
    let count: f64 = samples(&expo, "http_request_duration_seconds_count")
        .values()
        .sum();
    assert_eq!(count, CADDY.len() as f64, "{expo}");
    assert_eq!(
        samples(&expo, "http_referrer_requests_total"),
        [(
            "referrer=\"search.example\"".to_string(),
            CADDY.len() as f64
        )]
        .into(),
        "the Referer header is read:\n{expo}"
    );
}

const CADDY: &[Req] = &[
    req("GET", "/", 200),
    req("GET", "/mail/list", 200),
    req("GET", "/mail/list", 200),
    req("HEAD", "/drive/files", 200),
    req("GET", "/missing", 404),
];

/// HAProxy in front of nginx, `option httplog` and `option httplog clf` frontends, logging with
/// `log stdout format raw`: the `haproxy` format reads both from one stream.
#[test]
fn haproxy_httplog_and_clf_in_front_of_nginx() {
    let haproxy = need("haproxy", "haproxy");
    let nginx = need("nginx", "nginx");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let html = docroot(d);
    let (web, http, clf) = (free_port(), free_port(), free_port());
    let conf = format!(
        r#"worker_processes 1;
error_log {d}/nginx-error.log;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{ listen 127.0.0.1:{web}; root {html}; }}
}}
"#,
        d = d.display(),
        html = html.display(),
    );
    let mut n = start_nginx(&nginx, d, &conf);
    n.listening(web, d);
    let cfg = format!(
        r#"global
    log stdout format raw local0
defaults
    mode http
    log global
    # As Debian's haproxy.cfg: the readiness probe's empty connections are not logged.
    option dontlognull
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe_http
    bind 127.0.0.1:{http}
    option httplog
    default_backend web
frontend fe_clf
    bind 127.0.0.1:{clf}
    option httplog clf
    default_backend web
backend web
    server nginx1 127.0.0.1:{web}
"#
    );
    std::fs::write(d.join("haproxy.cfg"), cfg).unwrap();
    let mut h = Daemon::start(
        "haproxy",
        Command::new(&haproxy).arg("-f").arg(d.join("haproxy.cfg")),
        d,
    );
    h.listening(http, d);
    h.listening(clf, d);
    send(http, STATIC, "curl/8.0");
    send(clf, &STATIC[..3], "curl/8.0");
    let total = STATIC.len() + 3;
    let log = d.join("haproxy.out");
    lines(&log, total);
    drop(h);
    drop(n);
    let expo = replay(
        d,
        "sources:\n  - name: lb\n    paths: [unused]\n    format: haproxy\n    profile: http\n    metrics:\n      - {name: lb_requests_total, type: counter, labels: {frontend: frontend, status: status, path: request_uri}}\n",
        &log,
        total,
    );
    // httplog has no user agent: the request counts hold, the device metric counts only clf's.
    let mut want = want_requests(STATIC);
    for r in &STATIC[..3] {
        *want
            .get_mut(&format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                r.method, r.path, r.status
            ))
            .unwrap() += 1.0;
    }
    assert_eq!(samples(&expo, "http_requests_total"), want, "{expo}");
    let lb = samples(&expo, "lb_requests_total");
    assert_eq!(lb.values().sum::<f64>(), total as f64, "{lb:?}");
    assert_eq!(
        lb.get("frontend=\"fe_clf\",path=\"/mail/list\",status=\"200\""),
        Some(&2.0),
        "{lb:?}"
    );
    assert_eq!(
        lb.get("frontend=\"fe_http\",path=\"/missing\",status=\"404\""),
        Some(&1.0),
        "{lb:?}"
    );
    // Every request went through HAProxy in measurable time.
    assert!(
        expo.contains(
            "http_request_duration_seconds_count{method=\"GET\",route=\"/mail/list\",source=\"lb\"} 4"
        ),
        "{expo}"
    );
}

/// What `logger` sends for one scenario: (facility, tag, pid, message).
type Sent = (&'static str, &'static str, u32, &'static str);

/// rsyslog (its own unix socket, no privileges) writes auth lines sent with `logger`, with
/// repeated-message reduction on as Ubuntu ships it: the same attempts logged as sshd-only,
/// PAM-only (old and new tag styles) and both give the same `auth_failures_total` and
/// `auth_logins_total`.
#[test]
fn rsyslog_auth_logs_count_each_attempt_once() {
    let rsyslogd = need("rsyslogd", "rsyslog");
    let logger = need("logger", "bsdutils");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let socket = d.join("log.sock");
    let files = ["sshd", "pam_old", "pam", "both"];
    let mut conf = format!(
        "global(workDirectory=\"{d}\")\nmodule(load=\"imuxsock\" SysSock.Use=\"off\")\ninput(type=\"imuxsock\" Socket=\"{s}\")\n$RepeatedMsgReduction on\n$ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat\n",
        d = d.display(),
        s = socket.display()
    );
    for (i, f) in files.iter().enumerate() {
        conf.push_str(&format!(
            "local{i}.* action(type=\"omfile\" file=\"{}/{f}.log\")\n",
            d.display()
        ));
    }
    std::fs::write(d.join("rsyslog.conf"), conf).unwrap();
    let r = Daemon::start(
        "rsyslogd",
        Command::new(&rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(d.join("rsyslog.conf"))
            .arg("-i")
            .arg(d.join("rsyslogd.pid")),
        d,
    );
    wait_for(20, "rsyslog's socket", || socket.exists().then_some(()));

    // One session as sshd and PAM write it: a spray of 3 wrong passwords from one process,
    // an unknown user trying once, and a login. 4 failures, 1 login.
    const OWN: &[Sent] = &[
        (
            "sshd",
            "sshd",
            700,
            "Failed password for root from 203.0.113.9 port 40022 ssh2",
        ),
        (
            "sshd",
            "sshd",
            700,
            "Failed password for root from 203.0.113.9 port 40022 ssh2",
        ),
        (
            "sshd",
            "sshd",
            700,
            "Failed password for root from 203.0.113.9 port 40022 ssh2",
        ),
        (
            "sshd",
            "sshd",
            701,
            "Invalid user admin from 203.0.113.9 port 40100",
        ),
        (
            "sshd",
            "sshd",
            701,
            "Failed password for invalid user admin from 203.0.113.9 port 40100 ssh2",
        ),
        (
            "sshd",
            "sshd",
            702,
            "Accepted password for alice from 192.0.2.10 port 50000 ssh2",
        ),
    ];
    const PAM_FIRST: &str =
        "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root";
    const PAM_MORE: &str = "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root";
    const PAM_INVALID: &str =
        "authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9";
    const SESSION: &str = "session opened for user alice(uid=1000) by (uid=0)";
    let pam = |old: bool| -> Vec<(String, u32, String)> {
        // pam_unix's own lines carry its prefix; the `PAM N more` summary does not.
        let wrap = |m: &str, stack: &str| {
            if old || m.starts_with("PAM ") {
                m.to_string()
            } else {
                format!("pam_unix(sshd:{stack}): {m}")
            }
        };
        let tag = if old { "sshd(pam_unix)" } else { "sshd" };
        [
            (700, wrap(PAM_FIRST, "auth")),
            (700, wrap(PAM_MORE, "auth")),
            (701, wrap(PAM_INVALID, "auth")),
            (702, wrap(SESSION, "session")),
        ]
        .into_iter()
        .map(|(pid, m)| (tag.to_string(), pid, m))
        .collect()
    };
    let own: Vec<(String, u32, String)> = OWN
        .iter()
        .map(|(_, t, p, m)| (t.to_string(), *p, m.to_string()))
        .collect();
    // Both, in the order sshd and PAM write them.
    let p = pam(false);
    let both = vec![
        p[0].clone(),
        own[0].clone(),
        own[1].clone(),
        own[2].clone(),
        p[1].clone(),
        own[3].clone(),
        p[2].clone(),
        own[4].clone(),
        own[5].clone(),
        p[3].clone(),
    ];
    let scenarios = [own, pam(true), pam(false), both];
    for (i, lines_of) in scenarios.iter().enumerate() {
        for (tag, pid, msg) in lines_of {
            let st = Command::new(&logger)
                .arg("-u")
                .arg(&socket)
                .args(["-p", &format!("local{i}.info"), "-t", tag])
                .arg(format!("--id={pid}"))
                .arg(msg)
                .status()
                .unwrap();
            assert!(st.success(), "logger");
        }
    }
    // rsyslog folds the second and third identical `Failed password` into one `message
    // repeated 2 times` line, written when the next message differs.
    let expected_lines = [5, 4, 4, 9];
    for (f, n) in files.iter().zip(expected_lines) {
        lines(&d.join(format!("{f}.log")), n);
    }
    drop(r);
    let sshd_log = std::fs::read_to_string(d.join("sshd.log")).unwrap();
    assert!(
        sshd_log.contains("message repeated 2 times: [ Failed password for root"),
        "rsyslog folded the repeats: {sshd_log}"
    );
    assert!(std::fs::read_to_string(d.join("pam_old.log"))
        .unwrap()
        .contains(" sshd(pam_unix)[700]: authentication failure;"));
    for (f, n) in files.iter().zip(expected_lines) {
        let expo = replay(
            d,
            "sources:\n  - name: auth\n    paths: [unused]\n    format: syslog\n    profile: auth\n",
            &d.join(format!("{f}.log")),
            n,
        );
        assert_eq!(
            (
                samples(&expo, "auth_failures_total"),
                samples(&expo, "auth_logins_total")
            ),
            (
                [("program=\"sshd\"".to_string(), 4.0)].into(),
                [("program=\"sshd\"".to_string(), 1.0)].into()
            ),
            "{f}.log:\n{}\n{expo}",
            std::fs::read_to_string(d.join(format!("{f}.log"))).unwrap()
        );
    }
}
