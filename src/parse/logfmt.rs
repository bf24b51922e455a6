//! logfmt: `key=value key2="quoted \" value" flag`.
//!
//! Pairs are separated by spaces or tabs. A bare key (`flag`) has the empty value, as does
//! `key=`. Quoted values end at an unescaped `"`; they are spans into the line unless they hold
//! backslash escapes (`\"`, `\\`, `\n`, `\r`, `\t`; any other `\x` is kept as is), which are
//! decoded into the record's scratch buffer. An unterminated quoted value is a [`ParseError`]
//! (a cut line). Text that is not a pair (a leading timestamp, a stray quoted word) is skipped,
//! so semi-structured lines such as `2024-01-02 INFO status=200 msg="ok"` still give their pairs.
//! Only registered keys are extracted; a repeated key keeps its last value.

use memchr::memchr;

use super::{FieldId, LineParser, ParseError, Record};

const E_NO_PAIRS: ParseError = ParseError("logfmt: no key=value pair in the line");
const E_UNTERMINATED: ParseError = ParseError("logfmt: unterminated quoted value");

/// Parser for logfmt lines.
#[derive(Debug, Clone, Default)]
pub struct LogfmtParser {
    keys: Vec<Box<[u8]>>,
}

impl LogfmtParser {
    /// A parser with no registered keys.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn lookup(&self, key: &[u8]) -> Option<FieldId> {
        self.keys
            .iter()
            .position(|k| k.len() == key.len() && **k == *key)
    }
}

impl LineParser for LogfmtParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        let b = name.as_bytes();
        if b.is_empty() || b.iter().any(|&c| matches!(c, b' ' | b'\t' | b'=' | b'"')) {
            return None;
        }
        Some(self.lookup(b).unwrap_or_else(|| {
            self.keys.push(b.into());
            self.keys.len() - 1
        }))
    }

    fn field_count(&self) -> usize {
        self.keys.len()
    }

    fn known_fields(&self) -> Vec<String> {
        Vec::new()
    }

    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        let n = line.len();
        let mut p = 0;
        let mut pairs = 0usize;
        while p < n {
            // skip separators
            while let Some(b' ' | b'\t') = line.get(p) {
                p += 1;
            }
            let Some(&first) = line.get(p) else { break };
            if first == b'"' || first == b'=' {
                // not a key: skip a stray quoted word or `=...` token
                p = if first == b'"' {
                    quoted_end(line, p + 1).map_or(n, |q| q + 1)
                } else {
                    p + 1
                };
                while let Some(&c) = line.get(p) {
                    if c == b' ' || c == b'\t' {
                        break;
                    }
                    p += 1;
                }
                continue;
            }
            let ks = p;
            while let Some(&c) = line.get(p) {
                if matches!(c, b' ' | b'\t' | b'=') {
                    break;
                }
                p += 1;
            }
            let key = line.get(ks..p).unwrap_or_default();
            let id = self.lookup(key);
            if line.get(p) != Some(&b'=') {
                if let Some(id) = id {
                    rec.set(id, p, p);
                }
                continue;
            }
            p += 1;
            pairs += 1;
            if line.get(p) == Some(&b'"') {
                let vs = p + 1;
                let ve = quoted_end(line, vs).ok_or(E_UNTERMINATED)?;
                p = ve + 1;
                if let Some(id) = id {
                    let raw = line.get(vs..ve).unwrap_or_default();
                    if memchr(b'\\', raw).is_some() {
                        let mark = rec.scratch_mut().len();
                        unescape_into(raw, rec.scratch_mut());
                        let end = rec.scratch_mut().len();
                        rec.set_scratch(id, mark, end);
                    } else {
                        rec.set(id, vs, ve);
                    }
                }
            } else {
                let vs = p;
                while let Some(&c) = line.get(p) {
                    if c == b' ' || c == b'\t' {
                        break;
                    }
                    p += 1;
                }
                if let Some(id) = id {
                    rec.set(id, vs, p);
                }
            }
        }
        // A line with no `key=value` pair at all is prose, not logfmt: count it as an error
        // instead of turning its words into empty-valued keys.
        if pairs == 0 {
            return Err(E_NO_PAIRS);
        }
        Ok(())
    }
}

