//! Exemplars through a push to prompush's own receiver: which measurements the filter
//! keeps, on which series they travel (the counter's, the bucket of their value, the
//! native histogram's), with the trace they were made in, each sent once.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use opentelemetry::KeyValue;
use prompush::receiver::{ReceivedExemplar, Receiver, WriteRequest};
use prompush::{Destination, ExemplarFilter, MeterProvider};

use crate::loopback::next;
use crate::support::presets::{service_named, HOUR};
use crate::support::spans::{in_span, SPAN_ID_HEX, TRACE_ID_HEX};

fn provider(receiver: &Receiver, filter: ExemplarFilter) -> MeterProvider {
    MeterProvider::builder()
        .with_resource(service_named("shop"))
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_exponential_histograms(160, 20)
        .with_exemplar_filter(filter)
        .with_destination(
            Destination::remote_write("default", receiver.url()).with_native_histograms(true),
        )
        .build()
        .unwrap()
}

/// The exemplars of the series `name` whose label `le` is `le` (any when `None`).
fn exemplars<'r>(r: &'r WriteRequest, name: &str, le: Option<&str>) -> Vec<&'r ReceivedExemplar> {
    r.series
        .iter()
        .filter(|s| s.name == name && (le.is_none() || s.label("le") == le))
        .flat_map(|s| s.exemplars.iter())
        .collect()
}

fn labels(e: &ReceivedExemplar) -> Vec<(&str, &str)> {
    e.labels
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

#[test]
fn measurements_in_a_sampled_span_travel_with_their_series_once() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, ExemplarFilter::TraceBased);
    let meter = provider.meter("shop");
    let orders = meter.u64_counter("shop.orders").build();
    let latency = meter
        .f64_histogram("shop.latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    let sizes = meter.f64_histogram("shop.size").with_unit("By").build();
    let queue = meter.i64_up_down_counter("shop.queue").build();
    // Outside a span, and in one not sampled: no exemplars.
    orders.add(1, &[]);
    in_span(false, || orders.add(1, &[]));
    in_span(true, || {
        orders.add(2, &[]);
        latency.record(0.5, &[]);
        sizes.record(2048.0, &[]);
        queue.add(1, &[]);
    });
    provider.force_flush().unwrap();
    let first = next(&mut receiver).request;

    let trace = [("span_id", SPAN_ID_HEX), ("trace_id", TRACE_ID_HEX)];
    let counter = exemplars(&first, "shop_orders_total", None);
    assert_eq!(counter.len(), 1, "{first:#?}");
    assert_eq!(
        (counter[0].value, labels(counter[0])),
        (2.0, trace.to_vec())
    );
    // On the bucket of its value alone.
    assert_eq!(
        exemplars(&first, "shop_latency_seconds_bucket", Some("1")).len(),
        1
    );
    assert_eq!(
        exemplars(&first, "shop_latency_seconds_bucket", None).len(),
        1
    );
    let native = exemplars(&first, "shop_size_bytes", None);
    assert_eq!(native.len(), 1);
    assert_eq!(native[0].value, 2048.0);
    assert!(exemplars(&first, "shop_queue", None).is_empty());

    // Nothing new sampled: the next push carries none.
    orders.add(1, &[KeyValue::new("k", "v")]);
    provider.force_flush().unwrap();
    let second = next(&mut receiver).request;
    assert!(
        second.series.iter().all(|s| s.exemplars.is_empty()),
        "{second:#?}"
    );
    provider.shutdown().unwrap();
}

#[test]
fn always_on_keeps_measurements_without_a_span_and_always_off_none() {
    let mut receiver = Receiver::start().unwrap();
    let on = provider(&receiver, ExemplarFilter::AlwaysOn);
    on.meter("shop")
        .u64_counter("shop.orders")
        .build()
        .add(3, &[]);
    on.force_flush().unwrap();
    let request = next(&mut receiver).request;
    let counter = exemplars(&request, "shop_orders_total", None);
    assert_eq!((counter.len(), counter[0].value), (1, 3.0));
    assert!(counter[0].labels.is_empty(), "no span, no trace labels");
    on.shutdown().unwrap();

    let mut receiver = Receiver::start().unwrap();
    let off = provider(&receiver, ExemplarFilter::AlwaysOff);
    let orders = off.meter("shop").u64_counter("shop.orders").build();
    in_span(true, || orders.add(3, &[]));
    off.force_flush().unwrap();
    let request = next(&mut receiver).request;
    assert!(request.series.iter().all(|s| s.exemplars.is_empty()));
    off.shutdown().unwrap();
}

#[cfg(feature = "custom-metrics")]
#[test]
fn a_custom_metrics_exemplars_keep_the_attributes_its_grouping_drops() {
    use prompush::custom::CustomMetric;
    let mut receiver = Receiver::start().unwrap();
    let provider = MeterProvider::builder()
        .with_resource(service_named("shop"))
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_destination(Destination::remote_write("metrics_api", receiver.url()))
        .build()
        .unwrap();
    let definition = CustomMetric::new("orders_by_tier", "orders")
        .with_destinations(["metrics_api"])
        .with_group_by(["tier"]);
    provider.create_custom_metric(definition).unwrap();
    let orders = provider.meter("shop").u64_counter("orders").build();
    in_span(true, || {
        orders.add(
            2,
            &[KeyValue::new("tier", "gold"), KeyValue::new("user", "u7")],
        );
    });
    provider.force_flush().unwrap();
    let requests = crate::loopback::drain(&mut receiver);
    let carried: Vec<Vec<(&str, &str)>> = requests
        .iter()
        .flat_map(|r| exemplars(&r.request, "orders_by_tier_total", None))
        .map(labels)
        .collect();
    assert_eq!(
        carried,
        [vec![
            ("span_id", SPAN_ID_HEX),
            ("trace_id", TRACE_ID_HEX),
            ("user", "u7")
        ]]
    );
    provider.shutdown().unwrap();
}
