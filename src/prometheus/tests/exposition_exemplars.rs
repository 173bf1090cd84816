//! Exemplars in scrape renders: in OpenMetrics the newest on each counter total and
//! histogram bucket, at every render; never on gauges, sums or counts, nor in the text
//! format; label sets over 128 code points cut to the trace ids.

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::KeyValue;

use super::*;
use crate::prometheus::exposition::{Exposition, Format};

const TRACE: &str = r#"trace_id="0102030405060708090a0b0c0d0e0f10",span_id="a1a2a3a4a5a6a7a8""#;

/// A measurement of `value` in the trace above, `ms` after [`T`], with `filtered`
/// attributes.
fn sampled(value: f64, ms: u64, filtered: &[KeyValue]) -> Exemplar {
    Exemplar {
        value,
        time: UNIX_EPOCH + T + Duration::from_millis(ms),
        trace_id: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        span_id: [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8],
        filtered_attributes: filtered.to_vec(),
    }
}

fn with_exemplars(mut point: NumberPoint, exemplars: Vec<Exemplar>) -> NumberPoint {
    point.exemplars = exemplars;
    point
}

/// A counter `orders` of value 7 whose point holds two exemplars, 2 then 1.5.
fn orders() -> MetricSnapshot {
    let point = number(&[KeyValue::new("route", "/cart")], Number::F64(7.0));
    let exemplars = vec![sampled(2.0, 0, &[]), sampled(1.5, 10, &[])];
    counter(1, "orders", vec![with_exemplars(point, exemplars)])
}

/// The lines of `body` that start with `prefix`.
fn lines<'a>(body: &'a str, prefix: &str) -> Vec<&'a str> {
    body.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn a_counter_total_carries_its_newest_exemplar_in_open_metrics() {
    let body = Exposition::new().render(&bare(vec![orders()]), Format::OpenMetrics);
    let want = format!(
        "orders_total{{otel_scope_name=\"test\",route=\"/cart\"}} 7 # {{{TRACE}}} 1.5 1700000000.133"
    );
    assert_eq!(lines(&body, "orders"), [want.as_str()], "{body}");
}

