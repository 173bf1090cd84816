//! OpenTelemetry names, units and attribute values → Prometheus names and label values.
//!
//! These are the rules of the OpenTelemetry ↔ Prometheus compatibility specification as
//! the OpenTelemetry Collector applies them, written down once so that the translator,
//! the text renderer and tests agree:
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
//! Metric names: every character outside `[a-zA-Z0-9_:]` becomes `_`, and a leading
//! digit gets a `_` prefix. Label names: every character outside `[a-zA-Z0-9_]` becomes
//! `_`; a leading digit gets a `key_` prefix; a name that would start with `__` (reserved
//! for Prometheus itself, `__name__` would overwrite the metric name) gets a `key`
//! prefix, so `__name__` becomes `key__name__`; an empty key has no name at all and is
//! dropped.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use opentelemetry::{Array, Value};

use crate::snapshot::InstrumentKind;

/// The Prometheus metric name for an instrument, with unit suffix and, for counters,
/// `_total`.
///
/// `name` is sanitised (see the [module docs](self)); the unit suffix comes from
/// [`unit_suffix`] and is not added when the name already ends with it; a monotonic
/// counter gets `_total` last, once, even if the OpenTelemetry name already ended in it.
///
/// ```
/// use prompush::prometheus::naming::metric_name;
/// use prompush::snapshot::InstrumentKind;
/// assert_eq!(metric_name("http.server.request.duration", "s", InstrumentKind::Histogram),
///            "http_server_request_duration_seconds");
/// assert_eq!(metric_name("jobs_total", "1", InstrumentKind::Counter), "jobs_total");
/// assert_eq!(metric_name("requests_total", "s", InstrumentKind::Counter),
///            "requests_seconds_total");
/// ```
pub fn metric_name(name: &str, unit: &str, kind: InstrumentKind) -> String {
    let mut out = sanitize_metric_name(name).into_owned();
    let counter = kind.is_monotonic();
    // `_total` must stay the last suffix: take it off now, put it back at the end.
    if counter && out.len() > "_total".len() && out.ends_with("_total") {
        out.truncate(out.len() - "_total".len());
    }
    let (main, per) = unit_words(unit, kind);
    match (main.is_empty(), per.is_empty()) {
        (false, false) => {
            let full = format!("{main}_per_{per}");
            if !ends_with_word(&out, &full) {
                // `net_bytes` with `By/s` becomes `net_bytes_per_second`, not
                // `net_bytes_bytes_per_second`.
                if !ends_with_word(&out, &main) {
                    out.push('_');
                    out.push_str(&main);
                }
                out.push_str("_per_");
                out.push_str(&per);
            }
        }
        (false, true) => push_word(&mut out, &main),
        (true, false) => push_word(&mut out, &format!("per_{per}")),
        (true, true) => {}
    }
    if counter && !ends_with_word(&out, "total") {
        out.push_str("_total");
    }
    out
}

/// The unit part of a Prometheus name: `s` → `seconds`, `By/s` → `bytes_per_second`,
/// `1` → `ratio` (gauges only), `{request}` → `` (annotations are dropped).
///
/// Also what [`translate`](super::translate) sends as the metadata unit. Unknown units are
/// kept, sanitised to `[a-zA-Z0-9_]`.
///
/// ```
/// use prompush::prometheus::naming::unit_suffix;
/// use prompush::snapshot::InstrumentKind::{Counter, Gauge};
/// assert_eq!(unit_suffix("By/s", Gauge), "bytes_per_second");
/// assert_eq!(unit_suffix("1", Gauge), "ratio");
/// assert_eq!(unit_suffix("1", Counter), "");
/// assert_eq!(unit_suffix("{packet}/s", Counter), "per_second");
/// ```
pub fn unit_suffix(unit: &str, kind: InstrumentKind) -> String {
    match unit_words(unit, kind) {
        (main, per) if per.is_empty() => main,
        (main, per) if main.is_empty() => format!("per_{per}"),
        (main, per) => format!("{main}_per_{per}"),
    }
}

/// Splits a UCUM unit into its translated main and per-unit words (either may be empty).
fn unit_words(unit: &str, kind: InstrumentKind) -> (String, String) {
    let unit = strip_annotations(unit.trim());
    let (main, per) = match unit.split_once('/') {
        Some((main, per)) => (main.trim(), Some(per.trim())),
        None => (unit.as_ref(), None),
    };
    let gauge = matches!(
        kind,
        InstrumentKind::Gauge | InstrumentKind::ObservableGauge
    );
    let main = match main {
        // `1` is "dimensionless": a ratio for a gauge, nothing for counts.
        "1" if gauge && per.is_none() => "ratio".to_owned(),
        "1" | "" => String::new(),
        other => main_unit_word(other).map_or_else(|| sanitize_unit(other), str::to_owned),
    };
    let per = match per {
        None | Some("") | Some("1") => String::new(),
        Some(other) => per_unit_word(other).map_or_else(|| sanitize_unit(other), str::to_owned),
    };
    (main, per)
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
        _ => return None,
    })
}

