//! The sum cell: one word while a single thread adds to it, per-thread slots once two
//! threads collide on it.
//!
//! Two cores adding to one word trade its cache line on every add, so two threads get
//! less done than one. The cell therefore adds with compare-and-swap, whose failure is
//! the sign that another thread wrote the word in between: the cell then allocates a
//! row of slots, each on a cache line of its own, and from then on every add goes to
//! the slot of the adding thread's stripe (the design of Java's `LongAdder`). Two
//! threads that share a slot see their swaps fail too and move one of them on.
//! Collection sums the word and the slots.
//!
//! A cell that never collides stays two words. One that did keeps its slots, `slots()`
//! cache lines, until the series is dropped (with its instrument, or when the idle
//! timeout removes it, which frees them with the series): a set contended once is
//! likely to be contended again.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use super::number::Num;

/// A sum updated by many threads at once.
pub(crate) struct SumCell {
    /// The sum while no collision has happened; afterwards frozen (adds that raced the
    /// switch may still land here, which collection counts).
    base: AtomicU64,
    /// Null until the first collision; then set once, never changed.
    slots: AtomicPtr<Slots>,
}

/// Two cache lines per slot: x86 fetches lines in adjacent pairs.
#[repr(align(128))]
struct Slot(AtomicU64);

struct Slots {
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
    slots: Box<[Slot]>,
}

/// Slots per contended cell: twice the CPUs (fewer threads share one), at most 64.
fn slot_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cpus * 2).next_power_of_two().clamp(4, 64)
    })
}

thread_local! {
    /// This thread's stripe; 0 until first needed.
    static STRIPE: Cell<u32> = const { Cell::new(0) };
}

/// This thread's stripe, assigned on first use so that consecutive threads spread.
#[inline]
fn stripe() -> usize {
    let mine = STRIPE.try_with(Cell::get).unwrap_or(1);
    if mine != 0 {
        return mine as usize;
    }
    static NEXT: AtomicU32 = AtomicU32::new(1);
    // Consecutive threads take consecutive slots; never 0, even after wrapping.
    let assigned = NEXT.fetch_add(1, Ordering::Relaxed).max(1);
    let _ = STRIPE.try_with(|s| s.set(assigned));
    assigned as usize
}

/// Moves this thread to another stripe after a collision in its slot (a xorshift step,
/// which never returns 0).
#[cold]
fn next_stripe(current: usize) -> usize {
    let mut x = current as u32;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    let _ = STRIPE.try_with(|s| s.set(x));
    x as usize
}

