//! Log levels normalised to a fixed set of six, so that a `level` label stays bounded and can be
//! exported at 0 for every value ([`Level::ALL`]).
//!
//! | level | written as (any case) |
//! |---|---|
//! | `trace` | `trace`, `trace1`…`trace8` (Apache), `finest`, `finer` (java.util.logging), `verbose` |
//! | `debug` | `debug`, `dbg`, `fine` |
//! | `info` | `info`, `inf`, `information`, `informational`, `notice`, `config` |
//! | `warn` | `warn`, `warning`, `wrn` |
//! | `error` | `error`, `err`, `eror`, `severe` |
//! | `fatal` | `fatal`, `crit`, `critical`, `alert`, `emerg`, `emergency`, `panic` |
//!
//! Surrounding spaces are ignored (`%-5p` pads `INFO `). Anything else is `None`: the caller
//! decides how to count it (the level is never guessed).

/// One of the six normalised levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Debugging.
    Debug,
    /// Normal operation (syslog `notice` and `info`).
    Info,
    /// Something unexpected that was handled.
    Warn,
    /// An operation failed.
    Error,
    /// The process or system is unusable (syslog `crit`, `alert`, `emerg`).
    Fatal,
}

impl Level {
    /// Every level, from the least to the most severe.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// The label value: `trace`, `debug`, `info`, `warn`, `error` or `fatal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Normalise a level as written in a log line; `None` when it is not a level word.
    pub fn parse(raw: &[u8]) -> Option<Level> {
        let raw = raw.trim_ascii();
        // The longest word in the table is `informational`.
        if raw.len() > 13 {
            return None;
        }
        let mut buf = [0u8; 13];
        let w = buf.get_mut(..raw.len())?;
        w.copy_from_slice(raw);
        w.make_ascii_lowercase();
        Some(match &*w {
            b"trace" | b"finest" | b"finer" | b"verbose" => Level::Trace,
            [b't', b'r', b'a', b'c', b'e', b'1'..=b'8'] => Level::Trace,
            b"debug" | b"dbg" | b"fine" => Level::Debug,
            b"info" | b"inf" | b"information" | b"informational" | b"notice" | b"config" => {
                Level::Info
            }
            b"warn" | b"warning" | b"wrn" => Level::Warn,
            b"error" | b"err" | b"eror" | b"severe" => Level::Error,
            b"fatal" | b"crit" | b"critical" | b"alert" | b"emerg" | b"emergency" | b"panic" => {
                Level::Fatal
            }
            _ => return None,
        })
    }

    /// The words written for this level (lower case; `trace1`…`trace8` are `trace[1-8]` in
    /// [`Level::regex`]), as [`Level::parse`] reads them.
    pub fn words(self) -> &'static [&'static str] {
        match self {
            Level::Trace => &["trace", "finest", "finer", "verbose"],
            Level::Debug => &["debug", "dbg", "fine"],
            Level::Info => &[
                "info",
                "inf",
                "information",
                "informational",
                "notice",
                "config",
            ],
            Level::Warn => &["warn", "warning", "wrn"],
            Level::Error => &["error", "err", "eror", "severe"],
            Level::Fatal => &[
                "fatal",
                "crit",
                "critical",
                "alert",
                "emerg",
                "emergency",
                "panic",
            ],
        }
    }

    /// A regex matching exactly what [`Level::parse`] reads as one of `levels` (any case,
    /// surrounding spaces): for a `match:` condition on a raw level field, so that "an error
    /// record" means the same in a condition as in a `transform: level` label.
    pub fn regex(levels: &[Level]) -> String {
        let mut alts: Vec<&str> = levels
            .iter()
            .flat_map(|l| l.words().iter().copied())
            .collect();
        if levels.contains(&Level::Trace) {
            alts.push("trace[1-8]");
        }
        format!(r"(?i)^[\t\n\x0C\r ]*(?:{})[\t\n\x0C\r ]*$", alts.join("|"))
    }

    /// The level of a syslog severity (the low 3 bits of `<PRI>`): 0–2 fatal, 3 error, 4 warn,
    /// 5–6 info, 7 debug.
    pub fn from_syslog_severity(sev: u8) -> Level {
        match sev & 7 {
            0..=2 => Level::Fatal,
            3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            _ => Level::Debug,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_every_spelling() {
        let cases: &[(&[u8], Level)] = &[
            (b"WARN", Level::Warn),
            (b"WARNING", Level::Warn),
            (b"warn", Level::Warn),
            (b"Warning", Level::Warn),
            (b"ERR", Level::Error),
            (b"ERROR", Level::Error),
            (b"SEVERE", Level::Error),
            (b"err", Level::Error),
            (b"FATAL", Level::Fatal),
            (b"CRIT", Level::Fatal),
            (b"crit", Level::Fatal),
            (b"ALERT", Level::Fatal),
            (b"EMERG", Level::Fatal),
            (b"notice", Level::Info),
            (b"INFO ", Level::Info),
            (b" DEBUG", Level::Debug),
            (b"FINE", Level::Debug),
            (b"FINEST", Level::Trace),
            (b"trace3", Level::Trace),
            (b"informational", Level::Info),
        ];
        for (raw, want) in cases {
            assert_eq!(
                Level::parse(raw),
                Some(*want),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        for junk in [
            &b""[..],
            b"trace9",
            b"ERRORS",
            b"informationally",
            b"\xff",
            b"I",
            b"warn ing",
        ] {
            assert_eq!(
                Level::parse(junk),
                None,
                "{}",
                String::from_utf8_lossy(junk)
            );
        }
    }

    #[test]
    fn words_and_regex_agree_with_parse() {
        for l in Level::ALL {
            for w in l.words() {
                assert_eq!(Level::parse(w.as_bytes()), Some(l), "{w}");
                assert_eq!(Level::parse(w.to_uppercase().as_bytes()), Some(l), "{w}");
            }
        }
        let inputs = [
            "ERROR", " err ", "Severe", "FATAL", "crit", "WARN", "trace3", "trace9", "info",
            "ERRORS", "", "e", "warn ing", "fatal\n", "\tEMERG",
        ];
        for set in [
            &[Level::Error, Level::Fatal][..],
            &Level::ALL,
            &[Level::Trace],
        ] {
            let re = regex::Regex::new(&Level::regex(set)).unwrap();
            for i in inputs {
                let want = Level::parse(i.as_bytes()).is_some_and(|l| set.contains(&l));
                assert_eq!(re.is_match(i), want, "{i:?} in {set:?}");
            }
        }
    }

    #[test]
    fn syslog_severities() {
        let got: Vec<&str> = (0..8)
            .map(|s| Level::from_syslog_severity(s).as_str())
            .collect();
        assert_eq!(
            got,
            ["fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug"]
        );
        assert_eq!(Level::ALL.map(Level::as_str).len(), 6);
    }
}
