//! The three measurement types, stored as bits in an `AtomicU64`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::snapshot::{Number, NumberKind};

/// A measurement type (`u64`, `i64`, `f64`) and its atomic operations.
pub(crate) trait Num: Copy + Send + Sync + PartialOrd + 'static {
    const KIND: NumberKind;
    const ZERO: Self;
    fn to_bits(self) -> u64;
    fn from_bits(bits: u64) -> Self;
    fn to_number(self) -> Number;
    fn as_f64(self) -> f64;
    /// Finite and, when `non_negative`, not below zero.
    fn is_valid(self, non_negative: bool) -> bool;
    /// The bits of `from_bits(bits) + v`, wrapping for integers (an atomic cell's add).
    fn add_bits(bits: u64, v: Self) -> u64;
    /// Adds with the cheapest atomic the type allows; integers override this
    /// compare-and-swap loop with a single `fetch_add`.
    #[inline]
    fn atomic_add(cell: &AtomicU64, v: Self) {
        let mut cur = cell.load(Ordering::Relaxed);
        loop {
            let new = Self::add_bits(cur, v);
            match cell.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
    /// Plain addition, saturating for integers.
    fn plus(self, other: Self) -> Self;
    /// The value, with any NaN replaced by the ordinary `f64::NAN`: a NaN carrying the
    /// Prometheus stale-marker bits would end its series at the receiver.
    #[inline]
    fn without_stale_bits(self) -> Self {
        self
    }
}

/// `u64` and `i64` differ only in their kind and validity: two's complement makes a
/// wrapping add of the bits a signed add too.
macro_rules! integer_num {
    ($t:ty, $kind:ident, |$v:ident, $non_negative:ident| $valid:expr) => {
        impl Num for $t {
            const KIND: NumberKind = NumberKind::$kind;
            const ZERO: Self = 0;
            #[inline]
            fn to_bits(self) -> u64 {
                self as u64
            }
            #[inline]
            fn from_bits(bits: u64) -> Self {
                bits as $t
            }
            fn to_number(self) -> Number {
                Number::$kind(self)
            }
            fn as_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn is_valid(self, $non_negative: bool) -> bool {
                let $v = self;
                $valid
            }
            #[inline]
            fn add_bits(bits: u64, v: Self) -> u64 {
                bits.wrapping_add(v as u64)
            }
            #[inline]
            fn atomic_add(cell: &AtomicU64, v: Self) {
                cell.fetch_add(v as u64, Ordering::Relaxed);
            }
            fn plus(self, other: Self) -> Self {
                self.saturating_add(other)
            }
        }
    };
}

integer_num!(u64, U64, |_v, _non_negative| true);
integer_num!(i64, I64, |v, non_negative| !non_negative || v >= 0);

impl Num for f64 {
    const KIND: NumberKind = NumberKind::F64;
    const ZERO: Self = 0.0;
    #[inline]
    fn to_bits(self) -> u64 {
        f64::to_bits(self)
    }
    #[inline]
    fn from_bits(bits: u64) -> Self {
        f64::from_bits(bits)
    }
    fn to_number(self) -> Number {
        Number::F64(self)
    }
    fn as_f64(self) -> f64 {
        self
    }
    #[inline]
    fn is_valid(self, non_negative: bool) -> bool {
        self.is_finite() && (!non_negative || self >= 0.0)
    }
    #[inline]
    fn add_bits(bits: u64, v: Self) -> u64 {
        (f64::from_bits(bits) + v).to_bits()
    }
    fn plus(self, other: Self) -> Self {
        self + other
    }
    #[inline]
    fn without_stale_bits(self) -> Self {
        // One compare: every other value passes through unchanged.
        if self.is_nan() {
            f64::NAN
        } else {
            self
        }
    }
}

/// Lowers `cell` to `v` if `v` is smaller (or raises it, with `max`), without a write
/// when the stored extreme already holds: the common case costs one load.
#[inline]
pub(crate) fn atomic_extreme<T: Num>(cell: &AtomicU64, v: T, max: bool) {
    let mut cur = cell.load(Ordering::Relaxed);
    loop {
        let stored = T::from_bits(cur);
        let better = if max { v > stored } else { v < stored };
        if !better {
            return;
        }
        match cell.compare_exchange_weak(cur, v.to_bits(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_in_each_type() {
        let c = AtomicU64::new(0);
        i64::atomic_add(&c, 5);
        i64::atomic_add(&c, -7);
        assert_eq!(i64::from_bits(c.load(Ordering::Relaxed)), -2);
        let f = AtomicU64::new(0f64.to_bits());
        f64::atomic_add(&f, 1.5);
        f64::atomic_add(&f, 2.25);
        assert_eq!(f64::from_bits(f.load(Ordering::Relaxed)), 3.75);
    }

    #[test]
    fn validity() {
        assert!(!f64::NAN.is_valid(false));
        assert!(!f64::INFINITY.is_valid(false));
        assert!(!(-1.0f64).is_valid(true));
        assert!((-1.0f64).is_valid(false));
        assert!(!(-1i64).is_valid(true));
    }

    #[test]
    fn a_nan_loses_the_stale_marker_bits_and_other_values_are_untouched() {
        // The Prometheus stale marker's bits.
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        assert_eq!(stale.without_stale_bits().to_bits(), f64::NAN.to_bits());
        assert_eq!(
            (-f64::NAN).without_stale_bits().to_bits(),
            f64::NAN.to_bits()
        );
        assert_eq!(1.5f64.without_stale_bits(), 1.5);
        assert_eq!(f64::INFINITY.without_stale_bits(), f64::INFINITY);
        assert_eq!(7u64.without_stale_bits(), 7);
    }

    #[test]
    fn extremes() {
        let min = AtomicU64::new(f64::INFINITY.to_bits());
        for v in [3.0, 1.0, 2.0] {
            atomic_extreme(&min, v, false);
        }
        assert_eq!(f64::from_bits(min.load(Ordering::Relaxed)), 1.0);
        let max = AtomicU64::new(i64::MIN.to_bits());
        for v in [-3i64, -1, -2] {
            atomic_extreme(&max, v, true);
        }
        assert_eq!(i64::from_bits(max.load(Ordering::Relaxed)), -1);
    }
}
