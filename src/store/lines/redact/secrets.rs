//! Credentials anywhere in a kept line, whatever the format: the value of a sensitive key
//! (`password=…`, `"token":"…"`, `api-key: …`, `;jsessionid=…`), `Bearer …` and `Basic …`
//! credentials, and the password of `scheme://user:password@host`. Always on: a kept line
//! never needs them to explain a failure.
//!
//! Each rule finds byte ranges to mask; the ranges are merged and each becomes one `*`. A
//! value runs to the end of its quotes, or unquoted to the next whitespace, `&` or `"`: a
//! value is masked whole or more, never cut short by what it holds (`<`, `\xEC`, `#`, `;`).

use base64::Engine as _;

/// Key names (lower case, only letters and digits kept: `X-Api-Key` → `xapikey`) that hold a
/// secret when they contain one of these...
const SECRET_PARTS: [&str; 13] = [
    "passw",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "sessionid",
    "sessid",
    "signature",
    "authorization",
    "passphrase",
    "cookie",
];

/// ...or are one of these.
const SECRET_NAMES: [&str; 9] = [
    "pwd", "pass", "sid", "session", "sig", "auth", "key", "otp", "jwt",
];

/// Authorization schemes whose credentials follow after a space.
const SCHEMES: [&str; 7] = [
    "bearer",
    "basic",
    "digest",
    "token",
    "negotiate",
    "ntlm",
    "apikey",
];

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']')
}

/// Whether a key (as written: any case, `-`, `_`, `.`, `[]`) names a secret.
pub(super) fn sensitive(key: &[u8]) -> bool {
    let mut norm = [0u8; 64];
    let mut n = 0;
    for b in key.iter().filter(|b| b.is_ascii_alphanumeric()) {
        if n == norm.len() {
            break;
        }
        norm[n] = b.to_ascii_lowercase();
        n += 1;
    }
    let norm = &norm[..n];
    if n == 0 {
        return false;
    }
    SECRET_NAMES.iter().any(|s| norm == s.as_bytes())
        || SECRET_PARTS
            .iter()
            .any(|p| norm.windows(p.len()).any(|w| w == p.as_bytes()))
}

fn is_cookie(key: &[u8]) -> bool {
    key.len() >= 6 && key.windows(6).any(|w| w.eq_ignore_ascii_case(b"cookie"))
}

/// Where the key that ends just before `end` starts (a run of key characters, optionally in
/// quotes, `\"` included), and the key.
fn key_before(b: &[u8], end: usize) -> Option<&[u8]> {
    let mut e = end;
    while e > 0 && b[e - 1] == b' ' {
        e -= 1;
    }
    // `"key":`, `'key':`, `\"key\":`.
    if e > 0 && matches!(b[e - 1], b'"' | b'\'') {
        e -= 1;
        if e > 0 && b[e - 1] == b'\\' {
            e -= 1;
        }
    }
    let mut s = e;
    while s > 0 && key_char(b[s - 1]) {
        s -= 1;
    }
    (s < e).then(|| &b[s..e])
}

/// End of a value starting at `i`: quoted (`"…"` with backslash escapes, `\"…\"` inside an
/// escaped JSON string, `'…'`) to its closing quote, else to whitespace, `&` or `"`. Returns
/// (start of what to mask, end of what to mask).
fn value_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let n = b.len();
    if i >= n {
        return None;
    }
    if b[i] == b'"' {
        let mut j = i + 1;
        while j < n {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return Some((i + 1, j)),
                _ => j += 1,
            }
        }
        return Some((i + 1, n));
    }
    if b[i] == b'\\' && b.get(i + 1) == Some(&b'"') {
        // A string inside a JSON string: `\\` is a backslash of the inner string, `\"` a quote
        // (escaped when an odd number of inner backslashes precede it).
        let mut j = i + 2;
        let mut escaped = false;
        while j < n {
            if b[j] == b'\\' && b.get(j + 1) == Some(&b'\\') {
                escaped = !escaped;
                j += 2;
            } else if b[j] == b'\\' && b.get(j + 1) == Some(&b'"') {
                if !escaped {
                    return Some((i + 2, j));
                }
                escaped = false;
                j += 2;
            } else {
                escaped = false;
                j += 1;
            }
        }
        return Some((i + 2, n));
    }
    if b[i] == b'\'' {
        let end = memchr::memchr(b'\'', &b[i + 1..]).map_or(n, |k| i + 1 + k);
        return Some((i + 1, end));
    }
    let end = unquoted_end(b, i);
    (end > i).then_some((i, end))
}

fn unquoted_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|c| c.is_ascii_whitespace() || matches!(c, b'&' | b'"'))
        .map_or(b.len(), |k| i + k)
}

/// `Scheme credentials` at `i` (after the value's start): the scheme word is kept, the
/// credentials masked. Returns where the credentials end.
fn scheme_value(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let word_end = i + b[i..].iter().position(|c| !c.is_ascii_alphabetic())?;
    let word = &b[i..word_end];
    if word.is_empty()
        || b.get(word_end) != Some(&b' ')
        || !SCHEMES
            .iter()
            .any(|s| word.eq_ignore_ascii_case(s.as_bytes()))
    {
        return None;
    }
    let mut s = word_end;
    while s < b.len() && b[s] == b' ' {
        s += 1;
    }
    let end = unquoted_end(b, s);
    (end > s).then_some((s, end))
}

