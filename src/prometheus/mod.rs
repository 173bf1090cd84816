//! OpenTelemetry → Prometheus remote-write: names, translation, wire encoding.
//!
//! A push goes through three steps, one module each:
//! [`naming`] turns OpenTelemetry names, units and attribute keys into Prometheus names;
//! [`translate`] turns a [`Snapshot`](crate::Snapshot) into Prometheus series and
//! metadata; [`write_request`] writes those as a snappy-compressed `WriteRequest`
//! (remote write 1.0), [`write_request_v2`] as 2.0's `io.prometheus.write.v2.Request`. For
//! destinations that take Unleash's custom-metrics JSON instead, `unleash_json` writes
//! the same series as JSON entries.
//!
//! Inside translation: `model` holds what the translation files share (series keys,
//! the names cached per instrument, family kinds) and imports none of them; `series`
//! what a translator hands a sink (labels, metadata, the
//! [`SeriesSink`](translate::SeriesSink) trait), `name_cache` what it keeps per
//! instrument, `labels` how one point's labels are built, `collide` how points that
//! make one series are found and merged, `exemplar_selection` which exemplars go with a
//! series; [`stale`] ends series, `batch` cuts an encoded request into smaller ones.
//! Crate-private: users reach translation through destinations, the scrape renderer
//! and [`RemoteWriteEncoder`](crate::RemoteWriteEncoder).

pub(crate) mod batch;
mod collide;
// Reading bodies back is the receiver's job.
#[cfg(feature = "receiver")]
pub(crate) mod decode;
mod exemplar_selection;
mod exponential;
pub(crate) mod exposition;
mod labels;
pub(crate) mod model;
mod name_cache;
pub(crate) mod naming;
pub(crate) mod native;
pub(crate) mod proto;
mod rich_series;
mod series;
pub(crate) mod stale;
pub(crate) mod translate;
pub(crate) mod unleash_json;
pub(crate) mod write_request;
pub(crate) mod write_request_v2;

#[cfg(test)]
mod tests;
