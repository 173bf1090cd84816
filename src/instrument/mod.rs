//! Instruments: the `opentelemetry` API traits implemented over the aggregators, and
//! the per-meter registry that creates them, one aggregator per stream the views make
//! (`streams`), several streams behind one handle (`fan_out`).

mod bound;
mod disabled;
mod fan_out;
pub(crate) mod registry;
pub(crate) mod streams;
mod sync;

use std::sync::Arc;
use std::time::SystemTime;

use crate::aggregate::idle::Reader;
use crate::aggregate::{number::Num, Aggregation, Aggregator, ObservableAggregator};
use crate::snapshot::{Descriptor, MetricSnapshot};

#[cfg(feature = "metrics")]
pub(crate) use bound::Bound;
pub(crate) use disabled::Disabled;

/// What the provider needs of every registered instrument.
pub(crate) trait Collect: Send + Sync {
    fn descriptor(&self) -> &Arc<Descriptor>;
    fn collect(&self, time: SystemTime, reader: Reader) -> MetricSnapshot;
    fn deactivate(&self);
}

/// Both aggregator kinds are collected through their own inherent methods.
macro_rules! collect_by_inherent_methods {
    ($ty:ident<$param:ident: $bound:ident>) => {
        impl<$param: $bound> Collect for $ty<$param> {
            fn descriptor(&self) -> &Arc<Descriptor> {
                &self.descriptor
            }
            fn collect(&self, time: SystemTime, reader: Reader) -> MetricSnapshot {
                $ty::collect(self, time, reader)
            }
            fn deactivate(&self) {
                $ty::deactivate(self)
            }
        }
    };
}
collect_by_inherent_methods!(Aggregator<A: Aggregation>);
collect_by_inherent_methods!(ObservableAggregator<T: Num>);

/// The OpenTelemetry instrument-name rule: a letter, then up to 254 of
/// `A-Za-z0-9_.-/`.
pub(crate) fn validate_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("the name is empty"),
        Some(c) if !c.is_ascii_alphabetic() => return Err("the name must start with a letter"),
        Some(_) => {}
    }
    if name.len() > 255 {
        return Err("the name is longer than 255 characters");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')) {
        return Err("the name may only contain A-Z, a-z, 0-9, '_', '.', '-' and '/'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn names() {
        for ok in ["a", "http.server.duration", "A_b-c/d.e", &"x".repeat(255)] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "1abc", "_a", "a b", "a$", "é", &"x".repeat(256)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
