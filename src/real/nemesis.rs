//! Faults on real processes: kill -9 and restart, SIGSTOP / SIGCONT, and
//! partitions through each node's failpoint (`PUT /admin/partition`),
//! applied from a seeded schedule ([`faultline_nemesis::Schedule`]).
//!
//! A partition cuts directed links; link `a -> b` is cut by telling `a` to
//! drop what it sends to `b`. A killed node forgets its failpoint and a
//! stopped one cannot be told, so the wanted cut per node is kept here and
//! pushed to every node that is up and not stopped, after every action and
//! on every [`RealNemesis::sync`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::client::HttpClient;
use super::process::LocalCluster;
use super::recorder::Recorder;
use crate::raft::NodeId;
use faultline_nemesis::{Action, Fault, FaultId, FaultKind, Link, Target};

/// The fault families a real run can inject.
pub const SUPPORTED: [FaultKind; 3] = [FaultKind::Crash, FaultKind::Pause, FaultKind::Partition];

/// What an injected fault did, for its heal.
enum Applied {
    Killed(Vec<NodeId>),
    Paused(Vec<NodeId>),
    Cut(BTreeSet<Link>),
    Skipped,
}

pub struct RealNemesis {
    client: HttpClient,
    recorder: Recorder,
    active: BTreeMap<FaultId, Applied>,
    /// Each node's failpoint as last acknowledged by it.
    pushed: BTreeMap<NodeId, BTreeSet<NodeId>>,
    /// Every fault and heal as applied, for the report.
    pub log: Vec<Json>,
}

