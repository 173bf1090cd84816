//! Recording on an existing series allocates nothing, as the binary's counting allocator
//! counts the recording thread's allocations.

use opentelemetry::KeyValue;

use crate::{allocations_during, alone};

#[test]
fn recording_on_existing_series_does_not_allocate() {
    let _alone = alone();
    let provider = prompush::MeterProvider::builder().build().unwrap();
    let meter = provider.meter("t");
    let counter = meter.u64_counter("c").build();
    let fcounter = meter.f64_counter("f").build();
    let updown = meter.i64_up_down_counter("u").build();
    let histogram = meter.f64_histogram("h").build();
    let gauge = meter.i64_gauge("g").build();
    let attrs = |i: i64| {
        [
            KeyValue::new("method", "GET"),
            KeyValue::new("route", "/api/users"),
            KeyValue::new("shard", i),
        ]
    };
    // First use creates the series: it allocates, which also shows the counting works.
    let created = allocations_during(|| {
        for i in 0..50 {
            counter.add(1, &attrs(i));
            fcounter.add(1.0, &attrs(i));
            updown.add(1, &attrs(i));
            histogram.record(1.0, &attrs(i));
            gauge.record(1, &attrs(i));
        }
    });
    assert!(
        created >= 250,
        "creating 250 series allocated only {created} times"
    );
    let bound = counter.bind(&attrs(0));
    let n = allocations_during(|| {
        for round in 0..100 {
            for i in 0..50 {
                // Reversed order: still the same series, still no allocation.
                let mut a = attrs(i);
                if round % 2 == 1 {
                    a.reverse();
                }
                counter.add(1, &a);
                fcounter.add(0.5, &a);
                updown.add(-1, &a);
                histogram.record(i as f64, &a);
                gauge.record(i, &a);
            }
            bound.add(1);
        }
    });
    assert_eq!(n, 0, "allocations while recording on existing series");
    // And the work was really done.
    let s = provider.collect();
    let total: u64 = s
        .metric("c")
        .unwrap()
        .data()
        .number_points()
        .iter()
        .map(|p| match p.value() {
            prompush::snapshot::Number::U64(v) => v,
            _ => 0,
        })
        .sum();
    assert_eq!(total, 50 + 100 * 50 + 100);
}

/// An exponential histogram's bucket list grows only when a value falls outside its
/// range; inside it, and with the exemplar filter's check on every measurement,
/// recording allocates nothing.
#[test]
fn recording_inside_an_exponential_histograms_range_does_not_allocate() {
    let _alone = alone();
    let provider = prompush::MeterProvider::builder()
        .with_exponential_histograms(160, 20)
        .with_exemplar_filter(prompush::ExemplarFilter::TraceBased)
        .build()
        .unwrap();
    let histogram = provider.meter("t").f64_histogram("h").build();
    let attrs = [KeyValue::new("route", "/api/users")];
    // The extremes first: the range (and the scale) is settled.
    let created = allocations_during(|| {
        for v in [0.001, 1000.0, -1000.0, -0.001, 0.0] {
            histogram.record(v, &attrs);
        }
    });
    assert!(created > 0, "creating the series allocated nothing");
    let n = allocations_during(|| {
        for i in 0..10_000 {
            let v = 0.001 + (i as f64) * 0.0999;
            histogram.record(v, &attrs);
            histogram.record(-v, &attrs);
        }
    });
    assert_eq!(n, 0, "allocations while recording inside the range");
    let s = provider.collect();
    let point = &s.metric("h").unwrap().data().exponential_points()[0];
    assert_eq!(point.count(), 5 + 20_000);
}

