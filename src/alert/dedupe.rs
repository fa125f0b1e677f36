//! A fixed-capacity set of record ids ([`crate::record::RecordHeader::dedupe_key`]) that drops
//! duplicate records from re-ingested objects and retried batches, for the in-memory state store
//! ([`super::store::memory`]; DynamoDB remembers ids as items with a TTL).
//!
//! When full, the oldest id is forgotten (FIFO), so memory stays at `capacity` ids (about 25
//! bytes each: 8 in the ring, ~16 in the hash set with its load factor). A duplicate that arrives
//! after `capacity` newer records is counted again; with the default 100 000 ids that is hours
//! of a busy stream, far longer than Lambda retries or a re-ingested object take.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Record ids are already SipHash outputs: hashing them again is wasted work.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A set of at most `capacity` ids that forgets the oldest first.
#[derive(Debug, Clone)]
pub struct DedupeSet {
    capacity: usize,
    set: HashSet<u64, BuildHasherDefault<IdHasher>>,
    order: VecDeque<u64>,
}

impl DedupeSet {
    /// An empty set remembering at most `capacity` ids (at least 1).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            set: HashSet::default(),
            order: VecDeque::new(),
        }
    }

    /// Records `id`; `true` if it was new, `false` if it is a duplicate.
    pub fn insert(&mut self, id: u64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.order.push_back(id);
        true
    }

    /// Whether `id` is remembered.
    #[must_use]
    pub fn contains(&self, id: u64) -> bool {
        self.set.contains(&id)
    }

    /// Number of ids remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no id is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The most ids remembered.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn detects_duplicates_and_forgets_the_oldest() {
        let mut s = DedupeSet::new(3);
        assert!(s.insert(1));
        assert!(!s.insert(1));
        assert!(s.insert(2));
        assert!(s.insert(3));
        assert_eq!(s.len(), 3);
        assert!(s.insert(4)); // evicts 1
        assert_eq!(s.len(), 3);
        assert!(!s.contains(1));
        assert!(s.contains(2) && s.contains(3) && s.contains(4));
        assert!(s.insert(1)); // forgotten, so new again; evicts 2
        assert!(!s.contains(2));
        assert_eq!(DedupeSet::new(0).capacity(), 1);
    }

    proptest! {
        #[test]
        fn never_exceeds_capacity_and_remembers_the_newest(
            ids in proptest::collection::vec(0u64..64, 0..400),
            capacity in 1usize..20,
        ) {
            let mut s = DedupeSet::new(capacity);
            for &id in &ids {
                s.insert(id);
                prop_assert!(s.len() <= capacity);
                prop_assert_eq!(s.set.len(), s.order.len());
                prop_assert!(s.contains(id));
            }
        }
    }
}
