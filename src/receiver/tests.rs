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
            },
            ReceivedSample {
                value: f64::NAN,
                timestamp_ms: 6,
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
