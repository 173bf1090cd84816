//! Views: what the streams of an instrument are (name, description, unit,
//! aggregation, attribute keys, cardinality limit), as the OpenTelemetry metrics SDK
//! specification defines them, in the shape of `opentelemetry_sdk` 0.33.
//!
//! A view is a function from an [`Instrument`] to an optional [`Stream`], added with
//! [`MeterProviderBuilder::with_view`](crate::MeterProviderBuilder::with_view); a closure
//! written for `opentelemetry_sdk` ports by changing its import. `resolve` holds the
//! rules (which views apply, the default stream, aggregations an instrument kind
//! allows); the guide's chapter [views](crate::guide::views) has the table and the
//! differences from `opentelemetry_sdk`.
//!
//! ```
//! use opentelemetry::metrics::MeterProvider as _;
//! use opentelemetry::KeyValue;
//! use prompush::view::{Aggregation, Instrument, Stream};
//!
//! let provider = prompush::MeterProvider::builder()
//!     .with_view(|i: &Instrument| {
//!         (i.name() == "http.server.request.duration").then(|| {
//!             Stream::builder()
//!                 .with_name("request.duration")
//!                 .with_aggregation(Aggregation::ExplicitBucketHistogram {
//!                     boundaries: vec![0.1, 0.5, 1.0],
//!                     record_min_max: true,
//!                 })
//!                 .with_allowed_attribute_keys(["http.route".into()])
//!                 .build()
//!                 .expect("a valid stream")
//!         })
//!     })
//!     .build()?;
//! let duration = provider
//!     .meter("app")
//!     .f64_histogram("http.server.request.duration")
//!     .build();
//! duration.record(0.25, &[KeyValue::new("http.route", "/"), KeyValue::new("user", "a")]);
//! duration.record(0.75, &[KeyValue::new("http.route", "/"), KeyValue::new("user", "b")]);
//!
//! let snapshot = provider.collect();
//! let points = snapshot.metric("request.duration").unwrap().data().histogram_points();
//! assert_eq!(points.len(), 1, "the users' series are merged");
//! assert_eq!(points[0].bucket_counts(), [0, 1, 1, 0]);
//! assert!(snapshot.metric("http.server.request.duration").is_none());
//! # Ok::<(), prompush::Error>(())
//! ```

pub(crate) mod resolve;

use std::borrow::Cow;
use std::fmt;

use opentelemetry::{InstrumentationScope, Key};

use crate::aggregate::exponential::{MAX_SCALE, MIN_SCALE};
use crate::Error;

pub use crate::snapshot::InstrumentKind;

/// What a view sees of an instrument when it is created: its name, kind, unit and
/// scope (the meter that created it).
///
/// For the `metrics` facade's instruments, the name is the metric's key name, the kind
/// [`Counter`](InstrumentKind::Counter), [`Gauge`](InstrumentKind::Gauge) or
/// [`Histogram`](InstrumentKind::Histogram), the unit the one `describe_*` gave (in
/// UCUM notation, `s` for seconds) or empty, and the scope `metrics`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Instrument {
    pub(crate) name: Cow<'static, str>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) kind: InstrumentKind,
    pub(crate) unit: Cow<'static, str>,
    pub(crate) scope: InstrumentationScope,
}

impl Instrument {
    /// The instrument's name, as it was created.
    ///
    /// ```
    /// use prompush::view::{Instrument, Stream};
    /// let rename = |i: &Instrument| {
    ///     (i.name() == "requests").then(|| Stream::builder().with_name("calls").build().ok())?
    /// };
    /// # let _ = prompush::MeterProvider::builder().with_view(rename);
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instrument's kind.
    ///
    /// ```
    /// use prompush::view::{Aggregation, Instrument, InstrumentKind, Stream};
    /// // Every histogram exponential, whatever the provider's default.
    /// let exponential = |i: &Instrument| {
    ///     (i.kind() == InstrumentKind::Histogram).then(|| {
    ///         Stream::builder()
    ///             .with_aggregation(Aggregation::Base2ExponentialHistogram {
    ///                 max_size: 160,
    ///                 max_scale: 20,
    ///                 record_min_max: true,
    ///             })
    ///             .build()
    ///             .ok()
    ///     })?
    /// };
    /// # let _ = prompush::MeterProvider::builder().with_view(exponential);
    /// ```
    #[must_use]
    pub fn kind(&self) -> InstrumentKind {
        self.kind
    }