/// UCUM unit → singular English word, for the unit after `/`. Note `m` here is a minute,
/// as in the Collector: "per meter" rates are rare, "per minute" ones are not.
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" | "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        "ms" => "millisecond",
        "us" => "microsecond",
        "ns" => "nanosecond",
        _ => return None,
    })
}

/// Removes `{…}` annotations, which UCUM defines as comments (`{request}/s` → `/s`).
/// An unclosed `{` comments out the rest.
fn strip_annotations(unit: &str) -> Cow<'_, str> {
    if !unit.contains('{') {
        return Cow::Borrowed(unit);
    }
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// An unknown unit as a name word: invalid characters become `_`, with no `_` at the ends.
fn sanitize_unit(unit: &str) -> String {
    let mapped: String = unit
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    mapped.trim_matches('_').to_owned()
}

fn ends_with_word(name: &str, word: &str) -> bool {
    name == word
        || (name.len() > word.len()
            && name.ends_with(word)
            && name.as_bytes()[name.len() - word.len() - 1] == b'_')
}

fn push_word(name: &mut String, word: &str) {
    if !ends_with_word(name, word) {
        name.push('_');
        name.push_str(word);
    }
}

/// A valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) from any string.
///
/// Invalid characters (each one, also multi-byte ones) become `_`; a leading digit gets a
/// `_` prefix; an empty name becomes `unnamed` (the OpenTelemetry API does not allow one,
/// but a name must exist). Borrows when nothing changes.
pub fn sanitize_metric_name(name: &str) -> Cow<'_, str> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    if name.is_empty() {
        return Cow::Borrowed("unnamed");
    }
    let leading_digit = name.as_bytes()[0].is_ascii_digit();
    if !leading_digit && name.chars().all(valid) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if leading_digit {
        out.push('_');
    }
    out.extend(name.chars().map(|c| if valid(c) { c } else { '_' }));
    Cow::Owned(out)
}

/// A valid, non-reserved Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting
/// with `__`) from an attribute key, or `None` for an empty key.
///
/// ```
/// use prompush::prometheus::naming::sanitize_label_name;
/// assert_eq!(sanitize_label_name("http.route").as_deref(), Some("http_route"));
/// assert_eq!(sanitize_label_name("0day").as_deref(), Some("key_0day"));
/// assert_eq!(sanitize_label_name("__name__").as_deref(), Some("key__name__"));
/// assert_eq!(sanitize_label_name(""), None);
/// ```
pub fn sanitize_label_name(key: &str) -> Option<Cow<'_, str>> {
    let first = *key.as_bytes().first()?;
    if !first.is_ascii_digit() && !key.starts_with("__") && key.bytes().all(valid_label_byte) {
        return Some(Cow::Borrowed(key));
    }
    let mut out = String::with_capacity(key.len() + 4);
    push_label_name(&mut out, key);
    Some(Cow::Owned(out))
}

/// Whether `name` can be used as a label name as it is: `[a-zA-Z_][a-zA-Z0-9_]*`, not
/// starting with the reserved `__`.
///
/// ```
/// use prompush::prometheus::naming::is_valid_label_name;
/// assert!(is_valid_label_name("app_id"));
/// assert!(!is_valid_label_name("app.id"));
/// assert!(!is_valid_label_name("__name__"));
/// assert!(!is_valid_label_name(""));
/// ```
pub fn is_valid_label_name(name: &str) -> bool {
    sanitize_label_name(name).is_some_and(|s| matches!(s, Cow::Borrowed(_)))
}

/// [`sanitize_label_name`] appending to `out`, without allocating; `false` (and nothing
/// appended) for an empty key.
pub(crate) fn push_label_name(out: &mut String, key: &str) -> bool {
    let Some(&first) = key.as_bytes().first() else {
        return false;
    };
    let map = |c: char| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    };
    if first.is_ascii_digit() {
        out.push_str("key_");
    } else {
        // Decided on the mapped name: `..x` is as reserved as `__x`.
        let mut mapped = key.chars().map(map);
        if mapped.next() == Some('_') && mapped.next() == Some('_') {
            out.push_str("key");
        }
    }
    if key.bytes().all(valid_label_byte) {
        out.push_str(key);
    } else {
        out.extend(key.chars().map(map));
    }
    true
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
/// ```
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

#[cfg(test)]
mod tests;
