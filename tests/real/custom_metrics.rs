//! Custom metrics against a real Prometheus ("metrics_api") and VictoriaMetrics
//! ("grafana_cloud"): the example definition over a counter fed with a known mix
//! of attributes gives exactly the hand-computed grouped totals, for two applications
//! with the same definitions; delete ends the series at once, re-create brings them back.
//! Run with `scripts/test`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(all(feature = "receiver", feature = "custom-metrics"))]

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::KeyValue;
use prompush::custom::CustomMetric;
use prompush::{Destination, MeterProvider};
use serde_json::Value;

use crate::servers::{Kind, Server};
use crate::support::presets::CUSTOM_METRIC_EXAMPLE as EXAMPLE;
use crate::support::presets::{application, flush, shutdown, HOUR};

const DEADLINE: Duration = Duration::from_secs(20);

/// `session_property_value` → value, of an instant query's result.
fn by_value(result: &Value) -> BTreeMap<String, f64> {
    result
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let group = s["metric"]["session_property_value"].as_str()?.to_owned();
            let value = s["value"][1].as_str()?.parse().ok()?;
            Some((group, value))
        })
        .collect()
}

/// Feeds `sessions` (scaled per application) and returns the hand-computed totals.
fn feed(provider: &MeterProvider, scale: u64) -> BTreeMap<String, f64> {
    let sessions = provider.meter("app").u64_counter("sessions").build();
    let rows: [(&str, &str, &str, u64); 6] = [
        ("session_property_value", "premium", "u1", 3),
        ("session_property_value", "premium", "u2", 4),
        ("session_property_value", "free", "u1", 10),
        ("other_key", "premium", "u3", 100),
        ("session_property_value", "free", "u4", 5),
        ("session_property_value", "trial", "u5", 1),
    ];
    for (key, value, user, n) in rows {
        sessions.add(
            n * scale,
            &[
                KeyValue::new("session_property_key", key),
                KeyValue::new("session_property_value", value),
                KeyValue::new("user", user),
            ],
        );
    }
    [("free", 15), ("premium", 7), ("trial", 1)]
        .into_iter()
        .map(|(g, n)| (g.to_owned(), (n * scale) as f64))
        .collect()
}

async fn wait_for_totals(server: &Server, app_id: &str, expected: &BTreeMap<String, f64>) {
    let query = format!("Sessions_by_session_property_key_total{{app_id=\"{app_id}\"}}");
    let result = server
        .wait_for(&query, |r| by_value(r) == *expected, DEADLINE)
        .await;
    // Exactly the grouped labels and the provider's: no user, no session_property_key.
    for series in result.as_array().into_iter().flatten() {
        let mut labels: Vec<&str> = series["metric"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        labels.sort();
        assert_eq!(
            labels,
            [
                "__name__",
                "app_id",
                "instance",
                "job",
                "session_property_value"
            ],
            "{series}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 and current VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn grouped_totals_reach_prometheus_and_victoria_metrics_for_each_application() {
    let (prometheus, victoria) = tokio::join!(
        Server::start(Kind::Prometheus3),
        Server::start(Kind::VictoriaMetrics)
    );
    let definition = CustomMetric::from_json(EXAMPLE).unwrap();
    let mut providers = Vec::new();
    // One provider per application, the same definitions for each, as in a loop over
    // app ids.
    for (app_id, scale) in [("app-1", 1), ("app-2", 100)] {
        let provider = MeterProvider::builder()
            .with_resource(application(app_id))
            .with_push_interval(HOUR)
            .with_destination(
                Destination::remote_write("metrics_api", prometheus.remote_write_url())
                    .with_external_label("app_id", app_id),
            )
            .with_destination(
                Destination::remote_write("grafana_cloud", victoria.remote_write_url())
                    .with_external_label("app_id", app_id),
            )
            .with_custom_metric(definition.clone())
            .build()
            .unwrap();
        let expected = feed(&provider, scale);
        flush(&provider).await.unwrap();
        wait_for_totals(&prometheus, app_id, &expected).await;
        wait_for_totals(&victoria, app_id, &expected).await;
        providers.push((app_id, provider, expected));
    }

    // Delete: the next push ends the series, Prometheus shows none at once.
    let (app_id, provider, expected) = &providers[0];
    provider.delete_custom_metric(&definition.name).unwrap();
    flush(provider).await.unwrap();
    let query = format!("Sessions_by_session_property_key_total{{app_id=\"{app_id}\"}}");
    prometheus
        .wait_for(&query, |r| by_value(r).is_empty(), DEADLINE)
        .await;
    // The other application's custom metric is untouched.
    let other = "Sessions_by_session_property_key_total{app_id=\"app-2\"}";
    assert_eq!(by_value(&prometheus.query(other).await), providers[1].2);

    // Re-create: the same totals are back (cumulative, nothing was lost meanwhile).
    provider.create_custom_metric(definition.clone()).unwrap();
    flush(provider).await.unwrap();
    wait_for_totals(&prometheus, app_id, expected).await;
    for (_, provider, _) in providers {
        shutdown(&provider).await.unwrap();
    }
}
