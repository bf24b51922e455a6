//! nginx `log_format` strings, compiled once into literal/variable steps.
//!
//! `'$remote_addr - $remote_user [$time_local] "$request" $status ...'` becomes
//! `Var(remote_addr) Lit(" - ") Var(remote_user) Lit(" [") ...`. Per line a literal must match
//! where it stands; a variable runs up to the next occurrence of the literal that follows it
//! (memchr for one byte, a prebuilt memmem finder otherwise), or to the end of the line when it
//! is last. A literal starting with `"` is not matched at an escaped `\"` (`escape=json`,
//! apache-style logs). Text after the final literal is ignored.
//!
//! The `$upstream_*` variables hold lists when nginx tried several servers (`0.010, 0.020`,
//! `10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80` across an internal redirect): a literal starting
//! with a space is not matched at their `, ` and ` : ` separators, so they need no quotes.
//!
//! Every `$var` / `${var}` is a field named `var`; `$request` also yields `request_method`,
//! `request_uri` and `server_protocol` when the request has that shape (unless the format logs
//! those variables itself).

use memchr::memchr;
use memchr::memmem::Finder;

use super::access::split_request;
use super::bytesearch::escaped;
use super::{canonical_field_name, BuildError, FieldId, LineParser, ParseError, Record};

/// Literals up to this long are searched with memchr on their first byte and compared by hand;
/// longer ones get a prebuilt memmem finder (measured: faster even for 2-3 bytes).
const SHORT_LIT: usize = 1;

/// `set` ignores out-of-range ids: used for split targets the format logs directly.
const NOWHERE: FieldId = usize::MAX;

#[derive(Debug, Clone)]
enum Step {
    Lit(Vec<u8>),
    Var {
        id: FieldId,
        split: Option<[FieldId; 3]>,
        /// An `$upstream_*` variable, whose value may be a `, `/` : ` separated list.
        list: bool,
    },
}

/// Parser for one compiled nginx `log_format`.
#[derive(Debug, Clone)]
pub struct NginxParser {
    steps: Vec<Step>,
    /// One finder per step: the finder of the literal following a variable step.
    finders: Vec<Option<Finder<'static>>>,
    names: Vec<String>,
}

const E_LITERAL: ParseError = ParseError("nginx log_format: literal text not found where expected");
const E_SHORT: ParseError = ParseError("nginx log_format: line ends before the format does");

impl NginxParser {
    /// Compile a `log_format` string. Accepts the bare format or nginx-config style
    /// single-quoted segments (`'$remote_addr - ' '$status'`), which are concatenated.
    pub fn new(format: &str) -> Result<Self, BuildError> {
        let format = unquote_segments(format).unwrap_or_else(|| format.to_string());
        let bytes = format.as_bytes();
        let mut raw: Vec<(bool, Vec<u8>)> = Vec::new(); // (is_var, literal bytes or name)
        let mut i = 0;
        let mut lit = Vec::new();
        while let Some(&b) = bytes.get(i) {
            if b == b'$' {
                let (name, next) = var_name(bytes, i + 1)
                    .map_err(|e| BuildError::LogFormat(format!("{e} at byte {i} of {format:?}")))?;
                if let Some(name) = name {
                    if !lit.is_empty() {
                        raw.push((false, std::mem::take(&mut lit)));
                    }
                    if raw.last().is_some_and(|(v, _)| *v) {
                        return Err(BuildError::LogFormat(format!(
                            "variables ${} and ${} touch with no text between them: the line cannot be split",
                            String::from_utf8_lossy(&raw.last().map(|r| r.1.clone()).unwrap_or_default()),
                            String::from_utf8_lossy(name)
                        )));
                    }
                    raw.push((true, name.to_vec()));
                    i = next;
                    continue;
                }
            }
            lit.push(b);
            i += 1;
        }
        if !lit.is_empty() {
            raw.push((false, lit));
        }
        if !raw.iter().any(|(v, _)| *v) {
            return Err(BuildError::LogFormat(format!(
                "no $variables in {format:?}"
            )));
        }

        let mut names: Vec<String> = Vec::new();
        let slot = |names: &mut Vec<String>, n: &str| match names.iter().position(|x| x == n) {
            Some(i) => i,
            None => {
                names.push(n.to_string());
                names.len() - 1
            }
        };
        let var_names: Vec<String> = raw
            .iter()
            .filter(|(v, _)| *v)
            .map(|(_, n)| String::from_utf8_lossy(n).into_owned())
            .collect();
        let mut steps = Vec::with_capacity(raw.len());
        for (is_var, b) in &raw {
            if !*is_var {
                steps.push(Step::Lit(b.clone()));
                continue;
            }
            let name = String::from_utf8_lossy(b).into_owned();
            let id = slot(&mut names, &name);
            let split = (name == "request").then(|| {
                ["request_method", "request_uri", "server_protocol"].map(|n| {
                    if var_names.iter().any(|v| v == n) {
                        NOWHERE
                    } else {
                        slot(&mut names, n)
                    }
                })
            });
            let list = name.starts_with("upstream_") && name != "upstream_cache_status";
            steps.push(Step::Var { id, split, list });
        }
        let finders = (0..steps.len())
            .map(|i| match (steps.get(i), steps.get(i + 1)) {
                (Some(Step::Var { .. }), Some(Step::Lit(l))) if l.len() > SHORT_LIT => {
                    Some(Finder::new(l).into_owned())
                }
                _ => None,
            })
            .collect();
        Ok(NginxParser {
            steps,
            finders,
            names,
        })
    }
}

