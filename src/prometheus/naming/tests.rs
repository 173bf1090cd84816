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

#[test]
fn a_suffix_already_in_the_name_is_not_added_again() {
    #[rustfmt::skip]
    let cases: &[NameCase] = &[
        ("latency_seconds", "s", Histogram, "latency_seconds"),
        ("seconds", "s", Gauge, "seconds"),
        ("cpu_ratio", "1", Gauge, "cpu_ratio"),
        ("rx_bytes_total", "By", Counter, "rx_bytes_total"),
        ("rx_total", "By", Counter, "rx_bytes_total"),
        ("rx.bytes", "By", ObservableCounter, "rx_bytes_total"),
        ("net_bytes", "By/s", Gauge, "net_bytes_per_second"),
        ("net_bytes_per_second", "By/s", Gauge, "net_bytes_per_second"),
        // A word that merely ends the same way is not the suffix.
        ("megaseconds", "s", Gauge, "megaseconds_seconds"),
        // `total` alone is a name, not a suffix to strip.
        ("total", "", Counter, "total"),
        ("a_total_total", "", Counter, "a_total"),
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
    ];
    check_metric_names(cases);
}

#[test]
fn units_become_words() {
    // (unit, suffix of a gauge)
    let cases = [
        ("ms", "milliseconds"),
        ("us", "microseconds"),
        ("ns", "nanoseconds"),
        ("min", "minutes"),
        ("h", "hours"),
        ("d", "days"),
        ("KiBy", "kibibytes"),
        ("MiBy", "mebibytes"),
        ("GiBy", "gibibytes"),
        ("KBy", "kilobytes"),
        ("TBy", "terabytes"),
        ("m", "meters"),
        ("Cel", "celsius"),
        ("%", "percent"),
        ("Hz", "hertz"),
        ("m/s", "meters_per_second"),
        ("1/m", "per_minute"),
        ("{packet}/s", "per_second"),
        ("By/{request}", "bytes"),
        ("{req}", ""),
        ("k{x}By", "kBy"),
        ("kW.h", "kW_h"),
        ("°C", "C"),
        ("req/fortnight", "req_per_fortnight"),
        (" s ", "seconds"),
        ("", ""),
        ("{unclosed", ""),
    ];
    for (unit, want) in cases {
        assert_eq!(
            unit_suffix(unit, Gauge),
            want,
            "unit_suffix({unit:?}, Gauge)"
        );
    }
    #[rustfmt::skip]
    let cases: &[NameCase] = &[
        ("io", "{op}/s", Counter, "io_per_second_total"),
        ("t", "Cel", Gauge, "t_celsius"),
    ];
    check_metric_names(cases);
}

#[test]
fn metric_names_are_sanitised() {
    // (name, sanitised)
    let cases = [
        ("a.b-c/d", "a_b_c_d"),
        ("ns:metric", "ns:metric"),
        ("9lives", "_9lives"),
        ("größe", "gr__e"),
        ("", "unnamed"),
    ];
    for (name, want) in cases {
        assert_eq!(sanitize_metric_name(name), want, "{name:?}");
    }
    assert!(matches!(sanitize_metric_name("ok_name"), Cow::Borrowed(_)));
    #[rustfmt::skip]
    let cases: &[NameCase] = &[
        ("1st.thing", "s", Gauge, "_1st_thing_seconds"),
        ("日本", "", Gauge, "__"),
    ];
    check_metric_names(cases);
}

#[test]
fn label_names_are_sanitised() {
    // (attribute key, label name; None: no label)
    let cases = [
        ("service.name", Some("service_name")),
        ("9x", Some("key_9x")),
        ("_private", Some("_private")),
        ("_", Some("_")),
        ("__x", Some("key__x")),
        ("..x", Some("key__x")),
        ("_.x", Some("key__x")),
        (".", Some("_")),
        ("é", Some("_")),
        ("ça.va", Some("_a_va")),
        ("", None),
    ];
    for (key, want) in cases {
        assert_eq!(sanitize_label_name(key).as_deref(), want, "{key:?}");
    }
    assert!(matches!(sanitize_label_name("ok"), Some(Cow::Borrowed(_))));
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
