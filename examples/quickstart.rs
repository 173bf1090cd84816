//! The "send custom metrics from your application" flow, end to end.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With `PROMPUSH_ENDPOINT` unset, it starts prompush's own remote-write receiver on
//! 127.0.0.1 and prints every series that arrives there. Set `PROMPUSH_ENDPOINT` (and
//! `PROMPUSH_BEARER_TOKEN` if the listener wants one) to push to a real backend
//! instead. Either way it pushes twice and exits within a few seconds.
//!
//! As a crate of its own (this file as `src/main.rs`), it needs:
//!
//! ```toml
//! [dependencies]
//! prompush = "0.1"
//! opentelemetry = { version = "0.33", default-features = false, features = ["metrics", "trace"] }
//! tracing-subscriber = { version = "0.3", features = ["env-filter"] }
//! ```

use std::time::Duration;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
use opentelemetry::{global, Context, KeyValue};
use prompush::receiver::Receiver;
use prompush::MeterProvider;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // prompush reports problems (a refused push, a dropped measurement) via tracing.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    // 1. The destination: a listener URL and a token, or the local receiver.
    let mut local = match std::env::var(prompush::env::ENDPOINT) {
        Ok(endpoint) if !endpoint.is_empty() => {
            println!("pushing to {endpoint} (from {})", prompush::env::ENDPOINT);
            None
        }
        _ => {
            let receiver = Receiver::start()?;
            println!(
                "{} is not set: pushing to a local receiver at {}",
                prompush::env::ENDPOINT,
                receiver.url()
            );
            Some(receiver)
        }
    };
    // Histograms without boundaries are exponential ones. The local receiver takes them
    // as native histograms; elsewhere they go as classic `_bucket` series unless you turn
    // native ones on (Prometheus needs --enable-feature=native-histograms).
    let mut builder = MeterProvider::builder()
        .with_push_interval(Duration::from_secs(10))
        .with_exponential_histograms(160, 20);
    if let Some(receiver) = &local {
        builder = builder
            .with_endpoint(receiver.url())
            .with_native_histograms(true);
    }
    let provider = builder.build()?;
    global::set_meter_provider(provider.clone());

    // 2. Instruments, through the standard OpenTelemetry API.
    let meter = global::meter("quickstart");
    let counter = meter.u64_counter("MyCounter").with_unit("1").build();
    counter.add(25, &[KeyValue::new("dimension", "value")]);

    let active = meter
        .i64_up_down_counter("requests_active")
        .with_unit("{request}")
        .build();
    active.add(-2, &[]);

    let size = meter.u64_histogram("requests_size").with_unit("By").build();
    size.record(85, &[]);
    size.record(1500, &[]);

    // Exemplars: a measurement made while a sampled span is current carries its trace
    // (a tracer makes its spans current; here a span context stands in for one).
    let span = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?,
        SpanId::from_hex("00f067aa0ba902b7")?,
        TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    {
        let _in_request = Context::current().with_remote_span_context(span).attach();
        size.record(40_000, &[]);
    }

    // 3. Process and host metrics (CPU, memory, threads, file descriptors, …) named as
    //    the OpenTelemetry semantic conventions say, read once per push. The host ones
    //    need Linux's /proc.
    let _process = prompush::process::register(&meter)?;
    let _host = prompush::system::register(&meter).ok();

    // 4. Push now (instead of waiting for the interval), then once more at shutdown.
    provider.force_flush()?;
    print_received(&mut local, "first push");
    counter.add(5, &[KeyValue::new("dimension", "value")]);
    // A second of work: the CPU utilizations of the final push cover it.
    std::thread::sleep(Duration::from_secs(1));
    provider.shutdown()?;
    print_received(&mut local, "final push at shutdown");
    Ok(())
}

fn print_received(local: &mut Option<Receiver>, what: &str) {
    let Some(receiver) = local else {
        println!("{what}: accepted by the endpoint");
        return;
    };
    match receiver.recv_blocking(Duration::from_secs(5)) {
        Some(received) => {
            println!("\n{what}: {} series", received.request.series.len());
            for series in &received.request.series {
                println!("  {series}");
            }
        }
        None => println!("{what}: nothing arrived"),
    }
}
