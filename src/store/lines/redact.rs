//! What a kept line may show: valid UTF-8 without control characters, cut to a size, with
//! client addresses, query-string values, e-mail addresses and configured patterns masked.
//!
//! This runs before a line enters the store, so the store never holds what redaction removes
//! (nor does a core dump of the agent). Log content is attacker-controlled: the text that comes
//! out is still escaped again by whatever renders it (JSON, HTML).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What is masked (`global.lines.redact`).
#[derive(Debug, Clone)]
pub struct Redact {
    /// IPv4 last octet, IPv6 last 80 bits.
    pub addresses: bool,
    /// Query-string values.
    pub query: bool,
    /// Local part of e-mail addresses.
    pub emails: bool,
    /// Matches become `*`.
    pub patterns: Vec<regex::Regex>,
}

/// Masks applied to kept text (see the module docs).
#[derive(Debug, Clone)]
pub struct Redactor {
    addresses: bool,
    query: bool,
    emails: bool,
    patterns: Vec<regex::Regex>,
}

impl Redactor {
    /// A redactor doing what `r` asks.
    pub fn new(r: &Redact) -> Redactor {
        Redactor {
            addresses: r.addresses,
            query: r.query,
            emails: r.emails,
            patterns: r.patterns.clone(),
        }
    }

    /// The default: every built-in mask on, no patterns.
    pub fn all() -> Redactor {
        Redactor {
            addresses: true,
            query: true,
            emails: true,
            patterns: Vec::new(),
        }
    }

    /// `raw` cleaned ([`clean`]) and masked, then cut to at most `max` bytes on a character
    /// boundary; and whether it was cut. Masking the whole line first means a cut never
    /// leaves half an address or query unmasked.
    pub fn redact(&self, raw: &[u8], max: usize) -> (String, bool) {
        let (text, _) = clean(raw, usize::MAX);
        let mut text = self.mask(text);
        if text.len() <= max {
            return (text, false);
        }
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        (text, true)
    }

    /// Apply the masks to clean text.
    pub fn mask(&self, mut text: String) -> String {
        for re in &self.patterns {
            if let Cow::Owned(s) = re.replace_all(&text, "*") {
                text = s;
            }
        }
        if self.query {
            text = mask_queries(&text);
        }
        if self.emails {
            text = mask_emails(&text);
        }
        if self.addresses {
            text = mask_addresses(&text);
        }
        text
    }
}

/// `raw` as text for showing, at most `max` bytes (cut on a character boundary; the bool says
/// it was cut): invalid UTF-8 becomes U+FFFD; a tab is shown as `\t` and other control
/// characters (C0 except newline, DEL, C1, and the Unicode line and paragraph separators) as
/// `\u{1b}`; newlines, which only a joined multiline record can hold, stay.
pub fn clean(raw: &[u8], max: usize) -> (String, bool) {
    // A cut may fall inside a character: look a few bytes further, then cut the text.
    let window = &raw[..raw.len().min(max.saturating_add(4))];
    let lossy = String::from_utf8_lossy(window);
    let mut out = String::with_capacity(lossy.len().min(max) + 8);
    let mut cut = window.len() < raw.len();
    for c in lossy.chars() {
        let before = out.len();
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
        if out.len() > max {
            out.truncate(before);
            cut = true;
            break;
        }
    }
    (out, cut)
}

/// Ends a query string (besides the end of the text).
fn ends_query(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '#' | '<' | '>' | '\\' | '`' | '|')
}

/// Every `?` starts a query: its values (`k=v` → `k=*`, a bare `v` → `*`) are masked, the
/// parameter names stay, so a reader still sees which parameters a failing request had.
fn mask_queries(s: &str) -> String {
    if !s.contains('?') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(q) = rest.find('?') {
        out.push_str(&rest[..=q]);
        rest = &rest[q + 1..];
        let end = rest.find(ends_query).unwrap_or(rest.len());
        let (query, tail) = rest.split_at(end);
        let mut seg = query;
        loop {
            let n = seg.find(['&', ';']).unwrap_or(seg.len());
            match seg[..n].split_once('=') {
                Some((k, v)) => {
                    out.push_str(k);
                    out.push('=');
                    if !v.is_empty() {
                        out.push('*');
                    }
                }
                None if n == 0 => {}
                None => out.push('*'),
            }
            let Some(sep) = seg[n..].chars().next() else {
                break;
            };
            out.push(sep);
            seg = &seg[n + 1..];
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn local_part_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// `name@example.com` → `*@example.com`: the domain stays (it often names the customer).
fn mask_emails(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    for at in memchr::memchr_iter(b'@', b) {
        if at < copied {
            continue;
        }
        let mut start = at;
        while start > copied && local_part_char(b[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < b.len() && domain_char(b[end]) {
            end += 1;
        }
        let domain = s[at + 1..end].trim_end_matches(['.', '-']);
        let tld_ok = domain.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty() && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
        });
        if start == at || !tld_ok {
            continue;
        }
        out.push_str(&s[copied..start]);
        out.push('*');
        copied = at;
    }
    out.push_str(&s[copied..]);
    out
}

fn addr_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// IPv4 addresses lose their last octet (`192.0.2.0`), IPv6 addresses their last 80 bits
/// (`2001:db8:85a3::`), IPv4-mapped IPv6 as IPv4 (`::ffff:192.0.2.0`). A candidate is a
/// maximal run of hex digits, `:` and `.` that does not continue a word, so `v1.2.3.4` and
/// dotted version numbers longer than four parts stay; four-part versions (`Chrome/1.2.3.4`)
/// are masked like addresses, which errs on the safe side.
fn mask_addresses(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let starts = addr_char(b[i])
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'.' | b':')));
        if !starts {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < b.len() && addr_char(b[end]) {
            end += 1;
        }
        let run = &s[i..end];
        let masked = if run.bytes().filter(|c| *c == b':').count() >= 2 {
            mask_v6(run).map(|m| (m, run.len()))
        } else {
            // `192.0.2.1:8080`: the address is the part before the port.
            let addr = run.split(':').next().unwrap_or(run);
            mask_v4(addr).map(|m| (m, addr.len()))
        };
        if let Some((m, len)) = masked {
            out.push_str(&s[copied..i]);
            out.push_str(&m);
            copied = i + len;
        }
        i = end;
    }
    out.push_str(&s[copied..]);
    out
}

