//! The remote-write 2.0 body: `io.prometheus.write.v2.Request` protobufs, snappy
//! block-compressed by the caller, each request with its own symbols table.
//!
//! [`RequestV2Encoder`] is a [`SeriesSink`]: it keeps a push's series with references
//! into one table of strings, each with its family's metadata (type, help, unit) and,
//! for counters and histograms, its start timestamp. The table and each point's
//! series (their references, shard hash and metadata) are kept between pushes, so a
//! point whose attribute set is unchanged is written from that cache without building
//! its labels (see [`SeriesSink::reuse_point`]); the table starts again when it grows
//! past eight times the series of a push (label values that come and go).
//! [`RequestV2Encoder::requests`] then cuts them into requests of at most N samples per
//! shard, as 1.0's `batch` does, and gives each request only the strings its series
//! use, `""` first. Native histograms and exemplars are built by 1.0's `rich_series`
//! (same buckets, same exemplar labels) and carried over field by field.
//!
//! Also here, for the pipeline: a request's [`halves`] (refused requests are bisected
//! as in 1.0), the same request [`as_v1`] (for a receiver that turns out to take only
//! 1.0), and [`decode`] for the receiver.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use prost::Message;

use super::proto::{self, v2};
use super::rich_series;
use super::series::{
    Labels, LabelsVersion, Metadata, MetricType, NativeSample, ReusedPoint, Sample, SeriesSink,
};
use crate::snapshot::Attributes;
use crate::Error;

/// Fixed, so a series keeps its shard for the life of the process (its stale marker
/// included).
const LABEL_HASH: foldhash::fast::FixedState =
    foldhash::fast::FixedState::with_seed(0x2b_7e15_1628_aed2);

/// What one request carries, in the units of the receivers' written-count headers
/// (`X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Carried {
    pub(crate) samples: usize,
    pub(crate) histograms: usize,
    pub(crate) exemplars: usize,
}

impl Carried {
    /// Samples and histograms: what the pipeline counts as a request's samples.
    pub(crate) fn values(self) -> usize {
        self.samples + self.histograms
    }

    fn of(series: &v2::TimeSeries) -> Self {
        Carried {
            samples: series.samples.len(),
            histograms: series.histograms.len(),
            exemplars: series.exemplars.len(),
        }
    }

    fn add(&mut self, other: Carried) {
        self.samples += other.samples;
        self.histograms += other.histograms;
        self.exemplars += other.exemplars;
    }
}

/// The strings of a push: each once, `""` at index 0.
struct Symbols {
    list: Vec<String>,
    index: HashMap<String, u32, foldhash::fast::RandomState>,
}

impl Symbols {
    fn new() -> Self {
        let mut symbols = Symbols {
            list: Vec::new(),
            index: HashMap::default(),
        };
        symbols.clear();
        symbols
    }

