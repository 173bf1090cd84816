//! The provider's custom metrics at runtime: create, delete, list, and the push tasks
//! that carry them (one per destination and granularity, started on first use).

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::Meter;
use opentelemetry::InstrumentationScope;

use super::definition::CustomMetric;
use super::derive::{CompiledMetric, Deriver};
use crate::pipeline::self_metrics::SelfMetrics;
use crate::pipeline::{Collected, Delivery, Pending, Pipeline};
use crate::snapshot::{Descriptor, ScopeSnapshot, Snapshot};
use crate::sync::{Mutex, RwLock};
use crate::transport::ValidatedTransport;
use crate::Error;

/// The custom metrics' view of the provider: collects the instruments a predicate
/// selects (their base instruments), running only those instruments' callbacks.
pub(crate) type CollectMatchingFn =
    Arc<dyn Fn(&dyn Fn(&Descriptor) -> bool) -> Snapshot + Send + Sync>;

/// A destination's checked settings, to start custom-metric pipelines with.
pub(crate) type DestinationConfig = (ValidatedTransport, Delivery);

/// A provider's custom metrics and their push tasks.
pub(crate) struct CustomMetrics {
    active: Arc<RwLock<Vec<Arc<CompiledMetric>>>>,
    destinations: Vec<DestinationConfig>,
    collect_matching: CollectMatchingFn,
    meter: Meter,
    /// The push tasks; the lock also serialises create, delete and close.
    pipelines: Mutex<Tasks>,
}

#[derive(Default)]
struct Tasks {
    /// `(destination, interval, task)`.
    running: Vec<(String, Duration, Pipeline)>,
    /// Set by shutdown: nothing is created afterwards.
    closed: bool,
}

impl CustomMetrics {
    pub(crate) fn new(
        destinations: Vec<DestinationConfig>,
        collect_matching: CollectMatchingFn,
        meter: Meter,
    ) -> Self {
        CustomMetrics {
            active: Arc::default(),
            destinations,
            collect_matching,
            meter,
            pipelines: Mutex::default(),
        }
    }

    /// Checks the definition against the provider's destinations and the other
    /// definitions (`others`, besides those created) without creating it.
    pub(crate) fn check(
        &self,
        definition: &CustomMetric,
        others: &[CustomMetric],
    ) -> Result<(), Error> {
        definition.validate()?;
        let active = self.active.read();
        let existing = active.iter().map(|a| &a.definition).chain(others);
        check_names(definition, existing)?;
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
        let mut tasks = self.pipelines.lock();
        if tasks.closed {
            return Err(Error::AlreadyShutdown);
        }
        self.check(&definition, &[])?;
        let compiled = CompiledMetric::new(definition)?;
        // Start what is missing first: a failure leaves the definition uncreated.
        for destination in &compiled.definition.data_destination {
            let exists = tasks
                .running
                .iter()
                .any(|(d, i, _)| d == destination && *i == compiled.interval);
            if !exists {
                let pipeline = self.start(destination, compiled.interval)?;
                tasks
                    .running
                    .push((destination.clone(), compiled.interval, pipeline));
            }
        }
        self.active.write().push(Arc::new(compiled));
        Ok(())
    }

    /// Removes the definition. Its push tasks push at once, so the stale markers that
    /// end its series do not wait for its granularity; a task no other definition uses
    /// stops (its final push carries them).
    pub(crate) fn delete(&self, name: &str) -> Result<(), Error> {
        let mut tasks = self.pipelines.lock();
        let removed = {
            let mut active = self.active.write();
            let Some(at) = active.iter().position(|a| a.definition.name == name) else {
                return Err(Error::UnknownCustomMetric(name.to_owned()));
            };
            active.remove(at)
        };
        let active = self.active.read();
        let used = |destination: &str, interval: Duration| {
            active.iter().any(|a| {
                a.interval == interval
                    && a.definition
                        .data_destination
                        .iter()
                        .any(|d| d == destination)
            })
        };
        let mut kept = Vec::with_capacity(tasks.running.len());
        for (destination, interval, pipeline) in tasks.running.drain(..) {
            let affected = interval == removed.interval
                && removed.definition.data_destination.contains(&destination);
            if !affected {
                kept.push((destination, interval, pipeline));
            } else if used(&destination, interval) {
                // Not waited for: the answer would only say whether it was delivered.
                drop(pipeline.begin_flush());
                kept.push((destination, interval, pipeline));
            } else {
                drop(pipeline.begin_shutdown());
            }
        }
        tasks.running = kept;
        Ok(())
    }

