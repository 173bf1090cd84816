//! Instructions per call on the recording path, for callgrind, which counts
//! instructions exactly where timings on a shared machine are noisy.
//!
//! ```sh
//! cargo bench --bench instructions --no-run   # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <binary> 1000000 add4
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <binary> 2000000 add4
//! ```
//! The difference of the two totals ("Collected"), divided by 1,000,000, is the cost of
//! one call, free of the start-up work. Cases: `add4` (the 4-attribute `Counter.add` on
//! an existing series), `scattered` (500 series of 3 attributes, one an owned `String`,
//! in a scattered order), `bound` (a bound `Counter.add`), `add4_view` (`add4` through a
//! view that keeps 2 of the 4 keys). Under `cargo test` each case runs a few calls as a
//! smoke test.

use std::hint::black_box;

use opentelemetry::KeyValue;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let calls: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let cases = match args.next() {
        Some(case) => vec![case],
        None => vec![
            "add4".into(),
            "scattered".into(),
            "bound".into(),
            "add4_view".into(),
        ],
    };
    for case in cases {
        run(&case, calls);
    }
}

fn run(case: &str, calls: u64) {
    let mut builder = prompush::MeterProvider::builder();
    if case == "add4_view" {
        builder = builder.with_view(|_: &prompush::view::Instrument| {
            prompush::view::Stream::builder()
                .with_allowed_attribute_keys(["method".into(), "route".into()])
                .build()
                .ok()
        });
    }
    let provider = builder.build().expect("provider");
    let counter = provider.meter("bench").u64_counter("requests").build();
    let four = [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/users"),
        KeyValue::new("status", 200i64),
        KeyValue::new("cached", true),
    ];
    let scattered: Vec<[KeyValue; 3]> = (0..500)
        .map(|i| {
            [
                KeyValue::new("method", "GET"),
                KeyValue::new("route", format!("/api/items/{}", (i * 211) % 500)),
                KeyValue::new("status", 200i64),
            ]
        })
        .collect();
    match case {
        "add4" | "add4_view" => {
            counter.add(1, &four);
            for _ in 0..calls {
                counter.add(black_box(1), black_box(&four));
            }
        }
        "scattered" => {
            counter.add(1, &four);
            scattered.iter().for_each(|set| counter.add(0, set));
            for i in 0..calls {
                counter.add(black_box(1), black_box(&scattered[i as usize % 500]));
            }
        }
        "bound" => {
            let bound = counter.bind(&four);
            bound.add(1);
            for _ in 0..calls {
                bound.add(black_box(1));
            }
        }
        other => panic!("unknown case {other}: add4, scattered, bound or add4_view"),
    }
    // Every call was counted.
    let total: u64 = provider.collect().metric("requests").map_or(0, |m| {
        m.data()
            .number_points()
            .iter()
            .map(|p| match p.value() {
                prompush::snapshot::Number::U64(v) => v,
                _ => 0,
            })
            .sum()
    });
    assert_eq!(total, calls + 1, "{case}");
}
