//! Which exemplars a translation hands over, and their labels.
//!
//! A push sends each point's sampled measurements newer than the newest one sent for it
//! before (points keep their exemplars from push to push, and Prometheus wants each
//! series' exemplar timestamps to increase). A scrape shows every point's current
//! exemplars at every render, as each of several scrapers (an HA pair) must see them,
//! and only where OpenMetrics allows one: on counters and histograms. For a histogram's
//! bucket series, the exemplars are those whose value falls in that bucket.
//!
//! Labels: `trace_id` and `span_id` (lower-case hex, when the measurement was made in a
//! span), then the attributes the point does not carry (names made valid as for series
//! labels, the first of a repeated name, no empty values), those only while the whole
//! set stays within the 128 code points (names and values) that OpenMetrics and
//! Prometheus allow; otherwise the ids alone.

use std::collections::HashMap;
use std::ops::Range;
use std::time::SystemTime;

use super::naming;
use crate::snapshot::{Attributes, Exemplar};

/// The most code points an exemplar's label names and values may have together.
const MAX_EXEMPLAR_RUNES: usize = 128;

/// Which of a point's exemplars a translation hands over.
#[derive(Debug)]
pub(super) enum Handover<'m> {
    /// Those newer than the point's mark, which moves (a push: each once).
    Fresh(&'m mut Marks),
    /// All of them at every translation, on counters and histograms only (a scrape in
    /// OpenMetrics).
    Scrape,
    /// None (a scrape in the text format, which has no exemplars; series keys).
    Off,
}

impl Handover<'_> {
    /// The exemplars of `metric`'s point `attributes` to hand over, of `exemplars`
    /// (oldest first); `counter_or_histogram` says whether OpenMetrics lets its series
    /// carry them.
    pub(super) fn select<'e>(
        &mut self,
        metric: u64,
        attributes: &Attributes,
        exemplars: &'e [Exemplar],
        counter_or_histogram: bool,
    ) -> &'e [Exemplar] {
        match self {
            Handover::Fresh(marks) => {
                Marks::fresh(Some(&mut **marks), metric, attributes, exemplars)
            }
            Handover::Scrape if counter_or_histogram => exemplars,
            Handover::Scrape | Handover::Off => &[],
        }
    }
}

/// The newest exemplar time sent, per metric and attribute set.
#[derive(Debug, Default)]
pub(super) struct Marks(HashMap<(u64, Attributes), SystemTime, foldhash::fast::RandomState>);

impl Marks {
    /// The exemplars of `exemplars` (oldest first) newer than the mark of `metric`'s
    /// point `attributes`, which moves to the newest of them; all of them without
    /// `marks` (where no series is sent).
    pub(super) fn fresh<'e>(
        marks: Option<&mut Marks>,
        metric: u64,
        attributes: &Attributes,
        exemplars: &'e [Exemplar],
    ) -> &'e [Exemplar] {
        let (Some(marks), Some(newest)) = (marks, exemplars.last()) else {
            return exemplars;
        };
        let mark = marks
            .0
            .entry((metric, attributes.clone()))
            .or_insert(SystemTime::UNIX_EPOCH);
        let first_new = exemplars.partition_point(|e| e.time <= *mark);
        if first_new < exemplars.len() {
            *mark = newest.time;
        }
        &exemplars[first_new..]
    }

    /// Forgets the marks of metrics `keep` refuses.
    pub(super) fn retain(&mut self, keep: impl Fn(u64) -> bool) {
        self.0.retain(|(metric, _), _| keep(*metric));
    }
}

/// An exemplar's labels (see the module documentation), built in reused buffers.
#[derive(Debug, Default)]
pub(super) struct ExemplarLabels {
    text: String,
    labels: Vec<(Range<usize>, Range<usize>)>,
}

