//! A real Prometheus (3, and 2.42 for the differences) scraping the built-in endpoint, once
//! per format: every instrument kind stored with its exact value, and the OpenMetrics
//! exemplars with their trace ids; Prometheus 3 stores integral `le` values normalised
//! (`le="1.0"`, [`Kind::scraped_le`]), 2.42 as exposed. `promtool check metrics` (3 and
//! 2.42) reading the text format without a parse error; the reference strict OpenMetrics
//! parser accepting the other, exemplars included; Prometheus 3 storing the dotted
//! OpenTelemetry name a UTF-8 strategy serves, and each escaping it asks for. Run with
//! `scripts/test`, or `cargo test --test real scrape:: -- --include-ignored` when the
//! servers are on `PATH`.

#![cfg(all(feature = "scrape", feature = "receiver"))]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;
use prompush::{ExemplarFilter, MeterProvider};

use crate::servers::kind::peer_binary;
use crate::servers::stored::wait_for_exemplars;
use crate::servers::{single_value, Kind, Server};
use crate::support::presets::shutdown;
use crate::support::spans::{in_span, SPAN_ID_HEX, TRACE_ID_HEX};

/// Prometheus hands new targets to its scrapers every 5 s, then scrapes each second.
const STORED_WITHIN: Duration = Duration::from_secs(30);

