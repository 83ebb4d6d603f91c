//! A deterministic in-memory cluster of Raft cores for tests and benches.
//!
//! Every node has a disk (what survived its last fsync), a toy state
//! machine (a running digest of the commands applied), and its own clock.
//! Messages wait in one network queue, from which tests deliver, drop or
//! reorder them; links can be cut; nodes crash (losing everything not on
//! their disk) and restart from it. After every action the cluster checks
//! the invariants of [`super::invariants`] on every live node and keeps
//! the first violation.

use super::invariants::{self, History, NodeView, Violation};
use super::message::{Message, ProposeError, ReadState};
use super::rng::SplitMix64;
use super::types::{
    ConfChange, Configuration, Entry, EntryPayload, HardState, Index, NodeId, Role, Snapshot,
    SnapshotMeta, Term,
};
use super::{Config, Millis, Raft, Recovered};
use std::collections::{BTreeMap, BTreeSet};

/// What a node's fsync has made durable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    /// The last term and vote written.
    pub hard_state: HardState,
    /// The last snapshot written.
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot.
    pub entries: Vec<Entry>,
}

impl Disk {
    fn last_index(&self) -> Index {
        self.entries
            .last()
            .map(|e| e.index)
            .unwrap_or_else(|| self.snapshot.as_ref().map_or(0, |s| s.meta.index))
    }

    fn truncate_from(&mut self, index: Index) {
        self.entries.retain(|e| e.index < index);
    }

    /// Like the real storage, refuse a gap.
    fn append(&mut self, entries: &[Entry]) -> Result<(), String> {
        for e in entries {
            if self
                .snapshot
                .as_ref()
                .is_some_and(|s| e.index <= s.meta.index)
            {
                continue;
            }
            if e.index != self.last_index() + 1 {
                return Err(format!(
                    "append of entry {} after {} leaves a gap",
                    e.index,
                    self.last_index()
                ));
            }
            self.entries.push(e.clone());
        }
        Ok(())
    }

    fn term_of(&self, index: Index) -> Option<Term> {
        match &self.snapshot {
            Some(s) if s.meta.index == index => Some(s.meta.term),
            _ => self
                .entries
                .iter()
                .find(|e| e.index == index)
                .map(|e| e.term),
        }
    }

    /// Like the real storage: refuse to go back to an older snapshot; keep
    /// the log after the snapshot only if it holds the snapshot's entry.
    fn save_snapshot(&mut self, snap: &Snapshot) -> Result<(), String> {
        let m = &snap.meta;
        if let Some(old) = &self.snapshot {
            if m.index < old.meta.index {
                return Err(format!(
                    "snapshot at {} is older than the stored one at {}",
                    m.index, old.meta.index
                ));
            }
        }
        if self.term_of(m.index) == Some(m.term) {
            self.entries.retain(|e| e.index > m.index);
        } else {
            self.entries.clear();
        }
        self.snapshot = Some(snap.clone());
        Ok(())
    }
}

/// The toy state machine: how many commands and a digest of all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StateMachine {
    /// The last index applied.
    pub applied: Index,
    /// The term of that entry.
    pub term: Term,
    /// How many commands were applied.
    pub commands: u64,
    /// A running digest of every entry applied.
    pub digest: u64,
}

impl StateMachine {
    fn encode(&self, padding: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + padding);
        for x in [self.applied, self.term, self.commands, self.digest] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.resize(32 + padding, 0xAB);
        out
    }

    fn decode(data: &[u8]) -> StateMachine {
        let word =
            |i: usize| u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        StateMachine {
            applied: word(0),
            term: word(1),
            commands: word(2),
            digest: word(3),
        }
    }
}

/// FNV-1a over the entry's term and payload.
pub fn entry_digest(e: &Entry) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&e.term.to_le_bytes());
    match &e.payload {
        EntryPayload::Noop => eat(b"noop"),
        EntryPayload::Command(d) => eat(d),
        EntryPayload::Config(c) => {
            for v in &c.voters {
                eat(&v.to_le_bytes());
            }
            eat(b"/");
            for l in &c.learners {
                eat(&l.to_le_bytes());
            }
        }
    }
    h
}

/// One simulated server.
#[derive(Clone, Debug)]
pub struct SimNode {
    /// The node's configuration.
    pub config: Config,
    /// `None` while crashed.
    pub raft: Option<Raft>,
    /// What survives a crash.
    pub disk: Disk,
    /// The state machine.
    pub sm: StateMachine,
    /// The node's own clock.
    pub clock: Millis,
    /// Reads released to this node, and reads it was told failed.
    pub reads: Vec<ReadState>,
    /// Reads the node was told failed.
    pub failed_reads: Vec<u64>,
    /// The commands applied, in order (index, data), for tests that look.
    pub applied_commands: Vec<(Index, Vec<u8>)>,
    bootstrap: Configuration,
}

