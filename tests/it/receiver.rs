//! The receiver over loopback: real HTTP, real encoder, and garbage.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use prompush::receiver::{MetricType, Receiver, Reply};
use prompush::snapshot::*;
use prompush::RemoteWriteEncoder;

const WAIT: Duration = Duration::from_secs(5);

/// One counter, `jobs.done{queue="q\"1"}` = 12, collected by a provider of its own.
fn snapshot() -> Snapshot {
    let provider = prompush::MeterProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_attribute(KeyValue::new("service.name", "worker"))
                .with_attribute(KeyValue::new("service.instance.id", "w1"))
                .build(),
        )
        .with_self_metrics(false)
        .build()
        .expect("builds");
    let jobs = provider
        .meter_with_scope(InstrumentationScope::builder("test").build())
        .u64_counter("jobs.done")
        .with_description("Jobs finished")
        .with_unit("{job}")
        .build();
    jobs.add(12, &[KeyValue::new("queue", "q\"1")]);
    provider.collect()
}

fn body() -> Vec<u8> {
    body_of(&snapshot())
}

fn body_of(snapshot: &Snapshot) -> Vec<u8> {
    RemoteWriteEncoder::new()
        .encode(snapshot)
        .expect("encodes")
        .to_vec()
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
    let snapshot = snapshot();
    let response = post(&receiver.url(), body_of(&snapshot)).await;
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
    let millis = snapshot
        .time()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis();
    assert_eq!(
        series.to_string(),
        format!(
            r#"jobs_done_total{{instance="w1",job="worker",otel_scope_name="test",queue="q\"1"}} 12 {millis}"#
        )
    );
    let meta = got
        .request
        .metadata
        .iter()
        .find(|m| m.family == "jobs_done_total")
        .expect("the counter's metadata");
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
