//! An exemplar as OpenMetrics writes it after a sample: ` # {labels} value timestamp`,
//! label values escaped as the series' own, the timestamp in seconds to the nanosecond
//! the measurement was taken (Prometheus keeps milliseconds of it).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::text::{escape_label_value, write_value};
use crate::prometheus::exemplar_selection::ExemplarLabels;
use crate::snapshot::Exemplar;

/// Appends ` # {labels} value timestamp` for `e`, whose labels are `labels`.
pub(super) fn write(out: &mut String, labels: &ExemplarLabels, e: &Exemplar) {
    out.push_str(" # {");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    out.push_str("} ");
    write_value(out, e.value);
    out.push(' ');
    write_seconds(out, e.time);
}

/// `time` as seconds since the epoch, with as many decimals as it needs (at most nine):
/// never the exponent form, which would lose the sub-second digits.
fn write_seconds(out: &mut String, time: SystemTime) {
    let (sign, since) = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => ("", d),
        Err(e) => ("-", e.duration()),
    };
    let _ = write!(out, "{sign}{}", since.as_secs());
    let nanos = since.subsec_nanos();
    if nanos != 0 {
        let _ = write!(out, ".{nanos:09}");
        let trimmed = out.trim_end_matches('0').len();
        out.truncate(trimmed);
    }
}
