//! The agent's own log output: a writer for `tracing-subscriber` that can neither panic nor block.
//!
//! stderr is often a pipe (journald, a container runtime, `| logger`). When its reader goes away
//! a plain `eprintln!` panics ("failed printing to stderr") and a stuck reader blocks every
//! thread that logs — sources included. Here a log event is copied into a bounded queue with
//! `try_send`; one thread drains the queue into stderr and ignores write errors. When the queue
//! is full (stderr stuck) or stderr is gone, events are dropped and counted in
//! [`LogStats::dropped`], which the agent exports as `logpulse_log_messages_dropped_total`.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// Events waiting for stderr before new ones are dropped.
const QUEUE: usize = 1024;

/// Counters of the log writer, shared with whoever exports them.
#[derive(Debug, Default)]
pub struct LogStats {
    dropped: AtomicU64,
    /// Events queued and not yet written (or dropped) by the writer thread.
    pending: AtomicU64,
}

impl LogStats {
    /// Log events dropped because stderr was full, stuck or closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// `MakeWriter` for `tracing-subscriber`: one queued message per event.
#[derive(Clone)]
pub struct NonBlockingStderr {
    tx: SyncSender<Vec<u8>>,
    stats: Arc<LogStats>,
}

impl NonBlockingStderr {
    /// Start the thread that writes to stderr. If it cannot be spawned, events are dropped and
    /// counted (the agent still runs: its metrics matter more than its logs).
    pub fn new() -> NonBlockingStderr {
        Self::with_output(io::stderr())
    }

    /// As [`NonBlockingStderr::new`], writing to `out` (tests).
    pub fn with_output(out: impl Write + Send + 'static) -> NonBlockingStderr {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let stats = Arc::new(LogStats::default());
        let s = stats.clone();
        // If the thread cannot start, the receiver goes with the closure: every send then
        // fails and is counted.
        let _ = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || drain(rx, out, &s));
        NonBlockingStderr { tx, stats }
    }

    /// Wait (at most `limit`) until the queued events are written: before exiting, so the last
    /// messages are not lost with the process.
    pub fn flush(&self, limit: std::time::Duration) {
        let end = std::time::Instant::now() + limit;
        while self.stats.pending.load(Ordering::Acquire) > 0 && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// The counters, for export.
    pub fn stats(&self) -> Arc<LogStats> {
        self.stats.clone()
    }
}

impl Default for NonBlockingStderr {
    fn default() -> Self {
        Self::new()
    }
}

fn drain(rx: Receiver<Vec<u8>>, mut out: impl Write, stats: &LogStats) {
    for msg in rx {
        // EPIPE, EIO, ENOSPC: nothing useful to do but count; keep draining so senders never
        // see a full queue because of a dead reader.
        if out.write_all(&msg).and_then(|()| out.flush()).is_err() {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        stats.pending.fetch_sub(1, Ordering::Release);
    }
}

/// One event's writer; tracing-subscriber formats the event into one `write_all`.
pub struct EventWriter<'a> {
    sink: &'a NonBlockingStderr,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let stats = &self.sink.stats;
        stats.pending.fetch_add(1, Ordering::Acquire);
        match self.sink.tx.try_send(buf.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                stats.pending.fetch_sub(1, Ordering::Release);
                stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Always "written": an error here would make tracing-subscriber print to stderr itself.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for NonBlockingStderr {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { sink: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    use tracing_subscriber::fmt::MakeWriter;

    struct Failing;
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn wait_until(mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < end, "condition not reached");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn broken_output_is_counted_not_panicked() {
        let w = NonBlockingStderr::with_output(Failing);
        for _ in 0..3 {
            w.make_writer().write_all(b"line\n").expect("never fails");
        }
        let stats = w.stats();
        wait_until(|| stats.dropped() == 3);
    }

    /// An output that blocks until released: the queue fills, then events are dropped at
    /// once instead of blocking the caller.
    struct Stuck(Arc<Mutex<()>>);
    impl Write for Stuck {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            drop(self.0.lock());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stuck_output_drops_instead_of_blocking() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().expect("lock");
        let w = NonBlockingStderr::with_output(Stuck(gate.clone()));
        let n = QUEUE as u64 + 100;
        for _ in 0..n {
            w.make_writer().write_all(b"x\n").expect("never fails");
        }
        // One event may sit in the writer thread (blocked) on top of a full queue.
        assert!(w.stats().dropped() >= 99, "dropped {}", w.stats().dropped());
        drop(held);
    }
}
