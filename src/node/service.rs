//! What the replica loop serves: a replicated [`StateMachine`] and the
//! requests an application front end (the KV server) hands it.
//!
//! The node knows nothing of keys or values: commands are opaque bytes in
//! the log, queries and outputs are the state machine's own types.

use tokio::sync::oneshot;

use crate::raft::{ConfChange, NodeId};

/// A deterministic state machine replicated through the log.
pub trait StateMachine: Send + 'static {
    type Query: Send + 'static;
    type Output: Clone + Send + 'static;

    /// Apply one committed command. Must depend on nothing but the bytes
    /// and the current state, and must not panic on garbage.
    fn apply(&mut self, command: &[u8]) -> Self::Output;
    /// Answer a read from the current state.
    fn query(&self, query: &Self::Query) -> Self::Output;
    /// The whole state as bytes.
    fn snapshot(&self) -> Vec<u8>;
    /// Replace the state with a snapshot's.
    fn restore(&mut self, data: &[u8]) -> Result<(), String>;
}

/// How the node answered a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<O> {
    /// Applied (a command, at the log position it was proposed at) or read
    /// at a confirmed read index.
    Done(O),
    /// Refused before anything was proposed: certainly not applied.
    NotLeader { leader: Option<NodeId> },
    /// The entry proposed for it was overwritten by another leader's: it
    /// was never committed and never will be.
    Dropped,
    /// Leadership was lost after proposing: it may still commit.
    Unknown,
    /// Refused before anything was proposed for a reason other than
    /// leadership (a transfer or membership change in progress).
    Refused(String),
    /// The leader appended it locally but has not seen it commit (only
    /// sent with the planted bug AckBeforeCommit).
    Accepted,
}

/// A request to the replica loop.
pub enum Request<S: StateMachine> {
    /// Replicate and apply a command.
    Propose {
        command: Vec<u8>,
        reply: oneshot::Sender<Reply<S::Output>>,
    },
    /// A linearizable read (ReadIndex).
    Read {
        query: S::Query,
        reply: oneshot::Sender<Reply<S::Output>>,
    },
    /// Answer from this node's state as it is, without confirming
    /// leadership: may be stale. For an operator's explicit local read.
    LocalRead {
        query: S::Query,
        reply: oneshot::Sender<Reply<S::Output>>,
    },
    /// An operator's membership change or leadership transfer, answered
    /// once the leader has accepted it (not once it has taken effect).
    Admin {
        admin: Admin,
        reply: oneshot::Sender<Reply<()>>,
    },
}

/// What an operator may ask of the leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admin {
    ChangeMembership(ConfChange),
    TransferLeadership(NodeId),
}