#[test]
fn each_histogram_bucket_carries_the_newest_exemplar_within_its_bounds() {
    let mut point = histogram_point(&[], &[1, 1, 2], 20.5);
    point.exemplars = vec![
        sampled(0.5, 0, &[]),
        sampled(9.0, 1, &[]),
        sampled(3.0, 2, &[]),
        sampled(7.0, 3, &[]),
    ];
    let snapshot = bare(vec![histogram_with(2, "lat", "", &[1.0, 5.0], point)]);
    let body = Exposition::new().render(&snapshot, Format::OpenMetrics);
    let want = [
        format!(
            r#"lat_bucket{{le="1",otel_scope_name="test"}} 1 # {{{TRACE}}} 0.5 1700000000.123"#
        ),
        format!(r#"lat_bucket{{le="5",otel_scope_name="test"}} 2 # {{{TRACE}}} 3 1700000000.125"#),
        format!(
            r#"lat_bucket{{le="+Inf",otel_scope_name="test"}} 4 # {{{TRACE}}} 7 1700000000.126"#
        ),
        r#"lat_sum{otel_scope_name="test"} 20.5"#.to_owned(),
        r#"lat_count{otel_scope_name="test"} 4"#.to_owned(),
    ];
    assert_eq!(lines(&body, "lat_"), want, "{body}");
}

#[test]
fn gauges_and_non_monotonic_sums_show_no_exemplar() {
    let exemplars = || vec![sampled(1.0, 0, &[])];
    let gauge_point = with_exemplars(number(&[], Number::F64(3.0)), exemplars());
    let sum_point = with_exemplars(number(&[], Number::F64(-2.0)), exemplars());
    let snapshot = bare(vec![
        gauge(1, "temperature", vec![gauge_point]),
        metric(
            2,
            "queue",
            "",
            InstrumentKind::UpDownCounter,
            sum(false, vec![sum_point]),
        ),
    ]);
    let body = Exposition::new().render(&snapshot, Format::OpenMetrics);
    assert_eq!(
        lines(&body, "temperature"),
        [r#"temperature{otel_scope_name="test"} 3"#]
    );
    assert_eq!(
        lines(&body, "queue"),
        [r#"queue{otel_scope_name="test"} -2"#]
    );
}

#[test]
fn the_text_format_has_no_exemplars() {
    let body = Exposition::new().render(&bare(vec![orders()]), Format::Text);
    assert_eq!(
        lines(&body, "orders_total{"),
        [r#"orders_total{otel_scope_name="test",route="/cart"} 7"#]
    );
    assert!(!body.contains(" # {"), "{body}");
}

#[test]
fn every_render_shows_the_exemplars_again_whatever_the_format_in_between() {
    let mut point = histogram_point(&[], &[1, 1], 3.5);
    point.exemplars = vec![sampled(0.5, 0, &[]), sampled(3.0, 1, &[])];
    let mut snapshot = bare(vec![orders(), histogram_with(2, "lat", "", &[1.0], point)]);
    let mut exposition = Exposition::new();
    let first = exposition.render(&snapshot, Format::OpenMetrics);
    assert_eq!(first.matches(" # {trace_id=").count(), 3, "{first}");
    assert!(!exposition.render(&snapshot, Format::Text).contains(" # {"));
    // A second scraper (an HA pair) sees what the first saw, from the cached heads.
    assert_eq!(exposition.render(&snapshot, Format::OpenMetrics), first);
    assert_eq!(exposition.render(&snapshot, Format::OpenMetrics), first);
    // A newer exemplar takes the place of the one shown.
    if let MetricData::Sum { points, .. } = &mut snapshot.scopes[0].metrics[0].data {
        points[0].exemplars.push(sampled(4.0, 20, &[]));
    }
    let newer = exposition.render(&snapshot, Format::OpenMetrics);
    let want = format!(
        r#"orders_total{{otel_scope_name="test",route="/cart"}} 7 # {{{TRACE}}} 4 1700000000.143"#
    );
    assert_eq!(lines(&newer, "orders"), [want.as_str()]);
    assert_eq!(lines(&newer, "lat_"), lines(&first, "lat_"));
}

#[test]
fn filtered_attributes_follow_the_ids_with_valid_names_and_escaped_values() {
    // A name that repeats once valid, an empty value, a name that starts with a digit.
    let mut filtered = vec![KeyValue::new("user.id", "u\"7\\")];
    filtered.push(KeyValue::new("user_id", "repeated name"));
    filtered.extend([KeyValue::new("empty", ""), KeyValue::new("2fa", true)]);
    let point = number(&[], Number::U64(1));
    let exemplars = vec![sampled(1.0, 0, &filtered)];
    let snapshot = bare(vec![counter(
        1,
        "logins",
        vec![with_exemplars(point, exemplars)],
    )]);
    let body = Exposition::new().render(&snapshot, Format::OpenMetrics);
    let want = format!(
        r#"logins_total{{otel_scope_name="test"}} 1 # {{{TRACE},user_id="u\"7\\",key_2fa="true"}} 1 1700000000.123"#
    );
    assert_eq!(lines(&body, "logins"), [want.as_str()], "{body}");
}

#[test]
fn attributes_past_128_code_points_are_left_out_and_the_ids_stay() {
    // The ids take 63 code points; "k" and 64 "é" take 65 more: one too many.
    let long = [KeyValue::new("a", "b"), KeyValue::new("k", "é".repeat(64))];
    let fits = [KeyValue::new("k", "é".repeat(64))];
    let point = |exemplar| with_exemplars(number(&[], Number::U64(1)), vec![exemplar]);
    let mut untraced = sampled(2.0, 0, &[KeyValue::new("k", "é".repeat(128))]);
    untraced.trace_id = [0; 16];
    untraced.span_id = [0; 8];
    let snapshot = bare(vec![
        counter(1, "long", vec![point(sampled(1.0, 0, &long))]),
        counter(2, "fits", vec![point(sampled(1.0, 0, &fits))]),
        counter(3, "untraced", vec![point(untraced)]),
    ]);
    let body = Exposition::new().render(&snapshot, Format::OpenMetrics);
    let long = format!(r#"long_total{{otel_scope_name="test"}} 1 # {{{TRACE}}} 1 1700000000.123"#);
    assert_eq!(lines(&body, "long_total"), [long.as_str()]);
    let fits = format!(
        r#"fits_total{{otel_scope_name="test"}} 1 # {{{TRACE},k="{}"}} 1 1700000000.123"#,
        "é".repeat(64)
    );
    assert_eq!(lines(&body, "fits_total"), [fits.as_str()]);
    // Without a trace and over the limit, the label set is empty, as OpenMetrics allows.
    assert_eq!(
        lines(&body, "untraced_total"),
        [r#"untraced_total{otel_scope_name="test"} 1 # {} 2 1700000000.123"#]
    );
}

#[test]
fn exemplar_timestamps_are_seconds_with_the_digits_they_need() {
    let at = |time| {
        let mut e = sampled(1.0, 0, &[]);
        e.time = time;
        let point = with_exemplars(number(&[], Number::U64(1)), vec![e]);
        let body = Exposition::new().render(
            &bare(vec![counter(1, "c", vec![point])]),
            Format::OpenMetrics,
        );
        let line = lines(&body, "c_total")[0].to_owned();
        line.rsplit(' ').next().unwrap_or_default().to_owned()
    };
    assert_eq!(
        at(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        "1700000000"
    );
    assert_eq!(
        at(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)),
        "1700000000.5"
    );
    assert_eq!(
        at(UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789)),
        "1700000000.123456789"
    );
    assert_eq!(at(UNIX_EPOCH - Duration::from_millis(1_500)), "-1.5");
}

#[test]
fn an_exponential_histogram_scraped_as_classic_buckets_carries_them_too() {
    let mut point =
        ExponentialHistogramPoint::empty(Attributes::default(), std::time::UNIX_EPOCH, 0);
    // 1.5 in (1, 2], 3 in (2, 4].
    point.count = 2;
    point.sum = 4.5;
    point.positive = ExponentialBuckets {
        offset: 0,
        counts: vec![1, 1],
    };
    point.exemplars = vec![sampled(3.0, 0, &[]), sampled(1.5, 1, &[])];
    let data = MetricData::ExponentialHistogram {
        points: vec![point],
    };
    let m = metric(3, "size", "", InstrumentKind::Histogram, data);
    let body = Exposition::new().render(&bare(vec![m]), Format::OpenMetrics);
    let want = [
        format!(
            r#"size_bucket{{le="2",otel_scope_name="test"}} 1 # {{{TRACE}}} 1.5 1700000000.124"#
        ),
        format!(r#"size_bucket{{le="4",otel_scope_name="test"}} 2 # {{{TRACE}}} 3 1700000000.123"#),
        r#"size_bucket{le="+Inf",otel_scope_name="test"} 2"#.to_owned(),
        r#"size_sum{otel_scope_name="test"} 4.5"#.to_owned(),
        r#"size_count{otel_scope_name="test"} 2"#.to_owned(),
    ];
    assert_eq!(lines(&body, "size_"), want, "{body}");
}
