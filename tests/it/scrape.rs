//! The built-in scrape endpoint over loopback: both formats as the scraper's `Accept`
//! asks, gzip, 404 and 405, scrapes that arrive together, pull next to push, and
//! exemplars at every OpenMetrics scrape.

#![cfg(all(feature = "scrape", feature = "receiver"))]

use std::io::Read as _;
use std::time::Duration;

use opentelemetry::KeyValue;
use prompush::receiver::Receiver;
use prompush::MeterProvider;

use crate::support::presets::{flush, shutdown};
use crate::support::spans::{in_span, SPAN_ID_HEX, TRACE_ID_HEX};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn scraped() -> (MeterProvider, String) {
    let provider = MeterProvider::builder()
        .with_scrape_endpoint("127.0.0.1:0")
        .build()
        .expect("provider");
    let addr = provider.scrape_addr().expect("listening");
    (provider, format!("http://{addr}/metrics"))
}

/// A provider that pushes to `receiver` when flushed, and serves scrapes.
fn pushed_and_scraped(receiver: &Receiver) -> (MeterProvider, String) {
    let provider = MeterProvider::builder()
        .with_endpoint(receiver.url())
        .with_self_metrics(false)
        .with_push_interval(Duration::from_secs(3600))
        .with_scrape_endpoint("127.0.0.1:0")
        .build()
        .expect("provider");
    let addr = provider.scrape_addr().expect("listening");
    (provider, format!("http://{addr}/metrics"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_format_as_the_accept_header_asks_with_exact_values() {
    let (provider, url) = scraped();
    let meter = provider.meter("shop");
    let route = [KeyValue::new("http.route", "/cart")];
    meter.u64_counter("orders").build().add(7, &route);
    meter
        .f64_gauge("temperature")
        .with_unit("Cel")
        .build()
        .record(-3.5, &[]);
    meter.i64_up_down_counter("queue").build().add(5, &[]);
    let h = meter
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    for v in [0.05, 0.5, 2.0] {
        h.record(v, &route);
    }

    let text = client()
        .get(&url)
        .header("Accept", "text/plain;version=0.0.4")
        .send()
        .await
        .expect("scrape");
    assert_eq!(text.status(), 200);
    assert_eq!(
        text.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
    );
    let body = text.text().await.expect("body");
    for line in [
        "# TYPE orders_total counter",
        "orders_total{http_route=\"/cart\",otel_scope_name=\"shop\"} 7",
        "temperature_celsius{otel_scope_name=\"shop\"} -3.5",
        "queue{otel_scope_name=\"shop\"} 5",
        "latency_seconds_bucket{http_route=\"/cart\",le=\"0.1\",otel_scope_name=\"shop\"} 1",
        "latency_seconds_bucket{http_route=\"/cart\",le=\"1\",otel_scope_name=\"shop\"} 2",
        "latency_seconds_bucket{http_route=\"/cart\",le=\"+Inf\",otel_scope_name=\"shop\"} 3",
        "latency_seconds_sum{http_route=\"/cart\",otel_scope_name=\"shop\"} 2.55",
        "latency_seconds_count{http_route=\"/cart\",otel_scope_name=\"shop\"} 3",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "{line:?} missing in\n{body}"
        );
    }
    assert!(
        !body.contains("job=") && !body.contains("instance="),
        "{body}"
    );
    assert!(!body.contains("# EOF"), "{body}");

    let om = client()
        .get(&url)
        .header("Accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .expect("scrape");
    assert_eq!(
        om.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
    );
    let body = om.text().await.expect("body");
    assert!(body.lines().any(|l| l == "# TYPE orders counter"), "{body}");
    assert!(body.lines().any(|l| l == "# TYPE target info"), "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");

    let forced = client()
        .get(format!("{url}?format=text"))
        .header("Accept", PROMETHEUS_ACCEPT)
        .send()
        .await
        .expect("scrape");
    assert!(forced
        .text()
        .await
        .expect("body")
        .contains("# TYPE orders_total counter"));
    shutdown(&provider).await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_when_asked_and_other_paths_and_methods_are_refused() {
    let (provider, url) = scraped();
    provider.meter("m").u64_counter("hits").build().add(1, &[]);
    let zipped = client()
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("scrape");
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let bytes = zipped.bytes().await.expect("body");
    let mut body = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut body)
        .expect("gzip");
    assert!(
        body.contains("hits_total{otel_scope_name=\"m\"} 1\n"),
        "{body}"
    );

    let base = url.trim_end_matches("/metrics");
    assert_eq!(
        client()
            .get(format!("{base}/"))
            .send()
            .await
            .expect("GET /")
            .status(),
        404
    );
    assert_eq!(
        client().post(&url).send().await.expect("POST").status(),
        405
    );
    shutdown(&provider).await.expect("shutdown");
    assert!(provider.scrape_addr().is_none());
    assert!(
        client().get(&url).send().await.is_err(),
        "still serving after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_that_arrive_together_share_one_collection() {
    let (provider, url) = scraped();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let _gauge = provider
        .meter("m")
        .u64_observable_gauge("callbacks")
        .with_callback(move |o| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Slow enough that the other scrapers arrive meanwhile.
            std::thread::sleep(Duration::from_millis(200));
            o.observe(1, &[]);
        })
        .build();
    let scrapers: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(
                async move { client().get(&url).send().await.map(|r| r.status().as_u16()) },
            )
        })
        .collect();
    for s in scrapers {
        assert_eq!(s.await.expect("scraper").expect("scrape"), 200);
    }
    let collections = calls.load(std::sync::atomic::Ordering::SeqCst);
    assert!(collections < 8, "8 scrapes made {collections} collections");
    shutdown(&provider).await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_goes_on_unchanged_while_scraped() {
    let mut receiver = Receiver::bind().await.expect("receiver");
    let (provider, url) = pushed_and_scraped(&receiver);
    let c = provider.meter("m").u64_counter("jobs").build();
    c.add(2, &[]);
    for _ in 0..3 {
        assert!(client()
            .get(&url)
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("body")
            .contains("jobs_total{otel_scope_name=\"m\"} 2"));
    }
    c.add(1, &[]);
    flush(&provider).await.expect("push");
    let pushed = receiver
        .recv_timeout(Duration::from_secs(10))
        .await
        .expect("a push");
    let jobs = pushed
        .request
        .series
        .iter()
        .find(|s| s.name == "jobs_total")
        .expect("jobs pushed");
    assert_eq!(jobs.samples.last().map(|s| s.value), Some(3.0));
    // Pushed series keep job/instance-style resource labels; the scrape does not add them.
    assert!(jobs.label("instance").is_some());
    shutdown(&provider).await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_address_is_a_build_error_that_says_so() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let error = MeterProvider::builder()
        .with_scrape_endpoint(&addr)
        .build()
        .expect_err("taken");
    assert!(error.to_string().contains("cannot listen there"), "{error}");
    let error = MeterProvider::builder()
        .with_scrape_endpoint("localhost")
        .build()
        .expect_err("no port");
    assert!(error.to_string().contains("127.0.0.1:9464"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_openmetrics_scrape_shows_the_exemplars_and_a_push_still_sends_each_once() {
    let mut receiver = Receiver::bind().await.expect("receiver");
    let (provider, url) = pushed_and_scraped(&receiver);
    let meter = provider.meter("m");
    let jobs = meter.u64_counter("jobs").build();
    let latency = meter
        .f64_histogram("latency")
        .with_boundaries(vec![1.0])
        .build();
    in_span(true, || {
        jobs.add(2, &[]);
        latency.record(0.5, &[]);
        latency.record(3.0, &[]);
    });
    meter.f64_gauge("load").build().record(0.7, &[]);
    let ids = format!(r#"{{trace_id="{TRACE_ID_HEX}",span_id="{SPAN_ID_HEX}"}}"#);
    let scrape = |accept: &'static str| {
        let url = url.clone();
        async move {
            let response = client().get(&url).header("Accept", accept).send().await;
            response.expect("scrape").text().await.expect("body")
        }
    };
    // Two scrapers (an HA pair) each see every exemplar.
    let first = scrape(PROMETHEUS_ACCEPT).await;
    let second = scrape(PROMETHEUS_ACCEPT).await;
    for (series, value) in [
        (r#"jobs_total{otel_scope_name="m"} 2"#, "2"),
        (r#"latency_bucket{le="1",otel_scope_name="m"} 1"#, "0.5"),
        (r#"latency_bucket{le="+Inf",otel_scope_name="m"} 2"#, "3"),
    ] {
        let prefix = format!("{series} # {ids} {value} ");
        for body in [&first, &second] {
            let line = body.lines().find(|l| l.starts_with(&prefix));
            let seconds = line.and_then(|l| l[prefix.len()..].parse::<f64>().ok());
            assert!(seconds.is_some_and(|s| s > 1e9), "{prefix:?} in\n{body}");
        }
    }
    assert_eq!(first, second);
    for body in [&first, &second] {
        assert!(
            body.contains("\nload{otel_scope_name=\"m\"} 0.7\n"),
            "{body}"
        );
        assert_eq!(body.matches(" # {").count(), 3, "{body}");
    }
    assert!(!scrape("text/plain").await.contains(" # {"));

    // The push sends each exemplar once, scrapes or not.
    flush(&provider).await.expect("push");
    let pushed = receiver
        .recv_timeout(Duration::from_secs(10))
        .await
        .expect("a push");
    let sent = |name: &str| -> usize {
        let series = pushed.request.series.iter().filter(|s| s.name == name);
        series.map(|s| s.exemplars.len()).sum()
    };
    assert_eq!((sent("jobs_total"), sent("latency_bucket")), (1, 2));
    scrape(PROMETHEUS_ACCEPT).await;
    flush(&provider).await.expect("push");
    let again = receiver
        .recv_timeout(Duration::from_secs(10))
        .await
        .expect("a push");
    assert!(again.request.series.iter().all(|s| s.exemplars.is_empty()));
    assert_eq!(scrape(PROMETHEUS_ACCEPT).await, first);
    shutdown(&provider).await.expect("shutdown");
}

/// What Prometheus 3 sends by default: UTF-8 names on OpenMetrics and text 1.0.0.
const PROMETHEUS3_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_utf8_strategy_keeps_dotted_names_only_for_a_scraper_that_allows_them() {
    let provider = MeterProvider::builder()
        .with_scrape_endpoint("127.0.0.1:0")
        .with_scrape_name_translation(prompush::NameTranslation::NoUTF8EscapingWithSuffixes)
        .build()
        .expect("provider");
    let url = format!(
        "http://{}/metrics",
        provider.scrape_addr().expect("listening")
    );
    let route = [KeyValue::new("http.route", "/cart")];
    provider
        .meter("shop")
        .u64_counter("shop.orders")
        .build()
        .add(7, &route);

    // (Accept, Content-Type, the counter's line)
    let cases = [
        (
            PROMETHEUS3_ACCEPT,
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            "{\"shop.orders_total\",\"http.route\"=\"/cart\",otel_scope_name=\"shop\"} 7",
        ),
        (
            "text/plain;version=1.0.0;escaping=allow-utf-8",
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            "{\"shop.orders_total\",\"http.route\"=\"/cart\",otel_scope_name=\"shop\"} 7",
        ),
        (
            PROMETHEUS_ACCEPT,
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
            "shop_orders_total{http_route=\"/cart\",otel_scope_name=\"shop\"} 7",
        ),
        (
            "text/plain;version=1.0.0;escaping=dots",
            "text/plain; version=0.0.4; charset=utf-8; escaping=dots",
            "shop_dot_orders__total{http_dot_route=\"/cart\",otel_scope_name=\"shop\"} 7",
        ),
        (
            "text/plain;version=1.0.0;escaping=values",
            "text/plain; version=0.0.4; charset=utf-8; escaping=values",
            "U__shop_2e_orders__total{U__http_2e_route=\"/cart\",otel_scope_name=\"shop\"} 7",
        ),
    ];
    for (accept, content_type, line) in cases {
        let response = client()
            .get(&url)
            .header("Accept", accept)
            .send()
            .await
            .expect("scrape");
        assert_eq!(response.headers()["content-type"], content_type, "{accept}");
        let body = response.text().await.expect("body");
        assert!(
            body.lines().any(|l| l == line),
            "{line:?} missing in\n{body}"
        );
    }
    shutdown(&provider).await.expect("shutdown");
}
