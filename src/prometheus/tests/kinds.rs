//! Each instrument kind translated: its Prometheus name (suffixes, units), its series
//! and values, and its metadata (type, unit, help), described once per family.

use opentelemetry::{InstrumentationScope, KeyValue};

use super::*;

#[test]
fn a_counter_gets_total_job_instance_and_its_time() {
    let snap = snapshot(
        service(),
        vec![metric(
            1,
            "MyCounter",
            "1",
            InstrumentKind::Counter,
            sum(
                true,
                vec![number(&[KeyValue::new("method", "GET")], Number::U64(7))],
            ),
        )],
    );
    let c = translate(&snap);
    assert_eq!(
        exposition_timed(&c),
        [
            r#"target_info{host_name="h1",instance="pod-1",job="shop/checkout",k8s_pod_uid="42"} 1 1700000000124"#,
            r#"MyCounter_total{instance="pod-1",job="shop/checkout",method="GET",otel_scope_name="test"} 7 1700000000123"#,
        ]
    );
    assert_eq!(
        metadata(&c),
        [
            r#"target_info gauge "" "Target metadata""#,
            r#"MyCounter_total counter "" "about MyCounter""#,
        ]
    );
}

#[test]
fn each_kind_gets_its_type_and_unit_and_a_metric_without_points_gets_nothing() {
    let p = || vec![number(&[], Number::I64(3))];
    let gauge = || MetricData::Gauge { points: p() };
    use InstrumentKind::*;
    #[rustfmt::skip]
    let metrics = vec![
        metric(1, "requests_active", "{request}", UpDownCounter, sum(false, p())),
        metric(2, "cpu.utilization", "1", ObservableGauge, gauge()),
        metric(3, "jobs_total", "1", ObservableCounter, sum(true, p())),
        metric(4, "net.rate", "By/s", Gauge, gauge()),
        metric(5, "process.memory.usage", "By", Gauge, gauge()),
        // No points: no series and no metadata.
        metric(6, "idle", "", Counter, sum(true, vec![])),
    ];
    let snap = bare(metrics);
    let c = translate(&snap);
    assert_eq!(
        metadata(&c),
        [
            r#"requests_active gauge "" "about requests_active""#,
            // The reference translator's metadata unit for `1` is empty, `ratio` or not.
            r#"cpu_utilization_ratio gauge "" "about cpu.utilization""#,
            r#"jobs_total counter "" "about jobs_total""#,
            r#"net_rate_bytes_per_second gauge "bytes_per_second" "about net.rate""#,
            r#"process_memory_usage_bytes gauge "bytes" "about process.memory.usage""#,
        ]
    );
    assert_eq!(
        exposition(&c),
        [
            "cpu_utilization_ratio 3",
            "jobs_total 3",
            "net_rate_bytes_per_second 3",
            "process_memory_usage_bytes 3",
            "requests_active 3",
        ]
    );
}

#[test]
fn one_family_is_described_once_across_scopes() {
    let m = |id| {
        metric(
            id,
            "dup",
            "",
            InstrumentKind::Gauge,
            MetricData::Gauge {
                points: vec![number(&[KeyValue::new("id", id as i64)], Number::I64(1))],
            },
        )
    };
    let mut snap = bare(vec![m(1)]);
    snap.scopes.push(ScopeSnapshot {
        scope: InstrumentationScope::builder("other").build(),
        metrics: vec![m(2)],
    });
    let c = translate(&snap);
    assert_eq!(metadata(&c), [r#"dup gauge "" "about dup""#]);
    assert_eq!(
        exposition(&c),
        [
            r#"dup{id="1"} 1"#,
            r#"dup{id="2",otel_scope_name="other"} 1"#
        ]
    );
}

#[test]
fn histogram_buckets_are_cumulative_and_end_with_inf() {
    let snap = bare(vec![histogram_with(
        3,
        "http.server.request.duration",
        "s",
        &[0.005, 2.5, 1e6],
        histogram_point(&[KeyValue::new("route", "/x")], &[1, 2, 3, 4], 7.25),
    )]);
    let c = translate(&snap);
    assert_eq!(
        exposition(&c),
        [
            r#"http_server_request_duration_seconds_bucket{le="0.005",route="/x"} 1"#,
            r#"http_server_request_duration_seconds_bucket{le="2.5",route="/x"} 3"#,
            r#"http_server_request_duration_seconds_bucket{le="1e+06",route="/x"} 6"#,
            r#"http_server_request_duration_seconds_bucket{le="+Inf",route="/x"} 10"#,
            r#"http_server_request_duration_seconds_count{route="/x"} 10"#,
            r#"http_server_request_duration_seconds_sum{route="/x"} 7.25"#,
        ]
    );
    assert_eq!(
        metadata(&c),
        [
            r#"http_server_request_duration_seconds histogram "seconds" "about http.server.request.duration""#
        ]
    );
}

#[test]
fn the_inf_bucket_is_the_count_even_if_the_buckets_disagree() {
    let snap = bare(vec![histogram_with(
        4,
        "h",
        "",
        &[1.0],
        HistogramPoint {
            count: 5, // malformed: the one bucket count is short of the +Inf one
            ..histogram_point(&[KeyValue::new("le", "user")], &[2], 1.0)
        },
    )]);
    // A user `le` on a histogram does not fight the bucket label.
    assert_eq!(
        exposition(&translate(&snap)),
        [
            r#"h_bucket{exported_le="user",le="1"} 2"#,
            r#"h_bucket{exported_le="user",le="+Inf"} 5"#,
            r#"h_count{exported_le="user"} 5"#,
            r#"h_sum{exported_le="user"} 1"#,
        ]
    );
}
