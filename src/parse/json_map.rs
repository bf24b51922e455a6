//! JSON access logs of a known product (Traefik, Caddy, Envoy): a [`JsonParser`] whose
//! product-specific keys are also read under the access-log names the `http` profile uses
//! (`request_method`, `request_uri`, `status`, `body_bytes_sent`, `http_user_agent`,
//! `http_referer`, `request_time` in seconds, …), so no `fields:` mapping is needed.
//!
//! A name may have several keys (the first present wins: Istio's `path`, Envoy Gateway's
//! `x-envoy-origin-path`), a unit to convert to seconds (Traefik's nanoseconds, Envoy's
//! milliseconds: the decimal point moves, no float is formatted for whole numbers), or be the
//! first string of an array (Caddy's headers, `"User-Agent":["curl/8.0"]`). Any other key or
//! dotted path the rules name is read as `format: json` reads it. A line may carry a syslog or
//! journald prefix before its object (`caddy[772]: {…}`).

use super::json::{decode_into, JsonParser};
use super::{canonical_field_name, FieldId, LineParser, ParseError, Record};

/// How a mapped value is turned into the field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conv {
    /// As written.
    Raw,
    /// A number of this many decimal places below a second (3: ms, 9: ns) → seconds.
    Seconds(u8),
    /// The first string of an array (or the value itself when it is not an array).
    First,
}

/// One field a product's logs have under another name.
#[derive(Debug)]
pub(crate) struct Mapping {
    /// The field's name in the rules.
    pub name: &'static str,
    /// JSON keys or dotted paths, tried in order.
    pub keys: &'static [&'static str],
    /// How the value is read.
    pub conv: Conv,
}

/// Longest syslog/journald prefix searched for the object's `{`.
const MAX_PREFIX: usize = 512;

const E_NOT_OBJECT: ParseError = ParseError("json: line is not a JSON object");

/// A JSON parser with a product's mapping.
#[derive(Debug, Clone)]
pub struct JsonMapParser {
    inner: JsonParser,
    map: &'static [Mapping],
    /// Per mapping: the inner ids of its keys (the first is the field's id).
    ids: Vec<Vec<FieldId>>,
}

impl JsonMapParser {
    /// A parser reading `map`'s names as well as any JSON key.
    pub(crate) fn new(map: &'static [Mapping]) -> JsonMapParser {
        let mut inner = JsonParser::new();
        let ids = map
            .iter()
            .map(|m| m.keys.iter().filter_map(|k| inner.field(k)).collect())
            .collect();
        JsonMapParser { inner, map, ids }
    }

    /// Parse a JSON line at `start` (after any prefix) and fill the mapped names.
    pub(crate) fn parse_json(
        &self,
        line: &[u8],
        start: usize,
        rec: &mut Record,
    ) -> Result<(), ParseError> {
        self.inner.parse_at(line, start, rec)?;
        self.convert(line, rec);
        Ok(())
    }

    /// Fill the mapped names from their other keys, and convert their values.
    pub(crate) fn convert(&self, line: &[u8], rec: &mut Record) {
        for (m, ids) in self.map.iter().zip(&self.ids) {
            let Some((&id, rest)) = ids.split_first() else {
                continue;
            };
            if !rec.is_set(id) {
                if let Some(&alt) = rest.iter().find(|&&k| rec.is_set(k)) {
                    rec.copy(alt, id);
                }
            }
            match m.conv {
                Conv::Raw => {}
                Conv::Seconds(places) => to_seconds(line, rec, id, places),
                Conv::First => first_string(line, rec, id),
            }
        }
    }
}

/// Where the JSON object of `line` starts: at the start, or after a syslog/journald prefix
/// ending in `: `.
pub(crate) fn object_start(line: &[u8]) -> Option<usize> {
    let lead = line
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    if line.get(lead) == Some(&b'{') {
        return Some(lead);
    }
    let head = line.get(..line.len().min(MAX_PREFIX))?;
    let at = memchr::memmem::find(head, b": {")?;
    Some(at + 2)
}

/// `id`'s value, a number of `places` decimals below a second, as seconds (in the scratch).
fn to_seconds(line: &[u8], rec: &mut Record, id: FieldId, places: u8) {
    let Some(v) = rec.get(line, id) else {
        return;
    };
    let v = v.strip_prefix(b"\"").unwrap_or(v);
    let v = v.strip_suffix(b"\"").unwrap_or(v);
    let mut buf = [0u8; 48];
    let n = if !v.is_empty() && v.len() <= 24 && v.iter().all(u8::is_ascii_digit) {
        shift(v, usize::from(places), &mut buf)
    } else {
        match super::parse_number(v) {
            Some(x) if x >= 0.0 => {
                use std::io::Write;
                let mut w = &mut buf[..];
                let scale = 10f64.powi(-i32::from(places));
                if write!(w, "{}", x * scale).is_err() {
                    return;
                }
                48 - w.len()
            }
            // Not a duration (`-`, text): the field is missing rather than wrong.
            _ => {
                rec.unset(id);
                return;
            }
        }
    };
    if let Some(out) = buf.get(..n) {
        rec.set_owned(id, out);
    }
}

