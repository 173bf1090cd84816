//! The [`SeriesSink`] behind a render: series lines grouped by family, and each point's
//! series heads (`name{labels} `) kept from one render to the next, so a steady-state
//! scrape writes only values for the series it has seen, as a push does. In
//! OpenMetrics, a counter's `_total` line and a histogram's `_bucket` lines end with
//! their newest exemplar.

use std::collections::HashMap;

use super::escaping::{needs_quotes, Escaping};
use super::exemplar_text;
use super::format::Format;
use super::text::{escape_help, escape_label_value, write_value};
use crate::prometheus::exemplar_selection::{newest_in_bucket, ExemplarLabels};
use crate::prometheus::series::{
    Labels, LabelsVersion, Metadata, MetricType, ReusedPoint, Sample, SeriesSink,
};
use crate::snapshot::{Attributes, Exemplar};

/// The families of one render, and the heads cache.
#[derive(Debug, Default)]
pub(super) struct RenderedFamilies {
    list: Vec<Family>,
    /// Series name → family index (a histogram's three series names lead to it).
    by_series_name: HashMap<String, usize>,
    /// The previous series' name and family: consecutive series mostly share them.
    last: Option<(String, usize)>,
    heads: Heads,
    /// Whether lines carry exemplars: OpenMetrics (the text format has none).
    open_metrics: bool,
    /// How names outside the legacy set are written.
    escaping: Escaping,
    exemplar_labels: ExemplarLabels,
}

/// Each point's series heads from earlier renders, by metric id.
#[derive(Debug, Default)]
struct Heads {
    metrics: HashMap<u64, MetricHeads>,
    /// The metric whose points are being rendered.
    current: Option<u64>,
    /// The point whose series are being built, to be kept once all have come.
    building: Option<Building>,
    /// Counts renders; metrics not seen in the latest one are dropped.
    render: u64,
    /// Scratch for one series head.
    head: String,
}

#[derive(Debug)]
struct MetricHeads {
    version: LabelsVersion,
    render: u64,
    points: Vec<Option<PointHeads>>,
}

/// A point's attribute set (held, so its identity is not reused) and its series heads,
/// each after its series name (as the translator gives it, for the family lookup) and
/// with that name's length.
#[derive(Debug)]
struct PointHeads {
    set: Attributes,
    heads: Vec<(usize, String)>,
}

#[derive(Debug)]
struct Building {
    index: usize,
    set: Attributes,
    expected: usize,
    heads: Vec<(usize, String)>,
}

impl RenderedFamilies {
    /// Before a render in `format` with `escaping`: no families yet; the heads cache
    /// stays unless the escaping changed (the heads hold escaped names).
    pub(super) fn start(&mut self, format: Format, escaping: Escaping) {
        self.open_metrics = format == Format::OpenMetrics;
        if escaping != self.escaping {
            self.escaping = escaping;
            self.heads.metrics.clear();
        }
        self.list.clear();
        self.by_series_name.clear();
        self.last = None;
        self.heads.render += 1;
        self.heads.current = None;
        self.heads.building = None;
    }

    /// After a render: the heads of metrics it did not see are dropped.
    pub(super) fn finish(&mut self) {
        let render = self.heads.render;
        self.heads.metrics.retain(|_, m| m.render == render);
    }

    pub(super) fn list(&self) -> &[Family] {
        &self.list
    }

    pub(super) fn bytes(&self) -> usize {
        self.list.iter().map(|f| f.series.len() + 128).sum()
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

    /// Appends `head` (the series as written) and `value` as one line to the family of
    /// series `name` (as translated), with `exemplar` where OpenMetrics allows one.
    fn line(&mut self, name: &str, head: &str, value: f64, exemplar: Option<&Exemplar>) {
        let index = self.family_of(name);
        let family = &mut self.list[index];
        let out = &mut family.series;
        out.push_str(head);
        write_value(out, value);
        if let Some(e) = exemplar {
            let allowed = match family.kind {
                MetricType::Counter => name.ends_with("_total"),
                MetricType::Histogram => name.ends_with("_bucket"),
                _ => false,
            };
            if allowed && self.open_metrics {
                exemplar_text::write(out, self.exemplar_labels.build(e), e);
            }
        }
        out.push('\n');
    }

    /// One series' line from its labels; its head is kept for the next render.
    fn sample(&mut self, labels: &Labels<'_>, value: f64, exemplar: Option<&Exemplar>) {
        let name = labels.get("__name__").unwrap_or_default();
        let escaping = self.escaping;
        // The translated name, then the head as written: `name{labels} `, or with a
        // quoted UTF-8 name `{"name",labels} `.
        let mut head = std::mem::take(&mut self.heads.head);
        head.clear();
        head.push_str(name);
        let quoted = needs_quotes(escaping, name);
        if quoted {
            head.push('{');
        }
        escaping.push_name(&mut head, name);
        let mut first = !quoted;
        for (label, label_value) in labels.iter().filter(|(n, _)| *n != "__name__") {
            head.push(if first { '{' } else { ',' });
            first = false;
            escaping.push_name(&mut head, label);
            head.push_str("=\"");
            escape_label_value(&mut head, label_value);
            head.push('"');
        }
        if !first {
            head.push('}');
        }
        head.push(' ');
        self.line(name, &head[name.len()..], value, exemplar);
        self.heads.keep(name.len(), &head);
        self.heads.head = head;
    }
}

impl SeriesSink for RenderedFamilies {
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
        self.sample(labels, value, None);
    }

