//! The SDK through the `opentelemetry` API: every instrument, attribute semantics,
//! cardinality limit, bad input, duplicate registration, threads and shutdown.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{KeyValue, Value};
use prompush::snapshot::{HistogramPoint, InstrumentKind, MetricData, MetricSnapshot, Number};
use prompush::{Attributes, MeterProvider, Snapshot};

use crate::cpu_and_threads::cpu_seconds;
use crate::support::logs::LogBuf;
use crate::support::proc::resident_bytes;

fn provider() -> MeterProvider {
    MeterProvider::builder()
        .build()
        .expect("default provider builds")
}

fn metric<'a>(s: &'a Snapshot, name: &str) -> &'a MetricSnapshot {
    s.metric(name)
        .unwrap_or_else(|| panic!("{name} missing from {s:#?}"))
}

/// The value of the point with exactly these attributes.
fn value(s: &Snapshot, name: &str, attrs: &[KeyValue]) -> Number {
    let want = Attributes::new(attrs);
    let m = metric(s, name);
    m.data()
        .number_points()
        .iter()
        .find(|p| *p.attributes() == want)
        .unwrap_or_else(|| panic!("{name}{want:?} missing from {:#?}", m.data()))
        .value()
}

fn histogram<'a>(s: &'a Snapshot, name: &str, attrs: &[KeyValue]) -> &'a HistogramPoint {
    let want = Attributes::new(attrs);
    metric(s, name)
        .data()
        .histogram_points()
        .iter()
        .find(|p| *p.attributes() == want)
        .unwrap_or_else(|| panic!("{name}{want:?} missing"))
}

fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
    KeyValue::new(k, v)
}

/// Runs `f` with every `tracing` event of this thread captured as text.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buf = LogBuf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    (out, buf.text())
}
#[test]
fn counters_add_up_per_attribute_set() {
    let p = provider();
    let m = p.meter("t");
    let u = m.u64_counter("u").build();
    let f = m
        .f64_counter("f")
        .with_unit("s")
        .with_description("d")
        .build();
    u.add(2, &[kv("a", "x")]);
    u.add(3, &[kv("a", "x")]);
    u.add(7, &[kv("a", "y")]);
    f.add(0.5, &[]);
    f.add(0.25, &[]);
    let s = p.collect();
    assert_eq!(value(&s, "u", &[kv("a", "x")]), Number::U64(5));
    assert_eq!(value(&s, "u", &[kv("a", "y")]), Number::U64(7));
    assert_eq!(value(&s, "f", &[]), Number::F64(0.75));
    let fm = metric(&s, "f");
    assert_eq!(fm.descriptor().kind(), InstrumentKind::Counter);
    assert_eq!(
        (fm.descriptor().unit(), fm.descriptor().description()),
        ("s", "d")
    );
    assert!(matches!(
        fm.data(),
        MetricData::Sum {
            monotonic: true,
            ..
        }
    ));
    let points = fm.data().number_points();
    assert!(points.iter().all(|p| p.start_time() <= fm.time()));
}

#[test]
fn up_down_counters_go_both_ways() {
    let p = provider();
    let m = p.meter("t");
    let i = m.i64_up_down_counter("i").build();
    let f = m.f64_up_down_counter("f").build();
    i.add(5, &[]);
    i.add(-8, &[]);
    f.add(-1.5, &[]);
    let s = p.collect();
    assert_eq!(value(&s, "i", &[]), Number::I64(-3));
    assert_eq!(value(&s, "f", &[]), Number::F64(-1.5));
    assert!(matches!(
        metric(&s, "i").data(),
        MetricData::Sum {
            monotonic: false,
            ..
        }
    ));
}

