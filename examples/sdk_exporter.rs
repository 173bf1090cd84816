//! For applications that keep the official `opentelemetry_sdk`: prompush as its
//! remote-write exporter.
//!
//! ```sh
//! cargo run --example sdk_exporter
//! ```
//!
//! Pushes to prompush's local receiver and prints what arrived; set `PROMPUSH_ENDPOINT`
//! to push to a real listener instead.
//!
//! As a crate of its own (this file as `src/main.rs`), it needs:
//!
//! ```toml
//! [dependencies]
//! prompush = "0.1"
//! opentelemetry = { version = "0.33", default-features = false, features = ["metrics"] }
//! opentelemetry_sdk = { version = "0.33", default-features = false, features = ["metrics"] }
//! ```

use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prompush::receiver::Receiver;
use prompush::RemoteWriteExporter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut local = None;
    let endpoint = match std::env::var(prompush::env::ENDPOINT) {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => {
            let receiver = Receiver::start()?;
            let url = receiver.url();
            local = Some(receiver);
            url
        }
    };
    let mut exporter = RemoteWriteExporter::builder().with_endpoint(&endpoint);
    if let Ok(token) = std::env::var(prompush::env::BEARER_TOKEN) {
        exporter = exporter.with_bearer_token(token);
    }
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter.build()?)
        .build();

    let meter = provider.meter("sdk-example");
    meter
        .u64_counter("orders")
        .build()
        .add(3, &[KeyValue::new("country", "NL")]);
    meter
        .f64_histogram("checkout.duration")
        .with_unit("s")
        .build()
        .record(0.42, &[]);

    provider.force_flush()?;
    match local.as_mut() {
        Some(receiver) => {
            if let Some(received) = receiver.recv_blocking(Duration::from_secs(5)) {
                for series in &received.request.series {
                    println!("{series}");
                }
            }
        }
        None => println!("pushed to {endpoint}"),
    }
    provider.shutdown()?;
    Ok(())
}
