//! Ready-made observers: the process's and the host's CPU and memory as observable
//! instruments named by the OpenTelemetry semantic conventions (release 1.40.0).
//!
//! Map:
//! - `process.rs`, `system.rs`: the public `register` functions, one line per
//!   convention metric; `conventions.rs`: those metrics' names, units and descriptions;
//! - this file: their [`Options`], and [`Observers`], which builds each instrument over
//!   the registration's one reader;
//! - `cached.rs`: one read serves every instrument of a registration (the OpenTelemetry
//!   API has no batch callback), at most one read per `max_age`;
//! - `read/`: the readers: `/proc` on Linux, `getrusage` on every Unix, and the
//!   arithmetic of the utilizations.
//!
//! A value that cannot be read is left out of the collection (never reported as 0), and
//! the first failure of each source is logged.

mod cached;
#[rustfmt::skip]
mod conventions;
pub mod process;
mod read;
pub mod system;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{AsyncInstrumentBuilder, Meter};
use opentelemetry::KeyValue;

use cached::{Cached, Read};

/// How the process and host observers read.
///
/// ```
/// use std::time::Duration;
/// use prompush::system::Options;
///
/// let options = Options::default()
///     .with_max_age(Duration::from_millis(200))
///     .with_per_cpu(true);
/// # let _ = options;
/// ```
#[must_use = "options apply only once passed to `register_with`"]
#[derive(Debug, Clone)]
pub struct Options {
    max_age: Duration,
    per_cpu: bool,
}

impl Options {
    /// How old a read may be and still serve a collection: 1 s.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(1);

    /// A read serves every collection within `max_age` of it; a collection after that
    /// reads again. Utilizations cover the time since the previous read: at least
    /// `max_age`, and otherwise the time since the previous collection of any
    /// destination or `collect()` call.
    ///
    /// Default [`DEFAULT_MAX_AGE`](Self::DEFAULT_MAX_AGE) (1 s). Any value works: zero reads
    /// at every collection.
    ///
    /// ```
    /// use std::time::Duration;
    /// use prompush::process::Options;
    ///
    /// let options = Options::default().with_max_age(Duration::from_millis(200));
    /// # let _ = options;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Host metrics only: with `true`, `system.cpu.time` and `system.cpu.utilization`
    /// are reported per logical CPU (attribute `cpu.logical_number`) instead of for all
    /// CPUs together, 7 series per CPU each. Off by default: the conventions make the
    /// attribute opt-in.
    ///
    /// The process observers ignore it.
    ///
    /// ```
    /// use prompush::system::Options;
    ///
    /// let options = Options::default().with_per_cpu(true);
    /// # let _ = options;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_per_cpu(mut self, per_cpu: bool) -> Self {
        self.per_cpu = per_cpu;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_age: Self::DEFAULT_MAX_AGE,
            per_cpu: false,
        }
    }
}

/// What a convention says of one metric: its name, unit and description.
struct Convention {
    name: &'static str,
    unit: &'static str,
    description: &'static str,
}

/// One line of a convention table.
const fn metric(name: &'static str, unit: &'static str, description: &'static str) -> Convention {
    Convention {
        name,
        unit,
        description,
    }
}

/// The attributes of each value a callback reports: one or none.
type Attributes<const N: usize> = [Option<KeyValue>; N];

/// What a callback reports from a sample: a value per attribute set, `None` where it
/// was not read.
type Pick<R, T, const N: usize> = fn(&<R as Read>::Sample) -> [Option<T>; N];

/// The instruments of one registration: built on `meter`, read from one cached reader,
/// and kept until the registration's handle is dropped.
struct Observers<'a, R: Read> {
    meter: &'a Meter,
    cached: Arc<Cached<R>>,
    kept: Kept,
}

/// The instruments a registration's handle keeps; `Debug` lists them.
struct Kept(Vec<Box<dyn Debug + Send + Sync>>);

impl Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// One instrument kind's method of [`Observers`]: `$method(convention, attributes,
/// pick)` builds the meter's `$builder` instrument over [`Observers::observed`].
macro_rules! kind {
    ($method:ident: $builder:ident, $number:ty) => {
        fn $method<const N: usize>(
            &mut self,
            c: &Convention,
            a: Attributes<N>,
            p: Pick<R, $number, N>,
        ) {
            let builder = self.meter.$builder(c.name);
            self.keep(self.observed(builder, c, a, p).build());
        }
    };
}

impl<'a, R: Read> Observers<'a, R> {
    /// Reads a first baseline now, so the first collection's utilizations cover the
    /// time since registration. `None` when nothing at all is readable.
    fn new(meter: &'a Meter, reader: R, max_age: Duration) -> Option<Self>
    where
        R::Sample: PartialEq,
    {
        let cached = Arc::new(Cached::new(reader, max_age));
        (!cached.found_nothing()).then(|| Observers {
            meter,
            cached,
            kept: Kept(Vec::new()),
        })
    }

    kind!(f64_counter: f64_observable_counter, f64);
    kind!(u64_counter: u64_observable_counter, u64);
    kind!(f64_gauge: f64_observable_gauge, f64);
    kind!(i64_up_down: i64_observable_up_down_counter, i64);

    /// `builder` with the unit and description of `convention`, and a callback that
    /// observes `pick(sample)[i]` with `attributes[i]` for every value that was read.
    fn observed<'b, I, T: Copy + 'static, const N: usize>(
        &self,
        builder: AsyncInstrumentBuilder<'b, I, T>,
        convention: &Convention,
        attributes: Attributes<N>,
        pick: Pick<R, T, N>,
    ) -> AsyncInstrumentBuilder<'b, I, T> {
        let cached = Arc::clone(&self.cached);
        described(builder, convention).with_callback(move |observer| {
            cached.with(|sample| {
                for (value, attributes) in pick(sample).into_iter().zip(&attributes) {
                    if let Some(value) = value {
                        observer.observe(value, attributes.as_slice());
                    }
                }
            })
        })
    }

    fn keep(&mut self, instrument: impl Debug + Send + Sync + 'static) {
        self.kept.0.push(Box::new(instrument));
    }
}

/// `builder` with the unit and description of `convention`.
fn described<'a, I, T>(
    builder: AsyncInstrumentBuilder<'a, I, T>,
    convention: &Convention,
) -> AsyncInstrumentBuilder<'a, I, T> {
    builder
        .with_unit(convention.unit)
        .with_description(convention.description)
}

/// One attribute per value: `key` with each of `values` (static strings, so observing
/// allocates nothing).
fn each<const N: usize>(key: &'static str, values: [&'static str; N]) -> Attributes<N> {
    values.map(|value| Some(KeyValue::new(key, value)))
}