    fn clear(&mut self) {
        self.list.clear();
        self.index.clear();
        self.list.push(String::new());
        self.index.insert(String::new(), 0);
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.list.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    fn get(&self, i: u32) -> &str {
        self.list.get(i as usize).map_or("", String::as_str)
    }
}

/// Builds remote-write 2.0 requests. Reuse one across pushes: its tables keep their
/// capacity.
pub(crate) struct RequestV2Encoder {
    symbols: Symbols,
    series: Vec<v2::TimeSeries>,
    /// Per series: the hash of its labels, for its shard.
    hashes: Vec<u64>,
    /// Family name → its metadata (references into `symbols`), for this push.
    families: HashMap<String, v2::Metadata, foldhash::fast::RandomState>,
    /// The start timestamp of the point whose series come next.
    start_ms: i64,
    /// The series of the last push, for the bound on the symbols table.
    last_series: usize,
    /// One 1.0 series at a time, for native histograms and exemplars.
    scratch: Vec<u8>,
    /// The request being written.
    request: Vec<u8>,
    /// Each point's series of earlier pushes.
    cache: PointCache,
}

/// The series of each point of each metric, kept across pushes, as references into
/// the encoder's (persistent) symbols.
#[derive(Default)]
struct PointCache {
    metrics: HashMap<u64, CachedMetric, foldhash::fast::RandomState>,
    /// The metric of the latest `begin_metric`.
    current: Option<u64>,
    /// The point whose series the next `series` calls record, and how many are left.
    recording: Option<(usize, usize)>,
    /// Counts pushes; metrics not begun in the previous one are evicted.
    push: u64,
}

struct CachedMetric {
    version: LabelsVersion,
    seen: u64,
    points: Vec<CachedPoint>,
}

struct CachedPoint {
    /// Keeps the set alive, so its identity cannot be reused by another set.
    attributes: Attributes,
    series: Vec<CachedSeries>,
}

#[derive(Clone)]
struct CachedSeries {
    labels_refs: Vec<u32>,
    hash: u64,
    metadata: Option<v2::Metadata>,
}

impl PointCache {
    fn begin_metric(&mut self, metric: u64, points: usize, version: LabelsVersion) {
        self.recording = None;
        self.current = Some(metric);
        let push = self.push;
        let m = self.metrics.entry(metric).or_insert_with(|| CachedMetric {
            version,
            seen: push,
            points: Vec::new(),
        });
        if m.version != version {
            m.points.clear();
            m.version = version;
        }
        m.points.truncate(points);
        m.seen = push;
    }

    /// Point `index` of the current metric if it still holds `series` series of the
    /// same set; otherwise starts recording its next `series` series in its place.
    fn lookup(&mut self, index: usize, set: &Attributes, series: usize) -> Option<&CachedPoint> {
        self.recording = None;
        let points = &mut self.metrics.get_mut(&self.current?)?.points;
        let hit = points
            .get(index)
            .is_some_and(|p| p.attributes.same_set(set) && p.series.len() == series);
        if hit {
            return points.get(index);
        }
        let fresh = CachedPoint {
            attributes: set.clone(),
            series: Vec::with_capacity(series),
        };
        if let Some(p) = points.get_mut(index) {
            *p = fresh;
        } else if index == points.len() {
            points.push(fresh);
        } else {
            return None;
        }
        self.recording = Some((index, series));
        None
    }

    /// Records `series` as the next series of the point being recorded, if any.
    fn record(&mut self, series: &CachedSeries) {
        let Some((index, left)) = self.recording else {
            return;
        };
        self.recording = (left > 1).then_some((index, left - 1));
        let point = self
            .current
            .and_then(|m| self.metrics.get_mut(&m))
            .and_then(|m| m.points.get_mut(index));
        if let Some(point) = point {
            point.series.push(series.clone());
        }
    }

    /// Starts a push: forgets the metrics the previous one did not have.
    fn next_push(&mut self) {
        self.current = None;
        self.recording = None;
        let push = self.push;
        self.metrics.retain(|_, m| m.seen == push);
        self.push += 1;
    }
}

impl std::fmt::Debug for RequestV2Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestV2Encoder")
            .field("series", &self.series.len())
            .field("symbols", &self.symbols.list.len())
            .finish_non_exhaustive()
    }
}

impl Default for RequestV2Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestV2Encoder {
    /// An empty encoder.
    pub(crate) fn new() -> Self {
        RequestV2Encoder {
            symbols: Symbols::new(),
            series: Vec::new(),
            hashes: Vec::new(),
            families: HashMap::default(),
            start_ms: 0,
            last_series: 0,
            scratch: Vec::new(),
            request: Vec::new(),
            cache: PointCache::default(),
        }
    }

    /// Starts a new push. The symbols and the points' series stay, unless the table
    /// has grown past eight times the series of the last push (and 65,536 strings).
    pub(crate) fn clear(&mut self) {
        let last = self.series.len().max(self.last_series);
        if self.symbols.list.len() > (1 << 16).max(8 * last) {
            self.symbols.clear();
            self.cache = PointCache::default();
        }
        self.last_series = 0;
        self.series.clear();
        self.hashes.clear();
        self.families.clear();
        self.start_ms = 0;
        self.cache.next_push();
    }

