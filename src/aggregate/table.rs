//! The series table: find a series by attribute set without taking a lock.
//!
//! * every series is boxed once and its pointer stored in an entry of a segmented list
//!   whose segments never move (segment `k` holds `8 << k` entries): a stable `u32`
//!   entry number per series, in creation order until entries are reused;
//! * an open-addressing index of `u32` slots (entry + 1; 0 = empty, [`TOMBSTONE`] = a
//!   removed series) finds a series by hash. Readers load the current index and probe it
//!   with plain atomic loads: no lock, no reference count, no allocation;
//! * writers are serialised by a mutex. When the index's used slots (live series and
//!   tombstones) would pass half of it, the writer copies the live series into a new
//!   index (twice the size if they need it, else the same size without tombstones) and
//!   publishes it. The old one is frozen: readers still probing it stay safe.
//!
//! Probes end: an index is at most half used when published and never written once
//! replaced, so every probe meets an empty slot (tombstones count as used).
//!
//! Without an idle timeout, series are only ever added: they, and the replaced indexes
//! (at 4 bytes a slot, less than 8 bytes per series in all), are freed when the map is
//! dropped, and readers need no protection. With one, the map *reclaims*
//! ([`SeriesMap::new`]'s `reclaim`): the collector removes idle series (tombstone in the
//! index, entry emptied and reused by the next series), and what a reader may still
//! hold (a removed series, a replaced index) is freed by the epoch scheme of
//! `crossbeam-epoch` once every thread pinned at the removal has unpinned. Readers of a
//! reclaiming map hold a [`Pin`] (an epoch guard) for as long as they use what they
//! found; the references returned live no longer than it.
//!
//! Before the index, [`SeriesMap::find`] tries the series this thread found last in
//! this map (see [`super::recent`]): a call site with constant attributes then pays one
//! exact comparison and no hash. Each removal bumps the map's removal count, and a
//! remembered series is trusted only while the count is the one loaded before the
//! lookup that found it: a series removed since is never dereferenced.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use crossbeam_epoch::{self as epoch, Guard};
use opentelemetry::KeyValue;

use super::attrs::{self, GivenSet, Permutation};
use super::lifecycle::Life;
use super::recent;
use crate::sync::Mutex;

/// One attribute set and its aggregation cell.
pub(crate) struct Series<C> {
    /// The high half of the set's hash: filters probes before comparing attributes.
    hash: u32,
    perm: Permutation,
    attributes: Arc<[KeyValue]>,
    /// Touched, bound, retired: what the idle timeout reads and writes.
    pub(crate) life: Life,
    /// When the series was created: the start of its cumulative interval when series
    /// can end and start again.
    pub(crate) created: SystemTime,
    /// The aggregation state, updated with atomics.
    pub(crate) cell: C,
}

impl<C> Series<C> {
    /// The canonical (sorted, deduplicated) attribute set.
    pub(crate) fn attributes(&self) -> &Arc<[KeyValue]> {
        &self.attributes
    }
}

/// What a reader of the map holds while it uses what it found: nothing for a map that
/// never frees, an epoch guard for one that reclaims.
pub(crate) struct Pin(Option<Guard>);

/// Enough segments for `u32::MAX` series.
const SEGMENTS: usize = 30;
const FIRST_SEGMENT: usize = 8;
/// An index slot whose series was removed: probes go on past it.
const TOMBSTONE: u32 = u32::MAX;

/// Segment and offset of entry `i`: segment `k` starts at `8 * (2^k - 1)`.
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

    /// Most used slots (series and tombstones) this index holds before it is rebuilt
    /// (half load keeps probes short and ends them).
    fn capacity(&self) -> usize {
        self.slots.len() / 2
    }
}

