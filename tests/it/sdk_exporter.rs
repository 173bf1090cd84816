//! `RemoteWriteExporter` behind the official `SdkMeterProvider`: its data matches what
//! prompush's own provider sends for the same measurements. What a real Prometheus
//! stores from it is in `tests/real/sdk_exporter.rs`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::BTreeSet;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use prompush::receiver::{Receiver, WriteRequest};
use prompush::{Destination, MeterProvider, RemoteWriteExporter};

use crate::loopback::{next, self_metrics};
use crate::support::presets::pushing_to;
use crate::support::sdk_app::{record, resource, sdk_provider};

fn series_set(request: &WriteRequest) -> BTreeSet<String> {
    request
        .series
        .iter()
        .filter(|s| s.name != "target_info")
        .map(|s| {
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}{{{}}}", s.name, labels.join(","))
        })
        .collect()
}

#[test]
fn the_sdk_exporter_and_prompush_send_the_same_series() {
    let mut from_sdk = Receiver::start().unwrap();
    let sdk = sdk_provider(RemoteWriteExporter::builder().with_endpoint(from_sdk.url()));
    record(&sdk.meter("app"));
    sdk.force_flush().expect("the SDK exports through prompush");
    let sdk_request = next(&mut from_sdk).request;

    let mut from_prompush = Receiver::start().unwrap();
    let ours = pushing_to(from_prompush.url())
        .with_resource(resource())
        .with_self_metrics(false)
        .build()
        .unwrap();
    record(&ours.meter("app"));
    ours.force_flush().unwrap();
    let our_request = next(&mut from_prompush).request;

    let sdk_series = series_set(&sdk_request);
    assert!(
        sdk_series
            .contains("jobs_done_total{instance=i-9,job=sdk-app,otel_scope_name=app,queue=a}"),
        "{sdk_series:#?}"
    );
    assert_eq!(sdk_series, series_set(&our_request));
    let value = |r: &WriteRequest, name: &str| r.series(name).and_then(|s| s.value());
    for name in [
        "jobs_done_total",
        "cpu_time_seconds_total",
        "workers_active",
        "latency_seconds_count",
        "latency_seconds_sum",
        "queue_depth",
        "observed_total",
        "temperature",
    ] {
        assert_eq!(
            value(&sdk_request, name),
            value(&our_request, name),
            "{name}"
        );
    }
    sdk.shutdown().unwrap();
    ours.shutdown().unwrap();
}

#[test]
fn the_exporter_needs_an_endpoint_and_keeps_its_token_out_of_debug_output() {
    let err = RemoteWriteExporter::builder().build().unwrap_err();
    assert!(matches!(err, prompush::Error::Config(_)), "{err}");
    let builder = RemoteWriteExporter::builder()
        .with_endpoint("http://127.0.0.1:9/api/v1/write")
        .with_bearer_token("sdk-secret-token");
    assert!(!format!("{builder:?}").contains("sdk-secret-token"));
}

#[test]
fn the_exporter_sends_to_a_remote_write_destination_given_whole_under_its_name() {
    let mut receiver = Receiver::start().unwrap();
    let mimir = Destination::remote_write("mimir", receiver.url()).with_tenant("team-a");
    let sdk = sdk_provider(
        RemoteWriteExporter::builder()
            .with_destination(mimir)
            .with_external_label("app_id", "x"),
    );
    sdk.meter("app")
        .u64_counter("jobs.done")
        .build()
        .add(1, &[]);
    sdk.force_flush().unwrap();
    next(&mut receiver);
    sdk.force_flush().unwrap();
    let second = next(&mut receiver);
    assert_eq!(second.headers.get("x-scope-orgid"), Some("team-a"));
    let jobs = second
        .request
        .series("jobs_done_total")
        .expect("the SDK's data");
    assert_eq!(jobs.label("app_id"), Some("x"));
    let sent = second.request.series("prompush_samples_sent_total");
    assert_eq!(sent.and_then(|s| s.label("destination")), Some("mimir"));
    sdk.shutdown().unwrap();

    let json = Destination::custom_metrics_json("unleash", "http://127.0.0.1:9/");
    let err = RemoteWriteExporter::builder()
        .with_destination(json)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("Destination::remote_write"),
        "{err}"
    );
}

#[test]
fn the_exporter_pushes_prompush_self_metrics_with_the_sdk_data_unless_turned_off() {
    let mut receiver = Receiver::start().unwrap();
    let sdk = sdk_provider(RemoteWriteExporter::builder().with_endpoint(receiver.url()));
    sdk.meter("app")
        .u64_counter("jobs.done")
        .build()
        .add(1, &[]);
    sdk.force_flush().unwrap();
    let first = next(&mut receiver).request;
    sdk.force_flush().unwrap();
    let second = next(&mut receiver).request;
    let sent = second
        .series
        .iter()
        .find(|s| {
            s.name == "prompush_samples_sent_total" && s.label("destination") == Some("default")
        })
        .unwrap_or_else(|| panic!("no self-metrics in {:#?}", second.series));
    assert_eq!(sent.value(), Some(first.series.len() as f64));
    assert_eq!(sent.label("job"), Some("sdk-app"), "the SDK's resource");
    assert!(second.series("jobs_done_total").is_some());
    sdk.shutdown().unwrap();

    let mut receiver = Receiver::start().unwrap();
    let sdk = sdk_provider(
        RemoteWriteExporter::builder()
            .with_endpoint(receiver.url())
            .with_self_metrics(false),
    );
    sdk.meter("app")
        .u64_counter("jobs.done")
        .build()
        .add(1, &[]);
    sdk.force_flush().unwrap();
    sdk.force_flush().unwrap();
    next(&mut receiver);
    let second = next(&mut receiver).request;
    assert_eq!(self_metrics(&second), Vec::<&str>::new());
    sdk.shutdown().unwrap();
}