impl RealNemesis {
    pub fn new(recorder: Recorder) -> RealNemesis {
        RealNemesis {
            client: HttpClient::new(Duration::from_millis(500)),
            recorder,
            active: BTreeMap::new(),
            pushed: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn note(&mut self, at_ms: u64, f: &str, value: Json) {
        self.recorder.nemesis(f, value.clone());
        self.log
            .push(json!({ "at_ms": at_ms, "f": f, "value": value }));
    }

    /// The running node that says it leads with the highest term.
    fn leader(&self, cluster: &mut LocalCluster) -> Option<NodeId> {
        let mut best: Option<(u64, NodeId)> = None;
        let ids: Vec<NodeId> = cluster.nodes.keys().copied().collect();
        for id in ids {
            let p = cluster.nodes.get_mut(&id)?;
            if !p.is_running() || p.is_paused() {
                continue;
            }
            if let Ok(s) = self.client.status(p.spec.http) {
                if s["role"] == "leader" {
                    let term = s["term"].as_u64().unwrap_or(0);
                    if best.is_none_or(|(t, _)| term > t) {
                        best = Some((term, id));
                    }
                }
            }
        }
        best.map(|(_, id)| id)
    }

    fn resolve(&self, target: &Target, cluster: &mut LocalCluster) -> Vec<NodeId> {
        match target {
            Target::Nodes(ids) => ids
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            Target::Leader => self.leader(cluster).into_iter().collect(),
        }
    }

    /// Carry out one schedule action at `at_ms` into the run.
    pub fn apply(&mut self, at_ms: u64, action: &Action, cluster: &mut LocalCluster) {
        match action {
            Action::Inject { id, fault } => {
                let applied = self.inject(at_ms, fault, cluster);
                self.active.insert(*id, applied);
            }
            Action::Heal { id } => {
                if let Some(applied) = self.active.remove(id) {
                    self.heal(at_ms, applied, cluster);
                }
            }
        }
        self.sync(cluster);
    }

    fn inject(&mut self, at_ms: u64, fault: &Fault, cluster: &mut LocalCluster) -> Applied {
        match fault {
            Fault::Crash { targets, .. } => {
                let ids = self.resolve(targets, cluster);
                let mut done = Vec::new();
                for id in ids {
                    match cluster.node(id).and_then(|p| p.kill()) {
                        Ok(()) => done.push(id),
                        Err(e) => tracing::warn!(id, error = %e, "kill failed"),
                    }
                    self.pushed.remove(&id);
                }
                self.record_or_skip(at_ms, "kill", &done, Applied::Killed(done.clone()))
            }
            Fault::Pause { targets } => {
                let ids = self.resolve(targets, cluster);
                let mut done = Vec::new();
                for id in ids {
                    let ok = cluster
                        .node(id)
                        .map(|p| p.is_running() && p.pause().is_ok())
                        .unwrap_or(false);
                    if ok {
                        done.push(id);
                    }
                }
                self.record_or_skip(at_ms, "pause", &done, Applied::Paused(done.clone()))
            }
            Fault::Partition { cut } => {
                let members: Vec<NodeId> = cluster.nodes.keys().copied().collect();
                let leader = if cut.targets_leader() {
                    self.leader(cluster)
                } else {
                    None
                };
                match cut.links(&members, leader) {
                    Ok(links) => {
                        let value = json!({
                            "shape": cut.shape_name(),
                            "links": links.iter().map(|l| [l.from, l.to]).collect::<Vec<_>>(),
                        });
                        self.note(at_ms, "partition", value);
                        Applied::Cut(links)
                    }
                    Err(e) => {
                        self.note(
                            at_ms,
                            "skip",
                            json!({ "fault": "partition", "why": format!("{e:?}") }),
                        );
                        Applied::Skipped
                    }
                }
            }
            other => {
                self.note(at_ms, "skip", json!({ "fault": other.kind().name(), "why": "not supported on real processes" }));
                Applied::Skipped
            }
        }
    }

    fn record_or_skip(
        &mut self,
        at_ms: u64,
        f: &str,
        done: &[NodeId],
        applied: Applied,
    ) -> Applied {
        if done.is_empty() {
            self.note(
                at_ms,
                "skip",
                json!({ "fault": f, "why": "no target was up" }),
            );
            Applied::Skipped
        } else {
            self.note(at_ms, f, json!(done));
            applied
        }
    }

    fn heal(&mut self, at_ms: u64, applied: Applied, cluster: &mut LocalCluster) {
        match applied {
            Applied::Killed(ids) => {
                for &id in &ids {
                    if let Err(e) = cluster.ensure_started(id) {
                        tracing::error!(id, error = %e, "restart failed");
                    }
                    self.pushed.insert(id, BTreeSet::new());
                }
                self.note(at_ms, "restart", json!(ids));
            }
            Applied::Paused(ids) => {
                for &id in &ids {
                    if let Ok(p) = cluster.node(id) {
                        let _ = p.resume();
                    }
                }
                self.note(at_ms, "resume", json!(ids));
            }
            Applied::Cut(links) => {
                let value = json!(links.iter().map(|l| [l.from, l.to]).collect::<Vec<_>>());
                self.note(at_ms, "heal-partition", value);
            }
            Applied::Skipped => {}
        }
    }

    /// Heal everything still active (the end of the fault phase).
    pub fn heal_all(&mut self, at_ms: u64, cluster: &mut LocalCluster) {
        let ids: Vec<FaultId> = self.active.keys().copied().collect();
        for id in ids {
            if let Some(applied) = self.active.remove(&id) {
                self.heal(at_ms, applied, cluster);
            }
        }
        // Whatever else is down (a node that exited on its own) comes back too.
        let all: Vec<NodeId> = cluster.nodes.keys().copied().collect();
        for id in all {
            if let Ok(p) = cluster.node(id) {
                if p.is_paused() {
                    let _ = p.resume();
                }
            }
        }
        self.sync(cluster);
    }

    /// The cut each node should apply now: the union of active partitions.
    fn wanted(&self, id: NodeId) -> BTreeSet<NodeId> {
        self.active
            .values()
            .filter_map(|a| match a {
                Applied::Cut(links) => Some(links),
                _ => None,
            })
            .flatten()
            .filter(|l| l.from == id)
            .map(|l| l.to)
            .collect()
    }

    /// Push each reachable node's wanted cut if it differs from what it
    /// last acknowledged.
    pub fn sync(&mut self, cluster: &mut LocalCluster) {
        let ids: Vec<NodeId> = cluster.nodes.keys().copied().collect();
        for id in ids {
            let want = self.wanted(id);
            let Ok(p) = cluster.node(id) else { continue };
            if !p.is_running() || p.is_paused() {
                continue;
            }
            // A node that was never told anything drops nothing.
            let have = self.pushed.get(&id).cloned().unwrap_or_default();
            if have == want {
                continue;
            }
            let body = json!({ "drop_to": want });
            match self
                .client
                .call(p.spec.http, "PUT", "/admin/partition", Some(&body))
            {
                Ok((200, _)) => {
                    self.pushed.insert(id, want);
                }
                other => tracing::debug!(id, ?other, "failpoint not set yet; will retry"),
            }
        }
    }
}
