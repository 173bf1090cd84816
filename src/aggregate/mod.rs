//! Aggregation: one series per attribute set, each holding an atomic cell.
//!
//! [`Aggregator`] is the state behind one synchronous instrument: the series table,
//! the cardinality limit with its overflow series, and the count of rejected
//! measurements. The kind of aggregation (sum, last value, histogram) is a type
//! parameter, so the recording path is monomorphised and inlined.
//!
//! A lookup goes `recent` (the series this thread keeps finding) → `table` (the index,
//! with `attrs` hashing and comparing sets exactly); a sum's cell is `striped`, which
//! spreads over per-thread slots once threads collide on it.

mod attrs;
pub(crate) mod exemplar_sampling;
pub(crate) mod exponential;
pub(crate) mod histogram;
mod last_value;
pub(crate) mod number;
mod observe;
mod recent;
mod striped;
mod sum;
mod table;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::SystemTime;

use opentelemetry::KeyValue;

pub(crate) use histogram::Histogram;
pub(crate) use last_value::LastValue;
pub(crate) use observe::{in_callback, ObservableAggregator};
pub(crate) use sum::Sum;

use crate::snapshot::{canonicalize, Attributes, Descriptor, MetricData, MetricSnapshot};
use table::SeriesMap;

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

/// The default cardinality limit: points per instrument, the overflow point included.
pub(crate) const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// Settings shared by every instrument of a provider.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most points one instrument exports, the overflow point included.
    pub(crate) cardinality: usize,
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
    overflow_warned: AtomicBool,
    rejected: Rejections,
    pub(crate) descriptor: Arc<Descriptor>,
    start_time: SystemTime,
    /// Lets `bind` hand out handles that keep this aggregator alive.
    this: Weak<Self>,
}

impl<A: Aggregation> Aggregator<A> {
    pub(crate) fn new(descriptor: Arc<Descriptor>, aggregation: A, limits: Limits) -> Arc<Self> {
        Arc::new_cyclic(|this| Aggregator {
            this: this.clone(),
            active: AtomicBool::new(true),
            aggregation,
            map: SeriesMap::new(),
            overflow: OnceLock::new(),
            limit: limits.cardinality.max(1),
            overflow_warned: AtomicBool::new(false),
            rejected: Rejections::default(),
            descriptor,
            start_time: SystemTime::now(),
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
        self.aggregation.update(self.cell(attributes), v);
    }

    /// The cell of an attribute set, created if need be.
    #[inline]
    pub(crate) fn cell(&self, attributes: &[KeyValue]) -> &A::Cell {
        match self.map.find(attributes) {
            Some(series) => &series.cell,
            None => self.cell_slow(attributes),
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

    /// Finds or creates the cell for an attribute set (the slow path: may lock and
    /// allocate). Past the cardinality limit, the overflow cell. Only after the fast
    /// lookup missed.
    #[cold]
    fn cell_slow(&self, attributes: &[KeyValue]) -> &A::Cell {
        let limit = self.limit;
        // A full map takes no lock: any set not found is new, unless it repeats a key
        // (the fast lookup cannot match those), which must be canonicalised first.
        if self.map.len() + 1 >= limit && !attrs::has_repeated_key(attributes) {
            // The set may have been the one that filled the map, inserted after the
            // caller's probe: look again (this `len` load made it visible).
            if let Some(series) = self.map.get(attrs::hash_set(attributes), attributes) {
                return &series.cell;
            }
            return self.overflow_cell();
        }
        let canonical = canonicalize(attributes);
        let created = self.map.get_or_insert_with(&canonical, attributes, |n| {
            (n + 1 < limit).then(|| self.aggregation.new_cell())
        });
        match created {
            Some(series) => &series.cell,
            None => self.overflow_cell(),
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

    /// The instrument's current cumulative state.
    pub(crate) fn collect(&self, time: SystemTime) -> MetricSnapshot {
        // Series live as long as their instrument, so each starts with it.
        let start_time = self.start_time;
        let series = self.map.series().map(|s| CollectedSeries {
            attributes: Attributes::from_canonical(s.attributes().clone()),
            start_time,
            cell: &s.cell,
        });
        let overflow = self.overflow.get().map(|(a, cell)| CollectedSeries {
            attributes: Attributes::from_canonical(a.clone()),
            start_time,
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
