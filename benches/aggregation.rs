//! Recording cost: prompush against the peers, in one run so the ratios are fair.
//!
//! `cargo bench --bench aggregation` (add `-- --quick` for a fast pass). The cases are
//! the rows of issue 13, attribute slices built once outside the loop. Every case
//! goes through the same `opentelemetry` API for prompush and `opentelemetry_sdk`; the
//! `prometheus` and `metrics` rows use those crates' own idiomatic fast paths.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use opentelemetry::metrics::{Counter, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};

/// The default provider: explicit buckets, trace-based exemplar filter.
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

/// The 4-attribute set of the issue-13 rows: two `&'static str` values, an `i64` and a
/// `bool`. Built once, outside the measured loop, as a hot call site with constant
/// attributes does.
fn attrs4() -> [KeyValue; 4] {
    [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/users"),
        KeyValue::new("status", 200i64),
        KeyValue::new("cached", true),
    ]
}

/// The `prometheus` crate's label values for the same set.
const PROM_VALUES4: [&str; 4] = ["GET", "/api/users", "200", "true"];
const PROM_NAMES4: [&str; 4] = ["method", "route", "status", "cached"];

/// A 3-attribute set for the f64 counter and histogram rows.
fn attrs3() -> [KeyValue; 3] {
    [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/users"),
        KeyValue::new("status", 200i64),
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

/// The prompush and SDK rows of a group: the counter `build` makes on each side's meter,
/// fed `v` with the prebuilt attributes `a` (its series exists before the loop).
fn prompush_and_sdk_rows<T: Copy>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    build: impl Fn(&Meter) -> Counter<T>,
    v: T,
    a: &[KeyValue],
) {
    for (name, (_provider, meter)) in [
        ("prompush", prompush_or_sdk(true)),
        ("opentelemetry_sdk", prompush_or_sdk(false)),
    ] {
        let counter = build(&meter);
        counter.add(v, a);
        g.bench_function(name, |b| b.iter(|| counter.add(black_box(v), black_box(a))));
    }
}

/// A meter of prompush or of the SDK, with what keeps it alive.
fn prompush_or_sdk(prompush: bool) -> (Box<dyn std::any::Any>, Meter) {
    if prompush {
        let (p, m) = prompush_meter();
        (Box::new(p), m)
    } else {
        let (p, m) = sdk_meter();
        (Box::new(p), m)
    }
}

fn counter_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_4_attrs");
    let a = attrs4();
    prompush_and_sdk_rows(&mut g, |m| m.u64_counter("requests").build(), 1, &a);

    let prom =
        prometheus::IntCounterVec::new(prometheus::Opts::new("requests", "help"), &PROM_NAMES4)
            .expect("prometheus counter");
    g.bench_function("prometheus_with_label_values", |b| {
        b.iter(|| prom.with_label_values(black_box(&PROM_VALUES4)).inc())
    });

    let recorder = RegistryRecorder(metrics_util::registry::Registry::atomic());
    metrics::with_local_recorder(&recorder, || {
        g.bench_function("metrics_registry", |b| {
            b.iter(|| {
                metrics::counter!("requests", "method" => "GET", "route" => "/api/users",
                    "status" => "200", "cached" => "true")
                .increment(black_box(1))
            })
        });
    });
    g.finish();
}

/// Recording through a view that keeps 2 of the 4 attribute keys, against no view, on
/// both sides; and an instrument two views give two streams. Every series exists
/// before the loop.
fn counter_add_through_a_view(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_view_keeps_2_of_4_attrs");
    let a = attrs4();
    let keep = || ["method".into(), "route".into()];
    let prompush_view = prompush::MeterProvider::builder()
        .with_view(move |i: &prompush::view::Instrument| {
            (i.name() == "requests").then(|| {
                prompush::view::Stream::builder()
                    .with_allowed_attribute_keys(keep())
                    .build()
                    .ok()
            })?
        })
        .build()
        .expect("provider");
    let sdk_view = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .with_view(move |i: &opentelemetry_sdk::metrics::Instrument| {
            (i.name() == "requests").then(|| {
                opentelemetry_sdk::metrics::Stream::builder()
                    .with_allowed_attribute_keys(keep())
                    .build()
                    .ok()
            })?
        })
        .build();
    let two_streams = prompush::MeterProvider::builder()
        .with_view(|_: &prompush::view::Instrument| prompush::view::Stream::builder().build().ok())
        .with_view(|_: &prompush::view::Instrument| {
            prompush::view::Stream::builder()
                .with_name("requests.by_route")
                .with_allowed_attribute_keys(["route".into()])
                .build()
                .ok()
        })
        .build()
        .expect("provider");
    let (_p, prompush_plain) = prompush_meter();
    let (_s, sdk_plain) = sdk_meter();
    let rows: [(&str, Meter); 5] = [
        ("prompush_no_view", prompush_plain),
        ("prompush_view", prompush_view.meter("bench")),
        ("prompush_two_streams", two_streams.meter("bench")),
        ("opentelemetry_sdk_no_view", sdk_plain),
        ("opentelemetry_sdk_view", sdk_view.meter("bench")),
    ];
    for (name, meter) in rows {
        let counter = meter.u64_counter("requests").build();
        counter.add(1, &a);
        g.bench_function(name, |b| {
            b.iter(|| counter.add(black_box(1), black_box(&a)))
        });
    }
    g.finish();
}

