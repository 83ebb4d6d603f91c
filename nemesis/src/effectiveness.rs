//! Fault effectiveness: for each fault, how many client operations were
//! open while it was in force and whether it hit the leader. A run where no
//! fault overlapped any operation tested nothing, and is flagged.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::fault::NodeId;
use crate::schedule::{FaultId, Schedule};

/// One fault as applied: when it was in force (inclusive, in simulated
/// nanoseconds) and which nodes it hit, with leader targets resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpan {
    pub id: FaultId,
    /// The fault's history name (`partition`, `crash`, ...).
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub nodes: BTreeSet<NodeId>,
    /// The fault was aimed at whoever led when it was applied.
    pub aimed_at_leader: bool,
}

/// A client operation from invoke to completion; `None` if it never
/// completed (`info`), which keeps it open to the end of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSpan {
    pub start_ns: u64,
    pub end_ns: Option<u64>,
}

/// A node's leadership, from election to losing it (`None`: still leading).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderSpan {
    pub node: NodeId,
    pub start_ns: u64,
    pub end_ns: Option<u64>,
}

/// What one fault did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultEffect {
    pub id: FaultId,
    pub name: String,
    /// Client operations open at some instant the fault was in force.
    pub ops_overlapped: usize,
    /// The fault hit a node while it led.
    pub touched_leader: bool,
}

/// Effectiveness of all faults in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effectiveness {
    pub faults: Vec<FaultEffect>,
    /// No fault overlapped any client operation: the run tested nothing.
    pub ineffective: bool,
}

impl Effectiveness {
    /// One sentence for the report.
    pub fn summary(&self) -> String {
        if self.faults.is_empty() {
            return "no faults were injected; this run did not exercise the nemesis".into();
        }
        if self.ineffective {
            return format!(
                "none of the {} faults overlapped any client operation; this run tested nothing",
                self.faults.len()
            );
        }
        let overlapping = self.faults.iter().filter(|f| f.ops_overlapped > 0).count();
        let leader = self.faults.iter().filter(|f| f.touched_leader).count();
        format!(
            "{overlapping} of {} faults overlapped client operations; {leader} touched the leader",
            self.faults.len()
        )
    }
}

impl FaultSpan {
    /// Spans for a schedule as written: times converted to nanoseconds, nodes
    /// as named. Whoever applies the schedule should add the resolved leader
    /// to `nodes` of leader-aimed faults and drop faults it skipped.
    pub fn from_schedule(schedule: &Schedule) -> Vec<FaultSpan> {
        schedule
            .intervals()
            .into_iter()
            .map(|(id, fault, start, end)| FaultSpan {
                id,
                name: fault.name().to_string(),
                start_ns: start * 1_000_000,
                end_ns: end * 1_000_000,
                nodes: fault.named_nodes(),
                aimed_at_leader: fault.targets_leader(),
            })
            .collect()
    }
}

fn overlaps(a_start: u64, a_end: Option<u64>, b_start: u64, b_end: u64) -> bool {
    a_start <= b_end && a_end.is_none_or(|e| b_start <= e)
}

/// Compute each fault's effect from the op and leadership timelines.
pub fn effectiveness(
    faults: &[FaultSpan],
    ops: &[OpSpan],
    leaders: &[LeaderSpan],
) -> Effectiveness {
    let effects: Vec<FaultEffect> = faults
        .iter()
        .map(|f| {
            let ops_overlapped = ops
                .iter()
                .filter(|o| overlaps(o.start_ns, o.end_ns, f.start_ns, f.end_ns))
                .count();
            let touched_leader = f.aimed_at_leader
                || leaders.iter().any(|l| {
                    f.nodes.contains(&l.node)
                        && overlaps(l.start_ns, l.end_ns, f.start_ns, f.end_ns)
                });
            FaultEffect {
                id: f.id,
                name: f.name.clone(),
                ops_overlapped,
                touched_leader,
            }
        })
        .collect();
    let ineffective = effects.iter().all(|e| e.ops_overlapped == 0);
    Effectiveness {
        faults: effects,
        ineffective,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{Fault, Target};
    use crate::schedule::{Action, Item};

    fn span(id: FaultId, start: u64, end: u64, nodes: &[NodeId]) -> FaultSpan {
        FaultSpan {
            id,
            name: "crash".into(),
            start_ns: start,
            end_ns: end,
            nodes: nodes.iter().copied().collect(),
            aimed_at_leader: false,
        }
    }

    #[test]
    fn counts_overlapping_ops_and_leader_hits() {
        let faults = [span(0, 100, 200, &[1]), span(1, 300, 400, &[2])];
        let ops = [
            OpSpan {
                start_ns: 50,
                end_ns: Some(100),
            }, // touches fault 0 at its start
            OpSpan {
                start_ns: 150,
                end_ns: Some(160),
            }, // inside fault 0
            OpSpan {
                start_ns: 210,
                end_ns: Some(290),
            }, // between faults
            OpSpan {
                start_ns: 250,
                end_ns: None,
            }, // never completed: open to the end
        ];
        let leaders = [
            LeaderSpan {
                node: 1,
                start_ns: 0,
                end_ns: Some(150),
            },
            LeaderSpan {
                node: 3,
                start_ns: 160,
                end_ns: None,
            },
        ];
        let e = effectiveness(&faults, &ops, &leaders);
        assert_eq!(e.faults[0].ops_overlapped, 2);
        assert!(e.faults[0].touched_leader);
        assert_eq!(e.faults[1].ops_overlapped, 1);
        assert!(!e.faults[1].touched_leader);
        assert!(!e.ineffective);
    }

    #[test]
    fn a_run_where_no_fault_meets_an_op_is_flagged() {
        let faults = [span(0, 100, 200, &[1])];
        let ops = [OpSpan {
            start_ns: 300,
            end_ns: Some(400),
        }];
        let e = effectiveness(&faults, &ops, &[]);
        assert!(e.ineffective);
        assert!(e.summary().contains("tested nothing"));
        assert!(effectiveness(&[], &ops, &[]).ineffective);
    }

    #[test]
    fn spans_from_a_schedule_use_nanoseconds_and_heals() {
        let s = Schedule {
            nodes: vec![1, 2, 3],
            end_ms: 10,
            items: vec![
                Item {
                    at_ms: 1,
                    action: Action::Inject {
                        id: 0,
                        fault: Fault::Pause {
                            targets: Target::Leader,
                        },
                    },
                },
                Item {
                    at_ms: 4,
                    action: Action::Heal { id: 0 },
                },
            ],
        };
        let spans = FaultSpan::from_schedule(&s);
        assert_eq!(spans.len(), 1);
        assert_eq!((spans[0].start_ns, spans[0].end_ns), (1_000_000, 4_000_000));
        assert!(spans[0].aimed_at_leader);
        let e = effectiveness(
            &spans,
            &[OpSpan {
                start_ns: 0,
                end_ns: Some(1),
            }],
            &[],
        );
        assert!(e.faults[0].touched_leader && e.ineffective);
    }
}