    /// The instrument's unit (UCUM, as given: `s`, `By`, `{request}`), empty when none.
    ///
    /// ```
    /// use prompush::view::{Instrument, Stream};
    /// let in_seconds = |i: &Instrument| {
    ///     (i.unit() == "ms").then(|| Stream::builder().with_unit("s").build().ok())?
    /// };
    /// # let _ = prompush::MeterProvider::builder().with_view(in_seconds);
    /// ```
    #[must_use]
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// The instrumentation scope (meter) that created the instrument.
    ///
    /// ```
    /// use prompush::view::{Aggregation, Instrument, Stream};
    /// // Nothing from one noisy library.
    /// let quiet = |i: &Instrument| {
    ///     (i.scope().name() == "noisy-lib")
    ///         .then(|| Stream::builder().with_aggregation(Aggregation::Drop).build().ok())?
    /// };
    /// # let _ = prompush::MeterProvider::builder().with_view(quiet);
    /// ```
    #[must_use]
    pub fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }
}

/// How a stream aggregates its measurements: `opentelemetry_sdk`'s own type, so a
/// view's aggregation is the same value in either SDK. Which kinds allow which is in
/// the guide's chapter [views](crate::guide::views#aggregations-each-instrument-kind-allows);
/// `record_min_max: false` leaves the minimum and maximum out of the snapshot's
/// histogram points (Prometheus carries neither); an exponential histogram's
/// `max_scale` above 8 is merged down to 8 when sent to Prometheus.
pub use opentelemetry_sdk::metrics::Aggregation;

/// The stream a view makes of an instrument: what [`StreamBuilder`] left unset is the
/// instrument's own (its name, description, unit, default aggregation, every attribute,
/// the provider's cardinality limit).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Stream {
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) description: Option<Cow<'static, str>>,
    pub(crate) unit: Option<Cow<'static, str>>,
    pub(crate) aggregation: Option<Aggregation>,
    pub(crate) allowed_keys: Option<Vec<Key>>,
    pub(crate) excluded_keys: Option<Vec<Key>>,
    pub(crate) cardinality_limit: Option<usize>,
}

impl Stream {
    /// A builder of a stream; [`StreamBuilder::build`] checks it.
    ///
    /// ```
    /// let stream = prompush::view::Stream::builder()
    ///     .with_name("calls")
    ///     .with_cardinality_limit(100)
    ///     .build()?;
    /// # let _ = stream;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn builder() -> StreamBuilder {
        StreamBuilder::default()
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("unit", &self.unit)
            .field("aggregation", &self.aggregation)
            .field("allowed_attribute_keys", &self.allowed_keys)
            .field("excluded_attribute_keys", &self.excluded_keys)
            .field("cardinality_limit", &self.cardinality_limit)
            .finish()
    }
}

/// Builds a [`Stream`]; see [`Stream::builder`].
#[derive(Debug, Default)]
#[must_use]
pub struct StreamBuilder {
    stream: Stream,
}

