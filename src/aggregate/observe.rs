//! Observable (asynchronous) instruments: callbacks report values at collection time.
//!
//! Each collection starts empty: only the attribute sets a callback reports this time
//! are exported. Counters and up-down counters report their current total, so a
//! repeated attribute set within one collection keeps the last value reported.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::metrics::{AsyncInstrument, Callback};
use opentelemetry::KeyValue;

use super::idle::Reader;
use super::key_filter::KeyFilter;
use super::number::Num;
use super::{Limits, Rejections, OVERFLOW_KEY};
use crate::snapshot::{
    canonicalize, Attributes, Descriptor, InstrumentKind, MetricData, MetricSnapshot, NumberPoint,
};
use crate::sync::Mutex;

thread_local! {
    /// How deep this thread is in observable callbacks (a callback may collect, and so
    /// run callbacks, itself).
    static CALLBACK_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether this thread is running an observable instrument's callback. A push task may
/// be waiting for that collection, so a flush or shutdown from here, which waits for
/// the push task, could only time out.
pub(crate) fn in_callback() -> bool {
    CALLBACK_DEPTH.with(|depth| depth.get() > 0)
}

/// Marks this thread as running callbacks until dropped.
struct RunningCallbacks;

impl RunningCallbacks {
    fn enter() -> Self {
        CALLBACK_DEPTH.with(|depth| depth.set(depth.get() + 1));
        RunningCallbacks
    }
}

impl Drop for RunningCallbacks {
    fn drop(&mut self) {
        CALLBACK_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// The state behind one observable instrument: its callbacks.
pub(crate) struct ObservableAggregator<T: Num> {
    pub(crate) descriptor: Arc<Descriptor>,
    callbacks: Mutex<Vec<Arc<Callback<T>>>>,
    active: AtomicBool,
    limit: usize,
    /// A view's attribute-key filter; `None` keeps every attribute.
    keys: Option<KeyFilter>,
    /// Whether the points are a sum (and a monotonic one) or a gauge.
    points: ObservedPoints,
    rejected: Rejections,
    overflow_warned: AtomicBool,
    start_time: SystemTime,
}

/// What an observable stream's points are: the instrument kind's default, or a view's
/// choice (an observable gauge may be summed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObservedPoints {
    Sum { monotonic: bool },
    Gauge,
}

impl<T: Num> ObservableAggregator<T> {
    /// The state of one stream of an observable instrument: its key filter (a view's)
    /// and its kind of points.
    pub(crate) fn with_view(
        descriptor: Arc<Descriptor>,
        limits: Limits,
        keys: Option<KeyFilter>,
        points: ObservedPoints,
    ) -> Self {
        ObservableAggregator {
            keys,
            points,
            descriptor,
            callbacks: Mutex::new(Vec::new()),
            active: AtomicBool::new(true),
            limit: limits.cardinality.max(1),
            rejected: Rejections::default(),
            overflow_warned: AtomicBool::new(false),
            start_time: SystemTime::now(),
        }
    }

    /// Adds callbacks; shared, as every stream of one instrument runs them.
    pub(crate) fn add_callbacks(&self, callbacks: &[Arc<Callback<T>>]) {
        self.callbacks.lock().extend(callbacks.iter().cloned());
    }

    pub(crate) fn deactivate(&self) {
        self.active.store(false, Ordering::Relaxed);
    }

    /// Runs the callbacks and returns what they reported.
    /// Runs the callbacks; observations have no idle timeout (a callback reports what
    /// exists), so the reader does not matter.
    pub(crate) fn collect(&self, time: SystemTime, _reader: Reader) -> MetricSnapshot {
        let mut observed = Observed::<T>::default();
        if self.active.load(Ordering::Relaxed) {
            // Cloned out so a callback that registers instruments or collects does not
            // deadlock on this lock.
            let callbacks: Vec<Arc<Callback<T>>> = self.callbacks.lock().clone();
            let observer = Observer {
                aggregator: self,
                state: Mutex::new(&mut observed),
            };
            let _running = RunningCallbacks::enter();
            for callback in callbacks {
                // A panicking callback must not take the push pipeline down with it.
                if catch_unwind(AssertUnwindSafe(|| callback(&observer))).is_err() {
                    tracing::error!(
                        instrument = %self.descriptor.name,
                        "an observable instrument's callback panicked; its values are \
                         missing from this collection"
                    );
                }
            }
        }
        self.merge_filtered(&mut observed);
        let points = observed
            .points
            .into_iter()
            .map(|(attrs, v)| NumberPoint {
                exemplars: Vec::new(),
                attributes: Attributes::from_canonical(attrs.into()),
                // A callback reports totals kept since the instrument was created.
                start_time: self.start_time,
                value: v.to_number(),
            })
            .collect();
        let data = match self.points {
            ObservedPoints::Gauge => MetricData::Gauge { points },
            ObservedPoints::Sum { monotonic } => MetricData::Sum { monotonic, points },
        };
        MetricSnapshot {
            descriptor: self.descriptor.clone(),
            start_time: self.start_time,
            time,
            data,
            rejected_measurements: self.rejected.count(),
        }
    }

    fn observe(&self, observed: &mut Observed<T>, v: T, attributes: &[KeyValue]) {
        let kind = self.descriptor.kind;
        if kind != InstrumentKind::ObservableGauge && !v.is_valid(kind.is_monotonic()) {
            let what = if kind.is_monotonic() {
                "observable counters take finite, non-negative totals"
            } else {
                "NaN and infinite values are not aggregated"
            };
            return self.rejected.reject(&self.descriptor.name, what);
        }
        // Gauges take NaN; never the stale-marker NaN, which would end the series.
        let v = v.without_stale_bits();
        if self.keys.is_some() {
            // The last value per set as given wins, as without a view; the sets that
            // the filter makes one are merged when the callbacks are done.
            let given = canonicalize(attributes);
            match observed.given_index.get(&given) {
                Some(&i) => observed.given[i].1 = v,
                None => {
                    observed
                        .given_index
                        .insert(given.clone(), observed.given.len());
                    observed.given.push((given, v));
                }
            }
            return;
        }
        self.place(observed, canonicalize(attributes), v, false)
    }

    /// Merges what a filtering stream's callbacks reported into its points: sums add
    /// up, a gauge keeps the last set reported.
    fn merge_filtered(&self, observed: &mut Observed<T>) {
        let Some(filter) = &self.keys else { return };
        for (given, v) in std::mem::take(&mut observed.given) {
            self.place(observed, canonicalize(&filter.apply(&given)), v, true);
        }
    }

    /// One point's value; `merge` adds it to a sum's earlier value of the set instead of
    /// replacing it.
    fn place(&self, observed: &mut Observed<T>, canonical: Vec<KeyValue>, v: T, merge: bool) {
        if let Some(&i) = observed.index.get(&canonical) {
            let point = &mut observed.points[i].1;
            *point = match self.points {
                ObservedPoints::Sum { .. } if merge => point.plus(v),
                _ => v,
            };
            return;
        }
        if observed.index.len() >= self.limit {
            return self.observe_overflow(observed, v);
        }
        observed
            .index
            .insert(canonical.clone(), observed.points.len());
        observed.points.push((canonical, v));
    }

    fn observe_overflow(&self, observed: &mut Observed<T>, v: T) {
        if !self.overflow_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                instrument = %self.descriptor.name,
                limit = self.limit,
                "cardinality limit reached in an observable callback: further attribute \
                 sets go to the series {OVERFLOW_KEY}=true"
            );
        }
        let gauge = self.points == ObservedPoints::Gauge;
        match &mut observed.overflow {
            Some(i) if gauge => observed.points[*i].1 = v,
            // Totals of distinct sets add up to the overflow series' total.
            Some(i) => {
                let total = &mut observed.points[*i].1;
                *total = total.plus(v);
            }
            None => {
                observed.overflow = Some(observed.points.len());
                observed
                    .points
                    .push((vec![KeyValue::new(OVERFLOW_KEY, true)], v));
            }
        }
    }
}

/// The values reported during one collection.
pub(crate) struct Observed<T> {
    index: HashMap<Vec<KeyValue>, usize>,
    points: Vec<(Vec<KeyValue>, T)>,
    overflow: Option<usize>,
    /// A filtering stream's sets as given (the last value of each), merged after the
    /// callbacks.
    given_index: HashMap<Vec<KeyValue>, usize>,
    given: Vec<(Vec<KeyValue>, T)>,
}

impl<T> Default for Observed<T> {
    fn default() -> Self {
        Observed {
            index: HashMap::new(),
            points: Vec::new(),
            overflow: None,
            given_index: HashMap::new(),
            given: Vec::new(),
        }
    }
}

/// What a callback receives.
struct Observer<'a, T: Num> {
    aggregator: &'a ObservableAggregator<T>,
    state: Mutex<&'a mut Observed<T>>,
}

impl<T: Num> AsyncInstrument<T> for Observer<'_, T> {
    fn observe(&self, measurement: T, attributes: &[KeyValue]) {
        let mut state = self.state.lock();
        self.aggregator.observe(&mut state, measurement, attributes);
    }
}
