//! The series table: find a series by attribute set without taking a lock.
//!
//! Series are only ever added (cumulative temporality keeps every series for the life
//! of the instrument), which permits a simple design:
//!
//! * a table is an open-addressing array of pointers plus an insertion-ordered list;
//! * readers load the current table and probe it with plain atomic loads: no lock, no
//!   reference count, no allocation;
//! * writers are serialised by a mutex; growing copies the pointers into a table twice
//!   the size and publishes it, and the old table is kept (frozen) until the map is
//!   dropped, so a reader still probing it stays safe. Retired tables add up to less
//!   than the live one.
//!
//! Series and tables are freed only when the map is dropped; handles that point at a
//! series (bound instruments) keep the map alive through an `Arc`.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

use opentelemetry::KeyValue;
use parking_lot::Mutex;

use super::attrs::{self, Permutation};

/// One attribute set and its aggregation cell.
pub(crate) struct Series<C> {
    hash: u64,
    perm: Permutation,
    attributes: Arc<[KeyValue]>,
    /// The aggregation state, updated with atomics.
    pub(crate) cell: C,
}

impl<C> Series<C> {
    /// The canonical (sorted, deduplicated) attribute set.
    pub(crate) fn attributes(&self) -> &Arc<[KeyValue]> {
        &self.attributes
    }
}

struct Table<C> {
    mask: usize,
    slots: Box<[AtomicPtr<Series<C>>]>,
    /// Series in insertion order; entries below `len` are set.
    order: Box<[AtomicPtr<Series<C>>]>,
    len: AtomicUsize,
}

impl<C> Table<C> {
    fn with_capacity(slots: usize) -> Box<Self> {
        debug_assert!(slots.is_power_of_two());
        let empty = |n: usize| (0..n).map(|_| AtomicPtr::new(ptr::null_mut())).collect();
        Box::new(Table {
            mask: slots - 1,
            slots: empty(slots),
            // Growth happens at half load, so the order list never needs more.
            order: empty(slots / 2),
            len: AtomicUsize::new(0),
        })
    }