impl StreamBuilder {
    /// The stream's name, instead of the instrument's. It is not checked against the
    /// instrument-name syntax (the specification says so): the Prometheus translation
    /// makes any name valid.
    ///
    /// ```
    /// let stream = prompush::view::Stream::builder().with_name("db.calls").build()?;
    /// # let _ = stream;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.stream.name = Some(name.into());
        self
    }

    /// The stream's description (the metric's help text), instead of the instrument's.
    ///
    /// ```
    /// let stream = prompush::view::Stream::builder()
    ///     .with_description("calls to the database")
    ///     .build()?;
    /// # let _ = stream;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.stream.description = Some(description.into());
        self
    }

    /// The stream's unit (UCUM), instead of the instrument's. The values are not
    /// converted: set it where the instrument's unit was wrong.
    ///
    /// ```
    /// let stream = prompush::view::Stream::builder().with_unit("s").build()?;
    /// # let _ = stream;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_unit(mut self, unit: impl Into<Cow<'static, str>>) -> Self {
        self.stream.unit = Some(unit.into());
        self
    }

    /// How the stream aggregates; [`Aggregation::Drop`] records nothing. A view's
    /// buckets win over those the instrument was created with.
    ///
    /// ```
    /// use prompush::view::{Aggregation, Stream};
    /// let stream = Stream::builder()
    ///     .with_aggregation(Aggregation::ExplicitBucketHistogram {
    ///         boundaries: vec![0.005, 0.05, 0.5, 5.0],
    ///         record_min_max: false,
    ///     })
    ///     .build()?;
    /// # let _ = stream;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_aggregation(mut self, aggregation: Aggregation) -> Self {
        self.stream.aggregation = Some(aggregation);
        self
    }

    /// Keeps only these attribute keys (none: every attribute is dropped). The
    /// measurements of sets that differ only in other keys add up in one series, and
    /// the other keys appear nowhere in what is sent, exemplars included.
    ///
    /// ```
    /// let stream = prompush::view::Stream::builder()
    ///     .with_allowed_attribute_keys(["http.route".into(), "http.request.method".into()])
    ///     .build()?;
    /// # let _ = stream;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_allowed_attribute_keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.stream.allowed_keys = Some(keys.into_iter().collect());
        self
    }

    /// Drops these attribute keys and keeps the others (the specification's exclude
    /// list; `opentelemetry_sdk` 0.33 has none). Merging as with
    /// [`with_allowed_attribute_keys`](Self::with_allowed_attribute_keys); a key may not
    /// be in both lists.
    ///
    /// ```
    /// let stream = prompush::view::Stream::builder()
    ///     .with_excluded_attribute_keys(["user.id".into(), "token".into()])
    ///     .build()?;
    /// # let _ = stream;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_excluded_attribute_keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.stream.excluded_keys = Some(keys.into_iter().collect());
        self
    }

    /// The stream's cardinality limit, instead of the provider's
    /// ([`MeterProviderBuilder::with_cardinality_limit`](crate::MeterProviderBuilder::with_cardinality_limit)):
    /// past it, new attribute sets go to the series `otel.metric.overflow="true"`.
    ///
    /// ```
    /// let stream = prompush::view::Stream::builder().with_cardinality_limit(50).build()?;
    /// # let _ = stream;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.stream.cardinality_limit = Some(limit);
        self
    }

    /// The stream, checked.
    ///
    /// # Errors
    /// [`Error::Config`] for a key both allowed and excluded, a cardinality limit of 0,
    /// bucket boundaries that are not finite and strictly increasing, an exponential
    /// histogram's `max_size` below 2 or `max_scale` outside -10..=20, a unit longer
    /// than 63 characters or not ASCII.
    ///
    /// ```
    /// use prompush::view::Stream;
    /// let both = Stream::builder()
    ///     .with_allowed_attribute_keys(["a".into()])
    ///     .with_excluded_attribute_keys(["a".into()])
    ///     .build();
    /// assert!(both.is_err());
    /// assert!(Stream::builder().with_cardinality_limit(0).build().is_err());
    /// ```
    pub fn build(self) -> Result<Stream, Error> {
        let stream = self.stream;
        if let (Some(allowed), Some(excluded)) = (&stream.allowed_keys, &stream.excluded_keys) {
            if let Some(both) = allowed.iter().find(|k| excluded.contains(k)) {
                return Err(Error::Config(format!(
                    "Stream: the attribute key {both:?} is both allowed and excluded; remove \
                     it from with_allowed_attribute_keys or from with_excluded_attribute_keys"
                )));
            }
        }
        if stream.cardinality_limit == Some(0) {
            return Err(Error::Config(
                "Stream::with_cardinality_limit(0): a stream needs a limit of at least 1".into(),
            ));
        }
        if let Some(unit) = &stream.unit {
            if unit.len() > 63 || !unit.is_ascii() {
                return Err(Error::Config(format!(
                    "Stream::with_unit({unit:?}): a unit is at most 63 ASCII characters \
                     (UCUM: s, ms, By, {{request}})"
                )));
            }
        }
        match &stream.aggregation {
            Some(Aggregation::ExplicitBucketHistogram { boundaries, .. }) => {
                let increasing = boundaries.windows(2).all(|w| w[0] < w[1]);
                if !increasing || boundaries.iter().any(|b| !b.is_finite()) {
                    return Err(Error::Config(format!(
                        "Aggregation::ExplicitBucketHistogram {{ boundaries: {boundaries:?} }}: \
                         boundaries must be finite and strictly increasing"
                    )));
                }
            }
            Some(Aggregation::Base2ExponentialHistogram {
                max_size,
                max_scale,
                ..
            }) if *max_size < 2 || !(MIN_SCALE..=MAX_SCALE).contains(max_scale) => {
                return Err(Error::Config(format!(
                    "Aggregation::Base2ExponentialHistogram {{ max_size: {max_size}, max_scale: \
                     {max_scale} }}: max_size must be at least 2 and max_scale within \
                     {MIN_SCALE}..={MAX_SCALE}; OpenTelemetry's defaults are 160 and 20"
                )));
            }
            _ => {}
        }
        Ok(stream)
    }
}
