//! A user regular expression: named captures are fields, unnamed groups are ignored.
//!
//! `regex::bytes::Regex`, so invalid UTF-8 in a line is fine. A pattern made of literals and
//! repeated classes in sequence (most log formats) is matched by [`SeqRegex`] first, which gives
//! the same groups several times faster; the regex crate answers the rest. Capture locations are
//! kept in the parser and reused from line to line (no allocation per line).

use std::cell::Cell;

use regex::bytes::{CaptureLocations, Regex};

use super::seq_regex::{SeqRegex, UNSET};
use super::{canonical_field_name, BuildError, FieldId, LineParser, ParseError, Record};

const E_NO_MATCH: ParseError = ParseError("regex: line does not match");

/// Parser for a regex with named captures.
pub struct RegexParser {
    re: Regex,
    /// Field slot `i` is named `names[i].0`, capture group `names[i].1`.
    names: Vec<(String, usize)>,
    /// Reused capture locations (taken while parsing, put back afterwards).
    locs: Cell<Option<CaptureLocations>>,
    /// The fast path, when the pattern is a sequence.
    seq: Option<SeqRegex>,
    /// Its reused slots (taken while parsing, put back afterwards).
    slots: Cell<Vec<usize>>,
}

impl std::fmt::Debug for RegexParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegexParser")
            .field("re", &self.re)
            .field("names", &self.names)
            .field("seq", &self.seq.is_some())
            .finish()
    }
}

impl RegexParser {
    /// Compile `re`.
    pub fn new(re: &str) -> Result<Self, BuildError> {
        let re = Regex::new(re)?;
        let names = re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
            .collect();
        let locs = Cell::new(Some(re.capture_locations()));
        let seq = SeqRegex::new(re.as_str(), true);
        let slots = Cell::new(Vec::with_capacity(
            seq.as_ref().map_or(0, |s| s.slot_count()),
        ));
        Ok(RegexParser {
            re,
            names,
            locs,
            seq,
            slots,
        })
    }
}

impl LineParser for RegexParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        self.names.iter().position(|(n, _)| n == name).or_else(|| {
            self.names
                .iter()
                .position(|(n, _)| n == canonical_field_name(name))
        })
    }

    fn field_count(&self) -> usize {
        self.names.len()
    }

    fn known_fields(&self) -> Vec<String> {
        self.names.iter().map(|(n, _)| n.clone()).collect()
    }

    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        if let Some(seq) = &self.seq {
            let mut slots = self.slots.take();
            let found = seq.captures(line, &mut slots);
            if found == Some(true) {
                for (id, (_, group)) in self.names.iter().enumerate() {
                    let s = slots.get(2 * group).copied().unwrap_or(UNSET);
                    let e = slots.get(2 * group + 1).copied().unwrap_or(UNSET);
                    if s != UNSET && e != UNSET {
                        rec.set(id, s, e);
                    }
                }
            }
            self.slots.set(slots);
            match found {
                Some(true) => return Ok(()),
                Some(false) => return Err(E_NO_MATCH),
                // Out of budget: the regex crate decides.
                None => {}
            }
        }
        let mut locs = self
            .locs
            .take()
            .unwrap_or_else(|| self.re.capture_locations());
        let matched = self.re.captures_read(&mut locs, line).is_some();
        if matched {
            for (id, (_, group)) in self.names.iter().enumerate() {
                if let Some((s, e)) = locs.get(*group) {
                    rec.set(id, s, e);
                }
            }
        }
        self.locs.set(Some(locs));
        if matched {
            Ok(())
        } else {
            Err(E_NO_MATCH)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &RegexParser, line: &[u8]) -> Result<Vec<Option<Vec<u8>>>, ParseError> {
        let mut rec = Record::with_fields(p.field_count());
        p.parse(line, &mut rec)?;
        Ok((0..p.field_count())
            .map(|i| rec.get(line, i).map(<[u8]>::to_vec))
            .collect())
    }

    #[test]
    fn named_captures() {
        let mut p = RegexParser::new(
            r"^(\S+) \[(?P<level>[A-Z]+)\] (?P<method>\w+)(?: (?P<opt>x))? took (?P<ms>\d+)ms",
        )
        .unwrap();
        assert_eq!(p.known_fields(), ["level", "method", "opt", "ms"]);
        assert_eq!(p.field("level"), Some(0));
        assert_eq!(p.field("method"), Some(1));
        assert_eq!(p.field("request_method"), None);
        assert_eq!(p.field("ms"), Some(3));
        assert_eq!(p.field("nope"), None);
        let got = run(&p, b"2024-01-01 [WARN] GET took 15ms tail").unwrap();
        assert_eq!(
            got,
            vec![
                Some(b"WARN".to_vec()),
                Some(b"GET".to_vec()),
                None,
                Some(b"15".to_vec())
            ]
        );
        // reuse: a second line fully replaces the values
        let got = run(&p, b"t [INFO] PUT x took 3ms").unwrap();
        assert_eq!(
            got,
            vec![
                Some(b"INFO".to_vec()),
                Some(b"PUT".to_vec()),
                Some(b"x".to_vec()),
                Some(b"3".to_vec())
            ]
        );
        assert_eq!(run(&p, b"no match here"), Err(E_NO_MATCH));
        assert_eq!(run(&p, b""), Err(E_NO_MATCH));
    }

    /// Unicode classes (`\S`, `.`) do not match invalid UTF-8; `(?-u:...)` does.
    #[test]
    fn aliases_and_bytes() {
        let mut p =
            RegexParser::new(r"(?P<request_uri>/(?-u:\S*)) (?P<status>\d{3}) (?P<rest>(?s-u:.*))")
                .unwrap();
        assert_eq!(p.field("path"), Some(0));
        assert_eq!(p.field("uri"), Some(0));
        let line = b"/\xff\xfe 500 \x00\x01\xc3";
        let got = run(&p, line).unwrap();
        assert_eq!(
            got,
            vec![
                Some(b"/\xff\xfe".to_vec()),
                Some(b"500".to_vec()),
                Some(b"\x00\x01\xc3".to_vec())
            ]
        );
    }

    #[test]
    fn long_line_and_junk() {
        let mut p = RegexParser::new(r"status=(?P<status>\d+)").unwrap();
        let id = p.field("status").unwrap();
        let mut line = vec![b'\x00'; 1 << 20];
        line.extend_from_slice(b"status=204");
        let mut rec = Record::with_fields(p.field_count());
        p.parse(&line, &mut rec).unwrap();
        assert_eq!(rec.get(&line, id), Some(&b"204"[..]));
        rec.clear();
        assert_eq!(p.parse(&line[..1 << 20], &mut rec), Err(E_NO_MATCH));
        assert_eq!(rec.get(&line, id), None);
    }

    #[test]
    fn invalid_regex() {
        assert!(matches!(
            RegexParser::new("(?P<x>"),
            Err(BuildError::Regex(_))
        ));
    }
}
