//! The vocabulary of the Raft core: identifiers, log entries, hard state,
//! configurations and snapshots. Plain data, shared by the core, the node
//! shell that persists it, and the wire that carries it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A server's identity. Stable for the life of its data directory; a wiped
/// server rejoins under a fresh id.
pub type NodeId = u64;
/// A Raft term.
pub type Term = u64;
/// A log index; 0 means "before the first entry".
pub type Index = u64;

/// The state that must be durable before the node answers anyone:
/// Raft's `currentTerm` and `votedFor`, always written together as one record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    /// The current term.
    pub term: Term,
    /// Whom this node voted for in that term.
    pub vote: Option<NodeId>,
}

/// The servers of the cluster: voters count towards quorums, learners
/// (non-voters) only receive the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Configuration {
    /// Servers that vote and count towards quorums.
    pub voters: BTreeSet<NodeId>,
    /// Servers that only receive the log.
    pub learners: BTreeSet<NodeId>,
}

impl Configuration {
    /// A configuration of the given voters and no learners.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Configuration {
            voters: voters.into_iter().collect(),
            learners: BTreeSet::new(),
        }
    }

    /// Every member, voter or learner, in id order.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.union(&self.learners).copied()
    }

    /// Is `id` a voter or a learner?
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }
}

/// A single-server membership change, proposed through the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfChange {
    /// Add a server as a voter (or make a learner one).
    AddVoter(NodeId),
    /// Add a server as a learner (non-voter).
    AddLearner(NodeId),
    /// Turn a caught-up learner into a voter.
    Promote(NodeId),
    /// Remove a voter or a learner.
    Remove(NodeId),
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryPayload {
    /// Appended by every new leader so it can commit an entry of its own term.
    Noop,
    /// An opaque state-machine command.
    Command(Vec<u8>),
    /// The full configuration that takes effect once this entry is appended.
    Config(Configuration),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
/// One log entry.
pub struct Entry {
    /// The term of the leader that created it.
    pub term: Term,
    /// Its position in the log, from 1.
    pub index: Index,
    /// What it carries.
    pub payload: EntryPayload,
}

/// Where a snapshot sits in the log and which configuration it carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The index of the last entry the snapshot covers.
    pub index: Index,
    /// The term of that entry.
    pub term: Term,
    /// The configuration in force at that index.
    pub config: Configuration,
}

/// A state-machine snapshot: the state after applying every entry up to
/// `meta.index`. `data` is opaque to Raft.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// Where it sits in the log.
    pub meta: SnapshotMeta,
    /// The state machine's serialised state.
    pub data: Vec<u8>,
}

/// A server's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Follows a leader, or waits for one.
    Follower,
    /// Runs a pre-vote round.
    PreCandidate,
    /// Runs an election for its term.
    Candidate,
    /// Leads its term.
    Leader,
}
