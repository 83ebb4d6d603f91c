//! Swarm testing: the seed also chooses the cluster's shape and the fault
//! mix, so many seeds explore many configurations (TigerBeetle's VOPR,
//! openraft's turmoil fuzzer).

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::fault::{FaultKind, NodeId};
use crate::profile::Profile;

/// The ChaCha stream swarm choices come from, apart from the schedule's.
const SWARM_STREAM: u64 = 0x737761726d;

/// A run configuration chosen by the seed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Swarm {
    /// 3, 5 or 7 voters.
    pub cluster_size: usize,
    /// Multiplies every Raft timing (heartbeat, election timeout, commit
    /// timeout), in ‰: 500 is twice as fast as the defaults, 2000 half as fast.
    pub timing_scale_permille: u32,
    pub pre_vote: bool,
    /// Log entries between snapshots.
    pub snapshot_threshold: u64,
    /// A non-empty random subset of the families the caller allowed.
    pub profile: Profile,
    /// Time between fault attempts.
    pub nemesis_interval_ms: u64,
}

impl Swarm {
    /// The configuration for `seed`, with faults drawn from `allowed`
    /// (an empty `allowed` gives an empty fault mix).
    pub fn from_seed(seed: u64, allowed: &Profile) -> Swarm {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SWARM_STREAM);
        let cluster_size = *[3, 5, 7].choose(&mut rng).expect("non-empty");
        let timing_scale_permille = *[500, 750, 1000, 1000, 1500, 2000]
            .choose(&mut rng)
            .expect("non-empty");
        let pre_vote = rng.random_bool(0.5);
        let snapshot_threshold = *[8, 32, 128, 1024, 8192]
            .choose(&mut rng)
            .expect("non-empty");
        let mut kinds: Vec<FaultKind> = allowed.kinds.iter().copied().collect();
        kinds.shuffle(&mut rng);
        if !kinds.is_empty() {
            kinds.truncate(rng.random_range(1..=kinds.len()));
        }
        let nemesis_interval_ms = *[500, 1_000, 2_000, 5_000]
            .choose(&mut rng)
            .expect("non-empty");
        Swarm {
            cluster_size,
            timing_scale_permille,
            pre_vote,
            snapshot_threshold,
            profile: Profile {
                kinds: kinds.into_iter().collect(),
                failpoints: allowed.failpoints.clone(),
            },
            nemesis_interval_ms,
        }
    }

    /// The initial node ids, `1..=cluster_size`.
    pub fn nodes(&self) -> Vec<NodeId> {
        (1..=self.cluster_size as NodeId).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn deterministic_and_varied() {
        let all = Profile::all();
        assert_eq!(Swarm::from_seed(42, &all), Swarm::from_seed(42, &all));
        let swarms: Vec<Swarm> = (0..200).map(|s| Swarm::from_seed(s, &all)).collect();
        let sizes: BTreeSet<usize> = swarms.iter().map(|s| s.cluster_size).collect();
        assert_eq!(sizes, BTreeSet::from([3, 5, 7]));
        assert!(swarms.iter().any(|s| s.pre_vote) && swarms.iter().any(|s| !s.pre_vote));
        let mixes: BTreeSet<String> = swarms.iter().map(|s| s.profile.to_string()).collect();
        assert!(mixes.len() > 50, "{} distinct mixes", mixes.len());
        for s in &swarms {
            assert!(!s.profile.is_empty());
            assert_eq!(s.nodes().len(), s.cluster_size);
        }
    }

    #[test]
    fn mix_stays_inside_what_is_allowed() {
        let allowed: Profile = "partition,clock".parse().unwrap();
        for seed in 0..50 {
            let s = Swarm::from_seed(seed, &allowed);
            assert!(s.profile.kinds.is_subset(&allowed.kinds));
        }
        assert!(Swarm::from_seed(1, &Profile::none()).profile.is_empty());
    }
}
