//! A receiver that takes a second to answer each request, with 50,000 series pushed every
//! 100 ms: deliveries keep going through parallel shards, each push superseding the
//! older one's unsent requests, and the bytes live stay within the pending-data cap.

// The loopback receiver needs the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prompush::receiver::Receiver;

use crate::self_metrics::{dropped, wait_for_a_request};
use crate::{alone, fifty_thousand_series, peak_live_growth, pushing_every_100ms, MIB};

#[test]
fn a_slow_receiver_keeps_getting_pushes_within_the_memory_cap() {
    let _alone = alone();
    const CAP: usize = 16 * MIB;
    let mut receiver = Receiver::start().unwrap();
    receiver.answer_after(Duration::from_secs(1));
    let url = receiver.url();
    // What arrives is counted and dropped at once: the receiver keeps nothing.
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        while let Some(r) = receiver.recv_blocking(Duration::from_secs(120)) {
            counted.fetch_add(usize::from(r.is_accepted()), Ordering::Relaxed);
        }
    });
    let provider = pushing_every_100ms(url, CAP)
        .with_shutdown_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    fifty_thousand_series(&provider);
    // Measured from the first answer on: the first push has built the encoder's caches.
    wait_for_a_request(&provider);
    let before = accepted.load(Ordering::Relaxed);
    let growth = peak_live_growth(Duration::from_secs(30));
    let during = accepted.load(Ordering::Relaxed) - before;
    eprintln!(
        "live bytes' growth with a slow receiver: {growth} bytes (cap {CAP}); \
         {during} requests accepted in 30 s"
    );
    // 25 requests a push, one second each, through parallel shards: dozens a second on
    // a quiet machine (hundreds in 30 s), a few when its cores are starved and fewer
    // pushes get encoded; never none.
    assert!(during > 0, "no request accepted in 30 s");
    assert!(
        dropped(&provider, "superseded") > 0,
        "pushes outpace the receiver"
    );
    // The queue's cap, plus two pushes' working buffers (see the outage test).
    let allowed = CAP + 32 * MIB;
    assert!(
        growth <= allowed,
        "the bytes live grew by {growth} (allowed {allowed})"
    );
    let _ = provider.shutdown();
}
