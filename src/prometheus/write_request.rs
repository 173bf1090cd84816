//! The remote-write body: a `prometheus.WriteRequest` protobuf, snappy block-compressed.
//!
//! [`WriteRequestEncoder`] is a [`SeriesSink`]: the translator hands it series and it
//! writes their protobuf bytes straight into one buffer, with no message structs. The
//! buffers are kept between pushes, and so are the encoded labels of every series: a
//! series whose point keeps its attribute set (see [`SeriesSink::reuse_point`]) is
//! written next time as a copy of those bytes plus its new sample, without building or
//! encoding a label. Only new series allocate (their cache entry).

use std::collections::HashMap;

use prost::encoding::encoded_len_varint;

use super::rich_series;
use super::translate::{Labels, LabelsVersion, Metadata, NativeSample, Sample, SeriesSink};
use crate::snapshot::Attributes;
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
/// ```text
/// use prompush::prometheus::write_request::WriteRequestEncoder;
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
    /// Snappy output. Its length only grows (to the largest bound needed so far), so it
    /// is not zero-filled again every push; `compressed_len` says how much is the body.
    compressed: Vec<u8>,
    compressed_len: Option<usize>,
    snappy: snap::raw::Encoder,
    series: usize,
    finished: bool,
    /// The encoded labels of the series of earlier pushes.
    cache: LabelCache,
    /// The labels of a series that is not cached (target_info, other translators).
    scratch: Vec<u8>,
    /// The latest timestamp's encoding.
    tail: SampleTail,
}

/// Encoded labels per metric and point, kept across pushes.
#[derive(Default)]
struct LabelCache {
    metrics: Vec<MetricLabels>,
    /// Descriptor id → index in `metrics`.
    index: HashMap<u64, usize, foldhash::fast::RandomState>,
    /// The metric of the latest `begin_metric`.
    current: Option<usize>,
    /// The point whose series are being recorded, and how many of them are still to come.
    recording: Option<(usize, usize)>,
    /// Counts `clear` calls; metrics not begun since the last one are evicted.
    push: u64,
}

struct MetricLabels {
    /// The descriptor id.
    id: u64,
    version: LabelsVersion,
    /// The `push` that last began this metric.
    seen: u64,
    /// By point index.
    points: Vec<PointLabels>,
}

struct PointLabels {
    /// Keeps the set alive, so its identity cannot be reused by another series.
    attributes: Attributes,
    /// The number of series in `heads`.
    series: usize,
    /// The timestamp varint length the heads' lengths were computed with.
    timestamp_len: usize,
    /// Per series: the length of its head as a little-endian `u32`, then the head (see
    /// [`put_head`]): everything before the sample value.
    heads: Vec<u8>,
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
            compressed_len: None,
            snappy: snap::raw::Encoder::new(),
            series: 0,
            finished: false,
            cache: LabelCache::default(),
            scratch: Vec::new(),
            tail: SampleTail::new(0),
        }
    }

    /// Starts a new request, keeping the buffers' capacity. Cached labels of metrics that
    /// were not in the previous request are dropped.
    pub fn clear(&mut self) {
        self.request.clear();
        self.metadata.clear();
        self.compressed_len = None;
        self.series = 0;
        self.finished = false;
        self.cache.evict_unseen();
    }

    /// The number of series written since [`clear`](Self::clear).
    #[cfg(test)]
    pub fn series_count(&self) -> usize {
        self.series
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
        let len = match self.compressed_len {
            Some(len) => len,
            None => {
                let bound = snap::raw::max_compress_len(self.request.len());
                if self.compressed.len() < bound {
                    self.compressed.resize(bound, 0);
                }
                let len = self
                    .snappy
                    .compress(&self.request, &mut self.compressed)
                    .map_err(|e| Error::Encode(e.to_string()))?;
                self.compressed_len = Some(len);
                len
            }
        };
        Ok(self.compressed.get(..len).unwrap_or_default())
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
        self.series += 1;
        let tail = self.tail.update(timestamp_ms);
        if let Some(point) = self.cache.recording_point() {
            // A point offered to `reuse_point` and not found: keep its series for next time.
            let start = point.heads.len() + 4;
            put_cached_head(labels, tail.timestamp_len(), &mut point.heads);
            point.series += 1;
            let head = point.heads.get(start..).unwrap_or_default();
            put_series(&mut self.request, head, value, tail);
        } else {
            self.scratch.clear();
            put_head(labels, tail.timestamp_len(), &mut self.scratch);
            put_series(&mut self.request, &self.scratch, value, tail);
        }
    }

    fn native_histogram(&mut self, labels: &Labels<'_>, sample: NativeSample<'_>) {
        self.series += 1;
        let histogram = Some((sample.point, sample.timestamp_ms));
        rich_series::put(&mut self.request, labels, None, sample.exemplars, histogram);
    }

    fn series_with_exemplars(&mut self, labels: &Labels<'_>, sample: Sample<'_>) {
        if sample.exemplars.is_empty() {
            return self.series(labels, sample.value, sample.timestamp_ms);
        }
        self.series += 1;
        let value = Some((sample.value, sample.timestamp_ms));
        rich_series::put(&mut self.request, labels, value, sample.exemplars, None);
    }

    fn begin_metric(&mut self, metric: u64, points: usize, version: LabelsVersion) {
        self.cache.begin_metric(metric, points, version);
    }

    fn reuse_point(&mut self, index: usize, set: &Attributes, samples: &[f64], ts_ms: i64) -> bool {
        let tail = self.tail.update(ts_ms);
        let Some(point) = self
            .cache
            .lookup(index, set, samples.len(), tail.timestamp_len())
        else {
            return false;
        };
        self.request
            .reserve(point.heads.len() + samples.len() * SampleTail::WRITTEN);
        let mut heads: &[u8] = &point.heads;
        for &value in samples {
            let Some((head, rest)) = split_cached(heads) else {
                // Unreachable with `series == samples.len()`; if it were reached, the
                // request would be short of series, never malformed.
                break;
            };
            put_series(&mut self.request, head, value, tail);
            heads = rest;
        }
        self.series += samples.len();
        true
    }
}