fn f64_counter_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("f64_counter_add_3_attrs");
    prompush_and_sdk_rows(&mut g, |m| m.f64_counter("bytes").build(), 1.5, &attrs3());
    g.finish();
}

/// Custom metrics cost nothing per measurement: they are derived at collection. The
/// acceptance bound is `with ≤ 1.5 × without`. Needs the feature `custom-metrics`.
#[cfg(feature = "custom-metrics")]
fn counter_add_with_custom_metric(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_custom_metric");
    // A destination on a closed loopback port that is never pushed to during the run.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a loopback port");
    let a = attrs4();
    let build = |custom: bool| {
        let mut builder = prompush::MeterProvider::builder()
            .with_push_interval(Duration::from_secs(3600))
            .with_destination(
                prompush::Destination::remote_write("d", format!("http://{closed}/"))
                    .with_shutdown_timeout(Duration::from_millis(100)),
            );
        if custom {
            builder = builder.with_custom_metric(
                prompush::custom::CustomMetric::new("requests_by_route", "requests")
                    .with_destinations(["d"])
                    .with_filter(prompush::custom::Filter::eq("method", "GET"))
                    .with_group_by(["route"]),
            );
        }
        let provider = builder.build().expect("provider");
        let counter = provider.meter("bench").u64_counter("requests").build();
        counter.add(1, &a);
        (provider, counter)
    };
    let (without_p, without) = build(false);
    g.bench_function("prompush_without_custom_metric", |b| {
        b.iter(|| without.add(black_box(1), black_box(&a)))
    });
    let (with_p, with) = build(true);
    g.bench_function("prompush_with_one_matching_custom_metric", |b| {
        b.iter(|| with.add(black_box(1), black_box(&a)))
    });
    g.finish();
    let _ = without_p.shutdown();
    let _ = with_p.shutdown();
}

#[cfg(not(feature = "custom-metrics"))]
fn counter_add_with_custom_metric(_: &mut Criterion) {}

/// The idle-series timeout's cost per `add` on an existing series: an epoch pin and a
/// load of the series' touched mark (the hot path reads no clock), against the timeout
/// off. A collection between the rows' batches clears the marks, so the `on` row also
/// pays the first touch after each collection as a running service does.
fn counter_add_idle_timeout(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_idle_timeout");
    let a = attrs4();
    for (row, timeout) in [
        ("prompush_timeout_off", None),
        ("prompush_timeout_on", Some(Duration::from_secs(600))),
    ] {
        let mut builder = prompush::MeterProvider::builder();
        if let Some(timeout) = timeout {
            builder = builder.with_idle_series_timeout(timeout);
        }
        let provider = builder.build().expect("provider");
        let counter = provider.meter("bench").u64_counter("requests").build();
        counter.add(1, &a);
        g.bench_function(row, |b| {
            b.iter_custom(|iters| {
                let _ = provider.collect();
                let start = Instant::now();
                for _ in 0..iters {
                    counter.add(black_box(1), black_box(&a));
                }
                start.elapsed()
            })
        });
        let _ = provider.shutdown();
    }
    g.finish();
}

fn bound_counter_add(c: &mut Criterion) {
    let mut g = c.benchmark_group("bound_counter_add");
    let (_p, m) = prompush_meter();
    let bound = m.u64_counter("requests").build().bind(&attrs4());
    g.bench_function("prompush", |b| b.iter(|| bound.add(black_box(1))));

    let (_sp, sm) = sdk_meter();
    let sdk_bound = sm.u64_counter("requests").build().bind(&attrs4());
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| sdk_bound.add(black_box(1)))
    });

    let atomic = Arc::new(AtomicU64::new(0));
    g.bench_function("atomic_fetch_add", |b| {
        b.iter(|| atomic.fetch_add(black_box(1), Ordering::Relaxed))
    });
    g.finish();
}

