//! Aggregation: one series per attribute set, each holding an atomic cell.
//!
//! [`Aggregator`] is the state behind one synchronous instrument: the series table,
//! the cardinality limit with its overflow series, and the count of rejected
//! measurements. The kind of aggregation (sum, last value, histogram) is a type
//! parameter, so the recording path is monomorphised and inlined.
//!
//! A lookup goes `recent` (the series this thread keeps finding) → `table` (the index,
//! with `attrs` hashing and comparing sets exactly); a sum's cell is `striped`, which
//! spreads over per-thread slots once threads collide on it. With an idle timeout,
//! `lifecycle` is each series' touched/bound/retired word and `idle` the collection's
//! sweep that removes idle series without losing a measurement.

mod attrs;
pub(crate) mod exemplar_sampling;
pub(crate) mod exponential;
pub(crate) mod histogram;
pub(crate) mod idle;
pub(crate) mod key_filter;
mod last_value;
mod lifecycle;
pub(crate) mod number;
mod observe;
mod recent;
mod striped;
mod sum;
mod table;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::SystemTime;

use opentelemetry::KeyValue;

pub(crate) use histogram::Histogram;
pub(crate) use last_value::LastValue;
pub(crate) use observe::{in_callback, ObservableAggregator, ObservedPoints};
pub(crate) use sum::Sum;

use crate::snapshot::{canonicalize, Attributes, Descriptor, MetricData, MetricSnapshot};
use crate::sync::Mutex;
use idle::{IdleSeries, Reader, Sweeper};
use key_filter::{Kept, KeyFilter};
use lifecycle::Life;
use table::{Pin, Series, SeriesMap};

/// The attribute that marks the overflow series.
pub(crate) const OVERFLOW_KEY: &str = "otel.metric.overflow";

/// How measurements of one instrument combine.
pub(crate) trait Aggregation: Send + Sync + 'static {
    /// The measurement type.
    type Input: number::Num;
    /// Per-series state, updated with atomics.
    type Cell: Send + Sync;

    fn new_cell(&self) -> Self::Cell;
    /// Whether a measurement is acceptable (finite, non-negative for counters).
    fn is_valid(&self, v: Self::Input) -> bool;
    fn update(&self, cell: &Self::Cell, v: Self::Input);
    /// `update` for a bound handle, where a cell may choose a cheaper atomic.
    #[inline]
    fn update_bound(&self, cell: &Self::Cell, v: Self::Input) {
        self.update(cell, v)
    }
    fn collect<'a>(
        &self,
        series: impl Iterator<Item = CollectedSeries<'a, Self::Cell>>,
    ) -> MetricData;
    /// Drops what the aggregation keeps about a cell outside it (an exemplar
    /// reservoir): the cell's series is removed.
    fn forget(&self, _cell: &Self::Cell) {}
}

/// One series as a collection reads it.
pub(crate) struct CollectedSeries<'a, C> {
    pub(crate) attributes: Attributes,
    /// When the series started counting: the start of its cumulative interval.
    pub(crate) start_time: SystemTime,
    pub(crate) cell: &'a C,
}

#[cfg(test)]
impl<'a, C> CollectedSeries<'a, C> {
    /// A series without attributes that started at the epoch.
    pub(crate) fn bare(cell: &'a C) -> Self {
        CollectedSeries {
            attributes: Attributes::default(),
            start_time: SystemTime::UNIX_EPOCH,
            cell,
        }
    }
}

/// The default cardinality limit: distinct attribute sets per instrument before the
/// overflow series takes new ones.
pub(crate) const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// Settings of one instrument's aggregator (the provider's, or a view's own).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Most distinct attribute sets one instrument keeps series for (the specification's
    /// cardinality limit): the set past it goes to the overflow series, so an instrument
    /// exports at most `cardinality + 1` points.
    pub(crate) cardinality: usize,
    /// Set: synchronous series idle that long are removed (see [`idle`]).
    pub(crate) idle: Option<IdleSeries>,
}

