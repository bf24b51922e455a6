//! `explain`: what one line parses to and which updates it yields, as text for a terminal.
//!
//! Log content is untrusted: every piece of it shown here goes through [`escape_control`], so a
//! line cannot clear the screen, move the cursor or retitle the window of whoever runs
//! `explain`.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{Action, MetricRule, SourceRules};
use crate::parse::ParseError;

/// Longest part of a line shown, in characters.
const SHOWN_CHARS: usize = 300;

/// What one line did.
#[derive(Debug)]
pub struct Explanation {
    /// Parsed fields (name, value) or the parse error.
    pub fields: Result<Vec<(String, String)>, ParseError>,
    /// One line per metric: what was updated, or why not.
    pub updates: Vec<String>,
}

impl SourceRules {
    /// Like [`SourceRules::apply`], describing what happened.
    pub fn explain(&mut self, line: &[u8]) -> Explanation {
        let mut updates = Vec::new();
        let res = self.run(line, Some(&mut updates));
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let fields = res.map(|_| {
            self.shown
                .iter()
                .filter_map(|(n, id)| {
                    self.record
                        .get(line, *id)
                        .map(|v| (n.clone(), String::from_utf8_lossy(v).into_owned()))
                })
                .collect()
        });
        Explanation { fields, updates }
    }
}

impl Explanation {
    /// The text `explain` prints for record `line`, numbered `n`; control characters escaped.
    pub fn render(&self, n: usize, line: &[u8]) -> String {
        let shown: String = String::from_utf8_lossy(line)
            .chars()
            .take(SHOWN_CHARS)
            .collect();
        let mut s = format!("line {n}: {}\n", escape_control(&shown));
        match &self.fields {
            Err(err) => {
                let _ = writeln!(
                    s,
                    "  parse error: {err} (counted in logpulse_parse_errors_total)"
                );
            }
            Ok(fields) => {
                s.push_str("  fields:\n");
                for (k, v) in fields {
                    let _ = writeln!(s, "    {} = \"{}\"", escape_control(k), escape_text(v));
                }
                s.push_str("  updates:\n");
                for u in &self.updates {
                    let _ = writeln!(s, "    {}", escape_control(u));
                }
            }
        }
        s
    }
}

/// One update, as `name{label="value",...} += 1`.
pub(super) fn update(m: &MetricRule, key: &[u8], value: f64) -> String {
    let desc = m.cache.family().desc();
    let labels: Vec<String> = desc
        .labels
        .iter()
        .zip(crate::store::key_values(key))
        .map(|(k, v)| {
            format!(
                "{}=\"{}\"",
                k.name,
                escape_text(&String::from_utf8_lossy(v))
            )
        })
        .collect();
    let verb = match m.action {
        Action::Inc => "+= 1".to_string(),
        Action::Add(_) => format!("+= {value}"),
        Action::Set(_) => format!("= {value}"),
        Action::SetNow => format!("= {value} (now)"),
        Action::Sub(_) => format!("-= {value}"),
        Action::Observe(_) => format!("observe {value}"),
    };
    format!("{}{{{}}} {verb}", m.name, labels.join(","))
}

/// `s` with every control character (C0, DEL, C1: ESC, BEL, CSI, CR, ...) written as `\u{1b}`.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A value shown between quotes: `\` and `"` escaped too, so it reads unambiguously.
fn escape_text(s: &str) -> String {
    escape_control(&s.replace('\\', "\\\\").replace('"', "\\\"")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("plain /a?b"), "plain /a?b");
        assert_eq!(
            escape_control("a\x1b]0;pwned\x07b"),
            "a\\u{1b}]0;pwned\\u{7}b"
        );
        assert_eq!(escape_control("x\u{9b}2J\r\n"), "x\\u{9b}2J\\u{d}\\u{a}");
    }
}
