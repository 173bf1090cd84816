//! The figures of a run and the Markdown table they make: per push, the median of the
//! measured pushes (the warm-up push, which creates the series in Prometheus, is shown
//! apart), each with its ratio to prompush's figure at the same size.

use crate::Side;

/// One push's figures.
pub struct Push {
    /// The application's CPU time during the push (every thread).
    pub cpu_ns: u128,
    /// The push's wall time in the application (flush called → returned).
    pub wall_ns: u128,
    /// T0 (just before the flush) → the first query answer showing every series.
    pub queryable_ns: u128,
    /// Query answers asked for until then.
    pub polls: u32,
    /// Bytes the application sent (requests, headers included).
    pub app_bytes: u64,
    /// (c): bytes the Collector sent to Prometheus.
    pub collector_bytes: Option<u64>,
    /// (c): the Collector's CPU time from before the push until queryable.
    pub collector_cpu_ns: Option<u128>,
    /// (c): the Collector's resident set after the push.
    pub collector_rss_kib: Option<u64>,
}

/// One side at one size.
pub struct Measured {
    /// Which side.
    pub side: Side,
    /// Series per push.
    pub series: usize,
    /// The first push.
    pub warm_up: Push,
    /// The measured pushes.
    pub pushes: Vec<Push>,
    /// The application's peak RSS over the whole run.
    pub app_peak_rss_kib: u64,
    /// (c): the Collector's peak RSS over the whole run.
    pub collector_peak_rss_kib: Option<u64>,
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

impl Measured {
    fn median_of(&self, f: impl Fn(&Push) -> Option<f64>) -> Option<f64> {
        let values: Vec<f64> = self.pushes.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| median(values))
    }

    fn cpu_us_per_series(&self) -> Option<f64> {
        self.median_of(|p| Some(p.cpu_ns as f64 / 1e3 / self.series as f64))
    }
    fn wall_ms(&self) -> Option<f64> {
        self.median_of(|p| Some(p.wall_ns as f64 / 1e6))
    }
    fn queryable_ms(&self) -> Option<f64> {
        self.median_of(|p| Some(p.queryable_ns as f64 / 1e6))
    }
    fn bytes_per_series(&self) -> Option<f64> {
        self.median_of(|p| Some(p.app_bytes as f64 / self.series as f64))
    }
    fn collector_bytes_per_series(&self) -> Option<f64> {
        self.median_of(|p| p.collector_bytes.map(|b| b as f64 / self.series as f64))
    }
    fn collector_cpu_us_per_series(&self) -> Option<f64> {
        self.median_of(|p| {
            p.collector_cpu_ns
                .map(|c| c as f64 / 1e3 / self.series as f64)
        })
    }
}

/// `value unit (ratio×)` against prompush's value; `—` where there is none.
fn cell(value: Option<f64>, base: Option<f64>, digits: usize, unit: &str) -> String {
    match (value, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{v:.digits$} {unit} ({:.2}×)", v / b),
        (Some(v), _) => format!("{v:.digits$} {unit}"),
        (None, _) => "—".to_owned(),
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Prompush => "(a) prompush → remote write",
        Side::Otlp => "(b) SDK + OTLP → Prometheus OTLP",
        Side::Collector => "(c) SDK + OTLP → Collector → remote write",
    }
}

/// Prints the table (stdout) for the guide.
pub fn print(results: &[Measured], gzip: bool) {
    println!(
        "Per push, the median of {} pushes after a warm-up push; ratios against (a) at the same size. \
         Compression: (a) snappy (remote write), (b)/(c) application → OTLP {}, (c) Collector → Prometheus snappy.\n",
        results.first().map_or(0, |m| m.pushes.len()),
        if gzip { "gzip" } else { "none" }
    );
    println!(
        "| series | side | app CPU per series | app push time | app peak RSS | bytes on the wire per series (app) | queryable after | first push queryable after | Collector CPU per series | Collector → Prometheus bytes per series | Collector peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for m in results {
        let base = results
            .iter()
            .find(|b| b.series == m.series && b.side == Side::Prompush);
        let of = |f: fn(&Measured) -> Option<f64>| base.and_then(f);
        let rss = Some(m.app_peak_rss_kib as f64 / 1024.0);
        let base_rss = base.map(|b| b.app_peak_rss_kib as f64 / 1024.0);
        let first = Some(m.warm_up.queryable_ns as f64 / 1e6);
        let base_first = base.map(|b| b.warm_up.queryable_ns as f64 / 1e6);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.series,
            side_name(m.side),
            cell(
                m.cpu_us_per_series(),
                of(Measured::cpu_us_per_series),
                2,
                "µs"
            ),
            cell(m.wall_ms(), of(Measured::wall_ms), 1, "ms"),
            cell(rss, base_rss, 1, "MiB"),
            cell(m.bytes_per_series(), of(Measured::bytes_per_series), 1, "B"),
            cell(m.queryable_ms(), of(Measured::queryable_ms), 0, "ms"),
            cell(first, base_first, 0, "ms"),
            cell(m.collector_cpu_us_per_series(), None, 2, "µs"),
            cell(m.collector_bytes_per_series(), None, 1, "B"),
            cell(
                m.collector_peak_rss_kib.map(|k| k as f64 / 1024.0),
                None,
                1,
                "MiB"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn a_cell_gives_its_ratio_to_prompush_when_there_is_one() {
        assert_eq!(cell(Some(1.5), Some(0.5), 2, "µs"), "1.50 µs (3.00×)");
        assert_eq!(cell(Some(1.5), None, 1, "B"), "1.5 B");
        assert_eq!(cell(None, Some(1.0), 1, "B"), "—");
    }
}
