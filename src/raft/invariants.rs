//! Raft's safety properties as code, checked on snapshots of node state
//! ([`NodeView`]): per node ([`check_node`]), across nodes at one instant
//! ([`check_cluster`]), and across time ([`History`]).

use super::types::{Index, NodeId, Role, Term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What the checks see of one node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeView {
    /// The node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// Whom it voted for in that term.
    pub vote: Option<NodeId>,
    /// Its commit index.
    pub commit: Index,
    /// The index its state machine applied.
    pub applied: Index,
    /// Its last log index.
    pub last_index: Index,
    /// The newest snapshot that is durable and restored.
    pub snapshot_index: Index,
    /// (index, term) of every log entry the node holds in memory.
    pub log: Vec<(Index, Term)>,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
}

impl NodeView {
    /// The term of the entry at `index`, if this view holds it.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        let first = self.log.first()?.0;
        if index < first {
            return None;
        }
        self.log
            .get((index - first) as usize)
            .filter(|(i, _)| *i == index)
            .map(|(_, t)| *t)
    }
}

/// A broken invariant: which one, and the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The name of the broken invariant.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated: {}", self.invariant, self.detail)
    }
}

impl std::error::Error for Violation {}

fn violation(invariant: &'static str, detail: String) -> Result<(), Violation> {
    Err(Violation { invariant, detail })
}

/// One node's own invariants; with `prev` (the same node earlier, with no
/// restart in between) also the monotonic ones.
pub fn check_node(v: &NodeView, prev: Option<&NodeView>) -> Result<(), Violation> {
    let n = v.id;
    if !(v.snapshot_index <= v.applied && v.applied <= v.commit && v.commit <= v.last_index) {
        return violation(
            "snapshot <= applied <= commit <= last",
            format!(
                "node {n}: snapshot {} applied {} commit {} last {}",
                v.snapshot_index, v.applied, v.commit, v.last_index
            ),
        );
    }
    if let Some(&(last, _)) = v.log.last() {
        if last != v.last_index {
            return violation(
                "log view",
                format!(
                    "node {n}: last entry {last} but last_index {}",
                    v.last_index
                ),
            );
        }
    }
    for w in v.log.windows(2) {
        let ((i, t), (j, u)) = (w[0], w[1]);
        if j != i + 1 || u < t {
            return violation(
                "log order",
                format!("node {n}: ({i}, {t}) followed by ({j}, {u})"),
            );
        }
    }
    if let Some(&(i, t)) = v.log.iter().find(|(_, t)| *t > v.term) {
        return violation(
            "log term <= current term",
            format!("node {n}: entry {i} of term {t} in term {}", v.term),
        );
    }
    if v.role == Role::Leader && (v.leader != Some(n) || v.vote != Some(n)) {
        return violation(
            "leader voted for itself",
            format!(
                "node {n} leads term {} with vote {:?} and leader {:?}",
                v.term, v.vote, v.leader
            ),
        );
    }
    let Some(p) = prev else { return Ok(()) };
    if v.term < p.term {
        return violation(
            "monotonic term",
            format!("node {n}: term {} -> {}", p.term, v.term),
        );
    }
    if v.term == p.term && p.vote.is_some() && v.vote != p.vote {
        return violation(
            "one vote per term",
            format!(
                "node {n}: vote in term {} changed {:?} -> {:?}",
                v.term, p.vote, v.vote
            ),
        );
    }
    if v.commit < p.commit {
        return violation(
            "monotonic commit",
            format!("node {n}: commit {} -> {}", p.commit, v.commit),
        );
    }
    if v.applied < p.applied {
        return violation(
            "monotonic applied",
            format!("node {n}: applied {} -> {}", p.applied, v.applied),
        );
    }
    if v.snapshot_index < p.snapshot_index {
        return violation(
            "monotonic snapshot",
            format!(
                "node {n}: snapshot {} -> {}",
                p.snapshot_index, v.snapshot_index
            ),
        );
    }
    for &(i, t) in p.log.iter().take_while(|(i, _)| *i <= p.commit) {
        match v.term_at(i) {
            Some(u) if u != t => {
                return violation(
                    "committed entries never change",
                    format!("node {n}: committed entry {i} went from term {t} to {u}"),
                )
            }
            None if i > v.last_index => {
                return violation(
                    "committed entries never change",
                    format!("node {n}: committed entry {i} of term {t} was removed"),
                )
            }
            _ => {}
        }
    }
    Ok(())
}

/// Invariants across nodes at one instant: election safety, log matching,
/// agreement on committed entries, leader completeness.
pub fn check_cluster(views: &[NodeView]) -> Result<(), Violation> {
    let views: Vec<&NodeView> = views.iter().collect();
    check_cluster_changed(&views, &vec![true; views.len()])
}

