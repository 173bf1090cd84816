//! The series table: find a series by attribute set without taking a lock.
//!
//! Series are only ever added (cumulative temporality keeps every series for the life
//! of the instrument), which permits a simple design:
//!
//! * every series is boxed once and its pointer appended to a segmented list whose
//!   segments never move (segment `k` holds `8 << k` entries): insertion order, and a
//!   stable `u32` index per series;
//! * an open-addressing index of `u32` slots (series index + 1, 0 = empty) finds a
//!   series by hash. Readers load the current index and probe it with plain atomic
//!   loads: no lock, no reference count, no allocation;
//! * writers are serialised by a mutex. Growing the index copies it into one twice the
//!   size and publishes that; the old one is kept (frozen) until the map is dropped, so
//!   a reader still probing it stays safe. At 4 bytes a slot, retired indexes cost less
//!   than 8 bytes per series in all.
//!
//! Series are freed only when the map is dropped; handles that point at a series (bound
//! instruments) keep the map alive through an `Arc`.
//!
//! Before the index, [`SeriesMap::find`] tries the series this thread found last in
//! this map (see [`super::recent`]): a call site with constant attributes then pays one
//! exact comparison and no hash.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use opentelemetry::KeyValue;

use super::attrs::{self, Permutation};
use super::recent;
use crate::sync::Mutex;

/// One attribute set and its aggregation cell.
pub(crate) struct Series<C> {
    /// The high half of the set's hash: filters probes before comparing attributes.
    hash: u32,
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

/// Enough segments for `u32::MAX` series.
const SEGMENTS: usize = 30;
const FIRST_SEGMENT: usize = 8;

/// Segment and offset of series `i`: segment `k` starts at `8 * (2^k - 1)`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    let j = i + FIRST_SEGMENT;
    let k =
        (usize::BITS - 1 - j.leading_zeros()) as usize - FIRST_SEGMENT.trailing_zeros() as usize;
    (k, j - (FIRST_SEGMENT << k))
}

struct Index {
    mask: usize,
    slots: Box<[AtomicU32]>,
}

impl Index {
    fn with_capacity(slots: usize) -> Box<Self> {
        debug_assert!(slots.is_power_of_two());
        Box::new(Index {
            mask: slots - 1,
            slots: (0..slots).map(|_| AtomicU32::new(0)).collect(),
        })
    }

    /// Most series this index holds before it must grow (half load keeps probes short).
    fn capacity(&self) -> usize {
        self.slots.len() / 2
    }
}

/// Lock-free lookup of series by attribute set, with locked insertion.
pub(crate) struct SeriesMap<C> {
    /// This map's key in each thread's memory of recent series.
    id: u64,
    index: AtomicPtr<Index>,
    segments: [AtomicPtr<AtomicPtr<Series<C>>>; SEGMENTS],
    /// Published series; entries below it are set.
    len: AtomicUsize,
    /// Writer lock; also owns the retired indexes. Kept as raw pointers until drop,
    /// not boxes: readers may still read through them, and a `Box` would claim unique
    /// access (the aliasing model, which Miri checks, forbids that while they read).
    retired: Mutex<Vec<*mut Index>>,
}

// SAFETY: the raw pointers are owned by the map and only shared as `&Series<C>`; the
// cells are updated through atomics (`C: Sync`).
unsafe impl<C: Send + Sync> Send for SeriesMap<C> {}
unsafe impl<C: Send + Sync> Sync for SeriesMap<C> {}

const INITIAL_SLOTS: usize = 8;

impl<C> SeriesMap<C> {
    pub(crate) fn new() -> Self {
        SeriesMap {
            id: recent::new_table_id(),
            index: AtomicPtr::new(Box::into_raw(Index::with_capacity(INITIAL_SLOTS))),
            segments: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            len: AtomicUsize::new(0),
            retired: Mutex::new(Vec::new()),
        }
    }

    #[inline]
    fn index(&self) -> &Index {
        // SAFETY: `index` always points at a live index; replaced ones are kept in
        // `retired` until drop.
        unsafe { &*self.index.load(Ordering::Acquire) }
    }

    /// Series `i`, which must be below a `len` this thread has observed.
    #[inline]
    fn at(&self, i: usize) -> &Series<C> {
        let (k, offset) = locate(i);
        // SAFETY: series below `len` were written, and their segment published, before
        // the Release store of `len` (or of the slot naming them) the caller observed;
        // segments and series live until the map is dropped.
        unsafe {
            let segment = self.segments[k].load(Ordering::Acquire);
            &*(*segment.add(offset)).load(Ordering::Acquire)
        }
    }

    /// The series for `given` if it exists: first the one this thread keeps finding,
    /// then the index.
    #[inline]
    pub(crate) fn find(&self, given: &[KeyValue]) -> Option<&Series<C>> {
        let last = recent::recall_streak(self.id) as *const Series<C>;
        if !last.is_null() {
            // SAFETY: entries under this map's id are written only by this map, with
            // pointers to its own series (ids are never reused); series live as long as
            // the map, which `&self` keeps alive. This thread found the series itself,
            // so its initialisation happened before.
            let s = unsafe { &*last };
            if attrs::matches(given, &s.attributes, &s.perm) {
                return Some(s);
            }
        }
        let found = self.get(attrs::hash_set(given), given)?;
        recent::remember(self.id, found as *const Series<C> as *const ());
        Some(found)
    }

