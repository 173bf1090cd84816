//! Exemplar sampling: which measurements are sampled (the [`ExemplarFilter`]) and where they are
//! kept (reservoirs, as the OpenTelemetry spec defines them).
//!
//! [`Sampled`] wraps an aggregation: it records as the inner one does, then offers the
//! measurements the filter lets through to the reservoir of their series. Reservoirs
//! live outside the series cells, in one map per instrument keyed by the cell's address
//! (cells never move; a series removed for idleness drops its reservoir through
//! `Aggregation::forget` before its memory can be reused), created at a series' first
//! sampled measurement: series without exemplars keep the memory they had. With the
//! filter off, instruments are not wrapped at all, so recording costs nothing more.
//!
//! Cumulative points keep their exemplars from push to push; each collection starts a
//! new sampling round (the reservoir's count of measurements restarts), so each push
//! carries recent measurements rather than ever rarer replacements.

use std::collections::HashMap;
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;

use super::histogram::bucket_index;
use super::number::Num;
use super::{Aggregation, CollectedSeries};
use crate::snapshot::{Exemplar, MetricData};
use crate::sync::Mutex;

/// Which measurements become exemplars (OpenTelemetry's `OTEL_METRICS_EXEMPLAR_FILTER`);
/// see [`MeterProviderBuilder::with_exemplar_filter`](crate::MeterProviderBuilder::with_exemplar_filter).
///
/// ```
/// use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
///
/// let provider = prompush::MeterProvider::builder()
///     .with_exemplar_filter(prompush::ExemplarFilter::TraceBased)
///     .build()?;
/// let requests = provider.meter("app").u64_counter("requests").build();
/// // A sampled span, as a tracer would make current while a request is served.
/// let span = SpanContext::new(
///     TraceId::from_bytes([1; 16]),
///     SpanId::from_bytes([2; 8]),
///     TraceFlags::SAMPLED,
///     false,
///     Default::default(),
/// );
/// {
///     let _in_span = opentelemetry::Context::current()
///         .with_remote_span_context(span)
///         .attach();
///     requests.add(1, &[]);
/// }
/// requests.add(1, &[]); // no span: no exemplar
/// let snapshot = provider.collect();
/// let point = &snapshot.metric("requests").unwrap().data().number_points()[0];
/// assert_eq!(point.exemplars().len(), 1);
/// assert_eq!(point.exemplars()[0].trace_id(), [1; 16]);
/// # Ok::<(), prompush::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExemplarFilter {
    /// Measurements made while the current `opentelemetry::Context` holds a sampled
    /// span (`trace_based`, the default).
    #[default]
    TraceBased,
    /// Every measurement (`always_on`).
    AlwaysOn,
    /// None (`always_off`): recording costs nothing more.
    AlwaysOff,
}

impl ExemplarFilter {
    /// The filter of an `OTEL_METRICS_EXEMPLAR_FILTER` value: `trace_based`,
    /// `always_on`, `always_off` (case-insensitive).
    #[must_use]
    pub fn from_env_value(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "trace_based" => Some(Self::TraceBased),
            "always_on" => Some(Self::AlwaysOn),
            "always_off" => Some(Self::AlwaysOff),
            _ => None,
        }
    }
}

/// How an instrument's measurements are kept.
#[derive(Debug, Clone)]
pub(crate) enum ReservoirKind {
    /// Up to `n` measurements, uniformly sampled (monotonic sums: 1; exponential
    /// histograms: `min(20, max_size)`).
    FixedSize(usize),
    /// The last measurement of each bucket of these bounds (explicit-bucket histograms).
    Aligned(std::sync::Arc<[f64]>),
}

/// An aggregation whose sampled measurements are kept as exemplars.
pub(crate) struct Sampled<A: Aggregation> {
    inner: A,
    filter: ExemplarFilter,
    kind: ReservoirKind,
    reservoirs: Mutex<Reservoirs>,
}

impl<A: Aggregation> Sampled<A> {
    pub(crate) fn new(inner: A, filter: ExemplarFilter, kind: ReservoirKind) -> Self {
        Sampled {
            inner,
            filter,
            kind,
            reservoirs: Mutex::new(Reservoirs::default()),
        }
    }
}

#[derive(Default)]
struct Reservoirs {
    /// By cell address (a fast hash: the keys are addresses, not attacker-chosen).
    by_cell: HashMap<usize, Reservoir, foldhash::fast::RandomState>,
    /// splitmix64 state, for the uniform sampling.
    random: u64,
}

