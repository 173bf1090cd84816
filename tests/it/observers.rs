//! The process and host observers (`prompush::process`, `prompush::system`) as a
//! receiver sees them: every metric of the conventions under its Prometheus name, type
//! and labels, with plausible values; per-CPU series; one read per collection. The
//! values' agreement with what the process does (threads spawned, files opened) is in
//! `observer_values`; what a real Prometheus stores, in `tests/real/observers.rs`.

// Linux: the only platform with every metric. The receiver needs the default feature.
#![cfg(all(feature = "receiver", feature = "observers", target_os = "linux"))]

use std::collections::BTreeSet;
use std::time::Duration;

use prompush::receiver::Receiver;
use prompush::{process, system, Snapshot};

use crate::loopback::{app_values, next};
use crate::loopback_presets::bare;
use crate::support::observed::{logical_cpus, observed, FAMILIES, WINDOW};

/// Every series of [`FAMILIES`] as `name{label=value}`, sorted.
fn every_series() -> Vec<String> {
    let mut series: Vec<String> = FAMILIES
        .iter()
        .flat_map(|(name, _, label, values)| match values {
            [] => vec![format!("{name}{{}}")],
            values => values
                .iter()
                .map(|v| format!("{name}{{{label}={v}}}"))
                .collect(),
        })
        .collect();
    series.sort();
    series
}

/// Reads at every collection, so that each collection has a utilization window.
fn every_time() -> process::Options {
    process::Options::default().with_max_age(Duration::ZERO)
}

/// The value of `name`'s point with `attribute` (or its only point) in `snapshot`.
fn value(snapshot: &Snapshot, name: &str, attribute: Option<(&str, &str)>) -> Option<f64> {
    let metric = snapshot.metric(name)?;
    let points = metric.data().number_points();
    let point = points.iter().find(|p| match attribute {
        Some((key, value)) => p.attributes().get(key).is_some_and(|v| v.as_str() == value),
        None => true,
    })?;
    Some(point.value().as_f64())
}

#[test]
fn every_metric_arrives_under_its_prometheus_name_and_type() {
    let mut receiver = Receiver::start().unwrap();
    let (provider, _observers) = observed(bare().with_endpoint(receiver.url()));
    // The utilizations need a window: the time from registration to the collection.
    std::thread::sleep(WINDOW);
    provider.force_flush().unwrap();
    let received = next(&mut receiver);

    let values = app_values(&received);
    let got: Vec<&str> = values.keys().map(|k| k.as_str()).collect();
    assert_eq!(got, every_series(), "every series, exactly");
    for (family, kind, _, _) in FAMILIES {
        let metadata = received
            .request
            .metadata
            .iter()
            .find(|m| m.family == *family);
        assert_eq!(metadata.map(|m| m.kind), Some(*kind), "{family}");
    }
    assert!(values["process_memory_usage_bytes{}"] > 1e6);
    assert!(values["process_uptime_seconds{}"] > 0.0);
    assert_eq!(values["system_cpu_logical_count{}"], logical_cpus() as f64);
    provider.shutdown().unwrap();
}

#[test]
fn per_cpu_reports_each_logical_cpu_instead_of_the_total() {
    let provider = bare().build().unwrap();
    let options = system::Options::default().with_per_cpu(true);
    let _system = system::register_with(&provider.meter("observers"), options).unwrap();
    let snapshot = provider.collect();
    let points = snapshot
        .metric("system.cpu.time")
        .unwrap()
        .data()
        .number_points();
    let cpus: BTreeSet<i64> = points
        .iter()
        .map(|p| match p.attributes().get("cpu.logical_number") {
            Some(opentelemetry::Value::I64(n)) => *n,
            other => panic!("a point without a CPU number: {other:?}"),
        })
        .collect();
    assert_eq!(cpus.len(), logical_cpus());
    assert_eq!(points.len(), 7 * logical_cpus(), "7 modes per CPU");
}

#[test]
fn collections_within_the_max_age_share_one_read() {
    let provider = bare().build().unwrap();
    let meter = provider.meter("observers");
    let options = process::Options::default().with_max_age(Duration::from_secs(3600));
    let _process = process::register_with(&meter, options).unwrap();
    let _fresh = process::register_with(&provider.meter("fresh"), every_time()).unwrap();
    let cpu = |snapshot: &Snapshot| value(snapshot, "process.cpu.time", Some(("cpu.mode", "user")));
    let first = provider.collect();
    burn_cpu(Duration::from_millis(30));
    let second = provider.collect();
    // Both meters' instruments are in each snapshot; `metric` finds the first meter's.
    assert_eq!(
        cpu(&first),
        cpu(&second),
        "the cached read serves both collections"
    );
    let fresh = |s: &Snapshot| {
        let scope = s
            .scopes()
            .iter()
            .find(|sc| sc.scope().name() == "fresh")
            .unwrap();
        let metric = scope
            .metrics()
            .iter()
            .find(|m| m.descriptor().name() == "process.cpu.time");
        let points = metric.unwrap().data().number_points();
        points.iter().map(|p| p.value().as_f64()).sum::<f64>()
    };
    assert!(
        fresh(&second) > fresh(&first),
        "max age zero reads every time"
    );
}

#[test]
fn utilizations_are_shares_between_zero_and_one() {
    let provider = bare().build().unwrap();
    let meter = provider.meter("observers");
    let _process = process::register_with(&meter, every_time()).unwrap();
    let every = system::Options::default().with_max_age(Duration::ZERO);
    let _system = system::register_with(&meter, every).unwrap();
    burn_cpu(Duration::from_millis(50));
    let snapshot = provider.collect();
    let share = |name: &str| -> f64 {
        let points = snapshot.metric(name).unwrap().data().number_points();
        assert!(
            points
                .iter()
                .all(|p| (0.0..=1.0).contains(&p.value().as_f64())),
            "{name}"
        );
        points.iter().map(|p| p.value().as_f64()).sum()
    };
    let process = share("process.cpu.utilization");
    assert!(process > 0.0 && process <= 1.0 + 1e-9, "{process}");
    let system = share("system.cpu.utilization");
    assert!(
        (system - 1.0).abs() < 1e-9,
        "the modes' shares add up to 1: {system}"
    );
    let memory = share("system.memory.utilization");
    assert!(memory > 0.0 && memory <= 1.0 + 1e-9, "{memory}");
}

/// Spins on this thread for `cpu` of its own CPU time (bounded by ten times that in wall
/// time).
fn burn_cpu(cpu: Duration) {
    let start = std::time::Instant::now();
    let before = crate::cpu_and_threads::cpu_seconds().unwrap();
    let mut x = 1u64;
    while crate::cpu_and_threads::cpu_seconds().unwrap() - before < cpu.as_secs_f64()
        && start.elapsed() < cpu * 10
    {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
    }
}