    /// The series for `given` if it exists. `hash` is [`attrs::hash_set`] of `given`.
    #[inline]
    pub(crate) fn get(&self, hash: u64, given: &[KeyValue]) -> Option<&Series<C>> {
        let index = self.index();
        let tag = (hash >> 32) as u32;
        let mut i = hash as usize & index.mask;
        loop {
            let slot = index.slots[i].load(Ordering::Acquire);
            if slot == 0 {
                return None;
            }
            let s = self.at(slot as usize - 1);
            if s.hash == tag && attrs::matches(given, &s.attributes, &s.perm) {
                return Some(s);
            }
            i = (i + 1) & index.mask;
        }
    }

    /// How many series exist.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
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
        if let Some(s) = self.get(hash, canonical) {
            return Some(s);
        }
        let n = self.len.load(Ordering::Relaxed);
        if n >= u32::MAX as usize - 1 {
            return None;
        }
        let cell = make(n)?;
        let series = Box::into_raw(Box::new(Series {
            hash: (hash >> 32) as u32,
            perm: attrs::permutation(given, canonical),
            attributes: canonical.into(),
            cell,
        }));
        // Append to the segmented list, allocating the segment on its first entry.
        let (k, offset) = locate(n);
        let mut segment = self.segments[k].load(Ordering::Relaxed);
        if segment.is_null() {
            let fresh: Box<[AtomicPtr<Series<C>>]> = (0..FIRST_SEGMENT << k)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect();
            segment = Box::into_raw(fresh) as *mut AtomicPtr<Series<C>>;
            self.segments[k].store(segment, Ordering::Release);
        }
        // SAFETY: `offset` is within segment `k`'s `8 << k` entries (see `locate`).
        unsafe { (*segment.add(offset)).store(series, Ordering::Release) };
        // Index it, growing first if need be.
        let mut index = self.index();
        if n + 1 > index.capacity() {
            let bigger = Index::with_capacity(index.slots.len() * 2);
            for j in 0..n {
                // Only the high half of a hash is kept per series: rehash to re-place.
                place(&bigger, attrs::hash_set(&self.at(j).attributes), j);
            }
            let old = self.index.swap(Box::into_raw(bigger), Ordering::AcqRel);
            // No longer current; readers that still hold it see a frozen, live index
            // until the map is dropped.
            retired.push(old);
            index = self.index();
        }
        place(index, hash, n);
        self.len.store(n + 1, Ordering::Release);
        Some(self.at(n))
    }

    /// Every series, in creation order. Runs without the writer lock.
    pub(crate) fn series(&self) -> impl Iterator<Item = &Series<C>> {
        (0..self.len()).map(|i| self.at(i))
    }
}

/// Records series `n` under `hash`; the caller holds the writer lock and has checked
/// capacity, so a free slot exists.
fn place(index: &Index, hash: u64, n: usize) {
    let mut i = hash as usize & index.mask;
    while index.slots[i].load(Ordering::Relaxed) != 0 {
        i = (i + 1) & index.mask;
    }
    index.slots[i].store(n as u32 + 1, Ordering::Release);
}

impl<C> Drop for SeriesMap<C> {
    fn drop(&mut self) {
        let len = *self.len.get_mut();
        // SAFETY: `&mut self`: no reader is left. Series below `len` were boxed once
        // each; segments are boxed slices of `8 << k` entries; the index and the
        // retired ones came from `Box::into_raw`, each once.
        unsafe {
            for i in 0..len {
                let (k, offset) = locate(i);
                let segment = *self.segments[k].get_mut();
                drop(Box::from_raw(
                    (*segment.add(offset)).load(Ordering::Relaxed),
                ));
            }
            for (k, segment) in self.segments.iter_mut().enumerate() {
                let segment = *segment.get_mut();
                if !segment.is_null() {
                    let slice = ptr::slice_from_raw_parts_mut(segment, FIRST_SEGMENT << k);
                    drop(Box::from_raw(slice));
                }
            }
            drop(Box::from_raw(*self.index.get_mut()));
            for old in self.retired.get_mut().drain(..) {
                drop(Box::from_raw(old));
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
    fn segments_tile_the_index_space() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(7), (0, 7));
        assert_eq!(locate(8), (1, 0));
        assert_eq!(locate(23), (1, 15));
        assert_eq!(locate(24), (2, 0));
        let mut expected = (0, 0);
        for i in 0..100_000 {
            assert_eq!(locate(i), expected, "{i}");
            expected.1 += 1;
            if expected.1 == FIRST_SEGMENT << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
        assert!(locate(u32::MAX as usize).0 < SEGMENTS);
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
        // Under Miri (slow, but it checks the data races and aliasing) a quarter of the
        // rounds still visits every set.
        const ROUNDS: usize = if cfg!(miri) { 500 } else { 2000 };
        let map = Arc::new(SeriesMap::<AtomicU64>::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let map = map.clone();
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
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
        assert_eq!(total, 4 * ROUNDS as u64);
    }
}
