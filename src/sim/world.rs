//! The simulated world: the turmoil `Sim` with one host per Raft node and
//! the handles the run keeps on each node across its restarts (controls,
//! disk, clock skew). Implements the nemesis's [`Cluster`] over them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::admin::{AdminDriver, AdminOutcome, AdminTimings, RequestQueue};
use super::config::RunConfig;
use super::disk::DiskControl;
use super::monitor::FailStop;
use super::nemesis::{AdminOp, Cluster};
use super::network::NetOps;
use crate::kv;
use crate::node::net::SimNet;
use crate::node::storage::{SimFs, StorageError};
use crate::node::{Clock, Controls, NodeConfig, NodeError, NodeStatus};
use crate::raft::{self, Configuration, NodeId, Role};
use faultline_nemesis::{Failpoint, FaultId};

pub const RAFT_PORT: u16 = 7000;
pub const CLIENT_PORT: u16 = 7001;
/// The cluster id every node's store is claimed for.
pub const CLUSTER_ID: &str = "faultline";
/// The host the clients run on.
pub const CLIENT_HOST: &str = "clients";

/// The turmoil host name of node `id`.
pub fn host(id: NodeId) -> String {
    format!("n{id}")
}

/// A node's data directory on its own simulated disk.
pub fn data_dir(id: NodeId) -> String {
    format!("/data/n{id}")
}

/// A change to a node's clock, applied inside its host (where the host's
/// own tokio clock is the time base).
#[derive(Clone, Copy, Debug)]
enum ClockCmd {
    Bump(i64),
    Rate(u32),
    Reset,
}

/// What the run keeps of one node across its incarnations.
pub struct NodeHandle {
    pub controls: Controls,
    pub disk: DiskControl,
    /// The clock skew in force (offset since the last reset, rate in ‰),
    /// re-applied when the node restarts: a machine's clock keeps its skew
    /// across a process restart.
    skew: Rc<Cell<(i64, u32)>>,
    clock_tx: Rc<RefCell<Option<mpsc::UnboundedSender<ClockCmd>>>>,
    /// The nemesis wants the node paused (re-applied after a restart,
    /// since a starting node resumes itself).
    want_paused: Arc<AtomicBool>,
    /// Why the node's last incarnation stopped, if it failed.
    pub failure: Rc<RefCell<Option<String>>>,
    /// Set when an incarnation fail-stopped for a cause the monitor judges:
    /// data it had fsynced read back damaged, or its storage refused what
    /// the core asked of it (a snapshot older than the stored one, a gap in
    /// the log). The run loop takes it.
    pub fail_stop: Rc<Cell<Option<FailStop>>>,
    /// The current incarnation's request queue, for admin requests.
    requests: Rc<RefCell<Option<RequestQueue>>>,
}

/// The simulation and its nodes.
pub struct World {
    pub sim: turmoil::Sim<'static>,
    pub nodes: BTreeMap<NodeId, NodeHandle>,
    node_template: BTreeMap<NodeId, NodeConfig>,
    base_max_latency: Duration,
    admin: AdminDriver,
    /// Each node's status as of the last [`World::refresh_statuses`], with
    /// its generation.
    seen: BTreeMap<NodeId, (u64, NodeStatus)>,
}

fn raft_config(config: &RunConfig, id: NodeId) -> raft::Config {
    let t = &config.raft;
    raft::Config {
        id,
        seed: raft::rng::node_seed(config.seed, id),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout: t.election_timeout_ms,
        commit_timeout: t.commit_timeout_ms,
        max_append_entries: t.max_append_entries,
        max_inflight: t.max_inflight,
        pre_vote: t.pre_vote,
        check_quorum: t.check_quorum,
        snapshot_threshold: t.snapshot_threshold,
        trailing_logs: t.trailing_logs,
        bugs: config.bugs,
        ..raft::Config::default()
    }
}

