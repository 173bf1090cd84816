//! The facade's semantics on a provider's snapshot: each kind's operations, units from
//! `describe_*`, handles as bound series, names outside the OpenTelemetry rule.

use metrics::{Key, Label, Recorder as _, Unit};

use crate::prometheus::naming::metric_name;
use crate::snapshot::{MetricData, Number};
use crate::{MeterProvider, MetricsRecorder, Snapshot};

/// An aggregating provider and a facade recorder over it.
fn provider_and_recorder() -> (MeterProvider, MetricsRecorder) {
    let provider = MeterProvider::builder()
        .build()
        .expect("an aggregating provider");
    let recorder = provider.metrics_recorder();
    (provider, recorder)
}

/// The value of the point of `name` whose attributes are exactly `labels`.
fn value(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)]) -> Option<Number> {
    let metric = snapshot.metric(name)?;
    let matches = |attributes: &crate::Attributes| {
        attributes.len() == labels.len()
            && labels.iter().all(|(k, v)| {
                attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == *k && kv.value.as_str() == *v)
            })
    };
    match &metric.data {
        MetricData::Sum { points, .. } | MetricData::Gauge { points } => points
            .iter()
            .find(|p| matches(&p.attributes))
            .map(|p| p.value),
        MetricData::Histogram { points, .. } => points
            .iter()
            .find(|p| matches(&p.attributes))
            .map(|p| Number::U64(p.count)),
        MetricData::ExponentialHistogram { .. } => None,
    }
}

/// Asserts the value of the point of `name` whose attributes are exactly `labels`.
#[track_caller]
fn assert_value(snapshot: &Snapshot, name: &str, labels: &[(&str, &str)], want: Number) {
    assert_eq!(
        value(snapshot, name, labels),
        Some(want),
        "{name} {labels:?}"
    );
}

#[test]
fn macros_record_into_the_provider_under_the_metrics_scope() {
    let (provider, recorder) = provider_and_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("jobs", "queue" => "mail").increment(2);
        metrics::counter!("jobs", "queue" => "mail").increment(3);
        metrics::counter!("jobs", "queue" => "sms").increment(1);
        metrics::gauge!("depth").set(10.0);
        metrics::gauge!("depth").increment(2.5);
        metrics::gauge!("depth").decrement(0.5);
        metrics::histogram!("latency").record(0.2);
        metrics::histogram!("latency").record(7.0);
    });
    let snapshot = provider.collect();
    let scope = &snapshot.scopes[0];
    assert_eq!(scope.scope.name(), "metrics");
    assert_value(&snapshot, "jobs", &[("queue", "mail")], Number::U64(5));
    assert_value(&snapshot, "jobs", &[("queue", "sms")], Number::U64(1));
    assert_value(&snapshot, "depth", &[], Number::F64(12.0));
    let latency = snapshot.metric("latency").expect("histogram");
    let MetricData::Histogram { bounds, points } = &latency.data else {
        panic!("latency is a histogram: {:?}", latency.data);
    };
    assert_eq!(
        &bounds[..],
        &crate::aggregate::histogram::SECONDS_BOUNDS[..]
    );
    assert_eq!((points[0].count, points[0].sum), (2, 7.2));
}

#[test]
fn an_absolute_counter_value_only_raises_the_total() {
    let (provider, recorder) = provider_and_recorder();
    let key = Key::from_parts("bytes", vec![Label::new("dir", "rx")]);
    let counter = recorder.register_counter(&key, &metadata());
    counter.absolute(100);
    counter.absolute(40);
    counter.increment(1);
    let snapshot = provider.collect();
    assert_value(&snapshot, "bytes", &[("dir", "rx")], Number::U64(101));
}

#[test]
fn a_unit_described_before_the_first_registration_is_the_instruments() {
    let (provider, recorder) = provider_and_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_histogram!("wait", Unit::Milliseconds, "time in queue");
        metrics::histogram!("wait").record(3.0);
        metrics::gauge!("late").set(1.0);
        // Too late: the instrument exists, its unit stays.
        metrics::describe_gauge!("late", Unit::Bytes, "described after use");
        metrics::gauge!("late").set(2.0);
        metrics::describe_gauge!("busy", Unit::Count, "a count, not a ratio");
        metrics::gauge!("busy").set(4.0);
    });
    let snapshot = provider.collect();
    let wait = &snapshot.metric("wait").expect("wait").descriptor;
    assert_eq!((&*wait.unit, &*wait.description), ("ms", "time in queue"));
    assert_eq!(snapshot.metric("late").expect("late").descriptor.unit, "");
    assert_value(&snapshot, "late", &[], Number::F64(2.0));
    assert_eq!(
        snapshot.metric("busy").expect("busy").descriptor.unit,
        "{count}"
    );
    assert_eq!(snapshot.metrics().count(), 3);
}

