//! The same instruments and measurements recorded through the official SDK and through
//! prompush's own provider, shared by the loopback and real-server tests of
//! `RemoteWriteExporter`.

use opentelemetry::metrics::Meter;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use prompush::RemoteWriteExporterBuilder;

/// The resource of both providers: `job="sdk-app"`, `instance="i-9"`.
pub fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("sdk-app")
        .with_attributes([KeyValue::new("service.instance.id", "i-9")])
        .build()
}

/// The same instruments and measurements, whichever SDK is behind the meter.
pub fn record(meter: &Meter) {
    meter
        .u64_counter("jobs.done")
        .build()
        .add(7, &[KeyValue::new("queue", "a")]);
    meter
        .f64_counter("cpu.time")
        .with_unit("s")
        .build()
        .add(1.5, &[]);
    meter
        .i64_up_down_counter("workers.active")
        .build()
        .add(-3, &[KeyValue::new("pool", "x")]);
    let h = meter
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    for v in [0.05, 0.5, 2.0] {
        h.record(v, &[KeyValue::new("route", "/r")]);
    }
    meter.u64_gauge("queue.depth").build().record(4, &[]);
    let _ = meter
        .u64_observable_counter("observed.total")
        .with_callback(|o| o.observe(11, &[KeyValue::new("k", "v")]))
        .build();
    let _ = meter
        .f64_observable_gauge("temperature")
        .with_callback(|o| o.observe(21.5, &[]))
        .build();
}

/// The official SDK's provider with [`resource`], exporting through `exporter`.
pub fn sdk_provider(exporter: RemoteWriteExporterBuilder) -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_resource(resource())
        .with_periodic_exporter(exporter.build().expect("exporter"))
        .build()
}
