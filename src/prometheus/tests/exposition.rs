//! Scrape rendering: the text format and OpenMetrics, one expected body per case
//! (those of [`sample_snapshot`] in `expected/`, a file per format).

use opentelemetry::KeyValue;

use super::*;
use crate::prometheus::exposition::{Exposition, Format};

fn render(snapshot: &Snapshot, format: Format) -> String {
    Exposition::new().render(snapshot, format)
}

#[test]
fn the_text_format_has_no_job_instance_or_timestamps_and_target_info_holds_the_resource() {
    let want = include_str!("expected/sample_snapshot.text.txt");
    assert_eq!(render(&sample_snapshot(), Format::Text), want);
}

#[test]
fn open_metrics_names_counter_families_without_total_gives_units_and_ends_with_eof() {
    let want = include_str!("expected/sample_snapshot.openmetrics.txt");
    assert_eq!(render(&sample_snapshot(), Format::OpenMetrics), want);
}

#[test]
fn help_and_label_values_are_escaped_for_each_format() {
    let mut m = gauge(
        1,
        "g",
        vec![number(&[KeyValue::new("v", "a\\b\"c\nd")], Number::I64(1))],
    );
    let descriptor = Arc::make_mut(&mut m.descriptor);
    descriptor.description = "back\\slash \"quoted\"\nnext line".into();
    let snap = bare(vec![m]);
    #[rustfmt::skip]
    let cases = [
        (Format::Text, "# HELP g back\\\\slash \"quoted\"\\nnext line\n# TYPE g gauge\n"),
        (Format::OpenMetrics, "# HELP g back\\\\slash \\\"quoted\\\"\\nnext line\n# TYPE g gauge\n"),
    ];
    for (format, head) in cases {
        let body = render(&snap, format);
        let want = format!("{head}g{{otel_scope_name=\"test\",v=\"a\\\\b\\\"c\\nd\"}} 1\n");
        assert!(body.starts_with(&want), "{format:?}:\n{body}");
    }
}

#[test]
fn a_family_of_two_scopes_is_written_once_with_its_series_together() {
    let snap = scoped(vec![
        (
            InstrumentationScope::builder("a").build(),
            vec![
                counter(1, "jobs", vec![number(&[], Number::U64(1))]),
                gauge(2, "other", vec![number(&[], Number::I64(5))]),
            ],
        ),
        (
            InstrumentationScope::builder("b").build(),
            vec![counter(3, "jobs", vec![number(&[], Number::U64(2))])],
        ),
    ]);
    let want = "# HELP jobs_total about jobs\n# TYPE jobs_total counter\n\
                jobs_total{otel_scope_name=\"a\"} 1\njobs_total{otel_scope_name=\"b\"} 2\n\
                # HELP other about other\n# TYPE other gauge\nother{otel_scope_name=\"a\"} 5\n";
    assert_eq!(render(&snap, Format::Text), want);
}

#[test]
fn a_unit_line_names_a_family_that_ends_with_its_unit() {
    // OpenMetrics parsers refuse a UNIT whose family name does not end with it, as a
    // name that holds its unit word elsewhere would.
    let gauge = MetricData::Gauge {
        points: vec![number(&[], Number::F64(2.5))],
    };
    let snap = bare(vec![
        metric(1, "seconds.spent", "s", InstrumentKind::Gauge, gauge),
        metric(
            2,
            "io",
            "By",
            InstrumentKind::Counter,
            sum(true, vec![number(&[], Number::U64(1))]),
        ),
    ]);
    let body = render(&snap, Format::OpenMetrics);
    for line in body.lines().filter(|l| l.starts_with("# UNIT ")) {
        let mut words = line.split(' ').skip(2);
        let (family, unit) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        assert!(family.ends_with(&format!("_{unit}")), "{line}\n{body}");
    }
    assert!(body.contains("# UNIT io_bytes bytes\n"), "{body}");
}

#[test]
fn the_accept_header_picks_the_format_as_prometheus_negotiates() {
    use Format::*;
    #[rustfmt::skip]
    let cases = [
        (None, Text),
        (Some("*/*"), Text),
        (Some("text/plain;version=0.0.4"), Text),
        (Some("application/openmetrics-text; version=1.0.0"), OpenMetrics),
        (Some("application/openmetrics-text;q=0.5,text/plain;q=0.9"), Text),
        (Some("text/plain;q=0.5, application/openmetrics-text;version=0.0.1;q=0.75"), OpenMetrics),
        (Some("application/openmetrics-text;q=0"), Text),
    ];
    for (accept, want) in cases {
        assert_eq!(Format::negotiate(accept), want, "{accept:?}");
    }
}

