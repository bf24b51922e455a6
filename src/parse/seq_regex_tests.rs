use proptest::prelude::*;
use regex::bytes::Regex;

use super::*;

/// The regex crate's answer, as slots.
fn reference(re: &Regex, hay: &[u8]) -> Option<Vec<usize>> {
    let mut locs = re.capture_locations();
    re.captures_read(&mut locs, hay)?;
    Some(
        (0..locs.len())
            .flat_map(|g| match locs.get(g) {
                Some((s, e)) => [s, e],
                None => [UNSET, UNSET],
            })
            .collect(),
    )
}

/// Both engines agree on `hay`; true when the fast one answered (no fallback).
fn agree(pattern: &str, hay: &[u8]) -> bool {
    let re = Regex::new(pattern).unwrap();
    let Some(fast) = SeqRegex::new(pattern, true) else {
        return false;
    };
    let mut slots = Vec::new();
    let got = fast.captures(hay, &mut slots);
    let want = reference(&re, hay);
    if let Some(m) = got {
        assert_eq!(m, want.is_some(), "{pattern:?} on {hay:?}: match");
        if let Some(w) = want {
            assert_eq!(
                slots,
                w,
                "{pattern:?} on {:?}: groups",
                hay.escape_ascii().to_string()
            );
        }
    }
    let plain = SeqRegex::new(pattern, false).unwrap();
    if let Some(m) = plain.is_match(hay) {
        assert_eq!(m, re.is_match(hay), "{pattern:?} on {hay:?}: is_match");
    }
    got.is_some()
}

const JAVA: &str = r"(?s)^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s+(?P<level>[A-Z]+) \d+ --- \[(?P<thread>[^\]]*)\] (?P<logger>\S+)\s*: (?P<message>.*)";

#[test]
fn log_format_patterns() {
    let header = "2026-11-13 10:00:00.016  INFO 4242 --- [nio-8080-exec-7] c.e.shop.order.OrderController           : session 72436 expired";
    for hay in [
        header.to_string(),
        format!("{header}\njava.io.IOException: x\n\tat a.B.c(B.java:1)"),
        format!("{header} 한국어 \u{2003} ok"),
        "2026-11-13 10:00:00.016 INFO 1 --- [] x: ".to_string(),
        "2026-11-13 10:00:00.016 INFO 1 --- [] x : y : z".to_string(),
        "2026-11-13 10:00:00 INFO".to_string(),
        "\tat a.B.c(B.java:1)".to_string(),
        String::new(),
    ] {
        assert!(agree(JAVA, hay.as_bytes()), "{hay:?} fell back");
    }
    // Invalid UTF-8 in the message: `.` stops before it, as in the regex crate.
    let mut bad = header.as_bytes().to_vec();
    bad.extend_from_slice(b" \xff\xfe tail\n\tat x");
    assert!(agree(JAVA, &bad));
    let access = r#"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]*)\] "(?P<method>\S+) (?P<uri>\S+) (?P<protocol>[^"]*)" (?P<status>\d+) (?P<bytes>\S+) "(?P<referer>[^"]*)" "(?P<user_agent>[^"]*)" (?P<request_time>\S+)"#;
    let line = br#"203.0.113.9 - - [24/Nov/2025:16:00:00 +0000] "GET /a?b=c HTTP/1.1" 200 512 "-" "curl/8.5.0" 0.004"#;
    assert!(agree(access, line));
    assert!(agree(access, b"garbage"));
    for (p, h) in [
        (r"status=(?P<status>\d+)", &b"a status=x status=204 z"[..]),
        (r"status=(?P<status>\d+)$", b"status=1 status=22"),
        (r"(?P<a>\w+?)(?P<b>\d*)c", b"xx abc12c"),
        (r"(?i)kelvin", "\u{212A}ELVIN".as_bytes()),
        (r"(?-u:\xff)+(?P<x>.)", b"\xff\xff\xc3\xa9"),
        (r"^\S+\S+\S+\S+\S+\S+\S+x", &[b'a'; 300][..]),
        (r"", b""),
        (r"^$", b""),
        (r"$", b"abc"),
        (r"a{2,3}?b", b"aaaab"),
    ] {
        agree(p, h);
    }
}

