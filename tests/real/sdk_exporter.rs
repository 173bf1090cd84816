//! `RemoteWriteExporter` behind the official `SdkMeterProvider` against a real
//! Prometheus: every instrument kind stored with its exact value. The loopback version is
//! in `tests/it/sdk_exporter.rs`.

// The support needs the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use prompush::RemoteWriteExporter;

use crate::servers::{single_value, Kind, Server};
use crate::support::presets::blocking;
use crate::support::sdk_app::{record, sdk_provider};

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn the_sdk_exporter_pushes_exact_values_to_prometheus() {
    let server = Server::start(Kind::Prometheus3).await;
    let sdk = sdk_provider(RemoteWriteExporter::builder().with_endpoint(server.remote_write_url()));
    record(&sdk.meter("app"));
    let flushed = sdk.clone();
    blocking(move || flushed.force_flush())
        .await
        .expect("export accepted");
    for (query, want) in [
        (r#"jobs_done_total{job="sdk-app",queue="a"}"#, 7.0),
        (r#"cpu_time_seconds_total{job="sdk-app"}"#, 1.5),
        (r#"workers_active{job="sdk-app",pool="x"}"#, -3.0),
        (r#"latency_seconds_count{job="sdk-app",route="/r"}"#, 3.0),
        (
            r#"latency_seconds_bucket{job="sdk-app",route="/r",le="1"}"#,
            2.0,
        ),
        (
            r#"latency_seconds_bucket{job="sdk-app",route="/r",le="+Inf"}"#,
            3.0,
        ),
        (r#"queue_depth{job="sdk-app"}"#, 4.0),
        (r#"observed_total{job="sdk-app",k="v"}"#, 11.0),
        (r#"temperature{job="sdk-app"}"#, 21.5),
    ] {
        let result = server
            .wait_for(
                query,
                |r| single_value(r).is_some(),
                Duration::from_secs(20),
            )
            .await;
        assert_eq!(single_value(&result), Some(want), "{query}");
    }
    blocking(move || sdk.shutdown()).await.expect("shutdown");
}
