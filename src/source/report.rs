//! Problems with paths, reported to the sink once per change of state (not on every look).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{TailEvent, TailSink};

/// What went wrong with a path. Each is reported once per change of state on its own, so two
/// problems of one path (a directory that can be neither listed nor watched) do not take turns
/// being "new" at every look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A directory cannot be listed.
    List,
    /// A directory cannot be watched (it is polled).
    Watch,
    /// A file cannot be opened.
    Open,
    /// A file cannot be read.
    Read,
    /// A literal path does not exist (yet).
    Missing,
    /// File events are unavailable.
    Events,
}

const PROBLEMS: usize = 6;

/// The problems raised by a scan, cleared when a scan no longer sees them.
pub(crate) const SCAN_PROBLEMS: &[Problem] = &[
    Problem::List,
    Problem::Open,
    Problem::Read,
    Problem::Missing,
];

/// The last message reported per path and problem; reported again only when the message
/// changes or after it was cleared (the problem went away).
#[derive(Default)]
pub(crate) struct ErrorLog {
    current: HashMap<PathBuf, [Option<String>; PROBLEMS]>,
}

impl ErrorLog {
    /// Record `message`; true if it is new for this path and problem.
    fn set(&mut self, path: &Path, problem: Problem, message: &str) -> bool {
        let slot = match self.current.get_mut(path) {
            Some(slots) => &mut slots[problem as usize],
            None => {
                let slots = self.current.entry(path.to_path_buf()).or_default();
                &mut slots[problem as usize]
            }
        };
        if slot.as_deref() == Some(message) {
            return false;
        }
        *slot = Some(message.to_string());
        true
    }

    /// Report a problem once per change of state; the sink logs and counts it.
    pub(crate) fn report(
        &mut self,
        sink: &mut dyn TailSink,
        path: &Path,
        problem: Problem,
        message: String,
    ) {
        if self.set(path, problem, &message) {
            sink.event(TailEvent::Error {
                path: path.to_path_buf(),
                message,
            });
        }
    }

    /// Report a literal path that does not exist (yet): expected, not an error.
    pub(crate) fn missing(&mut self, sink: &mut dyn TailSink, path: &Path) {
        let message = format!(
            "{} does not exist (waiting for it to appear)",
            path.display()
        );
        if self.set(path, Problem::Missing, &message) {
            sink.event(TailEvent::Missing {
                path: path.to_path_buf(),
            });
        }
    }

    /// These problems of `path` are gone: the next ones are reported again.
    pub(crate) fn clear(&mut self, path: &Path, problems: &[Problem]) {
        if let Some(slots) = self.current.get_mut(path) {
            for p in problems {
                slots[*p as usize] = None;
            }
            if slots.iter().all(Option::is_none) {
                self.current.remove(path);
            }
        }
    }

    /// Is any problem currently recorded for `path`?
    pub(crate) fn has(&self, path: &Path) -> bool {
        self.current.contains_key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileInfo;

    #[derive(Default)]
    struct Events(Vec<TailEvent>);
    impl TailSink for Events {
        fn batch(&mut self, _: &FileInfo, _: u64, _: &[u8]) {}
        fn event(&mut self, e: TailEvent) {
            self.0.push(e);
        }
    }

    #[test]
    fn once_per_state_change() {
        let mut log = ErrorLog::default();
        let mut sink = Events::default();
        let p = Path::new("/var/log/x");
        log.report(&mut sink, p, Problem::Read, "denied".into());
        log.report(&mut sink, p, Problem::Read, "denied".into());
        assert_eq!(sink.0.len(), 1);
        log.report(&mut sink, p, Problem::Read, "I/O error".into());
        assert_eq!(sink.0.len(), 2);
        log.clear(p, &[Problem::Read]);
        assert!(!log.has(p));
        log.report(&mut sink, p, Problem::Read, "I/O error".into());
        assert_eq!(sink.0.len(), 3);
        log.missing(&mut sink, p);
        log.missing(&mut sink, p);
        assert_eq!(sink.0.len(), 4);
        assert!(matches!(sink.0[3], TailEvent::Missing { .. }));
    }

    #[test]
    fn two_problems_of_one_path_do_not_take_turns() {
        let mut log = ErrorLog::default();
        let mut sink = Events::default();
        let d = Path::new("/var/log/app");
        for _ in 0..10 {
            log.report(&mut sink, d, Problem::List, "cannot list".into());
            log.report(&mut sink, d, Problem::Watch, "cannot watch".into());
        }
        assert_eq!(sink.0.len(), 2);
        log.clear(d, &[Problem::Watch]);
        assert!(log.has(d), "still unlistable");
        log.clear(d, SCAN_PROBLEMS);
        assert!(!log.has(d));
    }
}