/// What the writer lock guards.
struct Writer {
    /// Replaced indexes of a map that never frees, kept as raw pointers until drop,
    /// not boxes: readers may still read through them, and a `Box` would claim unique
    /// access (the aliasing model, which Miri checks, forbids that while they read).
    retired: Vec<*mut Index>,
    /// Emptied entries, reused before new ones.
    free: Vec<u32>,
    /// Non-empty slots of the current index: live series and tombstones.
    used: usize,
}

/// Lock-free lookup of series by attribute set, with locked insertion and removal.
pub(crate) struct SeriesMap<C> {
    /// This map's key in each thread's memory of recent series.
    id: u64,
    /// Whether series are removed (see the module docs).
    reclaim: bool,
    index: AtomicPtr<Index>,
    segments: [AtomicPtr<AtomicPtr<Series<C>>>; SEGMENTS],
    /// Entries handed out so far; each below it holds a series or null (emptied).
    high: AtomicUsize,
    /// Live series: what the cardinality limit counts.
    live: AtomicUsize,
    /// Bumped at each removal; remembered series are trusted only while it is unchanged.
    removals: AtomicU64,
    writer: Mutex<Writer>,
}

// SAFETY: the raw pointers are owned by the map and only shared as `&Series<C>`; the
// cells are updated through atomics (`C: Sync`).
unsafe impl<C: Send + Sync> Send for SeriesMap<C> {}
unsafe impl<C: Send + Sync> Sync for SeriesMap<C> {}

const INITIAL_SLOTS: usize = 8;

impl<C> SeriesMap<C> {
    /// A map; with `reclaim`, one whose series can be removed.
    pub(crate) fn new(reclaim: bool) -> Self {
        SeriesMap {
            id: recent::new_table_id(),
            reclaim,
            index: AtomicPtr::new(Box::into_raw(Index::with_capacity(INITIAL_SLOTS))),
            segments: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            high: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            removals: AtomicU64::new(0),
            writer: Mutex::new(Writer {
                retired: Vec::new(),
                free: Vec::new(),
                used: 0,
            }),
        }
    }

    /// Whether series can be removed.
    #[inline]
    pub(crate) fn reclaims(&self) -> bool {
        self.reclaim
    }

    /// What a reader holds while it uses what it finds: an epoch pin where the map
    /// reclaims.
    #[inline]
    pub(crate) fn pin(&self) -> Pin {
        Pin(self.reclaim.then(epoch::pin))
    }

    #[inline]
    fn index<'p>(&'p self, _pin: &'p Pin) -> &'p Index {
        // SAFETY: `index` always points at a live index. A replaced one is kept until
        // drop (a map that never frees) or freed after the grace period of its
        // replacement, which the caller's pin (taken before this load) outlasts.
        unsafe { &*self.index.load(Ordering::Acquire) }
    }

    /// The series in entry `i`, which must be below a `high` this thread observed (or
    /// named by an index slot it loaded); `None` when the entry is empty.
    #[inline]
    fn at<'p>(&'p self, i: usize, _pin: &'p Pin) -> Option<&'p Series<C>> {
        let (k, offset) = locate(i);
        // SAFETY: entries below `high` were written, and their segment published,
        // before the Release store of `high` (or of the slot naming them) the caller
        // observed; segments live until the map is dropped. A series is freed only
        // after it was unlinked (its entry nulled) and every pin taken before that has
        // ended: the caller's pin, taken before this load, keeps it.
        unsafe {
            let segment = self.segments[k].load(Ordering::Acquire);
            (*segment.add(offset)).load(Ordering::Acquire).as_ref()
        }
    }

