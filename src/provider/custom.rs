//! The provider's custom-metrics API (feature `custom-metrics`): defining them on the
//! builder, creating, deleting and listing them at runtime.

use std::path::PathBuf;

use super::{MeterProvider, MeterProviderBuilder};
use crate::custom::CustomMetric;
use crate::Error;

impl MeterProvider {
    /// Creates a custom metric (see [`crate::custom`]): from the next push of its
    /// granularity on, its destinations receive it. It applies to the base instrument's
    /// existing series and to instruments created later.
    ///
    /// # Errors
    /// [`Error::CustomMetricExists`] when one of that name exists (skip it, or delete
    /// it first); [`Error::InvalidCustomMetric`] for an invalid definition or a
    /// destination this provider does not have; [`Error::AlreadyShutdown`] after
    /// shutdown. Nothing is created then.
    pub fn create_custom_metric(&self, definition: CustomMetric) -> Result<(), Error> {
        if self.is_shut_down() {
            return Err(Error::AlreadyShutdown);
        }
        self.shared.custom.create(definition)
    }

    /// Deletes a custom metric: its push tasks push at once, with stale markers that
    /// end its series (remote write; a JSON destination keeps their last values), then
    /// it is gone. A custom metric of the same name can be created again at once.
    ///
    /// # Errors
    /// [`Error::UnknownCustomMetric`] when none has that name.
    pub fn delete_custom_metric(&self, name: &str) -> Result<(), Error> {
        self.shared.custom.delete(name)
    }

    /// The custom metrics, in creation order.
    #[must_use]
    pub fn custom_metrics(&self) -> Vec<CustomMetric> {
        self.shared.custom.list()
    }
}

impl MeterProviderBuilder {
    /// Creates this custom metric when the provider is built (see [`crate::custom`]).
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_custom_metric(mut self, definition: CustomMetric) -> Self {
        self.custom_metrics.push(definition);
        self
    }

    /// Reads custom metric definitions from a JSON file when the provider is built: a
    /// list of definitions, or an object with a `custom_metrics` list. Errors name the
    /// file and the offending field (`[2].filters.field_op`).
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_custom_metrics_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.custom_metrics_files.push(path.into());
        self
    }
}
