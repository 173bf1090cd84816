//! Locks that do not poison: `std::sync`'s `Mutex` and `RwLock`, with a panic in another
//! holder ignored.
//!
//! Why std's locks: they are futex-based and as quick as `parking_lot`'s for the short
//! critical sections here, and Miri can check them (`parking_lot_core` 0.9 hands the futex
//! syscall a `&AtomicI32` where it expects `*mut u32`, which Miri reports as undefined
//! behaviour, so the concurrent tests of the series table could not run under it).
//!
//! Why no poisoning: every critical section in the crate leaves its data consistent at
//! each step, and a metrics library must not turn one panic (in a user's callback, say)
//! into a panic at every later collection.

use std::sync::{self, MutexGuard, PoisonError};
#[cfg(any(feature = "custom-metrics", feature = "metrics"))]
use std::sync::{RwLockReadGuard, RwLockWriteGuard};

/// A mutual-exclusion lock whose `lock` never fails.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T: ?Sized>(sync::Mutex<T>);

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub(crate) const fn new(value: T) -> Self {
        Self(sync::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock; a holder that panicked does not poison it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value, through exclusive access (no locking needed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A reader-writer lock whose `read` and `write` never fail.
// Only the optional parts that many threads read (custom metrics, the `metrics` facade's
// handles) use one.
#[cfg(any(feature = "custom-metrics", feature = "metrics"))]
#[derive(Debug, Default)]
pub(crate) struct RwLock<T: ?Sized>(sync::RwLock<T>);

#[cfg(any(feature = "custom-metrics", feature = "metrics"))]
impl<T: ?Sized> RwLock<T> {
    /// Shared access; a writer that panicked does not poison it.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exclusive access; a holder that panicked does not poison it.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_holding_the_lock_does_not_poison_it() {
        let lock = std::sync::Arc::new(Mutex::new(1));
        let held = lock.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.lock();
            panic!("a callback failed");
        })
        .join();
        *lock.lock() += 1;
        assert_eq!(*lock.lock(), 2);
    }
}
