//! Attribute-set identity on the hot path: an order-independent hash and an exact
//! comparison against a stored set, both without allocating.
//!
//! A set is identified by its keys and values regardless of order, so the hash of a
//! slice is the wrapping sum of one hash per key-value pair. A slice that repeats a key
//! hashes differently from its canonical form; such slices miss the fast lookup and take
//! the slow path, which canonicalises first (see [`crate::snapshot::canonicalize`]).

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::FixedState;
use opentelemetry::{Array, KeyValue, Value};

/// Fixed seed: hashes must agree between threads and over the life of a map.
const STATE: FixedState = FixedState::with_seed(0x9e37_79b9_7f4a_7c15);

/// Order-independent hash of an attribute slice.
#[inline]
pub(crate) fn hash_set(attributes: &[KeyValue]) -> u64 {
    let mut sum = 0u64;
    for kv in attributes {
        sum = sum.wrapping_add(hash_pair(kv));
    }
    // The sum of per-pair hashes is well spread already; one final mix makes the empty
    // set and small sums land on scattered slots too.
    mix(sum)
}

#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 32;
    x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
    x ^= x >> 32;
    x
}

#[inline]
fn hash_pair(kv: &KeyValue) -> u64 {
    let mut h = STATE.build_hasher();
    h.write(kv.key.as_str().as_bytes());
    hash_value(&mut h, &kv.value);
    h.finish()
}

#[inline]
fn hash_value(h: &mut impl Hasher, value: &Value) {
    match value {
        Value::String(s) => {
            h.write_u8(1);
            h.write(s.as_str().as_bytes());
        }
        Value::I64(i) => {
            h.write_u8(2);
            h.write_u64(*i as u64);
        }
        Value::F64(f) => {
            h.write_u8(3);
            h.write_u64(f.to_bits());
        }
        Value::Bool(b) => {
            h.write_u8(4);
            h.write_u8(*b as u8);
        }
        Value::Array(a) => {
            h.write_u8(5);
            hash_array(h, a);
        }
        // Future variants: equality still decides, they just share a hash bucket.
        _ => h.write_u8(6),
    }
}

fn hash_array(h: &mut impl Hasher, array: &Array) {
    match array {
        Array::Bool(v) => v.iter().for_each(|b| h.write_u8(*b as u8)),
        Array::I64(v) => v.iter().for_each(|i| h.write_u64(*i as u64)),
        Array::F64(v) => v.iter().for_each(|f| h.write_u64(f.to_bits())),
        Array::String(v) => v.iter().for_each(|s| {
            h.write(s.as_str().as_bytes());
            h.write_u8(0xff);
        }),
        _ => h.write_u8(0xfe),
    }
}

#[inline]
fn str_eq(a: &str, b: &str) -> bool {
    // Keys and values are often the same `&'static str` at every call site.
    (a.len() == b.len() && a.as_ptr() == b.as_ptr()) || a == b
}

/// Value equality where floats compare by bits, so a NaN attribute still finds its
/// series instead of creating a new one per measurement.
#[inline]
pub(crate) fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => str_eq(x.as_str(), y.as_str()),
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(Array::F64(x)), Value::Array(Array::F64(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}

/// How many positions a [`Permutation`] remembers; larger sets are searched.
pub(crate) const PERM_LEN: usize = 8;

/// Where each key of the slice that created a series sits in its sorted set, so a
/// caller that always passes the same order is matched position by position.
pub(crate) type Permutation = [u8; PERM_LEN];

/// Builds the permutation for `given` (as passed by the caller) against `sorted`.
pub(crate) fn permutation(given: &[KeyValue], sorted: &[KeyValue]) -> Permutation {
    let mut perm = [0u8; PERM_LEN];
    for (i, slot) in perm.iter_mut().enumerate() {
        *slot = i as u8;
    }
    if given.len() == sorted.len() && given.len() <= PERM_LEN {
        for (i, kv) in given.iter().enumerate() {
            if let Ok(pos) = sorted.binary_search_by(|s| s.key.cmp(&kv.key)) {
                perm[i] = pos as u8;
            }
        }
    }
    perm
}

/// Whether `given` (any order, no allocation) is exactly the canonical set `stored`.
///
/// Exact: a slice that repeats a key never matches (each stored pair may be matched
/// once), so such slices fall through to the canonicalising slow path.
#[inline]
pub(crate) fn matches(given: &[KeyValue], stored: &[KeyValue], perm: &Permutation) -> bool {
    if given.len() != stored.len() {
        return false;
    }
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