    /// The series for `given` if it exists: first the one this thread keeps finding,
    /// then the index. In a reclaiming map the series may be retired already (its
    /// `life` says so); the caller then looks again under the writer lock.
    #[inline]
    pub(crate) fn find<'p, G: GivenSet>(&'p self, given: G, pin: &'p Pin) -> Option<&'p Series<C>> {
        // SeqCst: ordered after the caller's pin, so that a removal this load does not
        // see waits for the pin before it frees (see the module docs).
        let removals = self.removals.load(Ordering::SeqCst);
        let (last, seen) = recent::recall_streak(self.id);
        let last = last as *const Series<C>;
        if !last.is_null() && seen == removals {
            // SAFETY: entries under this map's id are written only by this map, with
            // pointers to its own series (ids are never reused). The removal count is
            // the one loaded before the lookup that found the series, so it was not
            // removed before this thread's pin, which keeps it now (a map that never
            // removes keeps series until it is dropped, and `&self` holds it). This
            // thread found the series itself, so its initialisation happened before.
            let s = unsafe { &*last };
            if given.matches(&s.attributes, &s.perm) {
                return Some(s);
            }
        }
        let found = self.get(given.hash_set(), given, pin)?;
        recent::remember(self.id, found as *const Series<C> as *const (), removals);
        Some(found)
    }

