//! Remote write 2.0 against real servers: Prometheus 3.16 stores exactly what a 2.0
//! destination sends (counters, gauges, classic and native histograms, exemplars), with
//! each series' type and unit (`--enable-feature=type-and-unit-labels` shows them as
//! `__type__` and `__unit__` labels) and the counters' start timestamps
//! (`--enable-feature=created-timestamp-zero-ingestion` stores a zero sample at each
//! start); receivers that take only 1.0 get every value exactly once after the
//! fallback: Prometheus 2.42 and VictoriaMetrics 1.79 (a 2.0 body read as an empty 1.0
//! request, `204`), Prometheus 3 accepting only `prometheus.WriteRequest` (`415`), and
//! the current VictoriaMetrics. Run with `scripts/test`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use opentelemetry::KeyValue;
use prompush::{Destination, MeterProvider};

use crate::servers::stored::{assert_stored, query_until};
use crate::servers::{single_value, Kind, Server};
use crate::support::logs::LogCapture;
use crate::support::presets::{flush, service_named, HOUR};
use crate::support::spans::{in_span, TRACE_ID_HEX};

/// A provider pushing to `url` over remote write 2.0 (destination `name`) only when
/// flushed, with exponential histograms sent natively when `native`. It has recorded 3 into the
/// counter `shop.orders`, 21.5 into the gauge `shop.temperature` (Cel), 0.25 and 4 into
/// the classic histogram `shop.size` (KiBy, bounds 1 and 10), and 0.5, 1, 2, 3 and 10
/// into the exponential histogram `shop.latency` (s).
fn recorded(url: String, native: bool, name: &str) -> MeterProvider {
    let provider = MeterProvider::builder()
        .with_resource(service_named("shop"))
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_exponential_histograms(160, 20)
        .with_destination(Destination::remote_write_v2(name, url).with_native_histograms(native))
        .build()
        .expect("valid options");
    let meter = provider.meter("shop");
    meter.u64_counter("shop.orders").build().add(3, &[]);
    meter
        .f64_gauge("shop.temperature")
        .with_unit("Cel")
        .build()
        .record(21.5, &[]);
    let size = meter
        .f64_histogram("shop.size")
        .with_unit("KiBy")
        .with_boundaries(vec![1.0, 10.0])
        .build();
    size.record(0.25, &[]);
    size.record(4.0, &[]);
    let latency = provider
        .meter("shop")
        .f64_histogram("shop.latency")
        .with_unit("s")
        .build();
    for v in [0.5, 1.0, 2.0, 3.0, 10.0] {
        latency.record(v, &[KeyValue::new("route", "/a")]);
    }
    provider
}

