use super::*;
use std::collections::BTreeMap;

fn parse(line: &[u8]) -> Result<BTreeMap<&'static str, String>, ParseError> {
    let p = JavaParser::new();
    let mut rec = Record::with_fields(p.field_count());
    p.parse(line, &mut rec)?;
    Ok(SCHEMA
        .names
        .iter()
        .enumerate()
        .filter_map(|(id, n)| Some((*n, String::from_utf8_lossy(rec.get(line, id)?).into_owned())))
        .collect())
}

fn want(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

#[test]
fn spring_boot_2_and_3() {
    assert_eq!(
        parse(b"2026-11-27 10:00:00.123  ERROR 1234 --- [           main] c.e.Foo                                  : boom").unwrap(),
        want(&[
            ("timestamp", "2026-11-27 10:00:00.123"),
            ("level", "ERROR"),
            ("pid", "1234"),
            ("thread", "main"),
            ("logger", "c.e.Foo"),
            ("message", "boom"),
        ])
    );
    assert_eq!(
        parse(
            b"2026-11-27T10:00:00.123+09:00 ERROR 1234 --- [shop] [nio-8080-exec-1] c.e.Foo : boom"
        )
        .unwrap(),
        want(&[
            ("timestamp", "2026-11-27T10:00:00.123+09:00"),
            ("level", "ERROR"),
            ("pid", "1234"),
            ("app", "shop"),
            ("thread", "nio-8080-exec-1"),
            ("logger", "c.e.Foo"),
            ("message", "boom"),
        ])
    );
    // Thread then correlation ids, no application name.
    let f = parse(b"2026-11-27T10:00:00.123Z  INFO 7 --- [main] [0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331] c.e.Foo : ok").unwrap();
    assert_eq!((f.get("app"), f["thread"].as_str()), (None, "main"));
    let g = parse(b"2026-11-27T10:00:00.123Z  INFO 7 --- [shop] [main] [                                 ] c.e.Foo : ok").unwrap();
    assert_eq!((g["app"].as_str(), g["thread"].as_str()), ("shop", "main"));
}

#[test]
fn logback_log4j_kafka() {
    assert_eq!(
        parse(b"10:00:00.123 [main] ERROR c.e.Foo - msg - with dash").unwrap(),
        want(&[
            ("timestamp", "10:00:00.123"),
            ("level", "ERROR"),
            ("thread", "main"),
            ("logger", "c.e.Foo"),
            ("message", "msg - with dash"),
        ])
    );
    assert_eq!(
        parse(b"2026-11-27 10:00:00,123 WARN  [pool-1-thread-2] com.example.Foo: slow: 3 s")
            .unwrap(),
        want(&[
            ("timestamp", "2026-11-27 10:00:00,123"),
            ("level", "WARN"),
            ("thread", "pool-1-thread-2"),
            ("logger", "com.example.Foo"),
            ("message", "slow: 3 s"),
        ])
    );
    let f = parse(b"2026-11-27 10:00:00,123 INFO  Foo:42 - started").unwrap();
    assert_eq!(
        (f["logger"].as_str(), f["message"].as_str()),
        ("Foo", "started")
    );
    let k = parse(b"[2026-11-27 10:00:00,918] INFO [Broker-1], shut down completed (kafka.server.KafkaServer)").unwrap();
    assert_eq!(k["logger"], "kafka.server.KafkaServer");
    assert_eq!(
        k["message"],
        "[Broker-1], shut down completed (kafka.server.KafkaServer)"
    );
    assert_eq!(k.get("thread"), None);
    // No logger at all: the message follows the level.
    let m = parse(b"2026-11-27 10:00:00 FATAL out of memory").unwrap();
    assert_eq!(
        (m.get("logger"), m["message"].as_str()),
        (None, "out of memory")
    );
}

#[test]
fn stack_trace_exception_and_root_cause() {
    let rec = b"2026-11-27 10:00:02.303 ERROR 4242 --- [exec-2] c.e.gw.Api : submit failed\n\
org.springframework.dao.DataAccessResourceFailureException: Unable to acquire JDBC Connection\n\
\tat org.hibernate.Foo.handleException(Foo.java:277)\n\
\tat com.example.MyError$Inner.run(A.java:1)\n\
Caused by: org.hibernate.exception.JDBCConnectionException: no conn\n\
\t... 12 more\n\
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available\n\
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n\
\t... 42 common frames omitted";
    let f = parse(rec).unwrap();
    assert_eq!(
        f["exception"],
        "org.springframework.dao.DataAccessResourceFailureException"
    );
    assert_eq!(f["root_cause"], "java.sql.SQLTransientConnectionException");
    assert!(f["message"].starts_with("submit failed\norg.") && f["message"].ends_with("omitted"));
    // In the message itself, and an Error; no Caused by: the root cause is the exception.
    let g =
        parse(b"10:00:00.1 [t] WARN c.e.Foo - retry after java.lang.OutOfMemoryError, giving up")
            .unwrap();
    assert_eq!(
        (g["exception"].as_str(), g["root_cause"].as_str()),
        ("java.lang.OutOfMemoryError", "java.lang.OutOfMemoryError")
    );
    // Not exceptions: unqualified, a method name, a plural, the logger itself.
    let h = parse(b"10:00:00.1 [t] ERROR c.e.GlobalError - MyException handleException( Errors x.Errors c.e.onError(").unwrap();
    assert_eq!(h.get("exception"), None);
}

#[test]
fn not_java_records() {
    for bad in [
        &b""[..],
        b"\tat com.example.Foo.bar(Foo.java:10)",
        b"Caused by: java.io.IOException: x",
        b"2026-11-27 10:00:00.123 [main] c.e.Foo - no level",
        b"2026-11-27 10:00:00.123x ERROR",
        b"[2026-11-27 10:00:00 ERROR x",
    ] {
        assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn multiline_start_matches_headers_only() {
    let re = regex::Regex::new(MULTILINE_START).unwrap();
    for h in [
        "2026-11-27 10:00:00.123  ERROR",
        "2026-11-27T10:00:00Z",
        "10:00:00.123 [main]",
        "[2026-11-27 10:00:00,918] INFO",
    ] {
        assert!(re.is_match(h), "{h}");
    }
    for c in [
        "\tat a.B.c(B.java:1)",
        "Caused by: x.Y: z",
        "\t... 42 more",
        "java.io.IOException: x",
        "  indented",
    ] {
        assert!(!re.is_match(c), "{c}");
    }
}

/// The layouts issue 22 found rejected or half-read, each as its daemon writes it (levels as
/// written, thread, logger and message split where the layout has them).
#[test]
fn layouts_of_other_daemons() {
    // Zookeeper `%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n`, with and without
    // the MDC block.
    let z = parse(b"2026-11-27 10:00:00,747 [myid:1] - WARN  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200").unwrap();
    assert_eq!(
        z,
        want(&[
            ("timestamp", "2026-11-27 10:00:00,747"),
            ("level", "WARN"),
            ("thread", "QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181"),
            ("logger", "FastLeaderElection"),
            ("message", "Notification time out: 3200"),
        ])
    );
    let z = parse(b"2026-11-27 10:00:00,394 - INFO  [/10.10.34.11:3888:QuorumCnxManager$Listener@493] - Received connection request /10.10.34.11:45307").unwrap();
    assert_eq!(
        (
            z["level"].as_str(),
            z["thread"].as_str(),
            z["logger"].as_str()
        ),
        ("INFO", "/10.10.34.11:3888", "QuorumCnxManager$Listener")
    );
    assert_eq!(
        z["message"],
        "Received connection request /10.10.34.11:45307"
    );
    // Spark `%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n`
    assert_eq!(
        parse(b"26/11/27 10:00:40 ERROR executor.Executor: Exception in task 0.0").unwrap(),
        want(&[
            ("timestamp", "26/11/27 10:00:40"),
            ("level", "ERROR"),
            ("logger", "executor.Executor"),
            ("message", "Exception in task 0.0"),
        ])
    );
    // log4j2's default `%d{HH:mm:ss.SSS} [%t] %-5level %logger{36} - %msg%n`
    let l = parse(b"10:00:19.123 [main] FATAL com.example.App - disk full").unwrap();
    assert_eq!(
        (
            l["level"].as_str(),
            l["thread"].as_str(),
            l["logger"].as_str()
        ),
        ("FATAL", "main", "com.example.App")
    );
    // logback 1.3+'s default `%d{HH:mm:ss.SSS} [%thread] %-5level %logger{36} -%kvp- %msg%n`
    let b = parse(b"10:00:19.123 [main] WARN  c.e.App -- retrying - twice").unwrap();
    assert_eq!(
        (b["logger"].as_str(), b["message"].as_str()),
        ("c.e.App", "retrying - twice")
    );
    // Tomcat's OneLineFormatter: `dd-MMM-yyyy HH:mm:ss.SSS LEVEL [thread] source message`
    assert_eq!(
        parse(b"27-Nov-2026 10:00:19.123 SEVERE [main] org.apache.catalina.startup.Catalina.start Server startup failed").unwrap(),
        want(&[
            ("timestamp", "27-Nov-2026 10:00:19.123"),
            ("level", "SEVERE"),
            ("thread", "main"),
            ("logger", "org.apache.catalina.startup.Catalina.start"),
            ("message", "Server startup failed"),
        ])
    );
    // Python `%(asctime)s - %(name)s - %(levelname)s - %(message)s`
    for (line, level) in [
        (
            &b"2026-11-27 10:00:19,123 - billing.worker - WARNING - queue - slow"[..],
            "WARNING",
        ),
        (
            b"2026-11-27 10:00:19,123 - root - CRITICAL - out of memory",
            "CRITICAL",
        ),
    ] {
        let p = parse(line).unwrap();
        assert_eq!(p["level"], level);
        assert!(["billing.worker", "root"].contains(&p["logger"].as_str()));
        assert!(["queue - slow", "out of memory"].contains(&p["message"].as_str()));
    }
    // log4j `%d{DATE}` and Elasticsearch's `[%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%m%n`
    let d = parse(b"27 Nov 2026 10:00:19,123 DEBUG [main] c.e.Foo: x").unwrap();
    assert_eq!(
        (d["level"].as_str(), d["logger"].as_str()),
        ("DEBUG", "c.e.Foo")
    );
    let e =
        parse(b"[2026-11-27T10:00:19,123][ERROR][o.e.b.Bootstrap] [node-1] fatal error").unwrap();
    assert_eq!(
        (
            e["level"].as_str(),
            e["logger"].as_str(),
            e["message"].as_str()
        ),
        ("ERROR", "o.e.b.Bootstrap", "fatal error")
    );
    assert_eq!(e.get("thread"), None);
}

/// Every level word the layouts write is read as written, and normalises.
#[test]
fn levels_are_exact() {
    for word in [
        "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "SEVERE", "CRITICAL",
        "FINE", "FINEST", "CONFIG", "NOTICE",
    ] {
        let line = format!("2026-11-27 10:00:00,123 - app - {word} - m");
        let p = parse(line.as_bytes()).unwrap();
        assert_eq!(p["level"], word);
        assert!(Level::parse(word.as_bytes()).is_some());
        let line = format!("26/11/27 10:00:00 {word} c.Foo: m");
        assert_eq!(parse(line.as_bytes()).unwrap()["level"], word);
    }
}
