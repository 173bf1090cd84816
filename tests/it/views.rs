//! Views through the public API: renamed, re-bucketed and dropped instruments, attribute
//! filters (allow and exclude lists, merged series, bound handles, exemplars), a view's
//! cardinality limit, several streams of one instrument, views that cannot apply, and
//! the same views on push, scrape, observable instruments and the `metrics` facade.

#![cfg(feature = "receiver")]

use std::collections::BTreeMap;

use opentelemetry::KeyValue;
use prompush::receiver::Receiver;
use prompush::snapshot::{MetricData, Number};
use prompush::view::{Aggregation, Instrument, InstrumentKind, Stream};
use prompush::{Attributes, ExemplarFilter, MeterProvider, MeterProviderBuilder, Snapshot};

use crate::loopback::{app_values, next};
use crate::support::logs::LogBuf;
use crate::support::presets::flushed_by_hand;
use crate::support::spans::in_span;

fn kv(k: &'static str, v: &'static str) -> KeyValue {
    KeyValue::new(k, v)
}

fn builder() -> MeterProviderBuilder {
    MeterProvider::builder().with_exemplar_filter(ExemplarFilter::AlwaysOff)
}

/// A view for the instrument `name` only.
fn on(
    name: &'static str,
    stream: impl Fn() -> Stream + Send + Sync + 'static,
) -> impl Fn(&Instrument) -> Option<Stream> + Send + Sync + 'static {
    move |i: &Instrument| (i.name() == name).then(&stream)
}

