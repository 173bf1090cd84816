//! Synchronous instruments: `Counter`, `UpDownCounter`, `Histogram` and `Gauge` call
//! straight into their aggregator.

use opentelemetry::metrics::{BoundSyncInstrument, SyncInstrument};
use opentelemetry::KeyValue;

use super::bound::Bound;
use super::Disabled;
use crate::aggregate::{Aggregation, Aggregator};

impl<A: Aggregation> SyncInstrument<A::Input> for Aggregator<A> {
    #[inline]
    fn measure(&self, measurement: A::Input, attributes: &[KeyValue]) {
        self.record(measurement, attributes)
    }

    fn bind(
        &self,
        attributes: &[KeyValue],
    ) -> Box<dyn BoundSyncInstrument<A::Input> + Send + Sync> {
        match self.arc() {
            Some(aggregator) => Box::new(Bound::new(aggregator, attributes)),
            // Unreachable while `&self` is borrowed from the Arc, but never panic.
            None => Box::new(Disabled),
        }
    }
}