    /// The series for `given` if it exists. `hash` is [`GivenSet::hash_set`] of `given`.
    #[inline]
    pub(crate) fn get<'p, G: GivenSet>(
        &'p self,
        hash: u64,
        given: G,
        pin: &'p Pin,
    ) -> Option<&'p Series<C>> {
        let index = self.index(pin);
        let tag = (hash >> 32) as u32;
        let mut i = hash as usize & index.mask;
        loop {
            let slot = index.slots[i].load(Ordering::Acquire);
            if slot == 0 {
                return None;
            }
            if slot != TOMBSTONE {
                if let Some(s) = self.at(slot as usize - 1, pin) {
                    if s.hash == tag && given.matches(&s.attributes, &s.perm) {
                        return Some(s);
                    }
                }
            }
            i = (i + 1) & index.mask;
        }
    }

    /// How many series are live.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Finds or creates the series of a canonical set. `make` runs under the writer
    /// lock with the number of live series and may refuse (returns `None`), e.g. when
    /// the cardinality limit is reached. A series found here is not retired: removal
    /// happens under the same lock.
    pub(crate) fn get_or_insert_with<'p>(
        &'p self,
        canonical: &[KeyValue],
        given: &[KeyValue],
        pin: &'p Pin,
        make: impl FnOnce(usize) -> Option<C>,
    ) -> Option<&'p Series<C>> {
        let hash = attrs::hash_set(canonical);
        let mut writer = self.writer.lock();
        if let Some(s) = self.get(hash, canonical, pin) {
            return Some(s);
        }
        let live = self.live.load(Ordering::Relaxed);
        let high = self.high.load(Ordering::Relaxed);
        if writer.free.is_empty() && high >= TOMBSTONE as usize - 1 {
            return None;
        }
        let cell = make(live)?;
        // Rebuild the index first if the new slot would pass half of it: the rebuilt
        // one holds the live series with room for this one.
        let index = self.index(pin);
        if free_slot(index, hash).1 && writer.used + 1 > index.capacity() {
            self.rebuild(&mut writer, live + 1, pin);
        }
        let series = Box::into_raw(Box::new(Series {
            hash: (hash >> 32) as u32,
            perm: attrs::permutation(given, canonical),
            attributes: canonical.into(),
            life: Life::new(),
            created: SystemTime::now(),
            cell,
        }));
        let entry = match writer.free.pop() {
            Some(e) => e as usize,
            None => {
                // A new entry, allocating its segment on its first one.
                let (k, _) = locate(high);
                if self.segments[k].load(Ordering::Relaxed).is_null() {
                    let fresh: Box<[AtomicPtr<Series<C>>]> = (0..FIRST_SEGMENT << k)
                        .map(|_| AtomicPtr::new(ptr::null_mut()))
                        .collect();
                    let segment = Box::into_raw(fresh) as *mut AtomicPtr<Series<C>>;
                    self.segments[k].store(segment, Ordering::Release);
                }
                high
            }
        };
        let (k, offset) = locate(entry);
        let segment = self.segments[k].load(Ordering::Relaxed);
        // SAFETY: `offset` is within segment `k`'s `8 << k` entries (see `locate`).
        unsafe { (*segment.add(offset)).store(series, Ordering::Release) };
        if entry == high {
            self.high.store(high + 1, Ordering::Release);
        }
        // Then index it: the slot's Release store publishes the series.
        let index = self.index(pin);
        let (slot, empty) = free_slot(index, hash);
        index.slots[slot].store(entry as u32 + 1, Ordering::Release);
        writer.used += usize::from(empty);
        self.live.store(live + 1, Ordering::Release);
        self.at(entry, pin)
    }

    /// Replaces the index by one without tombstones, large enough for `live` series at
    /// half load; the old one is frozen and freed after readers are done with it.
    fn rebuild(&self, writer: &mut Writer, live: usize, pin: &Pin) {
        let old = self.index(pin);
        let mut slots = old.slots.len();
        while live > slots / 2 {
            slots *= 2;
        }
        let fresh = Index::with_capacity(slots);
        let mut used = 0;
        for j in 0..self.high.load(Ordering::Relaxed) {
            if let Some(s) = self.at(j, pin) {
                // Only the high half of a hash is kept per series: rehash to re-place.
                let (slot, _) = free_slot(&fresh, attrs::hash_set(&s.attributes));
                fresh.slots[slot].store(j as u32 + 1, Ordering::Relaxed);
                used += 1;
            }
        }
        let old = self.index.swap(Box::into_raw(fresh), Ordering::AcqRel);
        writer.used = used;
        match &pin.0 {
            // SAFETY: `old` came from `Box::into_raw` and is no longer reachable from
            // the map; a reader still probing it pinned before this swap, and the
            // guard frees it only once every such pin has ended.
            Some(guard) => unsafe {
                guard.defer_unchecked(move || drop(Box::from_raw(old)));
            },
            // A map that never frees keeps it until drop.
            None => writer.retired.push(old),
        }
    }

    /// Removes `series` (found through `pin`) if its lifecycle word lets it retire
    /// (untouched since the last sweep, unbound); its memory is freed once every pin
    /// taken before has ended. Returns whether it was removed.
    pub(crate) fn remove(&self, series: &Series<C>, pin: &Pin) -> bool {
        let Some(guard) = &pin.0 else {
            return false;
        };
        let mut writer = self.writer.lock();
        if !series.life.retire() {
            return false;
        }
        let target = series as *const Series<C>;
        // Its slot in the current index: probe from its hash for the slot naming it.
        let index = self.index(pin);
        let hash = attrs::hash_set(&series.attributes);
        let mut i = hash as usize & index.mask;
        let entry = loop {
            let slot = index.slots[i].load(Ordering::Relaxed);
            if slot == 0 {
                // Unreachable: a live series is indexed. Leave it (never freed) rather
                // than free memory something may still name.
                debug_assert!(false, "a live series missing from the index");
                return false;
            }
            if slot != TOMBSTONE
                && self
                    .at(slot as usize - 1, pin)
                    .is_some_and(|s| ptr::eq(s, target))
            {
                index.slots[i].store(TOMBSTONE, Ordering::Release);
                break slot as usize - 1;
            }
            i = (i + 1) & index.mask;
        };
        let (k, offset) = locate(entry);
        // SAFETY: as in `at`: the entry is within its published segment. The pointer
        // taken out is the one `Box::into_raw` gave (its provenance, not a reference's).
        let owned = unsafe {
            let segment = self.segments[k].load(Ordering::Relaxed);
            (*segment.add(offset)).swap(ptr::null_mut(), Ordering::AcqRel)
        };
        debug_assert!(ptr::eq(owned, target));
        writer.free.push(entry as u32);
        self.live.fetch_sub(1, Ordering::Release);
        // SeqCst: see `find`; a thread whose count load comes before this one pinned
        // before, and the guard below waits for it.
        self.removals.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the series came from `Box::into_raw` in `get_or_insert_with` and is
        // unlinked now (no slot of the current index, no entry names it; frozen indexes
        // name its entry, which readers check for null and compare). Every reader that
        // may hold it pinned before this point, and the guard frees it after them.
        unsafe {
            guard.defer_unchecked(move || drop(Box::from_raw(owned)));
        }
        true
    }

    /// Every live series, in entry order. In a reclaiming map, only the one remover
    /// (the aggregator's sweep, under its lock) iterates, so none ends meanwhile.
    pub(crate) fn series<'p>(&'p self, pin: &'p Pin) -> impl Iterator<Item = &'p Series<C>> {
        (0..self.high.load(Ordering::Acquire)).filter_map(move |i| self.at(i, pin))
    }
}