    /// No creation after this (shutdown).
    pub(crate) fn close(&self) {
        self.pipelines.lock().closed = true;
    }

    pub(crate) fn list(&self) -> Vec<CustomMetric> {
        self.active
            .read()
            .iter()
            .map(|a| a.definition.clone())
            .collect()
    }

    /// Sends a command to every custom-metric task; each answer comes with its
    /// destination's name.
    pub(crate) fn begin_all(&self, begin: fn(&Pipeline) -> Pending) -> Vec<(String, Pending)> {
        self.pipelines
            .lock()
            .running
            .iter()
            .map(|(destination, _, p)| (destination.clone(), begin(p)))
            .collect()
    }

    fn start(&self, destination: &str, interval: Duration) -> Result<Pipeline, Error> {
        // (Called with the tasks lock held, from `create`.)
        let Some((transport, delivery)) = self
            .destinations
            .iter()
            .find(|(_, d)| d.name == destination)
        else {
            return Err(Error::Config(format!(
                "unknown destination {destination:?}"
            )));
        };
        let mut delivery = Delivery {
            interval,
            ..delivery.clone()
        };
        // The destination's own pipeline sends it.
        delivery.series.target_info = false;
        // A custom metric has exactly its group-by labels; its names are unique (refused
        // at creation), so no scope is needed to keep them apart.
        delivery.series.scope_labels = false;
        let collect = CustomCollect {
            active: self.active.clone(),
            collect_matching: self.collect_matching.clone(),
            deriver: Mutex::new(Deriver::default()),
            destination: destination.to_owned(),
            interval,
            scope: InstrumentationScope::builder("prompush.custom_metrics").build(),
        };
        Pipeline::start(
            transport.clone(),
            delivery,
            Some(Arc::new(move || collect.collect())),
            SelfMetrics::new(
                &self.meter,
                destination,
                Some(format!("custom_metrics_every_{}s", interval.as_secs())),
            ),
        )
    }
}

/// The collect function of one custom-metrics pipeline (one destination, one
/// interval): collects the base instruments of the custom metrics it carries and
/// derives them.
struct CustomCollect {
    active: Arc<RwLock<Vec<Arc<CompiledMetric>>>>,
    collect_matching: CollectMatchingFn,
    deriver: Mutex<Deriver>,
    destination: String,
    interval: Duration,
    /// The scope the custom metrics are pushed under.
    scope: InstrumentationScope,
}

impl CustomCollect {
    fn collect(&self) -> Collected {
        let definitions: Vec<Arc<CompiledMetric>> = self
            .active
            .read()
            .iter()
            .filter(|a| {
                a.interval == self.interval
                    && a.definition.data_destination.contains(&self.destination)
            })
            .cloned()
            .collect();
        let base =
            (self.collect_matching)(&|d: &Descriptor| definitions.iter().any(|a| a.is_base(d)));
        let (metrics, ending) = self.deriver.lock().derive(&definitions, &base);
        let wrap = |metrics| Snapshot {
            resource: base.resource.clone(),
            time: base.time,
            scopes: vec![ScopeSnapshot {
                scope: self.scope.clone(),
                metrics,
            }],
        };
        Collected {
            ending: (!ending.is_empty()).then(|| wrap(ending)),
            snapshot: wrap(metrics),
        }
    }
}

/// A name already taken, or one that would export the same series as another custom
/// metric (`get` and `get_total` are both `get_total` for a counter) or as the base
/// metric itself.
fn check_names<'a>(
    definition: &CustomMetric,
    existing: impl Iterator<Item = &'a CustomMetric>,
) -> Result<(), Error> {
    let stem = |name: &str| name.strip_suffix("_total").unwrap_or(name).to_owned();
    let own = stem(&definition.name);
    let base = crate::prometheus::naming::sanitize_metric_name(&definition.metric);
    if own == stem(&base) {
        return Err(Error::InvalidCustomMetric {
            field: "name".into(),
            message: format!(
                "{:?} would be exported under its base metric's name {:?}; give the custom \
                 metric a name of its own",
                definition.name, definition.metric
            ),
        });
    }
    for other in existing {
        if other.name == definition.name {
            return Err(Error::CustomMetricExists(definition.name.clone()));
        }
        if stem(&other.name) == own {
            return Err(Error::InvalidCustomMetric {
                field: "name".into(),
                message: format!(
                    "{:?} would export the same series as the custom metric {:?}; give it a \
                     name of its own",
                    definition.name, other.name
                ),
            });
        }
    }
    Ok(())
}
