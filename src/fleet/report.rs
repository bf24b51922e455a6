//! The servers' answers merged newest first, and how they are printed.

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::targets::Target;
use super::{clean, Output};
use crate::parse::time::format_utc;

/// One agent's `/lines` answer.
#[derive(Debug)]
pub struct Answer {
    /// Lines that matched there.
    pub matched: u64,
    /// The lines returned, as the agent wrote them.
    pub lines: Vec<Map<String, Value>>,
}

impl Answer {
    /// Parse an agent's JSON answer; every line must carry its `time_ms`.
    pub fn parse(body: &[u8]) -> Result<Answer, String> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| format!("not a /lines answer ({e}): {}", first_line(body)))?;
        let lines = match v.get("lines") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|l| match l {
                    Value::Object(m) if m.get("time_ms").is_some_and(Value::is_u64) => {
                        Ok(m.clone())
                    }
                    _ => Err("a line without time_ms in the answer".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(format!("not a /lines answer: {}", first_line(body))),
        };
        Ok(Answer {
            matched: v.get("matched").and_then(Value::as_u64).unwrap_or(0),
            lines,
        })
    }
}

/// The first line of a body, cleaned and cut at 300 characters (for error messages).
pub fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    let cut: String = line.chars().take(300).collect();
    clean(&cut).into_owned()
}

/// What one server's answer counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// Lines that matched there.
    pub matched: u64,
    /// Lines it returned.
    pub returned: usize,
}

/// One server and what came of asking it.
#[derive(Debug, Clone)]
pub struct ServerResult {
    /// The target, as Prometheus gave it.
    pub target: Target,
    /// Its counts, or why it did not answer.
    pub outcome: Result<Answered, String>,
}

/// One merged line.
#[derive(Debug, Clone)]
pub struct FleetLine {
    /// The server that kept it.
    pub server: String,
    /// When it was read (ms since the epoch).
    pub time_ms: u64,
    /// The line as the agent gave it.
    pub line: Map<String, Value>,
}

/// The fleet's answer.
#[derive(Debug)]
pub struct Report {
    /// Every server asked, in server order.
    pub servers: Vec<ServerResult>,
    /// The newest `limit` lines of all, newest first.
    pub lines: Vec<FleetLine>,
    /// Lines that matched on the servers that answered.
    pub matched: u64,
    /// The limit asked for.
    pub limit: usize,
    /// The `since` instant sent, if any.
    pub since_ms: Option<u64>,
    /// The query string every server got.
    pub query: String,
}

fn text_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

impl Report {
    /// Merge the answers: newest first; at equal times by server, then line reference, so the
    /// order does not depend on who answered first.
    pub fn merge(
        answers: Vec<(Target, Result<Answer, String>)>,
        limit: usize,
        since_ms: Option<u64>,
        query: String,
    ) -> Report {
        let mut lines = Vec::new();
        let mut servers = Vec::new();
        let mut matched = 0;
        for (target, a) in answers {
            let outcome = a.map(|a| {
                matched += a.matched;
                let returned = a.lines.len();
                for line in a.lines {
                    lines.push(FleetLine {
                        server: target.server.clone(),
                        time_ms: line.get("time_ms").and_then(Value::as_u64).unwrap_or(0),
                        line,
                    });
                }
                Answered {
                    matched: a.matched,
                    returned,
                }
            });
            servers.push(ServerResult { target, outcome });
        }
        lines.sort_by(|a, b| {
            b.time_ms
                .cmp(&a.time_ms)
                .then_with(|| a.server.cmp(&b.server))
                .then_with(|| text_of(&a.line, "line_ref").cmp(text_of(&b.line, "line_ref")))
        });
        lines.truncate(limit);
        Report {
            servers,
            lines,
            matched,
            limit,
            since_ms,
            query,
        }
    }

    /// Every server answered.
    pub fn all_answered(&self) -> bool {
        self.servers.iter().all(|s| s.outcome.is_ok())
    }

    /// Servers that did not answer.
    pub fn failed(&self) -> impl Iterator<Item = (&ServerResult, &str)> {
        self.servers
            .iter()
            .filter_map(|s| s.outcome.as_ref().err().map(|e| (s, e.as_str())))
    }

    /// The report as one JSON document.
    pub fn to_json(&self) -> Value {
        let servers: Vec<Value> = self
            .servers
            .iter()
            .map(|s| {
                let mut v = json!({
                    "server": s.target.server,
                    "url": s.target.lines_url,
                    "prometheus_health": s.target.health,
                });
                if !s.target.last_error.is_empty() {
                    v["prometheus_error"] = json!(s.target.last_error);
                }
                match &s.outcome {
                    Ok(a) => {
                        v["answered"] = json!(true);
                        v["matched"] = json!(a.matched);
                        v["returned"] = json!(a.returned);
                    }
                    Err(e) => {
                        v["answered"] = json!(false);
                        v["error"] = json!(e);
                    }
                }
                v
            })
            .collect();
        let lines: Vec<Value> = self
            .lines
            .iter()
            .map(|l| {
                let mut m = Map::with_capacity(l.line.len() + 1);
                m.insert("server".into(), json!(l.server));
                m.extend(l.line.iter().map(|(k, v)| (k.clone(), v.clone())));
                Value::Object(m)
            })
            .collect();
        json!({
            "query": self.query,
            "since_ms": self.since_ms,
            "limit": self.limit,
            "matched": self.matched,
            "returned": self.lines.len(),
            "all_answered": self.all_answered(),
            "servers": servers,
            "lines": lines,
        })
    }

