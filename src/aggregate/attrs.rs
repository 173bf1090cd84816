//! Attribute-set identity on the hot path: an order-independent hash and an exact
//! comparison against a stored set, both without allocating.
//!
//! A set is identified by its keys and values regardless of order, so the hash of a
//! slice is the wrapping sum of one hash per key-value pair. A slice that repeats a key
//! hashes differently from its canonical form; such slices miss the fast lookup and take
//! the slow path, which canonicalises first (see [`crate::snapshot::canonicalize`]).

use opentelemetry::{Array, KeyValue, Value};

// Hashing is the bulk of a lookup, so it is specialised for what attributes are: a few
// short strings. Each string costs two (overlapping) word loads and one 128-bit
// multiply; quality only needs to spread series over slots, since every hit is verified
// by exact comparison.
const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;
const K2: u64 = 0xa409_3822_299f_31d0;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn half(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w) as u64
}

/// Two (overlapping) words that stand for a string of at most 16 bytes.
#[inline(always)]
fn short_words(b: &[u8]) -> (u64, u64) {
    let len = b.len();
    if len >= 8 {
        (word(b, 0), word(b, len - 8))
    } else if len >= 4 {
        (half(b, 0), half(b, len - 4))
    } else if len > 0 {
        (
            (b[0] as u64) << 16 | (b[len / 2] as u64) << 8 | b[len - 1] as u64,
            0,
        )
    } else {
        (0, 0)
    }
}

#[inline(always)]
fn hash_bytes(b: &[u8], seed: u64) -> u64 {
    if b.len() > 16 {
        return hash_long(b, seed);
    }
    let (lo, hi) = short_words(b);
    fold(lo ^ seed ^ K1, hi ^ (b.len() as u64) ^ K2)
}

#[cold]
fn hash_long(b: &[u8], seed: u64) -> u64 {
    let mut acc = seed ^ K0;
    let mut chunks = b.chunks_exact(16);
    for c in &mut chunks {
        acc = fold(acc ^ word(c, 0), word(c, 8) ^ K1);
    }
    // The last 16 bytes (overlapping) cover the remainder.
    let n = b.len();
    fold(acc ^ word(b, n - 16), word(b, n - 8) ^ K2 ^ n as u64)
}

/// Order-independent hash of an attribute slice.
#[inline]
pub(crate) fn hash_set(attributes: &[KeyValue]) -> u64 {
    hash_pairs(attributes.iter())
}

/// [`hash_set`] of the pairs `pairs` yields (a view's kept attributes, say).
#[inline]
pub(super) fn hash_pairs<'a>(pairs: impl Iterator<Item = &'a KeyValue>) -> u64 {
    let mut sum = 0u64;
    for kv in pairs {
        sum = sum.wrapping_add(hash_pair(kv));
    }
    // The sum of per-pair hashes is well spread already; one final mix makes the empty
    // set and small sums land on scattered slots too.
    fold(sum ^ K0, K1)
}

/// An attribute set as a caller hands it to a lookup: a slice as given, or a slice
/// seen through a view's key filter ([`super::key_filter::Kept`]). Lookups are generic
/// over it, so the unfiltered path stays what it was.
pub(crate) trait GivenSet: Copy {
    /// The order-independent hash of the set ([`hash_set`] of its canonical form).
    fn hash_set(self) -> u64;
    /// Whether the set is exactly the canonical set `stored` (see [`matches`]).
    fn matches(self, stored: &[KeyValue], perm: &Permutation) -> bool;
}

// Always inlined: the slice's lookup must compile to what it was before the trait.
impl GivenSet for &[KeyValue] {
    #[inline(always)]
    fn hash_set(self) -> u64 {
        hash_set(self)
    }

    #[inline(always)]
    fn matches(self, stored: &[KeyValue], perm: &Permutation) -> bool {
        matches(self, stored, perm)
    }
}