    /// The number of series written since [`clear`](Self::clear).
    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Cuts the push's series into requests of at most `max_samples` samples (a series
    /// with more goes alone) and calls `emit(shard, protobuf, carried)` for each:
    /// `shards(samples)` gets the push's sample count and gives the number of shards;
    /// each series goes to the shard its labels hash to, in order. Empties the encoder.
    ///
    /// # Errors
    /// What `emit` returns.
    pub(crate) fn requests(
        &mut self,
        max_samples: usize,
        shards: impl FnOnce(usize) -> usize,
        mut emit: impl FnMut(usize, &[u8], Carried) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let total: usize = self.series.iter().map(|s| Carried::of(s).values()).sum();
        let n = shards(total).max(1);
        let mut by_shard: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (i, &hash) in self.hashes.iter().enumerate() {
            by_shard[shard_of(hash, n)].push(i as u32);
        }
        let mut series = std::mem::take(&mut self.series);
        let mut local = Localizer::new(self.symbols.list.len());
        let mut chunk: Vec<u32> = Vec::new();
        let mut carried = Carried::default();
        let mut result = Ok(());
        for (shard, members) in by_shard.iter().enumerate() {
            for &i in members {
                let one = series.get(i as usize).map(Carried::of).unwrap_or_default();
                if !chunk.is_empty() && carried.values() + one.values() > max_samples {
                    self.write_request(&mut series, &chunk, &mut local);
                    result = result.and_then(|()| emit(shard, &self.request, carried));
                    chunk.clear();
                    carried = Carried::default();
                }
                chunk.push(i);
                carried.add(one);
            }
            if !chunk.is_empty() {
                self.write_request(&mut series, &chunk, &mut local);
                result = result.and_then(|()| emit(shard, &self.request, carried));
                chunk.clear();
                carried = Carried::default();
            }
        }
        let written = series.len();
        series.clear();
        self.series = series;
        self.hashes.clear();
        self.families.clear();
        self.last_series = written;
        result
    }

    /// Writes the series at `members` into `self.request`, with their own symbols.
    fn write_request(
        &mut self,
        series: &mut [v2::TimeSeries],
        members: &[u32],
        local: &mut Localizer,
    ) {
        local.reset();
        for &i in members {
            if let Some(s) = series.get_mut(i as usize) {
                local.rewrite(s, &self.symbols);
            }
        }
        self.request.clear();
        for symbol in &local.symbols {
            prost::encoding::string::encode(4, symbol, &mut self.request);
        }
        for &i in members {
            if let Some(s) = series.get(i as usize) {
                prost::encoding::message::encode(5, s, &mut self.request);
            }
        }
    }

    fn push_series(
        &mut self,
        labels_refs: Vec<u32>,
        hash: u64,
        metadata: Option<v2::Metadata>,
        value: f64,
        timestamp_ms: i64,
    ) {
        self.series.push(v2::TimeSeries {
            labels_refs,
            samples: vec![v2::Sample {
                value,
                timestamp: timestamp_ms,
                start_timestamp: self.start_ms,
            }],
            histograms: Vec::new(),
            exemplars: Vec::new(),
            metadata,
        });
        self.hashes.push(hash);
    }

    /// The label references of `labels` (sorted by name already), and their hash.
    fn label_refs(&mut self, labels: &Labels<'_>) -> (Vec<u32>, u64) {
        let mut refs = Vec::with_capacity(labels.iter().len() * 2);
        let mut hash = LABEL_HASH.build_hasher();
        for (name, value) in labels.iter() {
            refs.push(self.symbols.intern(name));
            refs.push(self.symbols.intern(value));
            hash.write(name.as_bytes());
            hash.write_u8(0xff);
            hash.write(value.as_bytes());
            hash.write_u8(0xff);
        }
        (refs, hash.finish())
    }

