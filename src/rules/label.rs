//! One label's value for a line: source (field, constant, template) → regex → transform → map
//! → default, into the series key, through reused buffers.
//!
//! Label values never contain control characters: C0 controls, DEL and C1 controls are
//! replaced by U+FFFD, as invalid UTF-8 is. Log content is untrusted, and these values end up
//! in terminals (`curl /metrics`, `explain`) and dashboards, where an ESC byte could rewrite
//! what is shown. Values that cannot hold one (config strings, checked at validation, and the
//! output of transforms that never emit one) skip the check.

use std::collections::HashMap;

use regex::bytes::{CaptureLocations, Regex};

use super::transform::{Applier, Scratch};
use crate::config::{Label, LabelValue, TemplatePart};
use crate::parse::{FieldId, Record};
use crate::store::push_label;

type ValueMap = HashMap<Box<[u8]>, Box<[u8]>>;

/// Scratch buffers reused for every line.
#[derive(Debug, Default)]
pub(super) struct Bufs {
    template: Vec<u8>,
    regex: Vec<u8>,
    xform: Vec<u8>,
    clean: Vec<u8>,
    scratch: Scratch,
}

/// A compiled label.
#[derive(Debug)]
pub(super) struct LabelRule {
    /// `Some(field)` when the value is the field's bytes as they are (no regex, transform, map
    /// or default): the common case, served before the general path's checks.
    plain: Option<FieldId>,
    src: LabelValue,
    /// Regex, its reused capture slots, and the replacement template.
    regex: Option<(Regex, CaptureLocations, Box<[u8]>)>,
    xform: Option<Applier>,
    map: Option<ValueMap>,
    default: Option<Box<[u8]>>,
    /// The value may hold what a label must not (control characters, invalid UTF-8): it comes
    /// from the log without a transform whose output is clean.
    check: bool,
}

