//! Whether a node may be lost for good while a live majority of voters
//! remains, with membership changes counted as the operator reports them.
//!
//! A schedule is generated ahead of the run, so its limits can only
//! assume a membership change ends at its heal. The operator that carries
//! it out may take far longer (a removal accepted by a leader that cannot
//! commit it stays pending until the operator's deadline), and a fault
//! that fail-stops a node for good (a bit flip) cannot be healed: applied
//! while a change is still unsettled it may leave the cluster without a
//! live majority in any configuration it could be in, stuck for good with
//! no Raft bug involved. So the nemesis keeps this account while it
//! applies the schedule and refuses such a fault when the account says the
//! loss could be one too many.
//!
//! The account is pessimistic about every change asked for and not yet
//! reported in force: its node counts as a possible voter (a removal may
//! never commit, an addition may commit any time) and as not live (a node
//! being removed may not campaign, a newcomer may not have caught up). A
//! change the operator gave up on stays that way until a later change
//! about the same node is reported in force: an entry a leader accepted
//! may still commit after the operator stopped waiting for it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::fault::NodeId;
use crate::partition::majority;

/// A membership change as it bears on the voters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VoterChange {
    /// The node becomes a voter (added as one, or promoted).
    Join(NodeId),
    /// The node leaves the configuration.
    Leave(NodeId),
}

impl VoterChange {
    pub fn node(self) -> NodeId {
        match self {
            VoterChange::Join(n) | VoterChange::Leave(n) => n,
        }
    }
}

/// Why a node may not be lost now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortOfMajority {
    pub node: NodeId,
    /// Voters counted live after the loss.
    pub live: BTreeSet<NodeId>,
    /// Every node that may be a voter now.
    pub possible: BTreeSet<NodeId>,
    /// Nodes whose membership change is not yet settled.
    pub unsettled: BTreeSet<NodeId>,
}

impl fmt::Display for ShortOfMajority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "losing node {} for good would leave live voters {:?}, short of a majority of the \
             possible voters {:?} (membership changes not yet in force: {:?})",
            self.node, self.live, self.possible, self.unsettled
        )
    }
}

/// The voters as the operator last reported them, the changes still
/// unsettled, and the nodes lost for good.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveMajority {
    voters: BTreeSet<NodeId>,
    /// Changes asked for and not yet reported, each once per request.
    asked: BTreeMap<VoterChange, usize>,
    /// Per node, the last change reported failed and not overtaken by a
    /// change reported in force.
    given_up: BTreeMap<NodeId, VoterChange>,
    lost: BTreeSet<NodeId>,
}

