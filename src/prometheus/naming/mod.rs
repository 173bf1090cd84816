//! OpenTelemetry names, units and attribute values → Prometheus names and label values.
//!
//! Names are exactly what Prometheus' reference translator (`otlptranslator`, used by the
//! OpenTelemetry Collector and by Prometheus' own OTLP receiver) gives with the
//! underscore-escaping-with-suffixes strategy and `LabelNamer`'s zero-value options; the
//! case files in `cases/` (read by `tests.rs`) hold that translator's own test cases.
//! Written down once so that the translator, the text renderer and tests agree:
//!
//! | OpenTelemetry instrument                  | unit       | Prometheus name                            |
//! |-------------------------------------------|------------|--------------------------------------------|
//! | Counter `MyCounter`                       | `1`        | `MyCounter_total`                          |
//! | Counter `jobs_total`                      | `1`        | `jobs_total`                               |
//! | Histogram `http.server.request.duration`  | `s`        | `http_server_request_duration_seconds`     |
//! | Gauge `process.memory.usage`              | `By`       | `process_memory_usage_bytes`               |
//! | Gauge `cpu.utilization`                   | `1`        | `cpu_utilization_ratio`                    |
//! | UpDownCounter `requests_active`           | `{request}`| `requests_active`                          |
//! | Gauge `net.rate`                          | `By/s`     | `net_rate_bytes_per_second`                |
//!
//! Metric names are built from tokens: the name is cut at every character outside
//! `[a-zA-Z0-9:]` (so `_` too, and runs of separators collapse), the unit word is added
//! unless it already is a token, `total` (counters) and `ratio` (gauges with unit `1`)
//! move to the end, and the tokens are joined with `_`; a leading digit gets a `_`
//! prefix. Label names: every run of characters outside `[a-zA-Z0-9]` becomes one `_`
//! (`http..route` and `http__route` both give `http_route`); a reserved `__x__` name keeps
//! its double underscores; a leading digit gets a `key_` prefix; a single leading `_` is
//! kept. Where the reference translator gives an error (an empty result, or one made of
//! underscores only), prompush names the metric `unnamed` and leaves the label out.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use opentelemetry::{Array, Value};

use crate::snapshot::InstrumentKind;

/// The Prometheus metric name for an instrument, with unit suffix and, for counters,
/// `_total`.
///
/// ```text
/// use prompush::prometheus::naming::metric_name;
/// use prompush::snapshot::InstrumentKind;
/// assert_eq!(metric_name("http.server.request.duration", "s", InstrumentKind::Histogram),
///            "http_server_request_duration_seconds");
/// assert_eq!(metric_name("jobs_total", "1", InstrumentKind::Counter), "jobs_total");
/// assert_eq!(metric_name("total.requests", "", InstrumentKind::Counter), "requests_total");
/// assert_eq!(metric_name("kafka.bytes.sent", "By", InstrumentKind::Counter),
///            "kafka_bytes_sent_total");
/// ```
pub fn metric_name(name: &str, unit: &str, kind: InstrumentKind) -> String {
    let mut tokens: Vec<Cow<'_, str>> = name
        .split(|c: char| !is_metric_token_char(c))
        .filter(|t| !t.is_empty())
        .map(Cow::Borrowed)
        .collect();
    let (main, per) = unit_parts(unit);
    let (mut main, mut per) = (clean_unit(&main), clean_unit(&per));
    let has = |tokens: &[Cow<'_, str>], word: &str| tokens.iter().any(|t| t == word);
    if has(&tokens, &main) {
        main.clear();
    }
    if per == "per_" {
        per.clear();
    } else {
        trim_one_trailing_underscore(&mut per);
        if has(&tokens, &per) {
            per.clear();
        }
    }
    if !per.is_empty() {
        trim_one_trailing_underscore(&mut main);
    }
    for word in [main, per] {
        if !word.is_empty() {
            tokens.push(Cow::Owned(word));
        }
    }
    let mut move_last = |word: &'static str| {
        tokens.retain(|t| t != word);
        tokens.push(Cow::Borrowed(word));
    };
    if kind.is_monotonic() {
        move_last("total");
    }
    // Exactly `1`, and gauges only: counts of things are often given unit `1` as well.
    let gauge = matches!(
        kind,
        InstrumentKind::Gauge | InstrumentKind::ObservableGauge
    );
    if unit == "1" && gauge {
        move_last("ratio");
    }
    let joined = tokens.join("_");
    if joined.is_empty() {
        return "unnamed".to_owned();
    }
    if joined.as_bytes()[0].is_ascii_digit() {
        return format!("_{joined}");
    }
    joined
}