/// Ten boundaries; values step through them so every bucket is hit.
const BOUNDS10: [f64; 10] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0,
];

fn histogram_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_record_3_attrs");
    let a = attrs3();
    // Precomputed values: the loop costs the same for every row and does no float `%`.
    let values: Vec<f64> = (0..1024).map(|i| (i * 37 % 1200) as f64).collect();
    let (_p, m) = prompush_meter();
    let h = m
        .f64_histogram("latency")
        .with_boundaries(BOUNDS10.to_vec())
        .build();
    h.record(1.0, &a);
    let mut i = 0usize;
    g.bench_function("prompush", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            h.record(black_box(values[i]), black_box(&a))
        })
    });

    let (_sp, sm) = sdk_meter();
    let sh = sm
        .f64_histogram("latency")
        .with_boundaries(BOUNDS10.to_vec())
        .build();
    sh.record(1.0, &a);
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            sh.record(black_box(values[i]), black_box(&a))
        })
    });

    let prom = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("latency", "help").buckets(BOUNDS10.to_vec()),
        &["method", "route", "status"],
    )
    .expect("prometheus histogram");
    g.bench_function("prometheus_with_label_values", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            prom.with_label_values(black_box(&["GET", "/api/users", "200"]))
                .observe(black_box(values[i]))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("bound_histogram_record");
    let bound = h.bind(&a);
    g.bench_function("prompush", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            bound.record(black_box(values[i]))
        })
    });
    let sdk_bound = sh.bind(&a);
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            sdk_bound.record(black_box(values[i]))
        })
    });
    let child = prom.with_label_values(&["GET", "/api/users", "200"]);
    g.bench_function("prometheus_cached_child", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            child.observe(black_box(values[i]))
        })
    });
    g.finish();
}

/// 500 attribute sets visited in a scattered order, 3 attributes one of which is an
/// owned `String`: lookups that miss the caches.
fn many_series(c: &mut Criterion) {
    const N: usize = 500;
    let routes: Vec<String> = (0..N).map(|i| format!("/api/items/{i}")).collect();
    let sets: Vec<[KeyValue; 3]> = routes
        .iter()
        .map(|r| {
            [
                KeyValue::new("method", "GET"),
                KeyValue::new("route", r.clone()),
                KeyValue::new("status", 200i64),
            ]
        })
        .collect();
    // A fixed permutation (LCG-driven Fisher-Yates), the same for every row.
    let mut order: Vec<usize> = (0..N).collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in (1..N).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        order.swap(i, (seed >> 33) as usize % (i + 1));
    }
    let mut g = c.benchmark_group("counter_add_500_series_scattered");
    let (_p, m) = prompush_meter();
    let counter = m.u64_counter("requests").build();
    let (_sp, sm) = sdk_meter();
    let sdk_counter = sm.u64_counter("requests").build();
    for set in &sets {
        counter.add(1, set);
        sdk_counter.add(1, set);
    }
    let mut i = 0;
    g.bench_function("prompush", |b| {
        b.iter(|| {
            i = (i + 1) % N;
            counter.add(1, black_box(&sets[order[i]]))
        })
    });
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            i = (i + 1) % N;
            sdk_counter.add(1, black_box(&sets[order[i]]))
        })
    });
    let prom = prometheus::IntCounterVec::new(
        prometheus::Opts::new("requests", "help"),
        &["method", "route", "status"],
    )
    .expect("prometheus counter");
    g.bench_function("prometheus_with_label_values", |b| {
        b.iter(|| {
            i = (i + 1) % N;
            prom.with_label_values(black_box(&["GET", routes[order[i]].as_str(), "200"]))
                .inc()
        })
    });
    g.finish();
}

/// Runs `ops` adds on each of `threads` threads at once; returns the wall time.
fn run_threads(threads: usize, ops: u64, add: impl Fn(usize) + Sync) -> Duration {
    let start = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (start, add) = (&start, &add);
            s.spawn(move || {
                start.wait();
                for _ in 0..ops {
                    add(t);
                }
            });
        }
        start.wait();
        let t0 = Instant::now();
        // The scope joins the threads before returning.
        t0
    })
    .elapsed()
}

