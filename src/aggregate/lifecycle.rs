//! A series' lifecycle word: touched since the last sweep, bound handles, retired.
//!
//! Recorders and collectors meet on one atomic word per series (`Life::state`):
//!
//! * a recorder *touches* the series before it updates the cell: when the word does not
//!   show `TOUCHED` yet, one `fetch_or` sets it, and a result showing `RETIRED` sends the
//!   recorder back to look the set up again (it then finds or makes a fresh series). A
//!   word that shows `TOUCHED` already costs one plain load: the hot path writes the
//!   shared word at most once per sweep, and reads no clock;
//! * a bound handle adds one to the count in the low bits while it lives, and sets
//!   `TOUCHED` when it goes (its measurements never touch);
//! * the collector's *sweep* clears `TOUCHED` and notes, in the collector-only fields,
//!   the sweep's number and its clock reading; a series is *retired* only by a
//!   compare-and-swap from exactly 0 (untouched, unbound) to `RETIRED`, which is final.
//!
//! The word alone does not close the race with a recorder that saw `TOUCHED` (and so did
//! not write the word) and updates the cell just after a sweep cleared it: that update
//! is made inside the recorder's epoch pin, so it is done once the grace period that
//! follows the clearing sweep has passed. The aggregator (see `idle`) retires a series
//! only when every push destination read it after the grace period of the sweep that
//! last saw it touched.

use std::sync::atomic::{AtomicU64, Ordering};

/// Set once, by the retiring collector; never cleared.
const RETIRED: u64 = 1 << 63;
/// Set by a recorder (or a bound handle's drop), cleared by a sweep.
const TOUCHED: u64 = 1 << 62;
/// The bound-handle count lives below the flags.
const BOUND_ONE: u64 = 1;

/// One series' lifecycle state.
pub(crate) struct Life {
    state: AtomicU64,
    /// The sweep that last found the series touched (collector only, under the
    /// aggregator's sweep lock: `Relaxed` suffices).
    last_touch: AtomicU64,
    /// The idle clock's reading, in nanoseconds, at that sweep (collector only).
    last_active: AtomicU64,
}

impl Life {
    /// A new series: touched, so that the first sweep notes its activity.
    pub(crate) fn new() -> Self {
        Life {
            state: AtomicU64::new(TOUCHED),
            last_touch: AtomicU64::new(0),
            last_active: AtomicU64::new(0),
        }
    }

    /// Marks the series measured; false when it is retired (look the set up again).
    #[inline]
    pub(crate) fn touch(&self) -> bool {
        // Relaxed: a word seen touched was touched before the next sweep's clearing,
        // and the recorder's epoch pin (not this load) orders its update before that
        // sweep's grace period ends (see the module docs).
        let state = self.state.load(Ordering::Relaxed);
        if state & (TOUCHED | RETIRED) == TOUCHED {
            return true;
        }
        self.touch_slow()
    }

    #[cold]
    fn touch_slow(&self) -> bool {
        self.state.fetch_or(TOUCHED, Ordering::AcqRel) & RETIRED == 0
    }

    /// Adds a bound handle; false when the series is retired (look it up again).
    pub(crate) fn bind(&self) -> bool {
        // Relaxed: only a guess; the swap below checks it.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & RETIRED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state + BOUND_ONE,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// Drops a bound handle: the series counts as measured now, so the handle's last
    /// measurements are read before it can be retired.
    pub(crate) fn unbind(&self) {
        // Relaxed: only a guess; the swap below checks it.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let next = (state - BOUND_ONE) | TOUCHED;
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
    }

    /// The sweep's part: clears `TOUCHED`; if it was set, notes sweep `sweep` at
    /// clock reading `now` as the series' last activity. Returns whether it was set.
    pub(crate) fn sweep(&self, sweep: u64, now: u64) -> bool {
        // Relaxed: a touch this load misses keeps the word nonzero, so the retiring swap
        // fails, and the next sweep sees it.
        if self.state.load(Ordering::Relaxed) & TOUCHED == 0 {
            return false;
        }
        self.state.fetch_and(!TOUCHED, Ordering::AcqRel);
        self.last_touch.store(sweep, Ordering::Relaxed);
        self.last_active.store(now, Ordering::Relaxed);
        true
    }

    /// The sweep that last found the series touched, and the clock reading then.
    pub(crate) fn last_activity(&self) -> (u64, u64) {
        (
            self.last_touch.load(Ordering::Relaxed),
            self.last_active.load(Ordering::Relaxed),
        )
    }

    /// Retires the series if it is untouched since the last sweep and unbound; the
    /// caller holds the table's writer lock and unlinks it at once.
    pub(crate) fn retire(&self) -> bool {
        self.state
            .compare_exchange(0, RETIRED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Whether the series is retired (for tests and assertions).
    #[cfg(test)]
    pub(crate) fn is_retired(&self) -> bool {
        self.state.load(Ordering::Acquire) & RETIRED != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touched_or_bound_series_is_not_retired_and_a_retired_one_refuses_touches() {
        let life = Life::new();
        assert!(!life.retire(), "new series are touched");
        assert!(life.sweep(1, 10));
        assert!(life.bind());
        assert!(!life.retire(), "bound");
        life.unbind();
        assert!(!life.retire(), "an unbound handle counts as a touch");
        assert!(life.sweep(2, 20));
        assert_eq!(life.last_activity(), (2, 20));
        assert!(!life.sweep(3, 30), "nothing since");
        assert!(life.retire());
        assert!(life.is_retired());
        assert!(!life.touch());
        assert!(!life.bind());
    }
}