/// The unit as Prometheus metadata gives it, and as it appears in a metric name:
/// `s` → `seconds`, `By/s` → `bytes_per_second`, `1` → `` (dimensionless), `{request}` →
/// `` (annotations are dropped). Unknown units are kept, `[a-zA-Z0-9:]` runs joined by
/// single `_`.
///
/// ```text
/// use prompush::prometheus::naming::unit_suffix;
/// assert_eq!(unit_suffix("By/s"), "bytes_per_second");
/// assert_eq!(unit_suffix("1"), "");
/// assert_eq!(unit_suffix("{packet}/s"), "per_second");
/// ```
pub fn unit_suffix(unit: &str) -> String {
    let (main, per) = unit_parts(unit);
    let (main, per) = (clean_unit(&main), clean_unit(&per));
    let mut out = match (main.is_empty(), per.is_empty()) {
        (false, false) => format!("{main}_{per}"),
        (false, true) => main,
        _ => per,
    };
    if out.starts_with('_') {
        out.remove(0);
    }
    trim_one_trailing_underscore(&mut out);
    out
}

fn is_metric_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

fn trim_one_trailing_underscore(word: &mut String) {
    if word.ends_with('_') {
        word.pop();
    }
}

/// Splits a UCUM unit at its first `/` into the main word and `per_<word>` (either may
/// be empty), before cleaning. A part in braces is an annotation and gives nothing.
fn unit_parts(unit: &str) -> (Cow<'_, str>, Cow<'_, str>) {
    let (main, per) = match unit.split_once('/') {
        Some((main, per)) => (main, per),
        None => (unit, ""),
    };
    let annotated = |part: &str| part.contains(['{', '}']);
    let main = main.trim();
    let main = if main.is_empty() || annotated(main) {
        Cow::Borrowed("")
    } else {
        Cow::Borrowed(main_unit_word(main).unwrap_or(main))
    };
    let per = per.trim();
    let per = if per.is_empty() || annotated(per) {
        Cow::Borrowed("")
    } else {
        Cow::Owned(format!("per_{}", per_unit_word(per).unwrap_or(per)))
    };
    (main, per)
}

/// A unit part as name characters: each character outside `[a-zA-Z0-9:]` becomes `_`,
/// runs of `_` collapse to one, and a leading `_` is dropped (a trailing one stays).
fn clean_unit(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        let c = if is_metric_token_char(c) { c } else { '_' };
        if !(c == '_' && (out.is_empty() || out.ends_with('_'))) {
            out.push(c);
        }
    }
    out
}

/// UCUM unit → plural English word, for the main (numerator) unit.
fn main_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "",
        _ => return None,
    })
}

/// UCUM unit → singular English word, for the unit after `/`. Note `m` here is a minute,
/// as in the reference translator: "per meter" rates are rare, "per minute" ones are not.
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// A valid Prometheus metric name from any string, without unit or type suffixes.
///
/// As the reference translator's underscore-escaping-without-suffixes strategy: every run
/// of characters outside `[a-zA-Z0-9_:]` becomes one `_`, none at either end; a leading
/// digit gets a `_` prefix; a name with nothing left becomes `unnamed`. Borrows when
/// nothing changes.
///
/// ```text
/// use prompush::prometheus::naming::sanitize_metric_name;
/// assert_eq!(sanitize_metric_name("metric@@##$$name"), "metric_name");
/// assert_eq!(sanitize_metric_name("123metric"), "_123metric");
/// ```
#[cfg(any(test, feature = "custom-metrics"))]
pub fn sanitize_metric_name(name: &str) -> Cow<'_, str> {
    let valid = |c: char| is_metric_token_char(c) || c == '_';
    let leading_digit = name.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if !name.is_empty() && !leading_digit && name.chars().all(valid) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    for field in name.split(|c| !valid(c)).filter(|f| !f.is_empty()) {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(field);
    }
    match out.as_bytes().first() {
        None => Cow::Borrowed("unnamed"),
        Some(b) if b.is_ascii_digit() => Cow::Owned(format!("_{out}")),
        Some(_) => Cow::Owned(out),
    }
}

/// A valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`) from an attribute key, or
/// `None` when nothing is left of it (an empty key, or one of underscores and other
/// invalid characters only).
///
/// ```text
/// use prompush::prometheus::naming::sanitize_label_name;
/// assert_eq!(sanitize_label_name("http.route").as_deref(), Some("http_route"));
/// assert_eq!(sanitize_label_name("http__route").as_deref(), Some("http_route"));
/// assert_eq!(sanitize_label_name("0day").as_deref(), Some("key_0day"));
/// assert_eq!(sanitize_label_name("__meta__").as_deref(), Some("__meta__"));
/// assert_eq!(sanitize_label_name("_private").as_deref(), Some("_private"));
/// assert_eq!(sanitize_label_name("..."), None);
/// ```
pub fn sanitize_label_name(key: &str) -> Option<Cow<'_, str>> {
    if label_name_unchanged(key) {
        return Some(Cow::Borrowed(key));
    }
    let mut out = String::with_capacity(key.len() + 4);
    push_label_name(&mut out, key).then_some(Cow::Owned(out))
}

/// Whether `name` can be used as a label name as it is: `[a-zA-Z_][a-zA-Z0-9_]*`, not
/// starting with the reserved `__`.
///
/// ```text
/// use prompush::prometheus::naming::is_valid_label_name;
/// assert!(is_valid_label_name("app_id"));
/// assert!(!is_valid_label_name("app.id"));
/// assert!(!is_valid_label_name("__name__"));
/// assert!(!is_valid_label_name(""));
/// ```
pub fn is_valid_label_name(name: &str) -> bool {
    name.as_bytes().first().is_some_and(|b| !b.is_ascii_digit())
        && !name.starts_with("__")
        && name.bytes().all(valid_label_byte)
}

