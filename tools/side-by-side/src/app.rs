//! One side's application, run in a process of its own so that its peak RSS is its own.
//!
//! It makes 100 counters with `series / 100` attribute sets each, then waits for lines
//! on stdin: `push` adds 1 to every series (so after push k every series reads k),
//! prints `t0 <unix ns>`, pushes once and prints `pushed <cpu ns> <wall ns>`, the
//! process's CPU time (every thread: getrusage RUSAGE_SELF) and the wall time of the
//! push alone; `quit` prints `rss <KiB>` (the peak, ru_maxrss) and exits without a
//! final push. Recording happens before T0 and is not part of the push's figures.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Counter, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;

use crate::usage;
use crate::{Side, INSTRUMENTS};

/// Long enough that only the explicit flushes push.
const NEVER: Duration = Duration::from_secs(3600);
/// A push of 100,000 series into a busy server may take seconds; neither side should
/// give up on it.
const PUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// What the application pushes with: prompush, or the SDK with the OTLP exporter.
enum Pusher {
    Prompush(prompush::MeterProvider),
    Sdk(SdkMeterProvider),
}

impl Pusher {
    fn new(side: Side, endpoint: &str, gzip: bool) -> Result<Self, String> {
        let resource = Resource::builder()
            .with_service_name("side-by-side")
            .with_attribute(KeyValue::new("service.instance.id", side.label()))
            .build();
        match side {
            Side::Prompush => prompush::MeterProvider::builder()
                .with_resource(resource)
                .with_endpoint(endpoint)
                .with_push_interval(NEVER)
                .with_timeout(PUSH_TIMEOUT)
                .with_self_metrics(false)
                .build()
                .map(Pusher::Prompush)
                .map_err(|e| format!("prompush: {e}")),
            Side::Otlp | Side::Collector => {
                let builder = opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_endpoint(endpoint)
                    .with_timeout(PUSH_TIMEOUT);
                let builder = if gzip {
                    builder.with_compression(opentelemetry_otlp::Compression::Gzip)
                } else {
                    builder
                };
                let exporter = builder.build().map_err(|e| format!("OTLP exporter: {e}"))?;
                let reader = PeriodicReader::builder(exporter)
                    .with_interval(NEVER)
                    .build();
                Ok(Pusher::Sdk(
                    SdkMeterProvider::builder()
                        .with_resource(resource)
                        .with_reader(reader)
                        .build(),
                ))
            }
        }
    }

    fn meter(&self) -> Meter {
        match self {
            Pusher::Prompush(p) => p.meter("side-by-side"),
            Pusher::Sdk(p) => p.meter("side-by-side"),
        }
    }

    fn push(&self) -> Result<(), String> {
        match self {
            Pusher::Prompush(p) => p.force_flush().map_err(|e| e.to_string()),
            Pusher::Sdk(p) => p.force_flush().map_err(|e| e.to_string()),
        }
    }
}

/// Runs the application until `quit` or the end of stdin.
pub fn run(side: Side, series: usize, endpoint: &str, gzip: bool) -> Result<(), String> {
    let pusher = Pusher::new(side, endpoint, gzip)?;
    let meter = pusher.meter();
    let counters: Vec<Counter<u64>> = (0..INSTRUMENTS)
        .map(|i| meter.u64_counter(format!("sbs.c{i:03}")).build())
        .collect();
    // Built once: recording is not what is measured.
    let attributes: Vec<[KeyValue; 2]> = (0..series / INSTRUMENTS)
        .map(|j| {
            [
                KeyValue::new("http.route", format!("/api/item/{j}")),
                KeyValue::new("code", 200_i64),
            ]
        })
        .collect();

    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        match line.trim() {
            "push" => {
                for counter in &counters {
                    for set in &attributes {
                        counter.add(1, set);
                    }
                }
                let mut out = stdout.lock();
                writeln!(out, "t0 {}", usage::unix_nanos()).map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
                let cpu = usage::process_cpu_nanos();
                let wall = Instant::now();
                pusher.push()?;
                let wall = wall.elapsed().as_nanos();
                let cpu = usage::process_cpu_nanos().saturating_sub(cpu);
                writeln!(out, "pushed {cpu} {wall}").map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
            }
            "quit" => break,
            other => return Err(format!("unknown command {other:?}")),
        }
    }
    let mut out = stdout.lock();
    writeln!(out, "rss {}", usage::peak_rss_kib()).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())
}