/// The `metrics` facade: macros with static labels on a registered key, and handles.
#[cfg(feature = "metrics")]
#[test]
fn facade_recording_on_existing_series_does_not_allocate() {
    let _alone = alone();
    let provider = prompush::MeterProvider::builder().build().unwrap();
    let recorder = provider.metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        let record = || {
            metrics::counter!("c", "route" => "/a").increment(1);
            metrics::gauge!("g", "route" => "/a").increment(1.0);
            metrics::histogram!("h", "route" => "/a").record(2.0);
        };
        let created = allocations_during(record);
        assert!(created > 0, "registering three keys allocated nothing");
        let counter = metrics::counter!("c", "route" => "/a");
        let n = allocations_during(|| {
            for _ in 0..100 {
                record();
                counter.increment(1);
            }
        });
        assert_eq!(n, 0, "allocations while recording on existing series");
    });
    let value = provider
        .collect()
        .metric("c")
        .unwrap()
        .data()
        .number_points()[0]
        .value();
    assert_eq!(value, prompush::snapshot::Number::U64(201));
}

/// A view's attribute filter looks the kept pairs up in place: recording into an
/// existing series through an allow list, an exclude list, two streams of one
/// instrument and a bound handle allocates nothing, even with owned (heap) strings
/// among the dropped and the kept values.
#[test]
fn filtering_attributes_through_a_view_does_not_allocate_for_an_existing_series() {
    use prompush::view::{Instrument, Stream};

    let _alone = alone();
    let provider = prompush::MeterProvider::builder()
        .with_view(|i: &Instrument| {
            (i.name() == "allowed").then(|| {
                Stream::builder()
                    .with_allowed_attribute_keys(["method".into(), "route".into()])
                    .build()
                    .ok()
            })?
        })
        .with_view(|i: &Instrument| {
            (i.name() != "allowed").then(|| {
                Stream::builder()
                    .with_excluded_attribute_keys(["user".into()])
                    .build()
                    .ok()
            })?
        })
        .with_view(|i: &Instrument| {
            (i.name() == "fanned").then(|| {
                Stream::builder()
                    .with_name("fanned.by_route")
                    .with_allowed_attribute_keys(["route".into()])
                    .build()
                    .ok()
            })?
        })
        .build()
        .unwrap();
    let meter = provider.meter("t");
    let allowed = meter.u64_counter("allowed").build();
    let excluded = meter.f64_histogram("excluded").build();
    let fanned = meter.u64_counter("fanned").build();
    let attrs = |user: u32| {
        [
            KeyValue::new("method", "GET"),
            KeyValue::new("user", format!("user-{user}")),
            KeyValue::new("route", String::from("/api/users")),
        ]
    };
    // The sets (user included) are made outside the measured part: a call site builds
    // its attributes as it likes; the filter is what must not allocate.
    let sets: Vec<[KeyValue; 3]> = (0..20).map(attrs).collect();
    let reversed: Vec<[KeyValue; 3]> = sets
        .iter()
        .map(|set| {
            let mut r = set.clone();
            r.reverse();
            r
        })
        .collect();
    let created = allocations_during(|| {
        allowed.add(1, &sets[0]);
        excluded.record(1.0, &sets[0]);
        fanned.add(1, &sets[0]);
    });
    assert!(created > 0, "creating the series allocated nothing");
    let bound = allowed.bind(&sets[1]);
    let n = allocations_during(|| {
        for round in 0..50 {
            // Reversed order: still the same series, still no allocation.
            let sets = if round % 2 == 1 { &reversed } else { &sets };
            for a in sets {
                allowed.add(1, a);
                excluded.record(0.5, a);
                fanned.add(1, a);
            }
            bound.add(1);
        }
    });
    assert_eq!(
        n, 0,
        "allocations while recording through views on existing series"
    );
    let s = provider.collect();
    let points = s.metric("allowed").unwrap().data().number_points();
    assert_eq!(points.len(), 1, "the users' sets are one series");
    assert_eq!(
        points[0].value(),
        prompush::snapshot::Number::U64(1 + 50 * 20 + 50)
    );
    assert_eq!(
        s.metric("fanned.by_route")
            .unwrap()
            .data()
            .number_points()
            .len(),
        1
    );
}
