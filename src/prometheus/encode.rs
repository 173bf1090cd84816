//! The remote-write body: a `prometheus.WriteRequest` protobuf, snappy block-compressed.
//!
//! [`WriteRequestEncoder`] is a [`SeriesSink`]: the translator hands it series and it
//! writes their protobuf bytes straight into one buffer, with no message structs and
//! no per-series allocation. The buffers are kept between pushes.

use prost::encoding::encoded_len_varint;
use prost::Message;

use super::proto;
use super::translate::{Labels, Metadata, SeriesSink};
use crate::Error;

// Protobuf tags: (field number << 3) | wire type; 2 = length-delimited, 1 = 64-bit,
// 0 = varint.
const WRITE_REQUEST_TIMESERIES: u8 = (1 << 3) | 2;
const WRITE_REQUEST_METADATA: u8 = (3 << 3) | 2;
const TIMESERIES_LABELS: u8 = (1 << 3) | 2;
const TIMESERIES_SAMPLES: u8 = (2 << 3) | 2;
const LABEL_NAME: u8 = (1 << 3) | 2;
const LABEL_VALUE: u8 = (2 << 3) | 2;
const SAMPLE_VALUE: u8 = (1 << 3) | 1;
const SAMPLE_TIMESTAMP: u8 = 2 << 3;
const METADATA_TYPE: u8 = 1 << 3;
const METADATA_FAMILY: u8 = (2 << 3) | 2;
const METADATA_HELP: u8 = (4 << 3) | 2;
const METADATA_UNIT: u8 = (5 << 3) | 2;

/// Builds remote-write bodies. Reuse one across pushes: its buffers keep their capacity.
///
/// ```
/// use prompush::prometheus::encode::WriteRequestEncoder;
/// use prompush::prometheus::translate::Translator;
/// # fn demo(snapshot: &prompush::Snapshot) -> Result<(), prompush::Error> {
/// let (mut translator, mut encoder) = (Translator::new(), WriteRequestEncoder::new());
/// encoder.clear();
/// translator.translate(snapshot, &mut encoder);
/// let body = encoder.finish()?;
/// # let _ = body; Ok(()) }
/// ```
pub struct WriteRequestEncoder {
    /// The `WriteRequest` protobuf: time series, then metadata once finished.
    request: Vec<u8>,
    /// Metadata entries, appended to `request` by `finish` so series stay together.
    metadata: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
    series: usize,
    finished: bool,
}

impl std::fmt::Debug for WriteRequestEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteRequestEncoder")
            .field("series", &self.series)
            .field("request_bytes", &self.request.len())
            .finish_non_exhaustive()
    }
}

impl Default for WriteRequestEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteRequestEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self {
            request: Vec::new(),
            metadata: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            series: 0,
            finished: false,
        }
    }

    /// Starts a new request, keeping the buffers' capacity.
    pub fn clear(&mut self) {
        self.request.clear();
        self.metadata.clear();
        self.compressed.clear();
        self.series = 0;
        self.finished = false;
    }

    /// The number of series written since [`clear`](Self::clear).
    pub fn series_count(&self) -> usize {
        self.series
    }

    /// Whether no series was written since [`clear`](Self::clear).
    pub fn is_empty(&self) -> bool {
        self.series == 0
    }

    /// The uncompressed `WriteRequest` protobuf, metadata included.
    pub fn protobuf(&mut self) -> &[u8] {
        self.seal();
        &self.request
    }

    /// Finishes the request and returns the snappy block-compressed body, ready to POST.
    /// Adding series afterwards needs a [`clear`](Self::clear) first.
    ///
    /// # Errors
    /// [`Error::Encode`] if the request is over snappy's block size limit (~4 GiB).
    pub fn finish(&mut self) -> Result<&[u8], Error> {
        self.seal();
        if self.compressed.is_empty() {
            self.compressed
                .resize(snap::raw::max_compress_len(self.request.len()), 0);
            let n = self
                .snappy
                .compress(&self.request, &mut self.compressed)
                .map_err(|e| Error::Encode(e.to_string()))?;
            self.compressed.truncate(n);
        }
        Ok(&self.compressed)
    }

    fn seal(&mut self) {
        if !self.finished {
            self.request.extend_from_slice(&self.metadata);
            self.finished = true;
        }
    }
}

impl SeriesSink for WriteRequestEncoder {
    fn metadata(&mut self, metadata: &Metadata<'_>) {
        let kind = metadata.kind.proto_value() as u64;
        let len = 1
            + encoded_len_varint(kind)
            + string_field_len(metadata.family)
            + optional_string_field_len(metadata.help)
            + optional_string_field_len(metadata.unit);
        let buf = &mut self.metadata;
        buf.push(WRITE_REQUEST_METADATA);
        encode_varint(len as u64, buf);
        buf.push(METADATA_TYPE);
        encode_varint(kind, buf);
        put_string(buf, METADATA_FAMILY, metadata.family);
        if !metadata.help.is_empty() {
            put_string(buf, METADATA_HELP, metadata.help);
        }
        if !metadata.unit.is_empty() {
            put_string(buf, METADATA_UNIT, metadata.unit);
        }
    }

