//! Bound instruments: the attribute set is resolved once, at `bind()`; each
//! measurement then goes straight to the series' cell.

use std::sync::Arc;

use opentelemetry::metrics::BoundSyncInstrument;
use opentelemetry::KeyValue;

use crate::aggregate::{Aggregation, Aggregator, Binding};

/// A handle on one series of one aggregator; the series is not removed for idleness
/// while the handle lives.
pub(crate) struct Bound<A: Aggregation> {
    binding: Binding<A::Cell>,
    aggregator: Arc<Aggregator<A>>,
}

// SAFETY: the binding points into `aggregator`'s series table at a series whose bound
// count it holds (or at the overflow cell): the table frees a series only once it is
// retired, which a held count forbids, or when the aggregator itself is dropped, and we
// hold the aggregator. Cells are only shared as `&A::Cell` (`A::Cell: Sync`).
unsafe impl<A: Aggregation> Send for Bound<A> {}
unsafe impl<A: Aggregation> Sync for Bound<A> {}

impl<A: Aggregation> Bound<A> {
    pub(crate) fn new(aggregator: Arc<Aggregator<A>>, attributes: &[KeyValue]) -> Self {
        let binding = aggregator.bind(attributes);
        Bound {
            binding,
            aggregator,
        }
    }
}

impl<A: Aggregation> Drop for Bound<A> {
    fn drop(&mut self) {
        // SAFETY: see the `Send`/`Sync` impls; released once, here.
        unsafe { self.binding.release() }
    }
}

impl<A: Aggregation> Bound<A> {
    /// Runs a read-modify-write of the caller's own on this series' cell (gauge
    /// increments, counters set to an absolute value), unless the instrument was shut
    /// down.
    #[cfg(feature = "metrics")]
    #[inline]
    pub(crate) fn modify(&self, op: impl FnOnce(&A::Cell)) {
        // SAFETY: see the `Send`/`Sync` impls.
        let cell = unsafe { self.binding.cell() };
        self.aggregator.modify_bound(cell, op)
    }
}

impl<A: Aggregation> BoundSyncInstrument<A::Input> for Bound<A> {
    #[inline]
    fn measure(&self, measurement: A::Input) {
        // SAFETY: see the `Send`/`Sync` impls.
        let cell = unsafe { self.binding.cell() };
        self.aggregator.record_bound(cell, measurement)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::metrics::BoundSyncInstrument;
    use opentelemetry::KeyValue;

    use super::Bound;
    use crate::aggregate::idle::Reader;
    use crate::aggregate::{Aggregator, Limits, Sum};
    use crate::snapshot::{Descriptor, InstrumentKind, Number, NumberKind};

    /// Bound handles stay valid while other threads grow the series table under them
    /// (`scripts/test` runs this under Miri too, where the toolchain has it).
    #[test]
    fn bound_handles_count_exactly_while_the_table_grows() {
        let descriptor = Arc::new(Descriptor {
            id: Descriptor::next_id(),
            name: "c".into(),
            description: "".into(),
            unit: "".into(),
            kind: InstrumentKind::Counter,
            number: NumberKind::U64,
        });
        let aggregator = Aggregator::new(
            descriptor,
            Sum::<u64>::new(true),
            Limits {
                cardinality: 1000,
                idle: None,
            },
        );
        let bound = Arc::new(Bound::new(
            aggregator.clone(),
            &[KeyValue::new("k", "bound")],
        ));
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let (bound, aggregator) = (bound.clone(), aggregator.clone());
                std::thread::spawn(move || {
                    for i in 0..50u64 {
                        bound.measure(1);
                        // New sets: the table grows and re-indexes meanwhile.
                        aggregator.record(1, &[KeyValue::new("k", (t * 100 + i) as i64)]);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no panic");
        }
        let snapshot = aggregator.collect(std::time::SystemTime::now(), Reader::Other);
        let points = snapshot.data.number_points();
        let bound_total = points
            .iter()
            .find(|p| p.attributes.get("k") == Some(&opentelemetry::Value::from("bound")))
            .map(|p| p.value);
        assert_eq!(bound_total, Some(Number::U64(100)));
        assert_eq!(points.len(), 101);
    }
}
