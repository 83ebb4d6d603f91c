//! The cluster's members over a schedule: the initial voters, changed by
//! the membership faults as they are injected and healed.
//!
//! Checking a schedule and restricting it to a smaller cluster both need
//! to know, at each item, which nodes a fault may name; keeping that in
//! one place means a new membership fault changes it once.

use std::collections::{BTreeMap, BTreeSet};

use crate::fault::{Fault, NodeId};
use crate::schedule::FaultId;

/// The members (voters and non-voters in the configuration) at one point
/// of a schedule. Feed it every item in order: [`Members::inject`] and
/// [`Members::heal`] step it past the item, [`Members::now`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Members {
    now: BTreeSet<NodeId>,
    /// What healing each active membership fault does to the members.
    pending: BTreeMap<FaultId, Change>,
}

/// A membership change a heal makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Join(NodeId),
    Leave(NodeId),
}

impl Members {
    /// Before any fault: the initial voters.
    pub fn new(initial: impl IntoIterator<Item = NodeId>) -> Members {
        Members {
            now: initial.into_iter().collect(),
            pending: BTreeMap::new(),
        }
    }

    /// The members now.
    pub fn now(&self) -> &BTreeSet<NodeId> {
        &self.now
    }

    /// Step past the injection of fault `id`.
    pub fn inject(&mut self, id: FaultId, fault: &Fault) {
        match fault {
            Fault::RemoveNode {
                node, rejoin_as, ..
            } => {
                self.now.remove(node);
                self.pending.insert(id, Change::Join(*rejoin_as));
            }
            Fault::AddNonVoter { node, .. } => {
                self.now.insert(*node);
                self.pending.insert(id, Change::Leave(*node));
            }
            _ => {}
        }
    }

    /// Step past the heal of fault `id` (a no-op for faults that do not
    /// change the membership, or that were never injected).
    pub fn heal(&mut self, id: FaultId) {
        match self.pending.remove(&id) {
            Some(Change::Join(node)) => {
                self.now.insert(node);
            }
            Some(Change::Leave(node)) => {
                self.now.remove(&node);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_and_additions_last_until_their_heal() {
        let mut m = Members::new([1, 2, 3]);
        m.inject(
            0,
            &Fault::RemoveNode {
                node: 2,
                wipe: true,
                rejoin_as: 4,
            },
        );
        m.inject(
            1,
            &Fault::AddNonVoter {
                node: 5,
                promote_after_ms: None,
            },
        );
        m.inject(2, &Fault::TransferLeadership { to: Some(1) });
        assert_eq!(m.now(), &BTreeSet::from([1, 3, 5]));
        m.heal(2);
        m.heal(1);
        assert_eq!(m.now(), &BTreeSet::from([1, 3]));
        m.heal(0);
        assert_eq!(m.now(), &BTreeSet::from([1, 3, 4]));
        // A second heal of the same fault changes nothing.
        m.heal(0);
        assert_eq!(m.now(), &BTreeSet::from([1, 3, 4]));
    }

    #[test]
    fn a_node_removed_without_a_wipe_rejoins_under_its_own_id() {
        let mut m = Members::new([1, 2, 3]);
        m.inject(
            7,
            &Fault::RemoveNode {
                node: 3,
                wipe: false,
                rejoin_as: 3,
            },
        );
        assert_eq!(m.now(), &BTreeSet::from([1, 2]));
        m.heal(7);
        assert_eq!(m.now(), &BTreeSet::from([1, 2, 3]));
    }
}
