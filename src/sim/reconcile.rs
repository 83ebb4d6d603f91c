//! The heal phase's reconciliation of the cluster's membership with the
//! schedule's intent.
//!
//! During the fault phase the operator carries each membership change the
//! nemesis asks for, and gives up on one that cannot be done within its
//! deadline (no leader for a while, a learner that cannot catch up). After
//! the heal the cluster is healthy, so, as Jepsen's membership nemesis and
//! etcd's robustness tests do, the operator brings it to the intended final
//! configuration before it is judged: the schedule's members as voters and
//! no learners. It works from what the leader's configuration is, not from
//! the requests it was given, so a change that was dropped, cut from the
//! log or overtaken is simply re-driven, one change at a time, each waiting
//! for the one before to commit. A new node joins as a learner and is
//! promoted only once it holds what the leader has committed.
//!
//! Failing to get there within the bound, on a cluster that recovered, is a
//! liveness failure; agreement is judged afterwards, between the nodes.

use std::collections::{BTreeMap, BTreeSet};

use super::admin::{describe, leader};
use super::nemesis::AdminOp;
use crate::node::NodeStatus;
use crate::raft::{Configuration, NodeId};

/// What the configuration needs next to reach the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The leader's configuration is the target.
    Done,
    /// Propose this change.
    Propose(AdminOp),
    /// Nothing can be proposed yet (a learner is catching up).
    Wait(String),
}

fn up(statuses: &BTreeMap<NodeId, NodeStatus>, n: NodeId) -> bool {
    statuses.get(&n).is_some_and(|s| s.running && !s.paused)
}

/// The next single-server change that takes `leader`'s configuration
/// towards `target` as voters and no learners.
///
/// The order keeps a quorum of running voters throughout: first drop
/// learners that should not be there and voters that are down anyway
/// (neither counts towards a quorum of running nodes); then promote
/// learners that have caught up and add missing nodes as learners; only
/// once every target node is a voter remove the running voters that
/// should not be, the leader last.
pub fn next_change(
    target: &BTreeSet<NodeId>,
    leader: &NodeStatus,
    statuses: &BTreeMap<NodeId, NodeStatus>,
) -> Next {
    let config = &leader.config;
    let unwanted = |n: &&NodeId| !target.contains(n);
    if let Some(&n) = config.learners.iter().find(unwanted) {
        return Next::Propose(AdminOp::Remove(n));
    }
    if let Some(&n) = config
        .voters
        .iter()
        .filter(unwanted)
        .find(|&&n| !up(statuses, n))
    {
        return Next::Propose(AdminOp::Remove(n));
    }
    let caught_up = |n: NodeId| {
        up(statuses, n)
            && statuses
                .get(&n)
                .is_some_and(|s| s.last_index >= leader.commit)
    };
    if let Some(&n) = config
        .learners
        .iter()
        .find(|&&n| target.contains(&n) && caught_up(n))
    {
        return Next::Propose(AdminOp::Promote(n));
    }
    if let Some(&n) = target.iter().find(|&&n| !config.contains(n)) {
        return Next::Propose(AdminOp::AddLearner(n));
    }
    if let Some(&n) = config.learners.iter().next() {
        let at = statuses.get(&n).filter(|s| s.running);
        return Next::Wait(match at {
            Some(s) => format!(
                "learner {n} has not caught up (its log ends at {}, the leader has committed {})",
                s.last_index, leader.commit
            ),
            None => format!("learner {n} is not running"),
        });
    }
    let mut extra: Vec<NodeId> = config
        .voters
        .iter()
        .copied()
        .filter(|n| !target.contains(n))
        .collect();
    // The leader last: removing it costs an election.
    extra.sort_by_key(|&n| (n == leader.id, n));
    match extra.first() {
        Some(&n) => Next::Propose(AdminOp::Remove(n)),
        None => Next::Done,
    }
}

/// What the reconciler wants the run loop to do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll {
    /// Hand this change to the operator.
    Propose(AdminOp),
    /// Keep stepping the simulation.
    Pending,
    /// The target configuration is in force and committed.
    Done(String),
    /// The bound passed first.
    Failed(String),
}

/// Drives the membership to the target within a bound, one change at a
/// time through the operator.
pub struct Reconciler {
    target: BTreeSet<NodeId>,
    bound_ms: u64,
    deadline_ms: u64,
    retry_ms: u64,
    /// No proposal before this time (the pause after a refusal).
    next_try_ms: u64,
    /// The target configuration seen at the leader (id, term) with its
    /// last index then: done once that leader has committed it.
    settling: Option<(NodeId, u64, u64)>,
    /// Why it is not done yet, for the failure message.
    waiting_for: String,
    /// Changes proposed so far.
    proposed: u32,
}

