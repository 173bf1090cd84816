//! The provider's custom metrics at runtime: create, delete, list, and the push tasks
//! that carry them (one per destination and granularity, started on first use).

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::Meter;
use opentelemetry::InstrumentationScope;
use parking_lot::{Mutex, RwLock};

use super::definition::CustomMetric;
use super::derive::{Active, Deriver};
use crate::pipeline::metrics::SelfMetrics;
use crate::pipeline::{Collection, Delivery, Pending, Pipeline};
use crate::snapshot::{Descriptor, ScopeSnapshot, Snapshot};
use crate::transport::ValidatedTransport;
use crate::Error;

/// Collects the instruments a predicate selects (the provider's collection, narrowed).
pub(crate) type BaseSource = Arc<dyn Fn(&dyn Fn(&Descriptor) -> bool) -> Snapshot + Send + Sync>;

/// A destination's checked settings, to start custom-metric pipelines with.
pub(crate) type DestinationConfig = (ValidatedTransport, Delivery);

/// A provider's custom metrics and their push tasks.
pub(crate) struct CustomMetrics {
    active: Arc<RwLock<Vec<Arc<Active>>>>,
    destinations: Vec<DestinationConfig>,
    source: BaseSource,
    meter: Meter,
    /// `(destination, interval, task)`; the lock also serialises create and delete.
    pipelines: Mutex<Vec<(String, Duration, Pipeline)>>,
}

impl CustomMetrics {
    pub(crate) fn new(
        destinations: Vec<DestinationConfig>,
        source: BaseSource,
        meter: Meter,
    ) -> Self {
        CustomMetrics {
            active: Arc::default(),
            destinations,
            source,
            meter,
            pipelines: Mutex::new(Vec::new()),
        }
    }

    /// Checks the definition against the provider's destinations without creating it.
    pub(crate) fn check(&self, definition: &CustomMetric) -> Result<(), Error> {
        definition.validate()?;
        for (i, wanted) in definition.data_destination.iter().enumerate() {
            if !self.destinations.iter().any(|(_, d)| &d.name == wanted) {
                let known: Vec<String> = self
                    .destinations
                    .iter()
                    .map(|(_, d)| format!("{:?}", d.name))
                    .collect();
                return Err(Error::InvalidCustomMetric {
                    field: format!("data_destination[{i}]"),
                    message: if known.is_empty() {
                        format!(
                            "unknown destination {wanted:?}: this provider has none; add one \
                             with with_destination"
                        )
                    } else {
                        format!(
                            "unknown destination {wanted:?}; this provider has {}",
                            known.join(", ")
                        )
                    },
                });
            }
        }
        Ok(())
    }

    pub(crate) fn create(&self, definition: CustomMetric) -> Result<(), Error> {
        self.check(&definition)?;
        let mut pipelines = self.pipelines.lock();
        if self
            .active
            .read()
            .iter()
            .any(|a| a.definition.name == definition.name)
        {
            return Err(Error::CustomMetricExists(definition.name));
        }
        let active = Active::new(definition)?;
        // Start what is missing first: a failure leaves the definition uncreated.
        for destination in &active.definition.data_destination {
            let exists = pipelines
                .iter()
                .any(|(d, i, _)| d == destination && *i == active.interval);
            if !exists {
                let pipeline = self.start(destination, active.interval)?;
                pipelines.push((destination.clone(), active.interval, pipeline));
            }
        }
        self.active.write().push(Arc::new(active));
        Ok(())
    }

    pub(crate) fn delete(&self, name: &str) -> Result<(), Error> {
        let _serialised = self.pipelines.lock();
        let mut active = self.active.write();
        let before = active.len();
        active.retain(|a| a.definition.name != name);
        if active.len() == before {
            return Err(Error::UnknownCustomMetric(name.to_owned()));
        }
        Ok(())
    }

    pub(crate) fn list(&self) -> Vec<CustomMetric> {
        self.active
            .read()
            .iter()
            .map(|a| a.definition.clone())
            .collect()
    }

    /// Sends a command to every custom-metric task; names them for errors.
    pub(crate) fn begin_all(&self, begin: fn(&Pipeline) -> Pending) -> Vec<(String, Pending)> {
        self.pipelines
            .lock()
            .iter()
            .map(|(destination, interval, p)| {
                (
                    format!("{destination} (custom metrics every {interval:?})"),
                    begin(p),
                )
            })
            .collect()
    }

    fn start(&self, destination: &str, interval: Duration) -> Result<Pipeline, Error> {
        let Some((transport, delivery)) = self
            .destinations
            .iter()
            .find(|(_, d)| d.name == destination)
        else {
            return Err(Error::Config(format!(
                "unknown destination {destination:?}"
            )));
        };
        let delivery = Delivery {
            interval,
            // The destination's own pipeline sends it.
            target_info: false,
            ..delivery.clone()
        };
        let active = self.active.clone();
        let source = self.source.clone();
        let deriver = Mutex::new(Deriver::default());
        let name = destination.to_owned();
        let scope = InstrumentationScope::builder("prompush.custom_metrics").build();
        let collect = move || {
            let definitions: Vec<Arc<Active>> = active
                .read()
                .iter()
                .filter(|a| a.interval == interval && a.definition.data_destination.contains(&name))
                .cloned()
                .collect();
            let base = source(&|d: &Descriptor| definitions.iter().any(|a| a.is_base(d)));
            let (metrics, ending) = deriver.lock().derive(&definitions, &base);
            let wrap = |metrics| Snapshot {
                resource: base.resource.clone(),
                time: base.time,
                scopes: vec![ScopeSnapshot {
                    scope: scope.clone(),
                    metrics,
                }],
            };
            Collection {
                ending: (!ending.is_empty()).then(|| wrap(ending)),
                snapshot: wrap(metrics),
            }
        };
        Pipeline::start(
            transport.clone(),
            delivery,
            Some(Arc::new(collect)),
            SelfMetrics::new(
                &self.meter,
                destination,
                Some(format!("custom_metrics_every_{}s", interval.as_secs())),
            ),
        )
    }
}
