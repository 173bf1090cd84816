//! Bound instruments: the attribute set is resolved once, at `bind()`; each
//! measurement then goes straight to the series' cell.

use std::ptr::NonNull;
use std::sync::Arc;

use opentelemetry::metrics::BoundSyncInstrument;
use opentelemetry::KeyValue;

use crate::aggregate::{Aggregation, Aggregator};

/// A handle on one series of one aggregator.
pub(crate) struct Bound<A: Aggregation> {
    cell: NonNull<A::Cell>,
    aggregator: Arc<Aggregator<A>>,
}

// SAFETY: `cell` points into `aggregator`'s series table, which never frees a series
// before the aggregator itself is dropped, and we hold the aggregator. Cells are only
// shared as `&A::Cell` (`A::Cell: Sync`).
unsafe impl<A: Aggregation> Send for Bound<A> {}
unsafe impl<A: Aggregation> Sync for Bound<A> {}

impl<A: Aggregation> Bound<A> {
    pub(crate) fn new(aggregator: Arc<Aggregator<A>>, attributes: &[KeyValue]) -> Self {
        let cell = NonNull::from(aggregator.cell(attributes));
        Bound { cell, aggregator }
    }
}

impl<A: Aggregation> BoundSyncInstrument<A::Input> for Bound<A> {
    #[inline]
    fn measure(&self, measurement: A::Input) {
        // SAFETY: see the `Send`/`Sync` impls.
        let cell = unsafe { self.cell.as_ref() };
        self.aggregator.record_bound(cell, measurement)
    }
}
