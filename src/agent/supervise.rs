//! Source threads that survive their own failures.
//!
//! A panic in a source (a bug, or a library that panics on an I/O error it should have
//! returned) must not leave the agent counting nothing while `/healthz` says ok. The supervisor
//! catches it, counts it in `logpulse_source_restarts_total`, marks the source as not running
//! (so `/healthz` answers 503 naming it), waits with an exponential backoff and starts the
//! source again from the offsets it had applied, so no line is lost or counted twice.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::source::Stopper;
use crate::store::Series;

/// First wait after a failure; doubled on each failure in a row.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest wait between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A run this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Run state of one source, shared between its thread and the exporter.
#[derive(Debug, Default)]
pub struct SourceRun {
    running: AtomicBool,
    stop: AtomicBool,
    stopper: Mutex<Option<Stopper>>,
}

impl SourceRun {
    /// Whether the source is following its files now.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Ask the source to stop (also during a backoff); returns at once.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(s) = &*self.stopper.lock().unwrap_or_else(|e| e.into_inner()) {
            s.stop();
        }
    }

    /// Whether [`SourceRun::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Register the stopper of the tailer about to run. Returns `false` if a stop was asked
    /// meanwhile (the caller must not start it).
    pub fn set_stopper(&self, s: Stopper) -> bool {
        *self.stopper.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
        !self.stopping()
    }

    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopping() {
            let now = Instant::now();
            if now >= end {
                break;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Call `attempt` until it returns normally after a stop was asked. A panic or an `Err` (the
/// source could not be set up again) is logged, counted in `restarts`, and followed by a
/// backoff; `attempt` must then start over from the applied offsets.
pub fn supervise(
    name: &str,
    run: &SourceRun,
    restarts: &Series,
    mut attempt: impl FnMut() -> Result<(), String>,
) {
    let mut backoff = BACKOFF_MIN;
    while !run.stopping() {
        run.running.store(true, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(&mut attempt));
        run.running.store(false, Ordering::Relaxed);
        if run.stopping() {
            break;
        }
        let why = match &outcome {
            Ok(Ok(())) => "stopped without being asked to".to_string(),
            Ok(Err(e)) => e.clone(),
            Err(p) => format!("panicked: {}", panic_message(p.as_ref())),
        };
        if started.elapsed() >= HEALTHY_RUN {
            backoff = BACKOFF_MIN;
        }
        restarts.add(1.0);
        tracing::error!(
            source = %name,
            "source {why}; restarting from its checkpointed offsets in {backoff:?} (counted in logpulse_source_restarts_total)"
        );
        run.sleep(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Desc, Kind, Store};
    use std::sync::Arc;

    fn counter() -> Arc<Series> {
        let store = Store::new();
        let desc = Desc {
            name: "restarts_total".into(),
            help: "h".into(),
            kind: Kind::Counter,
            labels: vec![],
            buckets: vec![],
        };
        store.register(desc, 1).expect("register").declare(&[])
    }

    #[test]
    fn a_panicking_source_is_restarted_and_counted() {
        let run = SourceRun::default();
        let restarts = counter();
        let mut calls = 0;
        supervise("web", &run, &restarts, || {
            calls += 1;
            match calls {
                1 => panic!("boom"),
                2 => Err("cannot reopen".into()),
                _ => {
                    assert!(run.is_running(), "running while the attempt runs");
                    run.stop();
                    Ok(())
                }
            }
        });
        assert_eq!(calls, 3);
        assert_eq!(restarts.scalar(), 2.0);
        assert!(!run.is_running());
    }

    #[test]
    fn stop_during_backoff_returns_promptly() {
        let run = Arc::new(SourceRun::default());
        let restarts = counter();
        let r = run.clone();
        let t = std::thread::spawn(move || {
            supervise("web", &r, &restarts, || Err("always failing".into()));
        });
        std::thread::sleep(Duration::from_millis(100));
        run.stop();
        t.join().expect("supervisor returns");
        assert!(!run.is_running());
    }
}