    /// The metadata of the family a series named `name` belongs to: its own name, or
    /// for a histogram's `_bucket`, `_sum` and `_count` series, the name without them.
    fn metadata_of(&self, labels: &Labels<'_>) -> Option<v2::Metadata> {
        let name = labels.get("__name__")?;
        if let Some(m) = self.families.get(name) {
            return Some(*m);
        }
        let histogram = v2::metadata::MetricType::Histogram as i32;
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let family = name.strip_suffix(suffix)?;
            self.families
                .get(family)
                .filter(|m| m.r#type == histogram)
                .copied()
        })
    }

    /// Adds one series from the 1.0 `TimeSeries` that `rich_series` wrote into
    /// `scratch`, with the histogram's start timestamp.
    fn push_rich(&mut self, labels: &Labels<'_>, start_ms: i64) {
        let Ok(request) = proto::WriteRequest::decode(self.scratch.as_slice()) else {
            return;
        };
        let Some(one) = request.timeseries.into_iter().next() else {
            return;
        };
        let (labels_refs, hash) = self.label_refs(labels);
        let exemplars = one
            .exemplars
            .iter()
            .map(|e| v2::Exemplar {
                labels_refs: e
                    .labels
                    .iter()
                    .flat_map(|l| [self.symbols.intern(&l.name), self.symbols.intern(&l.value)])
                    .collect(),
                value: e.value,
                timestamp: e.timestamp,
            })
            .collect();
        let series = v2::TimeSeries {
            labels_refs,
            samples: one
                .samples
                .iter()
                .map(|s| v2::Sample {
                    value: s.value,
                    timestamp: s.timestamp,
                    start_timestamp: start_ms,
                })
                .collect(),
            histograms: one
                .histograms
                .iter()
                .filter_map(|h| histogram_v2(h, start_ms))
                .collect(),
            exemplars,
            metadata: self.metadata_of(labels),
        };
        self.series.push(series);
        self.hashes.push(hash);
    }
}

impl SeriesSink for RequestV2Encoder {
    fn metadata(&mut self, metadata: &Metadata<'_>) {
        if self.families.contains_key(metadata.family) {
            return;
        }
        let m = v2::Metadata {
            r#type: metric_type(metadata.kind) as i32,
            help_ref: self.symbols.intern(metadata.help),
            unit_ref: self.symbols.intern(metadata.unit),
        };
        self.families.insert(metadata.family.to_owned(), m);
    }

    fn point_start(&mut self, start_ms: i64) {
        self.start_ms = start_ms;
    }

    fn series(&mut self, labels: &Labels<'_>, value: f64, timestamp_ms: i64) {
        let (labels_refs, hash) = self.label_refs(labels);
        let metadata = self.metadata_of(labels);
        if self.cache.recording.is_some() {
            self.cache.record(&CachedSeries {
                labels_refs: labels_refs.clone(),
                hash,
                metadata,
            });
        }
        self.push_series(labels_refs, hash, metadata, value, timestamp_ms);
    }

    fn begin_metric(&mut self, metric: u64, points: usize, version: LabelsVersion) {
        self.cache.begin_metric(metric, points, version);
    }

    fn reuse_point(&mut self, index: usize, set: &Attributes, samples: &[f64], ts_ms: i64) -> bool {
        let Some(point) = self.cache.lookup(index, set, samples.len()) else {
            return false;
        };
        let start = self.start_ms;
        for (cached, &value) in point.series.iter().zip(samples) {
            self.series.push(v2::TimeSeries {
                labels_refs: cached.labels_refs.clone(),
                samples: vec![v2::Sample {
                    value,
                    timestamp: ts_ms,
                    start_timestamp: start,
                }],
                histograms: Vec::new(),
                exemplars: Vec::new(),
                metadata: cached.metadata,
            });
            self.hashes.push(cached.hash);
        }
        true
    }

    /// Points with exemplars are written whole (their series change at every push).
    fn reuse_point_with_exemplars(&mut self, _: ReusedPoint<'_>) -> bool {
        self.cache.recording = None;
        false
    }

    fn series_with_exemplars(&mut self, labels: &Labels<'_>, sample: Sample<'_>) {
        if sample.exemplars.is_empty() {
            return self.series(labels, sample.value, sample.timestamp_ms);
        }
        self.scratch.clear();
        let value = Some((sample.value, sample.timestamp_ms));
        rich_series::put(&mut self.scratch, labels, value, sample.exemplars, None);
        self.push_rich(labels, self.start_ms);
    }

