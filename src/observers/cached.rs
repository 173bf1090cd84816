//! One read serves every instrument of a registration: the sample is read again only
//! when it is older than `max_age`.
//!
//! The OpenTelemetry API calls each observable instrument's callback on its own, with no
//! batch callback, so the first callback of a collection reads and the others (a few
//! microseconds later) find that sample fresh. A second destination or a `collect()`
//! within `max_age` gets the same sample; one after it reads again. Utilizations are
//! computed by the reader over the time since its previous read, whoever caused it.

use std::time::{Duration, Instant};

use crate::sync::Mutex;

/// A source of samples, read into the same sample each time (no allocation once its
/// buffers have grown).
pub(crate) trait Read: Send + 'static {
    /// Everything one read gives; `None` fields were not readable.
    type Sample: Default + Send + 'static;

    /// Reads every value into `sample`, overwriting the previous read.
    fn read(&mut self, sample: &mut Self::Sample);
}

/// A reader and its latest sample.
pub(crate) struct Cached<R: Read> {
    max_age: Duration,
    state: Mutex<State<R>>,
}

struct State<R: Read> {
    reader: R,
    sample: R::Sample,
    read_at: Option<Instant>,
}

impl<R: Read> Cached<R> {
    /// Wraps `reader`, and reads once now as the utilizations' first baseline: the first
    /// collection reads again, and its utilizations cover the time since registration.
    pub(crate) fn new(reader: R, max_age: Duration) -> Self {
        let cached = Cached {
            max_age,
            state: Mutex::new(State {
                reader,
                sample: R::Sample::default(),
                read_at: None,
            }),
        };
        cached.with(|_| ());
        cached.state.lock().read_at = None;
        cached
    }

    /// Whether the latest read found nothing at all (every value left out). Reads
    /// nothing itself.
    pub(crate) fn found_nothing(&self) -> bool
    where
        R::Sample: PartialEq,
    {
        self.state.lock().sample == R::Sample::default()
    }

    /// Runs `f` on a sample at most `max_age` old, reading a new one if needed.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&R::Sample) -> T) -> T {
        let mut state = self.state.lock();
        let state = &mut *state;
        let now = Instant::now();
        let fresh = state
            .read_at
            .is_some_and(|at| now.saturating_duration_since(at) < self.max_age);
        if !fresh {
            state.reader.read(&mut state.sample);
            state.read_at = Some(now);
        }
        f(&state.sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts its reads.
    struct Counting;

    impl Read for Counting {
        type Sample = u32;
        fn read(&mut self, sample: &mut u32) {
            *sample += 1;
        }
    }

    #[test]
    fn a_fresh_sample_is_reused_and_a_stale_one_read_again() {
        let long = Cached::new(Counting, Duration::from_secs(3600));
        assert_eq!(
            long.with(|n| *n),
            2,
            "once at registration, again at the first use"
        );
        assert_eq!(long.with(|n| *n), 2);
        let zero = Cached::new(Counting, Duration::ZERO);
        assert_eq!(zero.with(|n| *n), 2);
        assert_eq!(zero.with(|n| *n), 3, "max_age zero reads at every call");
    }
}
