//! The custom-metrics runtime when the feature `custom-metrics` is off: a provider has
//! none, and neither the provider nor its builder offers a way to define one, so each
//! part below holds nothing and does nothing.

/// No definition can exist without the feature.
#[derive(Debug)]
pub(crate) enum CustomMetric {}

pub(crate) mod manage {
    //! Stand-ins for the provider's custom metrics and their push tasks.

    use std::sync::Arc;

    use opentelemetry::metrics::Meter;

    use crate::pipeline::{Delivery, Pending, Pipeline};
    use crate::snapshot::{Descriptor, Snapshot};
    use crate::transport::ValidatedTransport;

    /// As with the feature: collects the instruments a predicate selects.
    pub(crate) type CollectMatchingFn =
        Arc<dyn Fn(&dyn Fn(&Descriptor) -> bool) -> Snapshot + Send + Sync>;

    /// As with the feature: a destination's checked settings.
    pub(crate) type DestinationConfig = (ValidatedTransport, Delivery);

    /// A provider's custom metrics: always none.
    pub(crate) struct CustomMetrics;

    impl CustomMetrics {
        pub(crate) fn new(_: Vec<DestinationConfig>, _: CollectMatchingFn, _: Meter) -> Self {
            CustomMetrics
        }

        pub(crate) fn close(&self) {}

        pub(crate) fn begin_all(&self, _: fn(&Pipeline) -> Pending) -> Vec<(String, Pending)> {
            Vec::new()
        }
    }
}

pub(crate) mod file {
    //! Stand-in for the definitions configured on the builder: there are none.

    use std::path::PathBuf;

    use super::manage::CustomMetrics;
    use super::CustomMetric;
    use crate::Error;

    pub(crate) struct Configured;

    impl Configured {
        pub(crate) fn load(_: Vec<CustomMetric>, _: &[PathBuf]) -> Result<Self, Error> {
            Ok(Configured)
        }

        pub(crate) fn check(&self, _: &CustomMetrics) -> Result<(), Error> {
            Ok(())
        }

        pub(crate) fn create(self, _: &CustomMetrics) -> Result<(), Error> {
            Ok(())
        }
    }
}
