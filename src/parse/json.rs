//! One JSON object per line: a hand-written scanner that extracts only the registered keys.
//!
//! No `serde_json::Value` per line. Strings without escapes are spans into the line; strings with
//! escapes are decoded into the record's scratch buffer (`\uXXXX` and surrogate pairs included;
//! an invalid escape or a lone surrogate is a [`ParseError`]). Numbers, `true` and `false` are
//! their raw text, `null` is a missing field, an object or array is its raw JSON text.
//!
//! A field name is a top-level key or a dotted path (`request.path` descends into the object
//! under `request`); when a top-level key literally contains the dots, that exact key wins.
//! Objects that hold no registered key are skipped structurally (strings, balanced brackets)
//! without building anything; the registered path is descended. The top level must be an object
//! followed by nothing but whitespace, so interleaved non-JSON lines (`DEBUG: ...`) are errors.

use memchr::memchr2;

use super::{FieldId, LineParser, ParseError, Record};

const E_NOT_OBJECT: ParseError = ParseError("json: line is not a JSON object");
const E_SYNTAX: ParseError = ParseError("json: syntax error");
const E_EOF: ParseError = ParseError("json: line ends inside the object");
const E_ESCAPE: ParseError = ParseError("json: invalid escape in string");
const E_TRAILING: ParseError = ParseError("json: text after the object");

/// Where a registered key leads at one level of the object tree.
#[derive(Debug, Clone, Default)]
struct Entry {
    key: Box<[u8]>,
    /// The field this key's value fills, and whether it is an exact top-level match (which
    /// wins over a dotted-path match of the same field).
    leaf: Option<(FieldId, bool)>,
    /// Keys registered below this one (dotted paths).
    child: Option<Box<Table>>,
}

#[derive(Debug, Clone, Default)]
struct Table {
    entries: Vec<Entry>,
}

impl Table {
    fn entry_mut(&mut self, key: &[u8]) -> &mut Entry {
        let i = match self.entries.iter().position(|e| &*e.key == key) {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    key: key.into(),
                    ..Entry::default()
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[i]
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key.len() == key.len() && &*e.key == key)
    }
}

/// Parser for JSON lines.
#[derive(Debug, Clone, Default)]
pub struct JsonParser {
    names: Vec<String>,
    root: Table,
}

impl JsonParser {
    /// A parser with no registered fields.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LineParser for JsonParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        if name.is_empty() {
            return None;
        }
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i);
        }
        let id = self.names.len();
        self.names.push(name.to_string());
        self.root.entry_mut(name.as_bytes()).leaf = Some((id, true));
        if name.contains('.') {
            let mut table = &mut self.root;
            let mut parts = name.split('.').peekable();
            while let Some(part) = parts.next() {
                let entry = table.entry_mut(part.as_bytes());
                if parts.peek().is_none() {
                    if entry.leaf.is_none() {
                        entry.leaf = Some((id, false));
                    }
                    break;
                }
                table = entry.child.get_or_insert_with(Default::default);
            }
        }
        Some(id)
    }

    fn field_count(&self) -> usize {
        self.names.len()
    }

    fn known_fields(&self) -> Vec<String> {
        Vec::new()
    }

    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        self.parse_at(line, 0, rec)
    }
}