/// Every instrument kind, each measurement an exemplar: the order and the two lower
/// latencies in a sampled span, the rest outside any (an exemplar without labels).
fn recorded_provider() -> MeterProvider {
    let provider = MeterProvider::builder()
        .with_scrape_endpoint("127.0.0.1:0")
        .with_exemplar_filter(ExemplarFilter::AlwaysOn)
        .build()
        .expect("provider");
    let meter = provider.meter("shop");
    let cart = [KeyValue::new("http.route", "/cart")];
    let orders = meter.u64_counter("orders").build();
    in_span(true, || orders.add(7, &cart));
    meter.f64_gauge("temperature").build().record(-3.5, &[]);
    meter.i64_up_down_counter("queue").build().add(-4, &[]);
    let latency = meter
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    in_span(true, || {
        latency.record(0.05, &cart);
        latency.record(0.5, &cart);
    });
    latency.record(2.0, &cart);
    // The callback stays registered when the handle is dropped, as in the SDK.
    meter
        .u64_observable_counter("ticks")
        .with_callback(|o| o.observe(42, &[KeyValue::new("odd", "quote\" back\\slash")]))
        .build();
    provider
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_3_stores_exact_values_scraped_in_both_formats() {
    exact_values_scraped_in_both_formats(Kind::Prometheus3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus 2.42; run scripts/test"]
async fn prometheus_2_42_stores_exact_values_scraped_in_both_formats() {
    exact_values_scraped_in_both_formats(Kind::Prometheus2_42).await;
}

async fn exact_values_scraped_in_both_formats(kind: Kind) {
    let provider = recorded_provider();
    let target = provider.scrape_addr().expect("listening").to_string();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: openmetrics\n  static_configs:\n  - targets: ['{target}']\n\
         - job_name: text\n  params:\n    format: ['text']\n  static_configs:\n  - targets: ['{target}']\n"
    );
    let prometheus = Server::builder(kind)
        .prometheus_yml(&config)
        .feature("exemplar-storage")
        .start()
        .await;
    let le_1 = format!(
        r#"latency_seconds_bucket{{le="{}",http_route="/cart"}}"#,
        kind.scraped_le("1")
    );
    #[rustfmt::skip]
    let expected: [(&str, f64); 10] = [
        (r#"up"#, 1.0),
        (r#"orders_total{http_route="/cart",otel_scope_name="shop"}"#, 7.0),
        (r#"temperature{otel_scope_name="shop"}"#, -3.5),
        (r#"queue{otel_scope_name="shop"}"#, -4.0),
        (r#"latency_seconds_bucket{le="0.1",http_route="/cart"}"#, 1.0),
        (&le_1, 2.0),
        (r#"latency_seconds_bucket{le="+Inf",http_route="/cart"}"#, 3.0),
        (r#"latency_seconds_sum{http_route="/cart"}"#, 2.55),
        (r#"latency_seconds_count{http_route="/cart"}"#, 3.0),
        (r#"ticks_total{odd="quote\" back\\slash"}"#, 42.0),
    ];
    for job in ["openmetrics", "text"] {
        for (selector, want) in expected {
            let query = match selector.find('{') {
                Some(i) => format!("{}{{job=\"{job}\",{}", &selector[..i], &selector[i + 1..]),
                None => format!("{selector}{{job=\"{job}\"}}"),
            };
            let result = prometheus
                .wait_for(&query, |r| single_value(r).is_some(), STORED_WITHIN)
                .await;
            assert_eq!(single_value(&result), Some(want), "{query}: {result}");
        }
        // The scraper's own job and instance, no exported_ copies of ours.
        let info = prometheus
            .series(&format!("target_info{{job=\"{job}\"}}"))
            .await;
        assert_eq!(info.len(), 1, "{info:?}");
        assert_eq!(info[0].get("instance"), Some(&target));
        assert!(info[0].contains_key("service_name"), "{info:?}");
        assert!(
            !info[0].keys().any(|k| k.starts_with("exported_")),
            "{info:?}"
        );
    }
    // Exemplars come in OpenMetrics only, with the ids of the span they were made in.
    let times = exemplar_times(&provider).map(as_prometheus_reads);
    let traced = |value: f64, time_ms: i64| {
        let ids = [("span_id", SPAN_ID_HEX), ("trace_id", TRACE_ID_HEX)];
        let labels = ids.map(|(n, v)| (n.to_owned(), v.to_owned())).into();
        (labels, value, time_ms)
    };
    let le_1 = format!(
        r#"latency_seconds_bucket{{job="openmetrics",le="{}"}}"#,
        kind.scraped_le("1")
    );
    for (selector, want) in [
        (r#"orders_total{job="openmetrics"}"#, traced(7.0, times[0])),
        (
            r#"latency_seconds_bucket{job="openmetrics",le="0.1"}"#,
            traced(0.05, times[1]),
        ),
        (&le_1, traced(0.5, times[2])),
    ] {
        let stored = wait_for_exemplars(&prometheus, selector).await;
        let got: Vec<_> = stored
            .iter()
            .map(|e| {
                (
                    e.labels.clone(),
                    e.value,
                    (e.timestamp * 1000.0).round() as i64,
                )
            })
            .collect();
        assert_eq!(got, [want], "{selector}");
    }
    let text_job = prometheus
        .exemplars(r#"{job="text",__name__=~"orders_total|latency_seconds_bucket"}"#)
        .await;
    assert_eq!(text_job, serde_json::json!([]));
    shutdown(&provider).await.expect("shutdown");
}

/// The times of the exemplars [`recorded_provider`] holds: the order's, then the
/// latencies' (0.05, 0.5, 2.0).
fn exemplar_times(provider: &MeterProvider) -> [SystemTime; 4] {
    let snapshot = provider.collect();
    let data = |name: &str| snapshot.metric(name).expect("recorded").data();
    let order = &data("orders").number_points()[0].exemplars();
    let latency = &data("latency").histogram_points()[0].exemplars();
    [
        order[0].time(),
        latency[0].time(),
        latency[1].time(),
        latency[2].time(),
    ]
}

/// `time` in milliseconds as Prometheus reads it from the exposition: seconds to the
/// nanosecond, parsed as a float64, times 1000, truncated.
fn as_prometheus_reads(time: SystemTime) -> i64 {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds: f64 = format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
        .parse()
        .unwrap_or_default();
    (seconds * 1000.0) as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs promtool 3 (scripts/build-peers); run scripts/test"]
async fn promtool_3_parses_the_text_format_without_error() {
    let promtool = peer_binary("PROMTOOL3_BIN");
    promtool_parses_the_text_format_without_error(&promtool.to_string_lossy()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs promtool 2.42 (Debian prometheus); run scripts/test"]
async fn promtool_2_42_parses_the_text_format_without_error() {
    let promtool = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "promtool".into());
    promtool_parses_the_text_format_without_error(&promtool).await;
}

async fn promtool_parses_the_text_format_without_error(promtool: &str) {
    let provider = recorded_provider();
    let body = provider.render_metrics(Some("text/plain")).body;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {promtool} ({e}); scripts/test installs it"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Lint remarks on names are the user's choice; a parse error is ours. promtool
    // exits 0 when clean, 3 with lint findings only, 1 on a parse error.
    assert!(
        matches!(output.status.code(), Some(0 | 3)),
        "promtool exited with {}: {said}\n---\n{body}",
        output.status
    );
    assert!(!said.contains("error while linting"), "{said}\n---\n{body}");
    assert!(
        !said.to_lowercase().contains("parsing error"),
        "{said}\n---\n{body}"
    );
    shutdown(&provider).await.expect("shutdown");
}

/// Parses OpenMetrics text from stdin with the reference client's strict parser and
/// prints each family's name, type and sample count, then each exemplar: its sample's
/// name and `le`, value, timestamp (seconds and nanoseconds) and labels.
const STRICT_OPENMETRICS: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print(family.name, family.type, len(family.samples))
    for s in family.samples:
        e = s.exemplar
        if e:
            ts = e.timestamp
            print("exemplar", s.name, s.labels.get("le", "-"), float(e.value), ts.sec, ts.nsec,
                  json.dumps(e.labels, sort_keys=True, separators=(",", ":")))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with prometheus_client; run scripts/test"]
async fn the_reference_strict_parser_accepts_the_openmetrics_output() {
    let provider = recorded_provider();
    let body = provider
        .render_metrics(Some("application/openmetrics-text; version=1.0.0"))
        .body;
    let mut child = Command::new("python3")
        .args(["-c", STRICT_OPENMETRICS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test installs prometheus_client)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to the parser");
    let output = child.wait_with_output().expect("the parser ran");
    let families = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n---\n{body}",
        String::from_utf8_lossy(&output.stderr)
    );
    for want in [
        "target info 1",
        "orders counter 1",
        "temperature gauge 1",
        "queue gauge 1",
        "latency_seconds histogram 5",
        "ticks counter 1",
    ] {
        assert!(
            families.lines().any(|l| l == want),
            "{want:?} in\n{families}"
        );
    }
    // One exemplar per counter total and bucket, none on gauges, sums or counts.
    let times = exemplar_times(&provider);
    let ids = format!(r#"{{"span_id":"{SPAN_ID_HEX}","trace_id":"{TRACE_ID_HEX}"}}"#);
    let exemplar = |sample: &str, le: &str, value: f64, time: SystemTime, labels: &str| {
        let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
        format!("exemplar {sample} {le} {value:?} {secs} {nanos} {labels}")
    };
    let bucket = "latency_seconds_bucket";
    let want = [
        exemplar("orders_total", "-", 7.0, times[0], &ids),
        exemplar(bucket, "0.1", 0.05, times[1], &ids),
        exemplar(bucket, "1", 0.5, times[2], &ids),
        exemplar(bucket, "+Inf", 2.0, times[3], "{}"),
    ];
    let got: Vec<&str> = families
        .lines()
        .filter(|l| l.starts_with("exemplar "))
        .collect();
    assert_eq!(got, want, "{body}");
    shutdown(&provider).await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3; run scripts/test"]
async fn prometheus_3_stores_the_dotted_name_of_a_utf8_strategy_and_escaped_names_otherwise() {
    let provider = |translation| {
        let provider = MeterProvider::builder()
            .with_scrape_endpoint("127.0.0.1:0")
            .with_scrape_name_translation(translation)
            .build()
            .expect("provider");
        let cart = [KeyValue::new("http.route", "/cart")];
        provider
            .meter("shop")
            .u64_counter("shop.orders")
            .build()
            .add(7, &cart);
        provider
    };
    let utf8 = provider(prompush::NameTranslation::NoUTF8EscapingWithSuffixes);
    let default = provider(prompush::NameTranslation::default());
    let target = |p: &MeterProvider| p.scrape_addr().expect("listening").to_string();
    let (utf8_target, default_target) = (target(&utf8), target(&default));
    // Prometheus 3 asks for `escaping=allow-utf-8` unless told another scheme.
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         - job_name: utf8\n  static_configs:\n  - targets: ['{utf8_target}']\n\
         - job_name: dots\n  metric_name_escaping_scheme: dots\n  static_configs:\n  - targets: ['{utf8_target}']\n\
         - job_name: default\n  static_configs:\n  - targets: ['{default_target}']\n"
    );
    let prometheus = Server::builder(Kind::Prometheus3)
        .prometheus_yml(&config)
        .start()
        .await;
    for query in [
        r#"{"shop.orders_total",job="utf8","http.route"="/cart",otel_scope_name="shop"}"#,
        r#"shop_dot_orders__total{job="dots",http_dot_route="/cart",otel_scope_name="shop"}"#,
        r#"shop_orders_total{job="default",http_route="/cart",otel_scope_name="shop"}"#,
    ] {
        let result = prometheus
            .wait_for(query, |r| single_value(r).is_some(), STORED_WITHIN)
            .await;
        assert_eq!(single_value(&result), Some(7.0), "{query}: {result}");
    }
    // Each job stored only its own spelling.
    for (job, name) in [
        ("utf8", "shop.orders_total"),
        ("default", "shop_orders_total"),
    ] {
        let names = prometheus
            .series(&format!(r#"{{job="{job}",__name__=~"shop.*"}}"#))
            .await;
        let names: Vec<_> = names.iter().filter_map(|s| s.get("__name__")).collect();
        assert_eq!(names, [name], "{job}");
    }
    shutdown(&utf8).await.expect("shutdown");
    shutdown(&default).await.expect("shutdown");
}
