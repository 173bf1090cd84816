//! The instrument handed out when one cannot record (invalid name, shut-down
//! provider): every call is a no-op.

use opentelemetry::metrics::{BoundSyncInstrument, SyncInstrument};
use opentelemetry::KeyValue;

/// Records nothing.
pub(crate) struct Disabled;

impl<T> SyncInstrument<T> for Disabled {
    fn measure(&self, _: T, _: &[KeyValue]) {}

    fn bind(&self, _: &[KeyValue]) -> Box<dyn BoundSyncInstrument<T> + Send + Sync> {
        Box::new(Disabled)
    }
}

impl<T> BoundSyncInstrument<T> for Disabled {
    fn measure(&self, _: T) {}
}