#[test]
fn the_exporter_gives_a_resource_without_an_instance_id_its_own_for_its_life() {
    let mut instances = Vec::new();
    for _ in 0..2 {
        // One each: an SDK's shutdown pushes once more.
        let mut receiver = Receiver::start().unwrap();
        let exporter = RemoteWriteExporter::builder()
            .with_endpoint(receiver.url())
            .with_self_metrics(false)
            .build()
            .unwrap();
        let sdk = SdkMeterProvider::builder()
            .with_resource(
                Resource::builder_empty()
                    .with_service_name("sdk-app")
                    .build(),
            )
            .with_periodic_exporter(exporter)
            .build();
        sdk.meter("app")
            .u64_counter("jobs.done")
            .build()
            .add(1, &[]);
        let mut seen = BTreeSet::new();
        for _ in 0..2 {
            sdk.force_flush().unwrap();
            let got = next(&mut receiver).request;
            let jobs = got.series("jobs_done_total").expect("jobs_done_total");
            let instance = jobs.label("instance").expect("an instance label");
            assert_eq!(instance.len(), 36, "a UUID: {instance}");
            seen.insert(instance.to_owned());
        }
        assert_eq!(seen.len(), 1, "one id for the exporter's life: {seen:?}");
        instances.extend(seen);
        sdk.shutdown().unwrap();
    }
    assert_ne!(instances[0], instances[1], "each exporter has its own");
}

#[test]
fn a_nan_through_the_sdk_never_arrives_as_a_stale_marker() {
    let mut receiver = Receiver::start().unwrap();
    let sdk = sdk_provider(
        RemoteWriteExporter::builder()
            .with_endpoint(receiver.url())
            .with_self_metrics(false),
    );
    let meter = sdk.meter("app");
    let stale = f64::from_bits(prompush::receiver::STALE_NAN_BITS);
    meter.f64_gauge("level").build().record(stale, &[]);
    meter.u64_counter("jobs.done").build().add(1, &[]);
    sdk.force_flush().unwrap();
    let got = next(&mut receiver).request;
    assert!(got.series("jobs_done_total").is_some());
    // opentelemetry_sdk 0.33 drops non-finite measurements; should one get through,
    // the exporter sends it as an ordinary NaN.
    for series in &got.series {
        for sample in &series.samples {
            assert_ne!(
                sample.value.to_bits(),
                prompush::receiver::STALE_NAN_BITS,
                "{}",
                series.name
            );
        }
    }
    sdk.shutdown().unwrap();
}

/// The SDK's exponential histograms arrive as native histograms (or classic buckets),
/// with the buckets prompush's own exponential histograms send for the same values.
#[test]
fn the_sdk_exporter_sends_exponential_histograms_as_prompush_does() {
    use opentelemetry_sdk::metrics::{Aggregation, Instrument, Stream};
    let record = |meter: &Meter| {
        let h = meter.f64_histogram("latency").with_unit("s").build();
        for v in [0.5, 1.0, 2.0, 3.0, 10.0] {
            h.record(v, &[KeyValue::new("route", "/r")]);
        }
    };
    let exponential = |i: &Instrument| {
        let aggregation = Aggregation::Base2ExponentialHistogram {
            max_size: 160,
            max_scale: 20,
            record_min_max: true,
        };
        (i.name() == "latency")
            .then(|| Stream::builder().with_aggregation(aggregation).build().ok())
            .flatten()
    };
    let mut from_sdk = Receiver::start().unwrap();
    let exporter = RemoteWriteExporter::builder()
        .with_endpoint(from_sdk.url())
        .with_native_histograms(true)
        .with_self_metrics(false);
    let sdk = SdkMeterProvider::builder()
        .with_resource(resource())
        .with_view(exponential)
        .with_periodic_exporter(exporter.build().expect("exporter"))
        .build();
    record(&sdk.meter("app"));
    sdk.force_flush().expect("the SDK exports through prompush");
    let sdk_request = next(&mut from_sdk).request;

    let mut from_prompush = Receiver::start().unwrap();
    let ours = MeterProvider::builder()
        .with_resource(resource())
        .with_self_metrics(false)
        .with_exponential_histograms(160, 20)
        .with_destination(
            Destination::remote_write("default", from_prompush.url()).with_native_histograms(true),
        )
        .build()
        .unwrap();
    record(&ours.meter("app"));
    ours.force_flush().unwrap();
    let our_request = next(&mut from_prompush).request;

    let histogram = |r: &WriteRequest| {
        let series = r
            .series("latency_seconds")
            .expect("a native histogram series");
        // Remote write 1.0 carries neither min nor max: the decoded points have none.
        series.histograms[0].point.clone()
    };
    let (theirs, ours_point) = (histogram(&sdk_request), histogram(&our_request));
    assert_eq!((theirs.count(), theirs.sum(), theirs.scale()), (5, 16.5, 5));
    assert_eq!(theirs, ours_point);
    sdk.shutdown().unwrap();
    ours.shutdown().unwrap();
}
