//! Configuration from the environment. The test runs in a child process of its own:
//! environment variables are process-wide, and no other test may see these.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::Duration;

use prompush::receiver::Receiver;
use prompush::MeterProvider;

use crate::support::child::ran_in_child;

#[test]
fn endpoint_token_and_interval_come_from_the_environment() {
    if ran_in_child(concat!(
        module_path!(),
        "::endpoint_token_and_interval_come_from_the_environment"
    )) {
        return;
    }
    let mut receiver = Receiver::start().unwrap();
    // SAFETY: the child process's only test; no other thread reads the environment now.
    unsafe {
        std::env::set_var(prompush::env::ENDPOINT, receiver.url());
        std::env::set_var(prompush::env::BEARER_TOKEN, "env-token");
        std::env::set_var(prompush::env::EXPORT_INTERVAL, "100");
    }
    let provider = MeterProvider::builder().build().unwrap();
    assert!(provider.is_pushing());
    provider
        .meter("t")
        .u64_counter("from.env")
        .build()
        .add(1, &[]);
    // No flush: the 100 ms interval from the environment pushes on its own.
    let got = receiver
        .recv_blocking(Duration::from_secs(10))
        .expect("a periodic push");
    assert_eq!(got.headers.bearer_token(), Some("env-token"));
    assert_eq!(
        got.request.series("from_env_total").unwrap().value(),
        Some(1.0)
    );
    provider.shutdown().unwrap();

    // An endpoint in code wins, and the environment's token does not go to it.
    let mut other = Receiver::start().unwrap();
    let provider = MeterProvider::builder()
        .with_endpoint(other.url())
        .build()
        .unwrap();
    provider
        .meter("t")
        .u64_counter("in.code")
        .build()
        .add(1, &[]);
    provider.force_flush().unwrap();
    let got = other.recv_blocking(Duration::from_secs(10)).unwrap();
    assert_eq!(got.headers.bearer_token(), None);

    // A malformed interval is a clear error.
    unsafe { std::env::set_var(prompush::env::EXPORT_INTERVAL, "soon") };
    let err = MeterProvider::builder().build().unwrap_err();
    assert!(
        err.to_string().contains("OTEL_METRIC_EXPORT_INTERVAL"),
        "{err}"
    );
    let _ = provider.shutdown();

    // An instance id from OTEL_RESOURCE_ATTRIBUTES wins over the random one.
    unsafe {
        std::env::remove_var(prompush::env::EXPORT_INTERVAL);
        std::env::remove_var(prompush::env::ENDPOINT);
        std::env::set_var("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=env-pod-2");
    }
    let provider = MeterProvider::builder().build().unwrap();
    let id = provider
        .resource()
        .get(&opentelemetry::Key::from_static_str("service.instance.id"));
    assert_eq!(
        id.map(|v| v.as_str().into_owned()).as_deref(),
        Some("env-pod-2")
    );
}
