//! The simulation's operator: carries the nemesis's membership changes and
//! leadership transfers to the current leader through its request queue,
//! retrying (another leader, a change still in progress, a learner not yet
//! caught up) until the change is seen in the leader's configuration or its
//! deadline passes. Driven from the run loop after every simulation step,
//! so it takes no simulated host and no network.
//!
//! By default it is one operator: one request at a time, each waiting for
//! the one before to end. Real clusters have several (autoscalers, humans,
//! orchestrators) acting at once, so the driver can keep up to
//! `concurrency` requests in flight, each retrying on its own; a correct
//! leader refuses a change while another is uncommitted ("in progress",
//! which the requester retries), so only a leader that lets a second
//! change through behaves differently. Requests about the same node are
//! never in flight together: they start in the order they were made.

use std::collections::{BTreeMap, VecDeque};

use faultline_nemesis::FaultId;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::nemesis::AdminOp;
use crate::kv::KvState;
use crate::node::service::{Admin, Reply, Request};
use crate::node::NodeStatus;
use crate::raft::{ConfChange, Configuration, NodeId, Role};

/// The queue into one node's replica loop, if its current incarnation runs.
pub type RequestQueue = mpsc::Sender<Request<KvState>>;

/// How one admin request ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOutcome {
    pub time_ms: u64,
    /// The nemesis fault it was made for.
    pub id: FaultId,
    pub op: AdminOp,
    /// What took effect, or why it did not.
    pub result: Result<String, String>,
}

/// Timings of the operator.
#[derive(Clone, Copy, Debug)]
pub struct AdminTimings {
    /// How long one request may take, retries included.
    pub deadline_ms: u64,
    /// How long to wait for a node to answer one attempt.
    pub answer_ms: u64,
    /// The pause between attempts.
    pub retry_ms: u64,
    /// How long an accepted transfer may take to hand over.
    pub transfer_ms: u64,
}

enum Attempt {
    /// Try again at the given time.
    Wait(u64),
    /// Sent to `to`, waiting for its answer.
    Sent {
        to: NodeId,
        at_ms: u64,
        rx: oneshot::Receiver<Reply<()>>,
        /// A transfer's target.
        target: Option<NodeId>,
    },
    /// Accepted by `by` in `term`, its entry at or below `index`; waiting
    /// to see it committed in the leader's configuration (or, for a
    /// transfer, the target leading, until `until_ms`).
    Accepted {
        by: NodeId,
        term: u64,
        index: u64,
        target: Option<NodeId>,
        until_ms: u64,
    },
}

struct Current {
    id: FaultId,
    op: AdminOp,
    deadline_ms: u64,
    attempt: Attempt,
    last_error: String,
}

/// Carries admin requests to the leader, started in the order they were
/// made, up to `concurrency` of them at once.
pub struct AdminDriver {
    timings: AdminTimings,
    /// Requests in flight at once; at least 1.
    concurrency: usize,
    queue: VecDeque<(FaultId, AdminOp)>,
    /// The requests in flight, oldest first.
    in_flight: Vec<Current>,
}

/// The running, unpaused leader with the highest term.
pub(super) fn leader(statuses: &BTreeMap<NodeId, NodeStatus>) -> Option<&NodeStatus> {
    statuses
        .values()
        .filter(|s| s.running && !s.paused && s.role == Role::Leader)
        .max_by_key(|s| s.term)
}

/// Whether `op`'s membership effect holds in `config` (`None` for a
/// transfer, which has no effect on the configuration).
fn in_effect(op: &AdminOp, config: &Configuration) -> Option<bool> {
    Some(match *op {
        AdminOp::AddVoter(n) | AdminOp::Promote(n) => config.voters.contains(&n),
        AdminOp::AddLearner(n) => config.contains(n),
        AdminOp::Remove(n) => !config.contains(n),
        AdminOp::TransferLeadership(_) => return None,
    })
}