impl ExemplarLabels {
    /// Builds the labels of `e`.
    pub(super) fn build(&mut self, e: &Exemplar) -> &Self {
        self.text.clear();
        self.labels.clear();
        if e.has_trace() {
            self.push_hex("trace_id", &e.trace_id);
            self.push_hex("span_id", &e.span_id);
        }
        let ids = (self.labels.len(), self.text.len());
        for kv in &e.filtered_attributes {
            let start = self.text.len();
            if !naming::push_label_name(&mut self.text, kv.key.as_str()) {
                continue;
            }
            let name = start..self.text.len();
            let taken = self
                .labels
                .iter()
                .any(|(n, _)| self.text[n.clone()] == self.text[name.clone()]);
            naming::write_attribute_value(&mut self.text, &kv.value);
            let value = name.end..self.text.len();
            if taken || value.is_empty() {
                self.text.truncate(start);
                continue;
            }
            self.labels.push((name, value));
        }
        if self
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum::<usize>()
            > MAX_EXEMPLAR_RUNES
        {
            self.labels.truncate(ids.0);
            self.text.truncate(ids.1);
        }
        self
    }

    /// The `(name, value)` pairs: the ids first, then the attributes in their order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels
            .iter()
            .map(|(n, v)| (&self.text[n.clone()], &self.text[v.clone()]))
    }

    fn push_hex(&mut self, name: &str, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let start = self.text.len();
        self.text.push_str(name);
        let value = self.text.len();
        for b in bytes {
            self.text.push(char::from(DIGITS[usize::from(b >> 4)]));
            self.text.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        self.labels.push((start..value, value..self.text.len()));
    }
}

/// The exemplars (of `exemplars`) of bucket `i` of a histogram whose upper bounds are
/// `bounds` (`+Inf` past the end): those in `(bounds[i-1], bounds[i]]`.
pub(super) fn in_bucket(exemplars: &[Exemplar], bounds: &[f64], i: usize) -> Vec<Exemplar> {
    let within = bucket(bounds, i);
    exemplars.iter().filter(|e| within(e)).cloned().collect()
}

/// The newest of [`in_bucket`]'s exemplars (`exemplars` come oldest first).
pub(super) fn newest_in_bucket<'e>(
    exemplars: &'e [Exemplar],
    bounds: &[f64],
    i: usize,
) -> Option<&'e Exemplar> {
    let within = bucket(bounds, i);
    exemplars.iter().rev().find(|e| within(e))
}

/// Whether an exemplar falls in bucket `i` of `bounds` (see [`in_bucket`]).
fn bucket(bounds: &[f64], i: usize) -> impl Fn(&Exemplar) -> bool {
    let upper = bounds.get(i).copied().unwrap_or(f64::INFINITY);
    let lower = match i {
        0 => f64::NEG_INFINITY,
        _ => bounds.get(i - 1).copied().unwrap_or(f64::INFINITY),
    };
    move |e| e.value > lower && e.value <= upper
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(ms: u64, value: f64) -> Exemplar {
        Exemplar {
            value,
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
            trace_id: [1; 16],
            span_id: [1; 8],
            filtered_attributes: Vec::new(),
        }
    }

    #[test]
    fn each_exemplar_is_sent_once_and_only_newer_ones_follow() {
        let mut marks = Marks::default();
        let set = Attributes::default();
        let first = [at(1, 1.0), at(2, 2.0)];
        let mut fresh = |metric, exemplars| Marks::fresh(Some(&mut marks), metric, &set, exemplars);
        assert_eq!(fresh(7, &first).len(), 2);
        assert!(fresh(7, &first).is_empty());
        let later = [at(2, 2.0), at(5, 5.0)];
        assert_eq!(fresh(7, &later), &[at(5, 5.0)]);
        // Another metric has marks of its own.
        assert_eq!(fresh(8, &first).len(), 2);
        assert_eq!(Marks::fresh(None, 7, &set, &first).len(), 2);
    }

    #[test]
    fn a_bucket_takes_the_exemplars_within_its_bounds() {
        let exemplars = [at(1, 0.5), at(2, 1.0), at(3, 7.0)];
        let values = |i| -> Vec<f64> {
            in_bucket(&exemplars, &[1.0, 5.0], i)
                .iter()
                .map(|e| e.value)
                .collect()
        };
        assert_eq!(values(0), [0.5, 1.0]);
        assert!(values(1).is_empty());
        assert_eq!(values(2), [7.0]);
    }
}