    /// Print the report: lines (or the JSON) to `out`; in text, the servers' outcomes to `err`.
    pub fn print(
        &self,
        output: Output,
        mut out: impl Write,
        mut err: impl Write,
    ) -> io::Result<()> {
        match output {
            Output::Json => {
                serde_json::to_writer(&mut out, &self.to_json())?;
                out.write_all(b"\n")?;
            }
            Output::Text => {
                for l in &self.lines {
                    let m = &l.line;
                    let mut text = clean(text_of(m, "text")).into_owned();
                    if m.get("truncated") == Some(&Value::Bool(true)) {
                        text.push_str(" …");
                    }
                    if m.get("parsed") == Some(&Value::Bool(false)) {
                        text.push_str(" (did not parse)");
                    }
                    writeln!(
                        out,
                        "{} {} {} {}",
                        format_utc(l.time_ms as i64),
                        clean(&l.server),
                        clean(text_of(m, "source")),
                        text
                    )?;
                }
                out.flush()?;
                let asked = self.servers.len();
                let failed: Vec<_> = self.failed().collect();
                writeln!(
                    err,
                    "{} of {} matching lines shown, newest first; {} of {asked} servers answered",
                    self.lines.len(),
                    self.matched,
                    asked - failed.len()
                )?;
                for (s, e) in failed {
                    let mut why = format!("{}: {}", s.target.lines_url, e);
                    if !s.target.last_error.is_empty() {
                        why.push_str(&format!(
                            " (Prometheus: {}, {})",
                            s.target.health, s.target.last_error
                        ));
                    }
                    writeln!(
                        err,
                        "  did not answer: {} {}",
                        clean(&s.target.server),
                        clean(&why)
                    )?;
                }
            }
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Target {
        Target {
            server: s.into(),
            lines_url: format!("http://{s}:9145/lines"),
            health: "up".into(),
            last_error: String::new(),
        }
    }

    fn answer(matched: u64, lines: &[(u64, &str)]) -> Result<Answer, String> {
        let body = json!({
            "matched": matched,
            "lines": lines.iter().map(|(t, r)| json!({"time_ms": t, "line_ref": r, "source": "web", "text": format!("line {r}")})).collect::<Vec<_>>(),
        });
        Answer::parse(body.to_string().as_bytes())
    }

    #[test]
    fn merged_newest_first_with_servers_and_failures_kept() {
        let r = Report::merge(
            vec![
                (target("web-1"), answer(5, &[(300, "a:3"), (100, "a:1")])),
                (target("web-2"), answer(2, &[(300, "b:9"), (200, "b:2")])),
                (target("web-3"), Err("connect: refused".into())),
            ],
            3,
            None,
            "status=5xx".into(),
        );
        let got: Vec<(&str, u64)> = r
            .lines
            .iter()
            .map(|l| (l.server.as_str(), l.time_ms))
            .collect();
        assert_eq!(got, [("web-1", 300), ("web-2", 300), ("web-2", 200)]);
        assert_eq!(r.matched, 7);
        assert!(!r.all_answered());
        let v = r.to_json();
        assert_eq!(v["lines"][0]["server"], "web-1");
        assert_eq!(v["lines"][0]["line_ref"], "a:3");
        assert_eq!(v["servers"][2]["answered"], false);
        assert_eq!(v["servers"][2]["error"], "connect: refused");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        r.print(Output::Text, &mut out, &mut err).unwrap();
        let out = String::from_utf8(out).unwrap();
        let err = String::from_utf8(err).unwrap();
        assert_eq!(out.lines().count(), 3);
        assert!(
            out.starts_with("1970-01-01T00:00:00Z web-1 web line a:3\n"),
            "{out}"
        );
        assert!(err.contains("3 of 7 matching lines shown"), "{err}");
        assert!(err.contains("2 of 3 servers answered"), "{err}");
        assert!(
            err.contains("did not answer: web-3 http://web-3:9145/lines: connect: refused"),
            "{err}"
        );
    }

    #[test]
    fn hostile_text_cannot_drive_the_terminal() {
        let body = json!({"matched": 1, "lines": [{"time_ms": 1, "source": "w\u{1b}[2J", "text": "a\u{1b}]0;pwned\u{7}b\u{202e}c\td"}]});
        let r = Report::merge(
            vec![(
                target("web\u{9b}1"),
                Answer::parse(body.to_string().as_bytes()),
            )],
            10,
            None,
            String::new(),
        );
        let mut out = Vec::new();
        r.print(Output::Text, &mut out, Vec::new()).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(!out.trim_end().chars().any(|c| c.is_control()), "{out:?}");
        assert!(
            out.contains("a\\u{1b}]0;pwned\\u{7}b\\u{202e}c\\td"),
            "{out:?}"
        );
        assert!(out.contains("web\\u{9b}1 w\\u{1b}[2J"), "{out:?}");
    }

    #[test]
    fn answers_that_are_not_line_views_are_errors() {
        assert!(Answer::parse(b"<html>")
            .unwrap_err()
            .contains("not a /lines answer"));
        assert!(Answer::parse(br#"{"lines":[{"text":"x"}]}"#)
            .unwrap_err()
            .contains("without time_ms"));
        assert!(Answer::parse(br#"{"matched":0}"#).is_err());
    }
}