#[test]
fn gauges_keep_the_last_value() {
    let p = provider();
    let m = p.meter("t");
    let u = m.u64_gauge("u").build();
    let i = m.i64_gauge("i").build();
    let f = m.f64_gauge("f").build();
    u.record(3, &[]);
    u.record(1, &[]);
    i.record(-4, &[kv("k", 1)]);
    f.record(2.5, &[]);
    f.record(-0.5, &[]);
    let s = p.collect();
    assert_eq!(value(&s, "u", &[]), Number::U64(1));
    assert_eq!(value(&s, "i", &[kv("k", 1)]), Number::I64(-4));
    assert_eq!(value(&s, "f", &[]), Number::F64(-0.5));
    assert!(matches!(metric(&s, "f").data(), MetricData::Gauge { .. }));
}

#[test]
fn histograms_keep_count_sum_min_max_and_buckets() {
    let p = provider();
    let m = p.meter("t");
    let h = m
        .f64_histogram("h")
        .with_boundaries(vec![1.0, 10.0])
        .build();
    for v in [0.5, 1.0, 3.0, 10.0, 11.0, 100.0] {
        h.record(v, &[kv("r", "/")]);
    }
    let d = m.u64_histogram("d").build();
    d.record(7, &[]);
    d.record(5000, &[]);
    let s = p.collect();
    let hp = histogram(&s, "h", &[kv("r", "/")]);
    assert_eq!(hp.bucket_counts(), vec![2, 2, 2]);
    assert_eq!(hp.count(), 6);
    assert_eq!(hp.sum(), 125.5);
    assert_eq!((hp.min(), hp.max()), (Some(0.5), Some(100.0)));
    let MetricData::Histogram { bounds, .. } = &metric(&s, "d").data() else {
        panic!("not a histogram")
    };
    // The OpenTelemetry default boundaries.
    assert_eq!(
        &bounds[..],
        &[
            0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
            7500.0, 10000.0
        ]
    );
    let dp = histogram(&s, "d", &[]);
    assert_eq!(dp.count(), 2);
    assert_eq!(dp.sum(), 5007.0);
    assert_eq!(dp.bucket_counts()[2], 1); // (5, 10]
    assert_eq!(dp.bucket_counts()[12], 1); // (2500, 5000]
}

#[test]
fn invalid_histogram_boundaries_are_repaired_with_a_warning() {
    let p = provider();
    let m = p.meter("t");
    let (h, logs) = capture_logs(|| {
        m.f64_histogram("h")
            .with_boundaries(vec![10.0, f64::NAN, 1.0, 1.0])
            .build()
    });
    assert!(logs.contains("strictly increasing"), "{logs}");
    h.record(5.0, &[]);
    let s = p.collect();
    let MetricData::Histogram { bounds, points } = &metric(&s, "h").data() else {
        panic!()
    };
    assert_eq!(&bounds[..], &[1.0, 10.0]);
    assert_eq!(points[0].bucket_counts(), vec![0, 1, 0]);
}

#[test]
fn observable_instruments_report_at_each_collection() {
    let p = provider();
    let m = p.meter("t");
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let _oc = m
        .u64_observable_counter("oc")
        .with_callback(move |o| {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            o.observe(n * 10, &[kv("x", "1")]);
        })
        .build();
    let _ofc = m
        .f64_observable_counter("ofc")
        .with_callback(|o| o.observe(1.5, &[]))
        .build();
    let _oi = m
        .i64_observable_up_down_counter("oi")
        .with_callback(|o| o.observe(-3, &[]))
        .build();
    let _of = m
        .f64_observable_up_down_counter("of")
        .with_callback(|o| o.observe(2.5, &[]))
        .build();
    let _gu = m
        .u64_observable_gauge("gu")
        .with_callback(|o| {
            o.observe(1, &[kv("k", "a")]);
            // Reported twice in one collection: the last value wins.
            o.observe(2, &[kv("k", "a")]);
        })
        .build();
    let _gi = m
        .i64_observable_gauge("gi")
        .with_callback(|o| o.observe(-9, &[]))
        .build();
    let _gf = m
        .f64_observable_gauge("gf")
        .with_callback(|o| o.observe(0.25, &[]))
        .build();
    let s1 = p.collect();
    let s2 = p.collect();
    assert_eq!(value(&s1, "oc", &[kv("x", "1")]), Number::U64(10));
    assert_eq!(value(&s2, "oc", &[kv("x", "1")]), Number::U64(20));
    assert_eq!(value(&s2, "ofc", &[]), Number::F64(1.5));
    assert_eq!(value(&s2, "oi", &[]), Number::I64(-3));
    assert_eq!(value(&s2, "of", &[]), Number::F64(2.5));
    assert_eq!(value(&s2, "gu", &[kv("k", "a")]), Number::U64(2));
    assert_eq!(metric(&s2, "gu").data().len(), 1);
    assert_eq!(value(&s2, "gi", &[]), Number::I64(-9));
    assert_eq!(value(&s2, "gf", &[]), Number::F64(0.25));
    assert_eq!(
        metric(&s2, "oc").descriptor().kind(),
        InstrumentKind::ObservableCounter
    );
    assert!(matches!(
        metric(&s2, "oc").data(),
        MetricData::Sum {
            monotonic: true,
            ..
        }
    ));
    assert!(matches!(
        metric(&s2, "oi").data(),
        MetricData::Sum {
            monotonic: false,
            ..
        }
    ));
    assert!(matches!(metric(&s2, "gf").data(), MetricData::Gauge { .. }));
}