impl LabelCache {
    fn begin_metric(&mut self, metric: u64, points: usize, version: LabelsVersion) {
        self.recording = None;
        let i = *self.index.entry(metric).or_insert_with(|| {
            self.metrics.push(MetricLabels {
                id: metric,
                version,
                seen: 0,
                points: Vec::new(),
            });
            self.metrics.len() - 1
        });
        self.current = Some(i);
        let Some(m) = self.metrics.get_mut(i) else {
            return;
        };
        if m.version != version {
            m.points.clear();
            m.version = version;
        }
        // Points only ever move by appending; a shorter list lost its tail.
        m.points.truncate(points);
        m.seen = self.push;
    }

    /// The cached point `index` of the current metric if it is still the same series;
    /// otherwise starts recording the point's next `series` series in its place.
    fn lookup(
        &mut self,
        index: usize,
        attributes: &Attributes,
        series: usize,
        timestamp_len: usize,
    ) -> Option<&PointLabels> {
        self.recording = None;
        let points = &mut self.metrics.get_mut(self.current?)?.points;
        let hit = points.get(index).is_some_and(|p| {
            p.attributes.same_set(attributes)
                && p.series == series
                && p.timestamp_len == timestamp_len
        });
        if hit {
            return points.get(index);
        }
        let fresh = |heads: Vec<u8>| PointLabels {
            attributes: attributes.clone(),
            series: 0,
            timestamp_len,
            heads,
        };
        if let Some(p) = points.get_mut(index) {
            let mut heads = std::mem::take(&mut p.heads);
            heads.clear();
            *p = fresh(heads);
        } else if index == points.len() {
            // Translators offer points in order, so a miss past the end is the next one.
            points.push(fresh(Vec::new()));
        } else {
            return None;
        }
        self.recording = Some((index, series));
        None
    }

    /// The point that the next `series` call belongs to, if it is being recorded.
    fn recording_point(&mut self) -> Option<&mut PointLabels> {
        let (index, left) = self.recording?;
        self.recording = (left > 1).then_some((index, left - 1));
        self.metrics.get_mut(self.current?)?.points.get_mut(index)
    }

    fn evict_unseen(&mut self) {
        self.current = None;
        self.recording = None;
        let push = self.push;
        if self.metrics.iter().any(|m| m.seen != push) {
            self.metrics.retain(|m| m.seen == push);
            self.index.clear();
            self.index
                .extend(self.metrics.iter().enumerate().map(|(i, m)| (m.id, i)));
        }
        self.push += 1;
    }
}

/// The end of a `TimeSeries` after the sample value: the timestamp field. The same for
/// every series of a metric, so it is encoded once per point.
struct SampleTail {
    timestamp_ms: i64,
    /// `SAMPLE_TIMESTAMP`, the varint, then padding.
    bytes: [u8; 16],
    len: usize,
}

impl SampleTail {
    /// Bytes `put_series` writes after the head, padding included (see there).
    const WRITTEN: usize = 24;

