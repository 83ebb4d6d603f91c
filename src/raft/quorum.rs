//! Majorities: how many voters make a quorum, the index a quorum has
//! reached, and the outcome of a vote.

use super::types::{Index, NodeId};
use crate::bugs::{Bug, Bugs};
use std::collections::{BTreeMap, BTreeSet};

/// The number of voters that make a majority of `voters`.
pub fn size(voters: usize, bugs: Bugs) -> usize {
    if bugs.has(Bug::MinorityQuorum) {
        (voters / 2).max(1)
    } else {
        voters / 2 + 1
    }
}

/// The highest index that at least a quorum of the given per-voter indexes
/// has reached. 0 if there are fewer values than a quorum.
pub fn committed_index(mut indexes: Vec<Index>, bugs: Bugs) -> Index {
    let q = size(indexes.len(), bugs);
    if indexes.is_empty() || indexes.len() < q {
        return 0;
    }
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    indexes[q - 1]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// The outcome of a vote so far.
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// A quorum can no longer grant.
    Lost,
    /// Not decided yet.
    Pending,
}

/// Tally the answers of `votes` (true = granted) among `voters`; answers
/// from non-voters do not count.
pub fn tally(votes: &BTreeMap<NodeId, bool>, voters: &BTreeSet<NodeId>, bugs: Bugs) -> VoteResult {
    let q = size(voters.len(), bugs);
    let granted = voters
        .iter()
        .filter(|v| votes.get(v) == Some(&true))
        .count();
    let rejected = voters
        .iter()
        .filter(|v| votes.get(v) == Some(&false))
        .count();
    if granted >= q {
        VoteResult::Won
    } else if voters.len() - rejected < q {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majorities() {
        let n = Bugs::NONE;
        assert_eq!([1, 2, 3, 4, 5].map(|v| size(v, n)), [1, 2, 2, 3, 3]);
        assert_eq!(committed_index(vec![5, 1, 3], n), 3);
        assert_eq!(committed_index(vec![5, 1, 3, 4], n), 3);
        assert_eq!(committed_index(vec![], n), 0);
        let m = Bugs::only(Bug::MinorityQuorum);
        assert_eq!(size(3, m), 1);
        assert_eq!(committed_index(vec![5, 1, 3], m), 5);
    }

    #[test]
    fn votes() {
        let voters: BTreeSet<NodeId> = [1, 2, 3].into();
        let mut v = BTreeMap::from([(1, true)]);
        assert_eq!(tally(&v, &voters, Bugs::NONE), VoteResult::Pending);
        v.insert(9, true);
        assert_eq!(tally(&v, &voters, Bugs::NONE), VoteResult::Pending);
        v.insert(2, false);
        assert_eq!(tally(&v, &voters, Bugs::NONE), VoteResult::Pending);
        v.insert(3, true);
        assert_eq!(tally(&v, &voters, Bugs::NONE), VoteResult::Won);
        let v = BTreeMap::from([(1, true), (2, false), (3, false)]);
        assert_eq!(tally(&v, &voters, Bugs::NONE), VoteResult::Lost);
    }
}