#[test]
fn observable_series_not_reported_disappear() {
    let p = provider();
    let m = p.meter("t");
    let round = Arc::new(AtomicU64::new(0));
    let r = round.clone();
    let _g = m
        .u64_observable_gauge("g")
        .with_callback(move |o| {
            o.observe(1, &[kv("always", true)]);
            if r.fetch_add(1, Ordering::SeqCst) == 0 {
                o.observe(1, &[kv("first", true)]);
            }
        })
        .build();
    assert_eq!(metric(&p.collect(), "g").data().len(), 2);
    assert_eq!(metric(&p.collect(), "g").data().len(), 1);
}

#[test]
fn a_panicking_callback_is_contained() {
    let p = provider();
    let m = p.meter("t");
    let _bad = m
        .u64_observable_gauge("bad")
        .with_callback(|_| panic!("callback bug"))
        .build();
    let _good = m
        .u64_observable_gauge("good")
        .with_callback(|o| o.observe(1, &[]))
        .build();
    let (s, logs) = capture_logs(|| p.collect());
    assert!(logs.contains("panicked"), "{logs}");
    assert!(metric(&s, "bad").data().is_empty());
    assert_eq!(value(&s, "good", &[]), Number::U64(1));
}

#[test]
fn callbacks_can_observe_the_memory_and_cpu_time_of_the_process() {
    // The RAM/CPU observer use case: callbacks read the process's own figures.
    let p = provider();
    let m = p.meter("process");
    let _rss = m
        .u64_observable_gauge("process.memory.usage")
        .with_unit("By")
        .with_callback(|o| {
            if let Some(bytes) = resident_bytes() {
                o.observe(bytes, &[]);
            }
        })
        .build();
    let _cpu = m
        .f64_observable_counter("process.cpu.time")
        .with_unit("s")
        .with_callback(|o| {
            if let Some(s) = cpu_seconds() {
                o.observe(s, &[kv("cpu.mode", "user+system")]);
            }
        })
        .build();
    // Burn a little CPU so the counter has something to show on a fast machine.
    let mut x = 0u64;
    for i in 0..20_000_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
    let s = p.collect();
    let Number::U64(rss) = value(&s, "process.memory.usage", &[]) else {
        panic!()
    };
    assert!(rss > 1024 * 1024, "resident memory {rss} bytes");
    let Number::F64(cpu) = value(&s, "process.cpu.time", &[kv("cpu.mode", "user+system")]) else {
        panic!()
    };
    assert!(cpu > 0.0, "cpu time {cpu}");
}

