//! The core's only source of randomness: a splitmix64 generator kept in the
//! state, so a node's election timeouts are a function of its seed and
//! nothing else, and cloning a node clones its future choices too.

/// Steele, Lea and Flood's splitmix64: tiny, fast, and good enough to
/// spread election timeouts; not for anything adversarial.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Node `id`'s generator from its configured seed: the id times the
    /// generator's increment xored in. That alone does not separate nodes
    /// given one small seed (their streams come out as shifted copies, so
    /// two nodes that have drawn equally often time out on the same
    /// millisecond round after round), and it cancels out if the id was
    /// already folded in the same way: give each node a seed from
    /// [`node_seed`].
    pub fn for_node(seed: u64, id: u64) -> Self {
        SplitMix64(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A value in `[0, n)`; 0 when `n` is 0. The modulo bias is at most
    /// n / 2^64, far below anything an election timeout could notice.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Node `id`'s own well-mixed seed in a run seeded with `run_seed` (a small
/// number: 0, 1, 2, ...), for [`Config::seed`](super::Config::seed).
pub fn node_seed(run_seed: u64, id: u64) -> u64 {
    mix(run_seed ^ mix(id.wrapping_add(0x9E37_79B9_7F4A_7C15)))
}

/// splitmix64's output function: every input bit affects every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_different_seed_different_sequence() {
        let (mut a, mut b, mut c) = (SplitMix64::new(7), SplitMix64::new(7), SplitMix64::new(8));
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!((0..1000).all(|_| a.below(10) < 10));
        assert_eq!(a.below(0), 0);
    }

    #[test]
    fn nodes_of_one_cluster_draw_unrelated_sequences() {
        // With small run seeds and ids, as the simulation uses them: no
        // node's first 64 draws may reappear (8 or more equal draws, at a
        // shift of up to 8) in another's.
        let mut raw_related = 0;
        for seed in 0..50u64 {
            let draws: Vec<Vec<u64>> = (1..=7u64)
                .map(|id| {
                    let mut g = SplitMix64::for_node(node_seed(seed, id), id);
                    (0..64).map(|_| g.below(300)).collect()
                })
                .collect();
            let related = |draws: &Vec<Vec<u64>>| {
                draws.iter().enumerate().any(|(i, a)| {
                    draws[i + 1..].iter().any(|b| {
                        (0..8).any(|shift| {
                            a[shift..].iter().zip(b).filter(|(x, y)| x == y).count() >= 8
                        })
                    })
                })
            };
            assert!(!related(&draws), "seed {seed}: related streams");
            // One small seed for every node is not enough: hence node_seed.
            let raw: Vec<Vec<u64>> = (1..=7u64)
                .map(|id| {
                    let mut g = SplitMix64::for_node(seed, id);
                    (0..64).map(|_| g.below(300)).collect()
                })
                .collect();
            raw_related += usize::from(related(&raw));
        }
        assert!(
            raw_related > 0,
            "unscrambled small seeds were expected to relate"
        );
    }
}
