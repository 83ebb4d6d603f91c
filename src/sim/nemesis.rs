//! Applies a [`Schedule`] to a running cluster: each fault at its time,
//! each heal at its time, leader targets resolved when applied, and every
//! step recorded (for the history and for fault effectiveness).
//!
//! The cluster is reached through [`Cluster`], so this module holds the
//! bookkeeping (which node is down for which fault, which link is cut by
//! whom) and `run` holds the turmoil and node plumbing. Faults of different
//! families may overlap on one node; counts make sure a node comes back
//! only when the last fault holding it down is healed.

use std::collections::{BTreeMap, BTreeSet};

use faultline_nemesis::{
    Action, DiskFault, Failpoint, Fault, FaultId, FaultSpan, Link, LiveMajority, NodeId, Schedule,
    Target, VoterChange,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::disk::{DiskControl, DiskMode, FlipOutcome};
use super::network::{NetOps, Network};

/// The ChaCha stream bit flips draw from.
const FLIP_STREAM: u64 = 0x666c6970;

/// A membership change, carried out by an admin client through the leader
/// (retried until it takes effect or the run ends).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminOp {
    AddVoter(NodeId),
    AddLearner(NodeId),
    Promote(NodeId),
    Remove(NodeId),
    TransferLeadership(Option<NodeId>),
}

/// What the nemesis needs from a running cluster.
pub trait Cluster: NetOps {
    /// The leader among running, unpaused nodes with the highest term.
    fn leader(&mut self) -> Option<NodeId>;
    /// Whether the node's software runs (not crashed, not fail-stopped).
    fn is_running(&mut self, node: NodeId) -> bool;
    /// Kill the node; writes it had not fsynced are lost.
    fn crash(&mut self, node: NodeId);
    /// Start a stopped node from its disk (crashing it first if it runs,
    /// so unsynced writes are lost as a power cut would lose them).
    fn restart(&mut self, node: NodeId);
    /// Start a brand-new node with an empty disk, outside the configuration.
    fn launch(&mut self, node: NodeId);
    fn pause(&mut self, node: NodeId);
    fn resume(&mut self, node: NodeId);
    fn clock_bump(&mut self, node: NodeId, delta_ms: i64);
    fn clock_rate(&mut self, node: NodeId, rate_permille: u32);
    fn clock_reset(&mut self, node: NodeId);
    fn disk(&mut self, node: NodeId) -> Option<DiskControl>;
    /// Whether the nodes accept membership changes ([`Cluster::admin`]).
    /// Without it, membership faults are skipped, since removing a node
    /// that cannot be re-added would leave the cluster short for good.
    fn supports_membership(&self) -> bool;
    /// Ask for `op` on behalf of fault `id`; how it ends comes back
    /// through [`Nemesis::admin_ended`].
    fn admin(&mut self, id: FaultId, op: AdminOp);
    /// Arm `point` on the node: it halts when it next reaches the point.
    fn arm_failpoint(&mut self, node: NodeId, point: Failpoint);
    fn disarm_failpoint(&mut self, node: NodeId);
    /// Whether the node halted at its armed failpoint since the last call
    /// (it waits there to be crashed).
    fn failpoint_hit(&mut self, node: NodeId) -> bool;
}

/// Whether a record is a fault being applied, healed, or skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Inject,
    Heal,
    /// A timed part of an active fault (a strobe flip, a promotion).
    Step,
    /// Not applied: its target could not be resolved.
    Skip,
    /// A membership change or transfer asked for by a fault took effect.
    Done,
    /// A membership change or transfer was refused or did not take
    /// effect in time.
    Failed,
}

/// One thing the nemesis did, for the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisRecord {
    pub time_ms: u64,
    pub id: FaultId,
    pub phase: Phase,
    /// The history `f`: the fault's or the heal's name.
    pub f: String,
    /// The nodes it hit, leader targets resolved.
    pub nodes: Vec<NodeId>,
    pub description: String,
    /// Why it was skipped, where a flip landed, ...
    pub detail: Option<String>,
}

/// What an active fault did, so its heal can undo exactly that.
#[derive(Debug)]
enum Applied {
    /// The cut links, and the nodes on the hurt side.
    Cut(BTreeSet<Link>, Vec<NodeId>),
    Clog(Vec<Link>),
    Chaos(Vec<Link>),
    Crash(Vec<NodeId>),
    Pause(Vec<NodeId>),
    Clock(Vec<NodeId>),
    Disk(NodeId),
    Removed {
        node: NodeId,
        wipe: bool,
        rejoin_as: NodeId,
    },
    NonVoter(NodeId),
    /// A failpoint armed on the node; `fired` once it crashed there.
    Failpoint {
        node: NodeId,
        point: Failpoint,
        fired: bool,
    },
}

#[derive(Debug)]
struct Strobe {
    nodes: Vec<NodeId>,
    delta_ms: i64,
    period_ms: u64,
    next_ms: u64,
    shifted: bool,
}

/// Applies one schedule.
pub struct Nemesis {
    schedule: Schedule,
    next_item: usize,
    rng: ChaCha8Rng,
    net: Network,
    members: BTreeSet<NodeId>,
    active: BTreeMap<FaultId, Applied>,
    crashed: BTreeMap<NodeId, u32>,
    paused: BTreeMap<NodeId, u32>,
    /// Out of the configuration and stopped.
    removed: BTreeSet<NodeId>,
    /// Removals asked for and not yet in effect, node → the fault that
    /// asked. The node keeps running until the operator reports it out of
    /// the committed configuration: stopped sooner, it would count against
    /// the quorum of a configuration that still holds it, which the
    /// schedule's down budget does not allow for.
    stopping: BTreeMap<NodeId, FaultId>,
    strobes: BTreeMap<FaultId, Strobe>,
    /// Promotions due: (time, fault, node).
    promotions: Vec<(u64, FaultId, NodeId)>,
    records: Vec<NemesisRecord>,
    spans: BTreeMap<FaultId, FaultSpan>,
    /// Nodes whose disk a fault ever touched (its data may be damaged
    /// legitimately).
    disk_faulted: BTreeSet<NodeId>,
    /// Nodes whose clock a fault ever moved (timers set on the moved clock
    /// may legitimately wait out the difference after the reset).
    clock_faulted: BTreeSet<NodeId>,
    /// The voters as the operator reports them and the nodes bit flips may
    /// have fail-stopped for good: a flip that could leave no live
    /// majority is skipped (the schedule's limits assume a membership
    /// change ends at its heal; the operator may take longer).
    voters: LiveMajority,
}

