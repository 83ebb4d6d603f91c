//! The checks made while the run goes: Raft's invariants after every
//! simulation step (on each node's in-memory view, and across the views of
//! all nodes, a stopped node counting with the last view it had), and
//! durability across restarts (the term, vote and snapshot a node had
//! fsynced, it recovers), and the reasons a node fail-stopped.
//! The first violation is kept, with its time and node.

use std::collections::BTreeMap;

use crate::node::{DurableView, NodeStatus};
use crate::raft::invariants::{check_cluster_changed, check_node, NodeView};
use crate::raft::NodeId;
use crate::sim::committed::Ledger;

/// One node as the monitor last saw it.
#[derive(Default)]
struct Seen {
    /// The latest view (kept while the node is down).
    view: Option<NodeView>,
    /// Whether the latest view is from the current incarnation.
    live: bool,
    /// What was durable when the node was last seen running.
    durable: Option<DurableView>,
    /// The incarnation the latest view is from.
    incarnation: u64,
}

/// Why a node's incarnation fail-stopped, where that is for the monitor
/// to judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailStop {
    /// Data it had fsynced read back damaged after a crash.
    FoundCorrupt,
    /// Its storage refused what the core asked of it (an older snapshot
    /// than the stored one, a gap in the log).
    StorageRefused,
}

/// Checks invariants step by step.
#[derive(Default)]
pub struct Monitor {
    seen: BTreeMap<NodeId, Seen>,
    violation: Option<String>,
    checks: u64,
    /// What was ever seen committed, kept across restarts.
    ledger: Ledger,
}

impl Monitor {
    pub fn new() -> Monitor {
        Monitor::default()
    }

    /// The first violation found, if any.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Record a violation the run loop found outside the nodes' views
    /// (unless an earlier one is already kept).
    pub fn report(&mut self, time_ms: u64, node: NodeId, why: &str) {
        if self.violation.is_none() {
            self.violation = Some(format!("at {time_ms} ms, node {node}: {why}"));
        }
    }

    /// Judge a node that fail-stopped at `time_ms` for `cause` (`why`: the
    /// error it stopped on). `disk_faulted`: whether a disk fault was ever
    /// aimed at the node.
    ///
    /// A node that fsyncs what it acknowledges finds its synced data intact
    /// after any crash; damage there means it treated unsynced writes as
    /// durable. Storage refuses only what the core's own state should rule
    /// out, so a refusal means the core is at odds with its disk (the
    /// scenario tests judge it the same way). Either is a violation unless
    /// a disk fault (an I/O error, a full disk, a bit flip) touched the
    /// node, which explains both.
    pub fn fail_stopped(
        &mut self,
        time_ms: u64,
        node: NodeId,
        cause: FailStop,
        disk_faulted: bool,
        why: &str,
    ) {
        if disk_faulted {
            return;
        }
        let what = match cause {
            FailStop::FoundCorrupt => {
                "durability: after a crash the node found data it had fsynced damaged, \
                 with no disk fault injected"
            }
            FailStop::StorageRefused => {
                "storage accepts what the core asks: the node fail-stopped because \
                 its storage refused the core's request"
            }
        };
        self.report(time_ms, node, &format!("{what} ({why})"));
    }

    /// How many cluster-wide checks ran.
    pub fn checks(&self) -> u64 {
        self.checks
    }

    /// Look at every node after a step at `time_ms`.
    pub fn observe(&mut self, time_ms: u64, statuses: &BTreeMap<NodeId, NodeStatus>) {
        self.observe_changed(time_ms, statuses.values());
    }