    /// Exemplars come oldest first: the newest is shown.
    fn series_with_exemplars(&mut self, labels: &Labels<'_>, sample: Sample<'_>) {
        self.sample(labels, sample.value, sample.exemplars.last());
    }

    fn begin_metric(&mut self, metric: u64, points: usize, version: LabelsVersion) {
        let heads = &mut self.heads;
        heads.current = Some(metric);
        heads.building = None;
        let render = heads.render;
        let entry = heads.metrics.entry(metric).or_insert_with(|| MetricHeads {
            version,
            render,
            points: Vec::new(),
        });
        if entry.version != version {
            entry.version = version;
            entry.points.clear();
        }
        entry.render = render;
        entry.points.resize_with(points, || None);
    }

    fn reuse_point(&mut self, index: usize, set: &Attributes, samples: &[f64], _: i64) -> bool {
        self.reuse(index, set, samples, |_| None)
    }

    fn reuse_point_with_exemplars(&mut self, point: ReusedPoint<'_>) -> bool {
        let exemplars = point.exemplars;
        let newest = |series: usize| match point.bounds {
            None => exemplars.last(),
            // The bucket series come first; `_sum` and `_count` after them have none.
            Some(bounds) if series <= bounds.len() => newest_in_bucket(exemplars, bounds, series),
            Some(_) => None,
        };
        self.reuse(point.index, point.set, point.samples, newest)
    }
}

impl RenderedFamilies {
    /// Writes the point's series from the heads cache, each with `exemplar(i)`; `false`
    /// (and the point's heads to be kept as they come) when the cache does not hold it.
    fn reuse<'e>(
        &mut self,
        index: usize,
        set: &Attributes,
        samples: &[f64],
        exemplar: impl Fn(usize) -> Option<&'e Exemplar>,
    ) -> bool {
        let cached = self.heads.current.and_then(|metric| {
            let point = self.heads.metrics.get_mut(&metric)?.points.get_mut(index)?;
            match point.take() {
                Some(p) if p.set.same_set(set) && p.heads.len() == samples.len() => Some(p),
                _ => None,
            }
        });
        let Some(point) = cached else {
            self.heads.building = Some(Building {
                index,
                set: set.clone(),
                expected: samples.len(),
                heads: Vec::with_capacity(samples.len()),
            });
            return false;
        };
        for (i, ((name_len, head), &value)) in point.heads.iter().zip(samples).enumerate() {
            let (name, written) = head.split_at(*name_len);
            self.line(name, written, value, exemplar(i));
        }
        self.heads.put_back(index, point);
        true
    }
}

impl Heads {
    /// Records a series head of the point being built; keeps the point once all its
    /// series have come.
    fn keep(&mut self, name_len: usize, head: &str) {
        let Some(building) = &mut self.building else {
            return;
        };
        building.heads.push((name_len, head.to_owned()));
        if building.heads.len() < building.expected {
            return;
        }
        if let Some(done) = self.building.take() {
            let point = PointHeads {
                set: done.set,
                heads: done.heads,
            };
            self.put_back(done.index, point);
        }
    }

    fn put_back(&mut self, index: usize, point: PointHeads) {
        let slot = self
            .current
            .and_then(|metric| self.metrics.get_mut(&metric))
            .and_then(|m| m.points.get_mut(index));
        if let Some(slot) = slot {
            *slot = Some(point);
        }
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
    pub(super) series: String,
}

impl Family {
    pub(super) fn write_head(&self, out: &mut String, format: Format, escaping: Escaping) {
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
        // OpenMetrics requires the family name to end with its unit.
        let unit = self.unit.as_str();
        let named_for_unit = name.strip_suffix(unit).is_some_and(|n| n.ends_with('_'));
        let mut written = String::with_capacity(name.len() + 2);
        escaping.push_name(&mut written, name);
        let name = written.as_str();
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
        if open_metrics && !unit.is_empty() && named_for_unit {
            out.push_str("# UNIT ");
            out.push_str(name);
            out.push(' ');
            out.push_str(unit);
            out.push('\n');
        }
    }
}