impl SimNode {
    /// The core (panics while crashed).
    pub fn raft(&self) -> &Raft {
        self.raft.as_ref().expect("node is crashed")
    }
}

/// A message in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The message.
    pub msg: Message,
}

/// The in-memory cluster.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Every server, crashed or not.
    pub nodes: BTreeMap<NodeId, SimNode>,
    /// Messages in flight, oldest first.
    pub network: Vec<Envelope>,
    /// Directed links that lose everything sent over them.
    cut: BTreeSet<(NodeId, NodeId)>,
    history: History,
    prev_views: BTreeMap<NodeId, NodeView>,
    violation: Option<Violation>,
    /// Bytes of filler in each state-machine snapshot, to exercise chunking.
    pub snapshot_padding: usize,
    /// Messages delivered so far.
    pub delivered: u64,
    rng: SplitMix64,
}

impl Cluster {
    /// `n` voters with ids 1..=n, each configured from `template`.
    pub fn new(n: u64, template: &Config) -> Cluster {
        let voters = Configuration::with_voters(1..=n);
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            network: Vec::new(),
            cut: BTreeSet::new(),
            history: History::default(),
            prev_views: BTreeMap::new(),
            violation: None,
            snapshot_padding: 0,
            delivered: 0,
            rng: SplitMix64::new(template.seed ^ 0x5EED),
        };
        for id in 1..=n {
            c.add_node_with(id, template, voters.clone());
        }
        c
    }

    /// Add a server that knows no configuration: it waits for a leader to
    /// add it (as a learner or voter).
    pub fn add_node(&mut self, id: NodeId, template: &Config) {
        self.add_node_with(id, template, Configuration::default());
    }

    fn add_node_with(&mut self, id: NodeId, template: &Config, bootstrap: Configuration) {
        let config = Config {
            id,
            seed: template.seed.wrapping_mul(31).wrapping_add(id),
            ..template.clone()
        };
        let raft = Raft::new(
            config.clone(),
            Recovered {
                config: bootstrap.clone(),
                ..Default::default()
            },
        )
        .expect("valid test configuration");
        let mut raft = raft;
        raft.tick(0);
        self.nodes.insert(
            id,
            SimNode {
                config,
                raft: Some(raft),
                disk: Disk::default(),
                sm: StateMachine::default(),
                clock: 0,
                reads: Vec::new(),
                failed_reads: Vec::new(),
                applied_commands: Vec::new(),
                bootstrap,
            },
        );
    }

    /// Node `id`'s core (panics while crashed).
    pub fn node(&self, id: NodeId) -> &Raft {
        self.nodes[&id].raft()
    }

    /// Node `id`'s core, mutably (panics while crashed).
    pub fn node_mut(&mut self, id: NodeId) -> &mut Raft {
        self.nodes
            .get_mut(&id)
            .and_then(|n| n.raft.as_mut())
            .expect("live node")
    }

    /// Is node `id` running?
    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.raft.is_some())
    }

    /// Every node's id.
    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// The ids of the running nodes.
    pub fn live_ids(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.raft.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The first invariant violation seen, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// Panic with the violation if there was one.
    pub fn assert_safe(&self) {
        if let Some(v) = &self.violation {
            panic!("{v}");
        }
    }

    /// The unique leader of the highest term among live nodes, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter_map(|n| n.raft.as_ref())
            .filter(|r| r.role() == Role::Leader)
            .max_by_key(|r| r.term())
            .map(|r| r.id())
    }

    // Actions.

    /// Advance every live node's clock by `ms` and tick it.
    pub fn advance(&mut self, ms: Millis) {
        for id in self.live_ids() {
            self.tick_node(id, ms);
        }
    }

    /// Advance one node's clock by `ms` and tick it.
    pub fn tick_node(&mut self, id: NodeId, ms: Millis) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        node.clock += ms;
        raft.tick(node.clock);
        self.process(id);
    }

    /// Skip node `id`'s clock to its election deadline and tick it.
    pub fn fire_election_timeout(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        node.clock = node.clock.max(raft.election_deadline());
        raft.tick(node.clock);
        self.process(id);
    }

    /// Call one of the core's client entry points on node `id` at its
    /// clock, then handle the node's Ready. A crashed node answers that it
    /// is not the leader.
    pub fn client_call<T>(
        &mut self,
        id: NodeId,
        call: impl FnOnce(&mut Raft, Millis) -> Result<T, ProposeError>,
    ) -> Result<T, ProposeError> {
        let node = self.nodes.get_mut(&id).expect("known node");
        let clock = node.clock;
        let raft = node
            .raft
            .as_mut()
            .ok_or(ProposeError::NotLeader { leader: None })?;
        let r = call(raft, clock);
        self.process(id);
        r
    }

    /// Propose a command at node `id`.
    pub fn propose(&mut self, id: NodeId, data: &[u8]) -> Result<(Term, Index), ProposeError> {
        self.client_call(id, |raft, now| raft.propose(data.to_vec(), now))
    }

    /// Propose a membership change at node `id`.
    pub fn propose_conf_change(
        &mut self,
        id: NodeId,
        cc: ConfChange,
    ) -> Result<(Term, Index), ProposeError> {
        self.client_call(id, |raft, now| raft.propose_conf_change(cc, now))
    }

    /// Ask node `id` for a linearizable read numbered `read`.
    pub fn read_index(&mut self, id: NodeId, read: u64) -> Result<(), ProposeError> {
        self.client_call(id, |raft, now| raft.read_index(read, now))
    }

    /// Ask node `id` to hand its leadership to `to`.
    pub fn transfer_leadership(&mut self, id: NodeId, to: NodeId) -> Result<(), ProposeError> {
        self.client_call(id, |raft, now| raft.transfer_leadership(to, now))
    }

    /// Deliver the message at position `i` of the network queue.
    pub fn deliver(&mut self, i: usize) {
        if i >= self.network.len() {
            return;
        }
        let Envelope { from, to, msg } = self.network.remove(i);
        if self.cut.contains(&(from, to)) {
            return;
        }
        let Some(node) = self.nodes.get_mut(&to) else {
            return;
        };
        let Some(raft) = node.raft.as_mut() else {
            return;
        };
        raft.step(from, msg, node.clock);
        self.delivered += 1;
        self.process(to);
    }

    /// Queue a copy of the message at position `i` (a network that
    /// retransmits delivers some messages twice, and late).
    pub fn duplicate(&mut self, i: usize) {
        if let Some(e) = self.network.get(i).cloned() {
            self.network.push(e);
        }
    }

    /// Lose the message at position `i` of the network queue.
    pub fn drop_message(&mut self, i: usize) {
        if i < self.network.len() {
            self.network.remove(i);
        }
    }

    /// Deliver messages in order until the network is empty or `limit`
    /// messages went through. Returns how many were delivered.
    pub fn deliver_all(&mut self, limit: usize) -> usize {
        let mut n = 0;
        while !self.network.is_empty() && n < limit {
            self.deliver(0);
            n += 1;
        }
        n
    }

    /// Deliver until quiet, then keep time moving in heartbeat steps for
    /// `ms` so idle-commit and heartbeats settle.
    pub fn stabilize(&mut self) {
        self.deliver_all(100_000);
    }

    /// Run for `ms` of time in steps of `step`, delivering everything
    /// after each step.
    pub fn run_for(&mut self, ms: Millis, step: Millis) {
        let mut t = 0;
        while t < ms {
            self.advance(step);
            self.deliver_all(100_000);
            t += step;
        }
    }

    /// Cut both directions between `a` and `b`.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    /// Cut `id` off from everyone.
    pub fn isolate(&mut self, id: NodeId) {
        for other in self.ids() {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    /// Split the cluster: links between different groups are cut.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        self.heal();
        for (i, g) in groups.iter().enumerate() {
            for h in &groups[i + 1..] {
                for a in *g {
                    for b in *h {
                        self.cut(*a, *b);
                    }
                }
            }
        }
    }

    /// Restore every cut link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Crash `id`: it loses everything not on its disk, and the messages
    /// to it in flight.
    pub fn crash(&mut self, id: NodeId) {
        if let Some(node) = self.nodes.get_mut(&id) {
            node.raft = None;
            node.reads.clear();
        }
        self.network.retain(|e| e.to != id);
        self.prev_views.remove(&id);
    }

    /// Restart a crashed node from its disk.
    pub fn restart(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        if node.raft.is_some() {
            return;
        }
        let recovered = Recovered {
            hard_state: node.disk.hard_state,
            snapshot: node.disk.snapshot.as_ref().map(|s| s.meta.clone()),
            entries: node.disk.entries.clone(),
            config: node.bootstrap.clone(),
        };
        node.sm = node
            .disk
            .snapshot
            .as_ref()
            .map_or_else(StateMachine::default, |s| StateMachine::decode(&s.data));
        node.applied_commands.clear();
        let mut raft =
            Raft::new(node.config.clone(), recovered).expect("recovers from its own disk");
        raft.tick(node.clock);
        node.raft = Some(raft);
        if let Some(snap) = node.disk.snapshot.clone() {
            // Give the core the snapshot's contents so it can send them on.
            node.raft
                .as_mut()
                .expect("just started")
                .snapshot_taken(snap.meta, snap.data);
        }
        self.process(id);
    }

    /// Pick a random action index in `[0, n)` from the cluster's own PRNG.
    pub fn random_below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }

    /// Handle one node's Ready the way the node shell does, then check.
    pub fn process(&mut self, id: NodeId) {
        let padding = self.snapshot_padding;
        let mut applied_log: Vec<(Index, Term, u64)> = Vec::new();
        let mut storage_error = None;
        {
            let Some(node) = self.nodes.get_mut(&id) else {
                return;
            };
            let Some(raft) = node.raft.as_mut() else {
                return;
            };
            let mut guard = 0;
            while raft.has_ready() {
                guard += 1;
                assert!(guard < 1000, "node {id} never runs out of Ready");
                let rd = raft.ready();
                if let Some(hs) = rd.hard_state {
                    node.disk.hard_state = hs;
                }
                if let Some(i) = rd.truncate_from {
                    node.disk.truncate_from(i);
                }
                let stored = node.disk.append(&rd.entries).and_then(|()| {
                    rd.snapshot
                        .as_ref()
                        .map_or(Ok(()), |s| node.disk.save_snapshot(s))
                });
                if let Err(why) = stored {
                    // A real node fail-stops here; the run is over.
                    storage_error = Some(Violation {
                        invariant: "storage accepts what the core asks",
                        detail: format!("node {id}: {why}"),
                    });
                    break;
                }
                if let Some(last) = rd.entries.last() {
                    raft.persisted(last.index, last.term);
                }
                if let Some(snap) = &rd.snapshot {
                    node.sm = StateMachine::decode(&snap.data);
                    raft.snapshot_installed(&snap.meta);
                }
                for (to, msg) in rd.messages {
                    self.network.push(Envelope { from: id, to, msg });
                }
                for e in &rd.committed {
                    assert_eq!(
                        e.index,
                        node.sm.applied + 1,
                        "node {id} applies out of order"
                    );
                    node.sm.applied = e.index;
                    node.sm.term = e.term;
                    let d = entry_digest(e);
                    node.sm.digest = node.sm.digest.rotate_left(5) ^ d;
                    if let EntryPayload::Command(data) = &e.payload {
                        node.sm.commands += 1;
                        node.applied_commands.push((e.index, data.clone()));
                    }
                    applied_log.push((e.index, e.term, d));
                }
                if let Some(last) = rd.committed.last() {
                    raft.applied(last.index);
                }
                node.reads.extend(rd.reads);
                node.failed_reads.extend(rd.failed_reads);
                if rd.want_snapshot {
                    let meta = SnapshotMeta {
                        index: node.sm.applied,
                        term: node.sm.term,
                        config: raft.config_at(node.sm.applied),
                    };
                    if meta.index > 0 {
                        let snap = Snapshot {
                            meta: meta.clone(),
                            data: node.sm.encode(padding),
                        };
                        if node.disk.save_snapshot(&snap).is_ok() {
                            raft.snapshot_taken(meta, snap.data);
                        }
                    }
                }
            }
        }
        if let Some(v) = storage_error {
            self.violation.get_or_insert(v);
        }
        for (index, term, digest) in applied_log {
            if let Err(v) = self.history.applied(id, index, term, digest) {
                self.violation.get_or_insert(v);
            }
        }
        self.check();
    }

    /// Check every invariant on the live nodes; keep the first violation.
    pub fn check(&mut self) {
        if self.violation.is_some() {
            return;
        }
        let views: Vec<NodeView> = self
            .nodes
            .values()
            .filter_map(|n| n.raft.as_ref())
            .map(|r| r.view())
            .collect();
        let result = (|| {
            for v in &views {
                invariants::check_node(v, self.prev_views.get(&v.id))?;
            }
            invariants::check_cluster(&views)?;
            self.history.observe(&views)
        })();
        if let Err(v) = result {
            self.violation = Some(v);
        }
        for v in views {
            self.prev_views.insert(v.id, v);
        }
    }

    /// One line per node: role, term, vote, commit, applied, last index.
    pub fn status(&self) -> String {
        let mut out = String::new();
        for (id, n) in &self.nodes {
            match &n.raft {
                None => out.push_str(&format!("{id}: down\n")),
                Some(r) => out.push_str(&format!(
                    "{id}: {:?} term={} vote={} leader={} commit={} applied={} last={}\n",
                    r.role(),
                    r.term(),
                    r.vote().map_or("-".to_string(), |v| v.to_string()),
                    r.leader().map_or("-".to_string(), |v| v.to_string()),
                    r.commit_index(),
                    r.applied_index(),
                    r.last_index()
                )),
            }
        }
        out
    }
}