fn inc(m: &mut BTreeMap<NodeId, u32>, n: NodeId) -> bool {
    let c = m.entry(n).or_insert(0);
    *c += 1;
    *c == 1
}

fn dec(m: &mut BTreeMap<NodeId, u32>, n: NodeId) -> bool {
    match m.get_mut(&n) {
        Some(c) if *c > 1 => {
            *c -= 1;
            false
        }
        Some(_) => {
            m.remove(&n);
            true
        }
        None => false,
    }
}

impl Nemesis {
    pub fn new(schedule: Schedule, seed: u64) -> Nemesis {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(FLIP_STREAM);
        Nemesis {
            members: schedule.nodes.iter().copied().collect(),
            voters: LiveMajority::new(schedule.nodes.iter().copied()),
            schedule,
            next_item: 0,
            rng,
            net: Network::new(),
            active: BTreeMap::new(),
            crashed: BTreeMap::new(),
            paused: BTreeMap::new(),
            removed: BTreeSet::new(),
            stopping: BTreeMap::new(),
            strobes: BTreeMap::new(),
            promotions: Vec::new(),
            records: Vec::new(),
            spans: BTreeMap::new(),
            disk_faulted: BTreeSet::new(),
            clock_faulted: BTreeSet::new(),
        }
    }

    /// When something is next due, if anything is.
    pub fn next_due_ms(&self) -> Option<u64> {
        let item = self.schedule.items.get(self.next_item).map(|i| i.at_ms);
        let strobe = self.strobes.values().map(|s| s.next_ms).min();
        let promo = self.promotions.iter().map(|p| p.0).min();
        // An armed failpoint is watched every step, so its node is
        // crashed in the step it halts in.
        let armed = self
            .active
            .values()
            .any(|a| matches!(a, Applied::Failpoint { fired: false, .. }))
            .then_some(0);
        [item, strobe, promo, armed].into_iter().flatten().min()
    }

    /// Whether any fault is still in force.
    pub fn is_quiet(&self) -> bool {
        self.active.is_empty() && self.net.is_clean()
    }

    /// Whether the nemesis holds `node` down (crashed, removed, paused).
    pub fn holds_down(&self, node: NodeId) -> bool {
        self.crashed.contains_key(&node)
            || self.removed.contains(&node)
            || self.paused.contains_key(&node)
    }

    /// Whether `node` is out of the configuration (removed and not back).
    pub fn is_removed(&self, node: NodeId) -> bool {
        self.removed.contains(&node)
    }

    /// Whether a disk fault (an I/O error, a full disk, a bit flip) was
    /// ever aimed at `node`.
    pub fn disk_faulted(&self, node: NodeId) -> bool {
        self.disk_faulted.contains(&node)
    }

    /// Whether the nemesis leaves `node` wholly alone now: not held down,
    /// and no disk or clock fault ever aimed at it.
    pub fn untouched(&self, node: NodeId) -> bool {
        !self.holds_down(node)
            && !self.disk_faulted.contains(&node)
            && !self.clock_faulted.contains(&node)
    }

    /// Whether messages flow both ways between `a` and `b` with no network
    /// fault on the way.
    pub fn link_sound(&self, a: NodeId, b: NodeId) -> bool {
        self.net.is_sound(a, b)
    }

