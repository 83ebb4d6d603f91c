//! The node state trace: one line each time a node's role, term, commit,
//! applied or last index changes (TigerBeetle's VOPR style), plus the
//! leadership spans the report's timeline and fault-effectiveness need.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use faultline_nemesis::LeaderSpan;
use serde::{Deserialize, Serialize};

use crate::raft::{Index, NodeId, Role, Term};

/// What the trace records of one node at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// `None` while the node is down (crashed, stopped, failed).
    pub role: Option<Role>,
    pub term: Term,
    pub commit: Index,
    pub applied: Index,
    pub last_index: Index,
    pub leader: Option<NodeId>,
    pub paused: bool,
}

/// One line of the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceLine {
    /// Simulated nanoseconds since the start of the run.
    pub time_ns: u64,
    pub node: NodeId,
    pub state: NodeState,
}

impl fmt::Display for TraceLine {
    /// `  12.345s n3 leader    t=4 commit=120 applied=118 last=121 lead=3`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.state;
        let role = match (s.role, s.paused) {
            (None, _) => "down",
            (Some(_), true) => "paused",
            (Some(Role::Leader), _) => "leader",
            (Some(Role::Candidate), _) => "candidate",
            (Some(Role::PreCandidate), _) => "precand",
            (Some(Role::Follower), _) => "follower",
        };
        let lead = s.leader.map_or("-".to_string(), |l| l.to_string());
        write!(
            f,
            "{:>9.3}s n{:<3} {:<9} t={:<4} commit={:<6} applied={:<6} last={:<6} lead={}",
            self.time_ns as f64 / 1e9,
            self.node,
            role,
            s.term,
            s.commit,
            s.applied,
            s.last_index,
            lead
        )
    }
}

/// Collects trace lines and leadership spans as the run goes.
#[derive(Debug, Default)]
pub struct Tracer {
    last: BTreeMap<NodeId, NodeState>,
    lines: Vec<TraceLine>,
    /// Open leadership of each node: when it started.
    leading_since: BTreeMap<NodeId, u64>,
    spans: Vec<LeaderSpan>,
    leader_changes: u64,
}

impl Tracer {
    pub fn new() -> Tracer {
        Tracer::default()
    }

    /// Record `node`'s state at `time_ns`; a line is added only on change.
    /// Returns the new line, if any.
    pub fn observe(&mut self, time_ns: u64, node: NodeId, state: NodeState) -> Option<&TraceLine> {
        if self.last.get(&node) == Some(&state) {
            return None;
        }
        let leads = state.role == Some(Role::Leader) && !state.paused;
        match (self.leading_since.get(&node).copied(), leads) {
            (None, true) => {
                self.leading_since.insert(node, time_ns);
                self.leader_changes += 1;
            }
            (Some(start), false) => {
                self.leading_since.remove(&node);
                self.spans.push(LeaderSpan {
                    node,
                    start_ns: start,
                    end_ns: Some(time_ns),
                });
            }
            _ => {}
        }
        self.last.insert(node, state);
        self.lines.push(TraceLine {
            time_ns,
            node,
            state,
        });
        self.lines.last()
    }

    pub fn lines(&self) -> &[TraceLine] {
        &self.lines
    }

    /// How many times some node became leader.
    pub fn leader_changes(&self) -> u64 {
        self.leader_changes
    }

    /// Every leadership, closed ones first, then those still open
    /// (`end_ns: None`) in node order.
    pub fn leader_spans(&self) -> Vec<LeaderSpan> {
        let mut spans = self.spans.clone();
        spans.extend(self.leading_since.iter().map(|(&node, &start)| LeaderSpan {
            node,
            start_ns: start,
            end_ns: None,
        }));
        spans
    }

    /// The whole trace as text, one line each.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            let _ = writeln!(out, "{l}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(role: Option<Role>, term: Term) -> NodeState {
        NodeState {
            role,
            term,
            commit: 0,
            applied: 0,
            last_index: 0,
            leader: None,
            paused: false,
        }
    }

    #[test]
    fn lines_only_on_change_and_spans_follow_leadership() {
        let mut t = Tracer::new();
        assert!(t.observe(0, 1, st(Some(Role::Follower), 0)).is_some());
        assert!(t.observe(1, 1, st(Some(Role::Follower), 0)).is_none());
        t.observe(5, 1, st(Some(Role::Leader), 1));
        t.observe(9, 1, st(None, 1));
        t.observe(12, 2, st(Some(Role::Leader), 2));
        assert_eq!(t.lines().len(), 4);
        assert_eq!(t.leader_changes(), 2);
        assert_eq!(
            t.leader_spans(),
            vec![
                LeaderSpan {
                    node: 1,
                    start_ns: 5,
                    end_ns: Some(9)
                },
                LeaderSpan {
                    node: 2,
                    start_ns: 12,
                    end_ns: None
                }
            ]
        );
        let text = t.render();
        assert!(text.lines().nth(1).unwrap().contains("leader"), "{text}");
        assert!(text.lines().nth(2).unwrap().contains("down"), "{text}");
    }

    #[test]
    fn a_paused_leader_does_not_lead() {
        let mut t = Tracer::new();
        t.observe(0, 1, st(Some(Role::Leader), 1));
        let mut paused = st(Some(Role::Leader), 1);
        paused.paused = true;
        t.observe(3, 1, paused);
        assert_eq!(t.leader_spans()[0].end_ns, Some(3));
    }
}