#[test]
fn a_reused_renderer_writes_what_a_fresh_one_does_as_values_and_series_change() {
    let mut reused = Exposition::new();
    let mut snap = sample_snapshot();
    for format in [Format::Text, Format::OpenMetrics] {
        assert_eq!(reused.render(&snap, format), render(&snap, format));
    }
    // New values on the same attribute sets: the kept heads are used.
    for metric in snap.scopes[0].metrics.iter_mut() {
        match &mut metric.data {
            MetricData::Sum { points, .. } => points[0].value = Number::U64(1_000_000_123),
            MetricData::Histogram { points, .. } => points[0].sum = 0.25,
            MetricData::Gauge { .. } | MetricData::ExponentialHistogram { .. } => {}
        }
    }
    assert_eq!(
        reused.render(&snap, Format::Text),
        render(&snap, Format::Text)
    );
    assert!(reused
        .render(&snap, Format::Text)
        .contains("MyCounter_total{method=\"GET\",otel_scope_name=\"test\"} 1.000000123e+09\n"));
    // A new set, a dropped metric and another resource.
    let mut changed = bare(vec![counter(
        1,
        "MyCounter",
        vec![number(&[KeyValue::new("method", "PUT")], Number::U64(2))],
    )]);
    assert_eq!(
        reused.render(&changed, Format::Text),
        render(&changed, Format::Text)
    );
    changed.resource = service();
    assert_eq!(
        reused.render(&changed, Format::Text),
        render(&changed, Format::Text)
    );
}

#[test]
fn the_strategy_decides_suffixes_and_the_scrapers_escaping_how_utf8_names_are_written() {
    use crate::prometheus::exposition::Escaping::{self, *};
    use crate::NameTranslation::{self, *};
    let mut h = histogram(2, "http.dur", &[1.0], &[1, 0], 0.5);
    Arc::make_mut(&mut h.descriptor).unit = "s".into();
    let route = [KeyValue::new("http.route", "/a")];
    let snap = bare(vec![
        counter(1, "shop.orders", vec![number(&route, Number::U64(3))]),
        h,
    ]);
    let s = "otel_scope_name=\"test\"";
    #[rustfmt::skip]
    let cases: &[(NameTranslation, Escaping, Format, &[&str])] = &[
        (UnderscoreEscapingWithSuffixes, AllowUtf8, Format::Text, &["# TYPE shop_orders_total counter", "shop_orders_total{http_route=\"/a\",S} 3", "http_dur_seconds_count{S} 1"]),
        (UnderscoreEscapingWithoutSuffixes, AllowUtf8, Format::Text, &["# TYPE shop_orders counter", "shop_orders{http_route=\"/a\",S} 3", "http_dur_count{S} 1"]),
        (NoUTF8EscapingWithSuffixes, AllowUtf8, Format::Text, &["# TYPE \"shop.orders_total\" counter", "{\"shop.orders_total\",\"http.route\"=\"/a\",S} 3", "{\"http.dur_seconds_bucket\",le=\"1\",S} 1", "{\"http.dur_seconds_count\",S} 1"]),
        (NoUTF8EscapingWithSuffixes, AllowUtf8, Format::OpenMetrics, &["# TYPE \"shop.orders\" counter", "{\"shop.orders_total\",\"http.route\"=\"/a\",S} 3", "# TYPE \"http.dur_seconds\" histogram", "# UNIT \"http.dur_seconds\" seconds"]),
        (NoTranslation, AllowUtf8, Format::Text, &["# TYPE \"shop.orders\" counter", "{\"shop.orders\",\"http.route\"=\"/a\",S} 3", "{\"http.dur_count\",S} 1"]),
        (NoUTF8EscapingWithSuffixes, Underscores, Format::Text, &["# TYPE shop_orders_total counter", "shop_orders_total{http_route=\"/a\",S} 3", "http_dur_seconds_count{S} 1"]),
        (NoUTF8EscapingWithSuffixes, Dots, Format::Text, &["# TYPE shop_dot_orders__total counter", "shop_dot_orders__total{http_dot_route=\"/a\",S} 3", "http_dot_dur__seconds__count{S} 1"]),
        (NoTranslation, Values, Format::Text, &["# TYPE U__shop_2e_orders counter", "U__shop_2e_orders{U__http_2e_route=\"/a\",S} 3", "U__http_2e_dur__count{S} 1"]),
    ];
    let mut reused = Exposition::new().with_name_translation(NoUTF8EscapingWithSuffixes);
    for &(translation, escaping, format, lines) in cases {
        let body = Exposition::new()
            .with_name_translation(translation)
            .render_escaped(&snap, format, escaping);
        for line in lines {
            let line = line.replace('S', s);
            assert!(
                body.lines().any(|l| l == line),
                "{translation:?} {escaping:?} {format:?}: {line:?} missing in\n{body}"
            );
        }
        // One renderer for every scraper: a change of escaping leaves nothing behind.
        if translation == NoUTF8EscapingWithSuffixes {
            for _ in 0..2 {
                assert_eq!(reused.render_escaped(&snap, format, escaping), body);
            }
        }
    }
}
