//! Decoding what an encoder wrote, for receivers and tests: a remote-write body
//! (snappy block + `prometheus.WriteRequest`) or a JSON custom-metrics body, into
//! plain [`ReceivedSeries`] with their labels and samples.

use std::fmt;

use super::naming::write_float;
use super::translate::MetricType;
use super::{native, proto};
use crate::snapshot::{bucket_upper_bound, Attributes, ExponentialHistogramPoint};
use crate::Error;

/// The largest request accepted after snappy decompression (bigger ones get `400`).
/// Decoded messages take several times their wire size in memory, so this stays well
/// above what senders use (Prometheus sends about 2000 samples, well under 1 MiB) and
/// well below what a hostile body could inflate into.
pub const MAX_DECODED_BYTES: usize = 32 << 20;

/// One series as received: name, labels in the order sent, samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedSeries {
    /// The `__name__` label (empty if the sender left it out).
    pub name: String,
    /// Every other label, `(name, value)`, in the order sent: a conforming sender sorts
    /// them by name.
    pub labels: Vec<(String, String)>,
    /// The samples, in the order sent.
    pub samples: Vec<ReceivedSample>,
    /// The native histograms, in the order sent.
    pub histograms: Vec<NativeHistogram>,
    /// The exemplars, in the order sent.
    pub exemplars: Vec<ReceivedExemplar>,
}

/// One exemplar of a received series.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedExemplar {
    /// Its labels (`trace_id`, `span_id`, …), in the order sent.
    pub labels: Vec<(String, String)>,
    /// The measurement.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl ReceivedExemplar {
    fn read(e: proto::Exemplar) -> Self {
        ReceivedExemplar {
            labels: e.labels.into_iter().map(|l| (l.name, l.value)).collect(),
            value: e.value,
            timestamp_ms: e.timestamp,
        }
    }
}

impl fmt::Display for ReceivedExemplar {
    /// `# {span_id="…",trace_id="…"} 0.25 1700000000123`, as OpenMetrics writes one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        let mut value = String::new();
        write_float(&mut value, self.value);
        write!(
            f,
            "# {{{}}} {value} {}",
            labels.join(","),
            self.timestamp_ms
        )
    }
}

/// One native histogram of a received series.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeHistogram {
    /// Its buckets in OpenTelemetry terms (indexes shifted back by one; a zero threshold
    /// of 1e-128 read as 0); without attributes, min or max, which the wire lacks.
    pub point: ExponentialHistogramPoint,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl NativeHistogram {
    fn read(h: &proto::Histogram) -> Self {
        NativeHistogram {
            point: native::from_proto(h, Attributes::default()),
            timestamp_ms: h.timestamp,
        }
    }
}

impl fmt::Display for NativeHistogram {
    /// `{count=5 sum=16.5 scale=3 zero=1 (0.917,1]=2 (1,1.091]=1} 1700000000123`: the
    /// non-empty buckets by their bounds (to four digits), from the most negative up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.point;
        let float = |v: f64| {
            let mut s = String::new();
            write_float(&mut s, v);
            s
        };
        write!(
            f,
            "{{count={} sum={} scale={} zero={}",
            p.count,
            float(p.sum),
            p.scale,
            p.zero_count
        )?;
        let bound = |i: i32| short(bucket_upper_bound(p.scale, i));
        for (i, c) in p.negative.counts.iter().enumerate().rev() {
            let i = p.negative.offset + i as i32;
            if *c > 0 {
                write!(f, " [-{},-{})={c}", bound(i), bound(i - 1))?;
            }
        }
        for (i, c) in p.positive.counts.iter().enumerate() {
            let i = p.positive.offset + i as i32;
            if *c > 0 {
                write!(f, " ({},{}]={c}", bound(i - 1), bound(i))?;
            }
        }
        write!(f, "}} {}", self.timestamp_ms)
    }
}

