//! Shrinking a failing run: a smaller configuration that still fails the
//! same way. Faults go first (ddmin over the schedule's faults, each with
//! its heal), then fewer clients, a shorter fault phase and fewer nodes
//! (the faults renumbered onto the smaller cluster), each a greedy search
//! from the smallest candidate up. The passes repeat
//! while they make progress, within a budget of simulations.

use std::collections::BTreeSet;

use faultline_nemesis::{limits, Action, FaultId, Restricted, Schedule};

use super::ddmin::ddmin;
use crate::sim::RunConfig;

/// The smallest fault phase shrinking tries, so a run still has time to
/// elect a leader and serve some operations.
pub const MIN_DURATION_MS: u64 = 1_000;

/// What shrinking found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub config: RunConfig,
    /// Simulations run.
    pub runs: usize,
    /// The budget ran out before no pass could shrink further.
    pub exhausted: bool,
    /// One line per accepted step, for the user.
    pub steps: Vec<String>,
}

/// The size of a configuration along every axis shrinking works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub faults: usize,
    pub clients: usize,
    pub nodes: usize,
    pub duration_ms: u64,
}

impl Size {
    pub fn of(config: &RunConfig) -> Size {
        Size {
            faults: fault_ids(&config.schedule).len(),
            clients: config.clients,
            nodes: config.nodes.len(),
            duration_ms: config.duration_ms,
        }
    }
}

/// The fault ids of a schedule, in injection order.
pub fn fault_ids(schedule: &Schedule) -> Vec<FaultId> {
    schedule
        .items
        .iter()
        .filter_map(|i| match i.action {
            Action::Inject { id, .. } => Some(id),
            Action::Heal { .. } => None,
        })
        .collect()
}

/// The schedule with only the faults in `keep` (and their heals).
pub fn keep_faults(schedule: &Schedule, keep: &BTreeSet<FaultId>) -> Schedule {
    Schedule {
        items: schedule
            .items
            .iter()
            .filter(|i| match i.action {
                Action::Inject { id, .. } | Action::Heal { id } => keep.contains(&id),
            })
            .cloned()
            .collect(),
        ..schedule.clone()
    }
}

/// `config` with `clients` clients.
pub fn with_clients(config: &RunConfig, clients: usize) -> RunConfig {
    let mut c = config.clone();
    c.clients = clients;
    c.generator.concurrency = clients;
    c.generator.clients_per_key = c.generator.clients_per_key.min(clients).max(1);
    c
}

/// `config` with a fault phase of `duration_ms` (the schedule must fit).
pub fn with_duration(config: &RunConfig, duration_ms: u64) -> RunConfig {
    let mut c = config.clone();
    c.duration_ms = duration_ms;
    c.schedule.end_ms = c.schedule.end_ms.min(duration_ms);
    c
}

/// `config` on the initial cluster `1..=nodes`, its schedule renumbered
/// onto it (see [`Schedule::restrict_to`]), and how the nodes were renumbered.
pub fn with_nodes(config: &RunConfig, nodes: usize) -> (RunConfig, Restricted) {
    let mut c = config.clone();
    let restricted = config.schedule.restrict_to(nodes);
    c.nodes = restricted.schedule.nodes.clone();
    c.schedule = restricted.schedule.clone();
    (c, restricted)
}

/// Whether `candidate`'s schedule breaks a safety limit `original`'s kept:
/// a smaller cluster that then fails has not shown the same bug.
fn breaks_new_limits(original: &RunConfig, candidate: &RunConfig) -> bool {
    !limits::check(&candidate.schedule).is_empty() && limits::check(&original.schedule).is_empty()
}

/// The time of the schedule's last item (0 if it is empty).
fn last_item_ms(schedule: &Schedule) -> u64 {
    schedule.items.iter().map(|i| i.at_ms).max().unwrap_or(0)
}

/// Candidates below `current`, smallest first: `min`, doubling, then
/// `current - 1`.
fn ladder(min: u64, current: u64) -> Vec<u64> {
    let mut out = BTreeSet::new();
    let mut v = min.max(1);
    while v < current {
        out.insert(v);
        v = v.saturating_mul(2);
    }
    if current > min {
        out.insert(current - 1);
    }
    out.into_iter()
        .filter(|&v| v >= min && v < current)
        .collect()
}

