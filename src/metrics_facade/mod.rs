//! The `metrics` facade (feature `metrics`): a [`metrics::Recorder`] that records into a
//! provider, so crates instrumented with `counter!`, `gauge!` and `histogram!` push
//! through the same destinations, names and series table as the OpenTelemetry
//! instruments.
//!
//! Each metric name becomes an instrument of the scope `metrics` on first registration:
//! counters a `u64` counter, gauges an `f64` gauge, histograms an `f64` histogram
//! (exponential when the provider chose those, else over the Prometheus clients'
//! buckets for seconds). The provider's views apply to them as to any instrument. The
//! unit comes from `describe_*` when that came first, and stays for the life of the
//! recorder. A handle (what the macros return) is a bound series in each of the
//! instrument's streams: its labels are resolved (and filtered by the views) once, at
//! registration, and the recorder remembers each key's handle, so a macro called again
//! finds it with one read-locked lookup.

mod handles;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use opentelemetry::{InstrumentationScope, KeyValue};

use self::handles::{FacadeCounter, FacadeGauge, FacadeHistogram, FacadeSeries};
use crate::aggregate::number::Num;
use crate::instrument::registry::{Naming, Origin, Registry, Spec};
use crate::snapshot::InstrumentKind;
use crate::sync::{Mutex, RwLock};
use crate::MeterProvider;

/// The instrumentation scope of everything recorded through the facade.
const METRICS_SCOPE: &str = "metrics";

impl MeterProvider {
    /// A [`metrics::Recorder`] over this provider (feature `metrics`): what the `metrics`
    /// crate's macros record lands in this provider's instruments, under the scope
    /// `metrics`, and goes to every destination.
    ///
    /// ```
    /// # use opentelemetry::metrics::MeterProvider as _;
    /// let provider = prompush::MeterProvider::builder().build()?;
    /// metrics::set_global_recorder(provider.metrics_recorder())
    ///     .expect("no other recorder installed");
    ///
    /// metrics::describe_histogram!("job.duration", metrics::Unit::Seconds, "time per job");
    /// metrics::counter!("jobs", "queue" => "mail").increment(3);
    /// metrics::gauge!("queue.depth").set(12.0);
    /// metrics::histogram!("job.duration").record(0.25);
    ///
    /// let snapshot = provider.collect();
    /// assert_eq!(snapshot.metric("job.duration").unwrap().descriptor().unit(), "s");
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use]
    pub fn metrics_recorder(&self) -> MetricsRecorder {
        let scope = InstrumentationScope::builder(METRICS_SCOPE).build();
        MetricsRecorder {
            registry: self.scope_registry(scope),
            descriptions: Mutex::default(),
            counters: Handles::default(),
            gauges: Handles::default(),
            histograms: Handles::default(),
        }
    }
}

/// A [`metrics::Recorder`] that records into a [`MeterProvider`]; made by
/// [`MeterProvider::metrics_recorder`], installed with [`metrics::set_global_recorder`].
pub struct MetricsRecorder {
    registry: Arc<Registry>,
    descriptions: Mutex<HashMap<String, Description>>,
    counters: Handles<FacadeCounter>,
    gauges: Handles<FacadeGauge>,
    histograms: Handles<FacadeHistogram>,
}

/// What `describe_*` said about a name, and whether an instrument of that name exists
/// (then its unit can no longer change).
#[derive(Default)]
struct Description {
    unit: Option<Unit>,
    text: String,
    registered: bool,
}

/// The handles of one kind, by key; `None` for a key whose name is not a valid
/// instrument name (logged once, when registered).
struct Handles<H>(RwLock<HashMap<Key, Option<Arc<H>>, foldhash::fast::RandomState>>);

impl<H> Default for Handles<H> {
    fn default() -> Self {
        Handles(RwLock::default())
    }
}

impl<H> Handles<H> {
    fn get_or_register(&self, key: &Key, register: impl FnOnce() -> Option<H>) -> Option<Arc<H>> {
        if let Some(found) = self.0.read().get(key) {
            return found.clone();
        }
        let mut map = self.0.write();
        map.entry(key.clone())
            .or_insert_with(|| register().map(Arc::new))
            .clone()
    }
}

impl MetricsRecorder {
    /// The bound series of `key` in each stream of the instrument its name makes.
    fn bind<T: Num>(&self, key: &Key, kind: InstrumentKind) -> Option<Box<[FacadeSeries<T>]>> {
        let name = key.name();
        let (unit, description) = {
            let mut descriptions = self.descriptions.lock();
            let d = descriptions.entry(name.to_owned()).or_default();
            d.registered = true;
            (d.unit.map(ucum), d.text.clone())
        };
        let spec = Spec {
            name: name.to_owned().into(),
            description: Some(description.into()),
            unit: unit.map(Into::into),
            kind,
            bounds: None,
            naming: Naming::Any,
        };
        let (_, aggregators) = self
            .registry
            .sync_streams::<T>(spec, Origin::MetricsFacade)?;
        let attributes: Vec<KeyValue> = key
            .labels()
            .map(|l| KeyValue::new(l.key().to_owned(), l.value().to_owned()))
            .collect();
        Some(
            aggregators
                .into_iter()
                .filter_map(|a| FacadeSeries::bind(a, &attributes))
                .collect(),
        )
    }

    fn describe(&self, name: KeyName, unit: Option<Unit>, text: SharedString) {
        let mut descriptions = self.descriptions.lock();
        let d = descriptions.entry(name.as_str().to_owned()).or_default();
        if d.registered {
            tracing::debug!(
                metric = name.as_str(),
                "described after its first registration: the unit and description stay \
                 as they were; describe metrics before recording them"
            );
            return;
        }
        d.unit = unit.or(d.unit);
        d.text = text.into_owned();
    }
}

/// The UCUM unit (OpenTelemetry's notation) of a `metrics` unit.
fn ucum(unit: Unit) -> &'static str {
    match unit {
        // An annotation: no name suffix, and never `ratio` on a gauge as `1` would be.
        Unit::Count => "{count}",
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Tebibytes => "TiBy",
        Unit::Gibibytes => "GiBy",
        Unit::Mebibytes => "MiBy",
        Unit::Kibibytes => "KiBy",
        Unit::Bytes => "By",
        Unit::TerabitsPerSecond => "Tbit/s",
        Unit::GigabitsPerSecond => "Gbit/s",
        Unit::MegabitsPerSecond => "Mbit/s",
        Unit::KilobitsPerSecond => "kbit/s",
        Unit::BitsPerSecond => "bit/s",
        Unit::CountPerSecond => "{count}/s",
    }
}

impl metrics::Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description)
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description)
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description)
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let bind = || self.bind(key, InstrumentKind::Counter);
        let handle = self
            .counters
            .get_or_register(key, || bind().map(FacadeCounter));
        handle.map_or_else(Counter::noop, Counter::from_arc)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let bind = || self.bind(key, InstrumentKind::Gauge);
        let handle = self.gauges.get_or_register(key, || bind().map(FacadeGauge));
        handle.map_or_else(Gauge::noop, Gauge::from_arc)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        // Made only when the key is new: a call on a known key allocates nothing.
        let bind = || self.bind(key, InstrumentKind::Histogram);
        let handle = self
            .histograms
            .get_or_register(key, || bind().map(FacadeHistogram));
        handle.map_or_else(Histogram::noop, Histogram::from_arc)
    }
}

impl fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("scope", &METRICS_SCOPE)
            .field("counters", &self.counters.0.read().len())
            .field("gauges", &self.gauges.0.read().len())
            .field("histograms", &self.histograms.0.read().len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
