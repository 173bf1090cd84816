//! prompush: an OpenTelemetry metrics SDK that pushes to Prometheus remote-write endpoints.
#![deny(missing_docs)]

mod error;
pub mod prometheus;
pub mod receiver;
pub mod snapshot;

pub use error::Error;
pub use snapshot::{Attributes, Snapshot};
