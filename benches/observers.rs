//! Cost of a collection with the process and host observers, for a process with a few
//! hundred open file descriptors (300 files are opened first).
//!
//! `cargo bench --bench observers` (add `-- --quick` for a fast pass). Linux only.
//!
//! - `observers/process_collect_with_read`: `collect()` of a provider holding only the
//!   process observers, each collection reading once (target: at most 100 µs). The
//!   cache's `max_age` is 300 µs and each measured collection follows an unmeasured
//!   pause longer than that, so exactly the collections are timed, each with its read.
//! - `observers/system_collect_with_read`: the same for the host observers.
//! - `observers/process_collect_cached`: collections within `max_age` of the read: the
//!   instruments and the snapshot without any read.
//! - `observers/peer_status_read_and_parse`: the peer: what a hand-written RSS callback
//!   does (`/proc/self/status` read into a `String`, `VmRSS` parsed), the one value the
//!   old quickstart reported per collection.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use prompush::{process, system, MeterProvider};

/// How old a read may be in the measured rows: longer than one collection takes, shorter
/// than the pause between them.
const MAX_AGE: Duration = Duration::from_micros(300);
const PAUSE: Duration = Duration::from_micros(400);
const OPEN_FILES: usize = 300;

/// Times `iterations` collections of `provider`, each after an unmeasured pause that lets
/// the cached read go stale.
fn collections_after_pauses(provider: &MeterProvider, iterations: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iterations {
        std::thread::sleep(PAUSE);
        let start = Instant::now();
        black_box(provider.collect());
        total += start.elapsed();
    }
    total
}

fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn observers(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let _files: Vec<std::fs::File> = (0..OPEN_FILES)
        .map(|i| std::fs::File::create(dir.path().join(i.to_string())).expect("file"))
        .collect();

    let mut group = c.benchmark_group("observers");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2));

    let with_read = process::Options::default().with_max_age(MAX_AGE);
    let provider = MeterProvider::builder().build().expect("provider");
    let _process = process::register_with(&provider.meter("bench"), with_read).expect("process");
    group.bench_function("process_collect_with_read", |b| {
        b.iter_custom(|n| collections_after_pauses(&provider, n))
    });

    let cached = process::Options::default().with_max_age(Duration::from_secs(3600));
    let cached_provider = MeterProvider::builder().build().expect("provider");
    let _cached = process::register_with(&cached_provider.meter("bench"), cached).expect("process");
    group.bench_function("process_collect_cached", |b| {
        b.iter(|| black_box(cached_provider.collect()))
    });

    let host = system::Options::default().with_max_age(MAX_AGE);
    let system_provider = MeterProvider::builder().build().expect("provider");
    let _system = system::register_with(&system_provider.meter("bench"), host).expect("system");
    group.bench_function("system_collect_with_read", |b| {
        b.iter_custom(|n| collections_after_pauses(&system_provider, n))
    });

    group.bench_function("peer_status_read_and_parse", |b| {
        b.iter(|| black_box(resident_kib()))
    });
    group.finish();
}

criterion_group!(benches, observers);
criterion_main!(benches);