impl Reservoirs {
    fn next_random(&mut self) -> u64 {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One series' exemplars.
struct Reservoir {
    slots: Vec<Option<Exemplar>>,
    /// Measurements offered in this round.
    seen: u64,
}

/// The span of the current context: its trace and span ids and whether it is sampled.
fn current_span() -> ([u8; 16], [u8; 8], bool) {
    Context::map_current(|cx| {
        if !cx.has_active_span() {
            return ([0; 16], [0; 8], false);
        }
        let span = cx.span();
        let context = span.span_context();
        (
            context.trace_id().to_bytes(),
            context.span_id().to_bytes(),
            context.is_sampled(),
        )
    })
}

/// Whether the current context holds a sampled span: the cheap check of the hot path.
#[inline]
fn in_sampled_span() -> bool {
    Context::map_current(|cx| cx.has_active_span() && cx.span().span_context().is_sampled())
}

impl<A: Aggregation> Sampled<A> {
    /// Keeps `value` in its series' reservoir (the slow path: a sampled measurement).
    #[cold]
    fn offer(&self, cell: &A::Cell, value: f64) {
        let (trace_id, span_id, _) = current_span();
        let exemplar = Exemplar {
            value,
            time: SystemTime::now(),
            trace_id,
            span_id,
            filtered_attributes: Vec::new(),
        };
        let key = cell as *const A::Cell as usize;
        let mut reservoirs = self.reservoirs.lock();
        let random = reservoirs.next_random();
        let kind = &self.kind;
        let reservoir = reservoirs.by_cell.entry(key).or_insert_with(|| {
            let slots = match kind {
                ReservoirKind::FixedSize(n) => *n,
                ReservoirKind::Aligned(bounds) => bounds.len() + 1,
            };
            Reservoir {
                slots: vec![None; slots.max(1)],
                seen: 0,
            }
        });
        let slot = match kind {
            ReservoirKind::Aligned(bounds) => Some(bucket_index(bounds, value)),
            // Fill the slots first, then replace one with probability size/seen.
            ReservoirKind::FixedSize(_) => {
                let size = reservoir.slots.len() as u64;
                let pick = if reservoir.seen < size {
                    reservoir.seen
                } else {
                    random % (reservoir.seen + 1)
                };
                (pick < size).then_some(pick as usize)
            }
        };
        reservoir.seen += 1;
        if let Some(slot) = slot.and_then(|i| reservoir.slots.get_mut(i)) {
            *slot = Some(exemplar);
        }
    }

    /// Each series' exemplars, in series order (empty for those without), oldest first;
    /// starts a new sampling round.
    fn take_round(&self, cells: &[usize]) -> Vec<Vec<Exemplar>> {
        let mut reservoirs = self.reservoirs.lock();
        cells
            .iter()
            .map(|key| match reservoirs.by_cell.get_mut(key) {
                Some(r) => {
                    r.seen = 0;
                    let mut kept = Vec::with_capacity(r.slots.iter().flatten().count());
                    kept.extend(r.slots.iter().flatten().cloned());
                    if kept.len() > 1 {
                        kept.sort_by_key(|e| e.time);
                    }
                    kept
                }
                None => Vec::new(),
            })
            .collect()
    }
}

impl<A: Aggregation> Aggregation for Sampled<A> {
    type Input = A::Input;
    type Cell = A::Cell;

    fn new_cell(&self) -> A::Cell {
        self.inner.new_cell()
    }

    #[inline]
    fn is_valid(&self, v: A::Input) -> bool {
        self.inner.is_valid(v)
    }

    #[inline]
    fn update(&self, cell: &A::Cell, v: A::Input) {
        self.inner.update(cell, v);
        let sampled = match self.filter {
            ExemplarFilter::TraceBased => in_sampled_span(),
            ExemplarFilter::AlwaysOn => true,
            ExemplarFilter::AlwaysOff => false,
        };
        if sampled {
            self.offer(cell, v.as_f64());
        }
    }

    fn collect<'a>(
        &self,
        series: impl Iterator<Item = CollectedSeries<'a, A::Cell>>,
    ) -> MetricData {
        if self.reservoirs.lock().by_cell.is_empty() {
            return self.inner.collect(series);
        }
        let series: Vec<CollectedSeries<'a, A::Cell>> = series.collect();
        let cells: Vec<usize> = series
            .iter()
            .map(|s| s.cell as *const A::Cell as usize)
            .collect();
        let mut data = self.inner.collect(series.into_iter());
        let exemplars = self.take_round(&cells);
        // Points come in series order, one per series.
        match &mut data {
            MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
                for (p, e) in points.iter_mut().zip(exemplars) {
                    p.exemplars = e;
                }
            }
            MetricData::Histogram { points, .. } => {
                for (p, e) in points.iter_mut().zip(exemplars) {
                    p.exemplars = e;
                }
            }
            MetricData::ExponentialHistogram { points } => {
                for (p, e) in points.iter_mut().zip(exemplars) {
                    p.exemplars = e;
                }
            }
        }
        data
    }