/// `name` or `{name}` after a `$` at `at`. `Ok(None)`: not a variable (a lone `$`).
fn var_name(b: &[u8], at: usize) -> Result<(Option<&[u8]>, usize), &'static str> {
    let is_name = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    if b.get(at) == Some(&b'{') {
        let close = memchr(b'}', b.get(at + 1..).unwrap_or_default()).ok_or("unterminated ${")?;
        let name = b.get(at + 1..at + 1 + close).unwrap_or_default();
        if name.is_empty() || !name.iter().all(is_name) {
            return Err("invalid ${name}");
        }
        return Ok((Some(name), at + close + 2));
    }
    let len = b
        .get(at..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| is_name(c))
        .count();
    if len == 0 {
        return Ok((None, at));
    }
    Ok((b.get(at..at + len), at + len))
}

/// `'a' 'b'` (nginx config quoting, segments separated by whitespace) → `ab`.
fn unquote_segments(s: &str) -> Option<String> {
    let mut rest = s.trim();
    if !rest.starts_with('\'') {
        return None;
    }
    let mut out = String::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('\'')?;
        let end = inner.find('\'')?;
        out.push_str(inner.get(..end)?);
        rest = inner.get(end + 1..)?.trim_start();
    }
    Some(out)
}

impl LineParser for NginxParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        self.names.iter().position(|n| n == name).or_else(|| {
            self.names
                .iter()
                .position(|n| n == canonical_field_name(name))
        })
    }

    fn field_count(&self) -> usize {
        self.names.len()
    }

    fn known_fields(&self) -> Vec<String> {
        self.names.clone()
    }

    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        let mut p = 0;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Lit(l) => {
                    let rest = line.get(p..).ok_or(E_SHORT)?;
                    if !starts_with(rest, l) {
                        return Err(if rest.len() < l.len() {
                            E_SHORT
                        } else {
                            E_LITERAL
                        });
                    }
                    p += l.len();
                }
                Step::Var { id, split, list } => {
                    let end = match self.steps.get(i + 1) {
                        Some(Step::Lit(l)) => {
                            let finder = self.finders.get(i).and_then(Option::as_ref);
                            let mut from = p;
                            loop {
                                let e = match find_lit(line, from, l, finder) {
                                    Some(e) => e,
                                    None if p >= line.len() => return Err(E_SHORT),
                                    None => return Err(E_LITERAL),
                                };
                                let before = line.get(e.saturating_sub(2)..e).unwrap_or_default();
                                let separator = *list
                                    && l.first() == Some(&b' ')
                                    && (before.ends_with(b",")
                                        || before == b" :"
                                        || line.get(e..).is_some_and(|r| r.starts_with(b" : ")));
                                if !separator {
                                    break e;
                                }
                                from = e + 1;
                            }
                        }
                        _ => line.len(),
                    };
                    rec.set(*id, p, end);
                    if let Some(ids) = split {
                        split_request(line, p, end, rec, *ids);
                    }
                    p = end;
                }
            }
        }
        Ok(())
    }
}

/// `hay.starts_with(lit)` by hand: literals are a few bytes, where a `memcmp` call costs more.
#[inline(always)]
fn starts_with(hay: &[u8], lit: &[u8]) -> bool {
    hay.len() >= lit.len() && hay.iter().zip(lit).all(|(a, b)| a == b)
}