/// The node a request is about, if any.
fn subject(op: &AdminOp) -> Option<NodeId> {
    match *op {
        AdminOp::AddVoter(n)
        | AdminOp::AddLearner(n)
        | AdminOp::Promote(n)
        | AdminOp::Remove(n)
        | AdminOp::TransferLeadership(Some(n)) => Some(n),
        AdminOp::TransferLeadership(None) => None,
    }
}

pub(super) fn describe(config: &Configuration) -> String {
    format!(
        "configuration: voters {:?}, learners {:?}",
        config.voters, config.learners
    )
}

/// Whether a refusal may clear up by itself (the change ahead of this one
/// commits, a transfer ends, a new leader commits its first entry).
fn transient(why: &str) -> bool {
    why.contains("in progress")
}

impl AdminDriver {
    /// A driver keeping up to `concurrency` requests in flight (at least
    /// one).
    pub fn new(timings: AdminTimings, concurrency: usize) -> AdminDriver {
        AdminDriver {
            timings,
            concurrency: concurrency.max(1),
            queue: VecDeque::new(),
            in_flight: Vec::new(),
        }
    }

    /// Queue `op` for fault `id`, behind any request not yet done.
    pub fn submit(&mut self, id: FaultId, op: AdminOp) {
        self.queue.push_back((id, op));
    }

    /// Whether every request has ended.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.queue.is_empty()
    }

    /// End every request, queued or in flight, at `now_ms` with `why`:
    /// what was asked for no longer matters (the heal phase hands the
    /// membership over to its reconciliation). A change a leader already
    /// accepted may still commit; only the waiting for it stops.
    pub fn abandon(&mut self, now_ms: u64, why: &str) -> Vec<AdminOutcome> {
        let in_flight = self.in_flight.drain(..).map(|cur| (cur.id, cur.op));
        in_flight
            .chain(self.queue.drain(..))
            .map(|(id, op)| AdminOutcome {
                time_ms: now_ms,
                id,
                op,
                result: Err(why.to_string()),
            })
            .collect()
    }

    /// Move the requests on at `now_ms`; returns those that ended.
    pub fn drive(
        &mut self,
        now_ms: u64,
        statuses: &BTreeMap<NodeId, NodeStatus>,
        queues: &BTreeMap<NodeId, RequestQueue>,
    ) -> Vec<AdminOutcome> {
        let mut ended = Vec::new();
        // Each request in flight gets one look, oldest first; one that ends
        // makes room for the next queued request, which gets its first look
        // in the same call.
        let mut i = 0;
        loop {
            if i == self.in_flight.len() {
                if self.in_flight.len() >= self.concurrency {
                    break;
                }
                // Requests about one node stay in order (the nemesis means
                // a removal and the rejoin that heals it to take effect in
                // that order), so the next one waits while an earlier one
                // about its node is in flight.
                let blocked = self.queue.front().is_some_and(|(_, next)| {
                    self.in_flight
                        .iter()
                        .any(|cur| subject(&cur.op).is_some() && subject(&cur.op) == subject(next))
                });
                if blocked {
                    break;
                }
                let Some((id, op)) = self.queue.pop_front() else {
                    break;
                };
                self.in_flight.push(Current {
                    id,
                    op,
                    deadline_ms: now_ms + self.timings.deadline_ms,
                    attempt: Attempt::Wait(now_ms),
                    last_error: "no attempt made".into(),
                });
            }
            let cur = &mut self.in_flight[i];
            let result = match advance(cur, now_ms, statuses, queues, &self.timings) {
                Some(r) => r,
                None if now_ms >= cur.deadline_ms => Err(format!(
                    "not done within {} ms: {}",
                    self.timings.deadline_ms, cur.last_error
                )),
                None => {
                    i += 1;
                    continue;
                }
            };
            let cur = self.in_flight.remove(i);
            ended.push(AdminOutcome {
                time_ms: now_ms,
                id: cur.id,
                op: cur.op,
                result,
            });
        }
        ended
    }
}

