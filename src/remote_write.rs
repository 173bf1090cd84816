//! Remote-write bodies for a transport of the user's own: a [`Snapshot`] in, the
//! snappy-compressed `prometheus.WriteRequest` (or, from [`RemoteWriteEncoder::new_v2`],
//! `io.prometheus.write.v2.Request`) that a destination would send out.
//!
//! Destinations do this themselves; this is for an application that must send through
//! its own HTTP client (a serverless function's, say) or store the body.

use crate::prometheus::translate::Translator;
use crate::prometheus::write_request::WriteRequestEncoder;
use crate::prometheus::write_request_v2::RequestV2Encoder;
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
    /// Set for 2.0 bodies.
    v2: Option<V2Body>,
}

/// A 2.0 encoder and its last body.
#[derive(Debug, Default)]
struct V2Body {
    encoder: RequestV2Encoder,
    protobuf: Vec<u8>,
    compressed: Vec<u8>,
}

impl RemoteWriteEncoder {
    /// An encoder with empty caches.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder of remote-write 2.0 bodies (`io.prometheus.write.v2.Request`): one
    /// symbols table for the body, each series with its family's type, unit and help,
    /// counters and histograms with their start timestamps. POST a body with
    /// `Content-Encoding: snappy`,
    /// `Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request` and
    /// `X-Prometheus-Remote-Write-Version: 2.0.0`; a receiver that takes 2.0 answers with
    /// `X-Prometheus-Remote-Write-Samples-Written` (one that does not may answer `204`
    /// and store nothing: see [`Destination::remote_write_v2`](crate::Destination::remote_write_v2)).
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider as _;
    ///
    /// let provider = prompush::MeterProvider::builder().build()?;
    /// provider.meter("shop").u64_counter("orders").build().add(2, &[]);
    ///
    /// let mut encoder = prompush::RemoteWriteEncoder::new_v2();
    /// let body: &[u8] = encoder.encode(&provider.collect())?;
    /// assert!(!body.is_empty());
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use]
    pub fn new_v2() -> Self {
        RemoteWriteEncoder {
            v2: Some(V2Body::default()),
            ..Self::default()
        }
    }

    /// `snapshot` as one snappy-compressed body: every series, with the timestamp of
    /// the snapshot, and the metadata of every family (per series in 2.0).
    ///
    /// # Errors
    /// [`Error::Encode`] when the body cannot be compressed (larger than snappy's limit
    /// of about 4 GiB).
    pub fn encode(&mut self, snapshot: &Snapshot) -> Result<&[u8], Error> {
        let Some(v2) = &mut self.v2 else {
            self.encoder.clear();
            self.translator.translate(snapshot, &mut self.encoder);
            return self.encoder.finish();
        };
        v2.encoder.clear();
        self.translator.translate(snapshot, &mut v2.encoder);
        let protobuf = &mut v2.protobuf;
        protobuf.clear();
        v2.encoder.requests(
            usize::MAX,
            |_| 1,
            |_, request, _| {
                protobuf.extend_from_slice(request);
                Ok(())
            },
        )?;
        let bound = snap::raw::max_compress_len(protobuf.len());
        if v2.compressed.len() < bound {
            v2.compressed.resize(bound, 0);
        }
        let len = snap::raw::Encoder::new()
            .compress(protobuf, &mut v2.compressed)
            .map_err(|e| Error::Encode(e.to_string()))?;
        Ok(v2.compressed.get(..len).unwrap_or_default())
    }

    /// The protobuf bytes of the last [`encode`](Self::encode), before compression
    /// (empty before the first).
    #[must_use]
    pub fn protobuf(&mut self) -> &[u8] {
        match &self.v2 {
            Some(v2) => &v2.protobuf,
            None => self.encoder.protobuf(),
        }
    }
}
