//! Zero first: every counter and histogram series is shown to scrapers at 0 before its value.
//!
//! Prometheus takes a counter's first sample as its baseline: a series that first appears with
//! value N loses those N in `increase()` and `rate()`, whatever the range (a tenant, a status or
//! a route seen for the first time, every series after an agent restart). So a series reaches
//! a scraper in three steps, kept in one atomic per series and moved only when a scraper's
//! exposition is rendered (nothing per line):
//!
//! 1. never shown: the next scrape render shows it at 0 and notes when;
//! 2. shown at 0 since `t`: renders keep showing 0 until `hold` has passed since `t`, so that
//!    every Prometheus scraping at that interval (two replicas of an HA pair, at any phase)
//!    stores a 0 first;
//! 3. revealed: its value from then on.
//!
//! Gauges are always shown as they are. Renders for people (curl, a browser) and `replay` show
//! values as they are and move nothing. The very first scrape of an agent that never saved a
//! checkpoint reveals everything instead ([`Store::reveal_all`]): history read at a first start
//! is Prometheus' baseline, not traffic of that moment. A series not revealed has increments Prometheus has not
//! seen; [`super::pending`] saves them with the checkpoint so that a restart does not lose them.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

use super::series::Series;
use super::{Family, Kind, Store};

/// The state of a series revealed to scrapers.
pub(super) const REVEALED: u64 = u64::MAX;
/// The state of a series never shown to a scraper.
pub(super) const NEVER: u64 = 0;

/// Milliseconds on a monotonic clock (never 0 or [`REVEALED`]): holds are not moved by changes
/// of the wall clock.
pub fn mono_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let e = EPOCH.get_or_init(Instant::now);
    (e.elapsed().as_millis() as u64).saturating_add(1)
}

impl Kind {
    /// Shown at 0 first: counters and histograms (their samples only grow); not gauges.
    pub fn zero_first(self) -> bool {
        matches!(self, Kind::Counter | Kind::Histogram)
    }
}

impl Series {
    /// Revealed to scrapers: a scrape shows its value (for a counter or histogram; gauges are
    /// always shown as they are).
    #[inline]
    pub fn revealed(&self) -> bool {
        self.shown.load(Ordering::Relaxed) == REVEALED
    }

    /// A scraper's render at `now` (see [`mono_ms`]): step the series on (see the module doc).
    fn step(&self, now: u64, hold_ms: u64) {
        match self.shown.load(Ordering::Relaxed) {
            REVEALED => {}
            NEVER => self.shown.store(now, Ordering::Relaxed),
            since if now.saturating_sub(since) >= hold_ms => {
                self.shown.store(REVEALED, Ordering::Relaxed)
            }
            _ => {}
        }
    }
}

impl Family {
    /// Whether scrapers see series `s` at its value (else at 0).
    #[inline]
    pub fn shows_value(&self, s: &Series) -> bool {
        !self.desc().kind.zero_first() || s.revealed()
    }

    /// Before a scraper's render at `now`: series never shown will be shown at 0 from now on,
    /// series shown at 0 for `hold_ms` or more are revealed.
    pub fn step_holds(&self, now: u64, hold_ms: u64) {
        if self.desc().kind.zero_first() {
            self.for_each(|s| s.step(now, hold_ms));
        }
    }
}

impl Store {
    /// [`Family::step_holds`] for every family.
    pub fn step_holds(&self, now: u64, hold_ms: u64) {
        for f in self.families() {
            f.step_holds(now, hold_ms);
        }
    }

    /// Reveal every series now: the first scrape of an agent that has never saved a checkpoint
    /// is Prometheus' baseline, so a log read from its beginning at the first start is not
    /// counted as traffic of that moment. Series born later start at 0 as usual.
    pub fn reveal_all(&self) {
        for f in self.families() {
            f.for_each(|s| s.shown.store(REVEALED, Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{push_label, Desc, Label};
    use super::*;

    fn family(store: &Store, name: &str, kind: Kind) -> std::sync::Arc<Family> {
        store
            .register(
                Desc {
                    name: name.into(),
                    help: "h".into(),
                    kind,
                    labels: vec![Label::unbounded("a")],
                    buckets: vec![],
                },
                10,
            )
            .unwrap()
    }

    fn key(v: &str) -> Vec<u8> {
        let mut k = Vec::new();
        push_label(&mut k, v.as_bytes());
        k
    }

    #[test]
    fn a_counter_is_shown_at_zero_for_the_hold_then_revealed() {
        let store = Store::new();
        let c = family(&store, "c_total", Kind::Counter);
        let g = family(&store, "g", Kind::Gauge);
        let s = c.declare(&key("x"));
        let gs = g.declare(&key("x"));
        s.add(3.0);
        gs.set(3.0);
        assert!(!c.shows_value(&s) && g.shows_value(&gs));
        store.step_holds(1_000, 500);
        assert!(!c.shows_value(&s), "first render: at 0");
        store.step_holds(1_499, 500);
        assert!(!c.shows_value(&s), "still within the hold");
        store.step_holds(1_500, 500);
        assert!(c.shows_value(&s), "revealed once the hold has passed");
        store.step_holds(9_000, 500);
        assert!(c.shows_value(&s), "stays revealed");
        // A series born later starts over; a hold of 0 still takes one render at 0.
        let t = c.declare(&key("y"));
        store.step_holds(10_000, 0);
        assert!(!c.shows_value(&t) && c.shows_value(&s));
        store.step_holds(10_000, 0);
        assert!(c.shows_value(&t));
        // A first run's first scrape is the baseline: everything revealed, later series held.
        store.reveal_all();
        let u = c.declare(&key("z"));
        assert!(c.shows_value(&t) && !c.shows_value(&u));
    }
}
