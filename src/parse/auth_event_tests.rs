use super::*;
use crate::parse::{LineParser, Record, SyslogParser};

/// (failures, logins) counted by a syslog parser asked for the derived fields, over `lines`.
fn totals(lines: &[String]) -> (u32, u32) {
    let mut p = SyslogParser::new();
    let event = p.field("auth_event").unwrap();
    let count = p.field("auth_count").unwrap();
    let mut rec = Record::with_fields(p.field_count());
    let (mut failures, mut logins) = (0, 0);
    for l in lines {
        rec.clear();
        p.parse(l.as_bytes(), &mut rec).unwrap();
        let n: u32 = rec
            .get(l.as_bytes(), count)
            .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
        match rec.get(l.as_bytes(), event) {
            Some(b"failure") => failures += n,
            Some(b"login") => logins += n,
            None => assert_eq!(n, 0),
            Some(other) => panic!("{other:?}"),
        }
    }
    (failures, logins)
}

/// Which lines of one session a host writes.
#[derive(Clone, Copy, PartialEq)]
enum Host {
    /// sshd's own lines only (PAM's go elsewhere, or PAM is not in the path).
    Sshd,
    /// PAM's lines only, in the old `sshd(pam_unix)` style of older RHEL/Fedora.
    PamOld,
    /// PAM's lines only, in today's `pam_unix(sshd:auth)` style.
    Pam,
    /// Both, as Debian and Ubuntu write them.
    Both,
}

/// The lines `host` writes for: a password spray from one sshd process (4 wrong passwords,
/// the last three folded by rsyslog into `message repeated`), an unknown user trying twice,
/// one wrong password then a login, and a key login.
fn session(host: Host, name: &str) -> Vec<String> {
    let own = matches!(host, Host::Sshd | Host::Both);
    let pam = |rest: &str| -> Option<String> {
        match host {
            Host::Sshd => None,
            Host::PamOld => Some(format!("sshd(pam_unix)[{rest}")),
            Host::Pam | Host::Both => {
                let (pid, msg) = rest.split_once("]: ").unwrap();
                let stack = if msg.starts_with("session") {
                    "session"
                } else {
                    "auth"
                };
                Some(format!("sshd[{pid}]: pam_unix(sshd:{stack}): {msg}"))
            }
        }
    };
    let sshd = |s: &str| own.then(|| format!("sshd[{s}"));
    let lines = [
        // Spray: pam_unix logs the first failure, and the other three at the end.
        pam("100]: authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root"),
        sshd("100]: Failed password for root from 203.0.113.9 port 40022 ssh2"),
        sshd("100]: Failed password for root from 203.0.113.9 port 40022 ssh2"),
        sshd("100]: message repeated 2 times: [ Failed password for root from 203.0.113.9 port 40022 ssh2]"),
        sshd("100]: Disconnecting authenticating user root 203.0.113.9 port 40022: Too many authentication failures [preauth]"),
        pam("100]: PAM 3 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root"),
        // Unknown user, two tries; the `none` method probe is not an attempt.
        sshd("101]: Invalid user admin from 203.0.113.9 port 40100"),
        sshd("101]: Failed none for invalid user admin from 203.0.113.9 port 40100 ssh2"),
        pam("101]: check pass; user unknown"),
        pam("101]: authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9"),
        sshd("101]: Failed password for invalid user admin from 203.0.113.9 port 40100 ssh2"),
        pam("101]: check pass; user unknown"),
        sshd("101]: Failed password for invalid user admin from 203.0.113.9 port 40100 ssh2"),
        pam("101]: PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9"),
        // A typo, then in.
        pam("102]: authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.10  user=alice"),
        sshd("102]: Failed password for alice from 192.0.2.10 port 50000 ssh2"),
        sshd("102]: Accepted password for alice from 192.0.2.10 port 50000 ssh2"),
        pam("102]: session opened for user alice(uid=1000) by (uid=0)"),
        // A key login (PAM's session line only, on PAM-only hosts).
        sshd("103]: Accepted publickey for bob from 192.0.2.11 port 50001 ssh2: ED25519 SHA256:x"),
        pam("103]: session opened for user bob(uid=1001) by (uid=0)"),
        sshd("103]: Received disconnect from 192.0.2.11 port 50001:11: disconnected by user"),
    ];
    lines
        .into_iter()
        .flatten()
        .map(|l| format!("Dec  6 11:00:00 {name} {l}"))
        .collect()
}