impl ReceivedSeries {
    /// The value of label `name` (`__name__` included).
    pub fn label(&self, name: &str) -> Option<&str> {
        if name == "__name__" {
            return Some(&self.name);
        }
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the last sample.
    pub fn value(&self) -> Option<f64> {
        self.samples.last().map(|s| s.value)
    }
}

/// Prints one line per sample: `name{a="b",c="d"} value timestamp_ms`, as the
/// Prometheus text format does (label values escaped, floats as Go writes them).
impl fmt::Display for ReceivedSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = String::with_capacity(64);
        head.push_str(&self.name);
        if !self.labels.is_empty() {
            head.push('{');
            for (i, (name, value)) in self.labels.iter().enumerate() {
                if i > 0 {
                    head.push(',');
                }
                head.push_str(name);
                head.push_str("=\"");
                for c in value.chars() {
                    match c {
                        '\\' => head.push_str("\\\\"),
                        '"' => head.push_str("\\\""),
                        '\n' => head.push_str("\\n"),
                        c => head.push(c),
                    }
                }
                head.push('"');
            }
            head.push('}');
        }
        if self.samples.is_empty() && self.histograms.is_empty() {
            return f.write_str(&head);
        }
        for (i, sample) in self.samples.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            let mut value = String::new();
            write_float(&mut value, sample.value);
            write!(f, "{head} {value} {}", sample.timestamp_ms)?;
        }
        for (i, histogram) in self.histograms.iter().enumerate() {
            if i > 0 || !self.samples.is_empty() {
                f.write_str("\n")?;
            }
            write!(f, "{head} {histogram}")?;
        }
        for exemplar in &self.exemplars {
            write!(f, "\n  {exemplar}")?;
        }
        Ok(())
    }
}

/// `v` to four significant digits, trailing zeros dropped: bucket bounds to read, not
/// to parse.
fn short(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        let mut s = String::new();
        write_float(&mut s, v);
        return s;
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 17) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// One sample of a received series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceivedSample {
    /// The value (compare NaNs with `f64::is_nan`, stale markers by their bits).
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// When the series started counting (remote write 2.0's start timestamp),
    /// milliseconds since the Unix epoch; 0 when the sender gave none (always in 1.0).
    pub start_timestamp_ms: i64,
}

/// Type, help and unit of one metric family, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMetadata {
    /// The family's type.
    pub kind: MetricType,
    /// The family name.
    pub family: String,
    /// The help text.
    pub help: String,
    /// The unit.
    pub unit: String,
}

/// A decoded remote-write request body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteRequest {
    /// The series, in the order sent.
    pub series: Vec<ReceivedSeries>,
    /// The metric family metadata, in the order sent.
    pub metadata: Vec<ReceivedMetadata>,
}

impl WriteRequest {
    /// The first series called `name`.
    pub fn series(&self, name: &str) -> Option<&ReceivedSeries> {
        self.series.iter().find(|s| s.name == name)
    }
}

/// Decodes a remote-write body (snappy block-compressed `prometheus.WriteRequest`).
///
/// # Errors
/// [`Error::Decode`] when the body is not snappy, not the protobuf message, or
/// decompresses to more than [`MAX_DECODED_BYTES`].
pub fn decode(body: &[u8]) -> Result<WriteRequest, Error> {
    let request = crate::prometheus::write_request::decode(body, MAX_DECODED_BYTES)?;
    Ok(read(request))
}

/// Decodes a remote-write 2.0 body (snappy block-compressed
/// `io.prometheus.write.v2.Request`) into the same form as [`decode`]: labels resolved
/// from the symbols table, each family's metadata once (from its series' metadata),
/// and start timestamps on samples (`start_timestamp_ms`) and native histograms
/// (`point.start_time()`).
///
/// # Errors
/// As [`decode`].
pub fn decode_v2(body: &[u8]) -> Result<WriteRequest, Error> {
    let request = crate::prometheus::write_request_v2::decode(body, MAX_DECODED_BYTES)?;
    let mut read = read(crate::prometheus::write_request_v2::as_v1_message(&request));
    for (to, from) in read.series.iter_mut().zip(&request.timeseries) {
        for (sample, v2) in to.samples.iter_mut().zip(&from.samples) {
            sample.start_timestamp_ms = v2.start_timestamp;
        }
        for (histogram, v2) in to.histograms.iter_mut().zip(&from.histograms) {
            let start = std::time::Duration::from_millis(v2.start_timestamp.max(0) as u64);
            histogram.point.start_time = std::time::UNIX_EPOCH + start;
        }
    }
    Ok(read)
}