    /// Whether every message from `from` to `to` is dropped.
    pub fn link_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.net.is_cut(from, to)
    }

    pub fn is_paused(&self, node: NodeId) -> bool {
        self.paused.contains_key(&node)
    }

    /// The nodes the schedule means to be members now (initial voters,
    /// less those removed, plus those added and not yet taken out).
    pub fn members(&self) -> &BTreeSet<NodeId> {
        &self.members
    }

    /// The id the heal's reconciliation of the membership records its
    /// changes under: one past every fault's.
    pub fn reconcile_id(&self) -> FaultId {
        self.schedule
            .items
            .iter()
            .map(|i| match i.action {
                Action::Inject { id, .. } | Action::Heal { id } => id,
            })
            .max()
            .map_or(0, |id| id + 1)
    }

    /// Record a step of the heal's reconciliation of the membership: what
    /// it did to `nodes`, or how it ended (`detail`).
    pub fn reconcile_record(
        &mut self,
        now_ms: u64,
        phase: Phase,
        nodes: Vec<NodeId>,
        description: String,
        detail: String,
    ) {
        self.records.push(NemesisRecord {
            time_ms: now_ms,
            id: self.reconcile_id(),
            phase,
            f: "reconcile".into(),
            nodes,
            description,
            detail: Some(detail),
        });
    }

    /// The node an admin request is about, if any.
    pub fn admin_nodes(op: &AdminOp) -> Vec<NodeId> {
        admin_nodes(op)
    }

    /// Whether `node`'s removal was asked for and is not yet in effect
    /// (the node still runs).
    pub fn is_stopping(&self, node: NodeId) -> bool {
        self.stopping.contains_key(&node)
    }

    /// Record how an admin request made for a fault ended; a node whose
    /// removal is now in effect is stopped.
    pub fn admin_ended(
        &mut self,
        outcome: &super::admin::AdminOutcome,
        cluster: &mut impl Cluster,
    ) {
        self.record_outcome(outcome);
        self.settle(outcome);
        self.finish_removal(outcome, cluster);
    }

    /// Record an admin request the heal phase ended unfinished, handing
    /// what it asked for to the reconciliation of the membership: a
    /// removal still pending stays wanted (the node stays out of the
    /// members and keeps running until [`Nemesis::stop_removed`]).
    pub fn admin_handed_over(&mut self, outcome: &super::admin::AdminOutcome) {
        self.record_outcome(outcome);
        self.settle(outcome);
    }

    /// Ask the operator for `op` on behalf of fault `id`.
    fn ask(&mut self, id: FaultId, op: AdminOp, cluster: &mut impl Cluster) {
        if let Some(change) = voter_change(&op) {
            self.voters.asked(change);
        }
        cluster.admin(id, op);
    }

    /// Account for how the operator says a request ended.
    fn settle(&mut self, outcome: &super::admin::AdminOutcome) {
        let Some(change) = voter_change(&outcome.op) else {
            return;
        };
        match outcome.result {
            Ok(_) => self.voters.done(change),
            Err(_) => self.voters.failed(change),
        }
    }

    /// Stop the nodes whose removal is pending and no longer in the
    /// `config` in force (the heal's reconciliation took them out).
    pub fn stop_removed(
        &mut self,
        now_ms: u64,
        config: &crate::raft::Configuration,
        cluster: &mut impl Cluster,
    ) {
        let out: Vec<(NodeId, FaultId)> = self
            .stopping
            .iter()
            .filter(|(n, _)| !config.contains(**n) && !self.members.contains(n))
            .map(|(&n, &id)| (n, id))
            .collect();
        for (node, id) in out {
            self.stopping.remove(&node);
            if !self.crashed.contains_key(&node) {
                cluster.crash(node);
            }
            self.removed.insert(node);
            self.record(
                now_ms,
                id,
                Phase::Step,
                "stop",
                vec![node],
                Some(format!("node {node} is out of the configuration: stopped")),
            );
        }
    }

    fn record_outcome(&mut self, outcome: &super::admin::AdminOutcome) {
        let (phase, detail) = match &outcome.result {
            Ok(what) => (Phase::Done, what.clone()),
            Err(why) => (Phase::Failed, why.clone()),
        };
        let f = match self.schedule.fault(outcome.id) {
            Some(fault) => fault.name(),
            None if outcome.id == self.reconcile_id() => "reconcile",
            None => "admin",
        }
        .to_string();
        let nodes = admin_nodes(&outcome.op);
        self.records.push(NemesisRecord {
            time_ms: outcome.time_ms,
            id: outcome.id,
            phase,
            f,
            nodes,
            description: format!("{:?}", outcome.op),
            detail: Some(detail),
        });
    }

    /// Stop a node whose removal the operator reports in effect. A removal
    /// that failed leaves the node in the configuration, running, so the
    /// membership the run is judged against keeps it too.
    fn finish_removal(&mut self, outcome: &super::admin::AdminOutcome, cluster: &mut impl Cluster) {
        let AdminOp::Remove(node) = outcome.op else {
            return;
        };
        if self.stopping.get(&node) != Some(&outcome.id) {
            return;
        }
        self.stopping.remove(&node);
        match outcome.result {
            Ok(_) => {
                if !self.crashed.contains_key(&node) {
                    cluster.crash(node);
                }
                self.removed.insert(node);
                self.record(
                    outcome.time_ms,
                    outcome.id,
                    Phase::Step,
                    "stop",
                    vec![node],
                    Some(format!("node {node} is out of the configuration: stopped")),
                );
            }
            Err(_) => {
                self.members.insert(node);
            }
        }
    }

    /// Everything applied so far.
    pub fn records(&self) -> &[NemesisRecord] {
        &self.records
    }

    /// Applied faults with resolved targets; faults still active end at
    /// `now_ms`.
    pub fn fault_spans(&self, now_ms: u64) -> Vec<FaultSpan> {
        self.spans
            .values()
            .map(|s| {
                let mut s = s.clone();
                if self.active.contains_key(&s.id) {
                    s.end_ns = now_ms * 1_000_000;
                }
                s
            })
            .collect()
    }

    /// Apply everything due at or before `now_ms`; returns the new records.
    pub fn step(&mut self, now_ms: u64, cluster: &mut impl Cluster) -> &[NemesisRecord] {
        let first_new = self.records.len();
        self.crash_halted(now_ms, cluster);
        loop {
            let due_item = self
                .schedule
                .items
                .get(self.next_item)
                .filter(|i| i.at_ms <= now_ms)
                .cloned();
            if let Some(item) = due_item {
                self.next_item += 1;
                match item.action {
                    Action::Inject { id, fault } => self.inject(now_ms, id, &fault, cluster),
                    Action::Heal { id } => self.heal(now_ms, id, cluster),
                }
                continue;
            }
            if let Some((&id, _)) = self.strobes.iter().find(|(_, s)| s.next_ms <= now_ms) {
                self.flip_strobe(now_ms, id, cluster);
                continue;
            }
            if let Some(pos) = self.promotions.iter().position(|p| p.0 <= now_ms) {
                let (_, id, node) = self.promotions.remove(pos);
                self.ask(id, AdminOp::Promote(node), cluster);
                self.record(now_ms, id, Phase::Step, "promote", vec![node], None);
                continue;
            }
            break;
        }
        &self.records[first_new..]
    }

    /// Crash the nodes that halted at their armed failpoint, as `Crash`
    /// does: what they had not fsynced is lost.
    fn crash_halted(&mut self, now_ms: u64, cluster: &mut impl Cluster) {
        let mut hits = Vec::new();
        for (&id, applied) in self.active.iter_mut() {
            if let Applied::Failpoint {
                node,
                point,
                fired: fired @ false,
            } = applied
            {
                if cluster.failpoint_hit(*node) {
                    *fired = true;
                    hits.push((id, *node, *point));
                }
            }
        }
        for (id, node, point) in hits {
            if inc(&mut self.crashed, node) && !self.removed.contains(&node) {
                cluster.crash(node);
            }
            let detail = format!("node {node} reached {point} and crashed there");
            self.record(
                now_ms,
                id,
                Phase::Step,
                "failpoint-crash",
                vec![node],
                Some(detail),
            );
        }
    }

    /// Heal every fault still in force (the heal phase), in id order.
    pub fn heal_all(&mut self, now_ms: u64, cluster: &mut impl Cluster) {
        let ids: Vec<FaultId> = self.active.keys().copied().collect();
        for id in ids {
            self.heal(now_ms, id, cluster);
        }
        self.promotions.clear();
    }

    fn record(
        &mut self,
        time_ms: u64,
        id: FaultId,
        phase: Phase,
        f: &str,
        nodes: Vec<NodeId>,
        detail: Option<String>,
    ) {
        let description = match (phase, self.schedule.fault(id)) {
            (Phase::Inject | Phase::Skip, Some(fault)) => fault.to_string(),
            (Phase::Heal, Some(fault)) => format!("heal: {fault}"),
            (_, _) => f.to_string(),
        };
        self.records.push(NemesisRecord {
            time_ms,
            id,
            phase,
            f: f.to_string(),
            nodes,
            description,
            detail,
        });
    }

    fn resolve(&self, target: &Target, cluster: &mut impl Cluster) -> Option<Vec<NodeId>> {
        match target {
            Target::Nodes(ids) => {
                let set: BTreeSet<NodeId> = ids.iter().copied().collect();
                Some(set.into_iter().collect())
            }
            Target::Leader => cluster.leader().map(|l| vec![l]),
        }
    }

    fn skip(&mut self, now_ms: u64, id: FaultId, fault: &Fault, why: String) {
        self.record(now_ms, id, Phase::Skip, fault.name(), vec![], Some(why));
    }

    fn inject(&mut self, now_ms: u64, id: FaultId, fault: &Fault, cluster: &mut impl Cluster) {
        if fault.kind() == faultline_nemesis::FaultKind::Membership
            && !cluster.supports_membership()
        {
            return self.skip(
                now_ms,
                id,
                fault,
                "the nodes do not support membership changes".into(),
            );
        }
        let members: Vec<NodeId> = self.members.iter().copied().collect();
        let mut detail = None;
        let applied = match fault {
            Fault::Partition { cut } => {
                let leader = if cut.targets_leader() {
                    cluster.leader()
                } else {
                    None
                };
                match cut.links(&members, leader) {
                    Ok(links) => {
                        self.net.cut_links(&links, cluster);
                        let mut hurt = cut.hurt_nodes();
                        hurt.extend(leader);
                        Applied::Cut(links, hurt.into_iter().collect())
                    }
                    Err(e) => return self.skip(now_ms, id, fault, e.to_string()),
                }
            }
            Fault::Clog { links } => {
                self.net.hold_links(links, cluster);
                Applied::Clog(links.clone())
            }
            Fault::Chaos {
                links,
                max_latency_ms,
                loss_permille,
                ..
            } => {
                self.net
                    .add_chaos(id, links, *max_latency_ms, *loss_permille, cluster);
                Applied::Chaos(links.clone())
            }
            Fault::Crash { targets, .. } => {
                let Some(nodes) = self.resolve(targets, cluster) else {
                    return self.skip(now_ms, id, fault, "no node leads".into());
                };
                for &n in &nodes {
                    if inc(&mut self.crashed, n) && !self.removed.contains(&n) {
                        cluster.crash(n);
                    }
                }
                Applied::Crash(nodes)
            }
            Fault::Pause { targets } => {
                let Some(nodes) = self.resolve(targets, cluster) else {
                    return self.skip(now_ms, id, fault, "no node leads".into());
                };
                for &n in &nodes {
                    if inc(&mut self.paused, n) {
                        cluster.pause(n);
                    }
                }
                Applied::Pause(nodes)
            }
            Fault::ClockBump { targets, delta_ms } => {
                let Some(nodes) = self.resolve(targets, cluster) else {
                    return self.skip(now_ms, id, fault, "no node leads".into());
                };
                for &n in &nodes {
                    cluster.clock_bump(n, *delta_ms);
                }
                self.clock_faulted.extend(&nodes);
                Applied::Clock(nodes)
            }
            Fault::ClockStrobe {
                targets,
                delta_ms,
                period_ms,
            } => {
                let Some(nodes) = self.resolve(targets, cluster) else {
                    return self.skip(now_ms, id, fault, "no node leads".into());
                };
                for &n in &nodes {
                    cluster.clock_bump(n, *delta_ms);
                }
                self.strobes.insert(
                    id,
                    Strobe {
                        nodes: nodes.clone(),
                        delta_ms: *delta_ms,
                        period_ms: (*period_ms).max(1),
                        next_ms: now_ms + (*period_ms).max(1),
                        shifted: true,
                    },
                );
                self.clock_faulted.extend(&nodes);
                Applied::Clock(nodes)
            }
            Fault::ClockDrift {
                targets,
                rate_permille,
            } => {
                let Some(nodes) = self.resolve(targets, cluster) else {
                    return self.skip(now_ms, id, fault, "no node leads".into());
                };
                for &n in &nodes {
                    cluster.clock_rate(n, *rate_permille);
                }
                self.clock_faulted.extend(&nodes);
                Applied::Clock(nodes)
            }
            Fault::Disk { target, disk } => {
                let Some(nodes) = self.resolve(target, cluster) else {
                    return self.skip(now_ms, id, fault, "no node leads".into());
                };
                let node = nodes[0];
                if matches!(disk, DiskFault::BitFlip { .. }) {
                    if let Err(short) = self.voters.may_lose(node) {
                        return self.skip(now_ms, id, fault, short.to_string());
                    }
                    // Counted lost whatever the flip hits, as the
                    // schedule's limits count it.
                    self.voters.lose(node);
                }
                self.disk_faulted.insert(node);
                let Some(control) = cluster.disk(node) else {
                    return self.skip(now_ms, id, fault, format!("node {node} has no disk"));
                };
                let mode = match disk {
                    DiskFault::FsyncFail => Some(DiskMode::FsyncFail),
                    DiskFault::WriteEio => Some(DiskMode::WriteEio),
                    DiskFault::Stall => Some(DiskMode::Stall),
                    DiskFault::Full => Some(DiskMode::Full),
                    DiskFault::BitFlip { file, flips } => {
                        let outcome = control.flip_bits(*file, *flips, &mut self.rng);
                        detail = Some(match &outcome {
                            FlipOutcome::Flipped { path, offsets } => {
                                format!("flipped bits at offsets {offsets:?} of {path}")
                            }
                            FlipOutcome::NoFile => format!("node {node} has no {file:?} file yet"),
                            FlipOutcome::NoDisk => format!("node {node} never started"),
                        });
                        // Reboot so the damage is read back now, not at
                        // some later crash that may never come.
                        if matches!(outcome, FlipOutcome::Flipped { .. })
                            && !self.crashed.contains_key(&node)
                            && !self.removed.contains(&node)
                        {
                            cluster.restart(node);
                            if self.paused.contains_key(&node) {
                                cluster.pause(node);
                            }
                        }
                        None
                    }
                };
                match mode {
                    Some(mode) => {
                        control.inject(mode);
                        Applied::Disk(node)
                    }
                    None => {
                        self.span(now_ms, id, fault, nodes.clone());
                        self.record(now_ms, id, Phase::Inject, fault.name(), nodes, detail);
                        return;
                    }
                }
            }
            Fault::RemoveNode {
                node,
                wipe,
                rejoin_as,
            } => {
                self.ask(id, AdminOp::Remove(*node), cluster);
                self.stopping.insert(*node, id);
                self.members.remove(node);
                Applied::Removed {
                    node: *node,
                    wipe: *wipe,
                    rejoin_as: *rejoin_as,
                }
            }
            Fault::AddNonVoter {
                node,
                promote_after_ms,
            } => {
                cluster.launch(*node);
                self.ask(id, AdminOp::AddLearner(*node), cluster);
                if let Some(after) = promote_after_ms {
                    self.promotions.push((now_ms + after, id, *node));
                }
                self.members.insert(*node);
                Applied::NonVoter(*node)
            }
            Fault::Failpoint { target, point } => {
                let Some(nodes) = self.resolve(target, cluster) else {
                    return self.skip(now_ms, id, fault, "no node leads".into());
                };
                let node = nodes[0];
                cluster.arm_failpoint(node, *point);
                Applied::Failpoint {
                    node,
                    point: *point,
                    fired: false,
                }
            }
            Fault::TransferLeadership { to } => {
                self.ask(id, AdminOp::TransferLeadership(*to), cluster);
                let nodes = to.iter().copied().collect();
                self.span(now_ms, id, fault, nodes);
                let nodes = to.iter().copied().collect();
                self.record(now_ms, id, Phase::Inject, fault.name(), nodes, None);
                return;
            }
        };
        let nodes = applied_nodes(&applied);
        self.span(now_ms, id, fault, nodes.clone());
        self.record(now_ms, id, Phase::Inject, fault.name(), nodes, detail);
        self.active.insert(id, applied);
    }

    fn span(&mut self, now_ms: u64, id: FaultId, fault: &Fault, nodes: Vec<NodeId>) {
        self.spans.insert(
            id,
            FaultSpan {
                id,
                name: fault.name().to_string(),
                start_ns: now_ms * 1_000_000,
                end_ns: now_ms * 1_000_000,
                nodes: nodes.into_iter().collect(),
                aimed_at_leader: fault.targets_leader(),
            },
        );
    }

    fn heal(&mut self, now_ms: u64, id: FaultId, cluster: &mut impl Cluster) {
        let Some(applied) = self.active.remove(&id) else {
            // Skipped at injection: nothing to undo.
            return;
        };
        let nodes = applied_nodes(&applied);
        match applied {
            // Halted just now, not yet crashed: crash it first, so the heal
            // restarts it rather than leaving it halted.
            Applied::Failpoint {
                node, fired: false, ..
            } if cluster.failpoint_hit(node) => {
                if !self.removed.contains(&node) && !self.crashed.contains_key(&node) {
                    cluster.restart(node);
                    if self.paused.contains_key(&node) {
                        cluster.pause(node);
                    }
                }
            }
            Applied::Failpoint {
                node, fired: false, ..
            } => cluster.disarm_failpoint(node),
            Applied::Failpoint { node, .. } => {
                if dec(&mut self.crashed, node) && !self.removed.contains(&node) {
                    cluster.restart(node);
                    if self.paused.contains_key(&node) {
                        cluster.pause(node);
                    }
                }
            }
            Applied::Cut(links, _) => self.net.uncut_links(&links, cluster),
            Applied::Clog(links) => self.net.release_links(&links, cluster),
            Applied::Chaos(links) => self.net.remove_chaos(id, &links, cluster),
            Applied::Crash(ns) => {
                for n in ns {
                    if dec(&mut self.crashed, n) && !self.removed.contains(&n) {
                        cluster.restart(n);
                        if self.paused.contains_key(&n) {
                            cluster.pause(n);
                        }
                    }
                }
            }
            Applied::Pause(ns) => {
                for n in ns {
                    if dec(&mut self.paused, n) {
                        cluster.resume(n);
                    }
                }
            }
            Applied::Clock(ns) => {
                self.strobes.remove(&id);
                for n in ns {
                    cluster.clock_reset(n);
                }
            }
            Applied::Disk(n) => {
                if let Some(control) = cluster.disk(n) {
                    // I/O a stall held back goes on.
                    control.heal();
                }
                // A node that fail-stopped on the fault comes back.
                if !cluster.is_running(n)
                    && !self.crashed.contains_key(&n)
                    && !self.removed.contains(&n)
                {
                    cluster.restart(n);
                    if self.paused.contains_key(&n) {
                        cluster.pause(n);
                    }
                }
            }
            Applied::Removed {
                node,
                wipe,
                rejoin_as,
            } => {
                if wipe {
                    // The old identity is gone for good: still running
                    // while its removal is pending, it stops once the
                    // removal is in effect.
                    cluster.launch(rejoin_as);
                } else if self.stopping.get(&node) == Some(&id) {
                    // Never stopped: it stays up for its rejoin, which
                    // the operator starts after the removal ends.
                    self.stopping.remove(&node);
                } else if self.removed.remove(&node) && !self.crashed.contains_key(&node) {
                    cluster.restart(node);
                }
                self.ask(id, AdminOp::AddVoter(rejoin_as), cluster);
                self.members.insert(rejoin_as);
            }
            Applied::NonVoter(node) => {
                self.promotions.retain(|p| p.1 != id);
                self.ask(id, AdminOp::Remove(node), cluster);
                self.stopping.insert(node, id);
                self.members.remove(&node);
            }
        }
        if let Some(s) = self.spans.get_mut(&id) {
            s.end_ns = now_ms * 1_000_000;
        }
        let f = self
            .schedule
            .fault(id)
            .and_then(Fault::heal_name)
            .unwrap_or("heal");
        self.record(now_ms, id, Phase::Heal, f, nodes, None);
    }

    fn flip_strobe(&mut self, now_ms: u64, id: FaultId, cluster: &mut impl Cluster) {
        let Some(s) = self.strobes.get_mut(&id) else {
            return;
        };
        let delta = if s.shifted { -s.delta_ms } else { s.delta_ms };
        s.shifted = !s.shifted;
        s.next_ms += s.period_ms;
        // Never fall behind by more than one period: one flip per call.
        if s.next_ms <= now_ms {
            s.next_ms = now_ms + s.period_ms;
        }
        for &n in &s.nodes {
            cluster.clock_bump(n, delta);
        }
    }
}