impl World {
    /// The simulation of `config`'s nodes, none of them started yet.
    pub fn new(config: &RunConfig) -> World {
        let s = &config.substrate;
        let mut builder = turmoil::Builder::new();
        builder
            // Fixed, so nothing in a run depends on when it ran.
            .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .simulation_duration(Duration::from_millis(config.horizon_ms() + 60_000))
            .tick_duration(Duration::from_millis(s.tick_ms))
            .min_message_latency(Duration::from_millis(s.min_latency_ms))
            .max_message_latency(Duration::from_millis(s.max_latency_ms))
            .tcp_capacity(s.tcp_capacity)
            .rng_seed(config.seed);
        if let Some(b) = s.torn_block_bytes {
            builder.fs().block_size(b);
        }
        let sim = builder.build();
        let ids = config.all_node_ids();
        let peers: BTreeMap<NodeId, String> = ids
            .iter()
            .map(|&id| (id, format!("{}:{RAFT_PORT}", host(id))))
            .collect();
        let initial = Configuration::with_voters(config.nodes.iter().copied());
        let node_template = ids
            .iter()
            .map(|&id| {
                let mut c = NodeConfig::new(
                    id,
                    CLUSTER_ID,
                    peers.clone(),
                    RAFT_PORT,
                    CLIENT_PORT,
                    data_dir(id),
                );
                c.raft = raft_config(config, id);
                c.rpc_timeout_ms = config.bounds.rpc_timeout_ms;
                c.bugs = config.bugs;
                // Nodes brought in later start outside the configuration
                // and learn it from the leader.
                c.initial_config = if config.nodes.contains(&id) {
                    initial.clone()
                } else {
                    Configuration::default()
                };
                (id, c)
            })
            .collect();
        World {
            sim,
            nodes: BTreeMap::new(),
            node_template,
            base_max_latency: Duration::from_millis(s.max_latency_ms),
            admin: AdminDriver::new(
                AdminTimings {
                    // As long as the cluster has to recover after the heal.
                    deadline_ms: config.bounds.liveness_ms,
                    answer_ms: config.bounds.rpc_timeout_ms,
                    retry_ms: config.raft.heartbeat_ms,
                    transfer_ms: 2 * config.raft.election_timeout_ms,
                },
                config.admin_concurrency,
            ),
            seen: BTreeMap::new(),
        }
    }

    /// Client addresses of every node the run may start.
    pub fn client_addrs(&self) -> Vec<(NodeId, String)> {
        self.node_template
            .keys()
            .map(|&id| (id, format!("{}:{CLIENT_PORT}", host(id))))
            .collect()
    }

