//! Property tests for the application and system formats: lines generated from random field
//! values, in each layout, parse back to exactly those values.

use proptest::prelude::*;

use super::{build, FormatSpec, Record};

/// The values of `names` in `line` as parsed by `spec`.
fn fields(spec: FormatSpec, line: &str, names: &[&str]) -> Vec<Option<String>> {
    let mut p = build(&spec).expect("builds");
    let ids: Vec<_> = names
        .iter()
        .map(|n| p.field(n).unwrap_or_else(|| panic!("field {n}")))
        .collect();
    let mut rec = Record::with_fields(p.field_count());
    p.parse(line.as_bytes(), &mut rec)
        .unwrap_or_else(|e| panic!("{e}: {line:?}"));
    ids.iter()
        .map(|&id| {
            rec.get(line.as_bytes(), id)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
        .collect()
}

fn some(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| Some(s.to_string())).collect()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn syslog_3164(
        pri in proptest::option::of(0u8..192),
        month in 0usize..12,
        day in 1u8..32,
        host in "[a-z][a-z0-9.-]{0,20}",
        service in "[a-zA-Z][a-zA-Z0-9_/.-]{0,15}",
        suffix in proptest::option::of("\\([a-z_:-]{1,12}\\)"),
        pid in proptest::option::of(1u32..4_000_000),
        msg in "[ -~]{0,80}",
    ) {
        let program = format!("{service}{}", suffix.unwrap_or_default());
        let line = format!(
            "{}{} {day:>2} 10:00:00 {host} {program}{}: {msg}",
            pri.map(|p| format!("<{p}>")).unwrap_or_default(),
            MONTHS[month],
            pid.map(|p| format!("[{p}]")).unwrap_or_default(),
        );
        let got = fields(FormatSpec::Syslog, &line, &["host", "program", "service", "pid", "message"]);
        prop_assert_eq!(&got[..3], &some(&[&host, &program, &service])[..]);
        prop_assert_eq!(got[3].clone(), pid.map(|p| p.to_string()));
        prop_assert_eq!(got[4].clone(), Some(msg));
    }

    #[test]
    fn syslog_5424(
        pri in 0u8..192,
        host in "-|[!-~]{1,30}",
        app in "-|[!-~]{1,20}",
        procid in "-|[0-9]{1,7}",
        msgid in "-|[!-~]{1,10}",
        id in "[!-~&&[^=\\]\" ]]{1,20}",
        // A parameter name with a dot cannot be asked for (`sd.ID.PARAM` splits at the last dot).
        param in "[!-~&&[^=\\]\" .]]{1,12}",
        value in "([ -~&&[^\"\\\\\\]]]|\\\\\"|\\\\\\\\|\\\\\\]){0,30}",
        msg in proptest::option::of("[ -~]{0,40}"),
    ) {
        let line = format!(
            "<{pri}>1 2026-11-27T10:00:00.1Z {host} {app} {procid} {msgid} [{id} {param}=\"{value}\"]{}",
            msg.as_ref().map(|m| format!(" {m}")).unwrap_or_default(),
        );
        let sd = format!("sd.{id}.{param}");
        let got = fields(FormatSpec::Syslog, &line, &["host", "program", "pid", "msgid", &sd, "message"]);
        let nil = |v: &str| (v != "-").then(|| v.to_string());
        prop_assert_eq!(got[0].clone(), nil(&host));
        prop_assert_eq!(got[1].clone(), nil(&app));
        prop_assert_eq!(got[2].clone(), nil(&procid));
        prop_assert_eq!(got[3].clone(), nil(&msgid));
        let unescaped = value.replace("\\\"", "\"").replace("\\]", "]").replace("\\\\", "\\");
        prop_assert_eq!(got[4].clone(), Some(unescaped));
        prop_assert_eq!(got[5].clone(), msg);
    }

    #[test]
    fn spring_boot_and_logback(
        spring in any::<bool>(),
        level in "TRACE|DEBUG|INFO|WARN|ERROR",
        pid in 1u32..100_000,
        thread in "[a-zA-Z0-9-]{1,15}",
        logger in "[a-z]{1,3}(\\.[a-z]{1,5}){0,3}\\.[A-Z][a-zA-Z]{0,10}",
        msg in "[ -~]{0,60}",
        exception in proptest::option::of("[a-z]{1,5}(\\.[a-z]{1,5}){1,3}\\.[A-Z][a-z]{0,8}(Exception|Error)"),
    ) {
        let mut line = if spring {
            format!("2026-11-27 10:00:00.123 {level:>5} {pid} --- [{thread:>15}] {logger:<40} : {msg}")
        } else {
            format!("10:00:00.123 [{thread}] {level:<5} {logger} - {msg}")
        };
        if let Some(e) = &exception {
            line.push_str(&format!("\n{e}: boom\n\tat a.B.c(B.java:1)"));
        }
        let got = fields(FormatSpec::Java, &line, &["level", "thread", "logger", "exception", "root_cause"]);
        prop_assert_eq!(&got[..3], &some(&[&level, &thread, &logger])[..]);
        prop_assert_eq!(got[3].clone(), exception.clone());
        prop_assert_eq!(got[4].clone(), exception);
    }
}
