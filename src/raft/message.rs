//! What the core exchanges with the world: the wire messages between
//! nodes, the `Ready` batch of outputs for the node shell, and the errors
//! its entry points return.

use super::types::{Entry, HardState, Index, NodeId, Snapshot, SnapshotMeta, Term};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A message between two Raft nodes. Every message carries the sender's
/// term; the receiver's term rules (Raft §5.1) are applied in one place,
/// before any message-specific handling.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    /// A vote request. A pre-vote (`pre_vote`) asks "would you vote for me
    /// in `term`?" without anyone changing term or vote; `transfer` marks a
    /// campaign started by TimeoutNow, which overrides leader stickiness.
    RequestVote {
        /// The term the candidate asks for (the next one for a pre-vote).
        term: Term,
        /// A pre-vote: nobody's term or vote changes.
        pre_vote: bool,
        /// Index of the candidate's last log entry.
        last_log_index: Index,
        /// Term of the candidate's last log entry.
        last_log_term: Term,
        /// Sent on TimeoutNow: overrides leader stickiness.
        transfer: bool,
    },
    /// The answer to a RequestVote.
    VoteResponse {
        /// The voter's term, or the asked-for term of a granted pre-vote.
        term: Term,
        /// Answers a pre-vote.
        pre_vote: bool,
        /// Whether the vote is granted.
        granted: bool,
    },
    /// Log replication and heartbeat (a heartbeat has no entries).
    /// `read_ctx` numbers the leader's confirmation rounds; the follower
    /// echoes it so a ReadIndex knows which round a quorum answered.
    AppendEntries {
        /// The leader's term.
        term: Term,
        /// Index of the entry just before `entries`.
        prev_log_index: Index,
        /// Term of that entry, for the consistency check.
        prev_log_term: Term,
        /// Entries to append, in order (none for a heartbeat).
        entries: Vec<Entry>,
        /// The leader's commit index.
        leader_commit: Index,
        /// The leader's latest read-confirmation round.
        read_ctx: u64,
    },
    /// On success `index` is the last index this message verified; on
    /// rejection it is the rejected `prev_log_index`, and
    /// (`hint_index`, `hint_term`) is the follower's last entry at or
    /// before it whose term is at most `prev_log_term`, so the leader can
    /// skip a whole conflicting term per round trip.
    AppendResponse {
        /// The follower's term.
        term: Term,
        /// Whether the consistency check passed.
        success: bool,
        /// On success the last index this message verified; on rejection the
        /// rejected `prev_log_index`.
        index: Index,
        /// On rejection, the follower's last index at or before `index` whose
        /// term is at most `prev_log_term`.
        hint_index: Index,
        /// The term of the entry at `hint_index`.
        hint_term: Term,
        /// The read round echoed back.
        read_ctx: u64,
    },
    /// One chunk of a snapshot, starting at byte `offset`; `done` marks the
    /// last chunk.
    InstallSnapshot {
        /// The leader's term.
        term: Term,
        /// Where the snapshot sits in the log.
        meta: SnapshotMeta,
        /// Byte offset of this chunk in the snapshot.
        offset: u64,
        /// The chunk's bytes.
        data: Vec<u8>,
        /// This is the last chunk.
        done: bool,
        /// The leader's latest read-confirmation round.
        read_ctx: u64,
    },
    /// `next_offset` is the byte the follower expects next. When `done`,
    /// `index` is the follower's verified match index (the snapshot's, or
    /// its commit index if it already had everything the snapshot holds).
    SnapshotResponse {
        /// The follower's term.
        term: Term,
        /// Index of the snapshot being received.
        snapshot_index: Index,
        /// The next byte the follower expects.
        next_offset: u64,
        /// The whole snapshot arrived.
        done: bool,
        /// When `done`, the follower's verified match index.
        index: Index,
        /// The read round echoed back.
        read_ctx: u64,
    },
    /// Leadership transfer: start an election now, ignoring stickiness.
    TimeoutNow {
        /// The leader's term.
        term: Term,
    },
}