impl JsonParser {
    /// Parse the object starting at `start` of `line` (after a prefix such as journald's
    /// `caddy[772]: `); spans stay relative to `line`.
    pub(crate) fn parse_at(
        &self,
        line: &[u8],
        start: usize,
        rec: &mut Record,
    ) -> Result<(), ParseError> {
        let mut s = Scanner {
            b: line,
            pos: start,
        };
        s.ws();
        if s.peek() != Some(b'{') {
            return Err(E_NOT_OBJECT);
        }
        s.pos += 1;
        object(&mut s, &self.root, rec)?;
        s.ws();
        if s.pos < line.len() {
            return Err(E_TRAILING);
        }
        Ok(())
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// After an opening `"`: the end of the string (index of the closing quote) and whether it
    /// contains escapes. Leaves `pos` after the closing quote.
    #[inline]
    fn string_end(&mut self) -> Result<(usize, bool), ParseError> {
        let mut escapes = false;
        loop {
            let rest = self.b.get(self.pos..).ok_or(E_EOF)?;
            let i = self.pos + memchr2(b'"', b'\\', rest).ok_or(E_EOF)?;
            if self.b.get(i) == Some(&b'"') {
                self.pos = i + 1;
                return Ok((i, escapes));
            }
            escapes = true;
            self.pos = i + 2; // skip the escaped byte; validated when decoded
        }
    }

    /// Skip a number, `true`, `false` or `null`; returns its end.
    #[inline]
    fn scalar(&mut self) -> Result<usize, ParseError> {
        let start = self.pos;
        match self.peek().ok_or(E_EOF)? {
            b't' => self.keyword(b"true"),
            b'f' => self.keyword(b"false"),
            b'n' => self.keyword(b"null"),
            b'-' | b'0'..=b'9' => {
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
                    self.pos += 1;
                }
                let num = self.b.get(start..self.pos).unwrap_or_default();
                if num == b"-" || !num.last().is_some_and(u8::is_ascii_digit) {
                    return Err(E_SYNTAX);
                }
                Ok(self.pos)
            }
            _ => Err(E_SYNTAX),
        }
    }

    fn keyword(&mut self, kw: &[u8]) -> Result<usize, ParseError> {
        if self.b.get(self.pos..).is_some_and(|r| r.starts_with(kw)) {
            self.pos += kw.len();
            Ok(self.pos)
        } else {
            Err(E_SYNTAX)
        }
    }

