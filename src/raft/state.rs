//! The `Raft` state machine: its fields, construction from recovered
//! state, the public entry points and the `Ready` hand-off. The protocol
//! itself lives in the sibling modules, one idea each.

use super::config::Config;
use super::invariants::NodeView;
use super::log::RaftLog;
use super::message::{Message, ProposeError, Ready};
use super::progress::Progress;
use super::read::ReadQueue;
use super::rng::SplitMix64;
use super::snapshot::SnapshotState;
use super::types::{Configuration, HardState, Index, NodeId, Role, Snapshot, SnapshotMeta, Term};
use super::Millis;
use std::collections::BTreeMap;

/// What the node recovered from disk, or the initial state of a fresh node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The last term and vote made durable.
    pub hard_state: HardState,
    /// The snapshot storage holds, if any.
    pub snapshot: Option<SnapshotMeta>,
    /// The log after the snapshot, in order, without gaps. Entries at or
    /// before the snapshot index are tolerated and dropped.
    pub entries: Vec<super::types::Entry>,
    /// The configuration to start from when neither the snapshot nor the
    /// log holds one: the bootstrap configuration of a fresh cluster, or
    /// an empty one for a server that waits to be added.
    pub config: Configuration,
}

/// What only a leader keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LeaderState {
    pub progress: BTreeMap<NodeId, Progress>,
    pub heartbeat_due: Millis,
    pub check_quorum_due: Millis,
    /// When a commit index not yet sent to idle followers must go out.
    pub commit_notify_due: Option<Millis>,
    /// A leadership transfer in progress: target and deadline.
    pub transfer: Option<(NodeId, Millis)>,
    /// New entries are waiting to be broadcast with the next `Ready`, so
    /// proposals made together travel together (group commit).
    pub broadcast_pending: bool,
}

/// One Raft server as a deterministic state machine. See the module docs
/// of [`crate::raft`] for the contract with the node shell.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Raft {
    pub(crate) config: Config,
    // Persistent state (Raft Figure 2), mirrored to storage through Ready.
    pub(crate) term: Term,
    pub(crate) vote: Option<NodeId>,
    pub(crate) log: RaftLog,
    /// The last hard state handed to storage.
    pub(crate) emitted_hard_state: HardState,
    // Volatile state.
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    /// The latest configuration in the log (it takes effect when appended)
    /// and the index of the entry that set it (0 for the bootstrap one).
    pub(crate) membership: Configuration,
    pub(crate) membership_index: Index,
    /// The configuration a fresh node started with, used when neither the
    /// log nor a snapshot holds one.
    pub(crate) bootstrap: Configuration,
    pub(crate) rng: SplitMix64,
    /// The node's clock as last seen; it never goes back.
    pub(crate) now: Millis,
    pub(crate) election_due: Millis,
    /// When this node last heard from a live leader. Until an election
    /// timeout has passed since then it ignores vote requests (stickiness).
    pub(crate) leader_contact: Option<Millis>,
    pub(crate) votes: BTreeMap<NodeId, bool>,
    pub(crate) leader_state: Option<LeaderState>,
    pub(crate) reads: ReadQueue,
    pub(crate) snapshot: SnapshotState,
    pub(crate) messages: Vec<(NodeId, Message)>,
    /// The clock has not been read yet (set by `new`, cleared on the first
    /// input); a restarted node then behaves as if it had just heard from a
    /// leader, so a lease it granted before the crash stays honoured.
    pub(crate) fresh: bool,
}

impl Raft {
    /// Build a node from what it recovered. Fails with a description when
    /// the configuration is invalid or the recovered state is inconsistent.
    pub fn new(config: Config, recovered: Recovered) -> Result<Raft, String> {
        config.validate()?;
        let Recovered {
            hard_state,
            snapshot,
            entries,
            config: bootstrap,
        } = recovered;
        let (offset, offset_term) = snapshot.as_ref().map_or((0, 0), |m| (m.index, m.term));
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries {
            if e.index < offset {
                continue;
            }
            if e.index == offset {
                if e.term != offset_term {
                    return Err(format!(
                        "log entry {} has term {} but the snapshot there has term {}",
                        e.index, e.term, offset_term
                    ));
                }
                continue;
            }
            let expected = offset + kept.len() as Index + 1;
            if e.index != expected {
                return Err(format!(
                    "log gap: expected entry {expected}, found {}",
                    e.index
                ));
            }
            if let Some(prev) = kept.last().map(|p: &super::types::Entry| p.term) {
                if e.term < prev {
                    return Err(format!(
                        "log entry {} has a term below its predecessor's",
                        e.index
                    ));
                }
            } else if e.term < offset_term {
                return Err(format!(
                    "log entry {} has a term below the snapshot's",
                    e.index
                ));
            }
            kept.push(e);
        }
        let log = RaftLog::recovered(offset, offset_term, kept);
        if log.last_term() > hard_state.term {
            return Err(format!(
                "the log holds term {} but the stored term is {}: the term record was lost",
                log.last_term(),
                hard_state.term
            ));
        }
        let id = config.id;
        let mut raft = Raft {
            term: hard_state.term,
            vote: hard_state.vote,
            log,
            emitted_hard_state: hard_state,
            role: Role::Follower,
            leader: None,
            membership: Configuration::default(),
            membership_index: 0,
            bootstrap,
            rng: SplitMix64::for_node(config.seed, id),
            now: 0,
            election_due: 0,
            leader_contact: None,
            votes: BTreeMap::new(),
            leader_state: None,
            reads: ReadQueue::default(),
            snapshot: SnapshotState::recovered(snapshot),
            messages: Vec::new(),
            fresh: true,
            config,
        };
        raft.reload_membership();
        raft.reset_election_timer();
        Ok(raft)
    }

