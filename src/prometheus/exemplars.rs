//! Which exemplars a push sends: each point's sampled measurements newer than the
//! newest one sent for it before (points keep their exemplars from push to push, and
//! Prometheus wants each series' exemplar timestamps to increase), and, for a
//! histogram's bucket series, those whose value falls in that bucket.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::snapshot::{Attributes, Exemplar};

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

/// The exemplars (of `exemplars`) of bucket `i` of a histogram whose upper bounds are
/// `bounds` (`+Inf` past the end): those in `(bounds[i-1], bounds[i]]`.
pub(super) fn in_bucket(exemplars: &[Exemplar], bounds: &[f64], i: usize) -> Vec<Exemplar> {
    let upper = bounds.get(i).copied().unwrap_or(f64::INFINITY);
    let lower = match i {
        0 => f64::NEG_INFINITY,
        _ => bounds.get(i - 1).copied().unwrap_or(f64::INFINITY),
    };
    exemplars
        .iter()
        .filter(|e| e.value > lower && e.value <= upper)
        .cloned()
        .collect()
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
