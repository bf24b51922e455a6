use super::*;
use crate::parse::FormatSpec;
use std::collections::BTreeMap;

fn fields(pattern: &str, line: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let p = PatternParser::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let mut rec = Record::with_fields(p.field_count());
    p.parse(line.as_bytes(), &mut rec)?;
    Ok(p.names
        .iter()
        .enumerate()
        .filter_map(|(id, n)| {
            let v = rec.get(line.as_bytes(), id)?;
            Some((n.clone(), String::from_utf8_lossy(v).into_owned()))
        })
        .collect())
}

fn want(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_defaults_met_in_the_wild() {
    // Zookeeper
    assert_eq!(
        fields(
            "%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n",
            "2026-11-27 10:00:00,747 [myid:1] - WARN  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200"
        )
        .unwrap(),
        want(&[
            ("timestamp", "2026-11-27 10:00:00,747"),
            ("myid", "1"),
            ("level", "WARN"),
            ("thread", "QuorumPeer[myid=1]/0"),
            ("class", "0:0:0:0:0:0:0:2181:FastLeaderElection"),
            ("line", "774"),
            ("message", "Notification time out: 3200"),
        ])
    );
    // Spark
    assert_eq!(
        fields(
            "%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n",
            "26/11/27 10:00:40 ERROR Executor: Exception in task 0.0: boom"
        )
        .unwrap(),
        want(&[
            ("timestamp", "26/11/27 10:00:40"),
            ("level", "ERROR"),
            ("logger", "Executor"),
            ("message", "Exception in task 0.0: boom"),
        ])
    );
    // log4j2's default
    assert_eq!(
        fields(
            "%d{HH:mm:ss.SSS} [%t] %-5level %logger{36} - %msg%n",
            "10:00:19.123 [main] INFO  com.example.App - started - twice"
        )
        .unwrap(),
        want(&[
            ("timestamp", "10:00:19.123"),
            ("thread", "main"),
            ("level", "INFO"),
            ("logger", "com.example.App"),
            ("message", "started - twice"),
        ])
    );
    // Kafka: the message runs to the last ` (` of the line.
    assert_eq!(
        fields(
            "[%d] %p %m (%c)%n",
            "[2026-11-27 10:00:00,918] INFO [Broker 1] (re)started (kafka.server.KafkaServer)"
        )
        .unwrap(),
        want(&[
            ("timestamp", "2026-11-27 10:00:00,918"),
            ("level", "INFO"),
            ("message", "[Broker 1] (re)started"),
            ("logger", "kafka.server.KafkaServer"),
        ])
    );
    // The issue's own example, with a right-justified level.
    let f = fields(
        "%d{ABSOLUTE} %5p [%t] %c{1} - %m%n",
        "10:00:00,123  WARN [pool-1-thread-2] Foo - slow",
    )
    .unwrap();
    assert_eq!(
        (
            f["level"].as_str(),
            f["thread"].as_str(),
            f["logger"].as_str()
        ),
        ("WARN", "pool-1-thread-2", "Foo")
    );
}

#[test]
fn spring_boot_pattern_with_properties_and_colors() {
    let p = "%clr(%d{${LOG_DATEFORMAT_PATTERN:-yyyy-MM-dd'T'HH:mm:ss.SSSXXX}}){faint} %clr(${LOG_LEVEL_PATTERN:-%5p}) %clr(${PID:- }){magenta} %clr(---){faint} %clr(${LOG_CORRELATION_PATTERN:-}){faint}%clr([%15.15t]){faint} %clr(%-40.40logger{39}){cyan} %clr(:){faint} %m%n${LOG_EXCEPTION_CONVERSION_WORD:-%wEx}";
    let line = "2026-11-27T10:00:00.123+09:00 ERROR 4242 --- [nio-8080-exec-1] c.e.gw.Api                               : submit failed\njava.lang.IllegalStateException: x\n\tat c.e.gw.Api.submit(Api.java:1)";
    let f = fields(p, line).unwrap();
    assert_eq!(f["timestamp"], "2026-11-27T10:00:00.123+09:00");
    assert_eq!(f["level"], "ERROR");
    assert_eq!(f["pid"], "4242");
    assert_eq!(f["thread"], "nio-8080-exec-1");
    assert_eq!(f["logger"], "c.e.gw.Api");
    assert!(f["message"].starts_with("submit failed\njava.lang."));
    assert_eq!(f["exception"], "java.lang.IllegalStateException");
    assert_eq!(f["root_cause"], "java.lang.IllegalStateException");
    // log4j2 styles: the content of %highlight{…}{…} and %style{…}{…} stands as it is.
    let g = fields(
        "%d %highlight{%-5level}{FATAL=red} %style{[%t]}{bold} %c - %m%n",
        "2026-11-27 10:00:00,000 DEBUG [main] a.B - ok",
    )
    .unwrap();
    assert_eq!(
        (g["level"].as_str(), g["thread"].as_str()),
        ("DEBUG", "main")
    );
}

#[test]
fn touching_conversions_split_by_shape() {
    // A level padded to five, then the logger with no space between: the level word ends
    // where the padding would.
    for (line, level) in [
        ("2026-11-27 10:00:00,000 ERRORc.e.Foo boom", "ERROR"),
        ("2026-11-27 10:00:00,000 INFO c.e.Foo boom", "INFO"),
    ] {
        let f = fields("%d %-5p%c %m", line).unwrap();
        assert_eq!(
            (f["level"].as_str(), f["logger"].as_str()),
            (level, "c.e.Foo")
        );
    }
    // %r then %t: digits.
    let g = fields(
        "%r [%t] %p %c %x - %m%n",
        "4212 [main] INFO com.foo.Bar  - hello",
    )
    .unwrap();
    assert_eq!(
        (
            g["relative"].as_str(),
            g["logger"].as_str(),
            g.get("ndc").map(String::as_str)
        ),
        ("4212", "com.foo.Bar", Some(""))
    );
    assert_eq!(g["message"], "hello");
}

#[test]
fn mismatches_are_errors_not_guesses() {
    let p = "%d{ISO8601} %-5p [%t] %c - %m%n";
    for bad in [
        "",
        "\tat com.example.Foo.bar(Foo.java:10)",
        "2026-11-27 10:00:00,000 INFO main c.e.Foo - x",
        "10:00:00,000 INFO [main] c.e.Foo - x",
        "2026-11-27 10:00:00,000 INFO [main",
    ] {
        assert!(fields(p, bad).is_err(), "{bad:?}");
    }
    // A message with no text after it takes the continuation lines too.
    let f = fields(
        p,
        "2026-11-27 10:00:00,000 ERROR [main] c.e.Foo - x\nCaused by: a.b.CError: y",
    )
    .unwrap();
    assert_eq!(f["message"], "x\nCaused by: a.b.CError: y");
    assert_eq!(f["root_cause"], "a.b.CError");
}

#[test]
fn bad_patterns_name_the_word_and_its_position() {
    for (p, needle) in [
        (
            "%d %-5p %foo %m%n",
            "unknown conversion word %foo at character 9",
        ),
        (
            "%d %p %replace(%m){'\\n', ' '}%n",
            "%replace at character 7",
        ),
        ("%d{yyyy-QQ} %m", "'Q' at character 6"),
        ("%d %t%c %m", "thread and logger touch"),
        ("%d %p %", "must follow the % at character 7"),
        ("%d{HH:mm %m", "not closed"),
        ("just text", "no conversion"),
        ("%d %property %m", "needs a key"),
    ] {
        let e = PatternParser::new(p).unwrap_err().to_string();
        assert!(e.contains(needle), "{p}: {e}");
    }
}

#[test]
fn escapes_mdc_and_aliases() {
    let f = fields(
        "%d{DATE} %%%p\\t%X{traceId} %X %property{host} %m",
        "27 Nov 2026 10:00:00,000 %WARN\tabc123 {a=b} web-1 m",
    )
    .unwrap();
    assert_eq!(f["level"], "WARN");
    assert_eq!(f["traceId"], "abc123");
    assert_eq!(f["mdc"], "{a=b}");
    assert_eq!(f["host"], "web-1");
    let mut p = PatternParser::new("%d %p %m").unwrap();
    assert_eq!(p.field("msg"), p.field("message"));
    assert_eq!(p.field("time"), p.field("timestamp"));
    assert_eq!(p.field("thread"), None);
}

#[test]
fn start_regex_and_time_layout() {
    let p = PatternParser::new("[%d{yyyy-MM-dd HH:mm:ss,SSS}] %p %m (%c)%n").unwrap();
    let re = regex::Regex::new(&p.start_regex().unwrap()).unwrap();
    assert!(re.is_match("[2026-11-27 10:00:00,918] INFO x"));
    assert!(!re.is_match("\tat a.b(C.java:1)"));
    assert!(p.time_layout().is_some());
    assert_eq!(PatternParser::new("%p %m").unwrap().start_regex(), None);
    let spec = FormatSpec::Pattern("%d{dd.MM.yyyy HH:mm:ss} %p %m".into());
    let mut t = crate::parse::time::TimeParser::new(
        spec.time_layout().unwrap(),
        crate::parse::time::Zone::Fixed(0),
    );
    t.set_reference(0);
    assert_eq!(t.parse(b"27.11.2026 01:00:00"), Some(1_795_741_200_000));
    assert!(spec.default_multiline().is_some());
}

/// `check` names the config key and the word's position; a valid pattern's fields resolve
/// and its `%d` gives backfill its time layout.
#[test]
fn config_errors_name_the_key() {
    let yaml = |p: &str| {
        format!("sources:\n  - name: app\n    paths: [x]\n    format: {{pattern: '{p}'}}\n    profile: app\n")
    };
    let e = crate::config::Config::from_yaml(&yaml("%d %-5p %foo %m%n"), "t.yml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sources[0].format.pattern")
            && e.contains("unknown conversion word %foo at character 9"),
        "{e}"
    );
    let c = crate::config::Config::from_yaml(
        &yaml("%d{dd.MM.yyyy HH:mm:ss} [%t] %-5p %c - %m%n"),
        "t.yml",
    )
    .unwrap();
    assert!(matches!(
        c.sources[0].time.layout,
        crate::parse::time::Layout::Pattern(_)
    ));
}
