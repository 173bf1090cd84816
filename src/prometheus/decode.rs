//! Decoding what an encoder wrote, for receivers and tests: a remote-write body
//! (snappy block + `prometheus.WriteRequest`) or a JSON custom-metrics body, into
//! plain [`Series`] with their labels and samples.

use std::fmt;

use super::naming::write_float;
use super::translate::MetricType;
use crate::Error;

/// The largest request accepted after snappy decompression (bigger ones get `400`).
/// Decoded messages take several times their wire size in memory, so this stays well
/// above what senders use (Prometheus sends about 2000 samples, well under 1 MiB) and
/// well below what a hostile body could inflate into.
pub const MAX_DECODED_BYTES: usize = 32 << 20;

/// One series as received: name, labels in the order sent, samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The `__name__` label (empty if the sender left it out).
    pub name: String,
    /// Every other label, `(name, value)`, in the order sent: a conforming sender sorts
    /// them by name.
    pub labels: Vec<(String, String)>,
    /// The samples, in the order sent.
    pub samples: Vec<Sample>,
}

impl Series {
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
impl fmt::Display for Series {
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
        if self.samples.is_empty() {
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
        Ok(())
    }
}

/// One sample of a received series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The value (compare NaNs with `f64::is_nan`, stale markers by their bits).
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Type, help and unit of one metric family, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
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
    pub series: Vec<Series>,
    /// The metric family metadata, in the order sent.
    pub metadata: Vec<Metadata>,
}

impl WriteRequest {
    /// The first series called `name`.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }
}

/// Decodes a remote-write body (snappy block-compressed `prometheus.WriteRequest`).
///
/// # Errors
/// [`Error::Decode`] when the body is not snappy, not the protobuf message, or
/// decompresses to more than [`MAX_DECODED_BYTES`].
pub fn decode(body: &[u8]) -> Result<WriteRequest, Error> {
    let request = crate::prometheus::encode::decode(body, MAX_DECODED_BYTES)?;
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
                .map(|s| Sample {
                    value: s.value,
                    timestamp_ms: s.timestamp,
                })
                .collect();
            Series {
                name,
                labels,
                samples,
            }
        })
        .collect();
    let metadata = request
        .metadata
        .into_iter()
        .map(|m| Metadata {
            kind: MetricType::from_proto_value(m.r#type),
            family: m.metric_family_name,
            help: m.help,
            unit: m.unit,
        })
        .collect();
    Ok(WriteRequest { series, metadata })
}

/// Decodes a JSON custom-metrics body, `{"metrics":[{"name":…,"value":…,"labels":{…}}]}`
/// (see [`Protocol::CustomMetricsJson`](crate::Protocol::CustomMetricsJson)), into one series per entry. The format has no
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
        series.push(Series {
            name: name.to_owned(),
            labels,
            samples: vec![Sample {
                value,
                timestamp_ms: 0,
            }],
        });
    }
    Ok(WriteRequest {
        series,
        metadata: Vec::new(),
    })
}