/// Throughput with two threads, 4 attributes: reported as time per add across all
/// threads, so "2 threads" rows at half the "1 thread" time mean perfect scaling.
fn threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_threads");
    let (_p, m) = prompush_meter();
    let counter = m.u64_counter("requests").build();
    let sets: Vec<[KeyValue; 4]> = (0..2)
        .map(|t| {
            [
                KeyValue::new("method", "GET"),
                KeyValue::new("route", "/api/users"),
                KeyValue::new("status", 200i64),
                KeyValue::new("thread", t as i64),
            ]
        })
        .collect();
    for set in &sets {
        counter.add(1, set);
    }
    g.bench_function("prompush_1_thread", |b| {
        b.iter_custom(|iters| run_threads(1, iters, |t| counter.add(1, black_box(&sets[t]))))
    });
    g.bench_function("prompush_2_threads_distinct_series", |b| {
        b.iter_custom(|iters| run_threads(2, iters / 2, |t| counter.add(1, black_box(&sets[t]))))
    });
    g.bench_function("prompush_2_threads_shared_series", |b| {
        b.iter_custom(|iters| run_threads(2, iters / 2, |_| counter.add(1, black_box(&sets[0]))))
    });
    let (_sp, sm) = sdk_meter();
    let sdk_counter = sm.u64_counter("requests").build();
    g.bench_function("opentelemetry_sdk_1_thread", |b| {
        b.iter_custom(|iters| run_threads(1, iters, |_| sdk_counter.add(1, black_box(&sets[0]))))
    });
    g.bench_function("opentelemetry_sdk_2_threads_shared_series", |b| {
        b.iter_custom(|iters| {
            run_threads(2, iters / 2, |_| sdk_counter.add(1, black_box(&sets[0])))
        })
    });
    let prom =
        prometheus::IntCounterVec::new(prometheus::Opts::new("requests", "help"), &PROM_NAMES4)
            .expect("prometheus counter");
    g.bench_function("prometheus_1_thread", |b| {
        b.iter_custom(|iters| {
            run_threads(1, iters, |_| {
                prom.with_label_values(black_box(&PROM_VALUES4)).inc()
            })
        })
    });
    g.bench_function("prometheus_2_threads_shared_series", |b| {
        b.iter_custom(|iters| {
            run_threads(2, iters / 2, |_| {
                prom.with_label_values(black_box(&PROM_VALUES4)).inc()
            })
        })
    });
    g.finish();
}

/// Recording on existing series while another thread collects 100,000 series in a loop.
fn recording_during_collection(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_add_during_collection");
    let provider = prompush::MeterProvider::builder()
        .with_cardinality_limit(200_000)
        .build()
        .expect("provider");
    let big_meter = provider.meter("bench");
    let wide = big_meter.u64_counter("wide").build();
    for i in 0..100_000i64 {
        wide.add(1, &[KeyValue::new("id", i), KeyValue::new("kind", "x")]);
    }
    let hot = big_meter.u64_counter("hot").build();
    let a = attrs4();
    hot.add(1, &a);
    g.bench_function("prompush_idle", |b| {
        b.iter(|| hot.add(black_box(1), black_box(&a)))
    });
    let stop = AtomicBool::new(false);
    let collections = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                black_box(provider.collect());
                collections.fetch_add(1, Ordering::Relaxed);
            }
        });
        g.bench_function("prompush_while_collecting_100k_series", |b| {
            b.iter(|| hot.add(black_box(1), black_box(&a)))
        });
        stop.store(true, Ordering::Relaxed);
    });
    eprintln!(
        "collections of 100k series completed meanwhile: {}",
        collections.load(Ordering::Relaxed)
    );
    g.finish();
}

/// What the exemplar filter costs a counter: off (not wrapped), trace-based with no span
/// active (the check alone), trace-based in a sampled span (every measurement kept:
/// the slow path), and a bound counter with the check.
fn exemplar_filter(c: &mut Criterion) {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
    use prompush::ExemplarFilter;
    let mut g = c.benchmark_group("counter_add_exemplar_filter");
    let meter = |filter| {
        let p = prompush::MeterProvider::builder()
            .with_exemplar_filter(filter)
            .build()
            .expect("provider");
        let m = p.meter("bench");
        (p, m)
    };
    let (_off, off) = meter(ExemplarFilter::AlwaysOff);
    let (_on, traced) = meter(ExemplarFilter::TraceBased);
    let off = off.u64_counter("c").build();
    let traced = traced.u64_counter("c").build();
    off.add(1, &attrs3());
    traced.add(1, &attrs3());
    g.bench_function("prompush_filter_off", |b| {
        b.iter(|| off.add(black_box(1), &attrs3()))
    });
    g.bench_function("prompush_trace_based_no_span", |b| {
        b.iter(|| traced.add(black_box(1), &attrs3()))
    });
    let bound_off = off.bind(&attrs3());
    let bound_traced = traced.bind(&attrs3());
    g.bench_function("prompush_bound_filter_off", |b| {
        b.iter(|| bound_off.add(black_box(1)))
    });
    g.bench_function("prompush_bound_trace_based_no_span", |b| {
        b.iter(|| bound_traced.add(black_box(1)))
    });
    let span = SpanContext::new(
        TraceId::from_bytes([1; 16]),
        SpanId::from_bytes([2; 8]),
        TraceFlags::SAMPLED,
        false,
        Default::default(),
    );
    let _in_span = opentelemetry::Context::current()
        .with_remote_span_context(span)
        .attach();
    g.bench_function("prompush_trace_based_sampled_span", |b| {
        b.iter(|| traced.add(black_box(1), &attrs3()))
    });
    g.finish();
}

