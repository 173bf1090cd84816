//! Memory per series: 1,000,000 counter series with 3 short attributes.
//!
//! `cargo bench --bench memory` prints the bytes the process holds per series, beyond
//! the attribute strings themselves (allocator-requested bytes, and resident memory).
//! Under `cargo test` it runs with 10,000 series as a smoke test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use opentelemetry::KeyValue;

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: i64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let series: usize = if full { 1_000_000 } else { 10_000 };
    let provider = prompush::MeterProvider::builder()
        .with_cardinality_limit(series + 1)
        .build()
        .expect("provider");
    let counter = provider.meter("memory").u64_counter("requests").build();
    let live0 = LIVE.load(Ordering::Relaxed);
    let rss0 = resident_bytes();
    let mut string_bytes = 0usize;
    for i in 0..series {
        let route = format!("/r/{i}");
        string_bytes += route.len();
        counter.add(
            1,
            &[
                KeyValue::new("method", "GET"),
                KeyValue::new("route", route),
                KeyValue::new("shard", (i % 16) as i64),
            ],
        );
    }
    let live = LIVE.load(Ordering::Relaxed) - live0;
    let rss = resident_bytes().zip(rss0).map(|(a, b)| a - b);
    let n = series as f64;
    let beyond = (live - string_bytes as i64) as f64 / n;
    println!("series: {series}");
    println!(
        "allocated: {:.1} bytes/series, of which attribute strings {:.1}; beyond them: {beyond:.1} bytes/series",
        live as f64 / n,
        string_bytes as f64 / n
    );
    if let Some(rss) = rss {
        println!(
            "resident: {:.1} bytes/series (includes allocator overhead); beyond the strings: {:.1}",
            rss as f64 / n,
            (rss - string_bytes as i64) as f64 / n
        );
    }
    let points = provider
        .collect()
        .metric("requests")
        .map(|m| m.data().len());
    assert_eq!(points, Some(series), "every series was created");
    assert!(beyond > 0.0, "the counting allocator saw the series");
}
