//! The set of linearized operations: a bitset with an incrementally
//! maintained hash (one random word per operation, XORed in and out), and a
//! compact key for the memo table. Searches linearize roughly in call
//! order, so the set is "every operation below p, plus a few above": the
//! key stores p and only the words from p to the highest set bit.

use crate::hash::splitmix64;

pub(crate) struct LinSet {
    words: Vec<u64>,
    hash: u64,
    /// Words `[0, full)` are all ones.
    full: usize,
    /// No word at or above `hi` has a bit set.
    hi: usize,
}

impl LinSet {
    pub fn new(n: usize) -> Self {
        LinSet {
            words: vec![0; n.div_ceil(64).max(1)],
            hash: 0,
            full: 0,
            hi: 0,
        }
    }

    #[inline]
    fn zobrist(i: usize) -> u64 {
        splitmix64(i as u64 ^ 0xa076_1d64_78bd_642f)
    }

    #[inline]
    pub fn set(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] |= 1 << (i % 64);
        self.hash ^= Self::zobrist(i);
        self.hi = self.hi.max(w + 1);
        while self.full < self.words.len() && self.words[self.full] == u64::MAX {
            self.full += 1;
        }
    }

    #[inline]
    pub fn clear(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] &= !(1 << (i % 64));
        self.hash ^= Self::zobrist(i);
        self.full = self.full.min(w);
    }

    #[inline]
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The words that distinguish this set: those from `full` up to the
    /// last non-zero one.
    #[inline]
    pub fn tail(&mut self) -> (usize, &[u64]) {
        while self.hi > self.full && self.words[self.hi - 1] == 0 {
            self.hi -= 1;
        }
        let end = self.hi.max(self.full);
        (self.full, &self.words[self.full..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sets_have_equal_keys_and_hashes_whatever_the_path() {
        let mut a = LinSet::new(200);
        let mut b = LinSet::new(200);
        for i in 0..130 {
            a.set(i);
        }
        a.set(150);
        for i in (0..130).rev() {
            b.set(i);
        }
        b.set(190);
        b.set(150);
        b.clear(190);
        assert_eq!(a.hash(), b.hash());
        let (pa, ta) = a.tail();
        let (pa, ta) = (pa, ta.to_vec());
        let (pb, tb) = b.tail();
        assert_eq!((pa, ta.as_slice()), (pb, tb));
        assert_eq!(pa, 2);
        b.clear(3);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(b.tail().0, 0);
    }
}
