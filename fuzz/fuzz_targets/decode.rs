//! The remote-write receiver's decoder on arbitrary bytes: it must return, never panic.
//!
//! `cargo fuzz run decode` (from the repository root; cargo-fuzz needs a nightly
//! toolchain or `RUSTC_BOOTSTRAP=1`). The normal test run covers the same code with a
//! 100,000-case property test (`src/robustness_tests.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(request) = prompush::receiver::decode(data) {
        // Formatting what was decoded must not panic either.
        for series in &request.series {
            let _ = series.to_string();
        }
    }
});
