//! Exponential histograms and exemplars against real servers: native histograms stored
//! by Prometheus 3 (no flag needed) and by 2.42 started with
//! `--enable-feature=native-histograms` (exact count and sum, quantiles within a
//! bucket), exemplars (`--enable-feature=exemplar-storage`) read back through
//! `/api/v1/query_exemplars` with the trace id that was active, the same push resent as
//! classic buckets when 2.42 runs without the flag (3 has no such switch), and the
//! classic form's exact values in VictoriaMetrics, current and 1.79 (which drop native
//! histograms behind a 2xx). Run with `scripts/test`, which builds and installs the
//! servers.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use opentelemetry::KeyValue;
use prompush::{Destination, MeterProvider};

use crate::servers;
use crate::servers::stored::{assert_stored, query_until, StoredExemplar};
use crate::servers::{single_value, Kind, Server};
use crate::support::logs::LogCapture;
use crate::support::presets::{flush, service_named, HOUR};
use crate::support::spans::{in_span, TRACE_ID_HEX};

/// What every test records: 5 values from 0.5 to 10, so the histogram downscales from
/// scale 20 to 5 (32 buckets per doubling: 140 buckets from 0.5 to 10).
const VALUES: [f64; 5] = [0.5, 1.0, 2.0, 3.0, 10.0];
const SUM: f64 = 16.5;

/// The median's bucket at scale 5: `(2^(31/32), 2]`.
const MEDIAN_BUCKET: (f64, f64) = (1.957_144, 2.0);

/// A provider of exponential histograms pushing to `url` (natively or not) only when
/// flushed; it has recorded [`VALUES`] into `shop.latency` (seconds) and 3 into the
/// counter `shop.orders`.
fn recorded(url: String, native: bool) -> MeterProvider {
    let provider = MeterProvider::builder()
        .with_resource(service_named("shop"))
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_exponential_histograms(160, 20)
        .with_destination(Destination::remote_write("server", url).with_native_histograms(native))
        .build()
        .expect("valid options");
    let meter = provider.meter("shop");
    let latency = meter.f64_histogram("shop.latency").with_unit("s").build();
    for v in VALUES {
        latency.record(v, &[KeyValue::new("route", "/a")]);
    }
    meter.u64_counter("shop.orders").build().add(3, &[]);
    provider
}

/// Asserts that `promql` yields one value inside the median's bucket.
async fn assert_median_in_bucket(server: &Server, promql: &str) {
    let result = query_until(server, promql, |r| single_value(r).is_some()).await;
    let median = single_value(&result).unwrap_or(f64::NAN);
    let (low, high) = MEDIAN_BUCKET;
    assert!(
        median > low && median <= high,
        "{promql} = {median}, want it in ({low}, {high}]: {result}"
    );
}

