//! The receiver against real HTTP requests: refusal rules, scripted replies,
//! undecodable bodies, silence.

use super::*;

#[test]
fn display_escapes_and_formats() {
    let series = ReceivedSeries {
        name: "up".into(),
        labels: vec![("a".into(), "x\"y\\z\n".into()), ("job".into(), "j".into())],
        samples: vec![
            ReceivedSample {
                value: 1.0,
                timestamp_ms: 5,
                start_timestamp_ms: 0,
            },
            ReceivedSample {
                value: f64::NAN,
                timestamp_ms: 6,
                start_timestamp_ms: 0,
            },
        ],
        ..ReceivedSeries::default()
    };
    assert_eq!(
        series.to_string(),
        "up{a=\"x\\\"y\\\\z\\n\",job=\"j\"} 1 5\nup{a=\"x\\\"y\\\\z\\n\",job=\"j\"} NaN 6"
    );
    let bare = ReceivedSeries {
        name: "x".into(),
        labels: vec![],
        samples: vec![],
        ..ReceivedSeries::default()
    };
    assert_eq!(bare.to_string(), "x");
}

/// A snappy-compressed request with one single-sample series per label set.
fn body(series: &[&[(&str, &str)]]) -> Vec<u8> {
    use crate::prometheus::proto;
    use prost::Message as _;
    let request = proto::WriteRequest {
        timeseries: series
            .iter()
            .map(|labels| proto::TimeSeries {
                labels: labels
                    .iter()
                    .map(|(name, value)| proto::Label {
                        name: (*name).into(),
                        value: (*value).into(),
                    })
                    .collect(),
                samples: vec![proto::Sample {
                    value: 1.0,
                    timestamp: 1,
                }],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("compresses")
}

/// POSTs `body` and returns the status and the response body.
async fn post(receiver: &Receiver, body: Vec<u8>) -> (u16, String) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(receiver.url())
        .header("Content-Encoding", "snappy")
        .body(body)
        .send()
        .await
        .expect("loopback POST");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_refusal_rule_refuses_exactly_the_requests_holding_a_matching_series() {
    let mut receiver = Receiver::bind().await.expect("binds");
    receiver.refuse_series_where(
        |s| s.name == "up" && s.label("route") == Some("/bad"),
        Reply::status(400).body("out of order sample"),
    );
    let bad: &[(&str, &str)] = &[("__name__", "up"), ("route", "/bad")];
    let good: &[(&str, &str)] = &[("__name__", "up"), ("route", "/good")];
    let other_name: &[(&str, &str)] = &[("__name__", "down"), ("route", "/bad")];

    assert_eq!(
        post(&receiver, body(&[good, bad, other_name])).await,
        (400, "out of order sample".to_owned())
    );
    assert_eq!(post(&receiver, body(&[good, other_name])).await.0, 204);
    assert_eq!(post(&receiver, body(&[bad])).await.0, 400);

    // Every request is handed over, refused ones with their status.
    let statuses: Vec<(u16, bool, usize)> = [(); 3]
        .iter()
        .map(|_| receiver.try_recv().expect("delivered"))
        .map(|r| (r.status, r.is_accepted(), r.request.series.len()))
        .collect();
    assert_eq!(
        statuses,
        vec![(400, false, 3), (204, true, 2), (400, false, 1)]
    );

    receiver.clear_refusals();
    assert_eq!(post(&receiver, body(&[bad])).await.0, 204);
    assert!(receiver
        .recv_timeout(WAIT)
        .await
        .expect("delivered")
        .is_accepted());
}

#[tokio::test]
async fn scripted_replies_come_before_refusal_rules_and_the_first_matching_rule_answers() {
    let mut receiver = Receiver::bind().await.expect("binds");
    let a: &[(&str, &str)] = &[("__name__", "a")];
    let b: &[(&str, &str)] = &[("__name__", "b")];
    receiver.refuse_series_where(|s| s.name == "a", Reply::status(400).body("rule a"));
    receiver.refuse_series_where(|_| true, Reply::status(422).body("rule any"));
    receiver.reply_next(1, Reply::status(503).body("scripted"));

    assert_eq!(post(&receiver, body(&[a])).await, (503, "scripted".into()));
    assert_eq!(post(&receiver, body(&[b, a])).await, (400, "rule a".into()));
    assert_eq!(post(&receiver, body(&[b])).await, (422, "rule any".into()));
    let statuses: Vec<u16> = [(); 3]
        .iter()
        .map(|_| receiver.try_recv().expect("delivered").status)
        .collect();
    assert_eq!(statuses, vec![503, 400, 422]);

    receiver.clear_refusals();
    assert_eq!(post(&receiver, body(&[a, b])).await.0, 204);
}

#[tokio::test]
async fn undecodable_bodies_are_handed_over_with_the_reason_and_take_scripted_replies() {
    let mut receiver = Receiver::bind().await.expect("binds");
    let (status, reason) = post(&receiver, b"not snappy".to_vec()).await;
    assert_eq!(status, 400);
    let got = receiver.try_recv().expect("handed over");
    assert_eq!(got.status, 400);
    assert_eq!(got.body.as_ref(), b"not snappy");
    assert_eq!(got.decode_error.as_deref(), Some(reason.trim_end()));
    assert!(got.request.series.is_empty());

    receiver.reply_next(1, Reply::status(503).body("busy"));
    assert_eq!(
        post(&receiver, b"junk".to_vec()).await,
        (503, "busy".into())
    );
    assert_eq!(receiver.try_recv().expect("handed over").status, 503);
}

#[tokio::test]
async fn a_hang_reply_records_the_request_and_never_answers() {
    let mut receiver = Receiver::bind().await.expect("binds");
    receiver.reply_next(1, Reply::hang());
    let posting = post(&receiver, body(&[&[("__name__", "a")]]));
    assert!(tokio::time::timeout(Duration::from_millis(200), posting)
        .await
        .is_err());
    let got = receiver.try_recv().expect("recorded before the silence");
    assert_eq!(got.request.series.len(), 1);
}

#[test]
fn headers_lookup() {
    let h = Headers(vec![("authorization".into(), "Bearer  s3cret ".into())]);
    assert_eq!(h.get("Authorization"), Some("Bearer  s3cret "));
    assert_eq!(h.bearer_token(), Some("s3cret"));
    assert_eq!(Headers::default().bearer_token(), None);
    let twice = Headers(vec![("a".into(), "1".into()), ("A".into(), "2".into())]);
    assert_eq!(twice.get_all("a"), ["1", "2"]);
}

/// A snappy-compressed remote-write 2.0 request: `up{job="a"} 1` started at 1 ms, at 2 ms.
fn v2_body() -> Vec<u8> {
    use crate::prometheus::proto::v2;
    use prost::Message as _;
    let request = v2::Request {
        symbols: ["", "__name__", "up", "job", "a", "a help"]
            .map(String::from)
            .into(),
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![v2::Sample {
                value: 1.0,
                timestamp: 2,
                start_timestamp: 1,
            }],
            metadata: Some(v2::Metadata {
                r#type: v2::metadata::MetricType::Gauge as i32,
                help_ref: 5,
                unit_ref: 0,
            }),
            ..Default::default()
        }],
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("compresses")
}

/// POSTs a 2.0 body and returns the status and the three written counts.
async fn post_v2(receiver: &Receiver) -> (u16, [Option<String>; 3]) {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .post(receiver.url())
        .header("Content-Encoding", "snappy")
        .header(
            "Content-Type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .body(v2_body())
        .send()
        .await
        .expect("loopback POST");
    let count = |kind: &str| {
        let name = format!("x-prometheus-remote-write-{kind}-written");
        let value = response.headers().get(name.as_str());
        value.map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let counts = ["samples", "histograms", "exemplars"].map(count);
    (response.status().as_u16(), counts)
}

#[tokio::test]
async fn a_2_0_body_is_decoded_and_answered_with_its_written_counts() {
    let mut receiver = Receiver::bind().await.expect("binds");
    let (status, counts) = post_v2(&receiver).await;
    assert_eq!(status, 204);
    assert_eq!(
        counts,
        [Some("1".into()), Some("0".into()), Some("0".into())]
    );
    let received = receiver.recv_timeout(WAIT).await.expect("received");
    assert_eq!(received.protocol, Protocol::RemoteWriteV2);
    let series = received.request.series("up").expect("up");
    assert_eq!(series.to_string(), "up{job=\"a\"} 1 2");
    assert_eq!(series.samples[0].start_timestamp_ms, 1);
    let metadata = &received.request.metadata[0];
    assert_eq!(
        (metadata.kind, &*metadata.family, &*metadata.help),
        (MetricType::Gauge, "up", "a help")
    );
}

#[tokio::test]
async fn a_1_0_only_receiver_reads_2_0_as_an_empty_request_or_answers_415() {
    let mut receiver = Receiver::bind().await.expect("binds");
    receiver.with_remote_write_v2(RemoteWriteV2::ReadAsV1);
    assert_eq!(post_v2(&receiver).await, (204, [None, None, None]));
    let received = receiver.recv_timeout(WAIT).await.expect("received");
    assert_eq!(received.protocol, Protocol::RemoteWrite);
    assert!(received.request.series.is_empty());

    receiver.with_remote_write_v2(RemoteWriteV2::Refused);
    assert_eq!(post_v2(&receiver).await.0, 415);
    // 1.0 is still taken.
    assert_eq!(post(&receiver, body(&[&[("__name__", "up")]])).await.0, 204);
}
