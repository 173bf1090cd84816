//! Rendering for scrapers: the Prometheus text format (0.0.4) and OpenMetrics 1.0 text,
//! from the same translation as remote write (names, labels, scope labels, merged
//! collisions) but as the compatibility spec says for pull: no `job` or `instance` on
//! the series, every resource attribute on `target_info`, and no timestamps.
//!
//! [`Format::negotiate`] picks the format from a request's `Accept` header as
//! Prometheus negotiates it; [`Exposition::render`] writes a snapshot in it. A user who
//! serves metrics from their own HTTP server calls
//! [`MeterProvider::render_metrics`](crate::MeterProvider::render_metrics), which does
//! both.

mod exemplar_text;
mod sink;

use super::series::MetricType;
use super::translate::Translator;
use crate::Snapshot;
use sink::{escape_help, Families};

/// A text format a scraper can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format for a request's `Accept` header: OpenMetrics when the header lists
    /// `application/openmetrics-text` with a quality at least that of `text/plain` (and
    /// above zero), else the text format, as Prometheus itself negotiates. `None` (no
    /// header) gives the text format.
    ///
    /// ```
    /// use prompush::prometheus::exposition::Format;
    /// // What Prometheus 2.42 sends.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
    ///                   version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
    /// assert_eq!(Format::negotiate(None), Format::Text);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut open_metrics = 0.0f32;
        let mut text = 0.0f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => open_metrics = open_metrics.max(quality),
                "text/plain" => text = text.max(quality),
                _ => {}
            }
        }
        if open_metrics > 0.0 && open_metrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Renders snapshots for scraping. Keep one per endpoint and reuse it: its translator
/// caches names per instrument and finds points that make one series, as a push
/// destination's does.
#[derive(Debug)]
pub struct Exposition {
    translator: Translator,
    families: Families,
}

impl Default for Exposition {
    fn default() -> Self {
        Self::new()
    }
}

impl Exposition {
    /// A renderer with a translator in pull mode ([`Translator::for_scraping`]).
    pub fn new() -> Self {
        Exposition {
            translator: Translator::for_scraping(),
            families: Families::default(),
        }
    }

    /// `snapshot` in `format`: families in the order of their first instrument, each
    /// family's series together under its `# HELP` and `# TYPE` (and `# UNIT`), no
    /// timestamps; OpenMetrics ends with `# EOF`.
    pub fn render(&mut self, snapshot: &Snapshot, format: Format) -> String {
        self.families.start(format);
        self.translator.options.pull_exemplars = format == Format::OpenMetrics;
        self.translator.translate(snapshot, &mut self.families);
        self.families.finish();
        let mut out = String::with_capacity(self.families.bytes() + 64);
        for family in self.families.list() {
            family.write_head(&mut out, format);
            out.push_str(&family.series);
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// One metric family as it is rendered.
#[derive(Debug)]
pub(super) struct Family {
    /// As remote-write metadata names it (counters with `_total`).
    name: String,
    kind: MetricType,
    help: String,
    unit: String,
    /// The series lines, ready.
    series: String,
}

impl Family {
    fn write_head(&self, out: &mut String, format: Format) {
        let open_metrics = format == Format::OpenMetrics;
        let info = open_metrics && self.name == "target_info";
        // OpenMetrics names a counter's family without `_total`, and `target_info`'s
        // family `target`, an info metric.
        let name = match self.kind {
            _ if info => "target",
            MetricType::Counter if open_metrics => {
                self.name.strip_suffix("_total").unwrap_or(&self.name)
            }
            _ => &self.name,
        };
        let kind = match self.kind {
            _ if info => "info",
            MetricType::Counter => "counter",
            MetricType::Histogram => "histogram",
            MetricType::Gauge => "gauge",
            _ if open_metrics => "unknown",
            _ => "untyped",
        };
        if !self.help.is_empty() {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape_help(out, &self.help, open_metrics);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        out.push_str(name);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
        // OpenMetrics requires the family name to end with its unit.
        let unit = self.unit.as_str();
        let named_for_unit = name.strip_suffix(unit).is_some_and(|n| n.ends_with('_'));
        if open_metrics && !unit.is_empty() && named_for_unit {
            out.push_str("# UNIT ");
            out.push_str(name);
            out.push(' ');
            out.push_str(unit);
            out.push('\n');
        }
    }
}
