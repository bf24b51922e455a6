//! Escaping and number formatting shared by the encoders and the status page.

use std::fmt::Write as _;

/// Append a label value escaped for the text formats (0.0.4 and OpenMetrics alike):
/// `\` → `\\`, `"` → `\"`, newline → `\n`. Invalid UTF-8 (never stored, but cheap to guard)
/// becomes U+FFFD.
pub fn label_value(out: &mut String, v: &[u8]) {
    match std::str::from_utf8(v) {
        Ok(s) => label_value_str(out, s),
        Err(_) => label_value_str(out, &String::from_utf8_lossy(v)),
    }
}

fn label_value_str(out: &mut String, s: &str) {
    let b = s.as_bytes();
    let mut start = 0;
    // Values are short and rarely need escaping: copy runs between the special bytes.
    for i in memchr::memchr3_iter(b'\\', b'"', b'\n', b) {
        out.push_str(&s[start..i]);
        out.push_str(match b[i] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        });
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Append HELP text escaped: `\` → `\\`, newline → `\n`.
pub fn help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Write a sample value as Prometheus parses it (integers without a fraction, `+Inf`, `NaN`).
pub fn value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else if v.abs() >= 1e15 || v.abs() < 1e-5 {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Append `s` escaped for HTML text and attribute values. Log content reaches the status page,
/// so besides markup, control characters are shown as their Unicode control pictures (an ESC
/// or a NUL must not reach the browser or a terminal someone pastes the page into).
pub fn push_html(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
            '\u{7f}' => out.push('\u{2421}'),
            '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// `s` escaped for HTML (see [`push_html`]).
pub fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    push_html(&mut o, s);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_as_prometheus_parses_them() {
        let cases = [
            (0.0, "0"),
            (3.0, "3"),
            (-2.0, "-2"),
            (0.25, "0.25"),
            (1e20, "1e20"),
            (1e-7, "1e-7"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            value(&mut s, v);
            assert_eq!(s, want, "{v}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        label_value(&mut s, "a\"b\\c\nd".as_bytes());
        assert_eq!(s, r#"a\"b\\c\nd"#);
        s.clear();
        label_value(&mut s, b"plain \xff");
        assert_eq!(s, "plain \u{fffd}");
    }

    #[test]
    fn html_escapes_markup_quotes_and_control_bytes() {
        assert_eq!(
            html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(
            html("a\u{1b}[2Jb\u{0}\u{7f}\u{9b}"),
            "a\u{241b}[2Jb\u{2400}\u{2421}\u{fffd}"
        );
    }
}
