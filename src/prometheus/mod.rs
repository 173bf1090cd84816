//! OpenTelemetry → Prometheus remote-write: names, translation, wire encoding.
//!
//! A push goes through three steps, one module each:
//! [`naming`] turns OpenTelemetry names, units and attribute keys into Prometheus names;
//! [`translate`] turns a [`Snapshot`](crate::Snapshot) into Prometheus series and
//! metadata; [`encode`] writes those as a snappy-compressed `WriteRequest`. For
//! destinations that take JSON custom metrics instead, `custom_json` writes the same
//! series as JSON entries.
//!
//! ```
//! use prompush::prometheus::{encode::WriteRequestEncoder, translate::Translator};
//! # fn demo(snapshot: &prompush::Snapshot) -> Result<(), prompush::Error> {
//! let mut translator = Translator::new();
//! let mut encoder = WriteRequestEncoder::new();
//! // Once per push; both keep their buffers and caches for the next one.
//! encoder.clear();
//! translator.translate(snapshot, &mut encoder);
//! let body: &[u8] = encoder.finish()?; // POST this with `Content-Encoding: snappy`
//! # let _ = body; Ok(()) }
//! ```

pub(crate) mod batch;
mod collide;
pub(crate) mod custom_json;
pub mod encode;
pub mod naming;
#[doc(hidden)]
pub mod proto;
pub mod stale;
pub mod translate;

#[cfg(test)]
mod tests;