/// Tests hand their sets as `&Vec`.
#[cfg(test)]
impl GivenSet for &Vec<KeyValue> {
    fn hash_set(self) -> u64 {
        hash_set(self)
    }

    fn matches(self, stored: &[KeyValue], perm: &Permutation) -> bool {
        matches(self, stored, perm)
    }
}

/// One multiply mixes a short key's words with its value's hash: the key needs no
/// multiply of its own, and a number or a bool none either.
#[inline(always)]
pub(super) fn hash_pair(kv: &KeyValue) -> u64 {
    let key = kv.key.as_str().as_bytes();
    let value = hash_value(&kv.value);
    if key.len() > 16 {
        return fold(hash_long(key, K0) ^ K1, value ^ K2);
    }
    let (lo, hi) = short_words(key);
    // Offsets keep either side from being zero for ordinary input, which would
    // annihilate the product.
    fold(lo ^ value ^ K1, hi ^ ((key.len() as u64) << 56) ^ K2)
}

/// A value's hash; numbers and bools are their bits under a per-type offset (the pair
/// hash mixes them).
#[inline(always)]
fn hash_value(value: &Value) -> u64 {
    match value {
        Value::String(s) => hash_bytes(s.as_str().as_bytes(), K2 ^ 1),
        Value::I64(i) => *i as u64 ^ K2 ^ 2,
        Value::F64(f) => f.to_bits().rotate_left(32) ^ K2 ^ 3,
        Value::Bool(b) => *b as u64 ^ K2 ^ 4,
        Value::Array(a) => hash_array(a),
        // Future variants: equality still decides, they just share a hash bucket.
        _ => K0 ^ 6,
    }
}

#[cold]
fn hash_array(array: &Array) -> u64 {
    let mut acc = K2 ^ 5;
    let mut add = |x: u64| acc = fold(acc ^ x, K1);
    match array {
        Array::Bool(v) => v.iter().for_each(|b| add(*b as u64)),
        Array::I64(v) => v.iter().for_each(|i| add(*i as u64)),
        Array::F64(v) => v.iter().for_each(|f| add(f.to_bits())),
        Array::String(v) => v
            .iter()
            .for_each(|s| add(hash_bytes(s.as_str().as_bytes(), K2))),
        _ => add(0xfe),
    }
    acc
}

#[inline]
pub(super) fn str_eq(a: &str, b: &str) -> bool {
    // Keys and values are often the same `&'static str` at every call site.
    (a.len() == b.len() && a.as_ptr() == b.as_ptr()) || a == b
}

/// Value equality where floats compare by bits, so a NaN attribute still finds its
/// series instead of creating a new one per measurement.
#[inline]
pub(crate) fn value_eq(a: &Value, b: &Value) -> bool {
    // The common types inline; arrays and mismatched types out of line.
    match (a, b) {
        (Value::String(x), Value::String(y)) => str_eq(x.as_str(), y.as_str()),
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => value_eq_other(a, b),
    }
}

