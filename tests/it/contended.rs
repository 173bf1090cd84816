//! Several threads recording into the same series at once: every total is exact, through
//! the switch of a contended sum to per-thread slots, with the attribute set passed in
//! different orders, through bound handles, and while collections run.

use std::sync::{Arc, Barrier};

use opentelemetry::KeyValue;
use prompush::snapshot::{Number, Snapshot};

const THREADS: usize = 4;
const ROUNDS: u64 = 50_000;

fn set() -> Vec<KeyValue> {
    vec![
        KeyValue::new("method", "GET"),
        KeyValue::new("route", String::from("/api/users")),
        KeyValue::new("status", 200i64),
        KeyValue::new("cached", true),
    ]
}

/// The one point of `name`, which must have exactly one.
fn only_value(snapshot: &Snapshot, name: &str) -> Number {
    let points = snapshot
        .metric(name)
        .unwrap_or_else(|| panic!("{name} collected"))
        .data()
        .number_points();
    assert_eq!(points.len(), 1, "{name}: one series");
    points[0].value()
}

#[test]
fn threads_adding_to_one_series_total_exactly() {
    let provider = prompush::MeterProvider::builder()
        .build()
        .expect("provider");
    let meter = provider.meter("t");
    let counter = meter.u64_counter("c").build();
    let updown = meter.i64_up_down_counter("u").build();
    let fcounter = meter.f64_counter("f").build();
    let start = Barrier::new(THREADS + 1);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (counter, updown, fcounter, start) = (&counter, &updown, &fcounter, &start);
            s.spawn(move || {
                // Each thread its own order of the same set.
                let mut attributes = set();
                attributes.rotate_left(t);
                let bound = counter.bind(&attributes);
                start.wait();
                for i in 0..ROUNDS {
                    counter.add(2, &attributes);
                    bound.add(1);
                    updown.add(if i % 2 == 0 { -3 } else { 1 }, &attributes);
                    // Whole numbers: float addition is exact in any order.
                    fcounter.add(0.5 * 2.0, &attributes);
                }
            });
        }
        start.wait();
        // Collections meanwhile read partial but consistent totals: never above the end.
        for _ in 0..20 {
            let Number::U64(partial) = only_value(&provider.collect(), "c") else {
                panic!("a u64 counter")
            };
            assert!(partial <= 3 * ROUNDS * THREADS as u64);
        }
    });
    let snapshot = provider.collect();
    let n = ROUNDS * THREADS as u64;
    assert_eq!(only_value(&snapshot, "c"), Number::U64(3 * n));
    assert_eq!(only_value(&snapshot, "u"), Number::I64(-(n as i64)));
    assert_eq!(only_value(&snapshot, "f"), Number::F64(n as f64));
}

#[test]
fn totals_keep_rising_across_collections_under_contention() {
    let provider = Arc::new(
        prompush::MeterProvider::builder()
            .build()
            .expect("provider"),
    );
    let counter = provider.meter("t").u64_counter("c").build();
    // The series exists before the first collection.
    counter.add(0, &set());
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let counter = &counter;
            s.spawn(move || {
                let attributes = set();
                for _ in 0..ROUNDS {
                    counter.add(1, &attributes);
                }
            });
        }
        let mut last = 0;
        for _ in 0..50 {
            let Number::U64(now) = only_value(&provider.collect(), "c") else {
                panic!("a u64 counter")
            };
            assert!(
                now >= last,
                "a cumulative total went down: {last} then {now}"
            );
            last = now;
        }
    });
    assert_eq!(
        only_value(&provider.collect(), "c"),
        Number::U64(ROUNDS * THREADS as u64)
    );
}