    fn new(timestamp_ms: i64) -> Self {
        let mut bytes = [0u8; 16];
        bytes[0] = SAMPLE_TIMESTAMP;
        // int64 is encoded as the two's-complement u64 varint: at most 10 bytes.
        let mut v = timestamp_ms as u64;
        let mut len = 1;
        while v >= 0x80 {
            bytes[len] = (v as u8) | 0x80;
            v >>= 7;
            len += 1;
        }
        bytes[len] = v as u8;
        Self {
            timestamp_ms,
            bytes,
            len: len + 1,
        }
    }

    /// The length of the timestamp varint.
    fn timestamp_len(&self) -> usize {
        self.len - 1
    }

    /// `self` if it is for `timestamp_ms` (all points of a metric share one), else a new
    /// one, kept in `self`.
    #[inline]
    fn update(&mut self, timestamp_ms: i64) -> &Self {
        if self.timestamp_ms != timestamp_ms {
            *self = Self::new(timestamp_ms);
        }
        self
    }
}

/// One `TimeSeries` entry of a `WriteRequest`: its head (see [`put_head`]), the sample
/// value and the timestamp.
#[inline]
fn put_series(buf: &mut Vec<u8>, head: &[u8], value: f64, tail: &SampleTail) {
    buf.extend_from_slice(head);
    // A fixed-size copy and a truncate: cheaper than a variable-length copy this small.
    let mut sample = [0u8; SampleTail::WRITTEN];
    sample[..8].copy_from_slice(&value.to_le_bytes());
    sample[8..].copy_from_slice(&tail.bytes);
    let end = buf.len() + 8 + tail.len;
    buf.extend_from_slice(&sample);
    buf.truncate(end);
}

/// A `TimeSeries` up to its sample value: field tag and length, the labels, the samples
/// field tag and length and the value's tag. The lengths depend only on the labels and
/// the timestamp's varint length, so the head can be cached while those stay.
fn put_head(labels: &Labels<'_>, timestamp_len: usize, buf: &mut Vec<u8>) {
    // Sizes first: protobuf prefixes each message with its length.
    let labels_len: usize = labels
        .iter()
        .map(|(n, v)| {
            let len = string_field_len(n) + string_field_len(v);
            1 + encoded_len_varint(len as u64) + len
        })
        .sum();
    let sample_len = 1 + 8 + 1 + timestamp_len;
    let series_len = labels_len + 2 + sample_len;
    buf.reserve(series_len + 6);
    buf.push(WRITE_REQUEST_TIMESERIES);
    encode_varint(series_len as u64, buf);
    for (name, value) in labels.iter() {
        let len = string_field_len(name) + string_field_len(value);
        buf.push(TIMESERIES_LABELS);
        encode_varint(len as u64, buf);
        put_string(buf, LABEL_NAME, name);
        put_string(buf, LABEL_VALUE, value);
    }
    // The sample is at most 20 bytes, so its length is a one-byte varint.
    buf.extend_from_slice(&[TIMESERIES_SAMPLES, sample_len as u8, SAMPLE_VALUE]);
}

/// [`put_head`] behind a `u32` length, the layout of [`PointLabels::heads`].
fn put_cached_head(labels: &Labels<'_>, timestamp_len: usize, buf: &mut Vec<u8>) {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    put_head(labels, timestamp_len, buf);
    let len = u32::try_from(buf.len() - at - 4).unwrap_or(u32::MAX);
    if let Some(prefix) = buf.get_mut(at..at + 4) {
        prefix.copy_from_slice(&len.to_le_bytes());
    }
}

/// The first head of a [`PointLabels::heads`] buffer, and the rest.
#[inline]
fn split_cached(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = buf.split_first_chunk::<4>()?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > rest.len() {
        return None;
    }
    Some(rest.split_at(len))
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
#[cfg(any(feature = "receiver", test))]
pub(crate) fn decode(
    body: &[u8],
    max_decoded_len: usize,
) -> Result<super::proto::WriteRequest, Error> {
    use prost::Message;

    let bad = |what: String| {
        Error::Decode(format!(
            "remote-write body {what}; send a snappy block-compressed prometheus.WriteRequest"
        ))
    };
    let len = snap::raw::decompress_len(body)
        .map_err(|e| bad(format!("is not snappy block format: {e}")))?;
    if len > max_decoded_len {
        return Err(bad(format!(
            "decompresses to {len} bytes, over the limit of {max_decoded_len} bytes"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| bad(format!("is not snappy block format: {e}")))?;
    super::proto::WriteRequest::decode(raw.as_slice())
        .map_err(|e| bad(format!("is not a prometheus.WriteRequest: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::proto;
    use crate::prometheus::translate::MetricType;
    use prost::Message;

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