    /// Skip any value (containers structurally: strings and bracket depth, no recursion).
    fn skip_value(&mut self) -> Result<(), ParseError> {
        match self.peek().ok_or(E_EOF)? {
            b'"' => {
                self.pos += 1;
                self.string_end().map(drop)
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    let c = self.peek().ok_or(E_EOF)?;
                    self.pos += 1;
                    match c {
                        b'"' => {
                            self.string_end()?;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1).ok_or(E_SYNTAX)?;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => self.scalar().map(drop),
        }
    }
}

/// Parse the members of an object (after its `{`), filling the fields `table` registers.
fn object(s: &mut Scanner<'_>, table: &Table, rec: &mut Record) -> Result<(), ParseError> {
    s.ws();
    if s.peek() == Some(b'}') {
        s.pos += 1;
        return Ok(());
    }
    loop {
        s.ws();
        if s.peek().ok_or(E_EOF)? != b'"' {
            return Err(E_SYNTAX);
        }
        s.pos += 1;
        let ks = s.pos;
        let (ke, key_escaped) = s.string_end()?;
        s.ws();
        if s.peek().ok_or(E_EOF)? != b':' {
            return Err(E_SYNTAX);
        }
        s.pos += 1;
        s.ws();
        let raw_key = s.b.get(ks..ke).unwrap_or_default();
        let entry = if key_escaped {
            let mark = rec.scratch_mut().len();
            decode_into(raw_key, rec.scratch_mut())?;
            let found = table.find(rec.scratch_mut().get(mark..).unwrap_or_default());
            rec.scratch_mut().truncate(mark);
            found
        } else {
            table.find(raw_key)
        };
        match entry {
            None => s.skip_value()?,
            Some(e) => value(s, e, rec)?,
        }
        s.ws();
        match s.peek().ok_or(E_EOF)? {
            b',' => s.pos += 1,
            b'}' => {
                s.pos += 1;
                return Ok(());
            }
            _ => return Err(E_SYNTAX),
        }
    }
}

/// A value whose key is registered: fill the leaf and/or descend.
fn value(s: &mut Scanner<'_>, e: &Entry, rec: &mut Record) -> Result<(), ParseError> {
    let start = s.pos;
    let c = s.peek().ok_or(E_EOF)?;
    if c == b'{' {
        if let Some(child) = &e.child {
            s.pos += 1;
            object(s, child, rec)?;
        } else {
            s.skip_value()?;
        }
        if let Some(leaf) = e.leaf {
            put_span(rec, leaf, start, s.pos);
        }
        return Ok(());
    }
    match c {
        b'"' => {
            s.pos += 1;
            let (end, escaped) = s.string_end()?;
            let Some((id, exact)) = e.leaf else {
                return Ok(());
            };
            if !exact && rec.is_set(id) {
                return Ok(());
            }
            if escaped {
                let raw = s.b.get(start + 1..end).unwrap_or_default();
                let mark = rec.scratch_mut().len();
                decode_into(raw, rec.scratch_mut())?;
                let len = rec.scratch_mut().len();
                rec.set_scratch(id, mark, len);
            } else {
                rec.set(id, start + 1, end);
            }
        }
        b'[' => {
            s.skip_value()?;
            if let Some(leaf) = e.leaf {
                put_span(rec, leaf, start, s.pos);
            }
        }
        b'n' => {
            s.scalar()?;
        }
        _ => {
            let end = s.scalar()?;
            if let Some(leaf) = e.leaf {
                put_span(rec, leaf, start, end);
            }
        }
    }
    Ok(())
}

#[inline]
fn put_span(rec: &mut Record, (id, exact): (FieldId, bool), start: usize, end: usize) {
    if exact || !rec.is_set(id) {
        rec.set(id, start, end);
    }
}

/// Decode the JSON escapes of a string body into `out`.
pub(crate) fn decode_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), ParseError> {
    let mut i = 0;
    while i < raw.len() {
        let rest = raw.get(i..).unwrap_or_default();
        let Some(j) = memchr::memchr(b'\\', rest) else {
            out.extend_from_slice(rest);
            break;
        };
        out.extend_from_slice(rest.get(..j).unwrap_or_default());
        i += j + 1;
        let c = *raw.get(i).ok_or(E_ESCAPE)?;
        i += 1;
        let b = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = hex4(raw, i)?;
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    if raw.get(i..i + 2) != Some(&b"\\u"[..]) {
                        return Err(E_ESCAPE);
                    }
                    let lo = hex4(raw, i + 2)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(E_ESCAPE);
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(E_ESCAPE);
                } else {
                    hi
                };
                let ch = char::from_u32(cp).ok_or(E_ESCAPE)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return Err(E_ESCAPE),
        };
        out.push(b);
    }
    Ok(())
}

