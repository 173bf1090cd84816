//! A view's attribute-key filter, applied before aggregation and without allocating.
//!
//! A stream keeps only the keys its view allows (or all but those it excludes). The
//! filter is built once per stream, at registration; a measurement is then looked up
//! through [`Kept`], which hashes and compares only the kept pairs of the caller's
//! slice, so a series that exists is found without copying a single attribute. Only a
//! new series (the slow path) copies the kept pairs, to store them.

use opentelemetry::{Key, KeyValue};

use super::attrs::{self, GivenSet, Permutation, PERM_LEN};

/// Which attribute keys a stream keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyFilter {
    /// Only these keys (none: every attribute is dropped).
    Allow(Box<[Box<str>]>),
    /// Every key but these.
    Exclude(Box<[Box<str>]>),
}

impl KeyFilter {
    /// Whether an attribute of key `key` stays in the stream.
    #[inline]
    pub(crate) fn keeps(&self, key: &Key) -> bool {
        // Views name a handful of keys: a scan beats hashing. They are kept as plain
        // strings, so only the caller's key pays the `Key` enum's dispatch, once.
        let key = key.as_str();
        let listed = |keys: &[Box<str>]| keys.iter().any(|k| k.len() == key.len() && **k == *key);
        match self {
            KeyFilter::Allow(keys) => listed(keys),
            KeyFilter::Exclude(keys) => !listed(keys),
        }
    }

    /// The pairs of `attributes` this filter keeps, in their order (the slow path).
    pub(crate) fn apply(&self, attributes: &[KeyValue]) -> Vec<KeyValue> {
        attributes
            .iter()
            .filter(|kv| self.keeps(&kv.key))
            .cloned()
            .collect()
    }
}

/// A caller's slice as a stream with a key filter sees it.
#[derive(Clone, Copy)]
pub(crate) struct Kept<'a> {
    pub(crate) attributes: &'a [KeyValue],
    pub(crate) filter: &'a KeyFilter,
}

impl GivenSet for Kept<'_> {
    #[inline]
    fn hash_set(self) -> u64 {
        attrs::hash_pairs(
            self.attributes
                .iter()
                .filter(|kv| self.filter.keeps(&kv.key)),
        )
    }

    /// Exact, as [`attrs::matches`] is: each stored pair is matched at most once, and
    /// the kept pairs must cover all of them. The permutation was built from the kept
    /// pairs in the caller's order, so the first guess is usually right.
    #[inline]
    fn matches(self, stored: &[KeyValue], perm: &Permutation) -> bool {
        if stored.len() > 64 {
            return self.matches_large(stored);
        }
        let mut seen = 0u64;
        let mut kept = 0usize;
        for kv in self.attributes {
            let guess = if kept < PERM_LEN {
                perm[kept] as usize
            } else {
                kept
            };
            // A key found among the stored ones is kept (they are all kept keys), so
            // the filter is asked only about the others.
            let pos = match stored.get(guess) {
                Some(s) if attrs::str_eq(s.key.as_str(), kv.key.as_str()) => guess,
                _ if !self.filter.keeps(&kv.key) => continue,
                _ => match stored.binary_search_by(|s| s.key.as_str().cmp(kv.key.as_str())) {
                    Ok(pos) => pos,
                    Err(_) => return false,
                },
            };
            let bit = 1u64 << pos;
            if seen & bit != 0 || !attrs::value_eq(&stored[pos].value, &kv.value) {
                return false;
            }
            seen |= bit;
            kept += 1;
        }
        kept == stored.len()
    }
}

impl Kept<'_> {
    #[cold]
    fn matches_large(self, stored: &[KeyValue]) -> bool {
        let kept = self.filter.apply(self.attributes);
        let canonical = crate::snapshot::canonicalize(&kept);
        canonical.len() == kept.len() && attrs::matches(&kept, stored, &[0, 1, 2, 3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::canonicalize;

    fn kv(k: &'static str, v: &'static str) -> KeyValue {
        KeyValue::new(k, v)
    }

    fn allow(keys: &[&'static str]) -> KeyFilter {
        KeyFilter::Allow(keys.iter().map(|k| Box::from(*k)).collect())
    }

    fn exclude(keys: &[&'static str]) -> KeyFilter {
        KeyFilter::Exclude(keys.iter().map(|k| Box::from(*k)).collect())
    }

    #[test]
    fn an_allow_list_keeps_only_its_keys_and_an_exclude_list_all_others() {
        let given = [kv("a", "1"), kv("b", "2"), kv("c", "3")];
        assert_eq!(
            allow(&["a", "c"]).apply(&given),
            [kv("a", "1"), kv("c", "3")]
        );
        assert_eq!(exclude(&["a", "c"]).apply(&given), [kv("b", "2")]);
        assert!(allow(&[]).apply(&given).is_empty());
    }

    #[test]
    fn a_filtered_slice_hashes_and_matches_as_its_kept_pairs() {
        let filter = allow(&["route", "method"]);
        let given = [kv("user", "u1"), kv("route", "/a"), kv("method", "GET")];
        let kept = filter.apply(&given);
        let stored = canonicalize(&kept);
        let perm = attrs::permutation(&kept, &stored);
        let view = Kept {
            attributes: &given,
            filter: &filter,
        };
        assert_eq!(view.hash_set(), attrs::hash_set(&stored));
        assert!(view.matches(&stored, &perm));
        // Another value of a dropped key: the same series.
        let other_user = [kv("method", "GET"), kv("user", "u2"), kv("route", "/a")];
        let view = Kept {
            attributes: &other_user,
            filter: &filter,
        };
        assert!(view.matches(&stored, &perm));
        assert_eq!(view.hash_set(), attrs::hash_set(&stored));
        // A kept key missing, or another value: not it.
        let missing = [kv("user", "u1"), kv("route", "/a")];
        let wrong = [kv("route", "/b"), kv("method", "GET")];
        for other in [&missing[..], &wrong[..]] {
            let view = Kept {
                attributes: other,
                filter: &filter,
            };
            assert!(!view.matches(&stored, &perm));
        }
        // A repeated kept key never matches (the slow path canonicalises it).
        let repeated = [kv("route", "/a"), kv("route", "/a"), kv("method", "GET")];
        let view = Kept {
            attributes: &repeated,
            filter: &filter,
        };
        assert!(!view.matches(&stored, &perm));
    }
}