/// The public form of a decoded 1.0 request.
fn read(request: proto::WriteRequest) -> WriteRequest {
    let series = request
        .timeseries
        .into_iter()
        .map(|ts| {
            let mut name = String::new();
            let mut labels = Vec::with_capacity(ts.labels.len().saturating_sub(1));
            for label in ts.labels {
                if label.name == "__name__" {
                    name = label.value;
                } else {
                    labels.push((label.name, label.value));
                }
            }
            let samples = ts
                .samples
                .into_iter()
                .map(|s| ReceivedSample {
                    value: s.value,
                    timestamp_ms: s.timestamp,
                    start_timestamp_ms: 0,
                })
                .collect();
            let histograms = ts.histograms.iter().map(NativeHistogram::read).collect();
            let exemplars = ts
                .exemplars
                .into_iter()
                .map(ReceivedExemplar::read)
                .collect();
            ReceivedSeries {
                name,
                labels,
                samples,
                histograms,
                exemplars,
            }
        })
        .collect();
    let metadata = request
        .metadata
        .into_iter()
        .map(|m| ReceivedMetadata {
            kind: MetricType::from_proto_value(m.r#type),
            family: m.metric_family_name,
            help: m.help,
            unit: m.unit,
        })
        .collect();
    WriteRequest { series, metadata }
}

/// Decodes a JSON custom-metrics body, `{"metrics":[{"name":…,"value":…,"labels":{…}}]}`
/// (see [`Protocol::UnleashJson`](crate::Protocol::UnleashJson)), into one series per entry. The format has no
/// timestamps: each sample's `timestamp_ms` is 0. Label values must be strings, as
/// the sender writes them.
///
/// ```
/// let body = br#"{"metrics":[{"name":"up","value":1,"labels":{"job":"a"}}]}"#;
/// let request = prompush::receiver::decode_custom_metrics(body)?;
/// assert_eq!(request.series[0].to_string(), "up{job=\"a\"} 1 0");
/// # Ok::<(), prompush::Error>(())
/// ```
///
/// # Errors
/// [`Error::Decode`] when the body is not such a document.
pub fn decode_custom_metrics(body: &[u8]) -> Result<WriteRequest, Error> {
    let bad = |what: String| Error::Decode(format!("custom-metrics JSON: {what}"));
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let entries = document
        .get("metrics")
        .and_then(|m| m.as_array())
        .ok_or_else(|| bad("no \"metrics\" array".into()))?;
    let mut series = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let name = entry
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or_else(|| bad(format!("metrics[{i}].name is not a string")))?;
        let value = entry
            .get("value")
            .and_then(|v| v.as_f64())
            .ok_or_else(|| bad(format!("metrics[{i}].value is not a number")))?;
        let mut labels = Vec::new();
        if let Some(map) = entry.get("labels") {
            let map = map
                .as_object()
                .ok_or_else(|| bad(format!("metrics[{i}].labels is not an object")))?;
            for (k, v) in map {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(format!("metrics[{i}].labels.{k} is not a string")))?;
                labels.push((k.clone(), v.to_owned()));
            }
        }
        series.push(ReceivedSeries {
            name: name.to_owned(),
            labels,
            samples: vec![ReceivedSample {
                value,
                timestamp_ms: 0,
                start_timestamp_ms: 0,
            }],
            histograms: Vec::new(),
            exemplars: Vec::new(),
        });
    }
    Ok(WriteRequest {
        series,
        metadata: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::tests::exponential_point;

    #[test]
    fn a_native_histogram_prints_its_non_empty_buckets_by_their_bounds_and_exemplars_follow() {
        let mut point = exponential_point(1, 1, (-1, &[1]), (0, &[2, 0, 1]));
        point.sum = 1.5;
        let series = ReceivedSeries {
            name: "h".into(),
            labels: vec![("a".into(), "b".into())],
            samples: vec![],
            histograms: vec![NativeHistogram {
                point,
                timestamp_ms: 9,
            }],
            exemplars: vec![ReceivedExemplar {
                labels: vec![("trace_id".into(), "ab".into())],
                value: 1.25,
                timestamp_ms: 8,
            }],
        };
        assert_eq!(
            series.to_string(),
            "h{a=\"b\"} {count=5 sum=1.5 scale=1 zero=1 [-1,-0.7071)=1 (1,1.414]=2 \
             (2,2.828]=1} 9\n  # {trace_id=\"ab\"} 1.25 8"
        );
    }
}
