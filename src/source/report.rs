//! Problems with paths, reported to the sink once per change of state (not on every look).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{TailEvent, TailSink};

/// The last message reported per path; a path is reported again only when its message changes
/// or after it was cleared (the problem went away).
#[derive(Default)]
pub(crate) struct ErrorLog {
    current: HashMap<PathBuf, String>,
}

impl ErrorLog {
    /// Report a problem once per change of state; the sink logs and counts it.
    pub(crate) fn report(&mut self, sink: &mut dyn TailSink, path: &Path, message: String) {
        if self.current.get(path) == Some(&message) {
            return;
        }
        self.current.insert(path.to_path_buf(), message.clone());
        sink.event(TailEvent::Error {
            path: path.to_path_buf(),
            message,
        });
    }

    /// Report a literal path that does not exist (yet): expected, not an error.
    pub(crate) fn missing(&mut self, sink: &mut dyn TailSink, path: &Path) {
        let message = format!(
            "{} does not exist (waiting for it to appear)",
            path.display()
        );
        if self.current.get(path) == Some(&message) {
            return;
        }
        self.current.insert(path.to_path_buf(), message);
        sink.event(TailEvent::Missing {
            path: path.to_path_buf(),
        });
    }

    /// The problem at `path` is gone: the next one is reported again.
    pub(crate) fn clear(&mut self, path: &Path) {
        self.current.remove(path);
    }

    /// Is a problem currently recorded for `path`?
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
        log.report(&mut sink, p, "denied".into());
        log.report(&mut sink, p, "denied".into());
        assert_eq!(sink.0.len(), 1);
        log.report(&mut sink, p, "I/O error".into());
        assert_eq!(sink.0.len(), 2);
        log.clear(p);
        assert!(!log.has(p));
        log.report(&mut sink, p, "I/O error".into());
        assert_eq!(sink.0.len(), 3);
        log.missing(&mut sink, p);
        log.missing(&mut sink, p);
        assert_eq!(sink.0.len(), 4);
        assert!(matches!(sink.0[3], TailEvent::Missing { .. }));
    }
}