fn hex4(raw: &[u8], at: usize) -> Result<u32, ParseError> {
    let h = raw.get(at..at + 4).ok_or(E_ESCAPE)?;
    let mut v = 0u32;
    for &c in h {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(E_ESCAPE),
        };
        v = v * 16 + u32::from(d);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(names: &[&str]) -> JsonParser {
        let mut p = JsonParser::new();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(p.field(n), Some(i));
        }
        p
    }

    fn run(p: &JsonParser, line: &[u8]) -> Result<Vec<Option<Vec<u8>>>, ParseError> {
        let mut rec = Record::with_fields(p.field_count());
        p.parse(line, &mut rec)?;
        Ok((0..p.field_count())
            .map(|i| rec.get(line, i).map(<[u8]>::to_vec))
            .collect())
    }

    fn strs(v: Vec<Option<Vec<u8>>>) -> Vec<Option<String>> {
        v.into_iter()
            .map(|o| o.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .collect()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn traefik_like_record() {
        let p = parser(&[
            "ClientHost",
            "DownstreamStatus",
            "Duration",
            "RequestMethod",
            "RequestPath",
            "request_User-Agent",
            "ServiceURL.Host",
            "ServiceURL.User",
            "time",
            "absent",
            "ServiceURL.ForceQuery",
        ]);
        let line = br#"{"ClientAddr":"192.168.1.100:39496","ClientHost":"192.168.1.100,10.0.0.50","DownstreamStatus":404,"Duration":357313,"RequestMethod":"GET","RequestPath":"/a\/b?q=1","ServiceURL":{"Scheme":"http","User":null,"Host":"172.17.0.3:80","ForceQuery":false},"request_User-Agent":"Nikto","time":"2021-12-08T15:02:43+01:00"}"#;
        assert_eq!(
            strs(run(&p, line).unwrap()),
            vec![
                s("192.168.1.100,10.0.0.50"),
                s("404"),
                s("357313"),
                s("GET"),
                s("/a/b?q=1"),
                s("Nikto"),
                s("172.17.0.3:80"),
                None,
                s("2021-12-08T15:02:43+01:00"),
                None,
                s("false"),
            ]
        );
    }

    #[test]
    fn non_json_lines_are_errors() {
        let p = parser(&["a"]);
        let cases: &[(&[u8], ParseError)] = &[
            (b"DEBUG: CrowdsecBouncerTraefikPlugin: 2025/09/05 13:53:40 handleStreamCache:updated", E_NOT_OBJECT),
            (b"", E_NOT_OBJECT),
            (b"   ", E_NOT_OBJECT),
            (b"[1,2]", E_NOT_OBJECT),
            (b"\"a\"", E_NOT_OBJECT),
            (b"\x00\x01{", E_NOT_OBJECT),
            (b"{", E_EOF),
            (br#"{"a":1"#, E_EOF),
            (br#"{"a":"x"#, E_EOF),
            (br#"{"a":1}x"#, E_TRAILING),
            (br#"{"a":1}{"a":2}"#, E_TRAILING),
            (br#"{"a" 1}"#, E_SYNTAX),
            (br#"{"a":1,}"#, E_SYNTAX),
            (br#"{a:1}"#, E_SYNTAX),
            (br#"{"a":tru}"#, E_SYNTAX),
            (br#"{"a":-}"#, E_SYNTAX),
            (br#"{"a":1.}"#, E_SYNTAX),
            (br#"{"b":]}"#, E_SYNTAX),
            (br#"{"b":[1,2}"#, E_EOF),
            (br#"{"a":"\x"}"#, E_ESCAPE),
            (br#"{"a":"\u12"}"#, E_ESCAPE),
            (br#"{"a":"\ud800"}"#, E_ESCAPE),
            (br#"{"a":"\ud800\u0041"}"#, E_ESCAPE),
            (br#"{"a":"\udc00"}"#, E_ESCAPE),
            (br#"{"a":"x\"}"#, E_EOF),
        ];
        for (line, err) in cases {
            assert_eq!(
                run(&p, line).err(),
                Some(err.clone()),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn values_and_escapes() {
        let p = parser(&["s", "n", "t", "f", "z", "o", "arr", "neg", "e"]);
        let line = br#" { "s" : "tab\there \"q\" \\ \u00e9\u20ac\ud83d\ude00\u0000" , "n":-1.5e+3,"t":true,"f":false,"z":null,"o":{"x":[1,{"y":"}"}]},"arr":[ "]" ,2],"neg":0,"e":""} "#;
        let got = run(&p, line).unwrap();
        assert_eq!(
            got.first().cloned().flatten(),
            Some("tab\there \"q\" \\ é€😀\0".as_bytes().to_vec())
        );
        assert_eq!(
            strs(got).get(1..).map(<[_]>::to_vec),
            Some(vec![
                s("-1.5e+3"),
                s("true"),
                s("false"),
                None,
                s(r#"{"x":[1,{"y":"}"}]}"#),
                s(r#"[ "]" ,2]"#),
                s("0"),
                s(""),
            ])
        );
    }

    #[test]
    fn dotted_paths_and_exact_keys() {
        let p = parser(&["request.path", "request.headers.ua", "request", "a.b"]);
        let line = br#"{"request":{"path":"/x","headers":{"ua":"curl","other":1}},"a":{"b":"nested"},"a.b":"exact"}"#;
        assert_eq!(
            strs(run(&p, line).unwrap()),
            vec![
                s("/x"),
                s("curl"),
                s(r#"{"path":"/x","headers":{"ua":"curl","other":1}}"#),
                s("exact"),
            ]
        );
        // exact key first, nested later: exact still wins
        let line = br#"{"a.b":"exact","a":{"b":"nested"}}"#;
        assert_eq!(
            strs(run(&p, line).unwrap()).get(3).cloned().flatten(),
            s("exact")
        );
        // only nested
        let line = br#"{"a":{"b":7}}"#;
        assert_eq!(
            strs(run(&p, line).unwrap()).get(3).cloned().flatten(),
            s("7")
        );
        // parent is not an object
        let line = br#"{"a":"str","request":[1]}"#;
        assert_eq!(
            strs(run(&p, line).unwrap()),
            vec![None, None, s("[1]"), None]
        );
    }

    #[test]
    fn escaped_keys_and_odd_keys() {
        let p = parser(&["k\"ey", "with space", "über", "x-y.z"]);
        let line = "{\"k\\\"ey\":1,\"with\\u0020space\":2,\"\\u00fcber\":3,\"x-y.z\":4}".as_bytes();
        assert_eq!(
            strs(run(&p, line).unwrap()),
            vec![s("1"), s("2"), s("3"), s("4")]
        );
    }

    #[test]
    fn invalid_utf8_and_nul_in_strings() {
        let p = parser(&["a", "b"]);
        let line = b"{\"a\":\"\xff\xfe\x00x\",\"b\":\"\xc3\x28\\n\"}";
        let got = run(&p, line).unwrap();
        assert_eq!(
            got,
            vec![
                Some(b"\xff\xfe\x00x".to_vec()),
                Some(b"\xc3\x28\n".to_vec())
            ]
        );
    }

    #[test]
    fn field_registration() {
        let mut p = JsonParser::new();
        assert_eq!(p.field(""), None);
        assert_eq!(p.field("a"), Some(0));
        assert_eq!(p.field("b.c"), Some(1));
        assert_eq!(p.field("a"), Some(0));
        assert_eq!(p.field_count(), 2);
        assert!(p.known_fields().is_empty());
        // duplicate keys: the last wins for top-level keys
        let line = br#"{"a":1,"a":2}"#;
        assert_eq!(
            strs(run(&p, line).unwrap()).first().cloned().flatten(),
            s("2")
        );
    }

    #[test]
    fn deep_nesting_and_long_lines() {
        let p = parser(&["a", "deep"]);
        // 1 MB of nesting inside a skipped value: no recursion, no stack overflow
        let mut line = b"{\"skip\":".to_vec();
        line.extend(std::iter::repeat_n(b'[', 500_000));
        line.extend(std::iter::repeat_n(b']', 500_000));
        line.extend_from_slice(b",\"a\":\"ok\"}");
        assert_eq!(strs(run(&p, &line).unwrap()), vec![s("ok"), None]);
        // unbalanced
        let mut line = b"{\"skip\":".to_vec();
        line.extend(std::iter::repeat_n(b'{', 1 << 20));
        assert_eq!(run(&p, &line).err(), Some(E_EOF));
        // 1 MB string value
        let mut line = b"{\"a\":\"".to_vec();
        line.extend(std::iter::repeat_n(b'x', 1 << 20));
        line.extend_from_slice(b"\"}");
        assert_eq!(
            run(&p, &line)
                .unwrap()
                .first()
                .cloned()
                .flatten()
                .map(|v| v.len()),
            Some(1 << 20)
        );
    }
}