impl Reconciler {
    /// Reconcile towards `target` as voters, from `now_ms`, for at most
    /// `bound_ms`, pausing `retry_ms` after a change that failed.
    pub fn new(target: BTreeSet<NodeId>, now_ms: u64, bound_ms: u64, retry_ms: u64) -> Reconciler {
        Reconciler {
            target,
            bound_ms,
            deadline_ms: now_ms + bound_ms,
            retry_ms,
            next_try_ms: now_ms,
            settling: None,
            waiting_for: "nothing observed yet".into(),
            proposed: 0,
        }
    }

    pub fn target(&self) -> &BTreeSet<NodeId> {
        &self.target
    }

    /// A change it proposed failed with `why`: pause before the next.
    pub fn change_failed(&mut self, now_ms: u64, why: &str) {
        self.waiting_for = why.to_string();
        self.next_try_ms = now_ms + self.retry_ms;
    }

    /// One look at the cluster at `now_ms`; `operator_idle` says whether
    /// the last change handed over has ended.
    pub fn poll(
        &mut self,
        now_ms: u64,
        statuses: &BTreeMap<NodeId, NodeStatus>,
        operator_idle: bool,
    ) -> Poll {
        if now_ms >= self.deadline_ms {
            return Poll::Failed(format!(
                "after the heal the membership did not reach the schedule's final voters {:?} \
                 within {} ms ({} changes proposed); the last obstacle: {}",
                self.target, self.bound_ms, self.proposed, self.waiting_for
            ));
        }
        if !operator_idle || now_ms < self.next_try_ms {
            return Poll::Pending;
        }
        let Some(l) = leader(statuses) else {
            self.waiting_for = "no node leads".into();
            self.settling = None;
            return Poll::Pending;
        };
        match next_change(&self.target, l, statuses) {
            Next::Propose(op) => {
                self.settling = None;
                self.proposed += 1;
                self.waiting_for = format!("{op:?} was proposed and had not ended");
                Poll::Propose(op)
            }
            Next::Wait(why) => {
                self.settling = None;
                self.waiting_for = why;
                Poll::Pending
            }
            Next::Done => {
                let (id, term) = (l.id, l.term);
                let index = match self.settling {
                    Some((i, t, index)) if (i, t) == (id, term) => index,
                    _ => {
                        self.settling = Some((id, term, l.last_index));
                        l.last_index
                    }
                };
                if l.commit >= index {
                    return Poll::Done(describe(&l.config));
                }
                self.waiting_for = format!(
                    "node {id} holds the target {} but has committed only {} of {index}",
                    describe(&l.config),
                    l.commit
                );
                Poll::Pending
            }
        }
    }
}

