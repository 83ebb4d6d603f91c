//! Availability during the fault phase, judged the way Jepsen and etcd's
//! robustness tests judge it: faults may take a cluster down, but while a
//! quorum of voters is up, untouched by any fault and connected to each
//! other, a correct Raft elects a leader within a few election timeouts.
//! A cluster that stays leaderless that long with such a quorum has an
//! election that does not converge (split votes forever, a livelock), which
//! the liveness probe after the final heal can miss: the heal restarts and
//! reconnects every node, and that alone may break the tie.
//!
//! The window is conservative. It restarts whenever the fault state changes
//! (a fault injected or healed, a node going up or down), so an election
//! disturbed by a new fault gets a fresh bound. Nodes whose disk or clock a
//! fault ever touched do not count toward the quorum (a node may fail-stop
//! on damaged data; a timer set on a moved clock may wait out the
//! difference), and runs with membership faults are not judged, since the
//! voters are then in flux.

use faultline_nemesis::FaultKind;

use super::config::RunConfig;
use super::nemesis::Nemesis;
use crate::node::NodeStatus;
use crate::raft::{NodeId, Role};

/// Election timeouts a sound quorum may go without a leader.
pub const ELECTION_TIMEOUTS: u64 = 20;

/// Watches the fault phase for a sound quorum without a leader.
pub struct Availability {
    /// `None`: the run is not judged (its voters change).
    voters: Option<Vec<NodeId>>,
    bound_ms: u64,
    /// The fault state last judged: nemesis records so far, and the nodes
    /// up and not paused.
    seen: Option<(usize, Vec<NodeId>)>,
    /// The sound quorum of that state, and since when it has been sound.
    sound: Option<(Vec<NodeId>, u64)>,
    last_leader_ms: u64,
    failure: Option<String>,
}

impl Availability {
    pub fn new(config: &RunConfig) -> Availability {
        let churn = config.schedule.items.iter().any(|i| match &i.action {
            faultline_nemesis::Action::Inject { fault, .. } => {
                fault.kind() == FaultKind::Membership
            }
            faultline_nemesis::Action::Heal { .. } => false,
        });
        Availability {
            voters: (!churn).then(|| config.nodes.clone()),
            bound_ms: ELECTION_TIMEOUTS * config.raft.election_timeout_ms,
            seen: None,
            sound: None,
            last_leader_ms: 0,
            failure: None,
        }
    }

    /// The first stretch without a leader past the bound, described.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Look at the cluster after a step of the fault phase at `t`.
    pub fn observe<'a>(
        &mut self,
        t: u64,
        nemesis: &Nemesis,
        statuses: impl IntoIterator<Item = &'a NodeStatus>,
    ) {
        let Some(voters) = &self.voters else { return };
        if self.failure.is_some() {
            return;
        }
        let mut up = Vec::new();
        for s in statuses {
            if !s.running || s.paused || nemesis.is_paused(s.id) {
                continue;
            }
            if s.role == Role::Leader {
                self.last_leader_ms = t;
            }
            up.push(s.id);
        }
        let state = (nemesis.records().len(), up);
        if self.seen.as_ref() != Some(&state) {
            let up = &state.1;
            let candidates: Vec<NodeId> = voters
                .iter()
                .copied()
                .filter(|v| up.contains(v) && nemesis.untouched(*v))
                .collect();
            self.sound = island(
                &candidates,
                up,
                |a, b| nemesis.link_sound(a, b),
                |from, to| nemesis.link_cut(from, to),
            )
            .filter(|q| q.len() > voters.len() / 2)
            .map(|q| (q, t));
            self.seen = Some(state);
        }
        let Some((quorum, since)) = &self.sound else {
            return;
        };
        let from = (*since).max(self.last_leader_ms);
        if t.saturating_sub(from) > self.bound_ms {
            self.failure = Some(format!(
                "availability: from {from} ms to {t} ms no node was leader, though nodes \
                 {quorum:?} (a quorum of the {} voters) were up, untouched by any fault and \
                 connected to each other ({} election timeouts of {} ms)",
                voters.len(),
                ELECTION_TIMEOUTS,
                self.bound_ms / ELECTION_TIMEOUTS
            ));
        }
    }
}

/// The largest set of `candidates` every two of which are `linked` and
/// which no other node in `up` can reach (every message from outside is
/// `cut`): a quorum that only its own members can disturb. An outside
/// node that still gets messages in, a one-way partition's far side, can
/// keep raising the term without pre-vote and hold off any election, which
/// is Raft's known weakness and not a verdict on it. Clusters have at most
/// nine nodes, so trying every subset is cheap, and it runs only when the
/// fault state changes. The first such set in subset order wins a tie.
fn island(
    candidates: &[NodeId],
    up: &[NodeId],
    linked: impl Fn(NodeId, NodeId) -> bool,
    cut: impl Fn(NodeId, NodeId) -> bool,
) -> Option<Vec<NodeId>> {
    let n = candidates.len();
    let mut best: Option<Vec<NodeId>> = None;
    for mask in 1u32..(1 << n) {
        if best
            .as_ref()
            .is_some_and(|b| b.len() >= mask.count_ones() as usize)
        {
            continue;
        }
        let set: Vec<NodeId> = (0..n)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| candidates[i])
            .collect();
        let clique = set
            .iter()
            .enumerate()
            .all(|(k, &a)| set[k + 1..].iter().all(|&b| linked(a, b)));
        let shielded = up
            .iter()
            .filter(|x| !set.contains(x))
            .all(|&x| set.iter().all(|&q| cut(x, q)));
        if clique && shielded {
            best = Some(set);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_island_is_linked_inside_and_cut_off_from_outside() {
        let all = [1, 2, 3, 4, 5];
        // Node 3 cut off both ways: {1, 2, 4, 5} is the island.
        let away = |a: NodeId, b: NodeId| a != b && (a == 3 || b == 3);
        assert_eq!(
            island(&all, &all, |a, b| !away(a, b), away),
            Some(vec![1, 2, 4, 5])
        );
        // Node 3 can still send (a one-way partition): its peers are no
        // island; only node 3 alone is, hearing no one.
        let inbound_only = |from: NodeId, to: NodeId| to == 3 && from != 3;
        assert_eq!(
            island(&all, &all, |a, b| !away(a, b), inbound_only),
            Some(vec![3])
        );
        // A ring of five has no three nodes all linked.
        let ring = |a: NodeId, b: NodeId| {
            let d = a.abs_diff(b);
            d == 1 || d == 4
        };
        let island_len = island(&all, &all, ring, |a, b| !ring(a, b)).map_or(0, |q| q.len());
        assert!(island_len < 3);
        assert_eq!(island(&[], &all, |_, _| true, |_, _| true), None);
    }
}