    /// Register node `id`'s host and start it.
    pub fn start_node(&mut self, id: NodeId) {
        if self.nodes.contains_key(&id) {
            return;
        }
        let Some(config) = self.node_template.get(&id).cloned() else {
            return;
        };
        let handle = NodeHandle {
            controls: Controls::new(id),
            disk: DiskControl::new(data_dir(id)),
            skew: Rc::new(Cell::new((0, 1000))),
            clock_tx: Rc::default(),
            want_paused: Arc::new(AtomicBool::new(false)),
            failure: Rc::default(),
            fail_stop: Rc::default(),
            requests: Rc::default(),
        };
        let requests = handle.requests.clone();
        let fail_stop = handle.fail_stop.clone();
        let (controls, disk, skew, clock_tx, want_paused, failure) = (
            handle.controls.clone(),
            handle.disk.clone(),
            handle.skew.clone(),
            handle.clock_tx.clone(),
            handle.want_paused.clone(),
            handle.failure.clone(),
        );
        self.sim.host(host(id), move || {
            let (config, controls, disk) = (config.clone(), controls.clone(), disk.clone());
            let (skew, clock_tx, want_paused, failure, requests, fail_stop) = (
                skew.clone(),
                clock_tx.clone(),
                want_paused.clone(),
                failure.clone(),
                requests.clone(),
                fail_stop.clone(),
            );
            async move {
                disk.attach_current_host();
                // Made here so its time base is this incarnation's clock.
                let clock = Clock::new();
                let (offset, rate) = skew.get();
                if offset != 0 {
                    clock.bump(offset);
                }
                if rate != 1000 {
                    let _ = clock.set_rate(f64::from(rate) / 1000.0);
                }
                let (tx, mut rx) = mpsc::unbounded_channel();
                *clock_tx.borrow_mut() = Some(tx);
                let agent_clock = clock.clone();
                tokio::task::spawn_local(async move {
                    while let Some(cmd) = rx.recv().await {
                        match cmd {
                            ClockCmd::Bump(d) => agent_clock.bump(d),
                            ClockCmd::Rate(r) => {
                                let _ = agent_clock.set_rate(f64::from(r) / 1000.0);
                            }
                            ClockCmd::Reset => agent_clock.reset(),
                        }
                    }
                });
                let fs = disk.wrap(SimFs);
                let (tx, rx) = mpsc::channel(crate::node::REQUEST_QUEUE);
                *requests.borrow_mut() = Some(tx.clone());
                let node = tokio::task::spawn_local(kv::node::run_node_on(
                    config,
                    SimNet,
                    fs,
                    clock,
                    controls.clone(),
                    (tx, rx),
                ));
                // A starting node resumes itself; a node the nemesis holds
                // paused is paused again as soon as it has started.
                tokio::task::yield_now().await;
                if want_paused.load(Ordering::Relaxed) {
                    controls.pause();
                }
                match node.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        let cause = match e {
                            NodeError::Storage(StorageError::Corrupt { .. }) => {
                                Some(FailStop::FoundCorrupt)
                            }
                            NodeError::Storage(StorageError::Invalid { .. }) => {
                                Some(FailStop::StorageRefused)
                            }
                            _ => None,
                        };
                        if cause.is_some() {
                            fail_stop.set(cause);
                        }
                        *failure.borrow_mut() = Some(e.to_string())
                    }
                    Err(e) => *failure.borrow_mut() = Some(format!("node task: {e}")),
                }
                // Fail-stop: the host's software ends; the nemesis's heal
                // (or nothing) brings it back.
                Ok(())
            }
        });
        self.nodes.insert(id, handle);
    }

    /// Every started node's status.
    pub fn statuses(&self) -> BTreeMap<NodeId, NodeStatus> {
        self.nodes
            .iter()
            .map(|(&id, h)| (id, h.controls.status()))
            .collect()
    }

    /// Bring the cached statuses up to date; returns the nodes whose status
    /// changed since the last call (copying only theirs: the monitor looks
    /// after every step, and most steps change one node or none).
    pub fn refresh_statuses(&mut self) -> Vec<NodeId> {
        let mut changed = Vec::new();
        for (&id, h) in &self.nodes {
            let gen = self.seen.get(&id).map(|(g, _)| *g);
            // A fresh handle's generation 0 is news too.
            if let Some(fresh) = h.controls.status_since(gen.unwrap_or(u64::MAX)) {
                self.seen.insert(id, fresh);
                changed.push(id);
            }
        }
        changed
    }

    /// The statuses as of the last [`World::refresh_statuses`].
    pub fn cached_statuses(&self) -> impl Iterator<Item = &NodeStatus> {
        self.seen.values().map(|(_, s)| s)
    }

    /// Node `id`'s status as of the last [`World::refresh_statuses`].
    pub fn cached_status(&self, id: NodeId) -> Option<&NodeStatus> {
        self.seen.get(&id).map(|(_, s)| s)
    }

    /// Move the admin requests on; returns those that ended.
    pub fn drive_admin(&mut self, now_ms: u64) -> Vec<AdminOutcome> {
        if self.admin.is_idle() {
            return Vec::new();
        }
        let statuses = self.statuses();
        let queues: BTreeMap<NodeId, RequestQueue> = self
            .nodes
            .iter()
            .filter_map(|(&id, h)| h.requests.borrow().clone().map(|q| (id, q)))
            .collect();
        self.admin.drive(now_ms, &statuses, &queues)
    }

    /// End every admin request now with `why` (see [`AdminDriver::abandon`]).
    pub fn abandon_admin(&mut self, now_ms: u64, why: &str) -> Vec<AdminOutcome> {
        self.admin.abandon(now_ms, why)
    }

    /// Whether every admin request has ended.
    pub fn admin_idle(&self) -> bool {
        self.admin.is_idle()
    }

    fn send_clock(&mut self, node: NodeId, cmd: ClockCmd) {
        let Some(h) = self.nodes.get(&node) else {
            return;
        };
        let (offset, rate) = h.skew.get();
        h.skew.set(match cmd {
            ClockCmd::Bump(d) => (offset + d, rate),
            ClockCmd::Rate(r) => (offset, r),
            ClockCmd::Reset => (0, 1000),
        });
        if let Some(tx) = h.clock_tx.borrow().as_ref() {
            // A stopped incarnation's agent is gone; the skew above is
            // applied when it restarts.
            let _ = tx.send(cmd);
        }
    }
}

impl World {
    /// Whether both nodes have hosts (a link fault naming a node that was
    /// never started, e.g. one a skipped membership change would have
    /// brought in, has nothing to act on).
    fn both_started(&self, a: NodeId, b: NodeId) -> bool {
        self.nodes.contains_key(&a) && self.nodes.contains_key(&b)
    }
}

