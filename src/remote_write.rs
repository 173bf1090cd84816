//! Remote-write bodies for a transport of the user's own: a [`Snapshot`] in, the
//! snappy-compressed `prometheus.WriteRequest` that a destination would send out.
//!
//! Destinations do this themselves; this is for an application that must send through
//! its own HTTP client (a serverless function's, say) or store the body.

use crate::prometheus::translate::Translator;
use crate::prometheus::write_request::WriteRequestEncoder;
use crate::{Error, Snapshot};

/// Encodes snapshots as remote-write 1.0 bodies, with the names, labels, scope labels
/// and merged collisions of a push.
///
/// Keep one and reuse it: it caches the translated names per instrument and the
/// encoded labels per series, so later bodies cost a fraction of the first. POST a body
/// with `Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and
/// `X-Prometheus-Remote-Write-Version: 0.1.0`.
///
/// ```
/// use opentelemetry::metrics::MeterProvider as _;
///
/// let provider = prompush::MeterProvider::builder().build()?;
/// provider.meter("shop").u64_counter("orders").build().add(2, &[]);
///
/// let mut encoder = prompush::RemoteWriteEncoder::new();
/// let body: &[u8] = encoder.encode(&provider.collect())?;
/// assert!(!body.is_empty());
/// # Ok::<(), prompush::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct RemoteWriteEncoder {
    translator: Translator,
    encoder: WriteRequestEncoder,
}

impl RemoteWriteEncoder {
    /// An encoder with empty caches.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `snapshot` as one snappy-compressed `WriteRequest` body: every series, with the
    /// timestamp of the snapshot, and the metadata of every family.
    ///
    /// # Errors
    /// [`Error::Encode`] when the body cannot be compressed (larger than snappy's limit
    /// of about 4 GiB).
    pub fn encode(&mut self, snapshot: &Snapshot) -> Result<&[u8], Error> {
        self.encoder.clear();
        self.translator.translate(snapshot, &mut self.encoder);
        self.encoder.finish()
    }

    /// The protobuf bytes of the last [`encode`](Self::encode), before compression
    /// (empty before the first).
    #[must_use]
    pub fn protobuf(&mut self) -> &[u8] {
        self.encoder.protobuf()
    }
}