/// First occurrence of `lit` in `line[from..]` (not at an escaped `\"` when `lit` starts with
/// a quote).
#[inline]
fn find_lit(line: &[u8], from: usize, lit: &[u8], finder: Option<&Finder<'_>>) -> Option<usize> {
    let first = *lit.first()?;
    let quote = first == b'"';
    let mut at = from;
    loop {
        let hay = line.get(at..)?;
        let i = at
            + match finder {
                Some(f) => f.find(hay)?,
                None => {
                    let mut j = memchr(first, hay)?;
                    while !starts_with(hay.get(j..).unwrap_or_default(), lit) {
                        j += 1 + memchr(first, hay.get(j + 1..)?)?;
                    }
                    j
                }
            };
        if !(quote && escaped(line, from, i)) {
            return Some(i);
        }
        at = i + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FMT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time $host"#;

    fn run(p: &NginxParser, line: &[u8]) -> Result<Vec<(String, Option<String>)>, ParseError> {
        let mut rec = Record::with_fields(p.field_count());
        p.parse(line, &mut rec)?;
        Ok(p.names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.clone(),
                    rec.get(line, i)
                        .map(|v| String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect())
    }

    fn val(p: &NginxParser, line: &[u8], name: &str) -> Option<String> {
        run(p, line).ok()?.into_iter().find(|(n, _)| n == name)?.1
    }

    #[test]
    fn full_format() {
        let mut p = NginxParser::new(FMT).unwrap();
        let line = br#"10.1.2.3 - bob [10/Oct/2023:13:55:36 +0000] "POST /login?x=1 HTTP/2.0" 302 0 "https://a.example/" "Mozilla/5.0 (X)" 0.005 0.004, 0.001 shop.example.com"#;
        let got = run(&p, line).unwrap();
        let want: Vec<(String, Option<String>)> = [
            ("remote_addr", Some("10.1.2.3")),
            ("remote_user", Some("bob")),
            ("time_local", Some("10/Oct/2023:13:55:36 +0000")),
            ("request", Some("POST /login?x=1 HTTP/2.0")),
            ("request_method", Some("POST")),
            ("request_uri", Some("/login?x=1")),
            ("server_protocol", Some("HTTP/2.0")),
            ("status", Some("302")),
            ("body_bytes_sent", Some("0")),
            ("http_referer", Some("https://a.example/")),
            ("http_user_agent", Some("Mozilla/5.0 (X)")),
            ("request_time", Some("0.005")),
            ("upstream_response_time", Some("0.004, 0.001")),
            ("host", Some("shop.example.com")),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
        .collect();
        // `$upstream_response_time` is a list here (nginx tried two servers) and the format
        // separates with spaces: the space of its `, ` separator is not the boundary.
        assert_eq!(got, want);
        let line = br#"10.1.2.3 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8" 0.000 - shop.example.com"#;
        assert_eq!(val(&p, line, "host").as_deref(), Some("shop.example.com"));
        assert_eq!(
            val(&p, line, "upstream_response_time").as_deref(),
            Some("-")
        );
        assert_eq!(p.field("method"), Some(4));
        assert_eq!(p.field("path"), Some(5));
        assert_eq!(p.field("user_agent"), Some(10));
        assert_eq!(p.field("host"), Some(13));
        assert_eq!(p.field("nope"), None);
        assert_eq!(p.field("http_x_forwarded_for"), None);
        assert_eq!(p.known_fields().len(), 14);
    }

    #[test]
    fn braces_quoted_segments_and_direct_vars() {
        let mut p = NginxParser::new("'${remote_addr}|${status}|$request_method ' '$request|$uri'")
            .unwrap();
        assert_eq!(
            p.known_fields(),
            [
                "remote_addr",
                "status",
                "request_method",
                "request",
                "request_uri",
                "server_protocol",
                "uri"
            ]
        );
        let line = b"1.1.1.1|404|HEAD GET /x?y HTTP/1.1|/x";
        // the direct $request_method wins over the split of $request
        assert_eq!(val(&p, line, "request_method").as_deref(), Some("HEAD"));
        assert_eq!(val(&p, line, "request_uri").as_deref(), Some("/x?y"));
        // exact variable name first: `uri` is nginx's $uri here, not the alias
        let uri = p.field("uri").unwrap();
        assert_eq!(p.known_fields().get(uri).map(String::as_str), Some("uri"));
        assert_eq!(val(&p, line, "uri").as_deref(), Some("/x"));
    }

    /// `$upstream_*` lists (several servers tried, an internal redirect) as nginx writes them,
    /// with nothing but spaces around them.
    #[test]
    fn upstream_lists_need_no_quotes() {
        let p = NginxParser::new(
            "$status $upstream_response_time $upstream_addr $upstream_status $request_time",
        )
        .unwrap();
        let line =
            b"200 0.001, 0.010 : 0.002 127.0.0.1:1, 127.0.0.1:2 : unix:/s 502, 200 : 200 0.013";
        assert_eq!(
            run(&p, line).unwrap(),
            vec![
                ("status".into(), Some("200".into())),
                (
                    "upstream_response_time".into(),
                    Some("0.001, 0.010 : 0.002".into())
                ),
                (
                    "upstream_addr".into(),
                    Some("127.0.0.1:1, 127.0.0.1:2 : unix:/s".into())
                ),
                ("upstream_status".into(), Some("502, 200 : 200".into())),
                ("request_time".into(), Some("0.013".into())),
            ]
        );
        let one = b"200 - - - 0.000";
        assert_eq!(run(&p, one).unwrap()[1].1.as_deref(), Some("-"));
    }

    #[test]
    fn bad_formats() {
        for f in ["$a$b", "no vars", "", "${unterminated", "${}", "${a b}"] {
            assert!(NginxParser::new(f).is_err(), "{f}");
        }
        // a lone `$` is literal
        let p = NginxParser::new("$ $status $").unwrap();
        assert_eq!(val(&p, b"$ 200 $", "status").as_deref(), Some("200"));
    }

    #[test]
    fn json_escape_format() {
        let p = NginxParser::new(r#"{"ua":"$http_user_agent","s":$status}"#).unwrap();
        let line = br#"{"ua":"say \"hi\"","s":200}"#;
        assert_eq!(
            val(&p, line, "http_user_agent").as_deref(),
            Some(r#"say \"hi\""#)
        );
        assert_eq!(val(&p, line, "status").as_deref(), Some("200"));
    }

    #[test]
    fn mismatches_and_junk() {
        let p = NginxParser::new(FMT).unwrap();
        assert_eq!(run(&p, b"").err(), Some(E_SHORT));
        assert_eq!(run(&p, b"1.2.3.4 x bob").err(), Some(E_LITERAL));
        assert_eq!(run(&p, b"1.2.3.4").err(), Some(E_LITERAL));
        assert_eq!(run(&p, b"1.2.3.4 - ").err(), Some(E_SHORT));
        assert_eq!(
            run(&p, b"1.2.3.4 - - [t] \"GET / HTTP/1.1\" 200").err(),
            Some(E_LITERAL)
        );
        assert_eq!(run(&p, b"\x00\xff\x00").err(), Some(E_LITERAL));
        // junk request, invalid UTF-8, NUL
        let line = b"1.2.3.4 - - [t] \"\\x16\\x03\\x01\xff\x00\" 400 157 \"-\" \"-\" 0.001 - h";
        let got = run(&p, line).unwrap();
        let get = |n: &str| {
            got.iter()
                .find(|(k, _)| k == n)
                .and_then(|(_, v)| v.clone())
        };
        assert_eq!(
            get("request").map(String::into_bytes),
            Some(b"\\x16\\x03\\x01\xef\xbf\xbd\x00".to_vec())
        );
        assert_eq!(get("request_method"), None);
        assert_eq!(get("status").as_deref(), Some("400"));
        assert_eq!(get("host").as_deref(), Some("h"));
        // empty request
        let line = br#"1.2.3.4 - - [t] "" 400 0 "-" "-" 0.000 - -"#;
        assert_eq!(val(&p, line, "request").as_deref(), Some(""));
        assert_eq!(val(&p, line, "status").as_deref(), Some("400"));
    }

    #[test]
    fn literal_search() {
        let lits: &[&[u8]] = &[b" ", b" - ", b"\" \"", b"abcabd", b"0123456789"];
        for lit in lits {
            let finder = (lit.len() > SHORT_LIT).then(|| Finder::new(lit).into_owned());
            for hay in [
                &b"xx - y"[..],
                b"abcabcabd",
                b"a\\\" \" \" \"",
                b"",
                b"-- -",
                b"01234567801234567890123456789",
            ] {
                let want = memchr::memmem::find(hay, lit);
                let got = find_lit(hay, 0, lit, finder.as_ref());
                if lit.first() == Some(&b'"') {
                    // skips the escaped quote
                    assert_eq!(
                        got,
                        if hay.starts_with(b"a\\") {
                            Some(4)
                        } else {
                            want
                        }
                    );
                } else {
                    assert_eq!(got, want, "{:?} in {:?}", lit, hay);
                }
            }
        }
    }

    #[test]
    fn trailing_text_ignored_and_long_line() {
        let p = NginxParser::new(r#"$remote_addr "$request" $status"#).unwrap();
        assert_eq!(
            val(&p, br#"1.1.1.1 "GET / HTTP/1.1" 200"#, "status").as_deref(),
            Some("200")
        );
        let p = NginxParser::new(r#"[$time_local] "$request" end"#).unwrap();
        assert_eq!(
            val(&p, br#"[t] "GET / HTTP/1.1" end extra"#, "request_uri").as_deref(),
            Some("/")
        );
        let mut line = b"[t] \"GET /".to_vec();
        line.extend(std::iter::repeat_n(b'x', 1 << 20));
        line.extend_from_slice(b" HTTP/1.1\" end");
        let got = val(&p, &line, "request_uri").unwrap();
        assert_eq!(got.len(), (1 << 20) + 1);
    }
}
