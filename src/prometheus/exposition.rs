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

use std::collections::HashMap;
use std::fmt::Write as _;

use super::naming;
use super::series::{Labels, Metadata, MetricType, SeriesSink};
use super::translate::Translator;
use crate::Snapshot;

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
        self.families.clear();
        self.translator.translate(snapshot, &mut self.families);
        let mut out = String::with_capacity(self.families.bytes() + 64);
        for family in &self.families.list {
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
struct Family {
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

/// The families of one render; a [`SeriesSink`].
#[derive(Debug, Default)]
struct Families {
    list: Vec<Family>,
    /// Series name → family index (a histogram's three series names lead to it).
    by_series_name: HashMap<String, usize>,
    /// The previous series' name and family: consecutive series mostly share them.
    last: Option<(String, usize)>,
}

impl Families {
    fn clear(&mut self) {
        self.list.clear();
        self.by_series_name.clear();
        self.last = None;
    }

    fn family_of(&mut self, name: &str) -> usize {
        if let Some((last, index)) = &self.last {
            if last == name {
                return *index;
            }
        }
        let index = match self.by_series_name.get(name) {
            Some(&index) => index,
            // Never the case for a translator's output; kept renderable all the same.
            None => {
                self.metadata(&Metadata {
                    kind: MetricType::Unknown,
                    family: name,
                    help: "",
                    unit: "",
                });
                self.list.len() - 1
            }
        };
        match &mut self.last {
            Some((last, last_index)) => {
                last.clear();
                last.push_str(name);
                *last_index = index;
            }
            None => self.last = Some((name.to_owned(), index)),
        }
        index
    }

    fn bytes(&self) -> usize {
        self.list.iter().map(|f| f.series.len() + 128).sum()
    }
}

impl SeriesSink for Families {
    fn metadata(&mut self, m: &Metadata<'_>) {
        let index = self.list.len();
        self.list.push(Family {
            name: m.family.to_owned(),
            kind: m.kind,
            help: m.help.to_owned(),
            unit: m.unit.to_owned(),
            series: String::new(),
        });
        if m.kind == MetricType::Histogram {
            for suffix in ["_bucket", "_sum", "_count"] {
                self.by_series_name
                    .insert(format!("{}{suffix}", m.family), index);
            }
        } else {
            self.by_series_name.insert(m.family.to_owned(), index);
        }
    }

    fn series(&mut self, labels: &Labels<'_>, value: f64, _timestamp_ms: i64) {
        let name = labels.get("__name__").unwrap_or_default();
        let index = self.family_of(name);
        let out = &mut self.list[index].series;
        out.push_str(name);
        let mut first = true;
        for (label, label_value) in labels.iter().filter(|(n, _)| *n != "__name__") {
            out.push(if first { '{' } else { ',' });
            first = false;
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, label_value);
            out.push('"');
        }
        if !first {
            out.push('}');
        }
        out.push(' ');
        write_value(out, value);
        out.push('\n');
    }
}

/// A sample value as Go's shortest `'g'` form writes it (what Prometheus' own clients
/// send), small integers, the most common values, without the general formatting.
fn write_value(out: &mut String, value: f64) {
    if value.fract() == 0.0 && value.abs() < 1e6 {
        // Exact: |value| < 1e6 fits an i64, and Go writes such integers plainly.
        let _ = write!(out, "{}", value as i64);
    } else {
        naming::write_float(out, value);
    }
}

/// `\`, `"` and line feeds escaped, as both formats want in label values.
fn escape_label_value(out: &mut String, value: &str) {
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
fn escape_help(out: &mut String, help: &str, open_metrics: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if open_metrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}
