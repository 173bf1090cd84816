//! Idle series: which series a collection removes, and why no measurement is lost.
//!
//! With an idle timeout, a synchronous series that nobody measured for at least that
//! long is removed: the table unlinks it, and its memory (the series, its attributes,
//! its cell with any striped slots, its exemplar reservoir) is freed once no thread can
//! still hold it. A later measurement makes a fresh series, from zero.
//!
//! Idleness is tracked at collection granularity, so the hot path reads no clock:
//! recorders *touch* the series (see `lifecycle`), and every collection of the
//! instrument runs a *sweep* under the aggregator's sweep lock:
//!
//! 1. it numbers itself (`sweep`), reads the idle clock once, and clears each touched
//!    series' mark, noting the sweep and the clock reading as its last activity;
//! 2. it leaves a note in the epoch scheme that runs once every thread pinned now has
//!    unpinned (`graced` becomes at least `sweep` then), and nudges the epoch on;
//! 3. it loads `graced`: every recorder that saw a mark cleared by a sweep up to it has
//!    finished its update, and that update is visible to this collection's reads
//!    (unpin → epoch advance → the note → this load: each a release/acquire pair);
//! 4. it reads every series. A push destination's collection then records that it read
//!    every series completely up to sweep `graced` (`complete`);
//! 5. it removes the series whose last activity is at least the timeout ago, whose last
//!    touching sweep every push destination has read completely (the smallest
//!    `complete`; with no push destination, `graced`), and whose lifecycle word goes
//!    from exactly 0 (untouched since, unbound) to retired, under the table's lock.
//!
//! The race with a recorder, case by case, for a series retired at step 5: a recorder
//! whose touch wrote the word before the retiring swap made the swap fail; one whose
//! touch came after saw `RETIRED` and looked the set up again, under the table's lock,
//! which the remover holds until the series is unlinked, so it found or made a fresh
//! series. A recorder that saw the mark already set wrote nothing: the mark it saw was
//! cleared by a sweep no later than the series' last touching sweep `t`, and it updated
//! the cell inside the epoch pin it held when it saw the mark; every push destination
//! read the series after `graced` reached `t`, so after that update. Each measurement
//! thus lands in the old series before every push destination's last read of it, or in
//! a fresh one. Scrapes and [`MeterProvider::collect`](crate::MeterProvider::collect)
//! do not hold a removal back: a series whose last measurements came after the last
//! scrape and then stayed idle for the timeout ends without the scrape having shown
//! them (a timeout of several scrape intervals makes that moot).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The clock idleness is measured on: time since a fixed origin, never decreasing.
#[derive(Clone)]
pub(crate) struct IdleClock(pub(crate) Arc<dyn Fn() -> Duration + Send + Sync>);

impl fmt::Debug for IdleClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdleClock")
    }
}

impl IdleClock {
    /// The monotonic clock, from now.
    pub(crate) fn monotonic() -> Self {
        let origin = Instant::now();
        IdleClock(Arc::new(move || origin.elapsed()))
    }
}

/// The provider's idle-series settings, shared by its synchronous instruments.
#[derive(Clone, Debug)]
pub(crate) struct IdleSeries {
    /// How long a series may go without a measurement before it is removed.
    pub(crate) timeout: Duration,
    pub(crate) clock: IdleClock,
    /// How many push destinations collect (each as `Reader::Push(i)`, `i` below it).
    pub(crate) push_destinations: usize,
}

impl IdleSeries {
    /// The clock's reading in nanoseconds (saturating).
    pub(crate) fn now(&self) -> u64 {
        u64::try_from((self.clock.0)().as_nanos()).unwrap_or(u64::MAX)
    }