impl LabelRule {
    pub(super) fn new(l: &Label) -> LabelRule {
        let plain = match (&l.value, &l.regex, &l.transform, &l.map, &l.default) {
            (LabelValue::Field(id), None, None, None, None) => Some(*id),
            _ => None,
        };
        // Config strings (constants, defaults, map values) were checked at validation.
        let check = match &l.transform {
            Some(t) => !t.clean_output(),
            None => {
                let constant = matches!(l.value, LabelValue::Const(_)) && l.regex.is_none();
                !(constant || (l.map.is_some() && l.default.is_some()))
            }
        };
        LabelRule {
            check,
            plain,
            src: l.value.clone(),
            regex: l
                .regex
                .as_ref()
                .map(|(re, rep)| (re.clone(), re.capture_locations(), rep.clone())),
            xform: l.transform.clone().map(Applier::new),
            map: l.map.as_ref().map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_bytes().into(), v.as_bytes().into()))
                    .collect()
            }),
            default: l.default.as_ref().map(|d| d.as_bytes().into()),
        }
    }

    /// Append this label's value for the line to `key`. False when it has none (its transform
    /// gives no value for the line and it has no `default`): the update is skipped.
    /// True when `self` and `other` give the same value for every line (names aside).
    fn same_value(&self, other: &LabelRule) -> bool {
        let src = match (&self.src, &other.src) {
            (LabelValue::Const(a), LabelValue::Const(b)) => a == b,
            (LabelValue::Field(a), LabelValue::Field(b)) => a == b,
            (LabelValue::Template(a), LabelValue::Template(b)) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|p| match p {
                        (TemplatePart::Lit(x), TemplatePart::Lit(y)) => x == y,
                        (TemplatePart::Field(x), TemplatePart::Field(y)) => x == y,
                        _ => false,
                    })
            }
            _ => false,
        };
        let regex = match (&self.regex, &other.regex) {
            (None, None) => true,
            (Some((a, _, ra)), Some((b, _, rb))) => a.as_str() == b.as_str() && ra == rb,
            _ => false,
        };
        let xform = match (&self.xform, &other.xform) {
            (None, None) => true,
            (Some(a), Some(b)) => a.transform().same(b.transform()),
            _ => false,
        };
        src && regex
            && xform
            && self.map == other.map
            && self.default == other.default
            && self.check == other.check
    }

    #[inline]
    pub(super) fn push_value(
        &mut self,
        line: &[u8],
        rec: &Record,
        b: &mut Bufs,
        key: &mut Vec<u8>,
    ) -> bool {
        if let Some(id) = self.plain {
            let v = rec.get(line, id).unwrap_or_default();
            if printable_ascii(v) {
                push_label(key, v);
                return true;
            }
        }
        let Bufs {
            template,
            regex,
            xform,
            clean,
            scratch,
        } = b;
        let has_xform = self.xform.is_some();
        let mut v: &[u8] = match &self.src {
            LabelValue::Const(c) => c.as_bytes(),
            LabelValue::Field(id) => rec.get(line, *id).unwrap_or_default(),
            LabelValue::Template(parts) => {
                template.clear();
                for p in parts {
                    match p {
                        TemplatePart::Lit(l) => template.extend_from_slice(l),
                        TemplatePart::Field(id) => {
                            // Transforms of several fields (`uri\nua`) split at newlines: one
                            // inside a value (a JSON string may hold it) must not shift the
                            // fields after it, so it becomes a space for a transform.
                            let f = rec.get(line, *id).unwrap_or_default();
                            let at = template.len();
                            template.extend_from_slice(f);
                            if has_xform && memchr::memchr(b'\n', f).is_some() {
                                for b in &mut template[at..] {
                                    if *b == b'\n' {
                                        *b = b' ';
                                    }
                                }
                            }
                        }
                    }
                }
                template
            }
        };
        let mut defaulted = false;
        if v.is_empty() || v == b"-" {
            if let Some(d) = &self.default {
                v = d;
                defaulted = true;
            }
        }
        if !defaulted {
            if let Some((re, locs, rep)) = &mut self.regex {
                if re.captures_read(locs, v).is_some() {
                    regex.clear();
                    expand(rep, v, locs, regex);
                    v = regex;
                } else {
                    v = self.default.as_deref().unwrap_or_default();
                    defaulted = true;
                }
            }
        }
        if !defaulted {
            if let Some(x) = &mut self.xform {
                xform.clear();
                if x.apply(v, scratch, xform) {
                    v = xform;
                } else {
                    match &self.default {
                        Some(d) => {
                            v = d;
                            defaulted = true;
                        }
                        None => return false,
                    }
                }
            }
        }
        if !defaulted {
            if let Some(m) = &self.map {
                match m.get(v) {
                    Some(to) => v = to,
                    None => {
                        if let Some(d) = &self.default {
                            v = d;
                        }
                    }
                }
            }
        }
        if self.check && !printable_ascii(v) && !clean_utf8(v) {
            clean.clear();
            push_clean(v, clean);
            v = clean;
        }
        push_label(key, v);
        true
    }
}

/// Bytes 0x20..=0x7E only: the usual label value, pushed as is.
/// One label of a metric: its name and which of the source's label computations gives it.
#[derive(Debug)]
pub(super) struct LabelUse {
    pub(super) name: String,
    slot: usize,
}

/// The label computations of a source's metrics, each distinct one once: metrics that share a
/// label (the `http` profile's route, method, device, menu) compute it once per line and copy
/// the encoded value.
#[derive(Debug, Default)]
pub(super) struct SharedLabels {
    rules: Vec<LabelRule>,
    vals: Vec<Val>,
    /// The line being labelled (see [`SharedLabels::next_line`]).
    line: u64,
}

/// A computation's result for line `at`: the encoded label (as [`push_label`] writes it), or
/// no value.
#[derive(Debug, Default)]
struct Val {
    at: u64,
    ok: bool,
    key: Vec<u8>,
}

