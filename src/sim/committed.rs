//! Committed entries across time: every entry any node was ever seen to
//! hold as committed, remembered after that node crashed and restarted
//! (its commit index is volatile and starts over) or moved on.
//!
//! The per-step checks compare the nodes' latest views, a stopped node
//! counting with its last one; a node that restarts replaces its view, and
//! with it the evidence of what it had committed. A leader that committed
//! an entry and was then lost and restarted leaves no view holding that
//! commit, so an entry overwritten afterwards (Raft's Figure 8) went
//! unseen. The ledger keeps it: a committed entry never changes, and every
//! leader of a later term holds it (leader completeness, §5.4).

use std::collections::BTreeMap;

use crate::raft::invariants::NodeView;
use crate::raft::{Index, NodeId, Role, Term};

/// One committed entry as first seen.
#[derive(Clone, Copy, Debug)]
struct Committed {
    /// The entry's term.
    term: Term,
    /// The lowest current term of a node seen holding it as committed:
    /// the entry was committed in that term or earlier, so every leader of
    /// a later term must hold it.
    by_term: Term,
    /// A node seen holding it as committed (for the report).
    at: NodeId,
}

/// The entries seen committed, and how far each node's committed prefix
/// was read in its current process.
#[derive(Default)]
pub struct Ledger {
    entries: BTreeMap<Index, Committed>,
    /// Per node: (incarnation, highest committed index already recorded).
    read_to: BTreeMap<NodeId, (u64, Index)>,
    /// Per node: (incarnation, term) of the leadership already checked.
    leading: BTreeMap<NodeId, (u64, Term)>,
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Record what a running node's view (of process `incarnation`) holds
    /// as committed and check it, and a new leader, against the ledger.
    /// `leaders` are the other nodes' latest views of leaders, checked
    /// against entries that enter the ledger now.
    pub fn observe<'a>(
        &mut self,
        view: &NodeView,
        incarnation: u64,
        leaders: impl Iterator<Item = &'a NodeView>,
    ) -> Result<(), String> {
        let id = view.id;
        let from = match self.read_to.get(&id) {
            Some(&(inc, upto)) if inc == incarnation => upto,
            _ => 0,
        };
        let mut new: Vec<Index> = Vec::new();
        // The log is in index order and the monitor looks every step: find
        // the unread part by search, not by walking the whole log.
        let start = view.log.partition_point(|(i, _)| *i <= from);
        for &(i, t) in view.log[start..]
            .iter()
            .take_while(|(i, _)| *i <= view.commit)
        {
            match self.entries.get_mut(&i) {
                Some(c) if c.term != t => {
                    return Err(format!(
                        "committed entries never change violated: entry {i} was committed \
                         as term {} at node {}, now node {id} commits term {t}",
                        c.term, c.at
                    ));
                }
                Some(c) => c.by_term = c.by_term.min(view.term),
                None => {
                    self.entries.insert(
                        i,
                        Committed {
                            term: t,
                            by_term: view.term,
                            at: id,
                        },
                    );
                    new.push(i);
                }
            }
        }
        if view.commit > from {
            self.read_to.insert(id, (incarnation, view.commit));
        }
        // A leader never drops entries of its own log, so it is checked
        // against the whole ledger once per leadership, and against each
        // entry recorded while it leads.
        if view.role == Role::Leader && self.leading.get(&id) != Some(&(incarnation, view.term)) {
            self.leading.insert(id, (incarnation, view.term));
            let all: Vec<Index> = self.entries.keys().copied().collect();
            self.check_leader(view, &all)?;
        }
        for l in leaders.filter(|l| l.role == Role::Leader && l.id != id) {
            self.check_leader(l, &new)?;
        }
        if view.role == Role::Leader {
            self.check_leader(view, &new)?;
        }
        Ok(())
    }

    /// A leader holds every entry of `indexes` committed before its term.
    fn check_leader(&self, leader: &NodeView, indexes: &[Index]) -> Result<(), String> {
        for &i in indexes {
            let Some(c) = self.entries.get(&i) else {
                continue;
            };
            if c.by_term >= leader.term || i <= leader.snapshot_index {
                continue;
            }
            let missing = match leader.term_at(i) {
                Some(u) => u != c.term,
                None => i > leader.last_index,
            };
            if missing {
                return Err(format!(
                    "leader completeness violated: leader {} of term {} lacks entry {i} of \
                     term {} committed at node {} by term {}",
                    leader.id, leader.term, c.term, c.at, c.by_term
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::invariants::test_view as view;

    /// Figure 8: node 1 commits entry 2 of term 2 by count in term 4, is
    /// lost and restarts with its commit index back at 0; node 5, leader
    /// of term 5 with entry 2 of term 3, overwrites it. No view holds the
    /// commit any more, the ledger does.
    #[test]
    fn an_entry_committed_by_a_restarted_node_is_held_against_a_later_leader() {
        let mut l = Ledger::new();
        let none = std::iter::empty();
        l.observe(&view(1, Role::Leader, 4, &[1, 2], 2), 1, none)
            .unwrap();
        // Restarted: a new process, nothing committed yet.
        l.observe(
            &view(1, Role::Follower, 4, &[1, 2], 0),
            2,
            std::iter::empty(),
        )
        .unwrap();
        let err = l
            .observe(&view(5, Role::Leader, 5, &[1, 3], 1), 1, std::iter::empty())
            .unwrap_err();
        assert!(
            err.contains("leader 5 of term 5 lacks entry 2 of term 2"),
            "{err}"
        );
        // And a node committing the other entry there is caught too.
        let mut l = Ledger::new();
        l.observe(&view(1, Role::Leader, 4, &[1, 2], 2), 1, std::iter::empty())
            .unwrap();
        let err = l
            .observe(
                &view(3, Role::Follower, 5, &[1, 3], 2),
                1,
                std::iter::empty(),
            )
            .unwrap_err();
        assert!(err.contains("entry 2 was committed as term 2"), "{err}");
    }

    /// A stale leader of an earlier term, or one elected before the
    /// commit's term, is not held to it.
    #[test]
    fn leaders_of_earlier_terms_are_not_held_to_later_commits() {
        let mut l = Ledger::new();
        // Node 2 leads term 3 with a log lacking entry 2 of term 2.
        l.observe(&view(2, Role::Leader, 3, &[1], 1), 1, std::iter::empty())
            .unwrap();
        // Node 1 commits entry 2 of term 2 in term 4.
        let stale = view(2, Role::Leader, 3, &[1], 1);
        l.observe(
            &view(1, Role::Leader, 4, &[1, 2, 4], 3),
            1,
            [&stale].into_iter(),
        )
        .unwrap();
        // A leader of term 5 holding it is fine; a leader of term 4 is node 1.
        l.observe(
            &view(3, Role::Leader, 5, &[1, 2, 4, 5], 3),
            1,
            std::iter::empty(),
        )
        .unwrap();
    }

    /// A leader elected while an entry is committed is checked against
    /// entries that other nodes are seen committing later.
    #[test]
    fn a_commit_seen_later_is_checked_against_the_current_leader() {
        let mut l = Ledger::new();
        let leader = view(5, Role::Leader, 5, &[1, 3], 1);
        l.observe(&leader, 1, std::iter::empty()).unwrap();
        // Node 4, still in term 4, is seen with entry 2 of term 2 committed.
        let err = l
            .observe(
                &view(4, Role::Follower, 4, &[1, 2], 2),
                1,
                [&leader].into_iter(),
            )
            .unwrap_err();
        assert!(err.contains("leader 5 of term 5 lacks entry 2"), "{err}");
    }
}
