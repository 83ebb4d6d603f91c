//! [`Controls`]: the handle a harness holds on a running node: pause and
//! resume it (a SIGSTOP / SIGCONT), and read its status probe, which the
//! node refreshes after every step of its loop.
//!
//! The handle outlives the node's task, so a harness can keep one per node
//! across crashes and restarts; a node starts running (not paused).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use faultline_nemesis::Failpoint;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::service::StateMachine;
use super::transport::DropList;
use crate::raft::invariants::NodeView;
use crate::raft::{Configuration, HardState, Index, NodeId, Role, Term};

/// What is on disk, as the node's store knows it: for durability checks
/// against what the node has acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurableView {
    pub hard_state: HardState,
    /// The last log entry fsynced, and its term.
    pub synced_index: Index,
    pub synced_term: Term,
    /// The stored snapshot's last index (0: none).
    pub snapshot_index: Index,
}

/// A node's state as of its latest step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub role: Role,
    pub term: Term,
    pub leader: Option<NodeId>,
    pub commit: Index,
    pub applied: Index,
    pub last_index: Index,
    /// The core's full view, for the per-step Raft invariants.
    pub view: Option<NodeView>,
    pub durable: DurableView,
    pub paused: bool,
    /// Whether the node's loop is running (false before recovery finishes
    /// and after it stops).
    pub running: bool,
    /// Why the node stopped, if it did (fail-stop on a storage error).
    pub stopped: Option<String>,
    /// The membership as of the latest step.
    pub config: Configuration,
    /// How many times the node's process has started: a harness that
    /// looks only between simulation steps may miss the stop between two
    /// incarnations (a crash and a restart in one step), not this.
    #[serde(default)]
    pub incarnation: u64,
}

impl NodeStatus {
    pub(crate) fn initial(id: NodeId) -> NodeStatus {
        NodeStatus {
            id,
            role: Role::Follower,
            term: 0,
            leader: None,
            commit: 0,
            applied: 0,
            last_index: 0,
            view: None,
            durable: DurableView::default(),
            paused: false,
            running: false,
            stopped: None,
            config: Configuration::default(),
            incarnation: 0,
        }
    }
}

/// Read access to a node's state machine, whatever its type.
pub trait StateProbe: Send {
    /// The whole state as the state machine's snapshot bytes.
    fn image(&self) -> Vec<u8>;
}

impl<S: StateMachine> StateProbe for S {
    fn image(&self) -> Vec<u8> {
        self.snapshot()
    }
}

/// The status and how many times it has been replaced or changed, so an
/// observer polling every step can skip a node whose status is as it was.
struct Published {
    status: NodeStatus,
    generation: u64,
    /// The current incarnation, stamped on every status it publishes.
    incarnation: u64,
}

/// The failpoint armed on a node, and the one it stopped at.
#[derive(Default)]
struct Failpoints {
    armed: Option<Failpoint>,
    hit: Option<Failpoint>,
}

struct Shared {
    paused: watch::Sender<bool>,
    failpoints: Mutex<Failpoints>,
    status: Mutex<Published>,
    state: Mutex<Option<Arc<Mutex<dyn StateProbe>>>>,
    drop_to: DropList,
}

/// A cloneable handle on one node.
#[derive(Clone)]
pub struct Controls {
    shared: Arc<Shared>,
}

impl Controls {
    pub fn new(id: NodeId) -> Controls {
        Controls {
            shared: Arc::new(Shared {
                paused: watch::Sender::new(false),
                failpoints: Mutex::default(),
                status: Mutex::new(Published {
                    status: NodeStatus::initial(id),
                    generation: 0,
                    incarnation: 0,
                }),
                state: Mutex::new(None),
                drop_to: DropList::default(),
            }),
        }
    }

    fn status_lock(&self) -> MutexGuard<'_, Published> {
        self.shared.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Change the status, counting the change.
    fn update(&self, f: impl FnOnce(&mut NodeStatus)) {
        let mut p = self.status_lock();
        f(&mut p.status);
        p.generation += 1;
    }