impl SharedLabels {
    /// The use of `l`, sharing the computation of an earlier label with the same value.
    pub(super) fn add(&mut self, l: &Label) -> LabelUse {
        let rule = LabelRule::new(l);
        let slot = match self.rules.iter().position(|r| r.same_value(&rule)) {
            Some(i) => i,
            None => {
                self.rules.push(rule);
                self.vals.push(Val::default());
                self.rules.len() - 1
            }
        };
        LabelUse {
            name: l.name.clone(),
            slot,
        }
    }

    /// A new line: every computation is due again.
    #[inline]
    pub(super) fn next_line(&mut self) {
        self.line = self.line.wrapping_add(1);
        if self.line == 0 {
            // `at` starts at 0: never let a fresh slot pass for computed.
            self.vals.iter_mut().for_each(|v| v.at = u64::MAX);
            self.line = 1;
        }
    }

    /// Append the value of `u` for this line to `key`; false when the label has no value.
    #[inline]
    pub(super) fn push(
        &mut self,
        u: &LabelUse,
        line: &[u8],
        rec: &Record,
        b: &mut Bufs,
        key: &mut Vec<u8>,
    ) -> bool {
        let rule = &mut self.rules[u.slot];
        if rule.plain.is_some() {
            // A field's bytes: as cheap to copy from the line as from a slot.
            return rule.push_value(line, rec, b, key);
        }
        let v = &mut self.vals[u.slot];
        if v.at != self.line {
            v.key.clear();
            v.ok = rule.push_value(line, rec, b, &mut v.key);
            v.at = self.line;
        }
        if v.ok {
            key.extend_from_slice(&v.key);
        }
        v.ok
    }

    /// How many distinct computations the labels need.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.rules.len()
    }
}

#[inline]
fn printable_ascii(v: &[u8]) -> bool {
    v.iter().all(|&b| b.wrapping_sub(0x20) < 0x5f)
}

/// Valid UTF-8 with no control character.
fn clean_utf8(v: &[u8]) -> bool {
    std::str::from_utf8(v).is_ok_and(|s| !s.chars().any(char::is_control))
}

/// `v` with each invalid UTF-8 sequence and each control character replaced by U+FFFD, so two
/// values that render alike are one series, never a duplicate.
pub(super) fn push_clean(v: &[u8], out: &mut Vec<u8>) {
    const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();
    for chunk in v.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend_from_slice(REPLACEMENT);
            } else {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice(REPLACEMENT);
        }
    }
}

/// Expand `$1`, `${name}`-less replacement templates: `$0`..`$9` only (enough for labels).
fn expand(rep: &[u8], hay: &[u8], locs: &CaptureLocations, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < rep.len() {
        if rep[i] == b'$' && i + 1 < rep.len() && rep[i + 1].is_ascii_digit() {
            let g = (rep[i + 1] - b'0') as usize;
            if let Some((s, e)) = locs.get(g) {
                out.extend_from_slice(&hay[s..e]);
            }
            i += 2;
        } else {
            out.push(rep[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(v: &[u8]) -> String {
        let mut out = Vec::new();
        push_clean(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn control_characters_and_bad_utf8_become_replacement_characters() {
        assert_eq!(clean(b"/a\x1b[2J/b"), "/a\u{fffd}[2J/b");
        assert_eq!(
            clean(b"x\x07\x7f\ty\r\n"),
            "x\u{fffd}\u{fffd}\u{fffd}y\u{fffd}\u{fffd}"
        );
        assert_eq!(clean("a\u{9b}31m".as_bytes()), "a\u{fffd}31m");
        assert_eq!(clean(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
        assert!(printable_ascii(b"/api/v1/items/:id"));
        assert!(!printable_ascii(b"/a\x1b"));
        assert!(!printable_ascii(b"\x7f"));
        assert!(clean_utf8("caf\u{e9}".as_bytes()));
        assert!(!clean_utf8("a\u{85}".as_bytes()));
    }
}
