//! The replica loop: drives the Raft core with time, peers' messages and
//! client requests, and carries out what each `Ready` asks, in the order
//! the core's contract requires:
//!
//! 1. make the hard state, the received snapshot, the truncation and the
//!    new entries durable with one fsync for the whole batch (group commit),
//!    then tell the core (`persisted`, `snapshot_installed`);
//! 2. only then send messages, so no vote or acknowledgement ever goes out
//!    for state a crash could lose;
//! 3. apply committed entries to the state machine and answer the client
//!    whose proposal each one is;
//! 4. answer reads whose read index is applied;
//! 5. snapshot and compact when the core asks.
//!
//! The store's calls block on the disk and, under turmoil, must run on the
//! host's own task, so they are made inline here. Any storage error stops
//! the node (fail-stop): it never acknowledges what it could not store.
//!
//! A disk that stalls (see [`FileSystem::io_wait`]) holds back I/O only:
//! `Ready`s with durable work, and every `Ready` after one, wait in order
//! for the disk, while ticks and messages go on being handled. Of what the
//! held `Ready`s would send, only what acknowledges nothing and carries
//! nothing undurable goes ahead (see [`overtaking`]); the rest goes after
//! the I/O, in order, as if the loop had blocked in it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use faultline_nemesis::Failpoint;
use tokio::sync::{mpsc, oneshot};

use super::clock::Clock;
use super::control::{Controls, DurableView, NodeStatus};
use super::service::{Admin, Reply, Request, StateMachine};
use super::storage::{DurableStore, FileSystem, IoWait, StorageError};
use super::transport::Transport;
use super::NodeError;
use crate::bugs::{Bug, Bugs};
use crate::raft::{
    Configuration, EntryPayload, HardState, Index, Message, NodeId, ProposeError, Raft, Ready,
    Role, Snapshot, SnapshotMeta, Term,
};

/// Most inputs taken from one queue before the batch is handed to the core,
/// so one `Ready` (and one fsync) covers many of them.
const MAX_BATCH: usize = 256;
/// Most proposals awaiting their outcome; more are refused.
const MAX_PENDING_WRITES: usize = 16 * 1024;
/// Most reads awaiting their read index; more are refused.
const MAX_PENDING_READS: usize = 16 * 1024;
/// Most `Ready`s held for a stalled disk; past it the loop stops taking
/// input until the disk answers (as a loop blocked in the I/O would).
const MAX_HELD: usize = 1024;

struct PendingWrite<O> {
    term: Term,
    reply: oneshot::Sender<Reply<O>>,
}

struct PendingRead<S: StateMachine> {
    query: S::Query,
    reply: oneshot::Sender<Reply<S::Output>>,
    /// Set once the core confirms the read at this index.
    index: Option<Index>,
}

/// Durable work a planted bug postponed past the point where it must be
/// done, to be done after the loop's next wait (when a crash can strike).
#[derive(Default)]
struct Deferred {
    hard_state: Option<HardState>,
    sync_log: bool,
}

/// What woke the loop.
enum Wake<S: StateMachine> {
    Paused,
    /// The stalled disk answers again.
    DiskReady,
    Message(NodeId, Message),
    Request(Request<S>),
    Tick,
}

pub(crate) struct Replica<F: FileSystem, S: StateMachine> {
    pub(crate) id: NodeId,
    pub(crate) bugs: Bugs,
    pub(crate) tick_ms: u64,
    pub(crate) raft: Raft,
    pub(crate) store: DurableStore<F>,
    pub(crate) sm: Arc<Mutex<S>>,
    pub(crate) transport: Transport<Message>,
    pub(crate) clock: Clock,
    pub(crate) controls: Controls,
    /// The last entry applied to the state machine.
    pub(crate) applied: Index,
    /// The configuration as of `applied`, for snapshots taken there.
    pub(crate) applied_config: Configuration,
    pending: BTreeMap<Index, PendingWrite<S::Output>>,
    reads: BTreeMap<u64, PendingRead<S>>,
    next_read: u64,
    deferred: Deferred,
    /// `Ready`s waiting for a stalled disk, oldest first.
    held: VecDeque<Ready>,
    /// The armed failpoint the loop stopped at: it does nothing more and
    /// waits for the harness to crash the node.
    halted: Option<Failpoint>,
}

