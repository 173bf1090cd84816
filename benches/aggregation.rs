//! Recording cost: prompush against the peers, in one run so the ratios are fair.
//!
//! `cargo bench --bench aggregation` (add `-- --quick` for a fast pass). Every case
//! goes through the same `opentelemetry` API for prompush and `opentelemetry_sdk`; the
//! `prometheus` and `metrics` rows use those crates' own idiomatic fast paths.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};

fn prompush_meter() -> (prompush::MeterProvider, Meter) {
    let p = prompush::MeterProvider::builder()
        .build()
        .expect("provider");
    let m = p.meter("bench");
    (p, m)
}

fn sdk_meter() -> (SdkMeterProvider, Meter) {
    let p = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    let m = p.meter("bench");
    (p, m)
}

#[inline(always)]
fn attrs() -> [KeyValue; 3] {
    [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/users"),
        KeyValue::new("status", "200"),
    ]
}

/// `metrics` with `metrics-util`'s registry behind a minimal recorder.
struct RegistryRecorder(
    metrics_util::registry::Registry<metrics::Key, metrics_util::registry::AtomicStorage>,
);

impl metrics::Recorder for RegistryRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        self.0
            .get_or_create_counter(key, |c| metrics::Counter::from_arc(c.clone()))
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        self.0
            .get_or_create_gauge(key, |g| metrics::Gauge::from_arc(g.clone()))
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        self.0
            .get_or_create_histogram(key, |h| metrics::Histogram::from_arc(h.clone()))
    }
}

fn counter_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_3_attrs");
    let (_p, m) = prompush_meter();
    let counter = m.u64_counter("requests").build();
    counter.add(1, &attrs());
    g.bench_function("prompush", |b| {
        b.iter(|| counter.add(black_box(1), &attrs()))
    });

    let (_sp, sm) = sdk_meter();
    let sdk_counter = sm.u64_counter("requests").build();
    sdk_counter.add(1, &attrs());
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| sdk_counter.add(black_box(1), &attrs()))
    });

    let prom = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests", "help"),
        &["method", "route", "status"],
    )
    .expect("prometheus counter");
    g.bench_function("prometheus_with_label_values", |b| {
        b.iter(|| {
            prom.with_label_values(&[black_box("GET"), "/api/users", "200"])
                .inc()
        })
    });

    let recorder = RegistryRecorder(metrics_util::registry::Registry::atomic());
    metrics::with_local_recorder(&recorder, || {
        g.bench_function("metrics_registry", |b| {
            b.iter(|| {
                metrics::counter!("requests", "method" => "GET", "route" => "/api/users", "status" => "200")
                    .increment(black_box(1))
            })
        });
    });
    g.finish();
}

fn bound_counter_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("bound_counter_add");
    let (_p, m) = prompush_meter();
    let bound = m.u64_counter("requests").build().bind(&attrs());
    g.bench_function("prompush", |b| b.iter(|| bound.add(black_box(1))));

    let (_sp, sm) = sdk_meter();
    let sdk_bound = sm.u64_counter("requests").build().bind(&attrs());
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| sdk_bound.add(black_box(1)))
    });

    let atomic = Arc::new(AtomicU64::new(0));
    g.bench_function("atomic_fetch_add", |b| {
        b.iter(|| atomic.fetch_add(black_box(1), Ordering::Relaxed))
    });
    g.finish();
}

fn histogram_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_record_3_attrs");
    let (_p, m) = prompush_meter();
    let h = m.f64_histogram("latency").build();
    h.record(1.0, &attrs());
    let mut x = 0.0f64;
    g.bench_function("prompush", |b| {
        b.iter(|| {
            x = (x + 37.0) % 10_000.0;
            h.record(black_box(x), &attrs())
        })
    });

    let (_sp, sm) = sdk_meter();
    let sh = sm.f64_histogram("latency").build();
    sh.record(1.0, &attrs());
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            x = (x + 37.0) % 10_000.0;
            sh.record(black_box(x), &attrs())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("bound_histogram_record");
    let bound = h.bind(&attrs());
    g.bench_function("prompush", |b| {
        b.iter(|| {
            x = (x + 37.0) % 10_000.0;
            bound.record(black_box(x))
        })
    });
    let sdk_bound = sh.bind(&attrs());
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            x = (x + 37.0) % 10_000.0;
            sdk_bound.record(black_box(x))
        })
    });
    let buckets = vec![
        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
        7500.0, 10000.0,
    ];
    let prom = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("latency", "help").buckets(buckets),
        &["method", "route", "status"],
    )
    .expect("prometheus histogram");
    let child = prom.with_label_values(&["GET", "/api/users", "200"]);
    g.bench_function("prometheus_cached_child", |b| {
        b.iter(|| {
            x = (x + 37.0) % 10_000.0;
            child.observe(black_box(x))
        })
    });
    g.finish();
}

criterion_group!(benches, counter_add, bound_counter_add, histogram_record);
criterion_main!(benches);