    fn native_histogram(&mut self, labels: &Labels<'_>, sample: NativeSample<'_>) {
        self.cache.recording = None;
        self.scratch.clear();
        let histogram = Some((sample.point, sample.timestamp_ms));
        rich_series::put(&mut self.scratch, labels, None, sample.exemplars, histogram);
        self.push_rich(labels, super::model::millis(sample.point.start_time));
    }
}

/// Rewrites series' references from a push's table to one request's, and collects
/// that request's symbols.
struct Localizer {
    /// Push index → request index (0: not in this request yet, or `""`).
    map: Vec<u32>,
    touched: Vec<u32>,
    symbols: Vec<String>,
}

impl Localizer {
    fn new(push_symbols: usize) -> Self {
        Localizer {
            map: vec![0; push_symbols],
            touched: Vec::new(),
            symbols: vec![String::new()],
        }
    }

    fn reset(&mut self) {
        for &t in &self.touched {
            if let Some(m) = self.map.get_mut(t as usize) {
                *m = 0;
            }
        }
        self.touched.clear();
        self.symbols.truncate(1);
    }

    fn local(&mut self, global: u32, table: &Symbols) -> u32 {
        if global == 0 {
            return 0;
        }
        let Some(slot) = self.map.get_mut(global as usize) else {
            return 0;
        };
        if *slot == 0 {
            *slot = u32::try_from(self.symbols.len()).unwrap_or(u32::MAX);
            self.symbols.push(table.get(global).to_owned());
            self.touched.push(global);
        }
        *slot
    }

    fn rewrite(&mut self, series: &mut v2::TimeSeries, table: &Symbols) {
        for r in &mut series.labels_refs {
            *r = self.local(*r, table);
        }
        for e in &mut series.exemplars {
            for r in &mut e.labels_refs {
                *r = self.local(*r, table);
            }
        }
        if let Some(m) = &mut series.metadata {
            m.help_ref = self.local(m.help_ref, table);
            m.unit_ref = self.local(m.unit_ref, table);
        }
    }
}

