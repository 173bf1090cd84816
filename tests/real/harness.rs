//! Smoke tests of the real-server harness: a hand-encoded remote-write request goes to
//! every server kind (Prometheus 3 and 2.42, VictoriaMetrics current and 1.79) and is
//! read back through its query API; Prometheus 3's OTLP receiver takes a write with the
//! `otlp` block applied. Run with `scripts/test` (builds and installs the servers), or
//! `cargo test --test real harness:: -- --include-ignored` with the peers' env sourced.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::servers::stored::write_body;
use crate::servers::{single_value, unix_millis, Kind, Server};

const READ_DEADLINE: Duration = Duration::from_secs(15);

async fn push_and_read_back(server: &Server, name: &str) {
    let value = 42.125; // exact in binary and in decimal text
    let labels = [
        ("__name__", "prompush_smoke"),
        ("job", "smoke"),
        ("server", name),
    ];
    let (status, body) = server.push(write_body(labels, value, unix_millis())).await;
    assert!(
        (200..300).contains(&status),
        "{name}: push answered {status}: {body}"
    );

    let result = server
        .wait_for(
            "prompush_smoke{job=\"smoke\"}",
            |r| single_value(r).is_some(),
            READ_DEADLINE,
        )
        .await;
    assert_eq!(single_value(&result), Some(value), "{name}: {result}");

    let expected: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(
        server.series("prompush_smoke").await,
        vec![expected],
        "{name}"
    );
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_stores_a_pushed_sample() {
    let server = Server::start(Kind::Prometheus3).await;
    push_and_read_back(&server, "prometheus-3").await;
}

#[tokio::test]
#[ignore = "needs prometheus 2.42; run scripts/test"]
async fn prometheus_2_42_stores_a_pushed_sample() {
    let server = Server::start(Kind::Prometheus2_42).await;
    push_and_read_back(&server, "prometheus-2.42").await;
}

#[tokio::test]
#[ignore = "needs current VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn victoria_metrics_current_stores_a_pushed_sample() {
    let server = Server::start(Kind::VictoriaMetrics).await;
    push_and_read_back(&server, "victoria-metrics-current").await;
}

#[tokio::test]
#[ignore = "needs victoria-metrics 1.79; run scripts/test"]
async fn victoria_metrics_1_79_stores_a_pushed_sample() {
    let server = Server::start(Kind::VictoriaMetrics1_79).await;
    push_and_read_back(&server, "victoria-metrics-1.79").await;
}

/// The options the side-by-side and name-parity tests build on: Prometheus 3's OTLP
/// receiver with an `otlp` block, feature flags and other flags together.
#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_takes_otlp_with_the_otlp_block_applied() {
    let server = Server::builder(Kind::Prometheus3)
        .otlp("translation_strategy: UnderscoreEscapingWithSuffixes\npromote_resource_attributes: [deployment.environment]\n")
        .feature("exemplar-storage")
        .flag("--query.lookback-delta=1m")
        .start()
        .await;
    assert_eq!(server.kind(), Kind::Prometheus3);
    let now_ns = unix_millis() * 1_000_000;
    let body = serde_json::json!({"resourceMetrics": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "smoke"}},
            {"key": "deployment.environment", "value": {"stringValue": "test"}},
        ]},
        "scopeMetrics": [{"scope": {"name": "harness"}, "metrics": [{
            "name": "otlp.smoke", "unit": "s",
            "gauge": {"dataPoints": [{"asDouble": 42.125, "timeUnixNano": now_ns.to_string()}]},
        }]}],
    }]});
    let response = server
        .http()
        .post(server.otlp_url())
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("OTLP request");
    let status = response.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        response.text().await.unwrap_or_default()
    );

    // Underscore escaping with the unit suffix; the promoted resource attribute a label.
    let result = server
        .wait_for(
            "otlp_smoke_seconds{job=\"smoke\",deployment_environment=\"test\"}",
            |r| single_value(r).is_some(),
            READ_DEADLINE,
        )
        .await;
    assert_eq!(single_value(&result), Some(42.125), "{result}");
}

/// Documents the receiver rule the exporter must respect: per series, timestamps only
/// move forward, and one timestamp has one value. Prometheus 3 keeps it (its
/// out-of-order window, `out_of_order_time_window`, is 0 by default), as 2.42 did.
#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_rejects_out_of_order_and_duplicate_samples() {
    rejects_out_of_order_and_duplicate_samples(Kind::Prometheus3).await;
}

#[tokio::test]
#[ignore = "needs prometheus 2.42; run scripts/test"]
async fn prometheus_2_42_rejects_out_of_order_and_duplicate_samples() {
    rejects_out_of_order_and_duplicate_samples(Kind::Prometheus2_42).await;
}

async fn rejects_out_of_order_and_duplicate_samples(kind: Kind) {
    let prometheus = Server::start(kind).await;
    let labels = [("__name__", "prompush_order"), ("job", "smoke")];
    let now = unix_millis();

    let (status, body) = prometheus.push(write_body(labels, 1.0, now)).await;
    assert!((200..300).contains(&status), "first push: {status}: {body}");

    let (status, body) = prometheus.push(write_body(labels, 2.0, now - 60_000)).await;
    assert_eq!(status, 400, "older sample: {body}");
    assert!(body.contains("out of order"), "older sample: {body}");

    let (status, body) = prometheus.push(write_body(labels, 3.0, now)).await;
    assert_eq!(status, 400, "same timestamp, new value: {body}");
    assert!(
        body.contains("duplicate"),
        "same timestamp, new value: {body}"
    );

    // The same sample again is accepted (idempotent retry).
    let (status, body) = prometheus.push(write_body(labels, 1.0, now)).await;
    assert!(
        (200..300).contains(&status),
        "identical resend: {status}: {body}"
    );

    let result = prometheus.query("prompush_order").await;
    assert_eq!(single_value(&result), Some(1.0), "{result}");
}

/// VictoriaMetrics takes samples in any order.
#[tokio::test]
#[ignore = "needs Prometheus 3 and current VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn victoria_metrics_accepts_out_of_order_samples() {
    let vm = Server::start(Kind::VictoriaMetrics).await;
    let labels = [("__name__", "prompush_order"), ("job", "smoke")];
    let now = unix_millis();
    for (value, timestamp) in [(1.0, now), (2.0, now - 60_000)] {
        let (status, body) = vm.push(write_body(labels, value, timestamp)).await;
        assert!((200..300).contains(&status), "{status}: {body}");
    }
    let result = vm
        .wait_for(
            "count_over_time(prompush_order[5m])",
            |r| single_value(r) == Some(2.0),
            READ_DEADLINE,
        )
        .await;
    assert_eq!(single_value(&result), Some(2.0), "{result}");
}