#[test]
fn shapes_not_compiled() {
    for p in [
        r"ab|cd", r"(?m)^a", r"\bword", r"(?:ab)+", r"(\d)+", r"(^a)", r"a$b",
    ] {
        assert!(SeqRegex::new(p, true).is_none(), "{p}");
    }
    assert!(SeqRegex::new(JAVA, true).is_some());
    assert_eq!(SeqRegex::new(JAVA, true).unwrap().slot_count(), 12);
}

#[test]
fn budget_gives_up_instead_of_blowing_up() {
    let p = r"^\S*\S*\S*\S*\S*\S*\S*\S*x";
    let fast = SeqRegex::new(p, true).unwrap();
    let hay = vec![b'a'; 2000];
    assert_eq!(fast.captures(&hay, &mut Vec::new()), None);
    // ... and an unanchored search over a long input of non-starting bytes does not.
    let fast = SeqRegex::new(r"status=(\d+)", true).unwrap();
    let mut hay = vec![0u8; 1 << 20];
    assert_eq!(fast.captures(&hay, &mut Vec::new()), Some(false));
    hay.extend_from_slice(b"status=204");
    let mut slots = Vec::new();
    assert_eq!(fast.captures(&hay, &mut slots), Some(true));
    assert_eq!(&hay[slots[2]..slots[3]], b"204");
}

const PIECES: &[&str] = &[
    "a",
    "ab",
    "-",
    " ",
    ":",
    "é",
    r"\[",
    r"\]",
    r"\.",
    r"(?-u:\xff)",
    r"\d",
    r"\s",
    r"\S",
    r"\w",
    "[A-Z]",
    r"[^\]]",
    ".",
    "(?s:.)",
    "(?-u:.)",
    "(?s-u:.)",
    "[a-c]",
    "(?i:k)",
    "[^ ]",
    r"\pL",
];
const QUANTS: &[&str] = &[
    "", "", "*", "+", "?", "{2}", "{1,3}", "*?", "+?", "??", "{0,2}?",
];
const ALPHABET: &[&[u8]] = &[
    b"a",
    b"b",
    b"c",
    b"A",
    b"Z",
    b"1",
    b"9",
    b" ",
    b"\t",
    b"\n",
    b"-",
    b":",
    b"[",
    b"]",
    b".",
    "é".as_bytes(),
    "한".as_bytes(),
    "\u{2003}".as_bytes(),
    b"\xff",
    b"\xc3",
    b"k",
    b"K",
    "\u{212A}".as_bytes(),
];

fn pattern() -> impl Strategy<Value = String> {
    let piece = (0..PIECES.len(), 0..QUANTS.len()).prop_map(|(p, q)| {
        let p = PIECES[p];
        let q = QUANTS[q];
        let atom = p.chars().count() == 1 || p.starts_with(['\\', '[', '(']);
        if q.is_empty() || atom {
            format!("{p}{q}")
        } else {
            format!("(?:{p}){q}")
        }
    });
    let group = (prop::collection::vec(piece, 1..4), any::<bool>()).prop_map(|(ps, cap)| {
        if cap {
            format!("({})", ps.concat())
        } else {
            ps.concat()
        }
    });
    (
        any::<bool>(),
        prop::collection::vec(group, 0..5),
        any::<bool>(),
    )
        .prop_map(|(s, gs, e)| {
            format!(
                "{}{}{}",
                if s { "^" } else { "" },
                gs.concat(),
                if e { "$" } else { "" }
            )
        })
}

fn haystack() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0..ALPHABET.len(), 0..24)
        .prop_map(|ix| ix.into_iter().flat_map(|i| ALPHABET[i].to_vec()).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Wherever the fast path answers, it gives the regex crate's match and groups.
    #[test]
    fn same_as_the_regex_crate(p in pattern(), hays in prop::collection::vec(haystack(), 8)) {
        prop_assume!(Regex::new(&p).is_ok());
        for h in &hays {
            agree(&p, h);
        }
    }
}