#[test]
fn handles_are_bound_series_shared_by_every_registration_of_a_key() {
    let (provider, recorder) = provider_and_recorder();
    let key = Key::from_parts("depth", vec![Label::new("q", "a")]);
    let first = recorder.register_gauge(&key, &metadata());
    let second = recorder.register_gauge(&key, &metadata());
    first.set(5.0);
    second.increment(1.0);
    first.decrement(0.25);
    // A second recorder over the same provider reaches the same instrument.
    let other = provider.metrics_recorder();
    other.register_gauge(&key, &metadata()).increment(1.0);
    let snapshot = provider.collect();
    assert_value(&snapshot, "depth", &[("q", "a")], Number::F64(6.75));
    assert_eq!(snapshot.metrics().count(), 1);
}

#[test]
fn gauge_increments_from_many_threads_all_count() {
    let (provider, recorder) = provider_and_recorder();
    let gauge = recorder.register_gauge(&Key::from_name("inflight"), &metadata());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    gauge.increment(1.0);
                    gauge.decrement(0.5);
                }
            });
        }
    });
    assert_value(&provider.collect(), "inflight", &[], Number::F64(20_000.0));
}

#[test]
fn names_outside_the_opentelemetry_rule_still_record_and_translate_to_valid_names() {
    let (provider, recorder) = provider_and_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("9lives").increment(1);
        metrics::counter!("my_crate::retries", "kind" => "io").increment(4);
        metrics::gauge!("queue depth (items)").set(3.0);
        // The one name left out: there is nothing to translate.
        metrics::counter!("").increment(1);
    });
    let snapshot = provider.collect();
    assert_value(&snapshot, "9lives", &[], Number::U64(1));
    assert_value(
        &snapshot,
        "my_crate::retries",
        &[("kind", "io")],
        Number::U64(4),
    );
    assert_value(&snapshot, "queue depth (items)", &[], Number::F64(3.0));
    assert_eq!(snapshot.metrics().count(), 3);
    let names: Vec<String> = snapshot
        .metrics()
        .map(|m| metric_name(&m.descriptor.name, &m.descriptor.unit, m.descriptor.kind))
        .collect();
    assert_eq!(
        names,
        [
            "_9lives_total",
            "my_crate::retries_total",
            "queue_depth_items"
        ]
    );
}

#[test]
fn a_nan_gauge_stays_an_ordinary_nan() {
    let (provider, recorder) = provider_and_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::gauge!("g").set(f64::from_bits(0x7ff0_0000_0000_0002));
        metrics::gauge!("h").increment(f64::from_bits(0x7ff0_0000_0000_0002));
    });
    let snapshot = provider.collect();
    for name in ["g", "h"] {
        let Some(Number::F64(v)) = value(&snapshot, name, &[]) else {
            panic!("{name} is an f64 gauge");
        };
        assert_eq!(v.to_bits(), f64::NAN.to_bits(), "{name}");
    }
}

#[test]
fn after_shutdown_the_facade_records_nothing() {
    let (provider, recorder) = provider_and_recorder();
    let key = Key::from_name("c");
    let counter = recorder.register_counter(&key, &metadata());
    let gauge = recorder.register_gauge(&key, &metadata());
    counter.increment(1);
    gauge.set(1.0);
    provider.shutdown().expect("first shutdown");
    counter.increment(1);
    counter.absolute(10);
    gauge.increment(1.0);
    let snapshot = provider.collect();
    let values: Vec<Number> = snapshot
        .metrics()
        .map(|m| match &m.data {
            MetricData::Sum { points, .. } | MetricData::Gauge { points } => points[0].value,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, [Number::U64(1), Number::F64(1.0)]);
}

fn metadata() -> metrics::Metadata<'static> {
    metrics::Metadata::new("test", metrics::Level::INFO, None)
}