    fn timeout_nanos(&self) -> u64 {
        u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Who collects: a push destination (by its number), or anyone else (a scrape, the
/// application's `collect`, custom metrics), who holds no removal back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    Push(usize),
    Other,
}

/// One instrument's sweep state, under the aggregator's sweep lock.
pub(crate) struct Sweeper {
    settings: IdleSeries,
    sweeps: u64,
    /// Set by the epoch scheme once a sweep's grace period has passed.
    graced: Arc<AtomicU64>,
    /// Per push destination: every series read completely up to this sweep.
    complete: Vec<u64>,
}

/// What one sweep decided before the values are read.
pub(crate) struct Sweep {
    /// The idle clock's reading at the sweep.
    now: u64,
    /// Series whose last touching sweep is at most this may be removed.
    removable_up_to: u64,
    timeout: u64,
}

impl Sweep {
    /// Whether a series last active at `(last_touch, last_active)` may be removed.
    pub(crate) fn is_idle(&self, (last_touch, last_active): (u64, u64)) -> bool {
        last_touch <= self.removable_up_to && self.now.saturating_sub(last_active) >= self.timeout
    }
}

impl Sweeper {
    pub(crate) fn new(settings: IdleSeries) -> Self {
        Sweeper {
            complete: vec![0; settings.push_destinations],
            settings,
            sweeps: 0,
            graced: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Steps 1–4: `clear` runs step 1's clearing on every series with the sweep's
    /// number and clock reading; returns what step 5 needs.
    pub(crate) fn sweep(&mut self, reader: Reader, clear: impl FnOnce(u64, u64)) -> Sweep {
        self.sweeps += 1;
        let sweep = self.sweeps;
        let now = self.settings.now();
        clear(sweep, now);
        let graced = self.graced.clone();
        crossbeam_epoch::pin().defer(move || graced.fetch_max(sweep, Ordering::Release));
        // The epoch moves one step per attempt when no thread holds it back; the note
        // runs two steps after it was left. Each attempt is one short pin of our own.
        for _ in 0..3 {
            crossbeam_epoch::pin().flush();
        }
        let graced = self.graced.load(Ordering::Acquire);
        if let Reader::Push(i) = reader {
            if let Some(complete) = self.complete.get_mut(i) {
                *complete = (*complete).max(graced);
            }
        }
        Sweep {
            now,
            removable_up_to: self.complete.iter().copied().min().unwrap_or(graced),
            timeout: self.settings.timeout_nanos(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(push_destinations: usize) -> IdleSeries {
        IdleSeries {
            timeout: Duration::from_nanos(10),
            clock: IdleClock(Arc::new(|| Duration::from_nanos(100))),
            push_destinations,
        }
    }

    #[test]
    fn a_series_is_removable_only_once_every_push_destination_read_it_after_its_grace() {
        let mut sweeper = Sweeper::new(settings(2));
        // Destination 0 collects; destination 1 has not yet: nothing is removable.
        let first = sweeper.sweep(Reader::Push(0), |_, _| {});
        assert!(!first.is_idle((1, 0)));
        // A scrape does not count for the destinations either.
        assert!(!sweeper.sweep(Reader::Other, |_, _| {}).is_idle((1, 0)));
        // Other tests' threads may hold the epoch back a while: bounded rounds.
        let removable = (0..1000).any(|_| {
            sweeper.sweep(Reader::Push(0), |_, _| {});
            let sweep = sweeper.sweep(Reader::Push(1), |_, _| {});
            assert!(!sweep.is_idle((1, 95)), "active 5 ns ago");
            sweep.is_idle((1, 0))
        });
        assert!(removable, "both read it after sweep 1's grace");
    }

    #[test]
    fn without_push_destinations_the_grace_period_alone_decides() {
        let mut sweeper = Sweeper::new(settings(0));
        let mut seen = 0;
        let sweep = sweeper.sweep(Reader::Other, |n, now| {
            seen = n;
            assert_eq!(now, 100);
        });
        assert_eq!(seen, 1);
        assert!(!sweep.is_idle((2, 0)), "a later sweep's touch");
    }
}
