//! Which streams an instrument gets: the specification's rules for matching views.
//!
//! Every view that returns a stream for the instrument yields one; a view whose
//! aggregation the instrument kind does not allow is warned about and treated as if it
//! did not exist; no view left means the default stream. What the stream leaves unset
//! is the instrument's own, and a view's aggregation wins over the instrument's
//! advisory buckets. Runs once per instrument, at its creation: nothing here is on the
//! recording path.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::{Aggregation, Instrument, InstrumentKind, Stream};
use crate::aggregate::exponential::ExponentialConfig;
use crate::aggregate::key_filter::KeyFilter;

/// A view as the provider keeps it.
pub(crate) type View = Arc<dyn Fn(&Instrument) -> Option<Stream> + Send + Sync>;

/// The views a provider builder collects, in the order they were added.
#[derive(Clone, Default)]
pub(crate) struct Views(pub(crate) Vec<View>);

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} view(s)", self.0.len())
    }
}

/// How one stream aggregates, decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Chosen {
    Sum {
        monotonic: bool,
    },
    LastValue,
    Explicit {
        bounds: Arc<[f64]>,
        record_min_max: bool,
    },
    Exponential {
        config: ExponentialConfig,
        record_min_max: bool,
    },
}

/// One stream of an instrument, decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) name: Cow<'static, str>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) unit: Cow<'static, str>,
    pub(crate) aggregation: Chosen,
    pub(crate) keys: Option<KeyFilter>,
    /// The view's cardinality limit; `None`: the provider's.
    pub(crate) cardinality_limit: Option<usize>,
}

/// What a histogram gets when no view chose its aggregation.
#[derive(Debug, Clone)]
pub(crate) struct HistogramDefault {
    /// The buckets the instrument was created with (its advice), checked.
    pub(crate) advised: Option<Arc<[f64]>>,
    /// The provider's exponential histograms, when it chose those.
    pub(crate) exponential: Option<ExponentialConfig>,
    /// The buckets otherwise.
    pub(crate) bounds: Arc<[f64]>,
}

/// The streams of `instrument` under `views`; empty when every view that applies drops
/// it.
pub(crate) fn streams(
    views: &[View],
    instrument: &Instrument,
    histogram: &HistogramDefault,
) -> Vec<Resolved> {
    let mut matched = false;
    let mut streams = Vec::new();
    for (n, view) in views.iter().enumerate() {
        let stream = match catch_unwind(AssertUnwindSafe(|| view(instrument))) {
            Ok(Some(stream)) => stream,
            Ok(None) => continue,
            Err(_) => {
                tracing::error!(
                    instrument = %instrument.name,
                    view = n,
                    "a view panicked; it is ignored for this instrument"
                );
                continue;
            }
        };
        let aggregation = stream.aggregation.clone().unwrap_or(Aggregation::Default);
        if !allows(instrument.kind, &aggregation) {
            tracing::warn!(
                instrument = %instrument.name,
                kind = ?instrument.kind,
                view = n,
                aggregation = ?aggregation,
                "a view sets an aggregation this instrument kind does not allow (see the \
                 guide's chapter on views for the table); the view is ignored for this \
                 instrument, as if it did not exist"
            );
            continue;
        }
        matched = true;
        if aggregation == Aggregation::Drop {
            continue;
        }
        streams.push(resolve(instrument, stream, aggregation, histogram));
    }
    if !matched {
        streams.push(resolve(
            instrument,
            Stream::default(),
            Aggregation::Default,
            histogram,
        ));
    }
    streams
}

/// Whether an instrument kind allows an aggregation: sums for what adds up (and an
/// observable gauge, which the specification gives a non-monotonic sum), last values
/// for gauges, histograms for synchronous instruments only (the specification's
/// example of a view that cannot apply is a histogram on an asynchronous one).
pub(crate) fn allows(kind: InstrumentKind, aggregation: &Aggregation) -> bool {
    use InstrumentKind as K;
    match aggregation {
        Aggregation::Drop | Aggregation::Default => true,
        Aggregation::Sum => kind != K::Gauge,
        Aggregation::LastValue => matches!(kind, K::Gauge | K::ObservableGauge),
        Aggregation::ExplicitBucketHistogram { .. }
        | Aggregation::Base2ExponentialHistogram { .. } => !kind.is_observable(),
        // An aggregation a later `opentelemetry_sdk` adds: not one prompush makes.
        _ => false,
    }
}