/// The shard of a series whose labels hash to `hash`, among `n`.
fn shard_of(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

fn metric_type(kind: MetricType) -> v2::metadata::MetricType {
    use v2::metadata::MetricType as T;
    match kind {
        MetricType::Unknown => T::Unspecified,
        MetricType::Counter => T::Counter,
        MetricType::Gauge => T::Gauge,
        MetricType::Histogram => T::Histogram,
        MetricType::GaugeHistogram => T::Gaugehistogram,
        MetricType::Summary => T::Summary,
        MetricType::Info => T::Info,
        MetricType::StateSet => T::Stateset,
    }
}

/// A 1.0 histogram as 2.0's: fields 1 to 15 are the same in both schemas.
fn histogram_v2(h: &proto::Histogram, start_ms: i64) -> Option<v2::Histogram> {
    let mut out = v2::Histogram::decode(h.encode_to_vec().as_slice()).ok()?;
    out.start_timestamp = start_ms;
    Some(out)
}

/// A 2.0 histogram as 1.0's: the start timestamp and custom values are left out.
fn histogram_v1(h: &v2::Histogram) -> Option<proto::Histogram> {
    proto::Histogram::decode(h.encode_to_vec().as_slice()).ok()
}

fn malformed() -> Error {
    Error::Encode("the encoded remote-write 2.0 request is malformed (a bug in prompush)".into())
}

/// One half of a request: its protobuf and what it carries.
pub(crate) type HalfRequestV2 = (Vec<u8>, Carried);

/// Cuts a request into two with about half the series each, each with its own
/// symbols: the halves, and the number of series. `None` for the halves when there are
/// fewer than two series.
///
/// # Errors
/// [`Error::Encode`] if `request` is not a well-formed request.
pub(crate) fn halves(request: &[u8]) -> Result<(usize, Option<[HalfRequestV2; 2]>), Error> {
    let mut decoded = v2::Request::decode(request).map_err(|_| malformed())?;
    let count = decoded.timeseries.len();
    if count < 2 {
        return Ok((count, None));
    }
    let second = decoded.timeseries.split_off(count / 2);
    let table = Symbols {
        list: std::mem::take(&mut decoded.symbols),
        index: HashMap::default(),
    };
    let half = |series: Vec<v2::TimeSeries>| {
        let mut local = Localizer::new(table.list.len());
        let mut carried = Carried::default();
        let mut series = series;
        for s in &mut series {
            local.rewrite(s, &table);
            carried.add(Carried::of(s));
        }
        let request = v2::Request {
            symbols: std::mem::take(&mut local.symbols),
            timeseries: series,
        };
        (request.encode_to_vec(), carried)
    };
    Ok((count, Some([half(decoded.timeseries), half(second)])))
}

/// The same series as a 1.0 `WriteRequest` protobuf, and its samples (histograms
/// included): labels, samples, native histograms and exemplars as they are, metadata
/// once per family; start timestamps, which 1.0 cannot carry, left out.
///
/// # Errors
/// [`Error::Encode`] if `request` is not a well-formed request.
pub(crate) fn as_v1(request: &[u8]) -> Result<(Vec<u8>, usize), Error> {
    let decoded = v2::Request::decode(request).map_err(|_| malformed())?;
    let v1 = as_v1_message(&decoded);
    let samples = v1
        .timeseries
        .iter()
        .map(|s| s.samples.len() + s.histograms.len())
        .sum();
    Ok((v1.encode_to_vec(), samples))
}

/// [`as_v1`] on decoded messages: one 1.0 series per 2.0 series, in order.
pub(crate) fn as_v1_message(decoded: &v2::Request) -> proto::WriteRequest {
    let symbol = |i: u32| decoded.symbols.get(i as usize).cloned().unwrap_or_default();
    let labels = |refs: &[u32]| -> Vec<proto::Label> {
        refs.chunks_exact(2)
            .map(|pair| proto::Label {
                name: symbol(pair[0]),
                value: symbol(pair[1]),
            })
            .collect()
    };
    let mut out = proto::WriteRequest::default();
    let mut described = std::collections::HashSet::new();
    for s in &decoded.timeseries {
        let series_labels = labels(&s.labels_refs);
        if let Some(m) = s.metadata.filter(|m| m.r#type != 0) {
            let name = series_labels
                .iter()
                .find(|l| l.name == "__name__")
                .map_or("", |l| l.value.as_str());
            let family = if m.r#type == v2::metadata::MetricType::Histogram as i32 {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name)
            } else {
                name
            };
            if described.insert(family.to_owned()) {
                out.metadata.push(proto::MetricMetadata {
                    r#type: m.r#type,
                    metric_family_name: family.to_owned(),
                    help: symbol(m.help_ref),
                    unit: symbol(m.unit_ref),
                });
            }
        }
        out.timeseries.push(proto::TimeSeries {
            labels: series_labels,
            samples: s
                .samples
                .iter()
                .map(|x| proto::Sample {
                    value: x.value,
                    timestamp: x.timestamp,
                })
                .collect(),
            exemplars: s
                .exemplars
                .iter()
                .map(|e| proto::Exemplar {
                    labels: labels(&e.labels_refs),
                    value: e.value,
                    timestamp: e.timestamp,
                })
                .collect(),
            histograms: s.histograms.iter().filter_map(histogram_v1).collect(),
        });
    }
    out
}

/// Decodes a remote-write 2.0 body: snappy block decompression, then protobuf.
/// `max_decoded_len` bounds the decompressed size, checked before anything is
/// allocated.
#[cfg(any(feature = "receiver", test))]
pub(crate) fn decode(body: &[u8], max_decoded_len: usize) -> Result<v2::Request, Error> {
    let bad = |what: String| {
        Error::Decode(format!(
            "remote-write 2.0 body {what}; send a snappy block-compressed \
             io.prometheus.write.v2.Request"
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
    v2::Request::decode(raw.as_slice())
        .map_err(|e| bad(format!("is not an io.prometheus.write.v2.Request: {e}")))
}
