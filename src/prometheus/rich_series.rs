//! Series the remote-write encoder writes through the generated protobuf messages
//! rather than its cached byte heads: native histograms and series with exemplars.
//! Both are few next to plain samples, and their encoding changes at every push.
//!
//! Exemplar labels are built as [`ExemplarLabels`] says, sorted by name.

use super::exemplar_selection::ExemplarLabels;
use super::translate::Labels;
use super::{native, proto};
use crate::snapshot::{Exemplar, ExponentialHistogramPoint};

/// Appends one `WriteRequest.timeseries` entry: `labels`, then at most one sample, the
/// exemplars and at most one native histogram.
pub(super) fn put(
    request: &mut Vec<u8>,
    labels: &Labels<'_>,
    sample: Option<(f64, i64)>,
    exemplars: &[Exemplar],
    histogram: Option<(&ExponentialHistogramPoint, i64)>,
) {
    let series = proto::TimeSeries {
        labels: labels
            .iter()
            .map(|(name, value)| label(name, value.to_owned()))
            .collect(),
        samples: sample
            .map(|(value, timestamp)| proto::Sample { value, timestamp })
            .into_iter()
            .collect(),
        exemplars: exemplars.iter().map(exemplar).collect(),
        histograms: histogram
            .map(|(point, ts)| native::to_proto(point, ts))
            .into_iter()
            .collect(),
    };
    prost::encoding::message::encode(1, &series, request);
}

fn label(name: &str, value: String) -> proto::Label {
    proto::Label {
        name: name.to_owned(),
        value,
    }
}

fn exemplar(e: &Exemplar) -> proto::Exemplar {
    let mut built = ExemplarLabels::default();
    let mut labels: Vec<proto::Label> = built
        .build(e)
        .iter()
        .map(|(name, value)| label(name, value.to_owned()))
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    proto::Exemplar {
        labels,
        value: e.value,
        timestamp: super::model::millis(e.time),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use opentelemetry::KeyValue;

    use super::*;

    fn sampled(filtered: Vec<KeyValue>) -> Exemplar {
        Exemplar {
            value: 0.25,
            time: UNIX_EPOCH + Duration::from_millis(1234),
            trace_id: [0xab; 16],
            span_id: [1, 2, 3, 4, 5, 6, 7, 8],
            filtered_attributes: filtered,
        }
    }

    fn labels(e: &proto::Exemplar) -> Vec<(&str, &str)> {
        e.labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn an_exemplar_carries_its_trace_in_hex_and_the_dropped_attributes() {
        let e = exemplar(&sampled(vec![KeyValue::new("user.id", "u7")]));
        assert_eq!((e.value, e.timestamp), (0.25, 1234));
        assert_eq!(
            labels(&e),
            [
                ("span_id", "0102030405060708"),
                ("trace_id", "abababababababababababababababab"),
                ("user_id", "u7"),
            ]
        );
    }

    #[test]
    fn dropped_attributes_that_would_pass_128_runes_are_left_out() {
        let long = "x".repeat(70);
        let e = exemplar(&sampled(vec![KeyValue::new("k", long)]));
        assert_eq!(labels(&e).len(), 2);
        let mut without = sampled(Vec::new());
        without.trace_id = [0; 16];
        assert!(exemplar(&without).labels.is_empty());
    }
}
