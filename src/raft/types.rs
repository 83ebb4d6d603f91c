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
    pub term: Term,
    pub vote: Option<NodeId>,
}

/// The servers of the cluster: voters count towards quorums, learners
/// (non-voters) only receive the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Configuration {
    pub voters: BTreeSet<NodeId>,
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

    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }
}

/// A single-server membership change, proposed through the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConfChange {
    AddVoter(NodeId),
    AddLearner(NodeId),
    /// Turn a caught-up learner into a voter.
    Promote(NodeId),
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
pub struct Entry {
    pub term: Term,
    pub index: Index,
    pub payload: EntryPayload,
}

/// Where a snapshot sits in the log and which configuration it carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub index: Index,
    pub term: Term,
    pub config: Configuration,
}

/// A state-machine snapshot: the state after applying every entry up to
/// `meta.index`. `data` is opaque to Raft.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

/// A server's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}
