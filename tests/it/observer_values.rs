//! The process observer's values against what the test process knows about itself:
//! resident memory against `/proc/self/status`, CPU time after a busy loop, threads
//! after spawning some, descriptors after opening files.
//!
//! The test runs in a child process of its own: the thread and descriptor counts are the
//! whole process's, so no other test may start or end threads or open files meanwhile
//! (the test harness runs a binary's tests on parallel threads).

// The test support needs the default `receiver` feature.
#![cfg(all(feature = "receiver", feature = "observers", target_os = "linux"))]

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use prompush::{process, MeterProvider, Snapshot};

use crate::support;

/// The value of `name`'s point with `cpu.mode` = `mode` (or its only point).
fn value(snapshot: &Snapshot, name: &str, mode: Option<&str>) -> f64 {
    let metric = snapshot
        .metric(name)
        .unwrap_or_else(|| panic!("{name} reported"));
    let points = metric.data().number_points();
    let point = points.iter().find(|p| match mode {
        Some(mode) => p
            .attributes()
            .get("cpu.mode")
            .is_some_and(|v| v.as_str() == mode),
        None => true,
    });
    point
        .unwrap_or_else(|| panic!("{name} {mode:?}"))
        .value()
        .as_f64()
}

/// Descriptors open now, as `/proc/self/fd` lists them (less the one listing them).
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
fn process_values_follow_what_the_process_does() {
    if support::child::ran_in_child(concat!(
        module_path!(),
        "::process_values_follow_what_the_process_does"
    )) {
        return;
    }
    let provider = MeterProvider::builder().build().unwrap();
    let every_time = process::Options::default().with_max_age(Duration::ZERO);
    let _process = process::register_with(&provider.meter("values"), every_time).unwrap();

    // Resident memory: 64 MiB more once touched, and within 10% of VmRSS.
    let before = value(&provider.collect(), "process.memory.usage", None);
    let ballast = vec![1u8; 64 << 20];
    let vm_rss = support::proc::resident_bytes().unwrap() as f64;
    let after = value(&provider.collect(), "process.memory.usage", None);
    assert!(
        after - before >= 60.0 * 1024.0 * 1024.0,
        "{before} → {after}"
    );
    assert!(
        (after / vm_rss - 1.0).abs() < 0.1,
        "{after} against VmRSS {vm_rss}"
    );
    drop(std::hint::black_box(ballast));

    // CPU time: user time grows by what a busy loop burns.
    let before = value(&provider.collect(), "process.cpu.time", Some("user"));
    let started = Instant::now();
    let mut x = 1u64;
    while value(&provider.collect(), "process.cpu.time", Some("user")) - before < 0.2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no CPU time counted"
        );
        for _ in 0..1_000_000 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
    }

    // Threads: 8 more while 8 are parked.
    let before = value(&provider.collect(), "process.thread.count", None);
    let started = Arc::new(Barrier::new(9));
    let release = Arc::new(Barrier::new(9));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (started, release) = (started.clone(), release.clone());
            std::thread::spawn(move || {
                started.wait();
                release.wait();
            })
        })
        .collect();
    started.wait();
    let during = value(&provider.collect(), "process.thread.count", None);
    release.wait();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(during - before, 8.0);

    // Descriptors: 50 more while 50 files are open, as many as /proc/self/fd lists.
    let before = value(
        &provider.collect(),
        "process.unix.file_descriptor.count",
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = (0..50)
        .map(|i| std::fs::File::create(dir.path().join(i.to_string())).unwrap())
        .collect();
    let during = value(
        &provider.collect(),
        "process.unix.file_descriptor.count",
        None,
    );
    assert_eq!(during - before, 50.0);
    assert_eq!(during, open_descriptors() as f64);
    drop(files);
}