    fn series(&mut self, labels: &Labels<'_>, value: f64, timestamp_ms: i64) {
        // Sizes first: protobuf prefixes each message with its length.
        let labels_len: usize = labels
            .iter()
            .map(|(n, v)| {
                let len = string_field_len(n) + string_field_len(v);
                1 + encoded_len_varint(len as u64) + len
            })
            .sum();
        let sample_len = 1 + 8 + 1 + encoded_len_varint(timestamp_ms as u64);
        let series_len = labels_len + 1 + encoded_len_varint(sample_len as u64) + sample_len;

        let buf = &mut self.request;
        buf.reserve(series_len + 1 + encoded_len_varint(series_len as u64));
        buf.push(WRITE_REQUEST_TIMESERIES);
        encode_varint(series_len as u64, buf);
        for (name, value) in labels.iter() {
            let len = string_field_len(name) + string_field_len(value);
            buf.push(TIMESERIES_LABELS);
            encode_varint(len as u64, buf);
            put_string(buf, LABEL_NAME, name);
            put_string(buf, LABEL_VALUE, value);
        }
        buf.push(TIMESERIES_SAMPLES);
        encode_varint(sample_len as u64, buf);
        buf.push(SAMPLE_VALUE);
        buf.extend_from_slice(&value.to_le_bytes());
        buf.push(SAMPLE_TIMESTAMP);
        // int64 is encoded as the two's-complement u64 varint.
        encode_varint(timestamp_ms as u64, buf);
        self.series += 1;
    }
}

fn string_field_len(s: &str) -> usize {
    1 + encoded_len_varint(s.len() as u64) + s.len()
}

fn optional_string_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        string_field_len(s)
    }
}

/// A protobuf varint; lengths and tags are almost always one byte, so that is the fast
/// path.
fn encode_varint(mut v: u64, buf: &mut Vec<u8>) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_string(buf: &mut Vec<u8>, tag: u8, s: &str) {
    buf.push(tag);
    encode_varint(s.len() as u64, buf);
    buf.extend_from_slice(s.as_bytes());
}

/// Decodes a remote-write body: snappy block decompression, then protobuf.
///
/// `max_decoded_len` bounds the decompressed size; it is checked against the length the
/// snappy header claims before anything is allocated, so a small hostile body cannot
/// make the receiver allocate gigabytes.
pub(crate) fn decode(body: &[u8], max_decoded_len: usize) -> Result<proto::WriteRequest, Error> {
    let len = snap::raw::decompress_len(body)
        .map_err(|e| Error::Decode(format!("not snappy block format: {e}")))?;
    if len > max_decoded_len {
        return Err(Error::Decode(format!(
            "decompressed size {len} bytes is over the limit of {max_decoded_len} bytes"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| Error::Decode(format!("not snappy block format: {e}")))?;
    proto::WriteRequest::decode(raw.as_slice())
        .map_err(|e| Error::Decode(format!("not a prometheus.WriteRequest: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::translate::MetricType;

    #[test]
    fn empty_request_round_trips() {
        let mut enc = WriteRequestEncoder::new();
        let body = enc.finish().unwrap().to_vec();
        let req = decode(&body, 1024).unwrap();
        assert!(req.timeseries.is_empty() && req.metadata.is_empty());
    }

    #[test]
    fn metadata_round_trips() {
        let mut enc = WriteRequestEncoder::new();
        enc.metadata(&Metadata {
            kind: MetricType::Histogram,
            family: "d_seconds",
            help: "",
            unit: "seconds",
        });
        let req = proto::WriteRequest::decode(enc.protobuf()).unwrap();
        let m = &req.metadata[0];
        assert_eq!(m.r#type, 3);
        assert_eq!(m.metric_family_name, "d_seconds");
        assert_eq!(m.help, "");
        assert_eq!(m.unit, "seconds");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [
            &b""[..],
            b"hello world",
            b"\xff\xff\xff\xff\xff\xff",
            b"\x05\x10\x0a\x03abc",
        ] {
            assert!(decode(body, 1 << 20).is_err(), "{body:?}");
        }
        // Valid snappy around a broken protobuf.
        let bad = snap::raw::Encoder::new()
            .compress_vec(b"\x0a\xff\xff")
            .unwrap();
        assert!(matches!(decode(&bad, 1 << 20), Err(Error::Decode(_))));
    }

    #[test]
    fn size_limit_is_checked_before_decompressing() {
        let big = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 10_000])
            .unwrap();
        let err = decode(&big, 1000).unwrap_err().to_string();
        assert!(err.contains("over the limit"), "{err}");
    }
}