/// The float values every server must hold exactly once.
async fn assert_floats(server: &Server) {
    assert_stored(server, "shop_orders_total", 3.0).await;
    assert_stored(server, "shop_temperature_celsius", 21.5).await;
    assert_stored(server, r#"shop_size_kibibytes_bucket{le="1"}"#, 1.0).await;
    assert_stored(server, r#"shop_size_kibibytes_bucket{le="10"}"#, 2.0).await;
    assert_stored(server, r#"shop_size_kibibytes_bucket{le="+Inf"}"#, 2.0).await;
    assert_stored(server, "shop_size_kibibytes_sum", 4.25).await;
    assert_stored(server, "shop_size_kibibytes_count", 2.0).await;
    // Exactly once: one sample per series in the last hour.
    assert_stored(server, "count_over_time(shop_orders_total[1h])", 1.0).await;
    assert_stored(server, "count_over_time(shop_temperature_celsius[1h])", 1.0).await;
}

/// The classic form of `shop.latency`.
async fn assert_latency_classic(server: &Server) {
    assert_stored(server, "shop_latency_seconds_count", 5.0).await;
    assert_stored(server, "shop_latency_seconds_sum", 16.5).await;
    assert_stored(server, r#"shop_latency_seconds_bucket{le="1"}"#, 2.0).await;
    assert_stored(server, r#"shop_latency_seconds_bucket{le="+Inf"}"#, 5.0).await;
}

/// The labels of the one series `selector` selects.
async fn labels_of(server: &Server, selector: &str) -> std::collections::BTreeMap<String, String> {
    let series = server.series(selector).await;
    assert_eq!(series.len(), 1, "{selector}: {series:?}");
    series.into_iter().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_stores_values_types_units_start_timestamps_and_exemplars() {
    let logs = LogCapture::start();
    let prometheus = Server::builder(Kind::Prometheus3)
        .feature("exemplar-storage")
        .feature("type-and-unit-labels")
        .feature("created-timestamp-zero-ingestion")
        .start()
        .await;
    let provider = recorded(prometheus.remote_write_url(), true, "prometheus-3-v2");
    let orders = provider.meter("shop").u64_counter("shop.orders").build();
    in_span(true, || orders.add(2, &[]));
    // Prometheus stores a start's zero sample only before the sample: let a
    // millisecond pass between the first measurement and the push.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    flush(&provider).await.expect("delivered");

    // Type-and-unit labels are part of the series: select on the name alone.
    let orders = r#"{__name__="shop_orders_total"}"#;
    assert_stored(&prometheus, orders, 5.0).await;
    let labels = labels_of(&prometheus, orders).await;
    assert_eq!(labels.get("__type__").map(String::as_str), Some("counter"));
    let temperature = labels_of(&prometheus, r#"{__name__="shop_temperature_celsius"}"#).await;
    assert_eq!(
        temperature.get("__type__").map(String::as_str),
        Some("gauge")
    );
    assert_eq!(
        temperature.get("__unit__").map(String::as_str),
        Some("celsius")
    );
    let size = labels_of(&prometheus, r#"{__name__="shop_size_kibibytes_count"}"#).await;
    assert_eq!(size.get("__type__").map(String::as_str), Some("histogram"));
    assert_eq!(size.get("__unit__").map(String::as_str), Some("kibibytes"));
    assert_stored(
        &prometheus,
        r#"{__name__="shop_temperature_celsius"}"#,
        21.5,
    )
    .await;
    assert_stored(
        &prometheus,
        r#"{__name__="shop_size_kibibytes_bucket",le="1"}"#,
        1.0,
    )
    .await;
    assert_stored(
        &prometheus,
        r#"{__name__="shop_size_kibibytes_bucket",le="10"}"#,
        2.0,
    )
    .await;
    assert_stored(&prometheus, r#"{__name__="shop_size_kibibytes_sum"}"#, 4.25).await;
    let latency = r#"{__name__="shop_latency_seconds"}"#;
    assert_stored(&prometheus, &format!("histogram_count({latency})"), 5.0).await;
    assert_stored(&prometheus, &format!("histogram_sum({latency})"), 16.5).await;
    let native = labels_of(&prometheus, latency).await;
    assert_eq!(native.get("__unit__").map(String::as_str), Some("seconds"));

    // The start timestamp: a zero sample before the value, for counters only.
    assert_stored(&prometheus, &format!("count_over_time({orders}[1h])"), 2.0).await;
    assert_stored(&prometheus, &format!("min_over_time({orders}[1h])"), 0.0).await;
    assert_stored(
        &prometheus,
        r#"count_over_time({__name__="shop_temperature_celsius"}[1h])"#,
        1.0,
    )
    .await;

    // The exemplar, with its trace id.
    let exemplars = crate::servers::stored::stored_exemplars(&prometheus, orders).await;
    let stored: Vec<(f64, String)> = exemplars.iter().map(|e| e.value_and_trace()).collect();
    assert_eq!(stored, [(2.0, TRACE_ID_HEX.to_owned())]);
    let fallback = logs.text().lines().any(|l| {
        l.contains("takes only remote write 1.0") && l.contains("destination=prometheus-3-v2")
    });
    assert!(!fallback, "no fallback: {}", logs.text());
}

/// Pushes [`recorded`] (destination `name`) twice to a receiver that takes only 1.0
/// and asserts that every float value arrived exactly once, and that the fallback was
/// said once. Returns the provider: dropping it ends its series (stale markers), so
/// the caller keeps it while it reads the server.
async fn falls_back_and_stores_everything_once(
    server: &Server,
    native: bool,
    name: &str,
) -> MeterProvider {
    let logs = LogCapture::start();
    let provider = recorded(server.remote_write_url(), native, name);
    flush(&provider).await.expect("delivered as 1.0");
    assert_floats(server).await;
    // A second push goes as 1.0 at once; the counter's new total arrives.
    provider
        .meter("shop")
        .u64_counter("shop.orders")
        .build()
        .add(1, &[]);
    flush(&provider).await.expect("delivered");
    assert_stored(server, "shop_orders_total", 4.0).await;
    assert_stored(server, "count_over_time(shop_orders_total[1h])", 2.0).await;
    let destination = format!("destination={name}");
    let said = logs
        .text()
        .lines()
        .filter(|l| l.contains("takes only remote write 1.0") && l.contains(&destination))
        .count();
    assert_eq!(said, 1, "{}", logs.text());
    provider
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus; run scripts/test"]
async fn prometheus_2_42_answers_204_without_counts_and_gets_everything_again_as_1_0() {
    let prometheus = Server::builder(Kind::Prometheus2_42)
        .native_histograms()
        .start()
        .await;
    let _provider =
        falls_back_and_stores_everything_once(&prometheus, true, "prometheus-2-42").await;
    // The native histogram arrived in its 1.0 form.
    let latency = "shop_latency_seconds";
    assert_stored(&prometheus, &format!("histogram_count({latency})"), 5.0).await;
    assert_stored(&prometheus, &format!("histogram_sum({latency})"), 16.5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs victoria-metrics; run scripts/test"]
async fn victoria_metrics_1_79_answers_204_without_counts_and_gets_everything_again_as_1_0() {
    let vm = Server::start(Kind::VictoriaMetrics1_79).await;
    // VictoriaMetrics 1.79 drops native histograms behind a 2xx: classic buckets there.
    let _provider = falls_back_and_stores_everything_once(&vm, false, "vm-1-79").await;
    assert_latency_classic(&vm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the current victoria-metrics (scripts/build-peers); run scripts/test"]
async fn current_victoria_metrics_gets_everything_once() {
    let vm = Server::start(Kind::VictoriaMetrics).await;
    let _provider = falls_back_and_stores_everything_once(&vm, false, "vm-current").await;
    assert_latency_classic(&vm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_taking_only_1_0_answers_415_and_gets_everything_as_1_0() {
    let prometheus = Server::builder(Kind::Prometheus3)
        .flag("--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest")
        .start()
        .await;
    let _provider =
        falls_back_and_stores_everything_once(&prometheus, true, "prometheus-3-v1-only").await;
    let result = query_until(&prometheus, "histogram_count(shop_latency_seconds)", |r| {
        single_value(r).is_some()
    })
    .await;
    assert_eq!(single_value(&result), Some(5.0), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_stores_the_opentelemetry_names_of_a_utf8_strategy_and_queries_them() {
    let prometheus = Server::start(Kind::Prometheus3).await;
    let url = prometheus.remote_write_url();
    let provider = MeterProvider::builder()
        .with_resource(service_named("shop"))
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_destination(
            Destination::remote_write_v2("utf8", url)
                .with_name_translation(prompush::NameTranslation::NoUTF8EscapingWithSuffixes),
        )
        .build()
        .expect("valid options");
    let meter = provider.meter("shop");
    let route = [KeyValue::new("http.route", "/a")];
    meter.u64_counter("shop.orders").build().add(3, &route);
    meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .build()
        .record(0.25, &route);
    flush(&provider).await.expect("delivered");

    assert_stored(
        &prometheus,
        r#"{"shop.orders_total","http.route"="/a"}"#,
        3.0,
    )
    .await;
    let count = r#"{"http.server.request.duration_seconds_count","http.route"="/a"}"#;
    assert_stored(&prometheus, count, 1.0).await;
    let sum = r#"{"http.server.request.duration_seconds_sum"}"#;
    assert_stored(&prometheus, sum, 0.25).await;
    // No escaped twin.
    assert!(prometheus.series("shop_orders_total").await.is_empty());
}
