//! `transform: level`: a level word as written (`ERROR`, `err`, `SEVERE`, `warning`, `INFO `)
//! → one of the six levels of [`crate::parse::Level`], or `other` when the value is not a level
//! word. The output set is fixed, so the label is bounded and its seven values are exported at
//! 0 from start-up.

use crate::parse::Level;

/// Every output, from the least to the most severe, then `other`.
pub const LEVEL_VALUES: &[&str] = &["trace", "debug", "info", "warn", "error", "fatal", "other"];

/// Write the normalised level of `v` into `out`.
#[inline]
pub fn level(v: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(Level::parse(v).map_or("other", Level::as_str).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: &[u8]) -> String {
        let mut out = Vec::new();
        level(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn normalises_or_says_other() {
        for (raw, want) in [
            (&b"ERROR"[..], "error"),
            (b"SEVERE", "error"),
            (b"err", "error"),
            (b"warning", "warn"),
            (b"INFO ", "info"),
            (b"notice", "info"),
            (b"crit", "fatal"),
            (b"trace5", "trace"),
            (b"FINE", "debug"),
            (b"I", "other"),
            (b"\xff\x1b[31m", "other"),
            (b"", "other"),
        ] {
            let got = run(raw);
            assert_eq!(got, want, "{}", String::from_utf8_lossy(raw));
            assert!(LEVEL_VALUES.contains(&got.as_str()));
        }
        for l in Level::ALL {
            assert!(LEVEL_VALUES.contains(&l.as_str()));
        }
    }
}