fn resolve(
    instrument: &Instrument,
    stream: Stream,
    aggregation: Aggregation,
    histogram: &HistogramDefault,
) -> Resolved {
    let kind = instrument.kind;
    let monotonic = matches!(
        kind,
        InstrumentKind::Counter | InstrumentKind::Histogram | InstrumentKind::ObservableCounter
    );
    let aggregation = match aggregation {
        Aggregation::Sum => Chosen::Sum { monotonic },
        Aggregation::LastValue => Chosen::LastValue,
        Aggregation::ExplicitBucketHistogram {
            boundaries,
            record_min_max,
        } => Chosen::Explicit {
            bounds: boundaries.into(),
            record_min_max,
        },
        Aggregation::Base2ExponentialHistogram {
            max_size,
            max_scale,
            record_min_max,
        } => Chosen::Exponential {
            config: ExponentialConfig {
                max_size,
                max_scale,
            },
            record_min_max,
        },
        // `Drop` never gets here; `Default` and any later variant take the kind's.
        _ => default_aggregation(kind, histogram),
    };
    let keys = match (stream.allowed_keys, stream.excluded_keys) {
        (Some(allowed), _) => Some(KeyFilter::Allow(as_strs(&allowed))),
        (None, Some(excluded)) if !excluded.is_empty() => {
            Some(KeyFilter::Exclude(as_strs(&excluded)))
        }
        (None, _) => None,
    };
    Resolved {
        name: stream.name.unwrap_or_else(|| instrument.name.clone()),
        description: stream
            .description
            .unwrap_or_else(|| instrument.description.clone()),
        unit: stream.unit.unwrap_or_else(|| instrument.unit.clone()),
        aggregation,
        keys,
        cardinality_limit: stream.cardinality_limit,
    }
}

/// A view's keys as the filter keeps them.
fn as_strs(keys: &[opentelemetry::Key]) -> Box<[Box<str>]> {
    keys.iter().map(|k| Box::from(k.as_str())).collect()
}

