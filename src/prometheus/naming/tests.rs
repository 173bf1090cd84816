//! The naming rules, table-driven: one line per case, input → expected output.

use super::*;
use opentelemetry::StringValue;
use InstrumentKind::*;

/// `(OpenTelemetry name, unit, kind, expected Prometheus name)`.
type NameCase = (&'static str, &'static str, InstrumentKind, &'static str);

fn check_metric_names(cases: &[NameCase]) {
    for &(name, unit, kind, want) in cases {
        assert_eq!(
            metric_name(name, unit, kind),
            want,
            "metric_name({name:?}, {unit:?}, {kind:?})"
        );
    }
}

/// The cases of Prometheus' `otlptranslator` tests (`metric_namer_test.go`, with
/// `UTF8Allowed: false, WithMetricSuffixes: true` and no namespace), each with the output
/// that translator gives. Its exponential histograms are our histograms; its summaries
/// and unknown types have no instrument here.
#[test]
fn metric_names_are_the_reference_translators() {
    #[rustfmt::skip]
    let cases: &[NameCase] = &[
        ("requests", "", Counter, "requests_total"),
        ("cpu_usage", "1", Gauge, "cpu_usage_ratio"),
        ("items", "1", Counter, "items_total"),
        ("response_time", "ms", Gauge, "response_time_milliseconds"),
        ("memory_usage", "By", Gauge, "memory_usage_bytes"),
        ("requests", "1/s", Gauge, "requests_per_second"),
        ("throughput", "By/s", Gauge, "throughput_bytes_per_second"),
        ("custom_metric", "custom_unit", Gauge, "custom_metric_custom_unit"),
        ("custom_metric", "{custom}", Gauge, "custom_metric"),
        ("custom_metric", "By/{custom}", Gauge, "custom_metric_bytes"),
        ("requests_total", "", Counter, "requests_total"),
        ("cpu_usage_ratio", "1", Gauge, "cpu_usage_ratio"),
        ("response_time_seconds", "s", Gauge, "response_time_seconds"),
        ("metric__with__multiple__underscores", "unit__multiple__underscores", Gauge, "metric_with_multiple_underscores_unit_multiple_underscores"),
        ("custom_metric", "unit@with#special/chars", Gauge, "custom_metric_unit_with_special_per_chars"),
        ("request_duration", "s", Histogram, "request_duration_seconds"),
        ("request_size", "By", Histogram, "request_size_bytes"),
        ("active_connections", "", UpDownCounter, "active_connections"),
        ("uptime", "d", Gauge, "uptime_days"),
        ("duration", "h", Gauge, "duration_hours"),
        ("timeout", "min", Gauge, "timeout_minutes"),
        ("latency", "us", Gauge, "latency_microseconds"),
        ("precision_time", "ns", Gauge, "precision_time_nanoseconds"),
        ("cache_size", "KiBy", Gauge, "cache_size_kibibytes"),
        ("memory", "MiBy", Gauge, "memory_mebibytes"),
        ("storage", "GiBy", Gauge, "storage_gibibytes"),
        ("transfer", "KBy", Gauge, "transfer_kilobytes"),
        ("download", "MBy", Gauge, "download_megabytes"),
        ("backup", "GBy", Gauge, "backup_gigabytes"),
        ("archive", "TBy", Gauge, "archive_terabytes"),
        ("distance", "m", Gauge, "distance_meters"),
        ("voltage", "V", Gauge, "voltage_volts"),
        ("current", "A", Gauge, "current_amperes"),
        ("energy", "J", Gauge, "energy_joules"),
        ("power", "W", Gauge, "power_watts"),
        ("weight", "g", Gauge, "weight_grams"),
        ("temperature", "Cel", Gauge, "temperature_celsius"),
        ("frequency", "Hz", Gauge, "frequency_hertz"),
        ("cpu_usage", "%", Gauge, "cpu_usage_percent"),
        ("requests", "1/m", Gauge, "requests_per_minute"),
        ("events", "1/h", Gauge, "events_per_hour"),
        ("transactions", "1/d", Gauge, "transactions_per_day"),
        ("reports", "1/w", Gauge, "reports_per_week"),
        ("invoices", "1/mo", Gauge, "invoices_per_month"),
        ("renewals", "1/y", Gauge, "renewals_per_year"),
        ("custom", "1/custom_unit", Gauge, "custom_per_custom_unit"),
        ("metric", "By/", Gauge, "metric_bytes"),
        ("metric", " By / s ", Gauge, "metric_bytes_per_second"),
        ("metric", "/", Gauge, "metric"),
        ("http.request.duration", "ms", Histogram, "http_request_duration_milliseconds"),
        ("http.requests", "1", Counter, "http_requests_total"),
    ];
    check_metric_names(cases);
}

/// The reference translator's `UnitNamer` cases (`unit_namer_test.go`, `UTF8Allowed:
/// false`): the unit as metadata carries it.
#[test]
fn units_are_the_reference_translators() {
    #[rustfmt::skip]
    let cases = [
        ("", ""), ("   ", ""),
        ("s", "seconds"), ("ms", "milliseconds"), ("us", "microseconds"), ("ns", "nanoseconds"),
        ("min", "minutes"), ("h", "hours"), ("d", "days"),
        ("By", "bytes"), ("KiBy", "kibibytes"), ("MiBy", "mebibytes"), ("GiBy", "gibibytes"),
        ("KBy", "kilobytes"), ("MBy", "megabytes"), ("GBy", "gigabytes"), ("TBy", "terabytes"),
        ("m", "meters"), ("V", "volts"), ("A", "amperes"), ("J", "joules"), ("W", "watts"),
        ("g", "grams"), ("Cel", "celsius"), ("Hz", "hertz"), ("%", "percent"), ("1", ""),
        ("1/s", "per_second"), ("1/m", "per_minute"), ("1/h", "per_hour"), ("1/d", "per_day"),
        ("1/w", "per_week"), ("1/mo", "per_month"), ("1/y", "per_year"),
        ("By/s", "bytes_per_second"), ("KBy/s", "kilobytes_per_second"),
        ("MBy/h", "megabytes_per_hour"), ("requests/m", "requests_per_minute"),
        ("W/h", "watts_per_hour"),
        ("custom_unit", "custom_unit"), ("1/custom", "per_custom"),
        ("custom/custom", "custom_per_custom"),
        ("{custom}", ""), ("By/{custom}", "bytes"), ("{custom}/s", "per_second"),
        ("{custom}/{invalid}", ""),
        ("custom@unit#with$chars", "custom_unit_with_chars"),
        ("By/custom@per#unit", "bytes_per_custom_per_unit"),
        ("unit@@##$$name", "unit_name"),
        ("unit__with__multiple__underscores", "unit_with_multiple_underscores"),
        ("@#$%", ""), ("/", ""), ("By/", "bytes"), ("seconds/", "seconds"), ("/s", "per_second"),
        ("_custom_unit", "custom_unit"), ("custom_unit_", "custom_unit"),
        ("By/_custom__unit_", "bytes_per_custom_unit"),
    ];
    for (unit, want) in cases {
        assert_eq!(unit_suffix(unit), want, "unit_suffix({unit:?})");
    }
}

/// The reference translator's `LabelNamer{}` cases (`label_namer_test.go`, the
/// `sanitized` column; its errors are `None` here: the label is left out).
#[test]
fn label_names_are_the_reference_translators() {
    #[rustfmt::skip]
    let cases = [
        ("label:with:colons", Some("label_with_colons")),
        ("LabelWithCapitalLetters", Some("LabelWithCapitalLetters")),
        ("label!with&special$chars)", Some("label_with_special_chars_")),
        ("label_with_foreign_characters_字符", Some("label_with_foreign_characters_")),
        ("label.with.dots", Some("label_with_dots")),
        (".foo", Some("_foo")),
        ("123label", Some("key_123label")),
        ("_label_starting_with_underscore", Some("_label_starting_with_underscore")),
        ("__label_starting_with_2underscores", Some("_label_starting_with_2underscores")),
        ("ようこそ", None),
        ("label__with__double__underscores", Some("label_with_double_underscores")),
        ("label.name__with&&special##chars", Some("label_name_with_special_chars")),
        ("__reserved__label__name__", Some("__reserved_label_name__")),
        ("trailing_underscores___", Some("trailing_underscores_")),
        ("", None),
        ("__", None),
    ];
    check_label_names(&cases);
}

/// The reference translator's names without suffixes (`metric_namer_test.go`,
/// `WithMetricSuffixes: false`): [`sanitize_metric_name`].
#[test]
fn metric_names_without_suffixes_are_the_reference_translators() {
    #[rustfmt::skip]
    let cases = [
        ("simple_metric", "simple_metric"),
        ("metric@with#special$chars", "metric_with_special_chars"),
        ("123metric", "_123metric"),
        ("metric@@##$$name", "metric_name"),
        ("ns:metric", "ns:metric"),
    ];
    for (name, want) in cases {
        assert_eq!(sanitize_metric_name(name), want, "{name:?}");
    }
    assert!(matches!(sanitize_metric_name("ok_name"), Cow::Borrowed(_)));
}

fn check_label_names(cases: &[(&str, Option<&str>)]) {
    for &(key, want) in cases {
        let got = sanitize_label_name(key);
        assert_eq!(got.as_deref(), want, "sanitize_label_name({key:?})");
        // The borrowing fast path agrees with the full rules, both ways.
        assert_eq!(
            matches!(got, Some(Cow::Borrowed(_))),
            want == Some(key),
            "fast path for {key:?}"
        );
        let mut pushed = String::from("x");
        assert_eq!(push_label_name(&mut pushed, key), want.is_some(), "{key:?}");
        assert_eq!(
            pushed,
            format!("x{}", want.unwrap_or("")),
            "push_label_name({key:?})"
        );
    }
}

#[test]
fn the_specs_examples_get_their_prometheus_names() {
    #[rustfmt::skip]
    let cases: &[NameCase] = &[
        ("MyCounter", "1", Counter, "MyCounter_total"),
        ("jobs_total", "1", Counter, "jobs_total"),
        ("http.server.request.duration", "s", Histogram, "http_server_request_duration_seconds"),
        ("process.memory.usage", "By", Gauge, "process_memory_usage_bytes"),
        ("cpu.utilization", "1", Gauge, "cpu_utilization_ratio"),
        ("requests_active", "{request}", UpDownCounter, "requests_active"),
        ("net.rate", "By/s", Gauge, "net_rate_bytes_per_second"),
    ];
    check_metric_names(cases);
}

/// Tokens: a unit word or `total` anywhere in the name is not added again; `total` and
/// `ratio` move to the end.
#[test]
fn words_already_in_the_name_are_not_added_again() {
    #[rustfmt::skip]
    let cases: &[NameCase] = &[
        ("latency_seconds", "s", Histogram, "latency_seconds"),
        ("seconds", "s", Gauge, "seconds"),
        ("rx_bytes_total", "By", Counter, "rx_bytes_total"),
        ("rx_total", "By", Counter, "rx_bytes_total"),
        ("rx.bytes", "By", ObservableCounter, "rx_bytes_total"),
        ("kafka.bytes.sent", "By", Counter, "kafka_bytes_sent_total"),
        ("total.requests", "", Counter, "requests_total"),
        ("requests_total", "s", Counter, "requests_seconds_total"),
        ("ratio.cpu", "1", Gauge, "cpu_ratio"),
        ("net_bytes", "By/s", Gauge, "net_bytes_per_second"),
        // `per_second` is two tokens, never one: the reference translator adds it again.
        ("net_bytes_per_second", "By/s", Gauge, "net_bytes_per_second_per_second"),
        // A word that merely ends the same way is not the suffix.
        ("megaseconds", "s", Gauge, "megaseconds_seconds"),
        ("total", "", Counter, "total"),
        ("a_total_total", "", Counter, "a_total"),
        ("a__b..c", "", Gauge, "a_b_c"),
        ("_private", "", Gauge, "private"),
    ];
    check_metric_names(cases);
}

#[test]
fn ratio_is_added_for_gauges_only() {
    #[rustfmt::skip]
    let cases: &[NameCase] = &[
        ("hits", "1", Counter, "hits_total"),
        ("queue", "1", UpDownCounter, "queue"),
        ("load", "1", ObservableGauge, "load_ratio"),
        ("sizes", "1", Histogram, "sizes"),
        // Only the exact unit `1`.
        ("load", " 1 ", Gauge, "load"),
    ];
    check_metric_names(cases);
}

#[test]
fn odd_units_and_names() {
    #[rustfmt::skip]
    let cases: &[NameCase] = &[
        ("io", "{op}/s", Counter, "io_per_second_total"),
        ("t", "Cel", Gauge, "t_celsius"),
        ("t", "°C", Gauge, "t_C"),
        ("e", "kW.h", Gauge, "e_kW_h"),
        ("r", "req/fortnight", Gauge, "r_req_per_fortnight"),
        ("r", "1/min", Gauge, "r_per_min"),
        ("x", "k{x}By", Gauge, "x"),
        ("x", "{unclosed", Gauge, "x"),
        ("1st.thing", "s", Gauge, "_1st_thing_seconds"),
        ("größe", "", Gauge, "gr_e"),
        // The reference translator refuses these (an empty name); prompush needs a name.
        ("日本", "", Gauge, "unnamed"),
        ("@#$%", "", Gauge, "unnamed"),
    ];
    check_metric_names(cases);
    assert_eq!(sanitize_metric_name(""), "unnamed");
    assert_eq!(sanitize_metric_name(".9x"), "_9x");
}

#[test]
fn label_names_keep_reserved_names_and_collapse_runs() {
    #[rustfmt::skip]
    let cases = [
        ("service.name", Some("service_name")),
        ("http..route", Some("http_route")),
        ("http__route", Some("http_route")),
        ("9x", Some("key_9x")),
        ("_private", Some("_private")),
        ("__name__", Some("__name__")),
        ("__x", Some("_x")),
        ("..x", Some("_x")),
        ("ça.va", Some("_a_va")),
        ("___x___", Some("___x___")),
        ("____", None),
        ("_", None),
        (".", None),
        ("é", None),
    ];
    check_label_names(&cases);
    assert!(!is_valid_label_name("9x"));
    assert!(is_valid_label_name("_x"));
}

#[test]
fn attribute_values_are_written_as_label_values() {
    let cases = [
        (Value::from("x y"), "x y"),
        (Value::from(true), "true"),
        (Value::from(-42i64), "-42"),
        (Value::from(0.1), "0.1"),
        (Value::from(f64::NAN), "NaN"),
        (Value::Array(Array::I64(vec![1, 2])), "[1,2]"),
        (Value::Array(Array::Bool(vec![true])), "[true]"),
        (Value::Array(Array::F64(vec![1.5, 1e30])), "[1.5,1e+30]"),
        (
            Value::Array(Array::String(vec![
                StringValue::from("a\"b"),
                StringValue::from("c\n"),
            ])),
            r#"["a\"b","c\n"]"#,
        ),
        (Value::Array(Array::String(vec![])), "[]"),
    ];
    for (value, want) in cases {
        let mut s = String::new();
        write_attribute_value(&mut s, &value);
        assert_eq!(s, want, "{value:?}");
    }
}

#[test]
fn floats_are_written_as_go_writes_them() {
    let cases = [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-2.5, "-2.5"),
        (0.005, "0.005"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (123456.0, "123456"),
        (999999.0, "999999"),
        (123456789.0, "1.23456789e+08"),
        (1e20, "1e+20"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (v, want) in cases {
        let mut s = String::new();
        write_float(&mut s, v);
        assert_eq!(s, want, "{v:?}");
    }
}