#[test]
fn attribute_order_and_repeated_keys_do_not_make_new_series() {
    let p = provider();
    let c = p.meter("t").u64_counter("c").build();
    c.add(1, &[kv("a", 1), kv("b", "x")]);
    c.add(1, &[kv("b", "x"), kv("a", 1)]);
    // A repeated key keeps its last value: this is {a=1, b="x"} too.
    c.add(1, &[kv("a", 2), kv("b", "x"), kv("a", 1)]);
    c.add(1, &[]);
    c.add(1, &[]);
    c.add(1, &[kv("a", "1"), kv("b", "x")]); // a string "1" is not the integer 1
    let s = p.collect();
    assert_eq!(metric(&s, "c").data().len(), 3);
    assert_eq!(value(&s, "c", &[kv("a", 1), kv("b", "x")]), Number::U64(3));
    assert_eq!(value(&s, "c", &[]), Number::U64(2));
    assert_eq!(
        value(&s, "c", &[kv("b", "x"), kv("a", "1")]),
        Number::U64(1)
    );
    // Snapshot attributes are sorted by key.
    for p in metric(&s, "c").data().number_points() {
        let keys: Vec<&str> = p.attributes().iter().map(|kv| kv.key.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }
}

#[test]
fn cardinality_limit_overflows_into_one_series_with_one_warning() {
    let p = MeterProvider::builder()
        .with_cardinality_limit(5)
        .build()
        .unwrap();
    let c = p.meter("t").u64_counter("c").build();
    let (_, logs) = capture_logs(|| {
        for i in 0..20i64 {
            c.add(1, &[kv("i", i)]);
        }
        // Existing series keep recording after the overflow began.
        c.add(10, &[kv("i", 0)]);
    });
    assert_eq!(
        logs.matches("cardinality limit reached").count(),
        1,
        "{logs}"
    );
    let s = p.collect();
    let points = metric(&s, "c").data().number_points();
    // limit 5 = 5 attribute sets, then the overflow series.
    assert_eq!(points.len(), 6);
    assert_eq!(value(&s, "c", &[kv("i", 0)]), Number::U64(11));
    assert_eq!(
        value(&s, "c", &[kv("otel.metric.overflow", true)]),
        Number::U64(15)
    );
    let total: u64 = points
        .iter()
        .map(|p| match p.value() {
            Number::U64(v) => v,
            _ => 0,
        })
        .sum();
    assert_eq!(total, 30);
}

#[test]
fn observable_callbacks_respect_the_cardinality_limit() {
    let p = MeterProvider::builder()
        .with_cardinality_limit(3)
        .build()
        .unwrap();
    let _g = p
        .meter("t")
        .u64_observable_counter("c")
        .with_callback(|o| {
            for i in 0..10i64 {
                o.observe(1, &[kv("i", i)]);
            }
        })
        .build();
    let s = p.collect();
    assert_eq!(metric(&s, "c").data().len(), 4);
    assert_eq!(
        value(&s, "c", &[kv("otel.metric.overflow", true)]),
        Number::U64(7)
    );
}

#[test]
fn a_zero_cardinality_limit_is_a_configuration_error() {
    let err = MeterProvider::builder()
        .with_cardinality_limit(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, prompush::Error::Config(_)));
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn bad_measurements_are_dropped_counted_and_warned_once() {
    let p = provider();
    let m = p.meter("t");
    let c = m.f64_counter("c").build();
    let h = m.f64_histogram("h").build();
    let u = m.f64_up_down_counter("u").build();
    let ((), logs) = capture_logs(|| {
        c.add(1.0, &[]);
        c.add(-1.0, &[]);
        c.add(f64::NAN, &[]);
        c.add(f64::INFINITY, &[]);
        h.record(2.0, &[]);
        h.record(f64::NAN, &[]);
        h.record(f64::NEG_INFINITY, &[]);
        u.add(f64::NAN, &[]);
        u.add(-2.0, &[]);
    });
    assert_eq!(logs.matches("dropped a measurement").count(), 3, "{logs}");
    let s = p.collect();
    assert_eq!(value(&s, "c", &[]), Number::F64(1.0));
    assert_eq!(metric(&s, "c").rejected_measurements(), 3);
    let hp = histogram(&s, "h", &[]);
    assert_eq!((hp.count(), hp.sum()), (1, 2.0));
    assert_eq!(metric(&s, "h").rejected_measurements(), 2);
    assert_eq!(value(&s, "u", &[]), Number::F64(-2.0));
    assert_eq!(metric(&s, "u").rejected_measurements(), 1);
}

#[test]
fn invalid_names_are_reported_and_record_nothing() {
    let p = provider();
    let m = p.meter("t");
    let (c, logs) = capture_logs(|| {
        let c = m.u64_counter("1starts.with.digit").build();
        let _g = m
            .u64_observable_gauge("has space")
            .with_callback(|o| o.observe(1, &[]))
            .build();
        let _h = m.f64_histogram("x".repeat(256)).build();
        c
    });
    assert_eq!(logs.matches("invalid instrument name").count(), 3, "{logs}");
    c.add(1, &[]);
    let bound = c.bind(&[]);
    bound.add(1);
    assert_eq!(p.collect().metrics().count(), 0);
}

#[test]
fn the_same_instrument_built_twice_shares_its_data() {
    let p = provider();
    let m = p.meter("t");
    let a = m.u64_counter("requests").with_unit("1").build();
    let b = m.u64_counter("Requests").with_unit("1").build();
    a.add(1, &[]);
    b.add(2, &[]);
    let _o1 = m
        .u64_observable_gauge("g")
        .with_callback(|o| o.observe(1, &[kv("from", "one")]))
        .build();
    let _o2 = m
        .u64_observable_gauge("g")
        .with_callback(|o| o.observe(2, &[kv("from", "two")]))
        .build();
    let s = p.collect();
    assert_eq!(s.metrics().count(), 2);
    assert_eq!(value(&s, "requests", &[]), Number::U64(3));
    assert_eq!(metric(&s, "g").data().len(), 2);
}

#[test]
fn same_name_other_kind_or_unit_is_warned_and_kept_apart() {
    let p = provider();
    let m = p.meter("t");
    let ((c, g, s_unit), logs) = capture_logs(|| {
        let c = m.u64_counter("dup").with_unit("By").build();
        let g = m.u64_gauge("dup").with_unit("By").build();
        let s_unit = m.u64_counter("dup").with_unit("s").build();
        (c, g, s_unit)
    });
    assert_eq!(
        logs.matches("another kind, unit or number type").count(),
        3,
        "{logs}"
    );
    c.add(1, &[]);
    g.record(5, &[]);
    s_unit.add(7, &[]);
    let s = p.collect();
    let dups: Vec<_> = s
        .metrics()
        .filter(|m| m.descriptor().name() == "dup")
        .collect();
    assert_eq!(dups.len(), 3);
    // Three instruments, not one reused: each has its own descriptor.
    for (i, a) in dups.iter().enumerate() {
        for b in &dups[i + 1..] {
            assert!(!std::ptr::eq(a.descriptor(), b.descriptor()));
        }
    }
    let find = |kind, unit: &str| {
        dups.iter()
            .find(|m| m.descriptor().kind() == kind && m.descriptor().unit() == unit)
            .unwrap()
            .data()
            .number_points()[0]
            .value()
    };
    assert_eq!(find(InstrumentKind::Counter, "By"), Number::U64(1));
    assert_eq!(find(InstrumentKind::Gauge, "By"), Number::U64(5));
    assert_eq!(find(InstrumentKind::Counter, "s"), Number::U64(7));
}

#[test]
fn scopes_are_separate() {
    let p = provider();
    let a = p.meter("a").u64_counter("c").build();
    let b = p
        .meter_with_scope(
            opentelemetry::InstrumentationScope::builder("b")
                .with_version("1.0")
                .build(),
        )
        .u64_counter("c")
        .build();
    a.add(1, &[]);
    b.add(2, &[]);
    let s = p.collect();
    assert_eq!(s.scopes().len(), 2);
    assert_eq!(s.scopes()[1].scope().version(), Some("1.0"));
    assert_eq!(
        s.scopes()[1].metrics()[0].data().number_points()[0].value(),
        Number::U64(2)
    );
}

#[test]
fn bound_instruments_record_into_their_series() {
    let p = MeterProvider::builder()
        .with_cardinality_limit(2)
        .build()
        .unwrap();
    let m = p.meter("t");
    let c = m.u64_counter("c").build();
    let bound = c.bind(&[kv("b", 1), kv("a", 2)]);
    bound.add(3);
    c.add(1, &[kv("a", 2), kv("b", 1)]);
    let h = m.f64_histogram("h").build();
    let bh = h.bind(&[]);
    bh.record(4.0);
    let u = m.i64_up_down_counter("u").build();
    u.bind(&[]).add(-2);
    let g = m.f64_gauge("g").build();
    g.bind(&[]).record(9.5);
    // Past the limit (two sets), a bound handle records into the overflow series.
    let _second = c.bind(&[kv("n", 2)]);
    let over = c.bind(&[kv("n", 3)]);
    over.add(5);
    let s = p.collect();
    assert_eq!(value(&s, "c", &[kv("a", 2), kv("b", 1)]), Number::U64(4));
    assert_eq!(
        value(&s, "c", &[kv("otel.metric.overflow", true)]),
        Number::U64(5)
    );
    assert_eq!(histogram(&s, "h", &[]).count(), 1);
    assert_eq!(value(&s, "u", &[]), Number::I64(-2));
    assert_eq!(value(&s, "g", &[]), Number::F64(9.5));
}

#[test]
fn threads_adding_to_shared_and_distinct_series_get_exact_totals() {
    const THREADS: u64 = 8;
    const ADDS: u64 = 20_000;
    let p = provider();
    let m = p.meter("t");
    let c = m.u64_counter("c").build();
    let f = m.f64_counter("f").build();
    let h = m.u64_histogram("h").build();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (c, f, h) = (c.clone(), f.clone(), h.clone());
            std::thread::spawn(move || {
                let mine = [kv("thread", t as i64)];
                for i in 0..ADDS {
                    c.add(1, &[kv("shared", true)]);
                    c.add(2, &mine);
                    f.add(0.5, &[]);
                    // Each thread also creates series the others race to create.
                    c.add(1, &[kv("race", (i % 50) as i64)]);
                    h.record(i % 10, &[]);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("no panic");
    }
    let s = p.collect();
    assert_eq!(
        value(&s, "c", &[kv("shared", true)]),
        Number::U64(THREADS * ADDS)
    );
    for t in 0..THREADS {
        assert_eq!(
            value(&s, "c", &[kv("thread", t as i64)]),
            Number::U64(2 * ADDS)
        );
    }
    for r in 0..50i64 {
        assert_eq!(
            value(&s, "c", &[kv("race", r)]),
            Number::U64(THREADS * ADDS / 50)
        );
    }
    assert_eq!(metric(&s, "c").data().len(), 1 + THREADS as usize + 50);
    assert_eq!(
        value(&s, "f", &[]),
        Number::F64(0.5 * (THREADS * ADDS) as f64)
    );
    let hp = histogram(&s, "h", &[]);
    assert_eq!(hp.count(), THREADS * ADDS);
    assert_eq!(hp.sum(), (THREADS * ADDS / 10 * 45) as f64);
}

#[test]
fn collection_while_recording_sees_monotonic_totals() {
    let p = provider();
    let c = p.meter("t").u64_counter("c").build();
    let writer = {
        let c = c.clone();
        std::thread::spawn(move || {
            for i in 0..200_000u64 {
                c.add(1, &[kv("i", (i % 100) as i64)]);
            }
        })
    };
    let mut last = 0u64;
    while !writer.is_finished() {
        let s = p.collect();
        let total: u64 = s
            .metric("c")
            .map(|m| {
                m.data()
                    .number_points()
                    .iter()
                    .map(|p| match p.value() {
                        Number::U64(v) => v,
                        _ => 0,
                    })
                    .sum()
            })
            .unwrap_or(0);
        assert!(total >= last, "total went back from {last} to {total}");
        last = total;
    }
    writer.join().unwrap();
    let s = p.collect();
    assert_eq!(metric(&s, "c").data().len(), 100);
}

#[test]
fn shutdown_stops_recording_and_is_not_repeatable() {
    let p = provider();
    let m = p.meter("t");
    let c = m.u64_counter("c").build();
    let bound = c.bind(&[]);
    let calls = Arc::new(AtomicU64::new(0));
    let k = calls.clone();
    let _g = m
        .u64_observable_gauge("g")
        .with_callback(move |o| {
            k.fetch_add(1, Ordering::SeqCst);
            o.observe(1, &[]);
        })
        .build();
    c.add(1, &[]);
    p.shutdown().expect("first shutdown");
    c.add(1, &[]);
    bound.add(1);
    c.add(1, &[kv("new", "series")]);
    let late = m.u64_counter("late").build();
    late.add(1, &[]);
    let s = p.collect();
    assert_eq!(value(&s, "c", &[]), Number::U64(1));
    assert_eq!(metric(&s, "c").data().len(), 1);
    assert!(metric(&s, "late").data().is_empty());
    assert!(metric(&s, "g").data().is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(p.is_shut_down());
    let again = p.shutdown().unwrap_err();
    assert!(matches!(again, prompush::Error::AlreadyShutdown));
}

#[test]
fn the_provider_works_as_the_global_provider() {
    let p = provider();
    opentelemetry::global::set_meter_provider(p.clone());
    let c = opentelemetry::global::meter("global-test")
        .u64_counter("global.counter")
        .build();
    c.add(4, &[kv("via", "global")]);
    let s = p.collect();
    assert_eq!(
        value(&s, "global.counter", &[kv("via", "global")]),
        Number::U64(4)
    );
}

#[test]
fn resource_defaults_to_detection_and_can_be_set() {
    let p = provider();
    let name = p
        .resource()
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .expect("service.name is always detected");
    assert!(
        name.as_str().starts_with("unknown_service") || std::env::var("OTEL_SERVICE_NAME").is_ok()
    );
    let r = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("checkout")
        .build();
    let p = MeterProvider::builder().with_resource(r).build().unwrap();
    let s = p.collect();
    assert_eq!(
        s.resource()
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.as_str().into_owned()),
        Some("checkout".to_string())
    );
}

#[test]
fn public_types_show_their_settings_and_attributes_in_debug_output() {
    let builder = MeterProvider::builder().with_cardinality_limit(7);
    assert!(format!("{builder:?}").contains("cardinality_limit: 7"));
    let p = builder.build().unwrap();
    let c = p.meter("t").u64_counter("c").build();
    c.add(1, &[kv("k", "v")]);
    let s = p.collect();
    assert!(format!("{p:?}").contains("MeterProvider"));
    let text = format!("{s:?}");
    assert!(
        text.contains("\"k\": String(") && text.contains("\"v\""),
        "{text}"
    );
}

fn instance_id(resource: &opentelemetry_sdk::Resource) -> Option<String> {
    resource
        .get(&opentelemetry::Key::from_static_str("service.instance.id"))
        .map(|v| v.as_str().into_owned())
}

fn service(name: &'static str) -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(name)
        .build()
}

#[test]
fn providers_of_one_service_get_distinct_random_instance_ids_fixed_for_their_life() {
    let build = || {
        MeterProvider::builder()
            .with_resource(service("checkout"))
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let id = instance_id(a.resource()).expect("build gives the provider an id");
    // A UUID v4: 8-4-4-4-12 hex digits, version digit 4.
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(id.as_bytes()[14], b'4', "{id}");
    assert_ne!(Some(&id), instance_id(b.resource()).as_ref());
    a.meter("t").u64_counter("c").build().add(1, &[]);
    for _ in 0..3 {
        assert_eq!(instance_id(a.collect().resource()), Some(id.clone()));
    }
    assert_eq!(
        instance_id(a.resource()).as_deref(),
        Some(id.as_str()),
        "the same id for the provider's whole life"
    );
}

#[test]
fn a_resource_instance_id_or_with_instance_id_wins_over_the_random_one() {
    let own = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("checkout")
        .with_attribute(kv("service.instance.id", "pod-1"))
        .build();
    let from_resource = MeterProvider::builder()
        .with_resource(own.clone())
        .build()
        .unwrap();
    let from_builder = MeterProvider::builder()
        .with_instance_id("slot-3")
        .build()
        .unwrap();
    let both = MeterProvider::builder()
        .with_resource(own)
        .with_instance_id("slot-4")
        .build()
        .unwrap();
    let id = |p: &MeterProvider| instance_id(p.collect().resource());
    assert_eq!(id(&from_resource).as_deref(), Some("pod-1"));
    assert_eq!(id(&from_builder).as_deref(), Some("slot-3"));
    assert_eq!(id(&both).as_deref(), Some("slot-4"));
    assert_eq!(
        both.resource()
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.as_str().into_owned())
            .as_deref(),
        Some("checkout"),
        "the rest of the resource stays"
    );
    let err = MeterProvider::builder()
        .with_instance_id("")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("with_instance_id"), "{err}");
}

#[test]
fn a_nan_with_the_stale_marker_bits_is_recorded_as_an_ordinary_nan() {
    let stale = f64::from_bits(prompush::receiver::STALE_NAN_BITS);
    let p = provider();
    let m = p.meter("t");
    m.f64_gauge("g").build().record(stale, &[]);
    let _og = m
        .f64_observable_gauge("og")
        .with_callback(move |o| o.observe(stale, &[]))
        .build();
    let _oud = m
        .f64_observable_up_down_counter("oud")
        .with_callback(move |o| o.observe(stale, &[]))
        .build();
    let s = p.collect();
    for name in ["g", "og"] {
        let Number::F64(v) = value(&s, name, &[]) else {
            panic!("{name} is not f64");
        };
        assert!(v.is_nan(), "{name}");
        assert_ne!(v.to_bits(), prompush::receiver::STALE_NAN_BITS, "{name}");
    }
    // Up-down counters take no NaN at all: dropped and counted, never sent.
    assert_eq!(metric(&s, "oud").data().len(), 0);
    assert_eq!(metric(&s, "oud").rejected_measurements(), 1);
}

#[test]
fn a_histogram_registered_again_with_other_boundaries_keeps_the_first_and_logs_an_error() {
    let p = provider();
    let m = p.meter("t");
    let build = |bounds: Option<Vec<f64>>| {
        let b = m.f64_histogram("latency").with_unit("s");
        match bounds {
            Some(bounds) => b.with_boundaries(bounds).build(),
            None => b.build(),
        }
    };
    let ((first, other), logs) = capture_logs(|| {
        let first = build(Some(vec![0.1, 1.0]));
        let other = build(Some(vec![0.5, 5.0]));
        let _defaults = build(None);
        let _same = build(Some(vec![0.1, 1.0]));
        // Another meter's histogram is another instrument: nothing to say.
        let _elsewhere = p
            .meter("other")
            .f64_histogram("latency")
            .with_unit("s")
            .with_boundaries(vec![2.0])
            .build();
        (first, other)
    });
    let errors: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("the first registration's boundaries win"))
        .collect();
    assert_eq!(errors.len(), 2, "one per differing registration: {logs}");
    assert!(
        errors[0].contains("[0.1, 1.0]") && errors[0].contains("[0.5, 5.0]"),
        "{logs}"
    );
    first.record(0.05, &[]);
    other.record(0.7, &[]);
    let s = p.collect();
    let ours = &s.scopes()[0].metrics();
    assert_eq!(ours.len(), 1, "one instrument");
    let MetricData::Histogram { bounds, points } = &ours[0].data() else {
        panic!("not a histogram");
    };
    assert_eq!(&bounds[..], &[0.1, 1.0]);
    assert_eq!(points[0].bucket_counts(), vec![1, 1, 0]);
}