/// One look at a request in flight: `Some` once it has ended.
fn advance(
    cur: &mut Current,
    now_ms: u64,
    statuses: &BTreeMap<NodeId, NodeStatus>,
    queues: &BTreeMap<NodeId, RequestQueue>,
    t: &AdminTimings,
) -> Option<Result<String, String>> {
    let retry = |cur: &mut Current, why: String| {
        cur.last_error = why;
        cur.attempt = Attempt::Wait(now_ms + t.retry_ms);
        None
    };
    match &mut cur.attempt {
        Attempt::Wait(at) if *at > now_ms => None,
        Attempt::Wait(_) => {
            let Some(l) = leader(statuses) else {
                return retry(cur, "no node leads".into());
            };
            if in_effect(&cur.op, &l.config) == Some(true) {
                return Some(Ok(format!("already in effect; {}", describe(&l.config))));
            }
            let mut target = None;
            let admin = match cur.op {
                AdminOp::AddVoter(n) => Admin::ChangeMembership(ConfChange::AddVoter(n)),
                AdminOp::AddLearner(n) => Admin::ChangeMembership(ConfChange::AddLearner(n)),
                AdminOp::Remove(n) => Admin::ChangeMembership(ConfChange::Remove(n)),
                AdminOp::Promote(n) => {
                    // Promote only once the learner holds what the leader
                    // has committed, so it does not stall commits as a
                    // voter that must first catch up.
                    let behind = statuses
                        .get(&n)
                        .is_none_or(|s| !s.running || s.last_index < l.commit);
                    if l.config.learners.contains(&n) && behind {
                        return retry(cur, format!("learner {n} has not caught up"));
                    }
                    Admin::ChangeMembership(ConfChange::Promote(n))
                }
                AdminOp::TransferLeadership(to) => {
                    let Some(to) = to.or_else(|| most_up_to_date_follower(l, statuses)) else {
                        return retry(cur, "no running voter to hand leadership to".into());
                    };
                    target = Some(to);
                    Admin::TransferLeadership(to)
                }
            };
            let Some(queue) = queues.get(&l.id) else {
                return retry(cur, format!("leader {} takes no requests", l.id));
            };
            let (reply, rx) = oneshot::channel();
            let to = l.id;
            if queue.try_send(Request::Admin { admin, reply }).is_err() {
                return retry(cur, format!("node {to}'s request queue is full or closed"));
            }
            cur.attempt = Attempt::Sent {
                to,
                at_ms: now_ms,
                rx,
                target,
            };
            None
        }
        Attempt::Sent {
            to,
            at_ms,
            rx,
            target,
        } => {
            let (to, at_ms, target) = (*to, *at_ms, *target);
            match rx.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) if now_ms < at_ms + t.answer_ms => None,
                Err(oneshot::error::TryRecvError::Empty) => {
                    retry(cur, format!("node {to} did not answer in time"))
                }
                Err(oneshot::error::TryRecvError::Closed) => {
                    retry(cur, format!("node {to} went down before answering"))
                }
                Ok(Reply::Done(())) => {
                    cur.last_error = format!("accepted by node {to}, not yet in effect");
                    // The status is taken after the step that appended the
                    // entry, so its last index is at or past the entry's.
                    let (term, index) = statuses
                        .get(&to)
                        .map_or((0, u64::MAX), |s| (s.term, s.last_index));
                    cur.attempt = Attempt::Accepted {
                        by: to,
                        term,
                        index,
                        target,
                        until_ms: now_ms + t.transfer_ms,
                    };
                    None
                }
                Ok(Reply::NotLeader { leader }) => retry(
                    cur,
                    format!("node {to} no longer leads (leader: {leader:?})"),
                ),
                Ok(Reply::Refused(why)) if transient(&why) => {
                    retry(cur, format!("refused by node {to}: {why}"))
                }
                Ok(Reply::Refused(why)) => Some(Err(format!("refused by node {to}: {why}"))),
                Ok(other) => retry(cur, format!("node {to} answered {other:?}")),
            }
        }
        Attempt::Accepted {
            by,
            term,
            index,
            target,
            until_ms,
        } => {
            let (by, term, index, target, until_ms) = (*by, *term, *index, *target, *until_ms);
            let l = leader(statuses)?;
            match (in_effect(&cur.op, &l.config), target) {
                (Some(true), _) if l.commit >= index => Some(Ok(describe(&l.config))),
                (Some(true), _) => None,
                (None, Some(target)) if l.id == target => {
                    Some(Ok(format!("node {target} leads term {}", l.term)))
                }
                (None, _) if l.id != by => Some(Err(format!(
                    "node {by} accepted the transfer but node {} took over",
                    l.id
                ))),
                (None, _) if now_ms >= until_ms => Some(Err(format!(
                    "node {by} accepted the transfer but still leads after {} ms",
                    t.transfer_ms
                ))),
                // A later leader never saw the change (its entry was cut):
                // propose it again.
                (Some(false), _) if l.id != by || l.term != term => {
                    retry(cur, format!("the change node {by} accepted was lost"))
                }
                _ => None,
            }
        }
    }
}

