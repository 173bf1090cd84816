//! Points that translate to one series: merged within the push (sums add,
//! same-boundary histograms add, gauges keep the member that changed), counted, never
//! sent twice; what cannot merge keeps the first registered.

use opentelemetry::KeyValue;

use super::*;
use crate::prometheus::translate::Collisions;
use crate::prometheus::write_request::{decode, WriteRequestEncoder};

#[test]
fn points_that_translate_to_one_series_are_merged() {
    let f = |metrics: Vec<MetricSnapshot>, want: &[&str]| {
        let c = translate(&bare(metrics));
        assert_eq!(exposition(&c), want);
    };
    let empty = || vec![KeyValue::new("route", "")];
    // An empty value is no label: `route=""` and no route are one series.
    f(
        vec![counter(
            1,
            "c",
            vec![
                number(&[], Number::U64(1)),
                number(&empty(), Number::U64(5)),
            ],
        )],
        &["c_total 6"],
    );
    // Keys equal after sanitising, one set each.
    f(
        vec![counter(
            1,
            "c",
            vec![
                number(&[KeyValue::new("a.b", "x")], Number::U64(2)),
                number(&[KeyValue::new("a_b", "x")], Number::U64(3)),
                number(&[KeyValue::new("a_b", "y")], Number::U64(4)),
            ],
        )],
        &[r#"c_total{a_b="x"} 5"#, r#"c_total{a_b="y"} 4"#],
    );
    // Two instruments of one kind whose names translate alike (unit words).
    f(
        vec![
            metric(
                1,
                "d",
                "s",
                InstrumentKind::Counter,
                sum(true, vec![number(&[], Number::F64(1.5))]),
            ),
            counter(2, "d_seconds", vec![number(&[], Number::F64(2.0))]),
        ],
        &["d_seconds_total 3.5"],
    );
    // Histograms of the same bounds add bucket by bucket; other bounds cannot merge, and
    // the first registered is sent.
    let h = |id, bounds: &[f64], counts: &[u64], sum| histogram(id, "h", bounds, counts, sum);
    let h1 = || h(1, &[1.0], &[1, 2], 9.0);
    #[rustfmt::skip]
    let histograms: [(MetricSnapshot, [&str; 4]); 2] = [
        (h(2, &[1.0], &[3, 0], 1.0), [r#"h_bucket{le="1"} 4"#, r#"h_bucket{le="+Inf"} 6"#, "h_count 6", "h_sum 10"]),
        (h(2, &[5.0], &[3, 0], 1.0), [r#"h_bucket{le="1"} 1"#, r#"h_bucket{le="+Inf"} 3"#, "h_count 3", "h_sum 9"]),
    ];
    for (second, want) in histograms {
        f(vec![h1(), second], &want);
    }
}

#[test]
fn collisions_are_counted_per_push() {
    let mut t = Translator::new();
    let snap = bare(vec![
        counter(1, "jobs", vec![number(&[], Number::U64(1))]),
        gauge(2, "jobs_total", vec![number(&[], Number::I64(9))]),
        histogram(3, "h", &[1.0], &[1, 0], 0.5),
        histogram(4, "h", &[2.0, 3.0], &[1, 0, 0], 0.5),
        counter(
            5,
            "c",
            vec![
                number(&[], Number::U64(1)),
                number(&[KeyValue::new("x", "")], Number::U64(1)),
            ],
        ),
    ]);
    for _ in 0..2 {
        // The counter registered first keeps `jobs_total`; the gauge's point is dropped,
        // and so is the histogram of other bounds.
        assert_eq!(
            exposition(&translate_with(&mut t, &snap)),
            [
                "c_total 2",
                r#"h_bucket{le="1"} 1"#,
                r#"h_bucket{le="+Inf"} 1"#,
                "h_count 1",
                "h_sum 0.5",
                "jobs_total 1",
            ]
        );
        assert_eq!(
            t.collisions(),
            Collisions {
                merged_points: 1,
                type_conflict_series: 1,
                unmergeable_series: 5,
            }
        );
    }
}

#[test]
fn a_gauge_family_keeps_the_member_that_changed() {
    let mut t = Translator::new();
    // One push a line, with the same translator: the values of `temp` (no attributes)
    // and of `temp{room=""}` (the same series), and what is sent.
    for (a, b, want) in [
        (1.0, 2.0, "temp 1"),
        (1.0, 7.0, "temp 7"),
        (1.0, 7.0, "temp 7"),
        (4.0, 7.0, "temp 4"),
    ] {
        let snap = bare(vec![gauge(
            1,
            "temp",
            vec![
                number(&[], Number::F64(a)),
                number(&[KeyValue::new("room", "")], Number::F64(b)),
            ],
        )]);
        assert_eq!(exposition(&translate_with(&mut t, &snap)), [want]);
    }
}

#[test]
fn merged_values_reach_the_wire_in_every_push() {
    let mut t = Translator::new();
    let mut encoder = WriteRequestEncoder::new();
    for round in 1..=3u64 {
        let snap = snapshot(
            service(),
            vec![counter(
                1,
                "c",
                vec![
                    number(&[], Number::U64(round)),
                    number(&[KeyValue::new("route", "")], Number::U64(10 * round)),
                    number(&[KeyValue::new("route", "/a")], Number::U64(100)),
                ],
            )],
        );
        encoder.clear();
        t.translate(&snap, &mut encoder);
        let request = decode(encoder.finish().unwrap(), 1 << 20).unwrap();
        let sent: Vec<String> = decoded_exposition(&request)
            .into_iter()
            .filter(|l| l.starts_with("c_total"))
            .collect();
        let labels = r#"instance="pod-1",job="shop/checkout",otel_scope_name="test""#;
        assert_eq!(
            sent,
            [
                format!("c_total{{{labels}}} {} 1700000000123", 11 * round),
                format!(r#"c_total{{{labels},route="/a"}} 100 1700000000123"#),
            ]
        );
    }
}
