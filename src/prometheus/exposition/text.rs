//! What both text formats write the same way: sample values and escaped label values
//! and help text.

use std::fmt::Write as _;

use crate::prometheus::naming;

/// A sample value as Go's shortest `'g'` form writes it (what Prometheus' own clients
/// send); small integers, the most common values, without the general formatting.
pub(super) fn write_value(out: &mut String, value: f64) {
    if value.fract() == 0.0 && value.abs() < 1e6 {
        // Exact: |value| < 1e6 fits an i64, and Go writes such integers plainly.
        let _ = write!(out, "{}", value as i64);
    } else {
        naming::write_float(out, value);
    }
}

/// `\`, `"` and line feeds escaped, as both formats want in label values.
pub(super) fn escape_label_value(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        return out.push_str(value);
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `\` and line feeds escaped; `"` too in OpenMetrics, where HELP is a quoted-style
/// string.
pub(super) fn escape_help(out: &mut String, help: &str, open_metrics: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if open_metrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}
