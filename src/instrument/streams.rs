//! The aggregators of an instrument's streams: one per stream the views resolved
//! (see [`crate::view::resolve`]), each with its name, aggregation, attribute-key
//! filter and cardinality limit.
//!
//! Counters' sums and histograms keep exemplars unless the provider's exemplar filter
//! is off (gauges and up-down counters carry none, as the specification says).

use std::any::Any;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::metrics::SyncInstrument;

use super::Collect;
use crate::aggregate::exemplar_sampling::{ExemplarFilter, ReservoirKind, Sampled};
use crate::aggregate::exponential::{ExponentialConfig, ExponentialHistogram};
use crate::aggregate::idle::Reader;
use crate::aggregate::key_filter::KeyFilter;
use crate::aggregate::{
    number::Num, Aggregation, Aggregator, Histogram, LastValue, Limits, ObservableAggregator,
    ObservedPoints, Sum,
};
use crate::snapshot::{Descriptor, MetricData, MetricSnapshot};
use crate::view::resolve::{Chosen, Resolved, View};

/// What a provider gives every instrument's streams.
#[derive(Clone)]
pub(crate) struct StreamDefaults {
    /// The views, in the order they were added.
    pub(crate) views: Arc<[View]>,
    /// Set: histograms without buckets (no advice, no view) are exponential.
    pub(crate) exponential: Option<ExponentialConfig>,
    /// Which measurements of counters and histograms become exemplars.
    pub(crate) exemplar_filter: ExemplarFilter,
}

impl Default for StreamDefaults {
    fn default() -> Self {
        StreamDefaults {
            views: Arc::new([]),
            exponential: None,
            exemplar_filter: ExemplarFilter::AlwaysOff,
        }
    }
}

/// One synchronous stream: what collection reads, what records, and its aggregator
/// itself (for entry points that drive cells directly: the `metrics` facade).
pub(crate) struct SyncStream<T> {
    pub(crate) collect: Arc<dyn Collect>,
    pub(crate) handle: Arc<dyn SyncInstrument<T> + Send + Sync>,
    pub(crate) aggregator: Arc<dyn Any + Send + Sync>,
}

/// The synchronous stream `stream` resolved to; `exemplars` false keeps none whatever
/// the filter.
pub(crate) fn sync_stream<T: Num>(
    descriptor: Arc<Descriptor>,
    stream: &Resolved,
    limits: Limits,
    exemplars: ExemplarFilter,
) -> SyncStream<T> {
    let keys = stream.keys.clone();
    let built = match &stream.aggregation {
        Chosen::Sum { monotonic } => {
            // Only monotonic sums keep exemplars.
            let reservoir = monotonic.then_some(ReservoirKind::FixedSize(1));
            build(
                descriptor,
                Sum::<T>::new(*monotonic),
                limits,
                keys,
                exemplars,
                reservoir,
            )
        }
        Chosen::LastValue => build(
            descriptor,
            LastValue::<T>::new(),
            limits,
            keys,
            exemplars,
            None,
        ),
        Chosen::Explicit { bounds, .. } => {
            let reservoir = Some(ReservoirKind::Aligned(bounds.clone()));
            let histogram = Histogram::<T>::new(bounds.clone());
            build(descriptor, histogram, limits, keys, exemplars, reservoir)
        }
        Chosen::Exponential { config, .. } => {
            // The spec's reservoir size: the smaller of the bucket count and 20.
            let reservoir = Some(ReservoirKind::FixedSize(config.max_size.min(20) as usize));
            let histogram = ExponentialHistogram::<T>::new(*config);
            build(descriptor, histogram, limits, keys, exemplars, reservoir)
        }
    };
    without_min_max_unless(stream, built)
}

fn build<A: Aggregation>(
    descriptor: Arc<Descriptor>,
    aggregation: A,
    limits: Limits,
    keys: Option<KeyFilter>,
    exemplars: ExemplarFilter,
    reservoir: Option<ReservoirKind>,
) -> SyncStream<A::Input> {
    match (exemplars, reservoir) {
        (ExemplarFilter::AlwaysOff, _) | (_, None) => {
            let aggregator = Aggregator::with_keys(descriptor, aggregation, limits, keys);
            SyncStream {
                collect: aggregator.clone(),
                handle: aggregator.clone(),
                aggregator,
            }
        }
        (filter, Some(reservoir)) => {
            let sampled = Sampled::new(aggregation, filter, reservoir);
            let aggregator = Aggregator::with_keys(descriptor, sampled, limits, keys);
            SyncStream {
                collect: aggregator.clone(),
                handle: aggregator.clone(),
                aggregator,
            }
        }
    }
}

/// One observable stream; `None` for an aggregation an observable instrument cannot
/// have (the view resolution refuses those first).
pub(crate) fn observable_stream<T: Num>(
    descriptor: Arc<Descriptor>,
    stream: &Resolved,
    limits: Limits,
) -> Option<Arc<ObservableAggregator<T>>> {
    let points = match stream.aggregation {
        Chosen::Sum { monotonic } => ObservedPoints::Sum { monotonic },
        Chosen::LastValue => ObservedPoints::Gauge,
        Chosen::Explicit { .. } | Chosen::Exponential { .. } => return None,
    };
    Some(Arc::new(ObservableAggregator::with_view(
        descriptor,
        limits,
        stream.keys.clone(),
        points,
    )))
}

/// A histogram stream whose view said `record_min_max: false` leaves them out of its
/// points.
fn without_min_max_unless<T>(stream: &Resolved, built: SyncStream<T>) -> SyncStream<T> {
    let record = match stream.aggregation {
        Chosen::Explicit { record_min_max, .. } | Chosen::Exponential { record_min_max, .. } => {
            record_min_max
        }
        _ => true,
    };
    if record {
        return built;
    }
    SyncStream {
        collect: Arc::new(WithoutMinMax(built.collect)),
        ..built
    }
}

/// Collects a stream and clears its points' minimum and maximum.
struct WithoutMinMax(Arc<dyn Collect>);

impl Collect for WithoutMinMax {
    fn descriptor(&self) -> &Arc<Descriptor> {
        self.0.descriptor()
    }

    fn collect(&self, time: SystemTime, reader: Reader) -> MetricSnapshot {
        let mut snapshot = self.0.collect(time, reader);
        match &mut snapshot.data {
            MetricData::Histogram { points, .. } => points.iter_mut().for_each(|p| {
                p.min = None;
                p.max = None;
            }),
            MetricData::ExponentialHistogram { points } => points.iter_mut().for_each(|p| {
                p.min = None;
                p.max = None;
            }),
            MetricData::Sum { .. } | MetricData::Gauge { .. } => {}
        }
        snapshot
    }

    fn deactivate(&self) {
        self.0.deactivate()
    }
}