    /// Look at the nodes whose status changed in a step at `time_ms`; the
    /// others are as last seen. Only the views that changed are checked on
    /// their own, and only pairs of views with one of them changed are
    /// checked together: the rest passed before, as they are.
    pub fn observe_changed<'a>(
        &mut self,
        time_ms: u64,
        statuses: impl IntoIterator<Item = &'a NodeStatus>,
    ) {
        if self.violation.is_some() {
            return;
        }
        let mut changed: Vec<NodeId> = Vec::new();
        let mut incarnations: Vec<u64> = Vec::new();
        for status in statuses {
            let id = status.id;
            let seen = self.seen.entry(id).or_default();
            let view = match (&status.view, status.running) {
                (Some(v), true) => v,
                _ => {
                    // Down: the next view is a new incarnation's.
                    seen.live = false;
                    continue;
                }
            };
            if seen.incarnation != status.incarnation {
                // Crashed and restarted within one step: still a restart.
                seen.live = false;
                seen.incarnation = status.incarnation;
            }
            if seen.live && seen.view.as_ref() == Some(view) {
                seen.durable = Some(status.durable.clone());
                continue;
            }
            changed.push(id);
            incarnations.push(status.incarnation);
            let restarted = !seen.live && seen.view.is_some();
            // Volatile state (commit, applied) restarts with the process,
            // so monotonicity is checked within one incarnation; across a
            // restart, the durability check below takes its place.
            let prev = if seen.live { seen.view.as_ref() } else { None };
            if let Err(v) = check_node(view, prev) {
                self.violation = Some(format!("at {time_ms} ms, node {id}: {v}"));
                return;
            }
            // Raft's Figure 2: persistent state is on stable storage before
            // the node answers anyone. The node publishes its view only after
            // a step's messages went out, so whatever the view holds of
            // term, vote and log must by then be fsynced.
            if let Err(why) = settled_durable(view, &status.durable) {
                self.violation = Some(format!("at {time_ms} ms, node {id}: durability: {why}"));
                return;
            }
            if restarted {
                if let Some(d) = &seen.durable {
                    if let Err(why) = recovered_durable(view, d) {
                        self.violation =
                            Some(format!("at {time_ms} ms, node {id}: durability: {why}"));
                        return;
                    }
                }
            }
            seen.view = Some(view.clone());
            seen.live = true;
            seen.durable = Some(status.durable.clone());
        }
        for (id, incarnation) in changed.iter().zip(&incarnations) {
            let Some(view) = self.seen.get(id).and_then(|s| s.view.as_ref()) else {
                continue;
            };
            let leaders = self.seen.values().filter_map(|s| s.view.as_ref());
            if let Err(v) = self.ledger.observe(view, *incarnation, leaders) {
                self.violation = Some(format!("at {time_ms} ms, node {id}: {v}"));
                return;
            }
        }
        if !changed.is_empty() {
            self.checks += 1;
            let (views, marks): (Vec<&NodeView>, Vec<bool>) = self
                .seen
                .iter()
                .filter_map(|(id, s)| Some((s.view.as_ref()?, changed.contains(id))))
                .unzip();
            if let Err(v) = check_cluster_changed(&views, &marks) {
                self.violation = Some(format!("at {time_ms} ms: {v}"));
            }
        }
    }
}

/// Whether what a running node has acted on is durable.
fn settled_durable(v: &NodeView, d: &DurableView) -> Result<(), String> {
    let hs = &d.hard_state;
    if (v.term, v.vote) != (hs.term, hs.vote) {
        return Err(format!(
            "the node acts in term {} with vote {:?}, but term {} with vote {:?} is what is fsynced",
            v.term, v.vote, hs.term, hs.vote
        ));
    }
    if v.last_index > d.synced_index.max(v.snapshot_index) {
        return Err(format!(
            "the node holds entries up to {}, but only up to {} are fsynced",
            v.last_index, d.synced_index
        ));
    }
    Ok(())
}

