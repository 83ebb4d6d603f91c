//! A KV cluster under turmoil for the node tests: hosts `n1..nN` running
//! `kv::run_node` over SimNet and SimFs, one `Controls` per node kept across
//! restarts, and a scripted client whose progress the test gates.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use faultline::kv::{self, KvClient, KvState, Outcome};
use faultline::node::net::SimNet;
use faultline::node::storage::{FileSystem, SimFs};
use faultline::node::{Clock, Controls, NodeConfig};
use faultline::raft::{NodeId, Role};
use faultline_workloads::Op;

pub const RAFT_PORT: u16 = 7000;
pub const CLIENT_PORT: u16 = 7001;

pub fn host(id: NodeId) -> String {
    format!("n{id}")
}

pub struct Cluster {
    pub sim: turmoil::Sim<'static>,
    pub ids: Vec<NodeId>,
    pub controls: BTreeMap<NodeId, Controls>,
    pub transcript: String,
}

impl Cluster {
    /// `n` nodes on turmoil's disk; `tune` adjusts each node's configuration.
    pub fn new(n: u64, seed: u64, tune: impl Fn(&mut NodeConfig)) -> Cluster {
        Cluster::with_fs(n, seed, tune, |_| SimFs)
    }

    /// `n` nodes, node `id` on the file system `fs(id)`. A node that
    /// fail-stops ends its host quietly: its `Controls` say why.
    pub fn with_fs<F: FileSystem + Clone + 'static>(
        n: u64,
        seed: u64,
        tune: impl Fn(&mut NodeConfig),
        fs: impl Fn(NodeId) -> F,
    ) -> Cluster {
        faultline::node::logging::init();
        let sim = turmoil::Builder::new()
            .rng_seed(seed)
            .simulation_duration(Duration::from_secs(600))
            .build();
        let ids: Vec<NodeId> = (1..=n).collect();
        let peers: BTreeMap<NodeId, String> = ids
            .iter()
            .map(|&id| (id, format!("{}:{RAFT_PORT}", host(id))))
            .collect();
        let mut cluster = Cluster {
            sim,
            ids: ids.clone(),
            controls: BTreeMap::new(),
            transcript: String::new(),
        };
        for &id in &ids {
            let mut config =
                NodeConfig::new(id, "test", peers.clone(), RAFT_PORT, CLIENT_PORT, "/data");
            config.raft.seed = seed;
            tune(&mut config);
            let controls = Controls::new(id);
            cluster.controls.insert(id, controls.clone());
            let fs = fs(id);
            cluster.sim.host(host(id), move || {
                let (config, controls, fs) = (config.clone(), controls.clone(), fs.clone());
                async move {
                    // The error is in `controls.status().stopped`.
                    let _ = kv::run_node(config, SimNet, fs, Clock::new(), controls).await;
                    Ok(())
                }
            });
        }
        cluster
    }

    /// Client addresses of every node.
    pub fn client_nodes(&self) -> Vec<(NodeId, String)> {
        self.ids
            .iter()
            .map(|&id| (id, format!("{}:{CLIENT_PORT}", host(id))))
            .collect()
    }

    /// The leader of the highest term among running nodes, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.controls
            .values()
            .map(|c| c.status())
            .filter(|s| s.running && s.role == Role::Leader)
            .max_by_key(|s| s.term)
            .map(|s| s.id)
    }

    /// Step the simulation until `done` holds or `limit` of simulated time
    /// passes. Returns whether `done` held.
    pub fn step_until(&mut self, limit: Duration, mut done: impl FnMut(&Cluster) -> bool) -> bool {
        let end = self.sim.elapsed() + limit;
        while self.sim.elapsed() < end {
            if done(self) {
                return true;
            }
            self.sim.step().expect("simulation step");
        }
        done(self)
    }

    pub fn crash(&mut self, id: NodeId) {
        let _ = writeln!(self.transcript, "{:?} crash n{id}", self.sim.elapsed());
        self.sim.crash(host(id));
    }

    pub fn bounce(&mut self, id: NodeId) {
        let _ = writeln!(self.transcript, "{:?} bounce n{id}", self.sim.elapsed());
        self.sim.bounce(host(id));
    }

    pub fn note(&mut self, what: &str) {
        let _ = writeln!(self.transcript, "{:?} {what}", self.sim.elapsed());
    }

    /// Every node's KV state, decoded.
    pub fn states(&self) -> BTreeMap<NodeId, KvState> {
        self.controls
            .iter()
            .filter_map(|(&id, c)| {
                let image = c.state_image()?;
                let mut kv = KvState::default();
                kv.restore(&image).expect("a node's own image decodes");
                Some((id, kv))
            })
            .collect()
    }
}

/// A client running `ops` in order, each only once the test has allowed
/// it (`allowed` > its position); outcomes are appended to `log`.
pub struct ScriptedClient {
    pub allowed: Rc<Cell<usize>>,
    pub log: Rc<RefCell<Vec<(Op, Outcome)>>>,
}

impl ScriptedClient {
    pub fn start(cluster: &mut Cluster, name: &str, id: u64, ops: Vec<Op>) -> ScriptedClient {
        ScriptedClient::start_with_timeout(cluster, name, id, ops, Duration::from_secs(1))
    }

    /// As [`start`](Self::start), giving each operation `timeout`.
    pub fn start_with_timeout(
        cluster: &mut Cluster,
        name: &str,
        id: u64,
        ops: Vec<Op>,
        timeout: Duration,
    ) -> ScriptedClient {
        let allowed = Rc::new(Cell::new(0));
        let log: Rc<RefCell<Vec<(Op, Outcome)>>> = Rc::default();
        let nodes = cluster.client_nodes();
        let (gate, out) = (allowed.clone(), log.clone());
        cluster.sim.client(name, async move {
            let mut client = KvClient::new(SimNet, id, nodes, timeout);
            for (i, op) in ops.into_iter().enumerate() {
                while gate.get() <= i {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let outcome = client.call(&op).await;
                out.borrow_mut().push((op, outcome));
            }
            Ok(())
        });
        ScriptedClient { allowed, log }
    }

    pub fn done(&self) -> usize {
        self.log.borrow().len()
    }

    /// Allow `n` more operations and step until they have completed.
    pub fn run(&self, cluster: &mut Cluster, n: usize, limit: Duration) {
        let target = self.allowed.get() + n;
        self.allowed.set(target);
        let log = self.log.clone();
        let finished = cluster.step_until(limit, |_| log.borrow().len() >= target);
        assert!(finished, "{n} operations did not finish within {limit:?}");
        let entries: Vec<String> = log.borrow()[target - n..target]
            .iter()
            .map(|(op, outcome)| format!("{op:?} -> {outcome:?}"))
            .collect();
        for e in entries {
            cluster.note(&e);
        }
    }
}

pub fn write(key: &str, value: i64) -> Op {
    Op::Write {
        key: key.into(),
        value,
    }
}

pub fn read(key: &str) -> Op {
    Op::Read { key: key.into() }
}