/// The slot for a new series under `hash` in `index`: the first empty or tombstone
/// slot of its probe, and whether it was empty. The caller holds the writer lock; the
/// index is at most half used, so an empty slot exists.
fn free_slot(index: &Index, hash: u64) -> (usize, bool) {
    let mut i = hash as usize & index.mask;
    loop {
        match index.slots[i].load(Ordering::Relaxed) {
            0 => return (i, true),
            TOMBSTONE => return (i, false),
            _ => i = (i + 1) & index.mask,
        }
    }
}

impl<C> Drop for SeriesMap<C> {
    fn drop(&mut self) {
        let high = *self.high.get_mut();
        // SAFETY: `&mut self`: no reader is left. Entries below `high` hold series
        // boxed once each, or null (removed ones, freed by the epoch scheme); segments
        // are boxed slices of `8 << k` entries; the index and the kept replaced ones
        // came from `Box::into_raw`, each once (a reclaiming map's were handed to the
        // epoch scheme instead).
        unsafe {
            for i in 0..high {
                let (k, offset) = locate(i);
                let segment = *self.segments[k].get_mut();
                let series = (*segment.add(offset)).load(Ordering::Relaxed);
                if !series.is_null() {
                    drop(Box::from_raw(series));
                }
            }
            for (k, segment) in self.segments.iter_mut().enumerate() {
                let segment = *segment.get_mut();
                if !segment.is_null() {
                    let slice = ptr::slice_from_raw_parts_mut(segment, FIRST_SEGMENT << k);
                    drop(Box::from_raw(slice));
                }
            }
            drop(Box::from_raw(*self.index.get_mut()));
            for old in self.writer.get_mut().retired.drain(..) {
                drop(Box::from_raw(old));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::canonicalize;

    fn set(i: usize) -> Vec<KeyValue> {
        vec![KeyValue::new("id", i as i64), KeyValue::new("kind", "x")]
    }

    fn insert(map: &SeriesMap<AtomicU64>, given: &[KeyValue]) {
        let pin = map.pin();
        map.get_or_insert_with(&canonicalize(given), given, &pin, |_| {
            Some(AtomicU64::new(0))
        })
        .unwrap()
        .cell
        .fetch_add(1, Ordering::Relaxed);
    }

    fn id_of(s: &Series<AtomicU64>) -> i64 {
        match s.attributes()[0].value {
            opentelemetry::Value::I64(i) => i,
            _ => unreachable!(),
        }
    }

    /// Removes set `i` as the sweep would: clear the touch first.
    fn remove(map: &SeriesMap<AtomicU64>, i: usize) -> bool {
        let pin = map.pin();
        let s = map
            .get(attrs::hash_set(&set(i)), &set(i), &pin)
            .expect("present");
        s.life.sweep(1, 0);
        map.remove(s, &pin)
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
        let map = SeriesMap::new(false);
        for i in 0..1000 {
            insert(&map, &set(i));
        }
        assert_eq!(map.len(), 1000);
        let pin = map.pin();
        for i in 0..1000 {
            let s = map
                .get(attrs::hash_set(&set(i)), &set(i), &pin)
                .expect("present");
            assert_eq!(s.cell.load(Ordering::Relaxed), 1);
        }
        let ids: Vec<i64> = map.series(&pin).map(id_of).collect();
        assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn refusal_creates_nothing() {
        let map: SeriesMap<AtomicU64> = SeriesMap::new(false);
        let s = set(1);
        assert!(map
            .get_or_insert_with(&s, &s, &map.pin(), |_| None)
            .is_none());
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn a_map_that_never_frees_removes_nothing() {
        let map = SeriesMap::new(false);
        insert(&map, &set(1));
        assert!(!remove(&map, 1));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn concurrent_readers_and_writers() {
        // Under Miri (slow, but it checks the data races and aliasing) a quarter of the
        // rounds still visits every set.
        const ROUNDS: usize = if cfg!(miri) { 500 } else { 2000 };
        let map = Arc::new(SeriesMap::<AtomicU64>::new(false));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let map = map.clone();
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
                        // Every thread touches every set: shared and racing inserts.
                        let s = set((i * 7 + t) % 500);
                        let hash = attrs::hash_set(&s);
                        let pin = map.pin();
                        match map.get(hash, &s, &pin) {
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
        let pin = map.pin();
        let total: u64 = map
            .series(&pin)
            .map(|s| s.cell.load(Ordering::Relaxed))
            .sum();
        assert_eq!(total, 4 * ROUNDS as u64);
    }

    /// A map that frees what it removes: its tests run under Miri with Tree Borrows,
    /// the aliasing model crossbeam-epoch is written for (see `scripts/test`).
    mod reclaiming {
        use super::*;

        #[test]
        fn removed_series_leave_the_index_and_their_entries_are_reused() {
            let map = SeriesMap::new(true);
            for i in 0..10 {
                insert(&map, &set(i));
            }
            assert!(remove(&map, 3));
            assert!(remove(&map, 7));
            assert_eq!(map.len(), 8);
            {
                let pin = map.pin();
                assert!(map.get(attrs::hash_set(&set(3)), &set(3), &pin).is_none());
                assert!(map.find(&set(7), &pin).is_none());
                assert_eq!(map.series(&pin).count(), 8);
            }
            // New sets take the emptied entries before new ones.
            insert(&map, &set(100));
            insert(&map, &set(101));
            assert_eq!(map.high.load(Ordering::Relaxed), 10);
            // A removed set comes back as a fresh series.
            insert(&map, &set(3));
            let pin = map.pin();
            let again = map.find(&set(3), &pin).expect("back");
            assert_eq!(again.cell.load(Ordering::Relaxed), 1);
            assert_eq!(map.len(), 11);
        }

        #[test]
        fn churn_keeps_the_index_at_its_size_and_probes_ending() {
            // Tombstones count as used: rebuilding at the same size drops them, so a map
            // whose live series stay few never grows, however many come and go.
            let map = SeriesMap::new(true);
            let rounds = if cfg!(miri) { 200 } else { 20_000 };
            for i in 0..rounds {
                insert(&map, &set(i));
                if i >= 10 {
                    assert!(remove(&map, i - 10));
                }
            }
            assert_eq!(map.len(), 10);
            let pin = map.pin();
            assert!(map.index(&pin).slots.len() <= 32);
            for i in rounds - 10..rounds {
                assert!(map.find(&set(i), &pin).is_some(), "{i}");
            }
            assert!(map.high.load(Ordering::Relaxed) <= 11);
        }

        #[test]
        fn a_remembered_series_is_not_used_once_removed() {
            let map = SeriesMap::new(true);
            insert(&map, &set(1));
            {
                // Found twice through the index: a streak this thread remembers.
                let pin = map.pin();
                assert!(map.find(&set(1), &pin).is_some());
                assert!(map.find(&set(1), &pin).is_some());
            }
            assert!(remove(&map, 1));
            // Its memory may be gone: the removal count says not to look.
            assert!(map.find(&set(1), &map.pin()).is_none());
        }
    }
}