/// Whether a restarted node's first view keeps what it had made durable
/// before it went down.
fn recovered_durable(v: &NodeView, d: &DurableView) -> Result<(), String> {
    let hs = &d.hard_state;
    if v.term < hs.term {
        return Err(format!(
            "term {} was fsynced, the node came back with term {}",
            hs.term, v.term
        ));
    }
    if v.term == hs.term && hs.vote.is_some() && v.vote != hs.vote {
        return Err(format!(
            "vote {:?} in term {} was fsynced, the node came back with vote {:?}",
            hs.vote, hs.term, v.vote
        ));
    }
    // Log entries fsynced but not committed may be cut by a new leader as
    // soon as the node is back, so only the snapshot, which covers
    // committed entries alone, must be there.
    if v.snapshot_index < d.snapshot_index {
        return Err(format!(
            "a snapshot at {} was fsynced, the node came back with one at {}",
            d.snapshot_index, v.snapshot_index
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{HardState, Index, Role};

    /// A running follower of term 1 that has fsynced, committed and applied
    /// `commit` entries of term 1, in its `incarnation`.
    fn follower(commit: Index, incarnation: u64) -> NodeStatus {
        let view = NodeView {
            id: 1,
            role: Role::Follower,
            term: 1,
            vote: None,
            commit,
            applied: commit,
            last_index: 10,
            snapshot_index: 0,
            log: (1..=10).map(|i| (i, 1)).collect(),
            leader: None,
        };
        let mut s = NodeStatus::initial(1);
        s.view = Some(view);
        s.running = true;
        s.incarnation = incarnation;
        s.durable = DurableView {
            hard_state: HardState {
                term: 1,
                vote: None,
            },
            synced_index: 10,
            synced_term: 1,
            snapshot_index: 0,
        };
        s
    }

    fn observe(m: &mut Monitor, t: u64, s: NodeStatus) {
        m.observe(t, &BTreeMap::from([(s.id, s)]));
    }

    #[test]
    fn a_commit_index_going_back_within_one_process_is_a_violation() {
        let mut m = Monitor::new();
        observe(&mut m, 0, follower(8, 1));
        observe(&mut m, 10, follower(3, 1));
        let v = m.violation().expect("commit went back in one process");
        assert!(v.contains("node 1"), "{v}");
    }

    /// A crash and a restart inside one simulation step leave no stopped
    /// status between them: the new process starts with its volatile commit
    /// index back at what recovery gives it, which is no violation.
    #[test]
    fn a_restart_within_one_step_is_seen_by_its_incarnation() {
        let mut m = Monitor::new();
        observe(&mut m, 0, follower(8, 1));
        observe(&mut m, 10, follower(3, 2));
        assert_eq!(m.violation(), None);
    }

    const REFUSED: &str = "invalid storage request: a snapshot at 121 is older than the stored one";

    #[test]
    fn a_storage_refusal_on_a_node_no_disk_fault_touched_is_a_violation() {
        let mut m = Monitor::new();
        observe(&mut m, 0, follower(8, 1));
        m.fail_stopped(40, 1, FailStop::StorageRefused, false, REFUSED);
        let v = m.violation().expect("a refusal with a sound disk");
        assert!(v.starts_with("at 40 ms, node 1: "), "{v}");
        assert!(v.contains("storage accepts what the core asks"), "{v}");
        assert!(v.contains("older than the stored one"), "{v}");
    }

    /// A disk fault (a bit flip, a full disk) can leave storage that
    /// rightly refuses a request the core made in good faith: no verdict
    /// on the core.
    #[test]
    fn a_storage_refusal_on_a_node_a_disk_fault_touched_is_no_violation() {
        let mut m = Monitor::new();
        observe(&mut m, 0, follower(8, 1));
        m.fail_stopped(40, 1, FailStop::StorageRefused, true, REFUSED);
        assert_eq!(m.violation(), None);
        // The exemption is the node's alone: the next refusal, on a
        // node with a sound disk, is still judged.
        m.fail_stopped(50, 2, FailStop::StorageRefused, false, REFUSED);
        let v = m.violation().expect("node 2's disk was never faulted");
        assert!(v.starts_with("at 50 ms, node 2: storage accepts"), "{v}");
    }

    #[test]
    fn damaged_synced_data_is_a_violation_only_without_a_disk_fault() {
        let why = "log: bad checksum at offset 4096";
        let mut m = Monitor::new();
        m.fail_stopped(40, 3, FailStop::FoundCorrupt, true, why);
        assert_eq!(m.violation(), None);
        m.fail_stopped(60, 3, FailStop::FoundCorrupt, false, why);
        let v = m.violation().expect("damage with no disk fault");
        assert!(v.starts_with("at 60 ms, node 3: durability: "), "{v}");
        assert!(v.contains(why), "{v}");
    }
}