impl LiveMajority {
    /// Before any change: the initial voters, all live.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> LiveMajority {
        LiveMajority {
            voters: voters.into_iter().collect(),
            ..LiveMajority::default()
        }
    }

    /// The operator was asked for `change`.
    pub fn asked(&mut self, change: VoterChange) {
        *self.asked.entry(change).or_insert(0) += 1;
    }

    /// The operator reports `change` in force: the node's place is known.
    pub fn done(&mut self, change: VoterChange) {
        self.forget_request(change);
        self.given_up.remove(&change.node());
        match change {
            VoterChange::Join(n) => self.voters.insert(n),
            VoterChange::Leave(n) => self.voters.remove(&n),
        };
    }

    /// The operator gave up on `change`: it may still take effect.
    pub fn failed(&mut self, change: VoterChange) {
        self.forget_request(change);
        self.given_up.insert(change.node(), change);
    }

    /// `node` may have fail-stopped for good.
    pub fn lose(&mut self, node: NodeId) {
        self.lost.insert(node);
    }

    /// Whether losing `node` for good still leaves a live majority of every
    /// voter set the cluster may be in. Each such set lies within the
    /// possible voters and holds every live one, so a live majority of the
    /// possible voters is enough.
    pub fn may_lose(&self, node: NodeId) -> Result<(), ShortOfMajority> {
        let mut live = self.live();
        if !live.remove(&node) {
            // Already counted out: losing it changes nothing.
            return Ok(());
        }
        let possible = self.possible();
        if live.len() >= majority(possible.len()) {
            return Ok(());
        }
        Err(ShortOfMajority {
            node,
            live,
            possible,
            unsettled: self.unsettled(),
        })
    }

    /// Nodes whose place in the configuration is not settled.
    pub fn unsettled(&self) -> BTreeSet<NodeId> {
        self.asked
            .keys()
            .map(|c| c.node())
            .chain(self.given_up.keys().copied())
            .collect()
    }

    /// Nodes that may be voters now: the reported voters and every node
    /// an unsettled change may make one.
    fn possible(&self) -> BTreeSet<NodeId> {
        let joining = self
            .asked
            .keys()
            .chain(self.given_up.values())
            .filter_map(|c| match c {
                VoterChange::Join(n) => Some(*n),
                VoterChange::Leave(_) => None,
            });
        self.voters.iter().copied().chain(joining).collect()
    }

    /// Reported voters, not lost, whose place is settled.
    fn live(&self) -> BTreeSet<NodeId> {
        let unsettled = self.unsettled();
        self.voters
            .iter()
            .copied()
            .filter(|n| !self.lost.contains(n) && !unsettled.contains(n))
            .collect()
    }

    fn forget_request(&mut self, change: VoterChange) {
        if let Some(count) = self.asked.get_mut(&change) {
            *count -= 1;
            if *count == 0 {
                self.asked.remove(&change);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{DiskFault, Fault, StoredFile, Target};
    use crate::limits::check;
    use crate::members::Members;
    use crate::schedule::{Action, Item, Schedule};
    use VoterChange::{Join, Leave};

    fn flip(node: NodeId) -> Fault {
        Fault::Disk {
            target: Target::node(node),
            disk: DiskFault::BitFlip {
                file: StoredFile::Stable,
                flips: 1,
            },
        }
    }

    /// Seed 26 of `--nemesis all,failpoint --swarm` on five nodes: node 4's
    /// removal was healed by the schedule at 9.3 s but stayed pending (node
    /// 4 held it in its log, uncommitted) until the operator's deadline at
    /// 19.1 s; meanwhile flips fail-stopped nodes 2 and 1. Node 4 did not
    /// campaign (its log's configuration left it out) and refused its vote
    /// to nodes 3 and 5, whose logs were shorter: stuck for good.
    #[test]
    fn a_removal_unsettled_past_its_heal_keeps_the_limit() {
        let remove = Fault::RemoveNode {
            node: 4,
            wipe: false,
            rejoin_as: 4,
        };
        let at = |at_ms, action| Item { at_ms, action };
        let s = Schedule {
            nodes: vec![1, 2, 3, 4, 5],
            end_ms: 100,
            items: vec![
                at(
                    1,
                    Action::Inject {
                        id: 0,
                        fault: flip(2),
                    },
                ),
                at(
                    2,
                    Action::Inject {
                        id: 1,
                        fault: remove.clone(),
                    },
                ),
                at(3, Action::Heal { id: 1 }),
                at(
                    4,
                    Action::Inject {
                        id: 2,
                        fault: flip(1),
                    },
                ),
            ],
        };
        s.validate().unwrap();
        // The schedule's own view: within its limits, node 4 back at 3 ms.
        assert_eq!(check(&s), vec![]);
        let mut members = Members::new(s.nodes.iter().copied());
        members.inject(1, &remove);
        members.heal(1);
        assert!(members.now().contains(&4));

        // As applied: the removal asked at 2 ms and its rejoin at 3 ms, and
        // no word from the operator by 4 ms.
        let mut v = LiveMajority::new([1, 2, 3, 4, 5]);
        assert_eq!(v.may_lose(2), Ok(()));
        v.lose(2);
        v.asked(Leave(4));
        v.asked(Join(4));
        let short = v.may_lose(1).unwrap_err();
        assert_eq!(short.live, BTreeSet::from([3, 5]));
        assert_eq!(short.possible, BTreeSet::from([1, 2, 3, 4, 5]));
        assert!(short.to_string().contains("short of a majority"), "{short}");
        // The operator gives up on the removal: a leader accepted it, so it
        // may still commit.
        v.failed(Leave(4));
        assert!(v.may_lose(1).is_err());
        // The rejoin is reported in force: node 4 is a voter again.
        v.done(Join(4));
        assert_eq!(v.unsettled(), BTreeSet::new());
        assert_eq!(v.may_lose(1), Ok(()));
        v.lose(1);
        // Nodes lost already may be hit again; a third may not.
        assert_eq!(v.may_lose(2), Ok(()));
        assert!(v.may_lose(3).is_err());
    }

    /// A voter being added may commit any time and need not have caught
    /// up: it enlarges the majority needed without adding a live vote.
    #[test]
    fn a_pending_addition_raises_the_majority() {
        let mut v = LiveMajority::new([1, 2, 3]);
        assert_eq!(v.may_lose(1), Ok(()));
        v.asked(Join(4));
        let short = v.may_lose(1).unwrap_err();
        assert_eq!(short.possible, BTreeSet::from([1, 2, 3, 4]));
        v.done(Join(4));
        assert_eq!(v.may_lose(1), Ok(()));
    }

    /// A removal in force shrinks the voters; one given up on leaves its
    /// node unsettled until a later change about it is in force.
    #[test]
    fn removals_settle_only_when_reported_in_force() {
        let mut v = LiveMajority::new([1, 2, 3, 4, 5]);
        v.asked(Leave(5));
        v.done(Leave(5));
        // Voters {1, 2, 3, 4}: three of them must stay live.
        assert_eq!(v.may_lose(1), Ok(()));
        v.lose(1);
        assert!(v.may_lose(2).is_err());

        let mut v = LiveMajority::new([1, 2, 3, 4, 5]);
        v.asked(Leave(5));
        v.failed(Leave(5));
        v.lose(1);
        assert!(v.may_lose(2).is_err(), "node 5 may be on its way out");
        v.asked(Leave(5));
        v.done(Leave(5));
        assert!(v.may_lose(2).is_err(), "voters {{1, 2, 3, 4}} with 1 lost");
        v.asked(Join(5));
        v.done(Join(5));
        assert_eq!(v.may_lose(2), Ok(()));
    }

    /// Two requests for the same change (two faults asking) each need
    /// their own report.
    #[test]
    fn each_request_is_reported_on_its_own() {
        let mut v = LiveMajority::new([1, 2, 3]);
        v.asked(Join(4));
        v.asked(Join(4));
        v.done(Join(4));
        assert_eq!(v.unsettled(), BTreeSet::from([4]));
        v.done(Join(4));
        assert_eq!(v.unsettled(), BTreeSet::new());
        // A report of a change never asked for is still news of the voters.
        v.done(Leave(4));
        assert_eq!(v.may_lose(1), Ok(()));
    }
}