/// Shrink `original`, which `fails` is known to fail on. `fails` runs one
/// simulation and says whether it failed the same way; it is called at
/// most `max_runs` times, and never on a configuration that does not
/// validate.
pub fn shrink(
    original: &RunConfig,
    max_runs: usize,
    mut fails: impl FnMut(&RunConfig) -> bool,
) -> Shrunk {
    let mut current = original.clone();
    let mut budget = Budget {
        runs: 0,
        max: max_runs,
        exhausted: false,
    };
    let mut steps = Vec::new();

    for _round in 0..4 {
        let before = Size::of(&current);

        // Faults: ddmin over fault ids, inject and heal kept together.
        let ids = fault_ids(&current.schedule);
        if !ids.is_empty() {
            let base = current.clone();
            let reduced = ddmin(&ids, usize::MAX, |subset| {
                let keep: BTreeSet<FaultId> = subset.iter().copied().collect();
                let mut c = base.clone();
                c.schedule = keep_faults(&base.schedule, &keep);
                budget.run(&c, &mut fails)
            });
            if reduced.items.len() < ids.len() {
                let keep: BTreeSet<FaultId> = reduced.items.iter().copied().collect();
                current.schedule = keep_faults(&current.schedule, &keep);
                steps.push(format!(
                    "faults: {} -> {} (kept {:?})",
                    ids.len(),
                    reduced.items.len(),
                    reduced.items
                ));
            }
        }

        // Clients.
        for n in ladder(1, current.clients as u64) {
            let c = with_clients(&current, n as usize);
            if budget.run(&c, &mut fails) {
                steps.push(format!("clients: {} -> {n}", current.clients));
                current = c;
                break;
            }
        }

        // Duration: no shorter than the schedule needs.
        let min_ms = (last_item_ms(&current.schedule) + 1).max(MIN_DURATION_MS);
        for ms in ladder(min_ms, current.duration_ms) {
            let c = with_duration(&current, ms);
            if budget.run(&c, &mut fails) {
                steps.push(format!("duration: {} ms -> {ms} ms", current.duration_ms));
                current = c;
                break;
            }
        }

        // Nodes: odd cluster sizes below the current one (an even size
        // tolerates no more failures than the odd size below it), with the
        // faults renumbered onto the smaller cluster.
        let sizes: Vec<usize> = (1..current.nodes.len()).filter(|n| n % 2 == 1).collect();
        for n in sizes {
            let (c, how) = with_nodes(&current, n);
            if breaks_new_limits(&current, &c) {
                continue;
            }
            if budget.run(&c, &mut fails) {
                steps.push(format!(
                    "nodes: {} -> {n} (renumbered {}{})",
                    current.nodes.len(),
                    how.renumbered
                        .iter()
                        .map(|(old, new)| format!("{old}->{new}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if how.dropped.is_empty() {
                        String::new()
                    } else {
                        format!("; dropped faults {:?}", how.dropped)
                    }
                ));
                current = c;
                break;
            }
        }

        if Size::of(&current) == before || budget.exhausted {
            break;
        }
    }
    Shrunk {
        config: current,
        runs: budget.runs,
        exhausted: budget.exhausted,
        steps,
    }
}

/// Counts simulations against the limit.
struct Budget {
    runs: usize,
    max: usize,
    exhausted: bool,
}

impl Budget {
    /// Run `c` if it is runnable and the budget allows; a candidate that
    /// is not run counts as not failing.
    fn run(&mut self, c: &RunConfig, fails: &mut impl FnMut(&RunConfig) -> bool) -> bool {
        if c.validate().is_err() {
            return false;
        }
        if self.runs >= self.max {
            self.exhausted = true;
            return false;
        }
        self.runs += 1;
        fails(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::RunOptions;

    fn config() -> RunConfig {
        let opts = RunOptions {
            nemesis: "partition,crash,pause".into(),
            nemesis_interval_ms: Some(1_000),
            duration_ms: Some(30_000),
            ..RunOptions::default()
        };
        let c = RunConfig::from_seed(5, &opts).unwrap();
        assert!(fault_ids(&c.schedule).len() >= 5, "want a busy schedule");
        c
    }

    #[test]
    fn keeps_the_culprit_fault_and_shrinks_every_axis() {
        let original = config();
        let ids = fault_ids(&original.schedule);
        let culprit = ids[ids.len() / 2];
        let culprit_end = original
            .schedule
            .items
            .iter()
            .filter(|i| matches!(i.action, Action::Inject { id, .. } | Action::Heal { id } if id == culprit))
            .map(|i| i.at_ms)
            .max()
            .unwrap();
        // A synthetic failure: needs the culprit fault and at least 3 clients.
        let s = shrink(&original, 500, |c| {
            fault_ids(&c.schedule).contains(&culprit) && c.clients >= 3
        });
        assert_eq!(fault_ids(&s.config.schedule), vec![culprit]);
        assert_eq!(s.config.clients, 3);
        assert!(s.config.duration_ms > culprit_end && s.config.duration_ms < original.duration_ms);
        assert!(s.config.nodes.len() < original.nodes.len());
        s.config.validate().unwrap();
        assert!(!s.exhausted);
        assert!(
            s.steps.iter().any(|l| l.starts_with("faults:")),
            "{:?}",
            s.steps
        );
    }

    #[test]
    fn respects_the_run_budget() {
        let original = config();
        let mut calls = 0;
        let s = shrink(&original, 7, |_| {
            calls += 1;
            calls % 3 == 0
        });
        assert!(calls <= 7, "{calls} runs");
        assert_eq!(s.runs, calls);
        assert!(s.exhausted);
        s.config.validate().unwrap();
    }

    #[test]
    fn nothing_shrinks_when_everything_matters() {
        let original = config();
        let size = Size::of(&original);
        let s = shrink(&original, 1_000, |c| Size::of(c) == size);
        assert_eq!(Size::of(&s.config), size);
        assert!(s.steps.is_empty());
    }

    #[test]
    fn fewer_nodes_with_the_faults_renumbered_onto_them() {
        use faultline_nemesis::{Direction, Fault, Item, Partition, Target};
        let mut original = config();
        let inject = |at_ms, id, fault| Item {
            at_ms,
            action: Action::Inject { id, fault },
        };
        let heal = |at_ms, id| Item {
            at_ms,
            action: Action::Heal { id },
        };
        original.schedule.items = vec![
            inject(
                1_000,
                0,
                Fault::Partition {
                    cut: Partition::Halves {
                        minority: vec![4, 5],
                        direction: Direction::Both,
                    },
                },
            ),
            heal(3_000, 0),
            inject(
                4_000,
                1,
                Fault::Pause {
                    targets: Target::Nodes(vec![2, 5]),
                },
            ),
            heal(5_000, 1),
        ];
        original.validate().unwrap();
        // A synthetic failure: needs a partition that cuts node 5 (by its
        // old name, wherever it is renumbered) off from some other node.
        let s = shrink(&original, 500, |c| {
            c.schedule.intervals().iter().any(|(_, f, _, _)| {
                let Fault::Partition { cut } = f else {
                    return false;
                };
                let minority = cut.hurt_nodes();
                !minority.is_empty() && minority.len() < c.nodes.len()
            })
        });
        assert_eq!(s.config.nodes, vec![1, 2, 3]);
        assert_eq!(fault_ids(&s.config.schedule), vec![0]);
        assert_eq!(
            s.config.schedule.fault(0),
            Some(&Fault::Partition {
                cut: Partition::Halves {
                    minority: vec![2],
                    direction: Direction::Both,
                },
            })
        );
        s.config.validate().unwrap();
        let step = s.steps.iter().find(|l| l.starts_with("nodes:")).unwrap();
        assert_eq!(step, "nodes: 5 -> 3 (renumbered 1->1, 4->2, 5->3)");
    }

    #[test]
    fn a_smaller_cluster_that_breaks_the_limits_is_not_tried() {
        use faultline_nemesis::{CrashScope, Fault, Item, Target};
        let mut original = config();
        original.schedule.items = [(1_000, 0, vec![1]), (1_500, 1, vec![4])]
            .into_iter()
            .map(|(at_ms, id, nodes)| Item {
                at_ms,
                action: Action::Inject {
                    id,
                    fault: Fault::Crash {
                        targets: Target::Nodes(nodes),
                        scope: CrashScope::One,
                        torn_block_bytes: None,
                    },
                },
            })
            .chain([2_000, 2_000].into_iter().zip(0..).map(|(at_ms, id)| Item {
                at_ms,
                action: Action::Heal { id },
            }))
            .collect();
        original.validate().unwrap();
        assert!(limits::check(&original.schedule).is_empty());
        // Two crashed nodes are a minority of five but not of three.
        let (three, _) = with_nodes(&original, 3);
        assert!(breaks_new_limits(&original, &three));
        let mut sizes = BTreeSet::new();
        shrink(&original, 500, |c| {
            sizes.insert(c.nodes.len());
            fault_ids(&c.schedule).len() == 2
        });
        // One node drops both crashes (it can lose none) and is within the
        // limits, so it runs; three nodes never do.
        assert_eq!(sizes, BTreeSet::from([1, 5]));
    }

    #[test]
    fn ladder_goes_up_from_the_minimum() {
        assert_eq!(ladder(1, 10), vec![1, 2, 4, 8, 9]);
        assert_eq!(ladder(3, 4), vec![3]);
        assert!(ladder(5, 5).is_empty());
        assert!(ladder(6, 5).is_empty());
    }
}
