//! Memory tests, in a binary of their own because they install a counting global
//! allocator: it counts each thread's allocations (recording allocates nothing) and the
//! bytes live in the whole process (the pending-data cap holds during an outage and with
//! a slow receiver). The live bytes are what the code keeps allocated, whatever a loaded
//! machine leaves resident. The tests run one at a time ([`alone`]), so no test's
//! allocations show in another's figures.

// A push destination (the receiver) and the scrape endpoint take part.
#[cfg(all(feature = "receiver", feature = "scrape"))]
mod idle_churn;
mod no_alloc;
mod outage_memory;
#[path = "../support/ports.rs"]
mod ports;
mod self_metrics;
mod slow_memory;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry::KeyValue;
use prompush::{MeterProvider, MeterProviderBuilder};

/// A mebibyte.
const MIB: usize = 1 << 20;

struct Counting;

thread_local! {
    /// Allocations made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}
/// Bytes allocated and not yet freed, by every thread.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The most `LIVE` has been since [`peak_live_growth`] reset it.
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(live, Relaxed);
}

fn counted() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged; the counters are
// atomics and a thread-local `Cell`, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        new
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many allocations the current thread made while running `f`.
fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// How far the bytes live rose above their value at the call, at most, during the next
/// `duration`.
fn peak_live_growth(duration: Duration) -> usize {
    let baseline = LIVE.load(Relaxed);
    PEAK.store(baseline, Relaxed);
    std::thread::sleep(duration);
    PEAK.load(Relaxed).saturating_sub(baseline)
}

/// Held for the whole of each test: the harness would otherwise run them on parallel
/// threads, and one's allocations would count in another's live bytes.
fn alone() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    // A test that failed holding it leaves nothing behind that the next one needs.
    ALONE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A remote-write URL on loopback where nothing listens (the port was free a moment
/// ago): pushes to it fail with "connection refused".
fn closed_loopback_endpoint() -> String {
    format!("http://{}/api/v1/write", ports::free_loopback_addr())
}

/// A provider builder pushing to `endpoint` every 100 ms, with `cap` bytes of pending
/// data at most, room for 60,000 series per instrument, and a short shutdown.
fn pushing_every_100ms(endpoint: impl Into<String>, cap: usize) -> MeterProviderBuilder {
    MeterProvider::builder()
        .with_endpoint(endpoint)
        .with_push_interval(Duration::from_millis(100))
        .with_max_pending_bytes(cap)
        .with_cardinality_limit(60_000)
        .with_shutdown_timeout(Duration::from_millis(200))
}

/// Counter `c` of meter `t` with 50,000 series `{series="<i>", route="/api/items"}`.
fn fifty_thousand_series(provider: &MeterProvider) {
    let c = provider.meter("t").u64_counter("c").build();
    for i in 0..50_000i64 {
        c.add(
            1,
            &[
                KeyValue::new("series", i),
                KeyValue::new("route", "/api/items"),
            ],
        );
    }
}
