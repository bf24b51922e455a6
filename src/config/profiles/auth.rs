//! `profile: auth`: authentication logs (`/var/log/auth.log`, `/var/log/secure`, `format:
//! syslog`) counted as failures and logins by program (docs/metrics.md).
//!
//! One failed attempt often writes two messages: the program's own (`Failed password for …`)
//! and PAM's (`pam_unix(sshd:auth): authentication failure; …`), and some hosts write only one
//! of them. With `format: syslog` each attempt and each login counts once whichever a host
//! writes: the format's `auth_event` and `auth_count` fields follow the records
//! ([`crate::parse::auth_event`]: sshd's own lines where the host writes them, PAM's where it
//! writes only those, rsyslog's `message repeated N times` as N). With another format mapped
//! through `fields:` (no such fields), the stateless rules below apply: the program's own
//! line where it writes one ([`OWN_FAILURE`]: sshd, su, sudo, login), PAM's line for every
//! other program (gdm, polkit, vsftpd, cockpit, …); logins by sshd's `Accepted <method> for`
//! and PAM's `session opened for user` for the others, except sessions machines open (cron,
//! at, systemd --user, runuser).
//!
//! The `program` label is the syslog program without its `(pam_unix)` suffix, mapped to a
//! fixed set ([`PROGRAMS`]) with `other` for the rest, so it stays bounded whatever the log
//! says. It is not named `service`: that is the target label the shipped Prometheus config
//! sets, and a scraped `service` would be renamed `exported_service`. User names and client
//! addresses are not labels: a password spray makes a new value per attempt (docs/metrics.md
//! says how to add one knowingly).

use std::collections::BTreeMap;

use super::{constant, metric, not_regex, regex, Context, Profile, ProfileLines, ProfileMetric};
use crate::config::raw::{
    MetricType, RawCondition, RawConditionFull, RawLabel, RawLabelFull, RawMetric, Scalar,
};

/// The `auth` profile.
pub static PROFILE: Profile = Profile {
    name: "auth",
    roles: &["service", "message"],
    options: &[],
    metrics,
    open_labels: &[],
    // Only lines that do not parse: which logins fail is in the metrics.
    lines: |_| ProfileLines::default(),
};

/// Syslog programs (as the `service` field gives them) → the `program` label. Anything else
/// is `other`.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("sshd", "sshd"),
    // OpenSSH 9.8+ authenticates in per-connection binaries that log under their own names.
    ("sshd-session", "sshd"),
    ("sshd-auth", "sshd"),
    ("sudo", "sudo"),
    ("su", "su"),
    ("login", "login"),
    // GNOME writes its PAM stacks' names, some with a stray `]` from its process title.
    ("gdm", "gdm"),
    ("gdm-password", "gdm"),
    ("gdm-password]", "gdm"),
    ("gdm-autologin", "gdm"),
    ("gdm-autologin]", "gdm"),
    ("gdm-fingerprint", "gdm"),
    ("gdm-smartcard", "gdm"),
    ("gdm-launch-environment", "gdm"),
    ("gdm-launch-environment]", "gdm"),
    ("lightdm", "lightdm"),
    ("sddm", "sddm"),
    ("sddm-helper", "sddm"),
    ("polkitd", "polkit"),
    ("polkit-agent-helper-1", "polkit"),
    ("pkexec", "polkit"),
    ("cockpit-session", "cockpit"),
    ("vsftpd", "vsftpd"),
    ("proftpd", "proftpd"),
    ("dovecot", "dovecot"),
    ("xrdp-sesman", "xrdp"),
];

/// Failures a program reports in a line of its own, one per event: sshd per rejected attempt
/// (`Failed password|publickey|keyboard-interactive/pam … for`, and `Invalid user` for a
/// connection naming an unknown user: on a key-only server the only trace of a guess), su
/// and login per failed attempt, sudo per refused command (after its tries, or not in
/// sudoers).
pub const OWN_FAILURE: &str = r"^(?:Failed \S+ for |Invalid user |Illegal user |FAILED SU |FAILED su for |FAILED LOGIN )|^\s*\S+ : (?:\d+ incorrect password attempts? ;|user NOT in sudoers ;)";

/// Programs whose own failure lines are counted, so their PAM lines are not.
pub const OWN_FAILURE_PROGRAMS: &str = r"^(?:sshd(?:-session|-auth)?|su|sudo|login)$";

