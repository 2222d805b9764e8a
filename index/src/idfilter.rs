//! A Bloom filter over the ids in the index, so that the common case — a detection (and an
//! incident) never seen before — costs no term-dictionary lookup in every segment.
//!
//! Ids are BLAKE3 prefixes, uniformly distributed, so the filter's hash functions are slices of
//! the id itself (double hashing over its two halves). "Absent" is certain; "maybe present" is
//! checked against the index. Deleted documents keep their bits (a false positive costs one
//! lookup, never a wrong answer). The filter is sized at about 12 bits per id (under 1% false
//! positives) and rebuilt, twice as large, from the index's term dictionary when it fills up.

use canhgac_core::Id;
use tantivy::Searcher;

use crate::error::{IndexError, Result};
use crate::schema::Fields;

const BITS_PER_ID: u64 = 12;
const HASHES: u64 = 7;
const MIN_CAPACITY: u64 = 1 << 20;

pub struct IdFilter {
    bits: Vec<u64>,
    /// Number of bits (a power of two).
    m: u64,
    capacity: u64,
    len: u64,
}

impl IdFilter {
    fn with_capacity(capacity: u64) -> IdFilter {
        let capacity = capacity.max(MIN_CAPACITY);
        let m = (capacity * BITS_PER_ID).next_power_of_two();
        IdFilter {
            bits: vec![0; (m / 64) as usize],
            m,
            capacity,
            len: 0,
        }
    }

    fn slots(id: &Id, m: u64) -> impl Iterator<Item = u64> {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&id.0[..8]);
        b.copy_from_slice(&id.0[8..]);
        let (h1, h2) = (u64::from_le_bytes(a), u64::from_le_bytes(b) | 1);
        (0..HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & (m - 1))
    }

    /// Whether `id` may be in the set (false: certainly not).
    pub fn may_contain(&self, id: &Id) -> bool {
        Self::slots(id, self.m).all(|s| self.bits[(s / 64) as usize] & (1 << (s % 64)) != 0)
    }

    /// Adds an id. Returns false when the filter is over capacity (rebuild it).
    pub fn insert(&mut self, id: &Id) -> bool {
        for s in Self::slots(id, self.m) {
            self.bits[(s / 64) as usize] |= 1 << (s % 64);
        }
        self.len += 1;
        self.len <= self.capacity
    }

    /// A filter holding every id of the committed index, with room to grow.
    /// A filter of every id and link key in the index.
    pub fn build(searcher: &Searcher, fields: &Fields) -> Result<IdFilter> {
        let mut terms = 0u64;
        for seg in searcher.segment_readers() {
            for field in [fields.id, fields.link] {
                let inv = seg
                    .inverted_index(field)
                    .map_err(IndexError::tantivy("open id terms"))?;
                terms += inv.terms().num_terms() as u64;
            }
        }
        let mut f = IdFilter::with_capacity(terms * 2);
        let mut id = Id::default();
        for seg in searcher.segment_readers() {
            for field in [fields.id, fields.link] {
                let inv = seg
                    .inverted_index(field)
                    .map_err(IndexError::tantivy("open id terms"))?;
                let mut stream = inv
                    .terms()
                    .stream()
                    .map_err(|e| IndexError::tantivy("read id terms")(e.into()))?;
                while stream.advance() {
                    if hex::decode_to_slice(stream.key(), &mut id.0).is_ok() {
                        f.insert(&id);
                    }
                }
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canhgac_core::IdHasher;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut f = IdFilter::with_capacity(10_000);
        let ids: Vec<Id> = (0..10_000u64)
            .map(|i| IdHasher::new("t").part_u64(i).finish())
            .collect();
        for id in &ids {
            assert!(f.insert(id));
        }
        assert!(ids.iter().all(|id| f.may_contain(id)));
        let fp = (10_000..110_000u64)
            .filter(|i| f.may_contain(&IdHasher::new("t").part_u64(*i).finish()))
            .count();
        assert!(fp < 1000, "{fp} false positives in 100,000");
    }
}