/// Byte ranges of `s` holding credentials (unsorted, may overlap).
pub(super) fn find(s: &str, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    // Values of sensitive keys: `key=v`, `key: v`, `"key":"v"`.
    for i in memchr::memchr2_iter(b'=', b':', b) {
        if b[i] == b':' && b.get(i + 1..i + 3) == Some(b"//") {
            continue;
        }
        let Some(key) = key_before(b, i) else {
            continue;
        };
        if !sensitive(key) {
            continue;
        }
        let mut v = i + 1;
        while v < b.len() && b[v] == b' ' {
            v += 1;
        }
        if b[i] == b':' && is_cookie(key) && b.get(v) != Some(&b'"') {
            // `Cookie: a=1; b=2`: every pair, to the end of the line or field.
            let end = memchr::memchr2(b'\n', b'"', &b[v..]).map_or(b.len(), |k| v + k);
            if end > v {
                out.push((v, end));
            }
        } else if let Some(r) = scheme_value(b, v).or_else(|| value_at(b, v)) {
            out.push(r);
        }
    }
    bearer_and_basic(s, out);
    userinfo(b, out);
}

fn token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// `Bearer <token>` (8 characters or more) and `Basic <base64 of user:password>` anywhere.
fn bearer_and_basic(s: &str, out: &mut Vec<(usize, usize)>) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let Some(k) = memchr::memchr(b' ', &b[i..]) else {
            return;
        };
        let sp = i + k;
        i = sp + 1;
        let mut w = sp;
        while w > 0 && b[w - 1].is_ascii_alphabetic() {
            w -= 1;
        }
        if w > 0 && b[w - 1].is_ascii_alphanumeric() {
            continue;
        }
        let word = &b[w..sp];
        let bearer = word.eq_ignore_ascii_case(b"bearer");
        let basic = word.eq_ignore_ascii_case(b"basic");
        if !bearer && !basic {
            continue;
        }
        let mut t = sp;
        while t < b.len() && b[t] == b' ' {
            t += 1;
        }
        let end = t + b[t..]
            .iter()
            .position(|c| !token68(*c))
            .unwrap_or(b.len() - t);
        let cred = &b[t..end];
        let masked = if bearer {
            cred.len() >= 8
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(cred)
                .is_ok_and(|d| d.contains(&b':'))
        };
        if masked {
            // A token continues up to whitespace or a quote, whatever it holds.
            out.push((t, unquoted_end(b, t)));
        }
    }
}

/// The password of `scheme://user:password@host`.
fn userinfo(b: &[u8], out: &mut Vec<(usize, usize)>) {
    let mut from = 0;
    while let Some(k) = memchr::memmem::find(&b[from..], b"://") {
        let start = from + k + 3;
        from = start;
        let auth_end = b[start..]
            .iter()
            .position(|c| c.is_ascii_whitespace() || matches!(c, b'/' | b'?' | b'#' | b'"'))
            .map_or(b.len(), |e| start + e);
        let Some(at) = memchr::memrchr(b'@', &b[start..auth_end]) else {
            continue;
        };
        let at = start + at;
        if let Some(colon) = memchr::memchr(b':', &b[start..at]) {
            if start + colon + 1 < at {
                out.push((start + colon + 1, at));
            }
        }
    }
}

/// `s` with each of `ranges` (merged where they overlap or touch) replaced by `*`.
pub(super) fn apply(s: &str, ranges: &mut [(usize, usize)]) -> String {
    ranges.sort_unstable();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    for &(a, e) in ranges.iter() {
        if e <= copied {
            continue;
        }
        if a <= copied && out.ends_with('*') {
            // Overlaps or touches the range just masked: one `*` for both.
            copied = e;
            continue;
        }
        let a = a.max(copied);
        out.push_str(&s[copied..a]);
        out.push('*');
        copied = e;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_names() {
        for k in [
            "password",
            "PASSWORD",
            "db_password",
            "user[password]",
            "X-Api-Key",
            "api-key",
            "client_secret",
            "access_token",
            "csrftoken",
            "JSESSIONID",
            "PHPSESSID",
            "sid",
            "session",
            "session_id",
            "X-Amz-Signature",
            "Authorization",
            "pwd",
            "key",
            "otp",
        ] {
            assert!(sensitive(k.as_bytes()), "{k}");
        }
        for k in [
            "author", "user", "keyword", "monkey", "status", "route", "sort_key", "",
        ] {
            assert!(!sensitive(k.as_bytes()), "{k}");
        }
    }

    #[test]
    fn overlapping_ranges_give_one_star() {
        let mut r = vec![(2, 5), (4, 8), (8, 9), (11, 12)];
        assert_eq!(apply("abcdefghijklm", &mut r), "ab*jk*m");
    }
}
