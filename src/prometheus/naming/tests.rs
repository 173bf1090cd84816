//! The naming rules, table-driven: one line per case, input → expected output. The cases
//! of the name rules live in `cases/`, a file per function, a section per test.

use super::*;
use opentelemetry::StringValue;
use InstrumentKind::*;

const METRIC_NAMES: &str = include_str!("cases/metric_names.txt");
const UNITS: &str = include_str!("cases/units.txt");
const LABEL_NAMES: &str = include_str!("cases/label_names.txt");
const SANITIZED_NAMES: &str = include_str!("cases/sanitized_names.txt");

/// The cases of section `[test]` of a case file, each as its `N` fields: one case a line,
/// the fields apart by spaces, `""` around a field that is empty or holds spaces; lines
/// starting with `#` are comments. Panics where the section is missing or empty, or a
/// case has another number of fields.
fn cases<'a, const N: usize>(file: &'a str, test: &str) -> Vec<[&'a str; N]> {
    let header = format!("[{test}]");
    let mut lines = file.lines().skip_while(|line| *line != header);
    assert!(lines.next().is_some(), "no section {header}");
    let cases: Vec<[&str; N]> = lines
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let fields = fields(line);
            <[&str; N]>::try_from(fields.as_slice())
                .unwrap_or_else(|_| panic!("{N} fields in {line:?}"))
        })
        .collect();
    assert!(!cases.is_empty(), "no cases in {header}");
    cases
}

/// The fields of one line of a case file.
fn fields(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let (field, tail) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').expect("a closing quote"),
            None => rest.split_once(' ').unwrap_or((rest, "")),
        };
        fields.push(field);
        rest = tail.trim_start();
    }
    fields
}

/// The instrument kind a case file names by its variant.
fn kind(word: &str) -> InstrumentKind {
    match word {
        "Counter" => Counter,
        "UpDownCounter" => UpDownCounter,
        "Histogram" => Histogram,
        "Gauge" => Gauge,
        "ObservableCounter" => ObservableCounter,
        "ObservableUpDownCounter" => ObservableUpDownCounter,
        "ObservableGauge" => ObservableGauge,
        other => panic!("no instrument kind {other:?}"),
    }
}

/// Checks the cases of section `[test]` of `cases/metric_names.txt`.
fn check_metric_names(test: &str) {
    for [name, unit, kind_word, want] in cases(METRIC_NAMES, test) {
        let kind = kind(kind_word);
        assert_eq!(
            metric_name(name, unit, kind),
            want,
            "metric_name({name:?}, {unit:?}, {kind:?})"
        );
    }
}

/// Checks the cases of section `[test]` of `cases/label_names.txt`, `-` standing for
/// `None`.
fn check_label_names(test: &str) {
    for [key, want] in cases(LABEL_NAMES, test) {
        let want = Some(want).filter(|w| *w != "-");
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

/// The cases of Prometheus' `otlptranslator` tests (`metric_namer_test.go`, with
/// `UTF8Allowed: false, WithMetricSuffixes: true` and no namespace), each with the output
/// that translator gives. Its exponential histograms are our histograms; its summaries
/// and unknown types have no instrument here.
#[test]
fn metric_names_are_the_reference_translators() {
    check_metric_names("metric_names_are_the_reference_translators");
}

/// The reference translator's `UnitNamer` cases (`unit_namer_test.go`, `UTF8Allowed:
/// false`): the unit as metadata carries it.
#[test]
fn units_are_the_reference_translators() {
    for [unit, want] in cases(UNITS, "units_are_the_reference_translators") {
        assert_eq!(unit_suffix(unit), want, "unit_suffix({unit:?})");
    }
}

/// The reference translator's `LabelNamer{}` cases (`label_namer_test.go`, the
/// `sanitized` column; its errors are `-` here: the label is left out).
#[test]
fn label_names_are_the_reference_translators() {
    check_label_names("label_names_are_the_reference_translators");
}

/// The reference translator's names without suffixes (`metric_namer_test.go`,
/// `WithMetricSuffixes: false`): [`sanitize_metric_name`].
#[test]
fn metric_names_without_suffixes_are_the_reference_translators() {
    let test = "metric_names_without_suffixes_are_the_reference_translators";
    for [name, want] in cases(SANITIZED_NAMES, test) {
        assert_eq!(sanitize_metric_name(name), want, "{name:?}");
    }
    assert!(matches!(sanitize_metric_name("ok_name"), Cow::Borrowed(_)));
}

#[test]
fn the_specs_examples_get_their_prometheus_names() {
    check_metric_names("the_specs_examples_get_their_prometheus_names");
}

/// Tokens: a unit word or `total` anywhere in the name is not added again; `total` and
/// `ratio` move to the end.
#[test]
fn words_already_in_the_name_are_not_added_again() {
    check_metric_names("words_already_in_the_name_are_not_added_again");
}

#[test]
fn ratio_is_added_for_gauges_only() {
    check_metric_names("ratio_is_added_for_gauges_only");
}

#[test]
fn odd_units_and_names() {
    check_metric_names("odd_units_and_names");
    assert_eq!(sanitize_metric_name(""), "unnamed");
    assert_eq!(sanitize_metric_name(".9x"), "_9x");
}

#[test]
fn label_names_keep_reserved_names_and_collapse_runs() {
    check_label_names("label_names_keep_reserved_names_and_collapse_runs");
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