impl SumCell {
    pub(crate) fn new() -> Self {
        SumCell {
            // Zero bits are zero in every measurement type.
            base: AtomicU64::new(0),
            slots: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Adds `v`: one load and one swap while uncontended.
    #[inline]
    pub(crate) fn add<T: Num>(&self, v: T) {
        let slots = self.slots.load(Ordering::Acquire);
        if slots.is_null() {
            // Relaxed: the swap below checks the value; nothing else is published.
            let cur = self.base.load(Ordering::Relaxed);
            let new = T::add_bits(cur, v);
            if self
                .base
                .compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            return self.add_contended(v);
        }
        // SAFETY: a non-null `slots` was published (Release) by `install_slots` and is
        // freed only when the cell is dropped, which `&self` rules out.
        add_to_slots(unsafe { &*slots }, v);
    }

    /// Adds `v` for a bound handle: while the cell has no slots, with the type's
    /// cheapest atomic (one `fetch_add` for integers), so a bound add costs what a bare
    /// atomic does. That add cannot see a collision, so bound handles alone never
    /// switch a cell; once unbound adds have switched it, bound ones use the slots too.
    #[inline]
    pub(crate) fn add_bound<T: Num>(&self, v: T) {
        let slots = self.slots.load(Ordering::Acquire);
        if slots.is_null() {
            return T::atomic_add(&self.base, v);
        }
        // SAFETY: as in `add`.
        add_to_slots(unsafe { &*slots }, v);
    }

    #[cold]
    fn add_contended<T: Num>(&self, v: T) {
        add_to_slots(self.install_slots(), v);
    }

    /// The cell's slots, allocated by whichever thread gets there first.
    fn install_slots(&self) -> &Slots {
        let fresh = Box::into_raw(Box::new(Slots {
            mask: slot_count() - 1,
            slots: (0..slot_count()).map(|_| Slot(AtomicU64::new(0))).collect(),
        }));
        let installed = match self.slots.compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(theirs) => {
                // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
                drop(unsafe { Box::from_raw(fresh) });
                theirs
            }
        };
        // SAFETY: as in `add`: published, and freed only with the cell.
        unsafe { &*installed }
    }

    /// The current total: the word plus every slot.
    pub(crate) fn total<T: Num>(&self) -> T {
        let mut total = self.base.load(Ordering::Relaxed);
        let slots = self.slots.load(Ordering::Acquire);
        if !slots.is_null() {
            // SAFETY: as in `add`.
            for slot in unsafe { &*slots }.slots.iter() {
                total = T::add_bits(total, T::from_bits(slot.0.load(Ordering::Relaxed)));
            }
        }
        T::from_bits(total)
    }

    /// Whether the cell has switched to slots (for tests).
    #[cfg(test)]
    fn is_striped(&self) -> bool {
        !self.slots.load(Ordering::Acquire).is_null()
    }
}

/// Out of line: the uncontended adds stay a few instructions, without the registers
/// this loop needs.
#[inline(never)]
fn add_to_slots<T: Num>(slots: &Slots, v: T) {
    let mut stripe = stripe();
    loop {
        let slot = &slots.slots[stripe & slots.mask].0;
        let cur = slot.load(Ordering::Relaxed);
        if slot
            .compare_exchange(
                cur,
                T::add_bits(cur, v),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            return;
        }
        stripe = next_stripe(stripe);
    }
}

impl Drop for SumCell {
    fn drop(&mut self) {
        let slots = *self.slots.get_mut();
        if !slots.is_null() {
            // SAFETY: `&mut self`: no thread is adding; the pointer came from
            // `Box::into_raw` in `install_slots` and is freed only here.
            drop(unsafe { Box::from_raw(slots) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// Threads hammer one cell at once; the total is exact whether or not (and
    /// whenever) it switched to slots.
    fn exact_under_contention<T: Num + std::fmt::Debug>(one: T, expect: impl Fn(u64) -> T) {
        const THREADS: u64 = 4;
        let rounds: u64 = if cfg!(miri) { 200 } else { 200_000 };
        let cell = Arc::new(SumCell::new());
        let start = Arc::new(Barrier::new(THREADS as usize));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (cell, start) = (cell.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..rounds {
                        cell.add(one);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("no panic");
        }
        assert_eq!(cell.total::<T>(), expect(THREADS * rounds));
    }

    #[test]
    fn concurrent_u64_adds_total_exactly() {
        exact_under_contention(1u64, |n| n);
    }

    #[test]
    fn concurrent_i64_adds_total_exactly() {
        exact_under_contention(-3i64, |n| -3 * n as i64);
    }

    #[test]
    fn concurrent_f64_adds_total_exactly() {
        // Whole numbers below 2^53 add exactly in any order.
        exact_under_contention(2.0f64, |n| 2.0 * n as f64);
    }

    #[test]
    fn a_collision_switches_to_slots_and_keeps_the_total() {
        let cell = SumCell::new();
        cell.add(5u64);
        assert!(!cell.is_striped());
        // What a lost swap leads to, forced: the slots take the next adds.
        cell.add_contended(7u64);
        assert!(cell.is_striped());
        cell.add(1u64);
        cell.add_bound(2u64);
        assert_eq!(cell.total::<u64>(), 15);
        // A second install finds the first one's slots.
        let first = cell.slots.load(Ordering::Acquire);
        assert!(ptr::eq(cell.install_slots(), first));
    }

    #[test]
    fn a_thread_keeps_its_stripe_until_it_moves_on() {
        let s = stripe();
        assert_ne!(s, 0);
        assert_eq!(stripe(), s);
        let t = next_stripe(s);
        assert_ne!(t, 0);
        assert_eq!(stripe(), t);
    }
}