impl NetOps for World {
    fn cut(&mut self, from: NodeId, to: NodeId) {
        if self.both_started(from, to) {
            self.sim.partition_oneway(host(from), host(to));
        }
    }
    fn uncut(&mut self, from: NodeId, to: NodeId) {
        if self.both_started(from, to) {
            self.sim.repair_oneway(host(from), host(to));
        }
    }
    fn hold(&mut self, a: NodeId, b: NodeId) {
        if self.both_started(a, b) {
            self.sim.hold(host(a), host(b));
        }
    }
    fn release(&mut self, a: NodeId, b: NodeId) {
        if self.both_started(a, b) {
            self.sim.release(host(a), host(b));
        }
    }
    fn set_chaos(&mut self, a: NodeId, b: NodeId, chaos: Option<(u64, u32)>) {
        if !self.both_started(a, b) {
            return;
        }
        // turmoil sets a link's maximum latency but not its minimum, and
        // loses messages by breaking the link for one message (and what is
        // in flight on it), both directions at once: what a lossy link
        // does to TCP streams that do not retransmit.
        let (latency, loss) = match chaos {
            Some((max_ms, permille)) => (
                Duration::from_millis(max_ms).max(self.base_max_latency),
                f64::from(permille) / 1000.0,
            ),
            None => (self.base_max_latency, 0.0),
        };
        self.sim
            .set_link_max_message_latency(host(a), host(b), latency);
        self.sim.set_link_fail_rate(host(a), host(b), loss);
    }
}

impl Cluster for World {
    fn leader(&mut self) -> Option<NodeId> {
        self.nodes
            .values()
            .map(|h| h.controls.status())
            .filter(|s| s.running && !s.paused && s.role == Role::Leader)
            .max_by_key(|s| s.term)
            .map(|s| s.id)
    }

    fn is_running(&mut self, node: NodeId) -> bool {
        self.nodes.contains_key(&node) && self.sim.is_host_running(host(node))
    }

    fn crash(&mut self, node: NodeId) {
        if self.nodes.contains_key(&node) {
            self.sim.crash(host(node));
        }
    }

    fn restart(&mut self, node: NodeId) {
        if let Some(h) = self.nodes.get(&node) {
            h.failure.borrow_mut().take();
            *h.clock_tx.borrow_mut() = None;
            // A power cut first: what the last incarnation did not fsync
            // is gone.
            self.sim.crash(host(node));
            self.sim.bounce(host(node));
        }
    }

    fn launch(&mut self, node: NodeId) {
        self.start_node(node);
    }

    fn pause(&mut self, node: NodeId) {
        if let Some(h) = self.nodes.get(&node) {
            h.want_paused.store(true, Ordering::Relaxed);
            h.controls.pause();
        }
    }

    fn resume(&mut self, node: NodeId) {
        if let Some(h) = self.nodes.get(&node) {
            h.want_paused.store(false, Ordering::Relaxed);
            h.controls.resume();
        }
    }

    fn clock_bump(&mut self, node: NodeId, delta_ms: i64) {
        self.send_clock(node, ClockCmd::Bump(delta_ms));
    }

    fn clock_rate(&mut self, node: NodeId, rate_permille: u32) {
        self.send_clock(node, ClockCmd::Rate(rate_permille));
    }

    fn clock_reset(&mut self, node: NodeId) {
        self.send_clock(node, ClockCmd::Reset);
    }

    fn disk(&mut self, node: NodeId) -> Option<DiskControl> {
        self.nodes.get(&node).map(|h| h.disk.clone())
    }

    fn supports_membership(&self) -> bool {
        true
    }

    fn admin(&mut self, id: FaultId, op: AdminOp) {
        self.admin.submit(id, op);
    }

    fn arm_failpoint(&mut self, node: NodeId, point: Failpoint) {
        if let Some(h) = self.nodes.get(&node) {
            h.controls.arm_failpoint(point);
        }
    }

    fn disarm_failpoint(&mut self, node: NodeId) {
        if let Some(h) = self.nodes.get(&node) {
            h.controls.disarm_failpoint();
        }
    }

    fn failpoint_hit(&mut self, node: NodeId) -> bool {
        self.nodes
            .get(&node)
            .is_some_and(|h| h.controls.take_failpoint_hit().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::rng::SplitMix64;
    use crate::sim::config::RunOptions;

    /// The seeds the world hands its nodes must give each node its own
    /// election timeouts: the core folds the id in too, and a seed that
    /// already had it folded in the same way cancelled it, so every node
    /// drew the very same timeouts.
    #[test]
    fn the_nodes_of_a_run_draw_different_election_timeouts() {
        for seed in 0..20 {
            let config = RunConfig::from_seed(seed, &RunOptions::default()).unwrap();
            let draws: Vec<Vec<u64>> = config
                .nodes
                .iter()
                .map(|&id| {
                    let mut rng = SplitMix64::for_node(raft_config(&config, id).seed, id);
                    (0..16).map(|_| rng.below(300)).collect()
                })
                .collect();
            for (i, a) in draws.iter().enumerate() {
                for b in &draws[i + 1..] {
                    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
                    assert!(same < 4, "seed {seed}: {same} of 16 timeouts equal");
                }
            }
        }
    }
}