#[inline(never)]
fn value_eq_other(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(Array::F64(x)), Value::Array(Array::F64(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}

/// How many positions a [`Permutation`] remembers; larger sets are searched.
pub(crate) const PERM_LEN: usize = 4;

/// Where each key of the slice that created a series sits in its sorted set, so a
/// caller that always passes the same order is matched position by position.
pub(crate) type Permutation = [u8; PERM_LEN];

/// Builds the permutation for `given` (as passed by the caller) against `sorted`.
///
/// Always one-to-one on `0..sorted.len()` (what makes [`matches_in_order`] exact): the
/// identity unless every key of `given` is found at a distinct place.
pub(crate) fn permutation(given: &[KeyValue], sorted: &[KeyValue]) -> Permutation {
    let identity: Permutation = std::array::from_fn(|i| i as u8);
    if given.len() != sorted.len() || given.len() > PERM_LEN {
        return identity;
    }
    let mut perm = identity;
    let mut taken = 0u8;
    for (slot, kv) in perm.iter_mut().zip(given) {
        match sorted.binary_search_by(|s| s.key.cmp(&kv.key)) {
            Ok(pos) if taken & (1 << pos) == 0 => {
                taken |= 1 << pos;
                *slot = pos as u8;
            }
            _ => return identity,
        }
    }
    perm
}

/// Whether `given` (any order, no allocation) is exactly the canonical set `stored`.
///
/// Exact: a slice that repeats a key never matches (each stored pair may be matched
/// once), so such slices fall through to the canonicalising slow path.
// Always inlined into the lookup (its in-order loop is the whole cost of a repeated
// series); the lookup is generic over the given set, which makes the compiler's own
// choice vary.
#[inline(always)]
pub(crate) fn matches(given: &[KeyValue], stored: &[KeyValue], perm: &Permutation) -> bool {
    if given.len() != stored.len() {
        return false;
    }
    if given.len() <= PERM_LEN {
        if let Some(answer) = matches_in_order(given, stored, perm) {
            return answer;
        }
    }
    matches_any_order(given, stored, perm)
}

/// The common case first: `given` in the order of the slice that created the series,
/// compared pair by pair along the permutation. `None` when a key is elsewhere (another
/// order: the caller searches). A key in its place with another value is a mismatch
/// in any order, as stored keys are unique and a repeated given key never matches.
///
/// Exact because a permutation maps `0..len` one-to-one onto `0..len` (see
/// [`permutation`]): every stored pair is matched exactly once.
#[inline(always)]
fn matches_in_order(given: &[KeyValue], stored: &[KeyValue], perm: &Permutation) -> Option<bool> {
    for (kv, &at) in given.iter().zip(perm) {
        let s = stored.get(at as usize)?;
        if !str_eq(s.key.as_str(), kv.key.as_str()) {
            return None;
        }
        if !value_eq(&s.value, &kv.value) {
            return Some(false);
        }
    }
    Some(true)
}

#[inline(never)]
fn matches_any_order(given: &[KeyValue], stored: &[KeyValue], perm: &Permutation) -> bool {
    if stored.len() > 64 {
        return matches_large(given, stored);
    }
    let mut seen = 0u64;
    for (i, kv) in given.iter().enumerate() {
        let guess = if i < PERM_LEN { perm[i] as usize } else { i };
        let pos = match stored.get(guess) {
            Some(s) if str_eq(s.key.as_str(), kv.key.as_str()) => guess,
            _ => match stored.binary_search_by(|s| s.key.as_str().cmp(kv.key.as_str())) {
                Ok(pos) => pos,
                Err(_) => return false,
            },
        };
        let bit = 1u64 << pos;
        if seen & bit != 0 || !value_eq(&stored[pos].value, &kv.value) {
            return false;
        }
        seen |= bit;
    }
    true
}

#[cold]
fn matches_large(given: &[KeyValue], stored: &[KeyValue]) -> bool {
    let mut seen = vec![false; stored.len()];
    given.iter().all(
        |kv| match stored.binary_search_by(|s| s.key.as_str().cmp(kv.key.as_str())) {
            Ok(pos) if !seen[pos] && value_eq(&stored[pos].value, &kv.value) => {
                seen[pos] = true;
                true
            }
            _ => false,
        },
    )
}

/// Whether a slice names some key twice (small slices only pay n² compares).
pub(crate) fn has_repeated_key(attributes: &[KeyValue]) -> bool {
    attributes
        .iter()
        .enumerate()
        .any(|(i, a)| attributes[..i].iter().any(|b| a.key == b.key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::canonicalize;

    fn kv(k: &'static str, v: impl Into<Value>) -> KeyValue {
        KeyValue::new(k, v)
    }

    #[test]
    fn order_does_not_change_the_hash() {
        let a = [kv("a", "1"), kv("b", 2), kv("c", true)];
        let b = [kv("c", true), kv("a", "1"), kv("b", 2)];
        assert_eq!(hash_set(&a), hash_set(&b));
        assert_ne!(hash_set(&a), hash_set(&a[..2]));
        assert_ne!(hash_set(&[]), hash_set(&[kv("a", "")]));
    }

    #[test]
    fn value_types_are_distinguished() {
        assert_ne!(hash_set(&[kv("a", "1")]), hash_set(&[kv("a", 1)]));
        assert!(!value_eq(&Value::from("1"), &Value::from(1)));
        assert!(value_eq(&Value::F64(f64::NAN), &Value::F64(f64::NAN)));
    }

    #[test]
    fn matches_any_order_exactly() {
        let given = [kv("b", 2), kv("a", "1"), kv("c", true)];
        let stored = canonicalize(&given);
        let perm = permutation(&given, &stored);
        assert!(matches(&given, &stored, &perm));
        let other_order = [kv("c", true), kv("b", 2), kv("a", "1")];
        assert!(matches(&other_order, &stored, &perm));
        let wrong_value = [kv("c", false), kv("b", 2), kv("a", "1")];
        assert!(!matches(&wrong_value, &stored, &perm));
        let repeated = [kv("a", "1"), kv("a", "1"), kv("b", 2)];
        let stored3 = canonicalize(&[kv("a", "1"), kv("b", 2), kv("z", 0)]);
        assert!(!matches(
            &repeated,
            &stored3,
            &permutation(&repeated, &stored3)
        ));
        assert!(has_repeated_key(&repeated));
        assert!(!has_repeated_key(&given));
    }

    #[test]
    fn a_permutation_is_one_to_one_or_the_identity() {
        let sorted = canonicalize(&[kv("a", 1), kv("b", 2), kv("c", 3)]);
        assert_eq!(
            permutation(&[kv("c", 3), kv("a", 1), kv("b", 2)], &sorted),
            [2, 0, 1, 3]
        );
        // A repeated or unknown key cannot claim a place twice.
        let identity = [0, 1, 2, 3];
        assert_eq!(
            permutation(&[kv("a", 1), kv("a", 1), kv("b", 2)], &sorted),
            identity
        );
        assert_eq!(
            permutation(&[kv("x", 1), kv("a", 1), kv("b", 2)], &sorted),
            identity
        );
        let repeated = [kv("a", 1), kv("a", 1), kv("b", 2)];
        assert!(!matches(&repeated, &sorted, &identity));
    }

    #[test]
    fn a_value_mismatch_in_place_is_final_and_other_orders_are_searched() {
        let given = [kv("m", "GET"), kv("r", "/a"), kv("s", 200), kv("c", true)];
        let stored = canonicalize(&given);
        let perm = permutation(&given, &stored);
        assert!(matches(&given, &stored, &perm));
        let other_value = [kv("m", "GET"), kv("r", "/b"), kv("s", 200), kv("c", true)];
        assert!(!matches(&other_value, &stored, &perm));
        let other_type = [kv("m", "GET"), kv("r", "/a"), kv("s", "200"), kv("c", true)];
        assert!(!matches(&other_type, &stored, &perm));
        let owned = [
            kv("c", true),
            kv("s", 200),
            KeyValue::new(String::from("r"), String::from("/a")),
            kv("m", "GET"),
        ];
        assert!(matches(&owned, &stored, &perm));
    }

    #[test]
    fn large_sets_match() {
        let keys: Vec<KeyValue> = (0..80)
            .map(|i| KeyValue::new(format!("k{i:03}"), i as i64))
            .collect();
        let stored = canonicalize(&keys);
        let mut shuffled = keys.clone();
        shuffled.reverse();
        assert!(matches(&shuffled, &stored, &permutation(&keys, &stored)));
        assert_eq!(hash_set(&shuffled), hash_set(&stored));
    }
}