    #[inline]
    fn find(&self, hash: u64, given: &[KeyValue]) -> Option<&Series<C>> {
        let mut i = hash as usize & self.mask;
        loop {
            let p = self.slots[i].load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            // SAFETY: non-null slots point at series that live as long as the map
            // (freed only in `SeriesMap::drop`), fully initialised before the Release
            // store that published them.
            let s = unsafe { &*p };
            if s.hash == hash && attrs::matches(given, &s.attributes, &s.perm) {
                return Some(s);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Places a series; the caller holds the writer lock and has checked capacity.
    fn place(&self, series: *mut Series<C>) {
        // SAFETY: as in `find`.
        let hash = unsafe { (*series).hash };
        let mut i = hash as usize & self.mask;
        while !self.slots[i].load(Ordering::Relaxed).is_null() {
            i = (i + 1) & self.mask;
        }
        self.slots[i].store(series, Ordering::Release);
        let n = self.len.load(Ordering::Relaxed);
        self.order[n].store(series, Ordering::Release);
        self.len.store(n + 1, Ordering::Release);
    }

    fn series(&self) -> impl Iterator<Item = &Series<C>> {
        let n = self.len.load(Ordering::Acquire);
        self.order[..n].iter().map(|p| {
            // SAFETY: entries below `len` are published series, see `find`.
            unsafe { &*p.load(Ordering::Acquire) }
        })
    }
}

/// Lock-free lookup of series by attribute set, with locked insertion.
pub(crate) struct SeriesMap<C> {
    current: AtomicPtr<Table<C>>,
    /// Writer lock; also owns the retired tables.
    // Boxed on purpose: readers may still hold pointers to retired tables, so a table
    // must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    retired: Mutex<Vec<Box<Table<C>>>>,
}

// SAFETY: the raw pointers are owned by the map and only shared as `&Series<C>`; the
// cells are updated through atomics (`C: Sync`).
unsafe impl<C: Send + Sync> Send for SeriesMap<C> {}
unsafe impl<C: Send + Sync> Sync for SeriesMap<C> {}

const INITIAL_SLOTS: usize = 8;

impl<C> SeriesMap<C> {
    pub(crate) fn new() -> Self {
        SeriesMap {
            current: AtomicPtr::new(Box::into_raw(Table::with_capacity(INITIAL_SLOTS))),
            retired: Mutex::new(Vec::new()),
        }
    }

    #[inline]
    fn table(&self) -> &Table<C> {
        // SAFETY: `current` always points at a live table; replaced tables are kept in
        // `retired` until drop.
        unsafe { &*self.current.load(Ordering::Acquire) }
    }

    /// The series for `given` if it exists. `hash` is [`attrs::hash_set`] of `given`.
    #[inline]
    pub(crate) fn get(&self, hash: u64, given: &[KeyValue]) -> Option<&Series<C>> {
        self.table().find(hash, given)
    }

    /// How many series exist.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.table().len.load(Ordering::Acquire)
    }

    /// Finds or creates the series of a canonical set. `make` runs under the writer
    /// lock and may refuse (returns `None`), e.g. when the cardinality limit is reached.
    pub(crate) fn get_or_insert_with(
        &self,
        canonical: &[KeyValue],
        given: &[KeyValue],
        make: impl FnOnce(usize) -> Option<C>,
    ) -> Option<&Series<C>> {
        let hash = attrs::hash_set(canonical);
        let mut retired = self.retired.lock();
        let table = self.table();
        if let Some(s) = table.find(hash, canonical) {
            return Some(s);
        }
        let n = table.len.load(Ordering::Relaxed);
        let cell = make(n)?;
        let series = Box::into_raw(Box::new(Series {
            hash,
            perm: attrs::permutation(given, canonical),
            attributes: canonical.into(),
            cell,
        }));
        let table = if n + 1 > table.order.len() {
            let bigger = Table::with_capacity(table.slots.len() * 2);
            for s in table.order[..n].iter() {
                bigger.place(s.load(Ordering::Relaxed));
            }
            let old = self.current.swap(Box::into_raw(bigger), Ordering::AcqRel);
            // SAFETY: `old` came from `Box::into_raw` and is no longer `current`;
            // readers that still hold it see a frozen, live table.
            retired.push(unsafe { Box::from_raw(old) });
            self.table()
        } else {
            table
        };
        table.place(series);
        // SAFETY: just published; lives as long as the map.
        Some(unsafe { &*series })
    }

    /// Every series, in creation order. Runs without the writer lock.
    pub(crate) fn series(&self) -> impl Iterator<Item = &Series<C>> {
        self.table().series()
    }
}

impl<C> Drop for SeriesMap<C> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader is left. Every series is listed exactly once in
        // the current table's order list; tables are boxes from `Box::into_raw`.
        unsafe {
            let mut table = Box::from_raw(*self.current.get_mut());
            for p in table.order[..*table.len.get_mut()].iter() {
                drop(Box::from_raw(p.load(Ordering::Relaxed)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::canonicalize;
    use std::sync::atomic::AtomicU64;

    fn set(i: usize) -> Vec<KeyValue> {
        vec![KeyValue::new("id", i as i64), KeyValue::new("kind", "x")]
    }

    fn insert(map: &SeriesMap<AtomicU64>, given: &[KeyValue]) {
        map.get_or_insert_with(&canonicalize(given), given, |_| Some(AtomicU64::new(0)))
            .unwrap()
            .cell
            .fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn grows_and_keeps_every_series_in_order() {
        let map = SeriesMap::new();
        for i in 0..1000 {
            insert(&map, &set(i));
        }
        assert_eq!(map.len(), 1000);
        for i in 0..1000 {
            let s = map.get(attrs::hash_set(&set(i)), &set(i)).expect("present");
            assert_eq!(s.cell.load(Ordering::Relaxed), 1);
        }
        let ids: Vec<i64> = map
            .series()
            .map(|s| match s.attributes()[0].value {
                opentelemetry::Value::I64(i) => i,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn refusal_creates_nothing() {
        let map: SeriesMap<AtomicU64> = SeriesMap::new();
        let s = set(1);
        assert!(map.get_or_insert_with(&s, &s, |_| None).is_none());
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn concurrent_readers_and_writers() {
        let map = Arc::new(SeriesMap::<AtomicU64>::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let map = map.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        // Every thread touches every set: shared and racing inserts.
                        let s = set((i * 7 + t) % 500);
                        let hash = attrs::hash_set(&s);
                        match map.get(hash, &s) {
                            Some(series) => {
                                series.cell.fetch_add(1, Ordering::Relaxed);
                            }
                            None => insert(&map, &s),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(map.len(), 500);
        let total: u64 = map.series().map(|s| s.cell.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 8000);
    }
}
