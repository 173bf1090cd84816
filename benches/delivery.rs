//! Push duration against a slow endpoint: collection to the last request's answer.
//!
//! `cargo bench --bench delivery` (add a filter such as `-- 100ms` to run one delay).
//! A loopback HTTP server (hyper, in this file) reads each request's body without
//! decoding it and answers `204` after 0, 10 or 100 ms, as a near, a regional and a
//! far endpoint do. A [`prompush::MeterProvider`] holds one counter with 100,000 or
//! 1,000,000 series and pushes them with `force_flush`, whose answer comes when every
//! request of the push is accepted: each measured iteration is one whole push,
//! collection and encoding included. The first push is made before measuring, so the
//! shard count is sized from a measured send time (the target holds from the second
//! push on).
//!
//! Peers in one run: `shards` (the default, up to 50 shards) and `one_shard`
//! (`with_max_shards(1)`: one request at a time, as before shards). One shard is left
//! out where a push takes over 10 s (its duration is the request count times the
//! delay: 1,000,000 series at 100 ms is 500 × 0.1 s = 50 s, at 10 ms 5 s).
//! The server reports the most requests it had at once.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hyper::body::{Body as _, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry::KeyValue;
use prompush::{Destination, MeterProvider};

/// An endpoint that answers every request `delay` after reading its body.
struct SlowEndpoint {
    url: String,
    most_at_once: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl SlowEndpoint {
    fn start(delay: Duration) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the endpoint");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let url = format!(
            "http://{}/api/v1/write",
            listener.local_addr().expect("its address")
        );
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let most = most_at_once.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (open, most) = (open.clone(), most.clone());
                let answer = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (open, most) = (open.clone(), most.clone());
                    async move {
                        let now = open.fetch_add(1, Ordering::Relaxed) + 1;
                        most.fetch_max(now, Ordering::Relaxed);
                        let mut body = request.into_body();
                        while let Some(Ok(_)) =
                            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                        {
                        }
                        tokio::time::sleep(delay).await;
                        open.fetch_sub(1, Ordering::Relaxed);
                        let mut response = Response::new(String::new());
                        *response.status_mut() = StatusCode::NO_CONTENT;
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), answer),
                );
            }
        });
        SlowEndpoint {
            url,
            most_at_once,
            _runtime: runtime,
        }
    }
}

/// A provider with one counter of `series` series pushing to `url` through at most
/// `max_shards` shards, after its first push.
fn pushing(url: &str, series: usize, max_shards: usize) -> MeterProvider {
    let provider = MeterProvider::builder()
        .with_destination(Destination::remote_write("bench", url).with_max_shards(max_shards))
        .with_push_interval(Duration::from_secs(3600))
        .with_self_metrics(false)
        .with_cardinality_limit(series + 1)
        .build()
        .expect("a provider");
    let counter = provider.meter("bench").u64_counter("requests").build();
    for i in 0..series {
        counter.add(
            1 + i as u64 % 7,
            &[
                KeyValue::new("route", format!("/api/v1/items/{}", i % 1000)),
                KeyValue::new("pod", format!("pod-{}", i / 1000)),
            ],
        );
    }
    provider.force_flush().expect("the first push");
    provider
}

fn delivery(c: &mut Criterion) {
    for delay_ms in [0u64, 10, 100] {
        let endpoint = SlowEndpoint::start(Duration::from_millis(delay_ms));
        let mut group = c.benchmark_group(format!("delivery/{delay_ms}ms"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(5));
        // `cargo test --benches` runs each case once, unoptimized: small pushes there.
        let sizes = if std::env::args().any(|a| a == "--bench") {
            [100_000usize, 1_000_000]
        } else {
            [4_000, 20_000]
        };
        for series in sizes {
            group.throughput(Throughput::Elements(series as u64));
            let requests = series / 2000;
            for (peer, max_shards) in [
                ("shards", Destination::DEFAULT_MAX_SHARDS),
                ("one_shard", 1),
            ] {
                if max_shards == 1 && requests as u64 * delay_ms > 10_000 {
                    continue;
                }
                let provider = pushing(&endpoint.url, series, max_shards);
                endpoint.most_at_once.store(0, Ordering::Relaxed);
                group.bench_function(BenchmarkId::new(peer, series), |b| {
                    b.iter_custom(|pushes| {
                        let started = Instant::now();
                        for _ in 0..pushes {
                            provider.force_flush().expect("delivered");
                        }
                        started.elapsed()
                    })
                });
                eprintln!(
                    "delivery/{delay_ms}ms/{peer}/{series}: at most {} requests at once",
                    endpoint.most_at_once.load(Ordering::Relaxed)
                );
                let _ = provider.shutdown();
            }
        }
        group.finish();
    }
}

criterion_group!(benches, delivery);
criterion_main!(benches);