/// Exponential histograms against explicit buckets, and against the SDK's own
/// exponential aggregation.
fn exponential_histogram_record(c: &mut Criterion) {
    use opentelemetry_sdk::metrics::{Aggregation, Instrument, Stream};
    let mut g = c.benchmark_group("histogram_record_exponential_3_attrs");
    let p = prompush::MeterProvider::builder()
        .with_exponential_histograms(160, 20)
        .with_exemplar_filter(prompush::ExemplarFilter::AlwaysOff)
        .build()
        .expect("provider");
    let h = p.meter("bench").f64_histogram("latency").build();
    // Values spread over 0.001..10,000, the range each histogram has seen from the start.
    let mut row = |name: &str, h: &opentelemetry::metrics::Histogram<f64>| {
        h.record(0.001, &attrs3());
        h.record(10_000.0, &attrs3());
        let mut x = 1.0f64;
        g.bench_function(name, |b| {
            b.iter(|| {
                x = (x + 37.0) % 10_000.0 + 0.001;
                h.record(black_box(x), &attrs3())
            })
        });
    };
    row("prompush_exponential", &h);
    let explicit = p
        .meter("bench")
        .f64_histogram("explicit")
        .with_boundaries(vec![0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0])
        .build();
    row("prompush_explicit_buckets", &explicit);
    let sdk = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .with_view(|_: &Instrument| {
            let aggregation = Aggregation::Base2ExponentialHistogram {
                max_size: 160,
                max_scale: 20,
                record_min_max: true,
            };
            Stream::builder().with_aggregation(aggregation).build().ok()
        })
        .build();
    row(
        "opentelemetry_sdk_exponential",
        &sdk.meter("bench").f64_histogram("latency").build(),
    );
    g.finish();
}

/// The `metrics` facade (feature `metrics`): macros that look their key up at every call,
/// and handles registered once, against `metrics-exporter-prometheus`'s recorder (no HTTP
/// listener: recording only) in the same run.
#[cfg(feature = "metrics")]
fn metrics_facade(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics_facade");
    let provider = prompush::MeterProvider::builder()
        .build()
        .expect("provider");
    let prompush_recorder = provider.metrics_recorder();
    let exporter = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let rows: [(&str, &dyn metrics::Recorder); 2] = [
        ("prompush", &prompush_recorder),
        ("metrics_exporter_prometheus", &exporter),
    ];
    for (name, recorder) in rows {
        metrics::with_local_recorder(recorder, || {
            g.bench_function(format!("counter_macro_3_labels/{name}"), |b| {
                b.iter(|| {
                    metrics::counter!("requests", "method" => "GET", "route" => "/api/users", "status" => "200")
                        .increment(black_box(1))
                })
            });
            let counter = metrics::counter!("requests", "method" => "GET", "route" => "/api/users", "status" => "200");
            g.bench_function(format!("counter_handle/{name}"), |b| {
                b.iter(|| counter.increment(black_box(1)))
            });
            let gauge = metrics::gauge!("inflight", "route" => "/api/users");
            g.bench_function(format!("gauge_handle_increment/{name}"), |b| {
                b.iter(|| gauge.increment(black_box(1.0)))
            });
            let histogram = metrics::histogram!("latency", "route" => "/api/users");
            let mut i = 0u32;
            g.bench_function(format!("histogram_handle/{name}"), |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    histogram.record(black_box(f64::from(i % 1000)))
                })
            });
        });
    }
    g.finish();
}

#[cfg(not(feature = "metrics"))]
fn metrics_facade(_: &mut Criterion) {}

criterion_group!(
    benches,
    counter_add,
    counter_add_through_a_view,
    exemplar_filter,
    exponential_histogram_record,
    f64_counter_add,
    counter_add_with_custom_metric,
    counter_add_idle_timeout,
    bound_counter_add,
    histogram_record,
    many_series,
    threads,
    recording_during_collection,
    metrics_facade
);
criterion_main!(benches);