impl Message {
    /// The sender's term.
    pub fn term(&self) -> Term {
        match self {
            Message::RequestVote { term, .. }
            | Message::VoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendResponse { term, .. }
            | Message::InstallSnapshot { term, .. }
            | Message::SnapshotResponse { term, .. }
            | Message::TimeoutNow { term } => *term,
        }
    }

    /// Messages only a leader sends.
    pub fn is_from_leader(&self) -> bool {
        matches!(
            self,
            Message::AppendEntries { .. }
                | Message::InstallSnapshot { .. }
                | Message::TimeoutNow { .. }
        )
    }
}

/// A confirmed read: it may be served once the state machine has applied
/// `index` (the core only releases it once that is so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReadState {
    /// The caller's read id.
    pub id: u64,
    /// The read index: serve the read from the state at this index.
    pub index: Index,
}

/// Why a read cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReadError {
    /// This node is not the leader.
    NotLeader {
        /// The leader this node knows of, if any.
        leader: Option<NodeId>,
    },
    /// Leadership was lost before the read was confirmed.
    LeadershipLost,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotLeader { leader: Some(l) } => write!(f, "not the leader; try {l}"),
            ReadError::NotLeader { leader: None } => write!(f, "not the leader; none known"),
            ReadError::LeadershipLost => write!(f, "leadership lost before the read was confirmed"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Why a proposal, read or transfer was refused. A refused request did not
/// enter the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProposeError {
    /// This node is not the leader.
    NotLeader {
        /// The leader this node knows of, if any.
        leader: Option<NodeId>,
    },
    /// A membership change is still uncommitted, or this leader has not yet
    /// committed an entry of its own term.
    ConfChangeInProgress,
    /// A leadership transfer is under way.
    TransferInProgress,
    /// The request cannot be honoured; the text says why.
    Invalid(String),
}

impl fmt::Display for ProposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposeError::NotLeader { leader: Some(l) } => write!(f, "not the leader; try {l}"),
            ProposeError::NotLeader { leader: None } => write!(f, "not the leader; none known"),
            ProposeError::ConfChangeInProgress => {
                write!(f, "a membership change is in progress")
            }
            ProposeError::TransferInProgress => write!(f, "a leadership transfer is in progress"),
            ProposeError::Invalid(why) => write!(f, "invalid request: {why}"),
        }
    }
}

impl std::error::Error for ProposeError {}

/// The outputs the core has accumulated, taken with [`Raft::ready`]. The
/// node shell handles them in field order: make `hard_state`, the
/// truncation, `entries` and `snapshot` durable (one fsync), acknowledge
/// with `persisted` / `snapshot_installed`, then send `messages`, apply
/// `committed`, release `reads`, and compact storage to `compact_to`.
///
/// [`Raft::ready`]: super::Raft::ready
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Persist (fsync) before sending `messages`.
    pub hard_state: Option<HardState>,
    /// Delete log entries at or after this index before appending `entries`.
    pub truncate_from: Option<Index>,
    /// Append and fsync, then call `persisted(last index, its term)`.
    pub entries: Vec<Entry>,
    /// A snapshot received from the leader: store it durably and restore the
    /// state machine from it, then call `snapshot_installed`.
    pub snapshot: Option<Snapshot>,
    /// Send only after everything above is durable.
    pub messages: Vec<(NodeId, Message)>,
    /// Apply in order (they include Noop and Config entries).
    pub committed: Vec<Entry>,
    /// Confirmed reads whose index the entries in `committed` (or earlier
    /// ones) reach.
    pub reads: Vec<ReadState>,
    /// Reads that will never be confirmed (leadership was lost).
    pub failed_reads: Vec<u64>,
    /// Storage may drop log entries at or before this index.
    pub compact_to: Option<Index>,
    /// The state machine should snapshot at its applied index and call
    /// `snapshot_taken`.
    pub want_snapshot: bool,
}

impl Ready {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.truncate_from.is_none()
            && self.entries.is_empty()
            && self.snapshot.is_none()
            && self.messages.is_empty()
            && self.committed.is_empty()
            && self.reads.is_empty()
            && self.failed_reads.is_empty()
            && self.compact_to.is_none()
            && !self.want_snapshot
    }
}
