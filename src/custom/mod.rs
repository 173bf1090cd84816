//! Custom metrics defined at runtime: a base instrument's measurements, filtered by
//! their attributes, re-aggregated by a few of them, pushed to chosen destinations at a
//! chosen granularity.
//!
//! ```
//! use prompush::custom::CustomMetric;
//! use prompush::{Destination, MeterProvider};
//! use opentelemetry::KeyValue;
//!
//! # let receiver = prompush::receiver::Receiver::start().unwrap();
//! let provider = MeterProvider::builder()
//!     .with_destination(Destination::remote_write("metrics_api", receiver.url()))
//!     .build()?;
//! provider.create_custom_metric(CustomMetric::from_json(r#"{
//!     "name": "Sessions_by_session_property_key",
//!     "metric": "sessions_total",
//!     "time_granularity": ["five_minute", "hourly", "daily"],
//!     "data_destination": ["metrics_api"],
//!     "filters": {"op": "and", "children": [
//!         {"key": "session_property_key", "val": "session_property_value", "field_op": "eq"}]},
//!     "group_by": ["session_property_value"]
//! }"#)?)?;
//!
//! let sessions = provider.meter("app").u64_counter("sessions").build();
//! sessions.add(1, &[
//!     KeyValue::new("session_property_key", "session_property_value"),
//!     KeyValue::new("session_property_value", "premium"),
//!     KeyValue::new("user", "u-123"),
//! ]);
//! // Every five minutes, metrics_api receives
//! // Sessions_by_session_property_key_total{session_property_value="premium"} 1
//! // (next to sessions_total with all three labels, as always).
//! # provider.shutdown().ok();
//! # Ok::<(), prompush::Error>(())
//! ```
//!
//! # Semantics
//! - **Base metric**: `metric` names an instrument by its OpenTelemetry name
//!   (`sessions`) or its Prometheus name (`sessions_total`). Every instrument of that
//!   name, in any meter, feeds it, including instruments created after the definition.
//! - **Filter**: a series is kept when its attributes match. A test's `key` is an
//!   attribute's OpenTelemetry key or its Prometheus label name; values compare in their
//!   label form (`404`, `true`). `neq` also matches series without the attribute;
//!   `regex` must match the whole value.
//! - **Group-by**: the kept series are grouped by the `group_by` attributes (under their
//!   own keys); the others are aggregated away: sums add, histograms merge bucket by
//!   bucket (base histograms need the same bounds), gauges show the value of the member
//!   that changed most recently as of each collection (when several changed between two
//!   collections, one of them). A series without a group-by attribute goes to the group
//!   without it.
//! - **Output**: the custom metric is exported like an instrument named `name` with the
//!   base's kind and unit: a counter gets `_total`, a unit its suffix. Its series carry
//!   the group-by labels plus `job`/`instance` and the destination's external labels.
//!   A name that would export its base's series or another custom metric's (`get` and
//!   `get_total`) is refused. Of instruments of one name that differ in kind or unit,
//!   only those like the first feed it.
//! - **Granularity**: the custom metric is pushed at the finest granularity listed
//!   (`["five_minute", "hourly"]` pushes every five minutes), by a push task of its own
//!   per destination and granularity, so it does not change the destination's own
//!   schedule. `force_flush` pushes it at once too.
//! - **Cost**: nothing per measurement. The filter and the projection run when a base
//!   series is first seen at a collection (or the definition is new) and are
//!   remembered; collection then adds each kept series into its group.
//! - **Lifecycle**: [`MeterProvider::create_custom_metric`](crate::MeterProvider::create_custom_metric)
//!   checks the whole definition (destinations and names included) before anything
//!   changes, [`delete_custom_metric`](crate::MeterProvider::delete_custom_metric) ends
//!   its series with stale markers pushed at once (remote write; JSON has none), and
//!   [`custom_metrics`](crate::MeterProvider::custom_metrics) lists them.

// One file per job: `definition` the types and their checks, `json` their JSON form,
// `file` the definitions configured on the builder (and their files), `filter` the
// compiled filter, `derive` the computation at each collection, `manage` create,
// delete, list and the push tasks.
mod definition;
mod derive;
pub(crate) mod file;
mod filter;
mod json;
pub(crate) mod manage;

pub use definition::{CustomMetric, FieldOp, Filter, Granularity};