fn mask_v4(s: &str) -> Option<String> {
    // std accepts only the dotted-quad form without leading zeros: no octal or short forms.
    let a: Ipv4Addr = s.parse().ok()?;
    let [x, y, z, _] = a.octets();
    Some(Ipv4Addr::new(x, y, z, 0).to_string())
}

fn mask_v6(s: &str) -> Option<String> {
    let a: Ipv6Addr = s.parse().ok()?;
    if let Some(v4) = a.to_ipv4_mapped() {
        let [x, y, z, _] = v4.octets();
        return Some(format!("::ffff:{}", Ipv4Addr::new(x, y, z, 0)));
    }
    let g = a.segments();
    Some(Ipv6Addr::new(g[0], g[1], g[2], 0, 0, 0, 0, 0).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        Redactor::all().redact(s.as_bytes(), 4096).0
    }

    #[test]
    fn client_addresses_are_masked() {
        assert_eq!(
            r(r#"203.0.113.77 - - [25/Nov/2026:10:00:00 +0900] "GET / HTTP/1.1" 500 1"#),
            r#"203.0.113.0 - - [25/Nov/2026:10:00:00 +0900] "GET / HTTP/1.1" 500 1"#
        );
        assert_eq!(
            r("from 2001:db8:85a3:8d3:1319:8a2e:370:7348 x"),
            "from 2001:db8:85a3:: x"
        );
        assert_eq!(r("[2001:db8::1]:443"), "[2001:db8::]:443");
        assert_eq!(r("::ffff:192.0.2.33 y"), "::ffff:192.0.2.0 y");
        assert_eq!(
            r("xff=10.1.2.3,198.51.100.9:8080"),
            "xff=10.1.2.0,198.51.100.0:8080"
        );
        assert_eq!(r("client: ::1"), "client: ::");
        // Not addresses: times, versions with more parts, words, MACs.
        for same in [
            "at 10:20:30 and 2026-11-25T10:00:00",
            "lib 1.2.3.4.5",
            "v1.2.3.4",
            "mac aa:bb:cc:dd:ee:ff",
            "id deadbeef:cafe",
            "999.1.1.1",
        ] {
            assert_eq!(r(same), same);
        }
    }

    #[test]
    fn query_values_are_masked_names_stay() {
        assert_eq!(
            r(
                r#""GET /login?user=kim&token=s3cr3t;x=1 HTTP/1.1" "https://a.example/?q=naver&ref" 500"#
            ),
            r#""GET /login?user=*&token=*;x=* HTTP/1.1" "https://a.example/?q=*&*" 500"#
        );
        assert_eq!(r("/search?q= ok? fine"), "/search?q= ok? fine");
        assert_eq!(r(r#"{"uri":"/a?b=c","s":1}"#), r#"{"uri":"/a?b=*","s":1}"#);
    }

    #[test]
    fn emails_lose_their_local_part() {
        assert_eq!(
            r("to kim.lee+x@mail.example.co.kr, from a@b.io."),
            "to *@mail.example.co.kr, from *@b.io."
        );
        assert_eq!(r("user:pw@host.example.com"), "user:*@host.example.com");
        for same in ["@home", "a@b", "x@localhost", "me@1.2", "@@"] {
            assert_eq!(r(same), same);
        }
    }

    #[test]
    fn masks_can_be_turned_off_and_patterns_added() {
        let red = Redactor::new(&Redact {
            addresses: false,
            query: false,
            emails: false,
            patterns: vec![regex::Regex::new(r"session=[0-9a-f]+").unwrap()],
        });
        assert_eq!(
            red.mask("192.0.2.1 /?a=b c@d.io session=abc123".into()),
            "192.0.2.1 /?a=b c@d.io *"
        );
    }

    #[test]
    fn control_characters_invalid_utf8_and_cuts() {
        let (t, cut) = clean(
            b"a\x1b[31mred\x07\tb\r\x00 \xff\xfe \xc2\x85 \xe2\x80\xa8",
            4096,
        );
        assert_eq!(
            t,
            "a\\u{1b}[31mred\\u{7}\\tb\\u{d}\\u{0} \u{fffd}\u{fffd} \\u{85} \\u{2028}"
        );
        assert!(!cut);
        assert!(!t.chars().any(|c| c.is_control()));
        let (t, cut) = clean("가나다라".as_bytes(), 7);
        assert_eq!((t.as_str(), cut), ("가나", true));
        let (t, cut) = clean(b"abc\x01def", 5);
        assert_eq!((t.as_str(), cut), ("abc", true));
        let (t, _) = clean(b"one\ntwo", 100);
        assert_eq!(t, "one\ntwo");
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_come_out_clean() {
        use proptest::prelude::*;
        proptest!(|(raw in proptest::collection::vec(any::<u8>(), 0..300), max in 1usize..200)| {
            let (t, _) = Redactor::all().redact(&raw, max);
            prop_assert!(!t.chars().any(|c| c.is_control() && c != '\n'));
        });
    }
}