    fn forget(&self, cell: &A::Cell) {
        self.inner.forget(cell);
        let key = cell as *const A::Cell as usize;
        self.reservoirs.lock().by_cell.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;
    use crate::aggregate::{Histogram, Sum};

    fn in_span<T>(sampled: bool, f: impl FnOnce() -> T) -> T {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let context = SpanContext::new(
            TraceId::from_bytes([7; 16]),
            SpanId::from_bytes([3; 8]),
            flags,
            false,
            TraceState::default(),
        );
        let _guard = Context::current()
            .with_remote_span_context(context)
            .attach();
        f()
    }

    fn counter(filter: ExemplarFilter) -> Sampled<Sum<u64>> {
        Sampled::new(Sum::new(true), filter, ReservoirKind::FixedSize(1))
    }

    fn exemplars_of(data: &MetricData) -> Vec<Vec<Exemplar>> {
        match data {
            MetricData::Sum { points, .. } => points.iter().map(|p| p.exemplars.clone()).collect(),
            MetricData::Histogram { points, .. } => {
                points.iter().map(|p| p.exemplars.clone()).collect()
            }
            _ => Vec::new(),
        }
    }

    fn collect<A: Aggregation>(a: &A, cells: &[&A::Cell]) -> MetricData {
        a.collect(cells.iter().map(|c| CollectedSeries::bare(*c)))
    }

    /// The values of the exemplars one series keeps now.
    fn kept_values<A: Aggregation>(a: &A, cell: &A::Cell) -> Vec<f64> {
        exemplars_of(&collect(a, &[cell]))[0]
            .iter()
            .map(|e| e.value)
            .collect()
    }

    #[test]
    fn trace_based_keeps_measurements_of_sampled_spans_only() {
        let c = counter(ExemplarFilter::TraceBased);
        let (a, b) = (c.new_cell(), c.new_cell());
        c.update(&a, 1);
        in_span(false, || c.update(&a, 2));
        in_span(true, || c.update(&b, 5));
        let got = exemplars_of(&collect(&c, &[&a, &b]));
        assert!(got[0].is_empty());
        assert_eq!(got[1].len(), 1);
        let e = &got[1][0];
        assert_eq!((e.value, e.trace_id, e.span_id), (5.0, [7; 16], [3; 8]));
        assert!(e.has_trace());
    }

    #[test]
    fn always_on_keeps_measurements_without_a_span_and_always_off_none() {
        let on = counter(ExemplarFilter::AlwaysOn);
        let cell = on.new_cell();
        on.update(&cell, 4);
        let got = exemplars_of(&collect(&on, &[&cell]));
        assert_eq!(got[0][0].value, 4.0);
        assert!(!got[0][0].has_trace());
        let off = counter(ExemplarFilter::AlwaysOff);
        let cell = off.new_cell();
        in_span(true, || off.update(&cell, 4));
        assert!(exemplars_of(&collect(&off, &[&cell]))[0].is_empty());
    }

    #[test]
    fn a_fixed_size_reservoir_keeps_at_most_its_size_and_restarts_each_round() {
        let c = Sampled::<Sum<u64>>::new(
            Sum::new(true),
            ExemplarFilter::AlwaysOn,
            ReservoirKind::FixedSize(3),
        );
        let cell = c.new_cell();
        for v in 0..100 {
            c.update(&cell, v);
        }
        let first = exemplars_of(&collect(&c, &[&cell]));
        assert_eq!(first[0].len(), 3);
        // A new round: the first measurements fill the slots again.
        for v in [1000, 1001, 1002] {
            c.update(&cell, v);
        }
        assert_eq!(kept_values(&c, &cell), [1000.0, 1001.0, 1002.0]);
    }

    #[test]
    fn an_aligned_reservoir_keeps_the_last_measurement_of_each_bucket() {
        let bounds: std::sync::Arc<[f64]> = vec![1.0, 10.0].into();
        let h = Sampled::new(
            Histogram::<f64>::new(bounds.clone()),
            ExemplarFilter::AlwaysOn,
            ReservoirKind::Aligned(bounds),
        );
        let cell = h.new_cell();
        for v in [0.5, 0.7, 5.0, 50.0, 60.0] {
            h.update(&cell, v);
        }
        assert_eq!(kept_values(&h, &cell), [0.7, 5.0, 60.0]);
    }
}
