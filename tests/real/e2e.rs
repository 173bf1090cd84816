//! End to end: a `MeterProvider` with every instrument kind pushes to a real
//! Prometheus and a real VictoriaMetrics; names, labels and values are read back
//! through their query APIs. The same case runs on Prometheus 3 and 2.42 and on
//! current VictoriaMetrics and 1.79. Run with `scripts/test` (it builds and installs
//! the servers).

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::KeyValue;
use prompush::MeterProvider;
use serde_json::Value;

use crate::servers::{single_value, Kind, Server};
use crate::support::presets::{flush, pushing_to, service_named, shutdown};

const DEADLINE: Duration = Duration::from_secs(20);

struct Instruments {
    requests: opentelemetry::metrics::Counter<u64>,
}

/// Every instrument kind, with known measurements.
fn instrument(provider: &MeterProvider) -> Instruments {
    let m = provider.meter("e2e");
    let requests = m.u64_counter("e2e.requests").with_unit("1").build();
    requests.add(3, &[KeyValue::new("route", "/a")]);
    m.f64_counter("e2e.cpu.time")
        .with_unit("s")
        .build()
        .add(1.25, &[]);
    m.i64_up_down_counter("e2e.active")
        .with_unit("{request}")
        .build()
        .add(-2, &[]);
    m.f64_up_down_counter("e2e.balance").build().add(2.5, &[]);
    let latency = m
        .f64_histogram("e2e.latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0, 5.0])
        .build();
    for v in [0.05, 0.2, 0.3, 0.4, 0.7, 2.0] {
        latency.record(v, &[KeyValue::new("route", "/a")]);
    }
    m.u64_histogram("e2e.size")
        .with_unit("By")
        .build()
        .record(85, &[]);
    m.u64_gauge("e2e.queue").build().record(7, &[]);
    m.i64_gauge("e2e.offset").build().record(-4, &[]);
    m.f64_gauge("e2e.utilization")
        .with_unit("1")
        .build()
        .record(0.75, &[KeyValue::new("cpu", 0)]);
    let _ = m
        .u64_observable_counter("e2e.observed")
        .with_callback(|o| o.observe(42, &[KeyValue::new("kind", "x")]))
        .build();
    let _ = m
        .i64_observable_up_down_counter("e2e.observed.delta")
        .with_callback(|o| o.observe(-5, &[]))
        .build();
    let _ = m
        .f64_observable_gauge("e2e.memory.usage")
        .with_unit("By")
        .with_callback(|o| o.observe(1.5e6, &[]))
        .build();
    Instruments { requests }
}

/// Every series the provider above produces, by name, with its value.
const EXPECTED: &[(&str, &str, f64)] = &[
    ("e2e_requests_total", r#"{route="/a"}"#, 3.0),
    ("e2e_cpu_time_seconds_total", "", 1.25),
    ("e2e_active", "", -2.0),
    ("e2e_balance", "", 2.5),
    ("e2e_latency_seconds_count", r#"{route="/a"}"#, 6.0),
    ("e2e_latency_seconds_sum", r#"{route="/a"}"#, 3.65),
    (
        "e2e_latency_seconds_bucket",
        r#"{route="/a",le="0.1"}"#,
        1.0,
    ),
    (
        "e2e_latency_seconds_bucket",
        r#"{route="/a",le="0.5"}"#,
        4.0,
    ),
    ("e2e_latency_seconds_bucket", r#"{route="/a",le="1"}"#, 5.0),
    ("e2e_latency_seconds_bucket", r#"{route="/a",le="5"}"#, 6.0),
    (
        "e2e_latency_seconds_bucket",
        r#"{route="/a",le="+Inf"}"#,
        6.0,
    ),
    ("e2e_size_bytes_bucket", r#"{le="75"}"#, 0.0),
    ("e2e_size_bytes_bucket", r#"{le="100"}"#, 1.0),
    ("e2e_size_bytes_count", "", 1.0),
    ("e2e_size_bytes_sum", "", 85.0),
    ("e2e_queue", "", 7.0),
    ("e2e_offset", "", -4.0),
    ("e2e_utilization_ratio", r#"{cpu="0"}"#, 0.75),
    ("e2e_observed_total", r#"{kind="x"}"#, 42.0),
    ("e2e_observed_delta", "", -5.0),
    ("e2e_memory_usage_bytes", "", 1.5e6),
];

fn provider_for(server: &Server) -> MeterProvider {
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("e2e")
        .with_attributes([
            KeyValue::new("service.instance.id", "i-1"),
            KeyValue::new("deployment.environment", "test"),
        ])
        .build();
    pushing_to(server.remote_write_url())
        .with_resource(resource)
        .build()
        .expect("provider")
}

fn values(result: &Value) -> Vec<f64> {
    result
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|pair| pair[1].as_str()?.parse().ok())
        .collect()
}

async fn every_instrument_round_trips(kind: Kind) {
    let server = &Server::start(kind).await;
    let provider = provider_for(server);
    let instruments = instrument(&provider);
    flush(&provider).await.expect("first push accepted");

    // Names and labels, exactly.
    let series = server.series(r#"{job="e2e"}"#).await;
    // prompush's own delivery metrics (`prompush_*`) come along; they are tested
    // elsewhere.
    let mut names: Vec<&str> = series
        .iter()
        .map(|s| s["__name__"].as_str())
        .filter(|n| !n.starts_with("prompush_"))
        .collect();
    names.sort();
    names.dedup();
    let mut want: Vec<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
    want.push("target_info");
    want.sort();
    want.dedup();
    assert_eq!(names, want);
    let requests = series
        .iter()
        .find(|s| s["__name__"] == "e2e_requests_total")
        .unwrap();
    let expected: BTreeMap<String, String> = [
        ("__name__", "e2e_requests_total"),
        ("instance", "i-1"),
        ("job", "e2e"),
        ("otel_scope_name", "e2e"),
        ("route", "/a"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(requests, &expected);
    let info = series
        .iter()
        .find(|s| s["__name__"] == "target_info")
        .unwrap();
    assert_eq!(
        info.get("deployment_environment").map(String::as_str),
        Some("test")
    );

    // Values, exactly.
    for (name, selector, value) in EXPECTED {
        let selector = if selector.is_empty() {
            r#"{job="e2e"}"#.to_string()
        } else {
            format!(r#"{{job="e2e",{}"#, &selector[1..])
        };
        let q = format!("{name}{selector}");
        // Bounded wait: VictoriaMetrics may take a moment to make fresh rows searchable.
        let result = server
            .wait_for(&q, |r| single_value(r).is_some(), DEADLINE)
            .await;
        let got = single_value(&result).unwrap_or_else(|| panic!("{q}: {result}"));
        assert!((got - value).abs() < 1e-9, "{q} = {got}, want {value}");
    }

    // The median of 0.05, 0.2, 0.3, 0.4, 0.7, 2 lies in the (0.1, 0.5] bucket.
    let q = r#"histogram_quantile(0.5, e2e_latency_seconds_bucket{job="e2e"})"#;
    let result = server
        .wait_for(q, |r| single_value(r).is_some(), DEADLINE)
        .await;
    let median = single_value(&result).expect("one quantile");
    assert!(median > 0.1 && median <= 0.5, "median {median}");

    // A counter pushed twice shows the increase.
    instruments.requests.add(4, &[KeyValue::new("route", "/a")]);
    flush(&provider).await.expect("second push accepted");
    let result = server
        .wait_for(
            r#"e2e_requests_total{job="e2e"}[10m]"#,
            |r| values(r).len() == 2,
            DEADLINE,
        )
        .await;
    assert_eq!(values(&result), vec![3.0, 7.0]);
    shutdown(&provider).await.expect("final push accepted");
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_receives_every_instrument_exactly() {
    every_instrument_round_trips(Kind::Prometheus3).await;
}

#[tokio::test]
#[ignore = "needs prometheus 2.42; run scripts/test"]
async fn prometheus_2_42_receives_every_instrument_exactly() {
    every_instrument_round_trips(Kind::Prometheus2_42).await;
}

#[tokio::test]
#[ignore = "needs current VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn victoria_metrics_current_receives_every_instrument_exactly() {
    every_instrument_round_trips(Kind::VictoriaMetrics).await;
}

#[tokio::test]
#[ignore = "needs victoria-metrics 1.79; run scripts/test"]
async fn victoria_metrics_1_79_receives_every_instrument_exactly() {
    every_instrument_round_trips(Kind::VictoriaMetrics1_79).await;
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_restarted_mid_run_ends_with_exact_totals() {
    let mut server = Server::start(Kind::Prometheus3).await;
    let provider = MeterProvider::builder()
        .with_resource(service_named("restart"))
        .with_endpoint(server.remote_write_url())
        .with_push_interval(Duration::from_millis(200))
        .with_retry_backoff(Duration::from_millis(30), Duration::from_millis(500))
        .with_self_metrics(false)
        .build()
        .expect("provider");
    let counter = provider.meter("e2e").u64_counter("restart.events").build();
    let mut total = 0u64;
    let mut add = |n: u64| {
        counter.add(n, &[KeyValue::new("kind", "a")]);
        total += n;
        total
    };
    for _ in 0..10 {
        add(1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
        .wait_for(
            r#"restart_events_total{job="restart"}"#,
            |r| single_value(r).is_some(),
            DEADLINE,
        )
        .await;
    server.stop();
    // Recording goes on while the server is down; pushes fail and are retried.
    for _ in 0..20 {
        add(2);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.restart().await;
    let expected = add(3) as f64;
    shutdown(&provider)
        .await
        .expect("final push accepted after the restart");
    // Range selectors skip stale markers: the last real sample is the exact total.
    let result = server
        .wait_for(
            r#"max_over_time(restart_events_total{job="restart"}[10m])"#,
            |r| single_value(r) == Some(expected),
            DEADLINE,
        )
        .await;
    assert_eq!(single_value(&result), Some(expected));
    // Shutdown ended the series with a stale marker: an instant query no longer shows it.
    let now = server.query(r#"restart_events_total{job="restart"}"#).await;
    assert_eq!(now.as_array().map(Vec::len), Some(0), "{now}");
}