/// Whole number `digits` divided by 10^places, written into `out`; the length written.
fn shift(digits: &[u8], places: usize, out: &mut [u8; 48]) -> usize {
    let digits = {
        let z = digits.iter().take_while(|b| **b == b'0').count();
        digits.get(z..).unwrap_or_default()
    };
    let mut n = 0;
    let mut push = |b: u8, n: &mut usize| {
        if let Some(slot) = out.get_mut(*n) {
            *slot = b;
            *n += 1;
        }
    };
    if digits.len() <= places {
        push(b'0', &mut n);
        push(b'.', &mut n);
        for _ in digits.len()..places {
            push(b'0', &mut n);
        }
        for &d in digits {
            push(d, &mut n);
        }
    } else {
        let int = digits.len() - places;
        for &d in digits.get(..int).unwrap_or_default() {
            push(d, &mut n);
        }
        if places > 0 {
            push(b'.', &mut n);
            for &d in digits.get(int..).unwrap_or_default() {
                push(d, &mut n);
            }
        }
    }
    n
}

/// `v`'s offsets in `line`, when it is a slice of it.
fn offsets(line: &[u8], v: &[u8]) -> Option<(usize, usize)> {
    let start = (v.as_ptr() as usize).checked_sub(line.as_ptr() as usize)?;
    (start + v.len() <= line.len()).then_some((start, start + v.len()))
}

/// Replace an array value by its first string (Caddy's `"User-Agent":["curl/8.0"]`).
fn first_string(line: &[u8], rec: &mut Record, id: FieldId) {
    let Some((vs, ve)) = rec.get(line, id).and_then(|v| offsets(line, v)) else {
        return;
    };
    let v = line.get(vs..ve).unwrap_or_default();
    if v.first() != Some(&b'[') {
        return;
    }
    let Some(open) = memchr::memchr(b'"', v) else {
        rec.unset(id);
        return;
    };
    let s = vs + open + 1;
    let body = line.get(s..ve).unwrap_or_default();
    let mut escaped = false;
    let mut i = 0;
    let end = loop {
        match body.get(i) {
            None => {
                rec.unset(id);
                return;
            }
            Some(b'\\') => {
                escaped = true;
                i += 2;
            }
            Some(b'"') => break i,
            Some(_) => i += 1,
        }
    };
    if escaped {
        let mark = rec.scratch_mut().len();
        if decode_into(body.get(..end).unwrap_or_default(), rec.scratch_mut()).is_ok() {
            let len = rec.scratch_mut().len();
            rec.set_scratch(id, mark, len);
        } else {
            rec.scratch_mut().truncate(mark);
            rec.unset(id);
        }
    } else {
        rec.set(id, s, s + end);
    }
}

impl LineParser for JsonMapParser {
    fn field(&mut self, name: &str) -> Option<FieldId> {
        let canon = canonical_field_name(name);
        let canon = match canon {
            "time" => "timestamp",
            "msg" => "message",
            c => c,
        };
        if let Some(i) = self.map.iter().position(|m| m.name == canon) {
            return self.ids.get(i)?.first().copied();
        }
        self.inner.field(name)
    }

    fn field_count(&self) -> usize {
        self.inner.field_count()
    }

    fn known_fields(&self) -> Vec<String> {
        self.map.iter().map(|m| m.name.to_string()).collect()
    }

    fn parse(&self, line: &[u8], rec: &mut Record) -> Result<(), ParseError> {
        let start = object_start(line).ok_or(E_NOT_OBJECT)?;
        self.parse_json(line, start, rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_shift() {
        let s = |d: &str, p: usize| {
            let mut b = [0u8; 48];
            let n = shift(d.as_bytes(), p, &mut b);
            String::from_utf8(b[..n].to_vec()).unwrap()
        };
        assert_eq!(s("357313", 9), "0.000357313");
        assert_eq!(s("1500000000", 9), "1.500000000");
        assert_eq!(s("226", 3), "0.226");
        assert_eq!(s("12345", 3), "12.345");
        assert_eq!(s("0", 3), "0.000");
        assert_eq!(s("007", 3), "0.007");
        assert_eq!(s("42", 0), "42");
    }

    #[test]
    fn prefixes() {
        assert_eq!(object_start(b"{\"a\":1}"), Some(0));
        assert_eq!(object_start(b"  {}"), Some(2));
        assert_eq!(
            object_start(b"Nov 20 00:12:09 host caddy[772]: {\"level\":\"info\"}"),
            Some(33)
        );
        assert_eq!(object_start(b"DEBUG: plugin said hi"), None);
    }
}