fn keep(keys: &[&'static str]) -> Stream {
    Stream::builder()
        .with_allowed_attribute_keys(keys.iter().map(|k| (*k).into()))
        .build()
        .expect("valid stream")
}

/// `{k=v,…} → value` of a sum or gauge.
fn values(s: &Snapshot, name: &str) -> BTreeMap<String, Number> {
    let m = s
        .metric(name)
        .unwrap_or_else(|| panic!("{name} missing: {s:#?}"));
    m.data()
        .number_points()
        .iter()
        .map(|p| (labels(p.attributes()), p.value()))
        .collect()
}

fn labels(a: &Attributes) -> String {
    let pairs: Vec<String> = a
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buf = LogBuf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    (out, buf.text())
}

#[test]
fn a_view_renames_rebuckets_and_keeps_one_key_on_the_wire() {
    let mut receiver = Receiver::start().expect("receiver");
    let provider = flushed_by_hand(receiver.url(), "views")
        .with_view(on("http.server.request.duration", || {
            Stream::builder()
                .with_name("request.latency")
                .with_aggregation(Aggregation::ExplicitBucketHistogram {
                    boundaries: vec![0.1, 1.0],
                    record_min_max: true,
                })
                .with_allowed_attribute_keys(["route".into()])
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    let h = provider
        .meter("app")
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        // Advice a view's buckets win over.
        .with_boundaries(vec![5.0, 10.0])
        .build();
    h.record(0.05, &[kv("route", "/a"), kv("user", "u1")]);
    h.record(0.5, &[kv("user", "u2"), kv("route", "/a")]);
    h.record(2.0, &[kv("route", "/b"), kv("user", "u1")]);
    provider.force_flush().expect("flush");
    let got = app_values(&next(&mut receiver));
    let expected: BTreeMap<String, f64> = [
        (
            "request_latency_seconds_bucket{job=views,le=+Inf,route=/a}",
            2.0,
        ),
        (
            "request_latency_seconds_bucket{job=views,le=+Inf,route=/b}",
            1.0,
        ),
        (
            "request_latency_seconds_bucket{job=views,le=0.1,route=/a}",
            1.0,
        ),
        (
            "request_latency_seconds_bucket{job=views,le=0.1,route=/b}",
            0.0,
        ),
        (
            "request_latency_seconds_bucket{job=views,le=1,route=/a}",
            2.0,
        ),
        (
            "request_latency_seconds_bucket{job=views,le=1,route=/b}",
            0.0,
        ),
        ("request_latency_seconds_count{job=views,route=/a}", 2.0),
        ("request_latency_seconds_count{job=views,route=/b}", 1.0),
        ("request_latency_seconds_sum{job=views,route=/a}", 0.55),
        ("request_latency_seconds_sum{job=views,route=/b}", 2.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, expected);
    provider.shutdown().expect("shutdown");
}

#[test]
fn a_drop_view_leaves_nothing_and_an_instrument_without_a_view_is_unchanged() {
    let provider = builder()
        .with_view(on("noisy", || {
            Stream::builder()
                .with_aggregation(Aggregation::Drop)
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    let meter = provider.meter("app");
    let noisy = meter.u64_counter("noisy").build();
    noisy.add(5, &[kv("a", "1")]);
    noisy.bind(&[kv("a", "2")]).add(1);
    meter.u64_counter("quiet").build().add(3, &[kv("a", "1")]);
    let s = provider.collect();
    assert!(s.metric("noisy").is_none(), "{s:#?}");
    assert_eq!(
        values(&s, "quiet"),
        [("{a=1}".into(), Number::U64(3))].into()
    );
    let text = provider.render_metrics(Some("text/plain")).body;
    assert!(!text.contains("noisy"), "{text}");
}

#[test]
fn an_exclude_list_merges_the_sets_that_differ_in_its_keys() {
    let provider = builder()
        .with_view(|_: &Instrument| {
            Stream::builder()
                .with_excluded_attribute_keys(["user".into(), "token".into()])
                .build()
                .ok()
        })
        .build()
        .expect("provider");
    let c = provider.meter("app").u64_counter("requests").build();
    c.add(1, &[kv("route", "/a"), kv("user", "u1"), kv("token", "t1")]);
    c.add(2, &[kv("token", "t2"), kv("route", "/a"), kv("user", "u2")]);
    c.add(4, &[kv("route", "/b")]);
    let s = provider.collect();
    assert_eq!(
        values(&s, "requests"),
        [
            ("{route=/a}".into(), Number::U64(3)),
            ("{route=/b}".into(), Number::U64(4))
        ]
        .into()
    );
}

#[test]
fn a_bound_handle_binds_the_filtered_set() {
    let provider = builder()
        .with_view(on("c", || keep(&["route"])))
        .build()
        .expect("provider");
    let c = provider.meter("app").u64_counter("c").build();
    let bound = c.bind(&[kv("route", "/a"), kv("user", "u1")]);
    bound.add(10);
    c.add(1, &[kv("user", "u2"), kv("route", "/a")]);
    let s = provider.collect();
    assert_eq!(
        values(&s, "c"),
        [("{route=/a}".into(), Number::U64(11))].into()
    );
}

#[test]
fn a_views_cardinality_limit_sends_new_sets_to_the_overflow_series() {
    let provider = builder()
        .with_view(on("c", || {
            Stream::builder()
                .with_cardinality_limit(3)
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    let meter = provider.meter("app");
    let c = meter.u64_counter("c").build();
    let other = meter.u64_counter("other").build();
    for i in 0..10i64 {
        c.add(1, &[KeyValue::new("i", i)]);
        other.add(1, &[KeyValue::new("i", i)]);
    }
    let s = provider.collect();
    // The limit's 3 sets, then the overflow series with the other 7 measurements.
    assert_eq!(
        values(&s, "c"),
        [
            ("{i=0}".into(), Number::U64(1)),
            ("{i=1}".into(), Number::U64(1)),
            ("{i=2}".into(), Number::U64(1)),
            ("{otel.metric.overflow=true}".into(), Number::U64(7)),
        ]
        .into()
    );
    // The provider's limit (2000) for the instrument the view does not select.
    assert_eq!(
        s.metric("other")
            .expect("other")
            .data()
            .number_points()
            .len(),
        10
    );
}

#[test]
fn every_matching_view_yields_a_stream_and_bound_handles_record_into_each() {
    let provider = builder()
        .with_view(on("requests", || keep(&["route"])))
        .with_view(on("requests", || {
            Stream::builder()
                .with_name("requests.by_user")
                .with_allowed_attribute_keys(["user".into()])
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    let c = provider.meter("app").u64_counter("requests").build();
    c.add(1, &[kv("route", "/a"), kv("user", "u1")]);
    c.bind(&[kv("route", "/b"), kv("user", "u1")]).add(2);
    let s = provider.collect();
    assert_eq!(
        values(&s, "requests"),
        [
            ("{route=/a}".into(), Number::U64(1)),
            ("{route=/b}".into(), Number::U64(2))
        ]
        .into()
    );
    assert_eq!(
        values(&s, "requests.by_user"),
        [("{user=u1}".into(), Number::U64(3))].into()
    );
}

#[test]
fn a_view_the_kind_does_not_allow_is_warned_about_and_ignored_while_others_apply() {
    let (provider, logs) = capture_logs(|| {
        let provider = builder()
            .with_view(|i: &Instrument| {
                (i.kind() == InstrumentKind::ObservableGauge).then(|| {
                    Stream::builder()
                        .with_aggregation(Aggregation::Base2ExponentialHistogram {
                            max_size: 160,
                            max_scale: 20,
                            record_min_max: true,
                        })
                        .build()
                        .ok()
                })?
            })
            .with_view(on("temperature", || keep(&[])))
            .build()
            .expect("provider");
        let _gauge = provider
            .meter("app")
            .f64_observable_gauge("temperature")
            .with_callback(|o| o.observe(21.5, &[kv("room", "a")]))
            .build();
        provider
    });
    assert_eq!(
        logs.matches("does not allow").count(),
        1,
        "warned once: {logs}"
    );
    let s = provider.collect();
    assert_eq!(
        values(&s, "temperature"),
        [("{}".into(), Number::F64(21.5))].into()
    );
}

#[test]
fn observable_sums_of_merged_sets_add_up_and_a_gauge_may_be_summed() {
    let provider = builder()
        .with_view(on("bytes", || keep(&["dir"])))
        .with_view(on("queue.depth", || {
            Stream::builder()
                .with_aggregation(Aggregation::Sum)
                .with_allowed_attribute_keys([])
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    let meter = provider.meter("app");
    let _bytes = meter
        .u64_observable_counter("bytes")
        .with_callback(|o| {
            o.observe(10, &[kv("dir", "in"), kv("nic", "eth0")]);
            o.observe(5, &[kv("dir", "in"), kv("nic", "eth1")]);
            // Reported again: the last value of a set wins, as without a view.
            o.observe(7, &[kv("dir", "in"), kv("nic", "eth1")]);
            o.observe(1, &[kv("dir", "out"), kv("nic", "eth0")]);
        })
        .build();
    let _depth = meter
        .i64_observable_gauge("queue.depth")
        .with_callback(|o| {
            o.observe(3, &[kv("queue", "a")]);
            o.observe(4, &[kv("queue", "b")]);
        })
        .build();
    let s = provider.collect();
    assert_eq!(
        values(&s, "bytes"),
        [
            ("{dir=in}".into(), Number::U64(17)),
            ("{dir=out}".into(), Number::U64(1))
        ]
        .into()
    );
    let depth = s.metric("queue.depth").expect("depth");
    assert!(matches!(
        depth.data(),
        MetricData::Sum {
            monotonic: false,
            ..
        }
    ));
    assert_eq!(
        values(&s, "queue.depth"),
        [("{}".into(), Number::I64(7))].into()
    );
}

#[test]
fn dropped_keys_appear_nowhere_in_a_scrape_exemplars_included() {
    let provider = MeterProvider::builder()
        .with_exemplar_filter(ExemplarFilter::AlwaysOn)
        .with_view(|_: &Instrument| {
            Stream::builder()
                .with_excluded_attribute_keys(["token".into()])
                .build()
                .ok()
        })
        .build()
        .expect("provider");
    let meter = provider.meter("app");
    let c = meter.u64_counter("logins").build();
    let h = meter
        .f64_histogram("login.duration")
        .with_boundaries(vec![1.0])
        .build();
    in_span(true, || {
        c.add(1, &[kv("token", "s3cr3t"), kv("realm", "a")]);
        h.record(0.5, &[kv("token", "s3cr3t"), kv("realm", "a")]);
    });
    let s = provider.collect();
    let point = &s.metric("logins").expect("logins").data().number_points()[0];
    assert_eq!(point.exemplars().len(), 1);
    assert!(point.exemplars()[0].filtered_attributes().is_empty());
    let text = provider
        .render_metrics(Some("application/openmetrics-text; version=1.0.0"))
        .body;
    assert!(text.contains("# {"), "exemplars are rendered: {text}");
    assert!(
        !text.contains("token") && !text.contains("s3cr3t"),
        "{text}"
    );
}

#[test]
fn streams_that_end_up_with_one_name_are_kept_and_warned_about() {
    let (provider, logs) = capture_logs(|| {
        let provider = builder()
            .with_view(on("b", || {
                Stream::builder()
                    .with_name("a")
                    .build()
                    .expect("valid stream")
            }))
            .build()
            .expect("provider");
        let meter = provider.meter("app");
        meter.u64_counter("a").build().add(1, &[kv("from", "a")]);
        meter.u64_counter("b").build().add(2, &[kv("from", "b")]);
        provider
    });
    assert_eq!(logs.matches("two streams of one name").count(), 1, "{logs}");
    let s = provider.collect();
    assert_eq!(
        s.metrics().filter(|m| m.descriptor().name() == "a").count(),
        2
    );
    let text = provider.render_metrics(Some("text/plain")).body;
    assert!(text.contains("a_total{from=\"a\""), "{text}");
    assert!(text.contains("a_total{from=\"b\""), "{text}");
}

#[test]
fn a_stream_name_is_not_held_to_the_instrument_name_syntax() {
    let provider = builder()
        .with_view(on("c", || {
            Stream::builder()
                .with_name("9 lives/€")
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    provider.meter("app").u64_counter("c").build().add(1, &[]);
    let s = provider.collect();
    assert_eq!(
        values(&s, "9 lives/€"),
        [("{}".into(), Number::U64(1))].into()
    );
}

#[cfg(feature = "metrics")]
#[test]
fn views_reach_the_metrics_facade_whose_histograms_default_to_buckets_for_seconds() {
    let provider = builder()
        .with_view(on("jobs", || keep(&["queue"])))
        .with_view(on("job.duration", || {
            Stream::builder()
                .with_aggregation(Aggregation::ExplicitBucketHistogram {
                    boundaries: vec![1.0],
                    record_min_max: true,
                })
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    let recorder = provider.metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("jobs", "queue" => "mail", "host" => "a").increment(2);
        metrics::counter!("jobs", "queue" => "mail", "host" => "b").increment(3);
        metrics::histogram!("job.duration").record(0.5);
        metrics::histogram!("wait").record(0.3);
    });
    let s = provider.collect();
    assert_eq!(
        values(&s, "jobs"),
        [("{queue=mail}".into(), Number::U64(5))].into()
    );
    let buckets = |name: &str| match s.metric(name).expect(name).data() {
        MetricData::Histogram { bounds, .. } => bounds.to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(buckets("job.duration"), [1.0]);
    assert_eq!(
        buckets("wait"),
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    );
}

#[cfg(feature = "custom-metrics")]
#[test]
fn a_custom_metrics_base_is_matched_after_the_views_rename() {
    use prompush::custom::CustomMetric;
    use prompush::Destination;

    let mut receiver = Receiver::start().expect("receiver");
    let provider = builder()
        .with_resource(crate::support::presets::service_named("shop"))
        .with_push_interval(crate::support::presets::HOUR)
        .with_self_metrics(false)
        .with_destination(Destination::remote_write("metrics_api", receiver.url()))
        .with_view(on("sessions", || {
            Stream::builder()
                .with_name("visits")
                .with_excluded_attribute_keys(["user".into()])
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    for (name, base) in [("by_old_name", "sessions"), ("by_new_name", "visits")] {
        let definition = CustomMetric::new(name, base)
            .with_destinations(["metrics_api"])
            .with_group_by(["tier"]);
        provider
            .create_custom_metric(definition)
            .expect("valid definition");
    }
    let sessions = provider.meter("app").u64_counter("sessions").build();
    sessions.add(2, &[kv("tier", "gold"), kv("user", "u1")]);
    sessions.add(3, &[kv("tier", "gold"), kv("user", "u2")]);
    provider.force_flush().expect("flush");
    let got: BTreeMap<String, f64> = crate::loopback::drain(&mut receiver)
        .iter()
        .flat_map(|r| crate::loopback::values_where(r, |s| s.name.starts_with("by_")))
        .collect();
    assert_eq!(
        got,
        BTreeMap::from([("by_new_name_total{job=shop,tier=gold}".to_owned(), 5.0)])
    );
    provider.shutdown().expect("shutdown");
}

#[test]
fn record_min_max_false_leaves_them_out_of_the_points() {
    let provider = builder()
        .with_view(on("h", || {
            Stream::builder()
                .with_aggregation(Aggregation::ExplicitBucketHistogram {
                    boundaries: vec![1.0],
                    record_min_max: false,
                })
                .build()
                .expect("valid stream")
        }))
        .build()
        .expect("provider");
    let meter = provider.meter("app");
    meter.f64_histogram("h").build().record(0.5, &[]);
    meter.f64_histogram("other").build().record(0.5, &[]);
    let s = provider.collect();
    let h = &s.metric("h").expect("h").data().histogram_points()[0];
    assert_eq!((h.min(), h.max(), h.count()), (None, None, 1));
    let other = &s.metric("other").expect("other").data().histogram_points()[0];
    assert_eq!((other.min(), other.max()), (Some(0.5), Some(0.5)));
}
