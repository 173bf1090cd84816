//! What a real server stored, compared exactly: the one value of a query, or every
//! series' value keyed by one label, or the exemplars of a series; and a hand-made
//! remote-write body, for writing a sample that prompush itself would never send.
//!
//! The waits are bounded ([`STORED_DEADLINE`]): Prometheus answers from its head block as
//! soon as a write returns, and [`Server::query`] flushes VictoriaMetrics first, so a
//! correct value shows at once; the deadline only bounds how long a wrong one is polled
//! before the test fails with what is stored.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::proto;
use prost::Message as _;
use serde_json::Value;

use super::real_servers::{single_value, Server};

/// How long a stored value may take to match before the test fails.
pub const STORED_DEADLINE: Duration = Duration::from_secs(10);
/// Pause between polls.
const POLL: Duration = Duration::from_millis(100);

/// Polls `promql` until `read(result)` is `want`; fails with the last result and what
/// `read` made of it once [`STORED_DEADLINE`] has passed.
async fn settle<T: PartialEq + std::fmt::Debug>(
    server: &Server,
    promql: &str,
    read: impl Fn(&Value) -> T,
    want: &T,
) {
    let started = Instant::now();
    loop {
        let result = server.query(promql).await;
        let got = read(&result);
        if &got == want {
            return;
        }
        if started.elapsed() > STORED_DEADLINE {
            panic!("{promql}: stored {got:?}, want {want:?}\nquery result: {result}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `promql` until `done(result)` holds or [`STORED_DEADLINE`] has passed, and
/// returns the last result either way: the caller's assertion then says what is wrong.
pub async fn query_until(server: &Server, promql: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let result = server.query(promql).await;
        if done(&result) || started.elapsed() > STORED_DEADLINE {
            return result;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Asserts that `promql` yields exactly one series, of value `want`.
pub async fn assert_stored(server: &Server, promql: &str, want: f64) {
    settle(server, promql, single_value, &Some(want)).await;
}

/// Asserts that `promql` yields exactly the series `want`: each one's value of `label`
/// (`""` for a series without it) and its value, in any order. Two series with the same
/// value of `label` show up as two entries.
pub async fn assert_stored_by(server: &Server, promql: &str, label: &str, want: &[(&str, f64)]) {
    let mut want: Vec<(String, f64)> = want.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    want.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    settle(server, promql, |r| values_by(r, label), &want).await;
}

/// Every series of an instant-query result as `(its value of label, its value)`, sorted;
/// `""` for a series without the label.
pub fn values_by(result: &Value, label: &str) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = result
        .as_array()
        .into_iter()
        .flatten()
        .map(|series| {
            let key = series["metric"][label]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let value = series["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            (key, value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    out
}

/// A snappy-compressed remote-write request with one sample of the series `labels`
/// (`__name__` among them; sorted here, as receivers require).
pub fn write_body<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: f64,
    timestamp_ms: i64,
) -> Vec<u8> {
    let mut labels: Vec<proto::Label> = labels
        .into_iter()
        .map(|(name, value)| proto::Label {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    let request = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            labels,
            samples: vec![proto::Sample {
                value,
                timestamp: timestamp_ms,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy compress")
}

/// One exemplar as Prometheus stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExemplar {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Seconds since the epoch, as the API gives them (milliseconds kept).
    pub timestamp: f64,
}

impl StoredExemplar {
    /// The `(value, trace_id)` pair most assertions need.
    pub fn value_and_trace(&self) -> (f64, String) {
        let trace = self.labels.get("trace_id").cloned().unwrap_or_default();
        (self.value, trace)
    }
}

/// Every exemplar stored for the series `selector` selects (Prometheus with
/// `--enable-feature=exemplar-storage`), series after series.
pub async fn stored_exemplars(server: &Server, selector: &str) -> Vec<StoredExemplar> {
    let data = server.exemplars(selector).await;
    let mut out = Vec::new();
    for series in data.as_array().into_iter().flatten() {
        for e in series["exemplars"].as_array().into_iter().flatten() {
            let value = e["value"].as_str().and_then(|v| v.parse().ok());
            let labels = serde_json::from_value(e["labels"].clone()).unwrap_or_default();
            out.push(StoredExemplar {
                labels,
                value: value.unwrap_or(f64::NAN),
                timestamp: e["timestamp"].as_f64().unwrap_or(f64::NAN),
            });
        }
    }
    out
}

/// Polls [`stored_exemplars`] until there are some or [`STORED_DEADLINE`] has passed.
pub async fn wait_for_exemplars(server: &Server, selector: &str) -> Vec<StoredExemplar> {
    let started = Instant::now();
    loop {
        let stored = stored_exemplars(server, selector).await;
        if !stored.is_empty() || started.elapsed() > STORED_DEADLINE {
            return stored;
        }
        tokio::time::sleep(POLL).await;
    }
}
