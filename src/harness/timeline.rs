//! A run's `timeline.html`: the history drawn by `histories`' timeline
//! (operations, the linearization, the operation that cannot be placed),
//! annotated with what only the harness knows: each fault with the nodes
//! it hit, each node's role and term over time, and every checker's
//! verdict.

use std::collections::BTreeMap;
use std::path::Path;

use faultline_histories::check::{CheckReport, Verdict as LinVerdict};
use faultline_histories::command::{write_timeline, write_timeline_with};
use faultline_histories::ops::pair;
use faultline_histories::timeline::{FaultBand, NodeBand, TimelineOptions};
use faultline_histories::Event;
use faultline_nemesis::FaultSpan;
use faultline_workloads::Workload;

use super::judge::{lin_model, LinModel};
use super::models;
use super::verdict::Verdicts;
use crate::raft::Role;
use crate::sim::TraceLine;

/// What the page draws.
pub struct TimelineInput<'a> {
    pub title: String,
    pub workload: Workload,
    pub history: &'a [Event],
    /// The linearizability checker's report; `None` if it could not run.
    pub linearizability: Option<&'a CheckReport>,
    pub faults: &'a [FaultSpan],
    pub trace: &'a [TraceLine],
    pub verdicts: &'a Verdicts,
    /// Where the run ended, in simulated nanoseconds.
    pub end_ns: u64,
}

/// Writes the page to `path`.
pub fn write(path: &Path, input: &TimelineInput) -> std::io::Result<()> {
    // A history the checker could not read is still drawn, as far as its
    // operations pair up.
    let ops = pair(input.history).unwrap_or_default();
    let unchecked;
    let report = match input.linearizability {
        Some(r) => r,
        None => {
            unchecked = CheckReport {
                model: "none".into(),
                verdict: LinVerdict::Unknown,
                ops: ops.len(),
                partitions: Vec::new(),
                elapsed_ms: 0.0,
            };
            &unchecked
        }
    };
    let opts = options(input);
    match lin_model(input.workload) {
        LinModel::Spec(spec) => write_timeline(path, &spec, input.history, &ops, report, &opts),
        LinModel::Bank => {
            write_timeline_with(path, &models::bank(), input.history, &ops, report, &opts)
        }
        LinModel::Counter => {
            write_timeline_with(path, &models::counter(), input.history, &ops, report, &opts)
        }
    }
}

/// The page's annotations: faults, node states, verdicts and the run's span.
pub fn options(input: &TimelineInput) -> TimelineOptions {
    let explain = input.verdicts.explain();
    TimelineOptions {
        title: input.title.clone(),
        faults: fault_bands(input.faults),
        nodes: node_bands(input.trace, input.end_ns),
        verdict: Some(input.verdicts.headline()),
        details: (!explain.is_empty()).then_some(explain),
        span: Some((0, input.end_ns)),
        // A run's page shows the whole run: the failing key's operations
        // are still numbered and the one that cannot be placed marked.
        every_key: true,
        ..TimelineOptions::default()
    }
}

fn fault_bands(spans: &[FaultSpan]) -> Vec<FaultBand> {
    spans
        .iter()
        .map(|f| FaultBand {
            start_ns: f.start_ns,
            end_ns: Some(f.end_ns),
            label: format!(
                "fault {} {}{}",
                f.id,
                f.name,
                if f.aimed_at_leader {
                    " (at the leader)"
                } else {
                    ""
                }
            ),
            kind: f.name.clone(),
            nodes: f.nodes.iter().copied().collect(),
        })
        .collect()
}

/// Each node's trace lines as bands lasting until its next line (or the
/// end of the run).
fn node_bands(trace: &[TraceLine], end_ns: u64) -> Vec<NodeBand> {
    let mut by_node: BTreeMap<u64, Vec<&TraceLine>> = BTreeMap::new();
    for l in trace {
        by_node.entry(l.node).or_default().push(l);
    }
    let mut out = Vec::new();
    for (node, lines) in by_node {
        for (i, l) in lines.iter().enumerate() {
            let s = &l.state;
            let state = match (s.role, s.paused) {
                (None, _) => "down",
                (Some(_), true) => "paused",
                (Some(Role::Leader), _) => "leader",
                (Some(Role::Candidate), _) => "candidate",
                (Some(Role::PreCandidate), _) => "pre-candidate",
                (Some(Role::Follower), _) => "follower",
            };
            out.push(NodeBand {
                node,
                start_ns: l.time_ns,
                end_ns: Some(
                    lines
                        .get(i + 1)
                        .map_or(end_ns, |n| n.time_ns)
                        .max(l.time_ns),
                ),
                state: state.into(),
                term: Some(s.term),
                detail: format!(
                    "commit {} applied {} last {}",
                    s.commit, s.applied, s.last_index
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::verdict::{CheckResult, Checker, Verdict};
    use crate::sim::NodeState;
    use faultline_histories::{EventType, Process};

    #[test]
    fn draws_faults_roles_operations_and_verdicts() {
        let ev = |index, time, process, kind, value: serde_json::Value| Event {
            index,
            time,
            process: Process::Client(process),
            kind,
            f: "write".into(),
            key: Some("k<1>".into()),
            value,
            error: None,
        };
        let history = vec![
            ev(0, 0, 1, EventType::Invoke, 1.into()),
            ev(1, 5_000_000, 2, EventType::Invoke, 2.into()),
            ev(2, 9_000_000, 1, EventType::Ok, 1.into()),
        ];
        let faults = vec![FaultSpan {
            id: 3,
            name: "partition".into(),
            start_ns: 1_000_000,
            end_ns: 2_000_000_000,
            nodes: [1u64, 2].into_iter().collect(),
            aimed_at_leader: false,
        }];
        let st = |role| NodeState {
            role,
            term: 4,
            commit: 1,
            applied: 1,
            last_index: 2,
            leader: Some(1),
            paused: false,
        };
        let trace = vec![
            TraceLine {
                time_ns: 0,
                node: 1,
                state: st(Some(Role::Leader)),
            },
            TraceLine {
                time_ns: 1_500_000_000,
                node: 1,
                state: st(None),
            },
        ];
        let verdicts = Verdicts::combine(vec![CheckResult::new(
            Checker::Agreement,
            Verdict::Invalid,
            "a </script> b",
        )]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeline.html");
        write(
            &path,
            &TimelineInput {
                title: "seed 7".into(),
                workload: Workload::Register,
                history: &history,
                linearizability: None,
                faults: &faults,
                trace: &trace,
                verdicts: &verdicts,
                end_ns: 3_000_000_000,
            },
        )
        .unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        assert!(
            html.contains("fault 3 partition on n1,n2 [0.001s – 2.000s]"),
            "{html}"
        );
        assert!(html.contains(r#""fault_rows":["partition"]"#));
        assert!(html.contains("n1 leader term 4 commit 1 applied 1 last 2 [0.000s – 1.500s]"));
        assert!(html.contains("n1 down term 4"));
        assert!(html.contains(r#""cls":"leader""#) && html.contains(r#""cls":"down""#));
        assert!(html.contains(r#""cls":"info""#), "the open write");
        assert!(html.contains(r#""verdict":"invalid (agreement)""#));
        // Text is data for the script: it cannot close the script element.
        assert!(html.contains(r"a <\/script> b") && !html.contains("a </script> b"));
        assert!(html.contains(r#""t0":0,"t1":3000000000"#), "the whole run");
    }
}