impl<F: FileSystem, S: StateMachine> Replica<F, S> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: NodeId,
        bugs: Bugs,
        tick_ms: u64,
        raft: Raft,
        store: DurableStore<F>,
        sm: Arc<Mutex<S>>,
        transport: Transport<Message>,
        clock: Clock,
        controls: Controls,
        applied: Index,
        applied_config: Configuration,
    ) -> Self {
        Replica {
            id,
            bugs,
            tick_ms,
            raft,
            store,
            sm,
            transport,
            clock,
            controls,
            applied,
            applied_config,
            pending: BTreeMap::new(),
            reads: BTreeMap::new(),
            next_read: 0,
            deferred: Deferred::default(),
            held: VecDeque::new(),
            halted: None,
        }
    }

    fn sm(&self) -> MutexGuard<'_, S> {
        // The lock is only shared with the status probe, which never
        // panics while holding it.
        self.sm.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run until a storage failure stops the node.
    pub(crate) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<(NodeId, Message)>,
        mut requests: mpsc::Receiver<Request<S>>,
    ) -> Result<(), NodeError> {
        let mut paused = self.controls.subscribe_paused();
        let clock = self.clock.clone();
        let mut next_tick = clock.now_ms() + self.tick_ms;
        self.drive()?;
        self.halt_at_failpoint().await;
        self.publish(false);
        loop {
            if *paused.borrow_and_update() {
                self.publish(true);
                while *paused.borrow_and_update() {
                    if paused.changed().await.is_err() {
                        break;
                    }
                }
                tracing::info!("resumed");
            }
            if self.held.len() >= MAX_HELD {
                tracing::warn!(held = self.held.len(), "the disk stalls; input waits too");
                if let Some(wait) = self.store.io_wait() {
                    wait.await;
                }
            }
            // With I/O held back: wake when the disk answers (at once if it
            // already does).
            let disk: Option<Option<IoWait>> =
                (!self.held.is_empty()).then(|| self.store.io_wait());
            let waiting = disk.is_some();
            let wake = tokio::select! {
                biased;
                _ = paused.changed() => Wake::Paused,
                _ = disk_answers(disk), if waiting => Wake::DiskReady,
                Some((from, msg)) = inbound.recv() => Wake::Message(from, msg),
                Some(req) = requests.recv() => Wake::Request(req),
                _ = clock.sleep_until_local(next_tick) => Wake::Tick,
            };
            self.finish_deferred()?;
            match wake {
                Wake::Paused => continue,
                Wake::DiskReady => {}
                Wake::Message(from, msg) => self.step(from, msg),
                Wake::Request(req) => self.handle_request(req),
                Wake::Tick => {}
            }
            for _ in 0..MAX_BATCH {
                let Ok((from, msg)) = inbound.try_recv() else {
                    break;
                };
                self.step(from, msg);
            }
            for _ in 0..MAX_BATCH {
                let Ok(req) = requests.try_recv() else {
                    break;
                };
                self.handle_request(req);
            }
            let now = clock.now_ms();
            if now >= next_tick {
                self.raft.tick(now);
                next_tick = now + self.tick_ms;
            }
            self.drive()?;
            self.halt_at_failpoint().await;
            self.publish(false);
        }
    }

    /// Whether the loop reached an armed failpoint at `point` (and must
    /// stop doing anything).
    fn at(&mut self, point: Failpoint) -> bool {
        if self.halted.is_none() && self.controls.reach(point) {
            tracing::warn!(%point, "reached an armed failpoint: halting until crashed");
            self.halted = Some(point);
        }
        self.halted.is_some()
    }

    /// After a failpoint fired: wait for the crash, doing nothing (not
    /// even publishing the state the interrupted `Ready` led to).
    async fn halt_at_failpoint(&self) {
        if self.halted.is_some() {
            std::future::pending::<()>().await;
        }
    }

    fn step(&mut self, from: NodeId, msg: Message) {
        let now = self.clock.now_ms();
        self.raft.step(from, msg, now);
    }

    fn handle_request(&mut self, req: Request<S>) {
        let now = self.clock.now_ms();
        match req {
            Request::Propose { command, reply } => {
                if self.pending.len() >= MAX_PENDING_WRITES {
                    let _ = reply.send(Reply::Refused("too many proposals in flight".into()));
                    return;
                }
                match self.raft.propose(command, now) {
                    Ok((term, index)) => {
                        let new = PendingWrite { term, reply };
                        if let Some(old) = self.pending.insert(index, new) {
                            // A newer leader's entry took that slot: the old
                            // proposal was truncated away.
                            let _ = old.reply.send(Reply::Dropped);
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(refusal(e));
                    }
                }
            }
            Request::Read { query, reply } => {
                if self.reads.len() >= MAX_PENDING_READS {
                    let _ = reply.send(Reply::Refused("too many reads in flight".into()));
                    return;
                }
                let id = self.next_read;
                self.next_read += 1;
                match self.raft.read_index(id, now) {
                    Ok(()) => {
                        let read = PendingRead {
                            query,
                            reply,
                            index: None,
                        };
                        self.reads.insert(id, read);
                    }
                    Err(e) => {
                        let _ = reply.send(refusal(e));
                    }
                }
            }
            Request::LocalRead { query, reply } => {
                let _ = reply.send(Reply::Done(self.sm().query(&query)));
            }
            Request::Admin { admin, reply } => {
                let accepted = match admin {
                    Admin::ChangeMembership(cc) => {
                        self.raft.propose_conf_change(cc, now).map(|_| ())
                    }
                    Admin::TransferLeadership(to) => self.raft.transfer_leadership(to, now),
                };
                let _ = reply.send(accepted.map_or_else(refusal, Reply::Done));
            }
        }
    }

    /// Handle every `Ready` the core has, until it has none; hold back
    /// those a stalled disk makes wait.
    fn drive(&mut self) -> Result<(), NodeError> {
        if !self.held.is_empty() && self.store.io_wait().is_none() {
            while let Some(rd) = self.held.pop_front() {
                self.handle_ready(rd)?;
                if self.halted.is_some() {
                    return Ok(());
                }
            }
        }
        while self.raft.has_ready() && self.halted.is_none() {
            let rd = self.raft.ready();
            if self.held.is_empty() && (!needs_io(&rd) || self.store.io_wait().is_none()) {
                self.handle_ready(rd)?;
            } else {
                self.hold(rd);
            }
        }
        Ok(())
    }

    /// Queue `rd` behind the I/O a stalled disk holds back, sending now
    /// what of it may overtake that I/O.
    fn hold(&mut self, mut rd: Ready) {
        let durable_term = self.store.hard_state().term;
        let synced = self.store.synced_index();
        let mut later = Vec::with_capacity(rd.messages.len());
        for (to, msg) in std::mem::take(&mut rd.messages) {
            if to == self.id {
                later.push((to, msg));
                continue;
            }
            match overtaking(&msg, durable_term, synced) {
                // A full queue drops it, as it would any message.
                Overtake::Whole => {
                    self.transport.send(to, msg);
                }
                Overtake::Part(part) => {
                    self.transport.send(to, part);
                    later.push((to, msg));
                }
                Overtake::No => later.push((to, msg)),
            }
        }
        rd.messages = later;
        if self.held.is_empty() {
            tracing::warn!("the disk stalls; I/O and what depends on it wait");
        }
        self.held.push_back(rd);
    }

    fn handle_ready(&mut self, rd: Ready) -> Result<(), NodeError> {
        let Ready {
            hard_state,
            truncate_from,
            entries,
            snapshot,
            messages,
            committed,
            reads,
            failed_reads,
            compact_to,
            want_snapshot,
        } = rd;
        let durable_work = hard_state.is_some()
            || snapshot.is_some()
            || truncate_from.is_some()
            || !entries.is_empty();
        if snapshot.is_some() && self.at(Failpoint::BeforeApplySnapshot) {
            return Ok(());
        }
        if durable_work && self.at(Failpoint::BeforeSave) {
            return Ok(());
        }

        // 1. Durability, one fsync for the batch. The snapshot goes first:
        // entries may continue it, and a truncation at or before it then
        // means "the log after it".
        if let Some(hs) = hard_state {
            if self.bugs.has(Bug::VoteBeforePersist) {
                self.deferred.hard_state = Some(hs);
            } else {
                self.store.save_hard_state(&hs)?;
            }
        }
        if let Some(snap) = &snapshot {
            self.store.save_snapshot(snap)?;
        }
        if let Some(index) = truncate_from {
            self.store.truncate_from(index)?;
        }
        let persisted = entries.last().map(|e| (e.index, e.term));
        if !entries.is_empty() {
            self.store.append(&entries)?;
            if self.bugs.has(Bug::NeverFsync) {
                self.store.write_without_fsync()?;
            } else if self.bugs.has(Bug::AckBeforeFsync) {
                self.deferred.sync_log = true;
            } else {
                self.store.sync()?;
            }
        }
        if let Some((index, term)) = persisted {
            self.raft.persisted(index, term);
            if self.bugs.has(Bug::AckBeforeCommit) {
                self.ack_appended(index);
            }
        }
        if let Some(snap) = snapshot {
            self.install(snap)?;
        }

        if durable_work && self.at(Failpoint::AfterSave) {
            return Ok(());
        }
        let leader_sends = self.raft.role() == Role::Leader
            && messages.iter().any(
                |(_, m)| matches!(m, Message::AppendEntries { entries, .. } if !entries.is_empty()),
            );
        if leader_sends && self.at(Failpoint::BeforeLeaderSend) {
            return Ok(());
        }

        // 2. Only now may anyone hear of it.
        for (to, msg) in messages {
            if to == self.id {
                tracing::warn!("the core addressed a message to its own node; dropped");
                continue;
            }
            self.transport.send(to, msg);
        }
        if leader_sends && self.at(Failpoint::AfterLeaderSend) {
            return Ok(());
        }
        if !committed.is_empty() && self.at(Failpoint::BeforeApply) {
            return Ok(());
        }

        // 3. Apply, and answer the proposers.
        let mut last = None;
        for entry in committed {
            if entry.index <= self.applied {
                // Covered by a snapshot restored meanwhile.
                continue;
            }
            let output = match &entry.payload {
                EntryPayload::Command(data) => Some(self.sm().apply(data)),
                EntryPayload::Config(c) => {
                    self.applied_config = c.clone();
                    None
                }
                EntryPayload::Noop => None,
            };
            self.applied = entry.index;
            last = Some(entry.index);
            if let Some(p) = self.pending.remove(&entry.index) {
                let ours = p.term == entry.term;
                let reply = if ours || self.bugs.has(Bug::AckWrongEntry) {
                    output.map_or(Reply::Accepted, Reply::Done)
                } else {
                    // Another leader's entry sits where ours was: ours was
                    // truncated and can never commit.
                    Reply::Dropped
                };
                let _ = p.reply.send(reply);
            }
        }
        if let Some(index) = last {
            self.raft.applied(index);
        }

        // 4. Reads.
        for r in reads {
            if let Some(read) = self.reads.get_mut(&r.id) {
                read.index = Some(r.index);
            }
        }
        for id in failed_reads {
            if let Some(read) = self.reads.remove(&id) {
                let leader = self.raft.leader().filter(|l| *l != self.id);
                let _ = read.reply.send(Reply::NotLeader { leader });
            }
        }
        self.release_reads();

        // 5. Snapshot and compaction.
        if want_snapshot {
            self.take_snapshot()?;
        }
        if let Some(index) = compact_to {
            match self.store.compact_to(index) {
                Ok(()) => {}
                // Refused before touching the disk: the core asked for more
                // than the stored snapshot covers. Keep the log.
                Err(StorageError::Invalid { detail }) => {
                    tracing::error!(index, %detail, "compaction refused");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Restore the state machine from a snapshot the leader sent, now that
    /// it is durable.
    fn install(&mut self, snap: Snapshot) -> Result<(), NodeError> {
        self.sm().restore(&snap.data).map_err(|e| {
            NodeError::StateMachine(format!("snapshot at {}: {e}", snap.meta.index))
        })?;
        self.applied = snap.meta.index;
        self.applied_config = snap.meta.config.clone();
        self.raft.snapshot_installed(&snap.meta);
        // Proposals the snapshot covers may or may not be in it.
        let later = self.pending.split_off(&(snap.meta.index + 1));
        for (_, p) in std::mem::replace(&mut self.pending, later) {
            let _ = p.reply.send(Reply::Unknown);
        }
        tracing::info!(
            index = snap.meta.index,
            term = snap.meta.term,
            "installed a snapshot"
        );
        Ok(())
    }

    /// The planted bug AckBeforeCommit: answer proposals as soon as the
    /// leader's own copy is durable, before a quorum has it.
    fn ack_appended(&mut self, upto: Index) {
        if self.raft.role() != Role::Leader {
            return;
        }
        let later = self.pending.split_off(&(upto + 1));
        for (_, p) in std::mem::replace(&mut self.pending, later) {
            let _ = p.reply.send(Reply::Accepted);
        }
    }

    fn release_reads(&mut self) {
        let applied = self.applied;
        let ready: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.index.is_some_and(|i| i <= applied))
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            let read = self.reads.remove(&id).expect("listed above");
            let output = self.sm().query(&read.query);
            let _ = read.reply.send(Reply::Done(output));
        }
    }

    fn take_snapshot(&mut self) -> Result<(), NodeError> {
        let index = self.applied;
        if index == 0 || self.store.snapshot_meta().is_some_and(|m| m.index >= index) {
            return Ok(());
        }
        let Some(term) = self.store.term_of(index) else {
            tracing::error!(index, "no term for the applied index; snapshot skipped");
            return Ok(());
        };
        let meta = SnapshotMeta {
            index,
            term,
            config: self.applied_config.clone(),
        };
        let data = self.sm().snapshot();
        let snap = Snapshot { meta, data };
        self.store.save_snapshot(&snap)?;
        tracing::debug!(index, term, bytes = snap.data.len(), "took a snapshot");
        self.raft.snapshot_taken(snap.meta, snap.data);
        Ok(())
    }

    /// Durable work a planted bug put off until after a wait.
    fn finish_deferred(&mut self) -> Result<(), NodeError> {
        if self.store.io_wait().is_some() {
            return Ok(());
        }
        if let Some(hs) = self.deferred.hard_state.take() {
            self.store.save_hard_state(&hs)?;
        }
        if std::mem::take(&mut self.deferred.sync_log) {
            self.store.sync()?;
        }
        Ok(())
    }

    fn publish(&self, paused: bool) {
        if !self.held.is_empty() {
            // The status is what the node has acted on, all of it durable;
            // what waits for the disk shows once it is stored.
            return;
        }
        let synced = self.store.synced_index();
        let durable = DurableView {
            hard_state: self.store.hard_state(),
            synced_index: synced,
            synced_term: self.store.term_of(synced).unwrap_or(0),
            snapshot_index: self.store.snapshot_meta().map_or(0, |m| m.index),
        };
        self.controls.publish(NodeStatus {
            id: self.id,
            role: self.raft.role(),
            term: self.raft.term(),
            leader: self.raft.leader(),
            commit: self.raft.commit_index(),
            applied: self.applied,
            last_index: self.raft.last_index(),
            view: Some(self.raft.view()),
            durable,
            paused,
            running: true,
            stopped: None,
            config: self.raft.config().clone(),
            // Stamped by `publish`.
            incarnation: 0,
        });
    }
}

/// Completes when the disk takes I/O again (at once for `Some(None)`).
async fn disk_answers(disk: Option<Option<IoWait>>) {
    if let Some(Some(wait)) = disk {
        wait.await;
    }
}

/// Whether handling `rd` touches the disk.
fn needs_io(rd: &Ready) -> bool {
    rd.hard_state.is_some()
        || rd.truncate_from.is_some()
        || !rd.entries.is_empty()
        || rd.snapshot.is_some()
        || rd.want_snapshot
        || rd.compact_to.is_some()
}

/// How much of a message may go out ahead of I/O held back before it.
#[derive(Debug, PartialEq)]
enum Overtake {
    /// All of it.
    Whole,
    /// This part now; the whole message after the I/O.
    Part(Message),
    /// None: it goes after the I/O.
    No,
}

/// What of `msg` may be sent while earlier durable work waits, given the
/// term durable on this node and its last fsynced log entry. Only a request
/// that acknowledges nothing, from a term that is durable, carrying only
/// durable entries: so a leader with a stalled disk keeps heartbeating,
/// but neither sends entries it has not stored nor, as anyone's follower or
/// voter, answers for state a crash could take back. Responses wait.
fn overtaking(msg: &Message, durable_term: Term, synced: Index) -> Overtake {
    match msg {
        Message::AppendEntries {
            term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit,
            read_ctx,
        } if *term <= durable_term => {
            if entries.last().is_none_or(|e| e.index <= synced) {
                return Overtake::Whole;
            }
            Overtake::Part(Message::AppendEntries {
                term: *term,
                prev_log_index: *prev_log_index,
                prev_log_term: *prev_log_term,
                entries: entries
                    .iter()
                    .take_while(|e| e.index <= synced)
                    .cloned()
                    .collect(),
                leader_commit: *leader_commit,
                read_ctx: *read_ctx,
            })
        }
        Message::InstallSnapshot { term, .. } | Message::TimeoutNow { term }
            if *term <= durable_term =>
        {
            Overtake::Whole
        }
        // A pre-vote changes no one's term or vote, and asks only.
        Message::RequestVote { pre_vote: true, .. } => Overtake::Whole,
        _ => Overtake::No,
    }
}

fn refusal<O>(e: ProposeError) -> Reply<O> {
    match e {
        ProposeError::NotLeader { leader } => Reply::NotLeader { leader },
        other => Reply::Refused(other.to_string()),
    }
}