/// [`check_cluster`] for a monitor that checks after every step: the
/// pairwise checks (log matching, committed agreement, leader
/// completeness) run only for pairs in which some view is marked in
/// `changed`. A pair of views that both equal views already checked
/// together cannot fail now, so the verdict (and the first violation
/// reported) is that of the full check, provided every earlier call passed.
pub fn check_cluster_changed(views: &[&NodeView], changed: &[bool]) -> Result<(), Violation> {
    debug_assert_eq!(views.len(), changed.len());
    let mut leaders: BTreeMap<Term, NodeId> = BTreeMap::new();
    for v in views.iter().filter(|v| v.role == Role::Leader) {
        if let Some(other) = leaders.insert(v.term, v.id) {
            return violation(
                "election safety",
                format!("nodes {other} and {} both lead term {}", v.id, v.term),
            );
        }
    }
    for (k, a) in views.iter().enumerate() {
        for (j, b) in views.iter().enumerate().skip(k + 1) {
            if changed[k] || changed[j] {
                check_pair(a, b)?;
            }
        }
    }
    for (k, l) in views.iter().enumerate() {
        if l.role != Role::Leader {
            continue;
        }
        for (j, n) in views.iter().enumerate() {
            if !(changed[k] || changed[j]) || n.term > l.term || n.id == l.id {
                continue;
            }
            for &(i, t) in n.log.iter().take_while(|(i, _)| *i <= n.commit) {
                let missing = match l.term_at(i) {
                    Some(u) => u != t,
                    None => i > l.last_index,
                };
                if missing {
                    return violation(
                        "leader completeness",
                        format!(
                            "leader {} of term {} lacks entry {i} of term {t} committed at node {}",
                            l.id, l.term, n.id
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

/// Log matching (if two logs hold an entry of the same index and term,
/// they agree on everything before it) and agreement on committed entries.
fn check_pair(a: &NodeView, b: &NodeView) -> Result<(), Violation> {
    let mut matched_above: Option<Index> = None;
    for &(i, t) in a.log.iter().rev() {
        let Some(u) = b.term_at(i) else { continue };
        if u == t {
            matched_above.get_or_insert(i);
        } else if let Some(m) = matched_above {
            return violation(
                "log matching",
                format!(
                    "nodes {} and {} agree on entry {m} but differ at {i} (terms {t} and {u})",
                    a.id, b.id
                ),
            );
        }
        if i <= a.commit.min(b.commit) && u != t {
            return violation(
                "committed entries agree",
                format!(
                    "entry {i} is committed as term {t} at node {} and {u} at node {}",
                    a.id, b.id
                ),
            );
        }
    }
    Ok(())
}

/// Is the entry at the highest commit index of the given voters held by a
/// majority of them (in the log or under a snapshot)? `voters` are the
/// voters of the configuration in force at that index; nodes not in it are
/// ignored. Meant for durable views: what survives a crash of everyone.
pub fn check_committed_on_quorum(views: &[NodeView], voters: &[NodeId]) -> Result<(), Violation> {
    let members: Vec<&NodeView> = views.iter().filter(|v| voters.contains(&v.id)).collect();
    let Some(top) = members.iter().max_by_key(|v| v.commit) else {
        return Ok(());
    };
    let c = top.commit;
    let Some(t) = top.term_at(c) else {
        return Ok(());
    };
    let holders = members
        .iter()
        .filter(|v| v.term_at(c) == Some(t) || v.snapshot_index >= c)
        .count();
    if holders < voters.len() / 2 + 1 {
        return violation(
            "committed on a quorum",
            format!(
                "entry {c} of term {t} committed at node {} is held by only {holders} of {} voters",
                top.id,
                voters.len()
            ),
        );
    }
    Ok(())
}

/// Checks across time: at most one leader per term ever, committed
/// entries never change, and (with [`History::applied`]) every node
/// applies the same entry at each index.
#[derive(Clone, Debug, Default)]
pub struct History {
    leaders: BTreeMap<Term, NodeId>,
    committed: BTreeMap<Index, Term>,
    applied: BTreeMap<Index, (Term, u64)>,
}

impl History {
    /// Record what the views show and check it against everything seen.
    pub fn observe(&mut self, views: &[NodeView]) -> Result<(), Violation> {
        for v in views.iter().filter(|v| v.role == Role::Leader) {
            if let Some(&other) = self.leaders.get(&v.term) {
                if other != v.id {
                    return violation(
                        "election safety",
                        format!(
                            "nodes {other} and {} were both leaders of term {}",
                            v.id, v.term
                        ),
                    );
                }
            }
            self.leaders.insert(v.term, v.id);
        }
        for v in views {
            for &(i, t) in v.log.iter().take_while(|(i, _)| *i <= v.commit) {
                match self.committed.get(&i) {
                    Some(&u) if u != t => {
                        return violation(
                            "state machine safety",
                            format!(
                                "entry {i} was committed as term {u}, now node {} commits term {t}",
                                v.id
                            ),
                        )
                    }
                    Some(_) => {}
                    None => {
                        self.committed.insert(i, t);
                    }
                }
            }
        }
        Ok(())
    }

    /// Node `node` applied the entry at `index` of `term` whose contents
    /// hash to `digest`; every node must apply the same thing there.
    pub fn applied(
        &mut self,
        node: NodeId,
        index: Index,
        term: Term,
        digest: u64,
    ) -> Result<(), Violation> {
        match self.applied.get(&index) {
            Some(&(t, d)) if (t, d) != (term, digest) => violation(
                "state machine safety",
                format!("node {node} applied term {term} at index {index}, where another node applied term {t}"),
            ),
            Some(_) => Ok(()),
            None => {
                self.applied.insert(index, (term, digest));
                Ok(())
            }
        }
    }
}

/// A node's view for unit tests: `log[i]` is the term of entry `i + 1`, a
/// leader votes for and names itself, and everything committed is applied.
#[cfg(test)]
pub(crate) fn test_view(
    id: NodeId,
    role: Role,
    term: Term,
    log: &[Term],
    commit: Index,
) -> NodeView {
    NodeView {
        id,
        role,
        term,
        vote: (role == Role::Leader).then_some(id),
        commit,
        applied: commit,
        last_index: log.len() as Index,
        snapshot_index: 0,
        log: log
            .iter()
            .enumerate()
            .map(|(i, t)| (i as Index + 1, *t))
            .collect(),
        leader: (role == Role::Leader).then_some(id),
    }
}

#[cfg(test)]
mod tests {
    use super::test_view as view;
    use super::*;

    #[test]
    fn healthy_cluster_passes() {
        let a = view(1, Role::Leader, 3, &[1, 1, 3], 3);
        let b = view(2, Role::Follower, 3, &[1, 1, 3], 2);
        let c = view(3, Role::Follower, 3, &[1, 2], 1);
        check_node(&a, None).unwrap();
        check_cluster(&[a, b, c]).unwrap();
    }

    #[test]
    fn each_violation_is_named() {
        let two_leaders = [
            view(1, Role::Leader, 2, &[], 0),
            view(2, Role::Leader, 2, &[], 0),
        ];
        assert_eq!(
            check_cluster(&two_leaders).unwrap_err().invariant,
            "election safety"
        );
        let fork = [
            view(1, Role::Follower, 3, &[1, 2, 3], 0),
            view(2, Role::Follower, 3, &[1, 1, 3], 0),
        ];
        assert_eq!(check_cluster(&fork).unwrap_err().invariant, "log matching");
        let split = [
            view(1, Role::Follower, 3, &[1, 2], 2),
            view(2, Role::Follower, 3, &[1, 3], 2),
        ];
        assert_eq!(
            check_cluster(&split).unwrap_err().invariant,
            "committed entries agree"
        );
        let incomplete = [
            view(1, Role::Leader, 3, &[1], 1),
            view(2, Role::Follower, 2, &[1, 2], 2),
        ];
        assert_eq!(
            check_cluster(&incomplete).unwrap_err().invariant,
            "leader completeness"
        );
        let mut bad = view(1, Role::Follower, 3, &[1], 1);
        bad.commit = 2;
        assert!(check_node(&bad, None).is_err());
    }

    #[test]
    fn monotonic_and_vote_checks_need_the_previous_view() {
        let p = view(1, Role::Follower, 3, &[1, 2], 2);
        let mut v = p.clone();
        v.vote = Some(2);
        let mut p2 = p.clone();
        p2.vote = Some(3);
        assert_eq!(
            check_node(&v, Some(&p2)).unwrap_err().invariant,
            "one vote per term"
        );
        let mut v = p.clone();
        v.log = vec![(1, 1), (2, 3)];
        assert_eq!(
            check_node(&v, Some(&p)).unwrap_err().invariant,
            "committed entries never change"
        );
        let mut v = p.clone();
        v.applied = 1;
        assert_eq!(
            check_node(&v, Some(&p)).unwrap_err().invariant,
            "monotonic applied"
        );
    }

    #[test]
    fn history_remembers_leaders_and_commits() {
        let mut h = History::default();
        h.observe(&[view(1, Role::Leader, 2, &[1, 2], 2)]).unwrap();
        let e = h
            .observe(&[view(2, Role::Leader, 2, &[1, 2], 2)])
            .unwrap_err();
        assert_eq!(e.invariant, "election safety");
        let e = h
            .observe(&[view(3, Role::Follower, 3, &[1, 3], 2)])
            .unwrap_err();
        assert_eq!(e.invariant, "state machine safety");
        h.applied(1, 1, 1, 7).unwrap();
        assert!(h.applied(2, 1, 1, 8).is_err());
    }

    #[test]
    fn committed_on_quorum() {
        let a = view(1, Role::Leader, 2, &[1, 2], 2);
        let b = view(2, Role::Follower, 2, &[1], 1);
        let c = view(3, Role::Follower, 2, &[1], 1);
        let err = check_committed_on_quorum(&[a.clone(), b.clone(), c], &[1, 2, 3]).unwrap_err();
        assert_eq!(err.invariant, "committed on a quorum");
        let c = view(3, Role::Follower, 2, &[1, 2], 1);
        check_committed_on_quorum(&[a, b, c], &[1, 2, 3]).unwrap();
    }
}