#[test]
fn every_host_gives_the_same_per_attempt_count() {
    // 4 spray + 2 unknown-user + 1 typo failures; 2 logins.
    for host in [Host::Sshd, Host::PamOld, Host::Pam, Host::Both] {
        assert_eq!(totals(&session(host, "web1")), (7, 2));
    }
    // Several hosts in one file (a syslog server), interleaved.
    let mut all = Vec::new();
    let logs: Vec<Vec<String>> = [Host::Sshd, Host::PamOld, Host::Pam, Host::Both]
        .iter()
        .enumerate()
        .map(|(i, h)| session(*h, &format!("web{i}")))
        .collect();
    for i in 0..logs.iter().map(Vec::len).max().unwrap() {
        for log in &logs {
            if let Some(l) = log.get(i) {
                all.push(l.clone());
            }
        }
    }
    assert_eq!(totals(&all), (28, 8));
}

#[test]
fn a_host_that_stops_writing_sshd_lines_counts_pam_again() {
    let mut lines = session(Host::Both, "web1");
    lines.push(
        "Dec  6 11:59:00 web1 sshd[199]: Failed password for root from 203.0.113.9 port 1 ssh2"
            .into(),
    );
    let before = totals(&lines);
    // From now on only PAM's lines: past OWN_TTL of them, they count.
    let pam_line = "Dec  6 12:00:00 web1 sshd[200]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9";
    let n = usize::from(OWN_TTL) + 10;
    lines.extend(std::iter::repeat_n(pam_line.to_string(), n));
    assert_eq!(totals(&lines).0, before.0 + 10);
}

#[test]
fn other_programs_as_before() {
    let lines: Vec<String> = [
        "su: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root",
        "su: FAILED SU (to root) alice on pts/0",
        "sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice",
        "sudo:    alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
        "sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh",
        "gdm-password]: pam_unix(gdm-password:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice",
        "gdm-password]: pam_unix(gdm-password:auth): 2 more authentication failures; logname= uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice",
        "login[50]: FAILED LOGIN (1) on '/dev/tty2' FOR 'root', Authentication failure",
        "CRON[60]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "systemd[61]: pam_unix(systemd-user:session): session opened for user alice(uid=1000) by (uid=0)",
        "su: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)",
    ]
    .iter()
    .map(|l| format!("Dec  6 11:00:00 web1 {l}"))
    .collect();
    // su 1, sudo 2, gdm 1 + 2, login 1; one login (su's session).
    assert_eq!(totals(&lines), (7, 1));
}

#[test]
fn classification_edges() {
    assert_eq!(
        unrepeat(b"message repeated 12 times: [ x]"),
        (12, &b"x"[..])
    );
    assert_eq!(unrepeat(b"message repeated many times: [ x]").0, 1);
    assert_eq!(unrepeat(b"message repeated 99999999 times: [ x]").0, 1);
    assert_eq!(
        classify(b"sshd", b"Failed none for x from y"),
        Some(Kind::Probe)
    );
    assert_eq!(
        classify(
            b"sshd",
            b"Failed keyboard-interactive/pam for x from y port 1 ssh2"
        ),
        Some(Kind::OwnFailure(1))
    );
    assert_eq!(classify(b"sshd", b"Failed to release session"), None);
    assert_eq!(
        classify(b"sshd", b"PAM 0 more authentication failures;"),
        None
    );
    assert_eq!(
        classify(b"sudo", b"alice : TTY=pts/0 ; COMMAND=/bin/ls"),
        None
    );
    assert_eq!(
        classify(b"x", b"pam_unix(x:auth: authentication failure;"),
        None
    );
    assert_eq!(classify(b"x", b""), None);
}

/// Memory stays what it was whatever the hosts and pids: the tables are fixed, and an evicted
/// entry costs at most a miscount of one attempt, never a panic.
#[test]
fn bounded_under_many_hosts_and_pids() {
    let mut t = AuthTracker::default();
    let mut n = 0;
    for i in 0..20_000u32 {
        let host = format!("h{}", i % 3000);
        let pid = i.to_string();
        if t.observe(
            host.as_bytes(),
            b"sshd",
            pid.as_bytes(),
            b"Invalid user x from y",
        )
        .is_some()
        {
            n += 1;
        }
    }
    assert_eq!(n, 20_000);
    assert_eq!(
        (t.hosts.map.len(), t.pids.map.len()),
        (HOST_SLOTS.min(3000), PID_SLOTS)
    );
    assert!(t.hosts.order.len() <= HOST_SLOTS && t.pids.order.len() <= PID_SLOTS);
}
