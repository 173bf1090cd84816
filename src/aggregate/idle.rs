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
//! the cell inside the epoch pin it held when it saw the mark (its pin's SeqCst fence
//! came before its load, the sweep's clearing before the epoch scheme's fence when the
//! note is left: either the load saw the clearing, and the recorder wrote the mark
//! itself, or the scheme saw the pin and waits for it); every push destination
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

    /// Calls `f` until it holds, for at most 30 seconds: the epoch scheme is shared by
    /// the whole process, and other tests' threads pinned in it hold its advance (and so
    /// every grace period) back for as long as they run.
    fn within_a_while(mut f: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if f() {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::yield_now();
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
        // Other tests' threads may hold the epoch back a while: bounded by time.
        let removable = within_a_while(|| {
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

    /// Aggregator-level tests: removal, bound handles, the cardinality limit, and the
    /// race of recorders with removal, counted exactly.
    mod removal {
        use std::collections::HashMap;
        use std::sync::atomic::AtomicBool;
        use std::time::SystemTime;

        use opentelemetry::KeyValue;

        use super::super::*;
        use crate::aggregate::striped::SumCell;
        use crate::aggregate::{Aggregation, Aggregator, CollectedSeries, Limits, Sum};
        use crate::snapshot::{Descriptor, InstrumentKind, MetricData, Number, NumberKind};
        use crate::sync::Mutex;

        /// A counter's sum that audits removals: what each removed series holds when it
        /// is forgotten, and whether that is what the last collection read of it.
        #[derive(Default)]
        struct Audited {
            last_read: Mutex<HashMap<usize, u64>>,
            removed_total: AtomicU64,
            removed: AtomicU64,
            changed_after_last_read: AtomicU64,
        }

        struct AuditedSum(Arc<Audited>);

        impl Aggregation for AuditedSum {
            type Input = u64;
            type Cell = SumCell;
            fn new_cell(&self) -> SumCell {
                SumCell::new()
            }
            fn is_valid(&self, _: u64) -> bool {
                true
            }
            fn update(&self, cell: &SumCell, v: u64) {
                cell.add(v)
            }
            fn collect<'a>(
                &self,
                series: impl Iterator<Item = CollectedSeries<'a, SumCell>>,
            ) -> MetricData {
                let series: Vec<_> = series.collect();
                let mut last = self.0.last_read.lock();
                for s in &series {
                    last.insert(s.cell as *const SumCell as usize, s.cell.total::<u64>());
                }
                drop(last);
                Sum::<u64>::new(true).collect(series.into_iter())
            }
            fn forget(&self, cell: &SumCell) {
                let total = cell.total::<u64>();
                let key = cell as *const SumCell as usize;
                if self.0.last_read.lock().remove(&key) != Some(total) {
                    self.0
                        .changed_after_last_read
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.0.removed_total.fetch_add(total, Ordering::Relaxed);
                self.0.removed.fetch_add(1, Ordering::Relaxed);
            }
        }

        fn descriptor() -> Arc<Descriptor> {
            Arc::new(Descriptor {
                id: Descriptor::next_id(),
                name: "c".into(),
                description: "".into(),
                unit: "".into(),
                kind: InstrumentKind::Counter,
                number: NumberKind::U64,
            })
        }

        /// An idle timeout of 10 s on a clock the test moves; `push` destinations.
        fn limits(cardinality: usize, clock: &Arc<AtomicU64>, push: usize) -> Limits {
            let clock = clock.clone();
            Limits {
                cardinality,
                idle: Some(IdleSeries {
                    timeout: Duration::from_secs(10),
                    clock: IdleClock(Arc::new(move || {
                        Duration::from_secs(clock.load(Ordering::Relaxed))
                    })),
                    push_destinations: push,
                }),
            }
        }

        fn audited(
            cardinality: usize,
            clock: &Arc<AtomicU64>,
            push: usize,
        ) -> (Arc<Aggregator<AuditedSum>>, Arc<Audited>) {
            let audit = Arc::new(Audited::default());
            let aggregator = Aggregator::new(
                descriptor(),
                AuditedSum(audit.clone()),
                limits(cardinality, clock, push),
            );
            (aggregator, audit)
        }

        fn kv(i: u64) -> [KeyValue; 1] {
            [KeyValue::new("k", i as i64)]
        }

        fn points(a: &Aggregator<AuditedSum>, reader: Reader) -> Vec<(String, u64)> {
            let snapshot = a.collect(SystemTime::now(), reader);
            let mut points: Vec<(String, u64)> = snapshot
                .data
                .number_points()
                .iter()
                .map(|p| {
                    let value = match p.value {
                        Number::U64(v) => v,
                        other => panic!("{other:?}"),
                    };
                    (format!("{:?}", p.attributes), value)
                })
                .collect();
            points.sort();
            points
        }

        /// Collects until `done` holds, for at most 30 seconds (the epoch may be held
        /// back a while by other tests' threads, longest on a loaded machine).
        fn collect_until(
            a: &Aggregator<AuditedSum>,
            reader: Reader,
            done: impl Fn(&Aggregator<AuditedSum>) -> bool,
        ) -> bool {
            super::within_a_while(|| {
                a.collect(SystemTime::now(), reader);
                done(a)
            })
        }

        #[test]
        fn an_idle_series_is_removed_and_a_later_measurement_starts_it_from_zero() {
            let clock = Arc::new(AtomicU64::new(0));
            let (a, audit) = audited(100, &clock, 0);
            a.record(5, &kv(1));
            a.record(1, &kv(2));
            assert_eq!(points(&a, Reader::Other).len(), 2);
            clock.store(5, Ordering::Relaxed);
            a.record(1, &kv(2));
            a.collect(SystemTime::now(), Reader::Other);
            // Idle 10 s since the sweep that saw it: set 1 goes, set 2 stays.
            clock.store(10, Ordering::Relaxed);
            assert!(collect_until(&a, Reader::Other, |a| a.map.len() == 1));
            assert_eq!(audit.removed_total.load(Ordering::Relaxed), 5);
            assert_eq!(audit.changed_after_last_read.load(Ordering::Relaxed), 0);
            assert_eq!(points(&a, Reader::Other).len(), 1);
            a.record(2, &kv(1));
            let now = points(&a, Reader::Other);
            assert_eq!(now.len(), 2);
            assert!(now.iter().any(|(_, v)| *v == 2), "{now:?}: from zero");
        }

        #[test]
        fn a_removed_series_frees_its_place_under_the_cardinality_limit() {
            let clock = Arc::new(AtomicU64::new(0));
            let (a, _) = audited(2, &clock, 0);
            a.record(1, &kv(1));
            a.record(1, &kv(2));
            a.collect(SystemTime::now(), Reader::Other);
            clock.store(60, Ordering::Relaxed);
            assert!(collect_until(&a, Reader::Other, |a| a.map.len() == 0));
            a.record(1, &kv(3));
            a.record(1, &kv(4));
            let now = points(&a, Reader::Other);
            assert_eq!(now.len(), 2, "{now:?}: no overflow series");
            assert!(a.overflow.get().is_none());
        }

        #[test]
        fn a_bound_series_is_kept_until_its_handle_goes() {
            let clock = Arc::new(AtomicU64::new(0));
            let (a, audit) = audited(10, &clock, 0);
            let binding = a.bind(&kv(1));
            // SAFETY: the aggregator is alive.
            a.record_bound(unsafe { binding.cell() }, 3);
            a.collect(SystemTime::now(), Reader::Other);
            clock.store(60, Ordering::Relaxed);
            for _ in 0..20 {
                a.collect(SystemTime::now(), Reader::Other);
            }
            assert_eq!(a.map.len(), 1, "bound: kept");
            // SAFETY: as above; released once.
            unsafe { binding.release() };
            // The release counts as a measurement: idle from the next sweep on.
            a.collect(SystemTime::now(), Reader::Other);
            assert_eq!(a.map.len(), 1);
            clock.store(120, Ordering::Relaxed);
            assert!(collect_until(&a, Reader::Other, |a| a.map.len() == 0));
            assert_eq!(audit.removed_total.load(Ordering::Relaxed), 3);
        }

        #[test]
        fn a_series_waits_for_every_push_destination_but_not_for_scrapes() {
            let clock = Arc::new(AtomicU64::new(0));
            let (a, _) = audited(10, &clock, 2);
            a.record(1, &kv(1));
            a.collect(SystemTime::now(), Reader::Push(0));
            clock.store(60, Ordering::Relaxed);
            for _ in 0..20 {
                a.collect(SystemTime::now(), Reader::Push(0));
                a.collect(SystemTime::now(), Reader::Other);
            }
            assert_eq!(a.map.len(), 1, "destination 1 has not read it yet");
            // Both collect on (destination 0 may not have passed a grace period yet if
            // other tests held the epoch back).
            assert!(collect_until(&a, Reader::Push(1), |a| {
                a.collect(SystemTime::now(), Reader::Push(0));
                a.map.len() == 0
            }));
        }

        /// Recorders move over the sets while a collector sweeps and removes them with a
        /// clock that jumps past the timeout at every collection: every measurement is
        /// either in a series when the collection reads it for the last time before its
        /// removal, or in a series still there at the end. Under Miri (`scripts/test`)
        /// with few rounds, which checks the reclamation's memory safety too.
        #[test]
        fn measurements_racing_removal_are_all_counted_exactly() {
            const THREADS: u64 = if cfg!(miri) { 2 } else { 4 };
            let rounds: u64 = if cfg!(miri) { 60 } else { 100_000 };
            let clock = Arc::new(AtomicU64::new(0));
            let (a, audit) = audited(100_000, &clock, 1);
            let recording = Arc::new(AtomicBool::new(true));
            let collector = {
                let (a, clock, recording) = (a.clone(), clock.clone(), recording.clone());
                std::thread::spawn(move || {
                    while recording.load(Ordering::Relaxed) {
                        clock.fetch_add(10, Ordering::Relaxed);
                        a.collect(SystemTime::now(), Reader::Push(0));
                        std::thread::yield_now();
                    }
                })
            };
            let recorders: Vec<_> = (0..THREADS)
                .map(|t| {
                    let a = a.clone();
                    std::thread::spawn(move || {
                        for i in 0..rounds {
                            // Sets drift: each is busy a while, then idle for good.
                            let set = (i / 16 + t) % 64 + (i / 1024) * 64;
                            a.record(1, &kv(set));
                            if cfg!(miri) && i % 8 == 0 {
                                std::thread::yield_now();
                            }
                        }
                    })
                })
                .collect();
            for r in recorders {
                r.join().expect("no panic");
            }
            recording.store(false, Ordering::Relaxed);
            collector.join().expect("no panic");
            // What was removed before this collection, and what it reads (the series it
            // removes after reading included).
            let removed_before = audit.removed_total.load(Ordering::Relaxed);
            let live: u64 = points(&a, Reader::Push(0)).iter().map(|(_, v)| v).sum();
            assert_eq!(removed_before + live, THREADS * rounds);
            assert_eq!(
                audit.changed_after_last_read.load(Ordering::Relaxed),
                0,
                "a removed series changed after the destination's last read"
            );
            // Everything goes idle now: all removed, all counted (the overflow series,
            // if the collector fell that far behind, is never removed).
            clock.fetch_add(100, Ordering::Relaxed);
            assert!(collect_until(&a, Reader::Push(0), |a| a.map.len() == 0));
            let overflow = a.overflow.get().map_or(0, |(_, cell)| cell.total::<u64>());
            assert_eq!(
                audit.removed_total.load(Ordering::Relaxed) + overflow,
                THREADS * rounds
            );
            assert!(audit.removed.load(Ordering::Relaxed) > 0);
        }
    }
}
