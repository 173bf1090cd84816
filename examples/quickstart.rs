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

use std::sync::Mutex;
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

    // 3. Observers: callbacks that run at every push.
    let _memory = meter
        .u64_observable_gauge("process.memory.usage")
        .with_unit("By")
        .with_description("Resident memory of this process")
        .with_callback(|observer| {
            if let Some(bytes) = resident_bytes() {
                observer.observe(bytes, &[]);
            }
        })
        .build();
    // Per CPU: the ticks at the previous push and the share reported then (repeated
    // when no tick has passed since, so the series does not end).
    let previous: Mutex<Vec<(u64, u64, f64)>> = Mutex::new(Vec::new());
    let _cpu = meter
        .f64_observable_gauge("cpu.utilization")
        .with_unit("1")
        .with_description("Busy share of each CPU since the previous push")
        .with_callback(move |observer| {
            let now = cpu_times();
            let mut before = previous.lock().unwrap_or_else(|e| e.into_inner());
            let mut shares = Vec::with_capacity(now.len());
            for (cpu, &(busy, total)) in now.iter().enumerate() {
                let (busy0, total0, share0) = before.get(cpu).copied().unwrap_or((0, 0, 0.0));
                let elapsed = total.saturating_sub(total0);
                let share = if elapsed > 0 {
                    busy.saturating_sub(busy0) as f64 / elapsed as f64
                } else {
                    share0
                };
                observer.observe(share, &[KeyValue::new("cpu", cpu as i64)]);
                shares.push((busy, total, share));
            }
            *before = shares;
        })
        .build();

    // 4. Push now (instead of waiting for the interval), then once more at shutdown.
    provider.force_flush()?;
    print_received(&mut local, "first push");
    counter.add(5, &[KeyValue::new("dimension", "value")]);
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

/// Resident set size from /proc (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// (busy, total) clock ticks per CPU from /proc/stat (Linux); empty elsewhere.
fn cpu_times() -> Vec<(u64, u64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let ticks: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|t| t.parse().ok())
                .collect();
            let total: u64 = ticks.iter().sum();
            // idle and iowait are the 4th and 5th fields.
            let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}
