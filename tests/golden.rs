//! Golden tests: `logpulse replay` of `tests/golden/NAME.log` with `NAME.yml` must print exactly
//! `NAME.prom`, and that output must pass `promtool check metrics`.
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test golden`, then
//! read the diff before committing it.

mod common;

use std::process::Command;

fn replay(name: &str) -> String {
    let dir = common::root().join("tests/golden");
    let out = Command::new(common::bin())
        .arg("replay")
        .arg("--config")
        .arg(dir.join(format!("{name}.yml")))
        .arg(dir.join(format!("{name}.log")))
        .output()
        .expect("run logpulse replay");
    assert!(
        out.status.success(),
        "replay {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("exposition is UTF-8")
}

/// The `app` profile's `log_last_error_timestamp_seconds` is the time the record was read:
/// replaced by `NOW` for the comparison, after checking it is the time of this run.
fn mask_read_times(expo: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    let mut out = String::new();
    for l in expo.split_inclusive('\n') {
        match l.split_once("} ") {
            Some((series, v)) if series.starts_with("log_last_error_timestamp_seconds{") => {
                let t: f64 = v.trim().parse().expect("gauge value");
                if t == 0.0 {
                    out.push_str(l);
                } else {
                    assert!(
                        (now - 600.0..=now).contains(&t),
                        "{l}: not the time of this run"
                    );
                    out.push_str(series);
                    out.push_str("} NOW");
                    out.push_str(if l.ends_with('\n') { "\n" } else { "" });
                }
            }
            _ => out.push_str(l),
        }
    }
    out
}

fn golden(name: &str) {
    let raw = replay(name);
    common::promtool_check(&raw);
    let got = mask_read_times(&raw);
    let path = common::root().join(format!("tests/golden/{name}.prom"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden");
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!(
            "{name}: exposition differs from {} ({} vs {} lines):\n{}",
            path.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn messy_access_log_http_profile() {
    golden("messy_access");
}

#[test]
fn java_stack_traces_multiline_regex() {
    golden("java_app");
}

#[test]
fn logfmt_counters_gauges_histograms() {
    golden("app_logfmt");
}

#[test]
fn traefik_json_http_profile_with_field_map() {
    golden("traefik_json");
}

// The built-in application and system formats. Besides the golden exposition, each test checks
// the exposition against counts that grep/awk compute from the fixture itself, and that every
// physical line was read with no parse error. The fixtures have CRLF lines, no final newline,
// invalid UTF-8 and control bytes.

/// Run `script` with `sh -c`, the fixture `tests/golden/NAME.log` as `$1`; its stdout. The
/// fixtures hold invalid UTF-8: `grep -a` reads them as text.
fn sh(name: &str, script: &str) -> String {
    let log = common::root().join(format!("tests/golden/{name}.log"));
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .env("LC_ALL", "C")
        .arg(log)
        .output()
        .expect("run sh");
    String::from_utf8(out.stdout).expect("script output is UTF-8")
}

/// `sh` for a single number.
fn count(name: &str, script: &str) -> f64 {
    let out = sh(name, script);
    out.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{script}: {out:?}: {e}"))
}

/// `sh` for `uniq -c` output: (count, value) pairs.
fn counts(name: &str, script: &str) -> Vec<(f64, String)> {
    let out = sh(name, script);
    let pairs: Vec<(f64, String)> = out
        .lines()
        .map(|l| {
            let (n, v) = l.trim().split_once(' ').unwrap_or((l.trim(), ""));
            (
                n.parse().unwrap_or_else(|e| panic!("{l:?}: {e}")),
                v.trim().to_string(),
            )
        })
        .collect();
    assert!(!pairs.is_empty(), "{script} found nothing");
    pairs
}

/// Sum of the samples of `metric` (any labels).
fn total(expo: &str, metric: &str) -> f64 {
    expo.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn value(expo: &str, series: &str) -> f64 {
    common::sample(expo, series).unwrap_or_else(|| panic!("no sample {series}"))
}

/// Golden check, then: replay read every physical line (grep's count, which includes a last
/// line without newline) and none failed to parse. Returns the exposition.
fn golden_clean(name: &str) -> String {
    golden(name);
    let dir = common::root().join("tests/golden");
    let out = Command::new(common::bin())
        .arg("replay")
        .arg("--config")
        .arg(dir.join(format!("{name}.yml")))
        .arg(dir.join(format!("{name}.log")))
        .output()
        .expect("run logpulse replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = count(name, "grep -ac '' \"$1\"");
    assert!(
        stderr.contains(&format!("replayed {lines} lines, 0 parse errors")),
        "{name}: {stderr}"
    );
    String::from_utf8(out.stdout).expect("exposition is UTF-8")
}

#[test]
fn syslog_rfc3164_rfc5424_auth() {
    let n = "syslog_auth";
    let e = golden_clean(n);
    // Records: the lines that do not start with a blank (the rest continue the one above).
    let records = count(n, "grep -avc '^[[:blank:]]' \"$1\"");
    assert_eq!(total(&e, "syslog_records_total"), records);
    assert_eq!(records, 17.0);
    let sshd = count(n, "grep -ac ' sshd[[(: ]' \"$1\"");
    assert_eq!(value(&e, r#"syslog_records_total{service="sshd"}"#), sshd);
    let failures = count(
        n,
        "grep -aEc 'authentication failure|Failed password' \"$1\"",
    );
    assert_eq!(total(&e, "syslog_auth_failures_total"), failures);
    let sshd_failures = count(
        n,
        "grep -aE 'authentication failure|Failed password' \"$1\" | grep -ac ' sshd[[(: ]'",
    );
    assert_eq!(
        value(&e, r#"syslog_auth_failures_total{service="sshd"}"#),
        sshd_failures
    );
    // Severity is PRI mod 8.
    const SEVERITIES: [&str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    let by_sev = counts(
        n,
        "awk -F'[<>]' '/^</ { print $2 % 8 }' \"$1\" | sort | uniq -c",
    );
    for (c, sev) in &by_sev {
        let name = SEVERITIES[sev.parse::<usize>().expect("severity number")];
        assert_eq!(
            value(&e, &format!("syslog_severity_total{{severity=\"{name}\"}}")),
            *c
        );
    }
    assert_eq!(
        total(&e, "syslog_severity_total"),
        count(n, "grep -ac '^<' \"$1\"")
    );
    let sd = counts(
        n,
        "grep -ao 'eventSource=\"[^\"]*\"' \"$1\" | cut -d'\"' -f2 | sort | uniq -c",
    );
    for (c, src) in &sd {
        let series = format!("syslog_sd_events_total{{event_source=\"{src}\"}}");
        assert_eq!(value(&e, &series), *c);
    }
}

#[test]
fn nginx_error_log_with_fastcgi_continuations() {
    let n = "nginx_error";
    let e = golden_clean(n);
    let header = "^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8} \\[";
    let records = count(n, &format!("grep -aEc '{header}' \"$1\""));
    assert_eq!(total(&e, "nginx_error_records_total"), records);
    assert_eq!(records, 11.0);
    let by_level = counts(
        n,
        &format!("grep -aEo '{header}[a-z]+' \"$1\" | cut -d[ -f2 | sort | uniq -c"),
    );
    for (c, level) in &by_level {
        let series = format!("nginx_error_records_total{{level=\"{level}\"}}");
        assert_eq!(value(&e, &series), *c);
    }
    let by_method = counts(
        n,
        "grep -a 'upstream: \"' \"$1\" | grep -aEo 'request: \"[A-Z]+' | cut -d'\"' -f2 | sort | uniq -c",
    );
    for (c, method) in &by_method {
        let series = format!("nginx_upstream_problems_total{{method=\"{method}\"}}");
        assert_eq!(value(&e, &series), *c);
    }
}

#[test]
fn apache_error_log_22_and_24() {
    let n = "apache_error";
    let e = golden_clean(n);
    let records = count(n, "grep -ac '^\\[' \"$1\"");
    assert_eq!(total(&e, "apache_error_records_total"), records);
    // The second bracket block: `[level]` (2.2) or `[module:level]` (2.4, module may be empty).
    let by_module_level = counts(
        n,
        r#"awk 'match($0, /\] \[[a-z_]*:?[a-z0-9]+\]/) {
              b = substr($0, RSTART + 3, RLENGTH - 4)
              if (split(b, p, ":") == 2) { m = p[1]; l = p[2] } else { m = ""; l = p[1] }
              if (m == "") m = "none"
              print m "," l
            }' "$1" | sort | uniq -c"#,
    );
    assert!(by_module_level.len() >= 7, "{by_module_level:?}");
    for (c, ml) in &by_module_level {
        let (module, level) = ml.split_once(',').expect("module,level");
        let series = format!("apache_error_records_total{{level=\"{level}\",module=\"{module}\"}}");
        assert_eq!(value(&e, &series), *c);
    }
    let by_code = counts(
        n,
        r#"grep -aEo '\[client [^]]*\] (AH[0-9]{5}:)?' "$1" | sed -E 's/.*\] ?//; s/:$//; s/^$/none/' | sort | uniq -c"#,
    );
    for (c, code) in &by_code {
        let series = format!("apache_client_records_total{{code=\"{code}\"}}");
        assert_eq!(value(&e, &series), *c);
    }
    assert_eq!(
        total(&e, "apache_client_records_total"),
        count(n, "grep -ac '\\[client ' \"$1\"")
    );
}

#[test]
fn java_spring_boot_traces_builtin_multiline() {
    let n = "java_spring";
    let e = golden_clean(n);
    let header = "^\\[?([0-9]{4}-[0-9]{2}-[0-9]{2}[ T])?[0-9]{2}:[0-9]{2}:[0-9]{2}";
    let records = count(n, &format!("grep -aEc '{header}' \"$1\""));
    assert_eq!(total(&e, "java_log_records_total"), records);
    assert_eq!(records, 10.0);
    let by_level = counts(
        n,
        &format!(
            "grep -aE '{header}' \"$1\" | awk '{{ for (i = 2; i <= NF; i++) \
             if ($i ~ /^(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)$/) {{ print tolower($i); break }} }}' \
             | sort | uniq -c"
        ),
    );
    for (c, level) in &by_level {
        let series = format!("java_log_records_total{{level=\"{level}\"}}");
        assert_eq!(value(&e, &series), *c);
    }
    // Records with an exception: an exception line after the header, or a Spring header whose
    // message names one (`Caused by:` lines belong to a record already counted).
    let with_exception = count(
        n,
        r#"grep -aEc '^[a-z]+(\.[A-Za-z0-9_$]+)+(Exception|Error)(:|$)| : .*[a-z]+(\.[A-Za-z0-9_$]+)+(Exception|Error):' "$1""#,
    );
    assert_eq!(total(&e, "java_exceptions_total"), with_exception);
    // Hand-checked against the fixture: the first exception of each trace and its last cause.
    for (exception, root) in [
        (
            "org.springframework.dao.DataAccessResourceFailureException",
            "java.sql.SQLTransientConnectionException",
        ),
        ("java.io.UncheckedIOException", "java.io.IOException"),
        (
            "java.lang.NumberFormatException",
            "java.lang.NumberFormatException",
        ),
        ("java.lang.OutOfMemoryError", "java.lang.OutOfMemoryError"),
    ] {
        let series =
            format!("java_exceptions_total{{exception=\"{exception}\",root_cause=\"{root}\"}}");
        assert_eq!(value(&e, &series), 1.0);
    }
}

// The `app` and `auth` profiles on fixtures written for them. Counts come from the fixture
// itself (grep/awk on the raw lines, with the level table of docs/formats.md and the failure and
// login patterns of docs/metrics.md), or are stated hand counts.

/// awk: a level word as written → its normalised level (docs/formats.md#levels).
const AWK_LEVEL: &str = r#"function lvl(w) { w = tolower(w)
  if (w ~ /^(trace[1-8]?|finest|finer|verbose)$/) return "trace"
  if (w ~ /^(debug|dbg|fine)$/) return "debug"
  if (w ~ /^(info|inf|information|informational|notice|config)$/) return "info"
  if (w ~ /^(warn|warning|wrn)$/) return "warn"
  if (w ~ /^(error|err|eror|severe)$/) return "error"
  if (w ~ /^(fatal|crit|critical|alert|emerg|emergency|panic)$/) return "fatal"
  return "other" }"#;

/// `log_messages_total` by level equals `by_level` (`uniq -c` pairs), every level is exported
/// (0 when absent), the total is `records`, and the last-error gauge is set iff there is an
/// error or fatal record.
fn check_levels(e: &str, source: &str, by_level: &[(f64, String)], records: f64) {
    for level in ["trace", "debug", "info", "warn", "error", "fatal", "other"] {
        let want = by_level
            .iter()
            .filter(|(_, l)| l == level)
            .map(|(c, _)| c)
            .sum::<f64>();
        let series = format!("log_messages_total{{level=\"{level}\",source=\"{source}\"}}");
        assert_eq!(value(e, &series), want, "{series}");
    }
    assert_eq!(total(e, "log_messages_total"), records);
    let errors = by_level
        .iter()
        .any(|(c, l)| *c > 0.0 && (l == "error" || l == "fatal"));
    let t = value(
        e,
        &format!("log_last_error_timestamp_seconds{{source=\"{source}\"}}"),
    );
    assert_eq!(t > 0.0, errors, "last error timestamp {t}");
}

#[test]
fn app_profile_java_layouts_and_traces() {
    let n = "app_java";
    let e = golden_clean(n);
    let header = "^\\[?([0-9]{4}-[0-9]{2}-[0-9]{2}[ T])?[0-9]{2}:[0-9]{2}:[0-9]{2}";
    let records = count(n, &format!("grep -aEc '{header}' \"$1\""));
    assert_eq!(records, 18.0);
    let by_level = counts(
        n,
        &format!(
            "grep -aE '{header}' \"$1\" | awk '{AWK_LEVEL} {{ for (i = 2; i <= NF; i++) \
             if (lvl($i) != \"other\") {{ print lvl($i); break }} }}' | sort | uniq -c"
        ),
    );
    check_levels(&e, "orders", &by_level, records);
    // Per record (a header and the lines up to the next one), the first qualified class
    // ending in Exception, Error or Throwable.
    let awk_header =
        "^\\[?([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][ T])?[0-9][0-9]:[0-9][0-9]:[0-9][0-9]";
    let by_class = counts(
        n,
        &format!(
            r#"awk '/{awk_header}/ {{ if (c != "") print c; c = ""; in_rec = 1 }}
                  c == "" && match($0, /[a-z][A-Za-z0-9_]*(\.[A-Za-z0-9_$]+)+(Exception|Error|Throwable)/) {{
                    c = substr($0, RSTART, RLENGTH) }}
                  END {{ if (c != "") print c }}' "$1" | sort | uniq -c"#
        ),
    );
    assert_eq!(by_class.len(), 6, "{by_class:?}");
    for (c, class) in &by_class {
        let series = format!("log_exceptions_total{{exception=\"{class}\",source=\"orders\"}}");
        assert_eq!(value(&e, &series), *c);
    }
    assert_eq!(
        total(&e, "log_exceptions_total"),
        by_class.iter().map(|(c, _)| c).sum::<f64>()
    );
    // Hand count: the Hikari failure twice, five other classes once.
    assert_eq!(total(&e, "log_exceptions_total"), 7.0);
}

#[test]
fn app_profile_nginx_and_apache_error_logs() {
    let n = "app_nginx_error";
    let e = golden_clean(n);
    let header = "^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8} \\[";
    let records = count(n, &format!("grep -aEc '{header}' \"$1\""));
    assert_eq!(records, 12.0);
    let by_level = counts(
        n,
        &format!(
            "grep -aEo '{header}[a-z]+' \"$1\" | cut -d[ -f2 \
             | awk '{AWK_LEVEL} {{ print lvl($0) }}' | sort | uniq -c"
        ),
    );
    check_levels(&e, "nginx-error", &by_level, records);

    let n = "app_apache_error";
    let e = golden_clean(n);
    let records = count(n, "grep -ac '^\\[' \"$1\"");
    assert_eq!(records, 13.0);
    // The second bracket block: `[level]` (2.2) or `[module:level]` (2.4).
    let by_level = counts(
        n,
        &format!(
            r#"awk '{AWK_LEVEL} match($0, /\] \[[a-z_]*:?[a-z0-9]+\]/) {{
                  b = substr($0, RSTART + 3, RLENGTH - 4); k = split(b, p, ":"); print lvl(p[k]) }}' "$1" | sort | uniq -c"#
        ),
    );
    check_levels(&e, "apache-error", &by_level, records);
}

#[test]
fn app_profile_syslog_severities_and_lines_without_pri() {
    let n = "app_syslog";
    let e = golden_clean(n);
    // Records: lines that do not start with a blank; with `<PRI>` the level is PRI mod 8 (0-2
    // fatal, 3 error, 4 warn, 5-6 info, 7 debug), without one it is `other`.
    let records = count(n, "grep -avc '^[[:blank:]]' \"$1\"");
    assert_eq!(records, 16.0);
    let by_level = counts(
        n,
        r#"grep -av '^[[:blank:]]' "$1" | awk -F'[<>]' '
             /^</ { s = $2 % 8; print (s <= 2 ? "fatal" : s == 3 ? "error" : s == 4 ? "warn" : s <= 6 ? "info" : "debug"); next }
             { print "other" }' | sort | uniq -c"#,
    );
    check_levels(&e, "syslog", &by_level, records);
    assert_eq!(
        value(&e, r#"log_messages_total{level="other",source="syslog"}"#),
        3.0
    );
}

#[test]
fn auth_profile_failures_and_logins_each_once() {
    let n = "auth_log";
    let e = golden_clean(n);
    let programs = [
        ("sshd", "sshd(-session)?"),
        ("sudo", "sudo"),
        ("su", "su"),
        ("login", "login"),
        ("gdm", "gdm-password\\]"),
        ("polkit", "polkitd"),
        ("vsftpd", "vsftpd"),
        ("other", "custom-vpn"),
    ];
    // The program's tag, in RFC 3164 (`prog[pid]:`, `prog:`) or RFC 5424 (` prog pid - - `).
    let tag = |p: &str| format!("( {p}(\\[[0-9]+\\])?: | {p} [0-9]+ - - )");
    // Failures: the programs' own lines, and PAM's for the programs that write none.
    let own = " *(Failed [^ ]+ for |Invalid user |FAILED SU |FAILED LOGIN |[^ ]+ : [0-9]+ incorrect password attempts? ;|[^ ]+ : user NOT in sudoers ;)";
    let pam = "(pam_[a-z]+\\([^)]*\\): )?authentication failure;";
    for (program, re) in programs {
        let own_n = count(
            n,
            &format!("grep -aE '{}{own}' \"$1\" | grep -ac ''", tag(re)),
        );
        let pam_n = if ["sshd", "sudo", "su", "login"].contains(&program) {
            0.0
        } else {
            count(n, &format!("grep -aEc '{}{pam}' \"$1\"", tag(re)))
        };
        // An sshd process that logged `Invalid user` counted that attempt: its first `Failed …
        // for invalid user` is the same one.
        let paired = if program == "sshd" {
            count(
                n,
                &format!(
                    "grep -aoE '{}\\[[0-9]+\\]: Failed [^ ]+ for invalid user' \"$1\" | sed -E 's/: .*//' | sort -u | grep -ac ''",
                    re
                ),
            )
        } else {
            0.0
        };
        let series = format!("auth_failures_total{{program=\"{program}\",source=\"auth\"}}");
        assert_eq!(value(&e, &series), own_n + pam_n - paired, "{series}");
    }
    // Hand counts: sshd 7 (an unknown user who tried two passwords, another who tried none,
    // 4 rejected attempts of known users; the PAM lines, on a host writing sshd's own, and
    // "maximum authentication attempts" not counted); sudo 2 (3 tries, not in sudoers); gdm,
    // polkit, vsftpd and the unknown program by PAM's line.
    for (program, want) in [("sshd", 7.0), ("sudo", 2.0), ("other", 1.0)] {
        let series = format!("auth_failures_total{{program=\"{program}\",source=\"auth\"}}");
        assert_eq!(value(&e, &series), want, "{series}");
    }
    assert_eq!(total(&e, "auth_failures_total"), 15.0);
    // Logins: sshd's Accepted lines; PAM's session lines except sshd's and machines'.
    let accepted = count(
        n,
        "grep -aEc ' sshd(-session)?(\\[[0-9]+\\]: | [0-9]+ - - )Accepted ' \"$1\"",
    );
    assert_eq!(
        value(&e, r#"auth_logins_total{program="sshd",source="auth"}"#),
        accepted
    );
    let sessions = counts(
        n,
        r#"grep -a 'session opened for user ' "$1" | grep -avE '\((sshd|cron|crond|atd|systemd-user|runuser|runuser-l):session\)' \
           | sed -E 's/^([A-Z][a-z]{2} +[0-9]+ [0-9:]{8}|[0-9T:.+-]+) [^ ]+ ([^ []+).*/\2/; s/:$//' | sort | uniq -c"#,
    );
    fn label(p: &str) -> &str {
        match p {
            "gdm-password]" => "gdm",
            p => p,
        }
    }
    for (c, p) in &sessions {
        let series = format!(
            "auth_logins_total{{program=\"{}\",source=\"auth\"}}",
            label(p)
        );
        assert_eq!(value(&e, &series), *c, "{series}");
    }
    // Hand count: alice, bob, erin by ssh; two sudo sessions, one su, one login, one gdm.
    assert_eq!(total(&e, "auth_logins_total"), 8.0);
    // The user name holding escape sequences shows nowhere: users are not labels.
    assert!(!e.contains('\u{1b}'));
}
