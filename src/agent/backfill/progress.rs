//! What `backfill` shows: a progress line on a terminal (a few times a second, nothing when
//! stderr is not a terminal) and a one-line summary at the end.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use super::{Progress, Summary};
use crate::parse::time::format_utc;

/// A progress line redrawn in place on stderr, when stderr is a terminal.
pub struct Line {
    tty: bool,
    drawn: bool,
}

impl Line {
    /// Draws on stderr if it is a terminal; does nothing otherwise.
    pub fn stderr() -> Line {
        Line {
            tty: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Redraw with `p`.
    pub fn show(&mut self, p: &Progress) {
        if self.tty {
            // Errors writing a progress line are not worth stopping for.
            let _ = write!(std::io::stderr(), "\r{}\x1b[K", render(p));
            self.drawn = true;
        }
    }

    /// Remove the line (before the summary).
    pub fn clear(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}

/// `1.23M` style counts.
fn si(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2}G", n / 1e9),
        n if n >= 1e6 => format!("{:.2}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-3)
}

/// The progress line: files, lines, bytes read of the total, rate, log time reached.
pub fn render(p: &Progress) -> String {
    let pct = if p.total_bytes > 0 {
        100.0 * p.read_bytes as f64 / p.total_bytes as f64
    } else {
        100.0
    };
    format!(
        "backfill: file {}/{}, {} lines, {}B of {}B ({pct:.0}%), {} lines/s, at {}",
        (p.files_done + 1).min(p.files),
        p.files,
        si(p.lines as f64),
        si(p.read_bytes as f64),
        si(p.total_bytes as f64),
        si(per_sec(p.lines, p.elapsed)),
        p.reached.map_or_else(|| "-".into(), format_utc)
    )
}

/// The one-line summary.
pub fn summary(s: &Summary, out: &Path, took: Duration) -> String {
    let range = match (s.first, s.last) {
        (Some(a), Some(b)) => format!("{} .. {}", format_utc(a), format_utc(b)),
        _ => nothing_placed(s),
    };
    let gaps = if s.gaps > 0 {
        format!(
            "; {} stretch{} without lines longer than --max-gap skipped",
            s.gaps,
            if s.gaps == 1 { "" } else { "es" }
        )
    } else {
        String::new()
    };
    let failed = if s.failed.is_empty() {
        String::new()
    } else {
        format!(
            "; {} of {} files not read to their end",
            s.failed.len(),
            s.files
        )
    };
    format!(
        "backfill: {} lines from {} files in {:.1}s ({} lines/s), {range}; {} placed ({} late, \
         at their own step); dropped {} (too_old {}, no_time {}, future {}); {} parse errors, \
         {} lines cut{gaps}; {} samples written to {}{failed}",
        s.lines,
        s.files,
        took.as_secs_f64(),
        si(per_sec(s.lines, took)),
        s.placed,
        s.late,
        s.too_old + s.no_time + s.future,
        s.too_old,
        s.no_time,
        s.future,
        s.parse_errors,
        s.too_long,
        s.samples,
        out.display()
    )
}

/// Why no line was placed, from what happened to the lines.
fn nothing_placed(s: &Summary) -> String {
    if s.lines == 0 {
        return "no lines".into();
    }
    let records = s.future + s.no_time + s.parse_errors + s.too_old;
    if s.future > 0 && s.future == records {
        return format!(
            "no line placed: every line's time is more than a day after this machine's clock \
             ({} future; check the clock, or the source's time.zone)",
            s.future
        );
    }
    if s.parse_errors > 0 && s.parse_errors == records {
        return "no line placed: no line parsed (check the source's format)".into();
    }
    let mut why = Vec::new();
    for (n, what) in [
        (s.future, "more than a day in the future"),
        (s.no_time, "without a usable time"),
        (s.parse_errors, "not parsed"),
    ] {
        if n > 0 {
            why.push(format!("{n} {what}"));
        }
    }
    format!("no line placed ({})", why.join(", "))
}

/// What to print before the summary: a line per file not read to its end or worth a warning.
pub fn issues(s: &Summary) -> Vec<String> {
    let line = |kind: &str, i: &super::FileIssue| {
        format!("backfill: {kind}: {}: {}", i.path.display(), i.message)
    };
    s.failed
        .iter()
        .map(|i| line("error", i))
        .chain(s.warnings.iter().map(|i| line("warning", i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_well() {
        let p = Progress {
            files_done: 1,
            files: 3,
            lines: 2_500_000,
            read_bytes: 50_000_000,
            total_bytes: 200_000_000,
            reached: Some(1_795_741_200_000),
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(
            render(&p),
            "backfill: file 2/3, 2.50M lines, 50.00MB of 200.00MB (25%), 1.25M lines/s, at 2026-11-27T01:00:00Z"
        );
        let s = Summary {
            lines: 10,
            placed: 7,
            late: 1,
            too_old: 1,
            no_time: 1,
            parse_errors: 1,
            files: 2,
            first: Some(0),
            last: Some(15_000),
            samples: 40,
            ..Summary::default()
        };
        assert_eq!(
            summary(&s, Path::new("out.om"), Duration::from_secs(1)),
            "backfill: 10 lines from 2 files in 1.0s (10 lines/s), 1970-01-01T00:00:00Z .. \
             1970-01-01T00:00:15Z; 7 placed (1 late, at their own step); dropped 2 (too_old 1, \
             no_time 1, future 0); 1 parse errors, 0 lines cut; 40 samples written to out.om"
        );
    }
}
