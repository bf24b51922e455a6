//! The built-in profiles' rules on lines written for them: which lines count, under which
//! labels (the profiles themselves are in `config::profiles`).

use super::*;

/// The exposition after applying `lines` to one source of `yaml`.
fn run(yaml: &str, lines: &[&str]) -> String {
    let cfg = Config::from_yaml(yaml, "t.yml").expect("config");
    let store = Store::new();
    let mut r = SourceRules::compile(&cfg, 0, &store).expect("rules");
    r.set_now(1_800_000_000);
    for l in lines {
        r.apply(l.as_bytes()).expect("parses");
    }
    let mut out = String::new();
    crate::export::encode(crate::export::Format::Text, &[&store], &mut out);
    out
}

fn auth(lines: &[&str]) -> String {
    run(
        "sources: [{name: auth, paths: [x], format: syslog, profile: auth}]\n",
        lines,
    )
}

fn count(expo: &str, metric: &str, program: &str) -> f64 {
    let want = format!("{metric}{{program=\"{program}\",source=\"auth\"}} ");
    expo.lines()
        .find_map(|l| l.strip_prefix(&want))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[test]
fn each_failed_attempt_counts_once() {
    let e = auth(&[
        // One wrong ssh password: PAM's line and sshd's; the summary after the connection.
        "Nov 27 10:00:01 web1 sshd[10]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root",
        "Nov 27 10:00:03 web1 sshd[10]: Failed password for root from 203.0.113.9 port 40022 ssh2",
        "Nov 27 10:00:05 web1 sshd[10]: PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root",
        // An unknown user on OpenSSH 9.8+, which logs as sshd-session.
        "Nov 27 10:00:06 web1 sshd-session[11]: Invalid user admin from 203.0.113.9 port 40100",
        // The old tag style: PAM under sshd(pam_unix), sshd's own line counted instead.
        "Nov 27 10:00:07 web1 sshd(pam_unix)[12]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=203.0.113.9",
        // su: PAM + util-linux's line; sudo: PAM + its summary after three tries.
        "Nov 27 10:01:00 web1 su: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root",
        "Nov 27 10:01:00 web1 su: FAILED SU (to root) alice on pts/0",
        "Nov 27 10:02:00 web1 sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice",
        "Nov 27 10:02:09 web1 sudo:    alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
        "Nov 27 10:02:10 web1 sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh",
        // Programs without a line of their own: PAM's counts.
        "Nov 27 10:03:00 web1 gdm-password]: pam_unix(gdm-password:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice",
        "Nov 27 10:03:01 web1 vsftpd[20]: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=x rhost=198.51.100.4",
        "Nov 27 10:03:02 web1 mystery-daemon[21]: pam_unix(mystery:auth): authentication failure; logname= uid=0",
        // Not failures.
        "Nov 27 10:04:00 web1 sshd[30]: Did not receive identification string from 198.51.100.7 port 1234",
        "Nov 27 10:04:01 web1 sshd[30]: Connection closed by 198.51.100.7 port 1234 [preauth]",
    ]);
    for (program, want) in [
        ("sshd", 2.0),
        ("su", 1.0),
        ("sudo", 2.0),
        ("gdm", 1.0),
        ("vsftpd", 1.0),
        ("other", 1.0),
    ] {
        assert_eq!(
            count(&e, "auth_failures_total", program),
            want,
            "{program}\n{e}"
        );
    }
    assert!(!e.contains("auth_logins_total{"), "{e}");
}

#[test]
fn logins_are_people_not_machines() {
    let e = auth(&[
        "Nov 27 11:00:00 web1 sshd[40]: Accepted publickey for alice from 192.0.2.10 port 50000 ssh2: ED25519 SHA256:abc",
        "Nov 27 11:00:00 web1 sshd[40]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        "Nov 27 11:00:01 web1 sshd-session[41]: Accepted password for bob from 192.0.2.11 port 50001 ssh2",
        "Nov 27 11:01:00 web1 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
        "Nov 27 11:01:01 web1 sudo: pam_unix(sudo-i:session): session opened for user root by alice(uid=0)",
        "Nov 27 11:02:00 web1 su: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)",
        "Nov 27 11:03:00 web1 login[50]: pam_unix(login:session): session opened for user carol(uid=1001) by LOGIN(uid=0)",
        "Nov 27 11:04:00 web1 CRON[60]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "Nov 27 11:04:01 web1 systemd[61]: pam_unix(systemd-user:session): session opened for user alice(uid=1000) by (uid=0)",
        "Nov 27 11:04:02 web1 runuser: pam_unix(runuser:session): session opened for user postgres(uid=105) by (uid=0)",
        "Nov 27 11:04:03 web1 atd[62]: pam_unix(atd:session): session opened for user root(uid=0) by (uid=0)",
    ]);
    for (program, want) in [("sshd", 2.0), ("sudo", 2.0), ("su", 1.0), ("login", 1.0)] {
        assert_eq!(
            count(&e, "auth_logins_total", program),
            want,
            "{program}\n{e}"
        );
    }
    assert_eq!(count(&e, "auth_logins_total", "other"), 0.0, "{e}");
}

fn app(format: &str, lines: &[&str]) -> String {
    run(
        &format!("sources: [{{name: app, paths: [x], format: {format}, profile: app}}]\n"),
        lines,
    )
}

fn sample(expo: &str, series: &str) -> Option<f64> {
    expo.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn app_levels_are_normalised_and_all_exported() {
    let e = app(
        "syslog",
        &[
            "<11>Nov 27 10:00:00 web1 app[1]: err",
            "<12>Nov 27 10:00:00 web1 app[1]: warning",
            "<10>Nov 27 10:00:00 web1 app[1]: crit",
            "<14>Nov 27 10:00:00 web1 app[1]: info",
            "Nov 27 10:00:00 web1 app[1]: no PRI, no level",
        ],
    );
    for (level, want) in [
        ("trace", 0.0),
        ("debug", 0.0),
        ("info", 1.0),
        ("warn", 1.0),
        ("error", 1.0),
        ("fatal", 1.0),
        ("other", 1.0),
    ] {
        let s = format!("log_messages_total{{level=\"{level}\",source=\"app\"}}");
        assert_eq!(sample(&e, &s), Some(want), "{s}\n{e}");
    }
    // error and fatal (crit) records set the gauge to the rules' clock.
    assert_eq!(
        sample(&e, "log_last_error_timestamp_seconds{source=\"app\"}"),
        Some(1_800_000_000.0),
        "{e}"
    );
    assert!(!e.contains("log_exceptions_total"), "{e}");
}

#[test]
fn app_exceptions_by_class_and_no_error_no_timestamp() {
    let e = app(
        "java",
        &[
            "2026-11-27 10:00:00.001  WARN 7 --- [main] c.e.A : retry\njava.net.SocketTimeoutException: read timed out\n\tat c.e.A.run(A.java:1)",
            "2026-11-27 10:00:00.002  INFO 7 --- [main] c.e.A : fine",
            "2026-11-27 10:00:00.003 DEBUG 7 --- [main] c.e.A : x java.lang.IllegalStateException: in text",
        ],
    );
    assert_eq!(
        sample(
            &e,
            "log_exceptions_total{exception=\"java.net.SocketTimeoutException\",source=\"app\"}"
        ),
        Some(1.0),
        "{e}"
    );
    assert_eq!(
        sample(
            &e,
            "log_exceptions_total{exception=\"java.lang.IllegalStateException\",source=\"app\"}"
        ),
        Some(1.0),
        "{e}"
    );
    // No error yet: the gauge is 0 (declared from start-up, as its only label is constant).
    assert_eq!(
        sample(&e, "log_last_error_timestamp_seconds{source=\"app\"}"),
        Some(0.0),
        "{e}"
    );
}

#[test]
fn app_exception_overflow_folds_only_the_class() {
    let cfg = "global: {series_limit: 2}\nsources: [{name: app, paths: [x], format: java, profile: app}]\n";
    let lines: Vec<String> = (0..5)
        .map(|i| format!("2026-11-27 10:00:00.001 ERROR 7 --- [main] c.e.A : boom\ncom.example.Crafted{i}Exception: x"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let e = run(cfg, &refs);
    assert_eq!(
        sample(
            &e,
            "log_exceptions_total{exception=\"__overflow__\",source=\"app\"}"
        ),
        Some(3.0),
        "{e}"
    );
}

#[test]
fn the_http_profile_computes_each_label_once_per_line() {
    // 10 metrics and 27 labels; source, method, status, route, device, person, menu, page,
    // security kind, app, platform, app version, referrer and page referrer are each computed
    // once (the route's pattern list is one `Arc` for the 3 metrics that use it).
    let cfg = Config::from_yaml(
        "sources: [{name: web, paths: [x], format: auto, profile: http}]\n",
        "t.yml",
    )
    .expect("config");
    let r = SourceRules::compile(&cfg, 0, &Store::new()).expect("rules");
    assert_eq!(r.metrics.len(), 10);
    assert_eq!(r.metrics.iter().map(|m| m.labels.len()).sum::<usize>(), 27);
    assert_eq!(r.labels.len(), 14);
}

#[test]
fn a_tenant_in_the_path_is_left_out_of_routes_menus_and_pages() {
    let yaml = "sources:\n  - name: web\n    paths: [x]\n    format: combined\n    profile: http\n    path_prefix: /t/*\n    tenant: {field: request_uri, regex: '^/t/([a-z0-9-]+)', default: other}\n";
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36";
    let line = |uri: &str| {
        format!(
            "10.0.0.1 - - [06/Dec/2026:10:00:00 +0900] \"GET {uri} HTTP/1.1\" 200 5 \"-\" \"{ua}\""
        )
    };
    let lines: Vec<String> = [
        "/t/acme/mail/list?page=2",
        "/t/acme/approval/doc/123",
        "/t/beta",
        "/t/beta?x=1",
        "/login",
        "/tx/mail/list",
    ]
    .iter()
    .map(|u| line(u))
    .collect();
    let e = run(yaml, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let has = |s: &str| e.lines().any(|l| l == s);
    for want in [
        "http_requests_total{method=\"GET\",route=\"/mail/list\",source=\"web\",status=\"200\"} 1",
        "http_requests_total{method=\"GET\",route=\"/approval/doc/:id\",source=\"web\",status=\"200\"} 1",
        "http_requests_total{method=\"GET\",route=\"/\",source=\"web\",status=\"200\"} 2",
        "http_requests_total{method=\"GET\",route=\"/login\",source=\"web\",status=\"200\"} 1",
        "http_requests_total{method=\"GET\",route=\"/tx/mail/list\",source=\"web\",status=\"200\"} 1",
        "http_tenant_page_views_total{device=\"desktop\",menu=\"mail\",source=\"web\",tenant=\"acme\"} 1",
        "http_tenant_page_views_total{device=\"desktop\",menu=\"approval\",source=\"web\",tenant=\"acme\"} 1",
        "http_tenant_page_views_total{device=\"desktop\",menu=\"home\",source=\"web\",tenant=\"beta\"} 2",
        "http_tenant_requests_total{device=\"desktop\",menu=\"login\",source=\"web\",tenant=\"other\"} 1",
        "http_tenant_requests_total{device=\"desktop\",menu=\"other\",source=\"web\",tenant=\"other\"} 1",
        "http_menu_requests_total{device=\"desktop\",menu=\"mail\",source=\"web\"} 1",
    ] {
        assert!(has(want), "{want}\n{e}");
    }
    // As many label computations as without the prefix: each still shared by its metrics.
    let computations = |yaml: &str| {
        let cfg = Config::from_yaml(yaml, "t.yml").expect("config");
        let r = SourceRules::compile(&cfg, 0, &Store::new()).expect("rules");
        r.labels.len()
    };
    assert_eq!(
        computations(yaml),
        computations(&yaml.replace("    path_prefix: /t/*\n", ""))
    );
}