/// The specification's default aggregation of each kind.
fn default_aggregation(kind: InstrumentKind, histogram: &HistogramDefault) -> Chosen {
    use InstrumentKind as K;
    match kind {
        K::Counter | K::ObservableCounter => Chosen::Sum { monotonic: true },
        K::UpDownCounter | K::ObservableUpDownCounter => Chosen::Sum { monotonic: false },
        K::Gauge | K::ObservableGauge => Chosen::LastValue,
        K::Histogram => match (&histogram.advised, histogram.exponential) {
            (Some(bounds), _) => Chosen::Explicit {
                bounds: bounds.clone(),
                record_min_max: true,
            },
            (None, Some(config)) => Chosen::Exponential {
                config,
                record_min_max: true,
            },
            (None, None) => Chosen::Explicit {
                bounds: histogram.bounds.clone(),
                record_min_max: true,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{InstrumentationScope, Key};

    fn instrument(name: &'static str, kind: InstrumentKind) -> Instrument {
        Instrument {
            name: name.into(),
            description: "what it counts".into(),
            kind,
            unit: "s".into(),
            scope: InstrumentationScope::builder("lib").build(),
        }
    }

    fn no_advice() -> HistogramDefault {
        HistogramDefault {
            advised: None,
            exponential: None,
            bounds: vec![1.0, 2.0].into(),
        }
    }

    fn view(f: impl Fn(&Instrument) -> Option<Stream> + Send + Sync + 'static) -> View {
        Arc::new(f)
    }

    fn buckets(b: &[f64]) -> Aggregation {
        Aggregation::ExplicitBucketHistogram {
            boundaries: b.to_vec(),
            record_min_max: true,
        }
    }

    fn with(aggregation: Aggregation) -> Option<Stream> {
        Stream::builder().with_aggregation(aggregation).build().ok()
    }

    #[test]
    fn no_view_gives_the_default_stream_of_the_instrument() {
        let i = instrument("h", InstrumentKind::Histogram);
        let streams = streams(&[], &i, &no_advice());
        assert_eq!(
            streams,
            [Resolved {
                name: "h".into(),
                description: "what it counts".into(),
                unit: "s".into(),
                aggregation: Chosen::Explicit {
                    bounds: vec![1.0, 2.0].into(),
                    record_min_max: true
                },
                keys: None,
                cardinality_limit: None,
            }]
        );
    }

    #[test]
    fn every_matching_view_yields_a_stream_and_others_do_not_count() {
        let views = [
            view(|i| (i.name() == "c").then(|| Stream::builder().with_name("a").build().ok())?),
            view(|_| None),
            view(|i| (i.name() == "c").then(|| Stream::builder().with_name("b").build().ok())?),
        ];
        let names: Vec<_> = streams(
            &views,
            &instrument("c", InstrumentKind::Counter),
            &no_advice(),
        )
        .into_iter()
        .map(|s| s.name)
        .collect();
        assert_eq!(names, ["a", "b"]);
        let other = streams(
            &views,
            &instrument("d", InstrumentKind::Counter),
            &no_advice(),
        );
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].name, "d");
    }

    #[test]
    fn a_view_that_drops_leaves_no_stream_but_other_views_still_apply() {
        let drop = view(|_| with(Aggregation::Drop));
        let i = instrument("c", InstrumentKind::Counter);
        assert!(streams(std::slice::from_ref(&drop), &i, &no_advice()).is_empty());
        let rename = view(|_| Stream::builder().with_name("kept").build().ok());
        let both = streams(&[drop, rename], &i, &no_advice());
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].name, "kept");
    }

    #[test]
    fn a_view_with_an_aggregation_the_kind_does_not_allow_is_as_if_it_did_not_exist() {
        let histogram = view(|_| with(buckets(&[1.0])));
        let rename = view(|_| Stream::builder().with_name("renamed").build().ok());
        let gauge = instrument("g", InstrumentKind::ObservableGauge);
        // Alone: the default stream.
        let alone = streams(std::slice::from_ref(&histogram), &gauge, &no_advice());
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].name, "g");
        assert_eq!(alone[0].aggregation, Chosen::LastValue);
        // Beside a valid view: only that one.
        let beside = streams(&[histogram, rename], &gauge, &no_advice());
        assert_eq!(beside.len(), 1);
        assert_eq!(beside[0].name, "renamed");
    }

    #[test]
    fn the_table_of_aggregations_each_kind_allows() {
        use InstrumentKind as K;
        let expo = Aggregation::Base2ExponentialHistogram {
            max_size: 160,
            max_scale: 20,
            record_min_max: true,
        };
        // Sum, LastValue, explicit, exponential.
        let table = [
            (K::Counter, [true, false, true, true]),
            (K::UpDownCounter, [true, false, true, true]),
            (K::Histogram, [true, false, true, true]),
            (K::Gauge, [false, true, true, true]),
            (K::ObservableCounter, [true, false, false, false]),
            (K::ObservableUpDownCounter, [true, false, false, false]),
            (K::ObservableGauge, [true, true, false, false]),
        ];
        for (kind, expected) in table {
            let got = [
                allows(kind, &Aggregation::Sum),
                allows(kind, &Aggregation::LastValue),
                allows(kind, &buckets(&[1.0])),
                allows(kind, &expo),
            ];
            assert_eq!(got, expected, "{kind:?}");
            assert!(allows(kind, &Aggregation::Drop) && allows(kind, &Aggregation::Default));
        }
    }

    #[test]
    fn a_views_buckets_win_over_the_advice_and_the_advice_over_the_providers_default() {
        let advised = HistogramDefault {
            advised: Some(vec![5.0].into()),
            exponential: Some(ExponentialConfig {
                max_size: 160,
                max_scale: 20,
            }),
            bounds: vec![1.0].into(),
        };
        let i = instrument("h", InstrumentKind::Histogram);
        let by_view = streams(&[view(|_| with(buckets(&[7.0])))], &i, &advised);
        assert_eq!(
            by_view[0].aggregation,
            Chosen::Explicit {
                bounds: vec![7.0].into(),
                record_min_max: true
            }
        );
        let by_advice = streams(&[view(|_| with(Aggregation::Default))], &i, &advised);
        assert_eq!(
            by_advice[0].aggregation,
            Chosen::Explicit {
                bounds: vec![5.0].into(),
                record_min_max: true
            }
        );
    }

    #[test]
    fn a_sum_is_monotonic_for_counters_and_histograms_only() {
        let sum = [view(|_| with(Aggregation::Sum))];
        let monotonic =
            |kind| match &streams(&sum, &instrument("x", kind), &no_advice())[0].aggregation {
                Chosen::Sum { monotonic } => *monotonic,
                other => panic!("{other:?}"),
            };
        assert!(monotonic(InstrumentKind::Histogram));
        assert!(monotonic(InstrumentKind::Counter));
        assert!(!monotonic(InstrumentKind::UpDownCounter));
        assert!(!monotonic(InstrumentKind::ObservableGauge));
    }

    #[test]
    fn key_lists_become_the_streams_filter() {
        let allow = view(|_| {
            Stream::builder()
                .with_allowed_attribute_keys([Key::from_static_str("a")])
                .build()
                .ok()
        });
        let exclude = view(|_| {
            Stream::builder()
                .with_excluded_attribute_keys([Key::from_static_str("b")])
                .with_cardinality_limit(7)
                .build()
                .ok()
        });
        let s = streams(
            &[allow, exclude],
            &instrument("c", InstrumentKind::Counter),
            &no_advice(),
        );
        assert_eq!(s[0].keys, Some(KeyFilter::Allow(vec!["a".into()].into())));
        assert_eq!(s[1].keys, Some(KeyFilter::Exclude(vec!["b".into()].into())));
        assert_eq!(
            (s[0].cardinality_limit, s[1].cardinality_limit),
            (None, Some(7))
        );
    }

    #[test]
    fn a_panicking_view_is_ignored() {
        let panics = view(|_| panic!("a view's bug"));
        let s = streams(
            &[panics],
            &instrument("c", InstrumentKind::Counter),
            &no_advice(),
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "c");
    }
}
