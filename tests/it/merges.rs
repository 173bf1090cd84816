//! Series that translate to one Prometheus series are merged on every path, on
//! loopback: a JSON destination, a custom-metrics task's base series, and the
//! `RemoteWriteExporter` of the official SDK. The real-server versions of the remote
//! write path are in tests/real/no_loss.rs.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use prompush::receiver::{Received, Receiver};
use prompush::{Destination, MeterProvider, RemoteWriteExporter};

const WAIT: Duration = Duration::from_secs(10);

/// `name{labels}` → value of every series whose name starts with `prefix`, across the
/// requests that arrive within a short wait of each other.
fn values(receiver: &mut Receiver, prefix: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut wait = WAIT;
    while let Some(Received { request, .. }) = receiver.recv_blocking(wait) {
        for s in request.series.iter().filter(|s| s.name.starts_with(prefix)) {
            let labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "instance")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.insert(
                format!("{}{{{}}}", s.name, labels.join(",")),
                s.value().unwrap_or(f64::NAN),
            );
        }
        wait = Duration::from_millis(300);
    }
    out
}

#[test]
fn a_json_destination_gets_one_entry_for_attribute_sets_of_one_series() {
    let mut json = Receiver::start().unwrap();
    let url = json
        .url()
        .replace("/api/v1/write", "/api/client/metrics/custom");
    let provider = MeterProvider::builder()
        .with_resource(Resource::builder_empty().build())
        .with_self_metrics(false)
        .with_push_interval(Duration::from_secs(3600))
        .with_destination(Destination::custom_metrics_json("u", url))
        .build()
        .unwrap();
    let c = provider.meter("shop").u64_counter("orders").build();
    c.add(1, &[]);
    c.add(5, &[KeyValue::new("route", "")]);
    c.add(2, &[KeyValue::new("a.b", "x")]);
    c.add(3, &[KeyValue::new("a_b", "x")]);
    provider.force_flush().unwrap();
    let got = values(&mut json, "orders");
    let want: BTreeMap<String, f64> = [
        ("orders_total{otel_scope_name=shop}", 6.0),
        ("orders_total{a_b=x,otel_scope_name=shop}", 5.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, want);
    provider.shutdown().unwrap();
}

#[test]
fn the_sdk_exporter_merges_two_meters_counters_without_scope_labels() {
    let mut receiver = Receiver::start().unwrap();
    let exporter = RemoteWriteExporter::builder()
        .with_endpoint(receiver.url())
        .with_scope_labels(false)
        .with_self_metrics(false)
        .build()
        .unwrap();
    let sdk = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_resource(Resource::builder_empty().build())
        .with_periodic_exporter(exporter)
        .build();
    sdk.meter("lib-a")
        .u64_counter("requests")
        .build()
        .add(3, &[]);
    sdk.meter("lib-b")
        .u64_counter("requests")
        .build()
        .add(4, &[]);
    sdk.force_flush().unwrap();
    let got = values(&mut receiver, "requests");
    assert_eq!(got.get("requests_total{}"), Some(&7.0), "{got:?}");
    assert_eq!(got.len(), 1, "{got:?}");
    sdk.shutdown().unwrap();
}