/// PAM's failure line (`pam_unix(gdm-password:auth): authentication failure; …`, or with the
/// old `prog(pam_unix)` tag, the bare `authentication failure; …`). Its summary when the
/// process ends, `PAM 2 more authentication failures` (the failures it did not log one by
/// one), is left out by these stateless rules; `auth_event` counts it.
pub const PAM_FAILURE: &str = r"^(?:pam_\w+\([^)]*\): )?authentication failure;";

/// sshd's login line.
pub const SSH_LOGIN: &str = r"^Accepted \S+ for ";

/// PAM's session line, and the sessions that are not people logging in: sshd's (counted by
/// its `Accepted` line), cron, at, systemd's user manager, runuser.
pub const PAM_SESSION: &str = r"session opened for user ";
/// See [`PAM_SESSION`]: PAM service names in the message.
pub const MACHINE_SESSION: &str =
    r"\((?:sshd|cron|crond|atd|systemd-user|runuser|runuser-l):session\)";
/// See [`PAM_SESSION`]: the programs writing them.
pub const MACHINE_SESSION_PROGRAMS: &str =
    r"^(?:sshd(?:-session|-auth)?|cron|CRON|crond|atd|systemd|\(systemd\)|runuser)$";

fn metrics(cx: &mut Context<'_>) -> Vec<ProfileMetric> {
    let events = cx.has("auth_event") && cx.has("auth_count");
    let service = cx.field("service");
    let message = cx.field("message");
    let src = &cx.source.name;
    let program = || {
        RawLabel::Full(Box::new(RawLabelFull {
            field: Some(service.clone()),
            map: Some(
                PROGRAMS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            default: Some("other".into()),
            ..Default::default()
        }))
    };
    let def = |name: &str, help: &str, conds: Vec<(&String, _)>| -> ProfileMetric {
        let mut m: RawMetric = metric(
            name,
            MetricType::Counter,
            help,
            events.then(|| "auth_count".to_string()),
            vec![("source", constant(src)), ("program", program())],
        );
        m.matches = conds
            .into_iter()
            .map(|(f, c)| (f.clone(), c))
            .collect::<BTreeMap<_, _>>();
        ProfileMetric {
            metric: m,
            needs: "the auth profile needs service (program) and message fields, as `format: syslog` has",
        }
    };
    const FAILURES: &str = "Authentication failures by program (sshd, sudo, su, login, gdm, …, other), each event once.";
    const LOGINS: &str = "Logins by program: sshd's accepted logins, PAM sessions opened by people (not cron, at, systemd, runuser).";
    if events {
        let event = "auth_event".to_string();
        let is = |v: &str| {
            RawCondition::Full(RawConditionFull {
                equals: Some(Scalar::Str(v.into())),
                ..Default::default()
            })
        };
        return vec![
            def(
                "auth_failures_total",
                FAILURES,
                vec![(&event, is("failure"))],
            ),
            def("auth_logins_total", LOGINS, vec![(&event, is("login"))]),
        ];
    }
    vec![
        def(
            "auth_failures_total",
            FAILURES,
            vec![(&message, regex(OWN_FAILURE, None))],
        ),
        def(
            "auth_failures_total",
            FAILURES,
            vec![
                (&message, regex(PAM_FAILURE, None)),
                (&service, not_regex(OWN_FAILURE_PROGRAMS)),
            ],
        ),
        def(
            "auth_logins_total",
            LOGINS,
            vec![(&message, regex(SSH_LOGIN, None))],
        ),
        def(
            "auth_logins_total",
            LOGINS,
            vec![
                (&message, regex(PAM_SESSION, Some(MACHINE_SESSION))),
                (&service, not_regex(MACHINE_SESSION_PROGRAMS)),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn programs_map_to_a_fixed_set() {
        let c = Config::from_yaml(
            "sources: [{name: auth, paths: [x], format: syslog, profile: auth}]\n",
            "t.yml",
        )
        .unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let names: Vec<&str> = c.sources[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["auth_failures_total", "auth_logins_total"]);
        for m in &c.sources[0].metrics {
            assert!(m.labels.iter().all(|l| l.bounded()), "{}", m.name);
        }
        let values: std::collections::BTreeSet<&str> = PROGRAMS.iter().map(|p| p.1).collect();
        assert!(values.len() < 20 && !values.contains("other"));
    }

    #[test]
    fn patterns_compile() {
        for re in [
            OWN_FAILURE,
            OWN_FAILURE_PROGRAMS,
            PAM_FAILURE,
            SSH_LOGIN,
            PAM_SESSION,
            MACHINE_SESSION,
            MACHINE_SESSION_PROGRAMS,
        ] {
            regex::Regex::new(re).unwrap();
        }
    }
}
