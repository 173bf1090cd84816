//! Export cost per push: `collect` + translate + encode + snappy, per series.
//!
//! `cargo bench --bench export` (add `-- --quick` for a fast pass). A real
//! [`prompush::MeterProvider`] holds u64 counters with 10,000 series each (three short
//! attributes) and a resource of four attributes. Every measured push is a steady-state
//! one, as in production: the translator and encoder have seen the series before.
//!
//! - `export/…`: 100,000 series. `collect_translate_encode_snappy` is the whole push;
//!   `snappy_alone` compresses the same protobuf bytes, the floor the push is compared to
//!   (target: at most 100 ns per series and 3 × `snappy_alone`).
//! - `export/collect_translate_render_*`: a scrape of the same 100,000 series, rendered
//!   in the text format and in OpenMetrics; `…_openmetrics_exemplars` with an exemplar
//!   on every series (the `AlwaysOn` filter), each shown at every scrape.
//! - `export/collect_translate_encode_snappy_v2`: the same push as remote write 2.0 (one
//!   request, one symbols table). Before measuring, the group prints the bytes per
//!   sample of both bodies on these 100,000 series, raw and snappy-compressed.
//! - `export_scaling/…`: the whole push at 10k, 100k and 1M series; time per series
//!   should stay flat.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use prompush::scrape::{Exposition, Format};
use prompush::{ExemplarFilter, MeterProvider, RemoteWriteEncoder};

const PER_COUNTER: usize = 10_000;
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// A provider with `counters` counters of `PER_COUNTER` series each.
fn provider(counters: usize) -> MeterProvider {
    provider_sampling(counters, None)
}

/// [`provider`] whose measurements `filter` (else the default) samples as exemplars.
fn provider_sampling(counters: usize, filter: Option<ExemplarFilter>) -> MeterProvider {
    let mut builder = MeterProvider::builder();
    if let Some(filter) = filter {
        builder = builder.with_exemplar_filter(filter);
    }
    let provider = builder
        .with_resource(
            Resource::builder_empty()
                .with_attributes([
                    KeyValue::new("service.name", "checkout"),
                    KeyValue::new("service.instance.id", "pod-7f9c4"),
                    KeyValue::new("deployment.environment.name", "prod"),
                    KeyValue::new("host.name", "node-12"),
                ])
                .build(),
        )
        .with_cardinality_limit(PER_COUNTER + 1)
        .build()
        .expect("provider without an endpoint");
    let meter = provider.meter("bench");
    for c in 0..counters {
        let counter = meter
            .u64_counter(format!("http.server.requests.{c}"))
            .with_unit("{request}")
            .build();
        // 250 routes × 4 methods × 10 statuses: 10,000 distinct sets.
        for i in 0..PER_COUNTER {
            counter.add(
                i as u64 + 1,
                &[
                    KeyValue::new("route", format!("/api/v1/items/{}", i % 250)),
                    KeyValue::new("method", METHODS[i / 250 % 4]),
                    KeyValue::new("status", (200 + i / 1000).to_string()),
                ],
            );
        }
    }
    provider
}

/// The exporter's state: one encoder (translator and encoder inside), reused across
/// pushes.
struct Export {
    encoder: RemoteWriteEncoder,
}

impl Export {
    fn new() -> Self {
        Self {
            encoder: RemoteWriteEncoder::new(),
        }
    }

    /// An exporter of remote-write 2.0 bodies.
    fn v2() -> Self {
        Self {
            encoder: RemoteWriteEncoder::new_v2(),
        }
    }

    /// One push without the network; returns the body's length.
    fn push(&mut self, provider: &MeterProvider) -> usize {
        let snapshot = provider.collect();
        self.encoder.encode(&snapshot).map(<[u8]>::len).unwrap_or(0)
    }
}

fn export(c: &mut Criterion) {
    let series = 10 * PER_COUNTER;
    let provider = provider(10);
    let mut export = Export::new();
    // The first push builds the caches; production pushes are the later ones.
    assert!(export.push(&provider) > 0);

    let mut group = c.benchmark_group("export");
    group.throughput(Throughput::Elements(series as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("collect_translate_encode_snappy", |b| {
        b.iter(|| export.push(&provider))
    });

    // Remote write 2.0 on the same series: sizes first, then the time of a push.
    let mut v2 = Export::v2();
    assert!(v2.push(&provider) > 0);
    // target_info and the counters' series, one sample each.
    let samples = (series + 1) as f64;
    for (name, export) in [("1.0", &mut export), ("2.0", &mut v2)] {
        let snappy = export.push(&provider);
        let raw = export.encoder.protobuf().len();
        eprintln!(
            "remote write {name}: {series} series, {:.1} bytes per sample raw, {:.1} snappy",
            raw as f64 / samples,
            snappy as f64 / samples,
        );
    }
    group.bench_function("collect_translate_encode_snappy_v2", |b| {
        b.iter(|| v2.push(&provider))
    });

    // The same protobuf bytes, compressed alone into a buffer allocated up front.
    let protobuf = export.encoder.protobuf().to_vec();
    let mut compressed = vec![0; snap::raw::max_compress_len(protobuf.len())];
    let mut snappy = snap::raw::Encoder::new();
    group.bench_function("snappy_alone", |b| {
        b.iter(|| {
            snappy
                .compress(black_box(&protobuf), &mut compressed)
                .unwrap_or(0)
        })
    });
    // A scrape of the same provider: collect, translate and render as text, or as
    // OpenMetrics (the remote-write row above is the comparison).
    for (name, format) in [
        ("collect_translate_render_text", Format::Text),
        ("collect_translate_render_openmetrics", Format::OpenMetrics),
    ] {
        let mut exposition = Exposition::new();
        group.bench_function(name, |b| {
            b.iter(|| exposition.render(&provider.collect(), format).len())
        });
    }
    // `cargo test --benches` runs each case once, unoptimized: a tenth of the series.
    let counters = if std::env::args().any(|a| a == "--bench") {
        10
    } else {
        1
    };
    let sampled = provider_sampling(counters, Some(ExemplarFilter::AlwaysOn));
    let mut exposition = Exposition::new();
    group.bench_function("collect_translate_render_openmetrics_exemplars", |b| {
        b.iter(|| {
            exposition
                .render(&sampled.collect(), Format::OpenMetrics)
                .len()
        })
    });
    group.finish();
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("export_scaling");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    // `cargo test --benches` runs each case once, unoptimized: no million there.
    let counts: &[usize] = if std::env::args().any(|a| a == "--bench") {
        &[1, 10, 100]
    } else {
        &[1, 10]
    };
    for &counters in counts {
        let series = counters * PER_COUNTER;
        let provider = provider(counters);
        let mut export = Export::new();
        assert!(export.push(&provider) > 0);
        group.throughput(Throughput::Elements(series as u64));
        group.bench_function(BenchmarkId::from_parameter(series), |b| {
            b.iter(|| export.push(&provider))
        });
    }
    group.finish();
}

criterion_group!(benches, export, scaling);
criterion_main!(benches);
