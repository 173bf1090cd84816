//! Prints every series pushed to it: a remote-write endpoint to point prompush (or
//! Prometheus, or the OpenTelemetry Collector) at while you look at what it sends.
//!
//! ```sh
//! cargo run --example inspect                  # listens on 127.0.0.1:9091
//! cargo run --example inspect -- 127.0.0.1:0   # any free port
//! PROMPUSH_INSPECT_ADDR=127.0.0.1:9201 cargo run --example inspect
//! ```
//!
//! The address comes from the first argument, else `PROMPUSH_INSPECT_ADDR`, else
//! `127.0.0.1:9091` (the Pushgateway's port, familiar to people who push metrics; this
//! is not a Pushgateway, only a remote-write endpoint at any path). Each series prints
//! as `name{labels} value timestamp_ms`; a native histogram as `name{labels} {count=…
//! sum=… scale=… zero=… (lower,upper]=count …} timestamp_ms`, its non-empty buckets by
//! their bounds; each exemplar on a line of its own under its series,
//! `  # {span_id="…",trace_id="…"} value timestamp_ms`.
//!
//! As a crate of its own (this file as `src/main.rs`), it needs:
//!
//! ```toml
//! [dependencies]
//! prompush = "0.1"
//! tokio = { version = "1", features = ["macros", "rt"] }
//! ```

use std::net::SocketAddr;

use prompush::receiver::Receiver;

const DEFAULT_ADDR: &str = "127.0.0.1:9091";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PROMPUSH_INSPECT_ADDR").ok())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an address like {DEFAULT_ADDR}: {e}"))?;
    let mut receiver = Receiver::bind_to(addr).await?;
    eprintln!("listening: push to {}", receiver.url());
    while let Some(received) = receiver.recv().await {
        eprintln!(
            "# {} series, {} metadata, from {}",
            received.request.series.len(),
            received.request.metadata.len(),
            received
                .headers
                .get("user-agent")
                .unwrap_or("unknown agent")
        );
        for series in &received.request.series {
            println!("{series}");
        }
    }
    Ok(())
}