/// What a request does to the voters, if it changes them.
fn voter_change(op: &AdminOp) -> Option<VoterChange> {
    match *op {
        AdminOp::AddVoter(n) | AdminOp::Promote(n) => Some(VoterChange::Join(n)),
        AdminOp::Remove(n) => Some(VoterChange::Leave(n)),
        AdminOp::AddLearner(_) | AdminOp::TransferLeadership(_) => None,
    }
}

/// The node an admin request is about, if any.
fn admin_nodes(op: &AdminOp) -> Vec<NodeId> {
    match *op {
        AdminOp::AddVoter(n)
        | AdminOp::AddLearner(n)
        | AdminOp::Promote(n)
        | AdminOp::Remove(n)
        | AdminOp::TransferLeadership(Some(n)) => vec![n],
        AdminOp::TransferLeadership(None) => vec![],
    }
}

fn applied_nodes(applied: &Applied) -> Vec<NodeId> {
    let from_links = |links: &mut dyn Iterator<Item = &Link>| -> Vec<NodeId> {
        let set: BTreeSet<NodeId> = links.flat_map(|l| [l.from, l.to]).collect();
        set.into_iter().collect()
    };
    match applied {
        Applied::Cut(_, hurt) => hurt.clone(),
        Applied::Clog(links) | Applied::Chaos(links) => from_links(&mut links.iter()),
        Applied::Crash(ns) | Applied::Pause(ns) | Applied::Clock(ns) => ns.clone(),
        Applied::Disk(n) | Applied::NonVoter(n) | Applied::Failpoint { node: n, .. } => vec![*n],
        Applied::Removed {
            node, rejoin_as, ..
        } => {
            let set: BTreeSet<NodeId> = [*node, *rejoin_as].into_iter().collect();
            set.into_iter().collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::network::tests::FakeNet;
    use faultline_nemesis::{CrashScope, Direction, Item, Partition};

    /// A cluster that only remembers what was done to it.
    #[derive(Default)]
    struct FakeCluster {
        net: FakeNet,
        leader: Option<NodeId>,
        running: BTreeMap<NodeId, bool>,
        paused: BTreeSet<NodeId>,
        clock: BTreeMap<NodeId, (i64, u32)>,
        disks: BTreeMap<NodeId, DiskControl>,
        admin: Vec<AdminOp>,
        log: Vec<String>,
        /// Nodes that halted at their armed failpoint, not yet reported.
        halted: BTreeSet<NodeId>,
    }

    impl NetOps for FakeCluster {
        fn cut(&mut self, from: NodeId, to: NodeId) {
            self.net.cut(from, to)
        }
        fn uncut(&mut self, from: NodeId, to: NodeId) {
            self.net.uncut(from, to)
        }
        fn hold(&mut self, a: NodeId, b: NodeId) {
            self.net.hold(a, b)
        }
        fn release(&mut self, a: NodeId, b: NodeId) {
            self.net.release(a, b)
        }
        fn set_chaos(&mut self, a: NodeId, b: NodeId, chaos: Option<(u64, u32)>) {
            self.net.set_chaos(a, b, chaos)
        }
    }

    impl Cluster for FakeCluster {
        fn leader(&mut self) -> Option<NodeId> {
            self.leader
        }
        fn is_running(&mut self, node: NodeId) -> bool {
            self.running.get(&node).copied().unwrap_or(true)
        }
        fn crash(&mut self, node: NodeId) {
            self.log.push(format!("crash {node}"));
            self.running.insert(node, false);
        }
        fn restart(&mut self, node: NodeId) {
            self.log.push(format!("restart {node}"));
            self.running.insert(node, true);
        }
        fn launch(&mut self, node: NodeId) {
            self.log.push(format!("launch {node}"));
            self.running.insert(node, true);
        }
        fn pause(&mut self, node: NodeId) {
            self.paused.insert(node);
        }
        fn resume(&mut self, node: NodeId) {
            self.paused.remove(&node);
        }
        fn clock_bump(&mut self, node: NodeId, delta_ms: i64) {
            self.clock.entry(node).or_insert((0, 1000)).0 += delta_ms;
        }
        fn clock_rate(&mut self, node: NodeId, rate_permille: u32) {
            self.clock.entry(node).or_insert((0, 1000)).1 = rate_permille;
        }
        fn clock_reset(&mut self, node: NodeId) {
            self.clock.insert(node, (0, 1000));
        }
        fn disk(&mut self, node: NodeId) -> Option<DiskControl> {
            Some(
                self.disks
                    .entry(node)
                    .or_insert_with(|| DiskControl::new("/data"))
                    .clone(),
            )
        }
        fn supports_membership(&self) -> bool {
            true
        }
        fn arm_failpoint(&mut self, node: NodeId, point: Failpoint) {
            self.log.push(format!("arm {node} {point}"));
        }
        fn disarm_failpoint(&mut self, node: NodeId) {
            self.log.push(format!("disarm {node}"));
        }
        fn failpoint_hit(&mut self, node: NodeId) -> bool {
            self.halted.remove(&node)
        }
        fn admin(&mut self, _id: FaultId, op: AdminOp) {
            self.admin.push(op);
        }
    }

    fn schedule(items: Vec<(u64, Action)>) -> Schedule {
        let s = Schedule {
            nodes: vec![1, 2, 3, 4, 5],
            end_ms: 1_000,
            items: items
                .into_iter()
                .map(|(at_ms, action)| Item { at_ms, action })
                .collect(),
        };
        s.validate().unwrap();
        s
    }

    fn inject(id: FaultId, fault: Fault) -> Action {
        Action::Inject { id, fault }
    }

    fn heal(id: FaultId) -> Action {
        Action::Heal { id }
    }

    fn run_to(n: &mut Nemesis, c: &mut FakeCluster, until: u64) {
        for t in 0..=until {
            n.step(t, c);
        }
    }

    #[test]
    fn overlapping_crash_and_pause_come_back_in_order() {
        let crash = |ids: Vec<NodeId>| Fault::Crash {
            targets: Target::Nodes(ids),
            scope: CrashScope::Minority,
            torn_block_bytes: None,
        };
        let s = schedule(vec![
            (10, inject(1, crash(vec![1, 2]))),
            (20, inject(2, crash(vec![2]))),
            (
                25,
                inject(
                    3,
                    Fault::Pause {
                        targets: Target::node(2),
                    },
                ),
            ),
            (30, heal(1)),
            (40, heal(2)),
            (50, heal(3)),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        run_to(&mut n, &mut c, 35);
        assert_eq!(c.log, vec!["crash 1", "crash 2", "restart 1"]);
        assert!(n.holds_down(2));
        run_to(&mut n, &mut c, 45);
        assert_eq!(c.log.last().unwrap(), "restart 2");
        assert!(c.paused.contains(&2), "a restarted node stays paused");
        run_to(&mut n, &mut c, 60);
        assert!(c.paused.is_empty());
        assert!(n.is_quiet());
        let phases: Vec<Phase> = n.records().iter().map(|r| r.phase).collect();
        assert_eq!(phases.iter().filter(|p| **p == Phase::Inject).count(), 3);
        assert_eq!(phases.iter().filter(|p| **p == Phase::Heal).count(), 3);
    }

    #[test]
    fn leader_targets_resolve_when_applied_or_are_skipped() {
        let s = schedule(vec![
            (
                10,
                inject(
                    1,
                    Fault::Partition {
                        cut: Partition::IsolateLeader {
                            direction: Direction::Both,
                        },
                    },
                ),
            ),
            (20, heal(1)),
            (
                30,
                inject(
                    2,
                    Fault::Pause {
                        targets: Target::Leader,
                    },
                ),
            ),
            (40, heal(2)),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        c.leader = Some(3);
        run_to(&mut n, &mut c, 15);
        assert_eq!(c.net.get(3, 1), "cut");
        assert_eq!(c.net.get(2, 3), "cut");
        assert_eq!(c.net.get(1, 2), "ok");
        assert_eq!(n.records()[0].nodes, vec![3]);
        run_to(&mut n, &mut c, 25);
        assert_eq!(c.net.get(3, 1), "ok");
        c.leader = None;
        run_to(&mut n, &mut c, 45);
        let skip = &n.records()[2];
        assert_eq!(skip.phase, Phase::Skip);
        assert!(skip.detail.as_deref().unwrap().contains("no node leads"));
        assert!(c.paused.is_empty());
        assert!(n.is_quiet());
        let spans = n.fault_spans(45);
        assert_eq!(spans.len(), 1);
        assert_eq!(
            (spans[0].start_ns, spans[0].end_ns),
            (10_000_000, 20_000_000)
        );
    }

    #[test]
    fn strobe_flips_and_reset_restores_true_time() {
        let s = schedule(vec![
            (
                100,
                inject(
                    1,
                    Fault::ClockStrobe {
                        targets: Target::node(4),
                        delta_ms: 500,
                        period_ms: 10,
                    },
                ),
            ),
            (135, heal(1)),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        run_to(&mut n, &mut c, 100);
        assert_eq!(c.clock[&4].0, 500);
        run_to(&mut n, &mut c, 110);
        assert_eq!(c.clock[&4].0, 0);
        run_to(&mut n, &mut c, 120);
        assert_eq!(c.clock[&4].0, 500);
        run_to(&mut n, &mut c, 200);
        assert_eq!(c.clock[&4], (0, 1000));
        assert_eq!(n.next_due_ms(), None);
    }

    #[test]
    fn membership_churn_goes_through_the_admin_client() {
        let s = schedule(vec![
            (
                10,
                inject(
                    1,
                    Fault::RemoveNode {
                        node: 2,
                        wipe: true,
                        rejoin_as: 6,
                    },
                ),
            ),
            (
                15,
                inject(
                    2,
                    Fault::AddNonVoter {
                        node: 7,
                        promote_after_ms: Some(5),
                    },
                ),
            ),
            (30, heal(1)),
            (40, heal(2)),
            (50, inject(3, Fault::TransferLeadership { to: Some(6) })),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        run_to(&mut n, &mut c, 12);
        assert!(n.is_stopping(2) && !n.is_removed(2));
        n.admin_ended(&done(12, 1, AdminOp::Remove(2)), &mut c);
        run_to(&mut n, &mut c, 45);
        n.admin_ended(&done(45, 2, AdminOp::Remove(7)), &mut c);
        run_to(&mut n, &mut c, 60);
        assert_eq!(
            c.admin,
            vec![
                AdminOp::Remove(2),
                AdminOp::AddLearner(7),
                AdminOp::Promote(7),
                AdminOp::AddVoter(6),
                AdminOp::Remove(7),
                AdminOp::TransferLeadership(Some(6)),
            ]
        );
        assert_eq!(c.log, vec!["crash 2", "launch 7", "launch 6", "crash 7"]);
        assert!(n.is_removed(2) && n.is_removed(7) && !n.is_removed(6));
        assert_eq!(
            n.members(),
            &BTreeSet::from([1, 3, 4, 5, 6]),
            "the schedule's membership after the churn"
        );
    }

    fn done(time_ms: u64, id: FaultId, op: AdminOp) -> crate::sim::admin::AdminOutcome {
        crate::sim::admin::AdminOutcome {
            time_ms,
            id,
            op,
            result: Ok("configuration: in effect".into()),
        }
    }

    /// Seed 641 of the 1,000-seed control: a removal stopped its node at
    /// once, before it was committed; with another voter already down for
    /// good, that left the old configuration without a quorum to commit
    /// the removal, for ever. A removed node now runs until the removal is
    /// in effect.
    #[test]
    fn a_removed_node_runs_until_its_removal_is_in_effect() {
        let s = schedule(vec![
            (
                10,
                inject(
                    1,
                    Fault::AddNonVoter {
                        node: 6,
                        promote_after_ms: Some(1),
                    },
                ),
            ),
            (
                20,
                inject(
                    2,
                    Fault::RemoveNode {
                        node: 3,
                        wipe: false,
                        rejoin_as: 3,
                    },
                ),
            ),
            (30, heal(1)),
            (50, heal(2)),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        run_to(&mut n, &mut c, 35);
        // Both removals are asked for; neither has taken effect, so both
        // nodes still run.
        assert_eq!(c.log, vec!["launch 6"]);
        assert!(c.is_running(3) && c.is_running(6));
        assert!(n.is_stopping(3) && n.is_stopping(6));
        n.admin_ended(&done(36, 1, AdminOp::Remove(6)), &mut c);
        assert!(!c.is_running(6) && n.is_removed(6));
        assert!(c.is_running(3), "node 3's removal is still pending");
        let stop = n.records().last().unwrap();
        assert_eq!(
            (stop.f.as_str(), stop.phase, &stop.nodes),
            ("stop", Phase::Step, &vec![6])
        );
        // The rejoin heal comes before node 3's removal took effect: node 3
        // was never stopped, so it is not restarted, and it is not stopped
        // when the removal ends (its re-add follows).
        run_to(&mut n, &mut c, 50);
        assert!(c.is_running(3) && !n.is_stopping(3));
        n.admin_ended(&done(52, 2, AdminOp::Remove(3)), &mut c);
        assert!(c.is_running(3) && !n.is_removed(3));
        assert_eq!(c.log, vec!["launch 6", "crash 6"]);
        assert_eq!(n.members(), &BTreeSet::from([1, 2, 3, 4, 5]));
    }

    #[test]
    fn a_failed_removal_keeps_the_node_running_and_a_member() {
        let s = schedule(vec![
            (
                10,
                inject(
                    1,
                    Fault::RemoveNode {
                        node: 2,
                        wipe: true,
                        rejoin_as: 6,
                    },
                ),
            ),
            (30, heal(1)),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        run_to(&mut n, &mut c, 20);
        let mut failed = done(20, 1, AdminOp::Remove(2));
        failed.result = Err("not done within 10000 ms: no node leads".into());
        n.admin_ended(&failed, &mut c);
        assert!(c.is_running(2) && !n.is_removed(2) && !n.is_stopping(2));
        assert_eq!(n.records().last().unwrap().phase, Phase::Failed);
        run_to(&mut n, &mut c, 30);
        assert_eq!(c.log, vec!["launch 6"]);
        assert_eq!(n.members(), &BTreeSet::from([1, 2, 3, 4, 5, 6]));
    }

    /// The schedule heals node 4's removal at 20 ms, but the operator has
    /// not reported it by 30 ms: a flip that could fail-stop a second node
    /// for good is skipped until node 4's place is settled (seed 26 of
    /// `--nemesis all,failpoint --swarm`).
    #[test]
    fn a_flip_waits_for_membership_changes_the_operator_has_not_settled() {
        let flip = |node| Fault::Disk {
            target: Target::node(node),
            disk: DiskFault::BitFlip {
                file: faultline_nemesis::StoredFile::Stable,
                flips: 1,
            },
        };
        let s = schedule(vec![
            (5, inject(1, flip(2))),
            (
                10,
                inject(
                    2,
                    Fault::RemoveNode {
                        node: 4,
                        wipe: false,
                        rejoin_as: 4,
                    },
                ),
            ),
            (20, heal(2)),
            (30, inject(3, flip(1))),
            (40, inject(4, flip(1))),
            (50, inject(5, flip(1))),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        let phase_of = |n: &Nemesis, id: FaultId| {
            n.records()
                .iter()
                .find(|r| r.id == id && matches!(r.phase, Phase::Inject | Phase::Skip))
                .map(|r| r.phase)
        };
        run_to(&mut n, &mut c, 30);
        assert_eq!(phase_of(&n, 1), Some(Phase::Inject));
        assert_eq!(phase_of(&n, 3), Some(Phase::Skip));
        let skip = n.records().last().unwrap();
        assert!(
            skip.detail
                .as_deref()
                .unwrap()
                .contains("short of a majority"),
            "{skip:?}"
        );
        assert!(!n.disk_faulted(1), "a skipped flip touches nothing");
        // The operator gives up on the removal, which may still commit.
        let mut failed = done(35, 2, AdminOp::Remove(4));
        failed.result = Err("not done within 10000 ms: accepted by node 4".into());
        n.admin_ended(&failed, &mut c);
        run_to(&mut n, &mut c, 40);
        assert_eq!(phase_of(&n, 4), Some(Phase::Skip));
        // The rejoin is in force: node 4 is a settled voter again.
        n.admin_ended(&done(45, 2, AdminOp::AddVoter(4)), &mut c);
        run_to(&mut n, &mut c, 50);
        assert_eq!(phase_of(&n, 5), Some(Phase::Inject));
        assert!(n.disk_faulted(1));
    }

    #[test]
    fn disk_faults_reach_the_control_and_heal_restarts_a_failed_node() {
        let s = schedule(vec![
            (
                10,
                inject(
                    1,
                    Fault::Disk {
                        target: Target::node(5),
                        disk: DiskFault::FsyncFail,
                    },
                ),
            ),
            (20, heal(1)),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        run_to(&mut n, &mut c, 10);
        assert_eq!(c.disks[&5].mode(), Some(DiskMode::FsyncFail));
        // The node fail-stops on the failed fsync.
        c.running.insert(5, false);
        run_to(&mut n, &mut c, 20);
        assert_eq!(c.disks[&5].mode(), None);
        assert_eq!(c.log, vec!["restart 5"]);
    }

    #[test]
    fn a_failpoint_crashes_its_node_when_reached_and_disarms_if_never_reached() {
        let fp = |point| Fault::Failpoint {
            target: Target::Leader,
            point,
        };
        let s = schedule(vec![
            (10, inject(1, fp(Failpoint::BeforeLeaderSend))),
            (50, heal(1)),
            (60, inject(2, fp(Failpoint::BeforeApply))),
            (90, heal(2)),
        ]);
        let mut n = Nemesis::new(s, 1);
        let mut c = FakeCluster {
            leader: Some(3),
            ..FakeCluster::default()
        };
        run_to(&mut n, &mut c, 20);
        assert_eq!(c.log, vec!["arm 3 before-leader-send"]);
        // Armed: watched every step, not only at scheduled times.
        assert_eq!(n.next_due_ms(), Some(0));
        c.halted.insert(3);
        n.step(21, &mut c);
        assert!(n.holds_down(3));
        assert_eq!(n.next_due_ms(), Some(50));
        let crash = n.records().last().unwrap();
        assert_eq!(
            (crash.f.as_str(), crash.phase),
            ("failpoint-crash", Phase::Step)
        );
        run_to(&mut n, &mut c, 100);
        assert_eq!(
            c.log,
            vec![
                "arm 3 before-leader-send",
                "crash 3",
                "restart 3",
                "arm 3 before-apply",
                "disarm 3"
            ]
        );
        assert!(n.is_quiet() && !n.holds_down(3));
    }

    #[test]
    fn heal_all_leaves_nothing_behind() {
        let s = schedule(vec![
            (
                10,
                inject(
                    1,
                    Fault::Clog {
                        links: vec![Link::new(1, 2), Link::new(3, 4)],
                    },
                ),
            ),
            (900, heal(1)),
        ]);
        let (mut n, mut c) = (Nemesis::new(s, 1), FakeCluster::default());
        run_to(&mut n, &mut c, 10);
        assert_eq!(c.net.get(2, 1), "hold");
        n.heal_all(11, &mut c);
        assert!(n.is_quiet());
        assert_eq!(c.net.get(2, 1), "ok");
        assert_eq!(c.net.releases, 2);
    }
}