/// Index of the closing `"` of a quoted value whose body starts at `start`.
fn quoted_end(line: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    loop {
        let rest = line.get(i..)?;
        let j = i + memchr::memchr2(b'"', b'\\', rest)?;
        if line.get(j) == Some(&b'"') {
            return Some(j);
        }
        i = j + 2;
    }
}

fn unescape_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut it = raw.iter().copied();
    while let Some(c) = it.next() {
        if c != b'\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some(b'"') => out.push(b'"'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(other) => out.extend_from_slice(&[b'\\', other]),
            None => out.push(b'\\'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(keys: &[&str], line: &[u8]) -> Result<Vec<Option<String>>, ParseError> {
        let mut p = LogfmtParser::new();
        let ids: Vec<FieldId> = keys.iter().map(|k| p.field(k).unwrap()).collect();
        let mut rec = Record::with_fields(p.field_count());
        p.parse(line, &mut rec)?;
        Ok(ids
            .iter()
            .map(|&i| {
                rec.get(line, i)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
            .collect())
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn pairs_quotes_flags() {
        let line = br#"level=info msg="quoted \" value" flag status=200 empty= dur=1.5ms path="/a b" tab="x\ty""#;
        assert_eq!(
            run(
                &["level", "msg", "flag", "status", "empty", "dur", "path", "tab", "absent"],
                line
            )
            .unwrap(),
            vec![
                s("info"),
                s("quoted \" value"),
                s(""),
                s("200"),
                s(""),
                s("1.5ms"),
                s("/a b"),
                s("x\ty"),
                None
            ]
        );
    }

    #[test]
    fn semi_structured_and_junk() {
        let line = b"2024-01-02 10:00:00 INFO \"stray words\" =junk status=503\tuser=bob trailing";
        assert_eq!(
            run(&["status", "user", "trailing", "INFO"], line).unwrap(),
            vec![s("503"), s("bob"), s(""), s("")]
        );
        assert!(run(&["a"], b"").is_err());
        assert!(run(&["a"], b"   \t ").is_err());
        assert!(run(&["a"], b"garbage without equals signs").is_err());
        assert_eq!(
            run(&["a"], b"\x00\xff a=\xfe\x00 b").unwrap(),
            vec![Some("\u{fffd}\0".into())]
        );
        // repeated key: last wins
        assert_eq!(run(&["a"], b"a=1 a=2").unwrap(), vec![s("2")]);
        // key with odd characters
        assert_eq!(
            run(&["http.status-code"], b"http.status-code=404").unwrap(),
            vec![s("404")]
        );
        // value containing '='
        assert_eq!(run(&["q"], b"q=a=b").unwrap(), vec![s("a=b")]);
    }

    #[test]
    fn unterminated_quote_is_error() {
        assert_eq!(run(&["msg"], br#"a=1 msg="cut off"#), Err(E_UNTERMINATED));
        assert_eq!(
            run(&["msg"], br#"msg="ends in backslash\"#),
            Err(E_UNTERMINATED)
        );
        // stray unterminated quoted word (not a value) is skipped to the end
        assert_eq!(run(&["a"], br#"a=1 "never closed"#).unwrap(), vec![s("1")]);
    }

    #[test]
    fn escapes_kept_or_decoded() {
        assert_eq!(
            run(&["m"], br#"m="a\\b\qc\n""#).unwrap(),
            vec![s("a\\b\\qc\n")]
        );
    }

    #[test]
    fn registration() {
        let mut p = LogfmtParser::new();
        assert_eq!(p.field("a"), Some(0));
        assert_eq!(p.field("b"), Some(1));
        assert_eq!(p.field("a"), Some(0));
        assert_eq!(p.field(""), None);
        assert_eq!(p.field("a b"), None);
        assert_eq!(p.field("a=b"), None);
        assert_eq!(p.field_count(), 2);
    }

    #[test]
    fn long_line() {
        let mut line = b"x=1 big=\"".to_vec();
        line.extend(std::iter::repeat_n(b'y', 1 << 20));
        line.extend_from_slice(b"\" z=2");
        assert_eq!(run(&["x", "z"], &line).unwrap(), vec![s("1"), s("2")]);
        let v = run(&["big"], &line).unwrap();
        assert_eq!(v.first().cloned().flatten().map(|s| s.len()), Some(1 << 20));
    }
}
