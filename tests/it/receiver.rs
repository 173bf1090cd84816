//! The receiver over loopback: real HTTP, real encoder, and garbage.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use prompush::prometheus::encode::WriteRequestEncoder;
use prompush::prometheus::translate::{MetricType, Translator};
use prompush::receiver::{Receiver, Reply};
use prompush::snapshot::*;

const WAIT: Duration = Duration::from_secs(5);

fn snapshot() -> Snapshot {
    let descriptor = Arc::new(Descriptor {
        id: 1,
        name: "jobs.done".into(),
        description: "Jobs finished".into(),
        unit: "{job}".into(),
        kind: InstrumentKind::Counter,
        number: NumberKind::U64,
    });
    Snapshot {
        resource: Resource::builder_empty()
            .with_attribute(KeyValue::new("service.name", "worker"))
            .build(),
        time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        scopes: vec![ScopeSnapshot {
            scope: InstrumentationScope::builder("test").build(),
            metrics: vec![MetricSnapshot {
                descriptor,
                start_time: UNIX_EPOCH,
                time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                data: MetricData::Sum {
                    monotonic: true,
                    points: vec![NumberPoint {
                        exemplars: Vec::new(),
                        attributes: Attributes::new(&[KeyValue::new("queue", "q\"1")]),
                        value: Number::U64(12),
                    }],
                },
                rejected_measurements: 0,
            }],
        }],
    }
}

fn body() -> Vec<u8> {
    let mut encoder = WriteRequestEncoder::new();
    Translator::new().translate(&snapshot(), &mut encoder);
    encoder.finish().expect("encodes").to_vec()
}

async fn post(url: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .bearer_auth("t0ken")
        .body(body)
        .send()
        .await
        .expect("loopback POST")
}

#[tokio::test]
async fn the_receiver_decodes_the_series_and_headers_it_gets() {
    let mut receiver = Receiver::bind().await.expect("binds");
    assert!(receiver.addr().ip().is_loopback());
    let response = post(&receiver.url(), body()).await;
    assert_eq!(response.status(), 204);

    let got = receiver.recv_timeout(WAIT).await.expect("a request");
    assert_eq!(got.status, 204);
    assert_eq!(got.path, "/api/v1/write");
    assert_eq!(got.headers.get("content-encoding"), Some("snappy"));
    assert_eq!(
        got.headers.get("X-Prometheus-Remote-Write-Version"),
        Some("0.1.0")
    );
    assert_eq!(got.headers.bearer_token(), Some("t0ken"));

    let series = got.request.series("jobs_done_total").expect("the counter");
    assert_eq!(series.label("job"), Some("worker"));
    assert_eq!(series.value(), Some(12.0));
    assert_eq!(
        series.to_string(),
        r#"jobs_done_total{job="worker",otel_scope_name="test",queue="q\"1"} 12 1700000000000"#
    );
    let meta = &got.request.metadata[0];
    assert_eq!(meta.kind, MetricType::Counter);
    assert_eq!(meta.family, "jobs_done_total");
    assert_eq!(meta.help, "Jobs finished");
}

#[tokio::test]
async fn garbage_gets_400_and_the_receiver_keeps_working() {
    let mut receiver = Receiver::bind().await.expect("binds");
    let snappy_of_junk = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\x05\x0a\xff\xff\xff")
        .expect("compresses");
    for junk in [
        b"not snappy at all".to_vec(),
        vec![0xff; 64],
        snappy_of_junk,
        // Claims 4 GiB decompressed.
        vec![0x80, 0x80, 0x80, 0x80, 0x10, 0x00],
    ] {
        let response = post(&receiver.url(), junk).await;
        assert_eq!(response.status(), 400);
        let text = response.text().await.expect("a body");
        assert!(
            text.contains("invalid request body: remote-write body"),
            "{text}"
        );
    }
    // Each is handed over as it came, with why it did not decode.
    for _ in 0..4 {
        let refused = receiver.try_recv().expect("a bad request is handed over");
        assert_eq!(refused.status, 400);
        assert!(!refused.is_accepted());
        assert!(refused.request.series.is_empty());
        let reason = refused.decode_error.expect("the reason");
        assert!(reason.contains("remote-write body"), "{reason}");
    }
    let response = reqwest::get(receiver.url()).await.expect("GET");
    assert_eq!(response.status(), 405);
    assert!(receiver.try_recv().is_none(), "a GET is not a push");
    // Still serving.
    assert_eq!(post(&receiver.url(), body()).await.status(), 204);
    assert!(receiver.recv_timeout(WAIT).await.is_some());
}

#[tokio::test]
async fn scripted_replies_are_sent_in_turn_then_204_again() {
    let mut receiver = Receiver::bind().await.expect("binds");
    receiver.reply_next(
        2,
        Reply::status(429)
            .header("Retry-After", "3")
            .body("slow down"),
    );
    for _ in 0..2 {
        let response = post(&receiver.url(), body()).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "3");
        assert_eq!(response.text().await.expect("body"), "slow down");
        assert_eq!(
            receiver.recv_timeout(WAIT).await.expect("delivered").status,
            429
        );
    }
    assert_eq!(post(&receiver.url(), body()).await.status(), 204);
    receiver.reply_next(1, Reply::status(503));
    receiver.clear_replies();
    assert_eq!(post(&receiver.url(), body()).await.status(), 204);
}