/// Whether `config` is the target: its voters exactly, no learners.
pub fn is_target(target: &BTreeSet<NodeId>, config: &Configuration) -> bool {
    &config.voters == target && config.learners.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::DurableView;
    use crate::raft::Role;

    fn status(id: NodeId, role: Role, config: &Configuration) -> NodeStatus {
        NodeStatus {
            id,
            role,
            term: 2,
            leader: Some(1),
            commit: 10,
            applied: 10,
            last_index: 10,
            view: None,
            durable: DurableView::default(),
            paused: false,
            running: true,
            stopped: None,
            config: config.clone(),
            incarnation: 1,
        }
    }

    /// Node 1 leads `voters` and `learners`; every node in `nodes` runs
    /// and holds the leader's log.
    fn cluster(
        voters: &[NodeId],
        learners: &[NodeId],
        nodes: &[NodeId],
    ) -> BTreeMap<NodeId, NodeStatus> {
        let mut config = Configuration::with_voters(voters.iter().copied());
        config.learners = learners.iter().copied().collect();
        nodes
            .iter()
            .map(|&id| {
                let role = if id == 1 {
                    Role::Leader
                } else {
                    Role::Follower
                };
                (id, status(id, role, &config))
            })
            .collect()
    }

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    fn next(target: &[NodeId], statuses: &BTreeMap<NodeId, NodeStatus>) -> Next {
        next_change(&set(target), &statuses[&1], statuses)
    }

    #[test]
    fn a_dropped_rejoin_is_redriven_as_a_learner_then_promoted() {
        // Seed 46 of the control: voter 7 was meant to join, its change was
        // dropped when no leader was elected before its deadline.
        let mut s = cluster(&[1, 2, 4, 5, 6], &[], &[1, 2, 4, 5, 6, 7]);
        s.get_mut(&7).unwrap().last_index = 0;
        let target = [1, 2, 4, 5, 6, 7];
        assert_eq!(next(&target, &s), Next::Propose(AdminOp::AddLearner(7)));

        let mut s = cluster(&[1, 2, 4, 5, 6], &[7], &[1, 2, 4, 5, 6, 7]);
        s.get_mut(&7).unwrap().last_index = 4;
        assert!(
            matches!(next(&target, &s), Next::Wait(why) if why.contains("learner 7 has not caught up")),
            "a learner behind the commit index is not promoted"
        );
        s.get_mut(&7).unwrap().last_index = 10;
        assert_eq!(next(&target, &s), Next::Propose(AdminOp::Promote(7)));

        let s = cluster(&[1, 2, 4, 5, 6, 7], &[], &[1, 2, 4, 5, 6, 7]);
        assert_eq!(next(&target, &s), Next::Done);
    }

    #[test]
    fn unwanted_learners_and_down_voters_go_first_the_leader_last() {
        // Learner 9's removal was overtaken; voter 8 is down and should be
        // out; voters 1 (the leader) and 3 should be out too; 7 is missing.
        let mut s = cluster(&[1, 2, 3, 4, 5, 8], &[9], &[1, 2, 3, 4, 5, 7, 8, 9]);
        s.get_mut(&8).unwrap().running = false;
        let target = [2, 4, 5, 7];
        assert_eq!(next(&target, &s), Next::Propose(AdminOp::Remove(9)));

        let mut s = cluster(&[1, 2, 3, 4, 5, 8], &[], &[1, 2, 3, 4, 5, 7, 8]);
        s.get_mut(&8).unwrap().running = false;
        assert_eq!(next(&target, &s), Next::Propose(AdminOp::Remove(8)));

        // Running voters stay until the missing node is a voter: removing
        // them first could leave the running nodes short of a quorum.
        let s = cluster(&[1, 2, 3, 4, 5], &[], &[1, 2, 3, 4, 5, 7]);
        assert_eq!(next(&target, &s), Next::Propose(AdminOp::AddLearner(7)));
        let s = cluster(&[1, 2, 3, 4, 5, 7], &[], &[1, 2, 3, 4, 5, 7]);
        assert_eq!(next(&target, &s), Next::Propose(AdminOp::Remove(3)));
        let s = cluster(&[1, 2, 4, 5, 7], &[], &[1, 2, 4, 5, 7]);
        assert_eq!(next(&target, &s), Next::Propose(AdminOp::Remove(1)));
    }

    #[test]
    fn a_learner_that_is_down_is_waited_for_and_named() {
        let mut s = cluster(&[1, 2, 3], &[4], &[1, 2, 3, 4]);
        s.get_mut(&4).unwrap().running = false;
        assert_eq!(
            next(&[1, 2, 3, 4], &s),
            Next::Wait("learner 4 is not running".into())
        );
    }

    #[test]
    fn done_only_once_the_leader_has_committed_the_target() {
        let mut s = cluster(&[1, 2, 3], &[], &[1, 2, 3]);
        s.get_mut(&1).unwrap().commit = 9;
        let mut r = Reconciler::new(set(&[1, 2, 3]), 0, 1_000, 50);
        assert_eq!(r.poll(0, &s, true), Poll::Pending);
        // Entries appended after the target was first seen do not move the
        // goal post.
        s.get_mut(&1).unwrap().last_index = 12;
        s.get_mut(&1).unwrap().commit = 10;
        assert!(matches!(r.poll(10, &s, true), Poll::Done(_)));
    }

    #[test]
    fn proposes_when_the_operator_is_idle_and_pauses_after_a_failure() {
        let s = cluster(&[1, 2, 3], &[], &[1, 2, 3, 4]);
        let mut r = Reconciler::new(set(&[1, 2, 3, 4]), 0, 1_000, 50);
        assert_eq!(r.poll(0, &s, true), Poll::Propose(AdminOp::AddLearner(4)));
        assert_eq!(r.poll(5, &s, false), Poll::Pending, "one change at a time");
        r.change_failed(10, "refused by node 1: something");
        assert_eq!(
            r.poll(20, &s, true),
            Poll::Pending,
            "pauses after a failure"
        );
        assert_eq!(r.poll(60, &s, true), Poll::Propose(AdminOp::AddLearner(4)));
    }

    #[test]
    fn fails_at_the_bound_saying_what_it_waited_for() {
        let s = cluster(&[2, 3], &[], &[2, 3]);
        let mut r = Reconciler::new(set(&[2, 3]), 100, 1_000, 50);
        // Node 1 is gone: no leader.
        assert_eq!(r.poll(100, &s, true), Poll::Pending);
        match r.poll(1_100, &s, true) {
            Poll::Failed(why) => {
                assert!(why.contains("final voters {2, 3} within 1000 ms"), "{why}");
                assert!(why.contains("no node leads"), "{why}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