    /// Time has passed on the node's clock: elections, heartbeats,
    /// check-quorum, retries.
    pub fn tick(&mut self, now: Millis) {
        self.advance_clock(now);
        if self.role == super::types::Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    /// A message arrived from `from`.
    pub fn step(&mut self, from: NodeId, msg: Message, now: Millis) {
        self.advance_clock(now);
        self.step_message(from, msg);
    }

    /// Propose a command. Leader only; the entry travels with the next
    /// `Ready`, together with any others proposed before it (group commit).
    pub fn propose(&mut self, data: Vec<u8>, now: Millis) -> Result<(Term, Index), ProposeError> {
        self.advance_clock(now);
        self.check_can_propose()?;
        Ok(self.append_new(super::types::EntryPayload::Command(data)))
    }

    /// Does the node shell have something to do (take a `Ready`)?
    pub fn has_ready(&self) -> bool {
        self.term != self.emitted_hard_state.term
            || self.vote != self.emitted_hard_state.vote
            || self.log.has_unstable()
            || self.snapshot.has_ready()
            || !self.messages.is_empty()
            || (self.snapshot.installing().is_none() && self.log.has_next_committed())
            || self.reads.has_ready(self.log.apply_emitted())
            || self
                .leader_state
                .as_ref()
                .is_some_and(|l| l.broadcast_pending)
    }

    /// Take the accumulated outputs.
    pub fn ready(&mut self) -> Ready {
        self.flush_broadcast();
        let hs = HardState {
            term: self.term,
            vote: self.vote,
        };
        let hard_state = (hs != self.emitted_hard_state).then_some(hs);
        self.emitted_hard_state = hs;
        let (truncate_from, entries) = self.log.take_unstable();
        let snapshot = self.snapshot.take_to_install();
        let committed = if self.snapshot.installing().is_none() {
            self.log.take_next_committed()
        } else {
            Vec::new()
        };
        let (reads, failed_reads) = self.reads.take_ready(self.log.apply_emitted());
        let (compact_to, want_snapshot) = self.snapshot.take_requests();
        Ready {
            hard_state,
            truncate_from,
            entries,
            snapshot,
            messages: std::mem::take(&mut self.messages),
            committed,
            reads,
            failed_reads,
            compact_to,
            want_snapshot,
        }
    }

    /// Storage made the log durable up to `index`, whose entry has `term`.
    pub fn persisted(&mut self, index: Index, term: Term) {
        if self.log.stable_to(index, term) && self.role == Role::Leader {
            self.maybe_commit();
        }
    }

    /// The state machine applied everything up to `index`.
    pub fn applied(&mut self, index: Index) {
        if self.log.applied_to(index) {
            self.maybe_request_snapshot();
        }
    }

    // Observers.

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Its current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// Whom it voted for in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }

    /// The leader of the current term, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// The commit index.
    pub fn commit_index(&self) -> Index {
        self.log.commit()
    }

    /// The index the state machine acknowledged applying.
    pub fn applied_index(&self) -> Index {
        self.log.applied()
    }

    /// The last log index.
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// The term of the last log entry.
    pub fn last_term(&self) -> Term {
        self.log.last_term()
    }

    /// The latest configuration in the log (in force from its append).
    pub fn config(&self) -> &Configuration {
        &self.membership
    }

    /// When this node will start an election if nothing happens (tests
    /// use it to fire a timeout without guessing the random draw).
    pub fn election_deadline(&self) -> Millis {
        self.election_due
    }

    /// The node's configuration.
    pub fn raft_config(&self) -> &Config {
        &self.config
    }

    /// The snapshot this node holds (taken or installed), if any.
    pub fn snapshot_meta(&self) -> Option<&SnapshotMeta> {
        self.snapshot.meta()
    }

    /// The entry at `index`, if it is in the in-memory log.
    pub fn entry(&self, index: Index) -> Option<&super::types::Entry> {
        self.log.entry(index)
    }

    /// The state the invariant checks look at.
    pub fn view(&self) -> NodeView {
        NodeView {
            id: self.config.id,
            role: self.role,
            term: self.term,
            vote: self.vote,
            commit: self.log.commit(),
            applied: self.log.applied(),
            last_index: self.log.last_index(),
            snapshot_index: self.snapshot.durable_index(),
            log: self
                .log
                .entries()
                .iter()
                .map(|e| (e.index, e.term))
                .collect(),
            leader: self.leader,
        }
    }

    // Shared helpers.

    pub(crate) fn advance_clock(&mut self, now: Millis) {
        if self.fresh {
            self.fresh = false;
            if self.config.uses_lease() {
                self.leader_contact = Some(now);
            }
            // `new` drew the first election timeout relative to time 0.
            self.election_due = now.saturating_add(self.election_due);
        }
        self.now = self.now.max(now);
    }

    pub(crate) fn send(&mut self, to: NodeId, msg: Message) {
        self.messages.push((to, msg));
    }

    pub(crate) fn is_voter(&self) -> bool {
        self.membership.voters.contains(&self.config.id)
    }

    /// Snapshot data this node holds, for tests.
    pub fn snapshot_data(&self) -> Option<&Snapshot> {
        self.snapshot.data()
    }
}