    /// Stop the node's loop: it processes nothing and its timers do not
    /// fire; messages and requests queue (bounded) meanwhile.
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
        self.update(|s| s.paused = true);
    }

    /// Let a paused node run again. Its clock kept running, as a stopped
    /// process's does, so overdue timers fire at once.
    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
        self.update(|s| s.paused = false);
    }

    pub fn is_paused(&self) -> bool {
        *self.shared.paused.borrow()
    }

    /// The node's state as of its latest step.
    pub fn status(&self) -> NodeStatus {
        self.status_lock().status.clone()
    }

    /// How many times the status has changed (it may be set to an equal
    /// value): equal generations mean an equal status.
    pub fn generation(&self) -> u64 {
        self.status_lock().generation
    }

    /// The status and its generation, unless the generation is still
    /// `seen` (the caller's copy is current).
    pub fn status_since(&self, seen: u64) -> Option<(u64, NodeStatus)> {
        let p = self.status_lock();
        (p.generation != seen).then(|| (p.generation, p.status.clone()))
    }

    /// What the node's store holds durably as of its latest step.
    pub fn durable_view(&self) -> DurableView {
        self.status_lock().status.durable.clone()
    }

    /// The state machine's current contents as snapshot bytes (applied up
    /// to `status().applied`), or `None` before the node has recovered.
    pub fn state_image(&self) -> Option<Vec<u8>> {
        let probe = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let sm = probe.lock().unwrap_or_else(|p| p.into_inner());
        Some(sm.image())
    }

    /// A partition failpoint for real processes: the node's transport
    /// drops every message it would send to `peers` (empty: none). The
    /// simulation cuts links in turmoil instead.
    pub fn block_peers(&self, peers: BTreeSet<NodeId>) {
        self.shared.drop_to.set(peers);
    }

    pub fn blocked_peers(&self) -> BTreeSet<NodeId> {
        self.shared.drop_to.get()
    }

    fn failpoints(&self) -> MutexGuard<'_, Failpoints> {
        self.shared
            .failpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Arm `point` (replacing any armed one): the node stops its loop the
    /// next time it reaches the point, and waits there for the harness to
    /// crash it ([`Controls::take_failpoint_hit`]). It stays armed across
    /// restarts until it is reached or disarmed.
    pub fn arm_failpoint(&self, point: Failpoint) {
        self.failpoints().armed = Some(point);
    }

    /// Disarm the failpoint, if one is armed.
    pub fn disarm_failpoint(&self) {
        self.failpoints().armed = None;
    }

    /// The point the node stopped at, if it did since the last call.
    pub fn take_failpoint_hit(&self) -> Option<Failpoint> {
        self.failpoints().hit.take()
    }

    /// Called by the node at `point`: whether it must stop there (the
    /// point was armed; it is disarmed now, so it fires once).
    pub(crate) fn reach(&self, point: Failpoint) -> bool {
        let mut f = self.failpoints();
        if f.armed != Some(point) {
            return false;
        }
        f.armed = None;
        f.hit = Some(point);
        true
    }

    pub(crate) fn drop_list(&self) -> DropList {
        self.shared.drop_to.clone()
    }

    /// Whether the node got through recovery: its storage opened and its
    /// state machine was restored (it may have stopped since).
    pub fn has_recovered(&self) -> bool {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    pub(crate) fn attach_state(&self, probe: Arc<Mutex<dyn StateProbe>>) {
        *self.shared.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(probe);
    }

    pub(crate) fn subscribe_paused(&self) -> watch::Receiver<bool> {
        self.shared.paused.subscribe()
    }

    /// Replace the status; an equal one is not a change (the loop
    /// publishes after every wake, most of which change nothing).
    pub(crate) fn publish(&self, mut status: NodeStatus) {
        let mut p = self.status_lock();
        status.incarnation = p.incarnation;
        if p.status != status {
            p.status = status;
            p.generation += 1;
        }
    }

    /// A new process of the node starts.
    pub(crate) fn begin_incarnation(&self) {
        self.status_lock().incarnation += 1;
    }

    pub(crate) fn mark_stopped_unless_failed(&self) {
        self.update(|s| {
            s.running = false;
            s.view = None;
        });
    }

    pub(crate) fn mark_stopped(&self, why: Option<String>) {
        self.update(|s| {
            s.running = false;
            s.stopped = why;
            s.view = None;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_failpoint_fires_once_and_only_at_its_own_point() {
        let c = Controls::new(1);
        c.arm_failpoint(Failpoint::BeforeApply);
        assert!(!c.reach(Failpoint::BeforeSave));
        assert!(!c.reach(Failpoint::BeforeApplySnapshot));
        assert_eq!(c.take_failpoint_hit(), None);
        assert!(c.reach(Failpoint::BeforeApply));
        assert_eq!(c.take_failpoint_hit(), Some(Failpoint::BeforeApply));
        assert_eq!(c.take_failpoint_hit(), None, "a hit is taken once");
        // Fired, it is disarmed: the restarted node passes the point.
        assert!(!c.reach(Failpoint::BeforeApply));
        assert_eq!(c.take_failpoint_hit(), None);
    }

    #[test]
    fn arming_replaces_the_armed_point_and_disarming_clears_it() {
        let c = Controls::new(1);
        c.arm_failpoint(Failpoint::BeforeSave);
        c.arm_failpoint(Failpoint::AfterSave);
        assert!(!c.reach(Failpoint::BeforeSave));
        assert!(c.reach(Failpoint::AfterSave));
        c.arm_failpoint(Failpoint::BeforeApplySnapshot);
        c.disarm_failpoint();
        assert!(!c.reach(Failpoint::BeforeApplySnapshot));
        assert_eq!(c.take_failpoint_hit(), Some(Failpoint::AfterSave));
        assert_eq!(c.take_failpoint_hit(), None);
    }

    /// The harness arms a node once; a crash and restart before the point
    /// is reached (a new incarnation behind the same handle) keep it armed.
    #[test]
    fn an_armed_failpoint_stays_armed_across_a_restart() {
        let harness = Controls::new(1);
        harness.arm_failpoint(Failpoint::BeforeLeaderSend);
        let node = harness.clone();
        node.begin_incarnation();
        assert!(node.reach(Failpoint::BeforeLeaderSend));
        assert_eq!(
            harness.take_failpoint_hit(),
            Some(Failpoint::BeforeLeaderSend)
        );
    }

    /// A new process whose first status equals the last one's (a crash and
    /// a restart within one step of the harness) is still a change the
    /// harness sees, by its incarnation; an equal status within one
    /// process is not.
    #[test]
    fn a_restart_changes_the_status_even_when_nothing_else_does() {
        let c = Controls::new(1);
        c.begin_incarnation();
        let mut s = NodeStatus::initial(1);
        s.running = true;
        s.term = 2;
        c.publish(s.clone());
        let (gen, first) = c.status_since(0).expect("a published status");
        assert_eq!(first.incarnation, 1);
        c.publish(s.clone());
        assert!(
            c.status_since(gen).is_none(),
            "an equal status is no change"
        );
        c.begin_incarnation();
        c.publish(s);
        let (_, again) = c.status_since(gen).expect("the restart is a change");
        assert_eq!(again.incarnation, 2);
        assert_eq!((again.term, again.running), (2, true));
    }
}
