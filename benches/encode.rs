//! Translate + encode + snappy of 100k counter series (10k per metric, 3 attributes),
//! the per-push cost that follows a collection. Target: well under 100 ns per series.
//!
//! Next steps once this is measured on a quiet machine: cache each series' encoded label
//! bytes across pushes (keyed by a stable per-series identity from the snapshot) so a
//! push only rewrites value and timestamp, and cache sanitised attribute keys.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use prompush::prometheus::encode::WriteRequestEncoder;
use prompush::prometheus::translate::Translator;
use prompush::snapshot::*;

const SERIES: usize = 100_000;
const PER_METRIC: usize = 10_000;

fn snapshot() -> Snapshot {
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let metrics = (0..SERIES / PER_METRIC)
        .map(|m| MetricSnapshot {
            descriptor: Arc::new(Descriptor {
                id: m as u64,
                name: format!("http.server.requests.{m}").into(),
                description: "Requests".into(),
                unit: "{request}".into(),
                kind: InstrumentKind::Counter,
                number: NumberKind::U64,
            }),
            start_time: UNIX_EPOCH,
            time,
            data: MetricData::Sum {
                monotonic: true,
                points: (0..PER_METRIC)
                    .map(|i| NumberPoint {
                        attributes: Attributes::new(&[
                            KeyValue::new("http.route", format!("/api/v1/items/{}", i % 100)),
                            KeyValue::new("http.response.status_code", 200 + (i / 100) as i64),
                            KeyValue::new("http.request.method", "GET"),
                        ]),
                        value: Number::U64(i as u64 * 7),
                    })
                    .collect(),
            },
            rejected_measurements: 0,
        })
        .collect();
    Snapshot {
        resource: Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "bench"),
                KeyValue::new("service.instance.id", "i-1"),
            ])
            .build(),
        time,
        scopes: vec![ScopeSnapshot {
            scope: InstrumentationScope::builder("bench").build(),
            metrics,
        }],
    }
}

fn bench(c: &mut Criterion) {
    let snap = snapshot();
    let mut translator = Translator::new();
    let mut encoder = WriteRequestEncoder::new();
    let mut group = c.benchmark_group("push");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.sample_size(20);
    group.bench_function("translate_encode_100k", |b| {
        b.iter(|| {
            encoder.clear();
            translator.translate(&snap, &mut encoder);
            encoder.protobuf().len()
        })
    });
    group.bench_function("translate_encode_snappy_100k", |b| {
        b.iter(|| {
            encoder.clear();
            translator.translate(&snap, &mut encoder);
            encoder.finish().map(<[u8]>::len).unwrap_or(0)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