/// [`sanitize_label_name`] appending to `out`, without allocating; `false` (and nothing
/// appended) when there is no label name.
pub(crate) fn push_label_name(out: &mut String, key: &str) -> bool {
    let Some(&first) = key.as_bytes().first() else {
        return false;
    };
    let start = out.len();
    // `__x__` names are Prometheus' reserved ones: their affixes stay as they are.
    let reserved = key.len() >= 4 && key.starts_with("__") && key.ends_with("__");
    let inner = if reserved {
        &key[2..key.len() - 2]
    } else {
        key
    };
    if first.is_ascii_digit() {
        out.push_str("key_");
    }
    if reserved {
        out.push_str("__");
    }
    let mut after_underscore = false;
    for c in inner.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            after_underscore = false;
        } else if !after_underscore {
            out.push('_');
            after_underscore = true;
        }
    }
    if reserved {
        out.push_str("__");
    }
    if out[start..].bytes().all(|b| b == b'_') {
        out.truncate(start);
        return false;
    }
    true
}

/// Whether [`push_label_name`] would give `key` back unchanged: checked without
/// building anything, for the common already-valid key.
fn label_name_unchanged(key: &str) -> bool {
    let bytes = key.as_bytes();
    let Some(first) = bytes.first() else {
        return false;
    };
    let reserved = key.len() >= 4 && key.starts_with("__") && key.ends_with("__");
    let inner = if reserved {
        &bytes[2..bytes.len() - 2]
    } else {
        bytes
    };
    !first.is_ascii_digit()
        && inner.iter().copied().all(valid_label_byte)
        && !inner.windows(2).any(|w| w == b"__")
        && inner.iter().any(|&b| b != b'_')
}

fn valid_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Appends an attribute value as a label value: strings as they are, booleans as
/// `true`/`false`, integers in decimal, floats as [`write_float`], arrays as JSON-like
/// `[1,2]` / `["a","b"]`.
pub fn write_attribute_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s.as_str()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I64(i) => push_display(out, i),
        Value::F64(f) => write_float(out, *f),
        Value::Array(array) => write_array(out, array),
        // `Value` is non-exhaustive: a future kind still gets a stable, readable form.
        other => push_display(out, other),
    }
}

fn write_array(out: &mut String, array: &Array) {
    out.push('[');
    match array {
        Array::Bool(items) => join(out, items, |out, b| {
            out.push_str(if *b { "true" } else { "false" })
        }),
        Array::I64(items) => join(out, items, |out, i| push_display(out, i)),
        Array::F64(items) => join(out, items, |out, f| write_float(out, *f)),
        Array::String(items) => join(out, items, |out, s| write_json_string(out, s.as_str())),
        other => push_display(out, other),
    }
    out.push(']');
}

fn join<T>(out: &mut String, items: &[T], mut each: impl FnMut(&mut String, &T)) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, item);
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_display(out: &mut String, value: impl fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{value}");
}

/// Appends a float the way Prometheus (Go's `strconv.FormatFloat(v, 'g', -1, 64)`)
/// writes it: the shortest representation that round-trips, in exponent form below
/// 1e-4 and from 1e6 on, plus `+Inf`, `-Inf` and `NaN`.
///
/// This is the `le` label format: `le` values must match what other Prometheus clients
/// send for the same bound, or `histogram_quantile` over mixed sources breaks.
///
/// ```text
/// let mut s = String::new();
/// for v in [0.005, 1.0, 2.5, 1e6, 1e21, 1e-5, f64::INFINITY] {
///     prompush::prometheus::naming::write_float(&mut s, v);
///     s.push(' ');
/// }
/// assert_eq!(s, "0.005 1 2.5 1e+06 1e+21 1e-05 +Inf ");
/// ```
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        return out.push_str("NaN");
    }
    if v.is_infinite() {
        return out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    }
    // Rust's `{:e}` is the shortest round-trip form as `d.ddde±x`: take its digits and
    // exponent and lay them out as Go does.
    let mut sci = StackStr::default();
    let _ = write!(sci, "{:e}", v.abs());
    let text = sci.as_str();
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits = StackStr::default();
    for c in mantissa.chars().filter(char::is_ascii_digit) {
        let _ = digits.write_char(c);
    }
    let digits = digits.as_str();
    if v.is_sign_negative() {
        out.push('-');
    }
    // Go's shortest 'g' switches to exponent form outside 1e-4 <= |v| < 1e6.
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// A small stack buffer so float formatting does not allocate (`{:e}` of an f64 is at
/// most 24 bytes).
#[derive(Default)]
struct StackStr {
    buf: [u8; 32],
    len: usize,
}

impl StackStr {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

mod translation;

pub use translation::NameTranslation;

#[cfg(test)]
mod tests;