/// Warns once per instrument and counts every occurrence.
#[derive(Default)]
pub(crate) struct Rejections {
    count: AtomicU64,
    warned: AtomicBool,
}

impl Rejections {
    #[cold]
    pub(crate) fn reject(&self, instrument: &str, what: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                instrument,
                "dropped a measurement: {what}; further ones on this instrument are counted \
                 in the snapshot's rejected_measurements without a warning"
            );
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// The state behind one synchronous instrument.
pub(crate) struct Aggregator<A: Aggregation> {
    active: AtomicBool,
    aggregation: A,
    map: SeriesMap<A::Cell>,
    overflow: OnceLock<(Arc<[KeyValue]>, A::Cell)>,
    limit: usize,
    /// A view's attribute-key filter; `None` keeps every attribute.
    keys: Option<KeyFilter>,
    overflow_warned: AtomicBool,
    rejected: Rejections,
    pub(crate) descriptor: Arc<Descriptor>,
    start_time: SystemTime,
    /// With an idle timeout: the sweep state; collections of this instrument run one
    /// at a time under it.
    sweeper: Option<Mutex<Sweeper>>,
    /// Lets `bind` hand out handles that keep this aggregator alive.
    this: Weak<Self>,
}

/// Where a measurement goes: a series of the table, or the overflow cell.
enum Target<'p, C> {
    Series(&'p Series<C>),
    Overflow(&'p C),
}

/// A bound handle's hold on its series: the cell, and the series' lifecycle word,
/// whose bound count keeps it from being removed until [`release`](Self::release).
pub(crate) struct Binding<C> {
    cell: NonNull<C>,
    /// `None` for the overflow cell, which is never removed.
    life: Option<NonNull<Life>>,
}

impl<C> Binding<C> {
    /// The bound cell.
    ///
    /// # Safety
    /// The aggregator that made the binding must be alive.
    #[inline]
    pub(crate) unsafe fn cell(&self) -> &C {
        // SAFETY: the cell is in the overflow slot or in a series whose bound count
        // this binding holds, so it is not removed; the caller keeps the aggregator
        // (and so the table) alive.
        unsafe { self.cell.as_ref() }
    }

    /// Lets the series go (it counts as measured now).
    ///
    /// # Safety
    /// As for [`cell`](Self::cell); called once.
    pub(crate) unsafe fn release(&self) {
        if let Some(life) = self.life {
            // SAFETY: as in `cell`: the series lives while its bound count is held.
            unsafe { life.as_ref() }.unbind();
        }
    }
}

impl<A: Aggregation> Aggregator<A> {
    #[cfg(test)]
    pub(crate) fn new(descriptor: Arc<Descriptor>, aggregation: A, limits: Limits) -> Arc<Self> {
        Self::with_keys(descriptor, aggregation, limits, None)
    }

    /// The state of one stream: a view's may keep only some attribute keys.
    pub(crate) fn with_keys(
        descriptor: Arc<Descriptor>,
        aggregation: A,
        limits: Limits,
        keys: Option<KeyFilter>,
    ) -> Arc<Self> {
        let sweeper = limits.idle.map(|idle| Mutex::new(Sweeper::new(idle)));
        Arc::new_cyclic(|this| Aggregator {
            keys,
            this: this.clone(),
            active: AtomicBool::new(true),
            aggregation,
            map: SeriesMap::new(sweeper.is_some()),
            overflow: OnceLock::new(),
            limit: limits.cardinality.max(1),
            overflow_warned: AtomicBool::new(false),
            rejected: Rejections::default(),
            descriptor,
            start_time: SystemTime::now(),
            sweeper,
        })
    }

    /// A strong reference to this aggregator (it is always owned by an `Arc`).
    pub(crate) fn arc(&self) -> Option<Arc<Self>> {
        self.this.upgrade()
    }

    /// Records one measurement: the hot path.
    #[inline]
    pub(crate) fn record(&self, v: A::Input, attributes: &[KeyValue]) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        if !self.aggregation.is_valid(v) {
            return self.reject();
        }
        // Held until the update is made: see `idle` for why that is what makes a
        // removal lose nothing.
        let pin = self.map.pin();
        let cell = match self.target(attributes, &pin, Life::touch) {
            Target::Series(series) => &series.cell,
            Target::Overflow(cell) => cell,
        };
        self.aggregation.update(cell, v);
    }

    /// The series of an attribute set (created if need be, the overflow cell past the
    /// limit), claimed with `claim` (a touch, a binding) where series can be removed;
    /// a series that turns out retired is looked up again.
    #[inline]
    fn target<'p>(
        &'p self,
        attributes: &[KeyValue],
        pin: &'p Pin,
        claim: impl Fn(&Life) -> bool,
    ) -> Target<'p, A::Cell> {
        if let Some(filter) = &self.keys {
            return self.target_kept(attributes, filter, pin, claim);
        }
        if let Some(series) = self.map.find(attributes, pin) {
            if !self.map.reclaims() || claim(&series.life) {
                return Target::Series(series);
            }
        }
        self.target_slow(attributes, pin, claim)
    }

    /// [`target`](Self::target) for a view's stream: the kept pairs are looked up in
    /// place; only a new series copies them. Out of line, so that a stream without a
    /// filter keeps its lookup as it was.
    #[inline(never)]
    fn target_kept<'p>(
        &'p self,
        attributes: &[KeyValue],
        filter: &KeyFilter,
        pin: &'p Pin,
        claim: impl Fn(&Life) -> bool,
    ) -> Target<'p, A::Cell> {
        if let Some(series) = self.map.find(Kept { attributes, filter }, pin) {
            if !self.map.reclaims() || claim(&series.life) {
                return Target::Series(series);
            }
        }
        self.target_slow(&filter.apply(attributes), pin, claim)
    }

    /// Binds a handle to the series of an attribute set: it is not removed until the
    /// binding is released.
    pub(crate) fn bind(&self, attributes: &[KeyValue]) -> Binding<A::Cell> {
        let pin = self.map.pin();
        match self.target(attributes, &pin, Life::bind) {
            Target::Series(series) => {
                if !self.map.reclaims() {
                    // Counted all the same, so that release is uniform.
                    series.life.bind();
                }
                Binding {
                    cell: NonNull::from(&series.cell),
                    life: Some(NonNull::from(&series.life)),
                }
            }
            Target::Overflow(cell) => Binding {
                cell: NonNull::from(cell),
                life: None,
            },
        }
    }

    /// Records into a cell found earlier (bound instruments).
    #[inline]
    pub(crate) fn record_bound(&self, cell: &A::Cell, v: A::Input) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        if !self.aggregation.is_valid(v) {
            return self.reject();
        }
        self.aggregation.update_bound(cell, v);
    }

    /// Applies `op` to a cell found earlier, unless the instrument was shut down: for
    /// updates other than the aggregation's own (the `metrics` facade's gauge
    /// increments and absolute counter values).
    #[cfg(feature = "metrics")]
    #[inline]
    pub(crate) fn modify_bound(&self, cell: &A::Cell, op: impl FnOnce(&A::Cell)) {
        if self.active.load(Ordering::Relaxed) {
            op(cell)
        }
    }

    #[cold]
    fn reject(&self) {
        let what = if self.descriptor.kind.is_monotonic() {
            "counters take finite, non-negative increments"
        } else {
            "NaN and infinite values are not aggregated"
        };
        self.rejected.reject(&self.descriptor.name, what);
    }

    /// Finds or creates the series for an attribute set (the slow path: may lock and
    /// allocate). Past the cardinality limit, the overflow cell. Only after the fast
    /// lookup missed (or found a retired series).
    #[cold]
    fn target_slow<'p>(
        &'p self,
        attributes: &[KeyValue],
        pin: &'p Pin,
        claim: impl Fn(&Life) -> bool,
    ) -> Target<'p, A::Cell> {
        let limit = self.limit;
        let claimed = |series: &Series<A::Cell>| !self.map.reclaims() || claim(&series.life);
        // A full map takes no lock: any set not found is new, unless it repeats a key
        // (the fast lookup cannot match those), which must be canonicalised first.
        if self.map.len() >= limit && !attrs::has_repeated_key(attributes) {
            // The set may have been the one that filled the map, inserted after the
            // caller's probe: look again (this `len` load made it visible).
            match self.map.get(attrs::hash_set(attributes), attributes, pin) {
                Some(series) if claimed(series) => return Target::Series(series),
                // Retired meanwhile: its place may be free now, under the lock below.
                Some(_) => {}
                None => return Target::Overflow(self.overflow_cell()),
            }
        }
        let canonical = canonicalize(attributes);
        loop {
            let created = self
                .map
                .get_or_insert_with(&canonical, attributes, pin, |live| {
                    (live < limit).then(|| self.aggregation.new_cell())
                });
            match created {
                Some(series) if claimed(series) => return Target::Series(series),
                // Found idle under the lock and retired before the claim: again.
                Some(_) => {}
                None => return Target::Overflow(self.overflow_cell()),
            }
        }
    }

    fn overflow_cell(&self) -> &A::Cell {
        if !self.overflow_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                instrument = %self.descriptor.name,
                limit = self.limit,
                "cardinality limit reached: measurements with new attribute sets now go to \
                 the series {OVERFLOW_KEY}=true; reduce the attributes' distinct values or \
                 raise the limit with MeterProviderBuilder::with_cardinality_limit"
            );
        }
        &self
            .overflow
            .get_or_init(|| {
                let attrs: Arc<[KeyValue]> = Arc::new([KeyValue::new(OVERFLOW_KEY, true)]);
                (attrs, self.aggregation.new_cell())
            })
            .1
    }

    /// Stops recording for good (provider shutdown).
    pub(crate) fn deactivate(&self) {
        self.active.store(false, Ordering::Relaxed);
    }

    /// The instrument's current cumulative state, as `reader` collects it. With an idle
    /// timeout, the collection sweeps first and removes idle series after reading them
    /// (see `idle`): this snapshot still shows them, the next ones do not.
    pub(crate) fn collect(&self, time: SystemTime, reader: Reader) -> MetricSnapshot {
        let Some(sweeper) = &self.sweeper else {
            // Series live as long as their instrument, so each starts with it.
            let pin = self.map.pin();
            return self.snapshot(time, self.map.series(&pin).map(|s| (s, self.start_time)));
        };
        let mut sweeper = sweeper.lock();
        let sweep = sweeper.sweep(reader, |number, now| {
            let pin = self.map.pin();
            for series in self.map.series(&pin) {
                series.life.sweep(number, now);
            }
        });
        let pin = self.map.pin();
        // A series that ends starts again from zero: its own start time.
        let snapshot = self.snapshot(time, self.map.series(&pin).map(|s| (s, s.created)));
        for series in self.map.series(&pin) {
            if sweep.is_idle(series.life.last_activity()) && self.map.remove(series, &pin) {
                self.aggregation.forget(&series.cell);
            }
        }
        snapshot
    }

    fn snapshot<'p>(
        &'p self,
        time: SystemTime,
        series: impl Iterator<Item = (&'p Series<A::Cell>, SystemTime)>,
    ) -> MetricSnapshot {
        let series = series.map(|(s, start_time)| CollectedSeries {
            attributes: Attributes::from_canonical(s.attributes().clone()),
            start_time,
            cell: &s.cell,
        });
        let overflow = self.overflow.get().map(|(a, cell)| CollectedSeries {
            attributes: Attributes::from_canonical(a.clone()),
            start_time: self.start_time,
            cell,
        });
        MetricSnapshot {
            descriptor: self.descriptor.clone(),
            start_time: self.start_time,
            time,
            data: self.aggregation.collect(series.chain(overflow)),
            rejected_measurements: self.rejected.count(),
        }
    }
}