/// The classic series' exact values, in any server.
async fn assert_classic(server: &Server) {
    assert_stored(server, "shop_latency_seconds_count", 5.0).await;
    assert_stored(server, "shop_latency_seconds_sum", SUM).await;
    // Bucket bounds at powers of two are exact: 0.5 and 1 are at or below 1.
    assert_stored(server, r#"shop_latency_seconds_bucket{le="1"}"#, 2.0).await;
    assert_stored(server, r#"shop_latency_seconds_bucket{le="2"}"#, 3.0).await;
    assert_stored(server, r#"shop_latency_seconds_bucket{le="+Inf"}"#, 5.0).await;
    assert_stored(server, "shop_orders_total", 3.0).await;
}

/// Native histograms, stored exactly: Prometheus 3 without any flag, 2.42 with
/// `--enable-feature=native-histograms` ([`Kind::native_histogram_features`]).
async fn native_histograms_are_stored_exactly(kind: Kind) {
    let prometheus = Server::builder(kind)
        .native_histograms()
        .feature("exemplar-storage")
        .start()
        .await;
    let provider = recorded(prometheus.remote_write_url(), true);
    flush(&provider).await.expect("delivered");

    assert_stored(&prometheus, "histogram_count(shop_latency_seconds)", 5.0).await;
    assert_stored(&prometheus, "histogram_sum(shop_latency_seconds)", SUM).await;
    assert_median_in_bucket(&prometheus, "histogram_quantile(0.5, shop_latency_seconds)").await;
    assert_stored(&prometheus, "shop_orders_total", 3.0).await;
    // One series, no classic ones.
    assert_eq!(prometheus.series("shop_latency_seconds").await.len(), 1);
    assert!(prometheus
        .series("{__name__=~\"shop_latency_seconds_.*\"}")
        .await
        .is_empty());

    // A second push adds to the same series.
    provider
        .meter("shop")
        .f64_histogram("shop.latency")
        .with_unit("s")
        .build()
        .record(4.0, &[KeyValue::new("route", "/a")]);
    flush(&provider).await.expect("delivered");
    assert_stored(&prometheus, "histogram_count(shop_latency_seconds)", 6.0).await;
    assert_stored(
        &prometheus,
        "histogram_sum(shop_latency_seconds)",
        SUM + 4.0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_stores_native_histograms_exactly_without_a_flag() {
    native_histograms_are_stored_exactly(Kind::Prometheus3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus 2.42; run scripts/test"]
async fn prometheus_2_42_with_the_feature_stores_native_histograms_exactly() {
    native_histograms_are_stored_exactly(Kind::Prometheus2_42).await;
}

/// Only 2.42 can refuse native histograms: Prometheus 3 has no switch for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus 2.42; run scripts/test"]
async fn prometheus_2_42_without_the_feature_gets_the_same_push_again_as_classic_buckets() {
    let logs = LogCapture::start();
    let prometheus = Server::start(Kind::Prometheus2_42).await;
    let provider = recorded(prometheus.remote_write_url(), true);
    flush(&provider).await.expect("delivered after the resend");

    assert_classic(&prometheus).await;
    assert_median_in_bucket(
        &prometheus,
        "histogram_quantile(0.5, shop_latency_seconds_bucket)",
    )
    .await;
    assert!(
        logs.text()
            .contains("Start Prometheus with --enable-feature=native-histograms"),
        "{}",
        logs.text()
    );
    // Later pushes go classic at once.
    flush(&provider).await.expect("delivered");
    assert_stored(&prometheus, "shop_latency_seconds_count", 5.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs current VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn victoria_metrics_current_stores_the_classic_buckets_exactly() {
    classic_buckets_are_stored_exactly(Kind::VictoriaMetrics).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs victoria-metrics 1.79; run scripts/test"]
async fn victoria_metrics_1_79_stores_the_classic_buckets_exactly() {
    classic_buckets_are_stored_exactly(Kind::VictoriaMetrics1_79).await;
}

async fn classic_buckets_are_stored_exactly(kind: Kind) {
    let vm = Server::start(kind).await;
    let provider = recorded(vm.remote_write_url(), false);
    flush(&provider).await.expect("delivered");
    assert_classic(&vm).await;
    assert_median_in_bucket(&vm, "histogram_quantile(0.5, shop_latency_seconds_bucket)").await;
}

/// The `(value, trace_id)` of every exemplar stored for `selector`.
async fn stored_exemplars(server: &Server, selector: &str) -> Vec<(f64, String)> {
    let stored = servers::stored::stored_exemplars(server, selector).await;
    stored.iter().map(StoredExemplar::value_and_trace).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_stores_exemplars_with_the_active_trace_id() {
    exemplars_carry_the_active_trace_id(Kind::Prometheus3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus 2.42; run scripts/test"]
async fn prometheus_2_42_with_the_feature_stores_exemplars_with_the_active_trace_id() {
    exemplars_carry_the_active_trace_id(Kind::Prometheus2_42).await;
}

/// Exemplars with `--enable-feature=exemplar-storage` (and what native histograms need).
async fn exemplars_carry_the_active_trace_id(kind: Kind) {
    let prometheus = Server::builder(kind)
        .native_histograms()
        .feature("exemplar-storage")
        .start()
        .await;
    let provider = recorded(prometheus.remote_write_url(), true);
    let meter = provider.meter("shop");
    let orders = meter.u64_counter("shop.orders").build();
    let latency = meter.f64_histogram("shop.latency").with_unit("s").build();
    in_span(true, || orders.add(2, &[]));
    flush(&provider).await.expect("delivered");
    // Prometheus 2.42 appends a series' exemplars before its histograms: a new native
    // series' first exemplar would find no series and be lost. The histogram's series
    // exists from the first push (without exemplars), so both servers keep both.
    in_span(true, || {
        latency.record(0.75, &[KeyValue::new("route", "/a")])
    });
    flush(&provider).await.expect("delivered");
    in_span(true, || {
        latency.record(1.25, &[KeyValue::new("route", "/a")])
    });
    flush(&provider).await.expect("delivered");

    let want = TRACE_ID_HEX.to_owned();
    assert_eq!(
        stored_exemplars(&prometheus, "shop_orders_total").await,
        [(2.0, want.clone())]
    );
    let native = stored_exemplars(&prometheus, "shop_latency_seconds").await;
    assert_eq!(native, [(0.75, want.clone()), (1.25, want)], "{kind:?}");
    assert_stored(&prometheus, "shop_orders_total", 5.0).await;
    assert_stored(&prometheus, "histogram_count(shop_latency_seconds)", 7.0).await;
}
