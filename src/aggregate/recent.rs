//! Each thread's memory of the series it found last in each series table.
//!
//! A call site with constant attributes records into the same series again and again.
//! Remembering that series per thread lets the next lookup skip hashing and probing:
//! the given set is still compared exactly with the remembered series' set, and a
//! mismatch falls back to the index. Per thread, not per table, so that threads on
//! different series never write a shared word.
//!
//! A remembered series is only tried while it is a streak: when the index found the
//! same series twice in a row. Lookups that wander over many series (each one
//! different from the last) thus never pay a comparison that is bound to fail.
//!
//! The memory is a small direct-mapped array: table ids pick an entry, and a table
//! trusts an entry only under its own id. Ids are never reused, so an entry left by a
//! dropped table is never read as a pointer. Each entry also keeps the table's removal
//! count from before the lookup that found the series: a table whose series can be
//! removed trusts the entry only while its count is unchanged.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries per thread; tables created one after another take different entries.
const ENTRIES: usize = 8;

/// The table's id shifted left once, its low bit set while on a streak; the series; the
/// table's removal count before the lookup that found it.
type Entry = Cell<(u64, *const (), u64)>;

thread_local! {
    static LAST: [Entry; ENTRIES] =
        const { [const { Cell::new((0, ptr::null(), 0)) }; ENTRIES] };
}

/// A fresh table id (never 0, never reused; below 2^63, so shifting keeps it whole).
pub(crate) fn new_table_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The series this thread found last in `table` if it found it twice in a row (and
/// has not missed it since), else null; with the table's removal count remembered.
#[inline]
pub(crate) fn recall_streak(table: u64) -> (*const (), u64) {
    LAST.try_with(|last| {
        let (key, series, removals) = last[table as usize % ENTRIES].get();
        if key == table << 1 | 1 {
            (series, removals)
        } else {
            (ptr::null(), 0)
        }
    })
    .unwrap_or((ptr::null(), 0))
}

/// Remembers `series` as the last one this thread found in `table` through the index,
/// with the table's removal count loaded before that lookup: a streak if it was the
/// last one found before too.
#[inline]
pub(crate) fn remember(table: u64, series: *const (), removals: u64) {
    let _ = LAST.try_with(|last| {
        let entry = &last[table as usize % ENTRIES];
        let (key, before, _) = entry.get();
        let streak = key >> 1 == table && ptr::eq(before, series);
        entry.set((table << 1 | streak as u64, series, removals));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_found_twice_in_a_row_is_recalled_for_its_table_only() {
        let (a, b) = (new_table_id(), new_table_id());
        let (x, y) = (1u8, 2u8);
        let (x, y) = (&x as *const u8 as *const (), &y as *const u8 as *const ());
        remember(a, x, 0);
        assert!(recall_streak(a).0.is_null(), "found once: no streak yet");
        remember(a, x, 0);
        assert_eq!(recall_streak(a), (x, 0));
        assert!(recall_streak(b).0.is_null());
        // Another series breaks the streak.
        remember(a, y, 0);
        assert!(recall_streak(a).0.is_null());
        // A table that shares the entry evicts the other.
        remember(a, y, 0);
        assert_eq!(recall_streak(a), (y, 0));
        let c = (0..ENTRIES as u64 * 2)
            .map(|_| new_table_id())
            .find(|c| c % ENTRIES as u64 == a % ENTRIES as u64)
            .expect("ids cycle through the entries");
        remember(c, y, 0);
        assert!(recall_streak(a).0.is_null());
        remember(c, y, 0);
        assert!(recall_streak(a).0.is_null());
    }

    #[test]
    fn threads_remember_separately() {
        let t = new_table_id();
        let x = 1u8;
        remember(t, &x as *const u8 as *const (), 3);
        remember(t, &x as *const u8 as *const (), 3);
        assert_eq!(recall_streak(t).1, 3);
        std::thread::spawn(move || assert!(recall_streak(t).0.is_null()))
            .join()
            .expect("no panic");
    }
}
