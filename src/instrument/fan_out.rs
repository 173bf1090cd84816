//! An instrument with several streams (several views matched it): each measurement
//! goes to every stream's aggregator, and a bound handle binds each of them.
//!
//! Only made for two streams or more: an instrument with one stream hands out that
//! stream's aggregator itself, so the common case pays nothing for fanning out.

use std::sync::Arc;

use opentelemetry::metrics::{BoundSyncInstrument, SyncInstrument};
use opentelemetry::KeyValue;

/// Several streams behind one instrument handle.
pub(crate) struct FanOut<T> {
    pub(crate) streams: Box<[Arc<dyn SyncInstrument<T> + Send + Sync>]>,
}

impl<T: Copy + 'static> SyncInstrument<T> for FanOut<T> {
    fn measure(&self, measurement: T, attributes: &[KeyValue]) {
        for stream in &self.streams {
            stream.measure(measurement, attributes);
        }
    }

    fn bind(&self, attributes: &[KeyValue]) -> Box<dyn BoundSyncInstrument<T> + Send + Sync> {
        Box::new(BoundFanOut {
            streams: self.streams.iter().map(|s| s.bind(attributes)).collect(),
        })
    }
}

/// A bound handle on one attribute set in each stream (each stream's filter applied).
struct BoundFanOut<T> {
    streams: Box<[Box<dyn BoundSyncInstrument<T> + Send + Sync>]>,
}

impl<T: Copy + 'static> BoundSyncInstrument<T> for BoundFanOut<T> {
    fn measure(&self, measurement: T) {
        for stream in &self.streams {
            stream.measure(measurement);
        }
    }
}