/// The running voter, other than the leader, with the longest log.
fn most_up_to_date_follower(
    leader: &NodeStatus,
    statuses: &BTreeMap<NodeId, NodeStatus>,
) -> Option<NodeId> {
    statuses
        .values()
        .filter(|s| s.id != leader.id && s.running && !s.paused)
        .filter(|s| leader.config.voters.contains(&s.id))
        .max_by_key(|s| (s.last_index, std::cmp::Reverse(s.id)))
        .map(|s| s.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::DurableView;

    const T: AdminTimings = AdminTimings {
        deadline_ms: 10_000,
        answer_ms: 200,
        retry_ms: 50,
        transfer_ms: 600,
    };

    fn status(id: NodeId, role: Role, voters: &[NodeId]) -> NodeStatus {
        NodeStatus {
            id,
            role,
            term: 1,
            leader: Some(1),
            commit: 3,
            applied: 3,
            last_index: 3,
            view: None,
            durable: DurableView::default(),
            paused: false,
            running: true,
            stopped: None,
            config: Configuration::with_voters(voters.iter().copied()),
            incarnation: 1,
        }
    }

    /// The nodes' statuses, their request queues, and the leader's end of
    /// its queue.
    type Cluster = (
        BTreeMap<NodeId, NodeStatus>,
        BTreeMap<NodeId, RequestQueue>,
        mpsc::Receiver<Request<KvState>>,
    );

    /// Five voters led by node 1, whose request queue the test reads.
    fn cluster() -> Cluster {
        let voters = [1, 2, 3, 4, 5];
        let statuses = voters
            .iter()
            .map(|&id| {
                let role = if id == 1 {
                    Role::Leader
                } else {
                    Role::Follower
                };
                (id, status(id, role, &voters))
            })
            .collect();
        let (tx, rx) = mpsc::channel(16);
        (statuses, BTreeMap::from([(1, tx)]), rx)
    }

    /// The membership changes waiting in the leader's queue, with their
    /// reply channels.
    fn proposed(
        rx: &mut mpsc::Receiver<Request<KvState>>,
    ) -> Vec<(ConfChange, oneshot::Sender<Reply<()>>)> {
        let mut out = Vec::new();
        while let Ok(req) = rx.try_recv() {
            match req {
                Request::Admin {
                    admin: Admin::ChangeMembership(cc),
                    reply,
                } => out.push((cc, reply)),
                _ => panic!("the operator sent something other than a membership change"),
            }
        }
        out
    }

    fn changes(sent: &[(ConfChange, oneshot::Sender<Reply<()>>)]) -> Vec<ConfChange> {
        sent.iter().map(|(cc, _)| cc.clone()).collect()
    }

    #[test]
    fn one_operator_proposes_one_change_at_a_time() {
        let (statuses, queues, mut rx) = cluster();
        let mut driver = AdminDriver::new(T, 1);
        driver.submit(1, AdminOp::Remove(4));
        driver.submit(2, AdminOp::Remove(5));
        assert!(driver.drive(0, &statuses, &queues).is_empty());
        assert_eq!(changes(&proposed(&mut rx)), [ConfChange::Remove(4)]);
        assert!(driver.drive(10, &statuses, &queues).is_empty());
        assert!(
            proposed(&mut rx).is_empty(),
            "the second waits for the first"
        );
    }

    #[test]
    fn abandoning_ends_every_request_queued_or_in_flight() {
        let (statuses, queues, mut rx) = cluster();
        let mut driver = AdminDriver::new(T, 1);
        driver.submit(1, AdminOp::Remove(4));
        driver.submit(2, AdminOp::AddVoter(6));
        assert!(driver.drive(0, &statuses, &queues).is_empty());
        assert_eq!(proposed(&mut rx).len(), 1);
        let ended = driver.abandon(5, "handed over");
        assert_eq!(
            ended
                .iter()
                .map(|o| (o.id, o.op.clone(), o.result.clone()))
                .collect::<Vec<_>>(),
            [
                (1, AdminOp::Remove(4), Err("handed over".into())),
                (2, AdminOp::AddVoter(6), Err("handed over".into())),
            ]
        );
        assert!(driver.is_idle());
        assert!(driver.drive(10, &statuses, &queues).is_empty());
    }

    #[test]
    fn requests_about_one_node_stay_in_order() {
        let (statuses, queues, mut rx) = cluster();
        let mut driver = AdminDriver::new(T, 3);
        driver.submit(1, AdminOp::Remove(4));
        driver.submit(2, AdminOp::AddVoter(4));
        driver.submit(3, AdminOp::Remove(5));
        assert!(driver.drive(0, &statuses, &queues).is_empty());
        assert_eq!(
            changes(&proposed(&mut rx)),
            [ConfChange::Remove(4)],
            "the rejoin of node 4 waits for its removal, and so does what follows"
        );
    }

    #[test]
    fn concurrent_operators_keep_changes_in_flight_each_retrying_on_its_own() {
        let (mut statuses, queues, mut rx) = cluster();
        let mut driver = AdminDriver::new(T, 2);
        driver.submit(1, AdminOp::Remove(4));
        driver.submit(2, AdminOp::Remove(5));
        driver.submit(3, AdminOp::Remove(3));
        assert!(driver.drive(0, &statuses, &queues).is_empty());
        let sent = proposed(&mut rx);
        assert_eq!(
            changes(&sent),
            [ConfChange::Remove(4), ConfChange::Remove(5)],
            "both proposed before either is answered, the third held back"
        );

        // A correct leader takes the first and refuses the second while the
        // first is uncommitted: the second retries, it does not fail.
        let mut replies = sent.into_iter().map(|(_, r)| r);
        let _ = replies.next().unwrap().send(Reply::Done(()));
        let _ = replies
            .next()
            .unwrap()
            .send(Reply::Refused("membership change in progress".into()));
        statuses.get_mut(&1).unwrap().last_index = 4;
        assert!(driver.drive(1, &statuses, &queues).is_empty());
        assert!(proposed(&mut rx).is_empty());

        // The first commits: it ends, and the third starts at once.
        let leader = statuses.get_mut(&1).unwrap();
        leader.commit = 4;
        leader.config = Configuration::with_voters([1, 2, 3, 5]);
        let ended = driver.drive(2, &statuses, &queues);
        assert_eq!(ended.len(), 1);
        assert_eq!((ended[0].id, ended[0].result.is_ok()), (1, true));
        assert_eq!(changes(&proposed(&mut rx)), [ConfChange::Remove(3)]);

        // After its pause, the refused one is proposed again.
        assert!(driver.drive(1 + T.retry_ms, &statuses, &queues).is_empty());
        assert_eq!(changes(&proposed(&mut rx)), [ConfChange::Remove(5)]);
        assert!(!driver.is_idle());
    }
}
