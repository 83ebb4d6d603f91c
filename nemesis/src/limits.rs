//! Safety limits a generated schedule obeys, and a checker that replays a
//! schedule to confirm them.
//!
//! The limits keep the faults within what a correct Raft cluster must
//! survive *and stay available through once healed*: at most a minority of
//! nodes down at once (crashed, paused, disk-faulted, removed, or a newcomer
//! still catching up) unless a crash explicitly takes a majority or all;
//! bit flips on at most a minority of nodes over the whole run (the same
//! data lives on every replica, so that is the only way to never corrupt a
//! majority of its copies); one disk fault at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::fault::{CrashScope, DiskFault, Fault, NodeId, Target};
use crate::partition::minority;
use crate::schedule::{Action, FaultId, Schedule};

/// The most latency network chaos adds to a message.
pub const MAX_LATENCY_MS: u64 = 500;
/// The largest share of messages network chaos may drop, in ‰.
pub const MAX_LOSS_PERMILLE: u32 = 300;
/// Slowest clock rate, in ‰ of true speed.
pub const MIN_RATE_PERMILLE: u32 = 500;
/// Fastest clock rate, in ‰ of true speed.
pub const MAX_RATE_PERMILLE: u32 = 2000;

/// A limit a schedule breaks, at the item that breaks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// More than a minority of nodes down outside an explicit majority crash.
    TooManyDown {
        at_ms: u64,
        id: FaultId,
        down: usize,
        limit: usize,
    },
    /// A majority or all-node crash while other nodes were already down.
    MajorityCrashNotAlone { at_ms: u64, id: FaultId },
    /// Bit flips reached more than a minority of nodes.
    BitFlipsOnMajority {
        at_ms: u64,
        id: FaultId,
        nodes: BTreeSet<NodeId>,
    },
    /// Two disk faults active at once.
    ConcurrentDiskFaults { at_ms: u64, id: FaultId },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::TooManyDown { at_ms, id, down, limit } => write!(
                f,
                "at {at_ms} ms fault {id} brings {down} nodes down, more than the minority of {limit}"
            ),
            Violation::MajorityCrashNotAlone { at_ms, id } => write!(
                f,
                "at {at_ms} ms fault {id} crashes a majority while other nodes are already down"
            ),
            Violation::BitFlipsOnMajority { at_ms, id, nodes } => write!(
                f,
                "at {at_ms} ms fault {id} flips bits on nodes {nodes:?}, a majority of replicas"
            ),
            Violation::ConcurrentDiskFaults { at_ms, id } => write!(
                f,
                "at {at_ms} ms fault {id} starts a disk fault while another is active"
            ),
        }
    }
}

/// How a fault counts against the down limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Down {
    /// Does not take nodes down.
    None,
    /// Takes these named nodes down, plus `roles` nodes resolved at apply
    /// time (the leader), each counted as one more node.
    Nodes {
        named: BTreeSet<NodeId>,
        roles: usize,
    },
    /// An explicit majority or all-node crash.
    Quorum,
}

pub(crate) fn down_of(fault: &Fault) -> Down {
    let of_target = |t: &Target| match t {
        Target::Nodes(ids) => Down::Nodes {
            named: ids.iter().copied().collect(),
            roles: 0,
        },
        Target::Leader => Down::Nodes {
            named: BTreeSet::new(),
            roles: 1,
        },
    };
    match fault {
        Fault::Crash {
            scope: CrashScope::Majority | CrashScope::All,
            ..
        } => Down::Quorum,
        Fault::Crash { targets, .. } | Fault::Pause { targets } => of_target(targets),
        // A disk fault may make the node fail-stop until healed.
        Fault::Disk { target, disk } if !matches!(disk, DiskFault::BitFlip { .. }) => {
            of_target(target)
        }
        // The node crashes if it reaches the point, and stays down until healed.
        Fault::Failpoint { target, .. } => of_target(target),
        Fault::RemoveNode { node, .. } | Fault::AddNonVoter { node, .. } => Down::Nodes {
            named: BTreeSet::from([*node]),
            roles: 0,
        },
        _ => Down::None,
    }
}

/// Replay `schedule` and report every limit it breaks (empty: it obeys all).
pub fn check(schedule: &Schedule) -> Vec<Violation> {
    let limit = minority(schedule.nodes.len());
    let mut out = Vec::new();
    let mut active: BTreeMap<FaultId, Down> = BTreeMap::new();
    let mut disk_active: BTreeSet<FaultId> = BTreeSet::new();
    let mut flipped: BTreeSet<NodeId> = BTreeSet::new();
    for item in &schedule.items {
        match &item.action {
            Action::Heal { id } => {
                active.remove(id);
                disk_active.remove(id);
            }
            Action::Inject { id, fault } => {
                let at_ms = item.at_ms;
                if let Fault::Disk { target, disk } = fault {
                    if let DiskFault::BitFlip { .. } = disk {
                        flipped.extend(target.named());
                        // A leader-aimed flip could land anywhere: count it as a new node.
                        let unknown = usize::from(matches!(target, Target::Leader));
                        if flipped.len() + unknown > limit {
                            out.push(Violation::BitFlipsOnMajority {
                                at_ms,
                                id: *id,
                                nodes: flipped.clone(),
                            });
                        }
                    } else {
                        if !disk_active.is_empty() {
                            out.push(Violation::ConcurrentDiskFaults { at_ms, id: *id });
                        }
                        disk_active.insert(*id);
                    }
                }
                let down = down_of(fault);
                if down == Down::Quorum {
                    if !active.is_empty() || !flipped.is_empty() {
                        out.push(Violation::MajorityCrashNotAlone { at_ms, id: *id });
                    }
                } else if down != Down::None {
                    let quorum_active = active.values().any(|d| *d == Down::Quorum);
                    active.insert(*id, down);
                    let count = down_count(&active, &flipped);
                    if !quorum_active && count > limit {
                        out.push(Violation::TooManyDown {
                            at_ms,
                            id: *id,
                            down: count,
                            limit,
                        });
                    }
                    if quorum_active {
                        out.push(Violation::MajorityCrashNotAlone { at_ms, id: *id });
                    }
                    continue;
                }
                if !fault.is_instant() && down != Down::None {
                    active.insert(*id, down);
                }
            }
        }
    }
    out
}

/// Nodes down now: the union of named nodes (bit-flipped nodes may have
/// fail-stopped for good) plus one per leader-aimed fault.
pub(crate) fn down_count(active: &BTreeMap<FaultId, Down>, flipped: &BTreeSet<NodeId>) -> usize {
    let mut named = flipped.clone();
    let mut roles = 0;
    for d in active.values() {
        if let Down::Nodes { named: n, roles: r } = d {
            named.extend(n);
            roles += r;
        }
    }
    named.len() + roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{FaultKind, StoredFile};
    use crate::generate::generate;
    use crate::profile::Profile;
    use crate::schedule::Item;
    use proptest::prelude::*;

    fn inject(at_ms: u64, id: FaultId, fault: Fault) -> Item {
        Item {
            at_ms,
            action: Action::Inject { id, fault },
        }
    }

    fn heal(at_ms: u64, id: FaultId) -> Item {
        Item {
            at_ms,
            action: Action::Heal { id },
        }
    }

    fn crash(nodes: &[NodeId], scope: CrashScope) -> Fault {
        Fault::Crash {
            targets: Target::Nodes(nodes.to_vec()),
            scope,
            torn_block_bytes: None,
        }
    }

    fn flip(node: NodeId) -> Fault {
        Fault::Disk {
            target: Target::node(node),
            disk: DiskFault::BitFlip {
                file: StoredFile::Log,
                flips: 1,
            },
        }
    }

    fn schedule(items: Vec<Item>) -> Schedule {
        Schedule {
            nodes: vec![1, 2, 3, 4, 5],
            end_ms: 100,
            items,
        }
    }

    #[test]
    fn two_crashes_plus_a_pause_of_the_leader_is_too_many() {
        let s = schedule(vec![
            inject(1, 0, crash(&[1, 2], CrashScope::Minority)),
            inject(
                2,
                1,
                Fault::Pause {
                    targets: Target::Leader,
                },
            ),
            heal(3, 0),
            heal(3, 1),
        ]);
        s.validate().unwrap();
        assert_eq!(
            check(&s),
            vec![Violation::TooManyDown {
                at_ms: 2,
                id: 1,
                down: 3,
                limit: 2
            }]
        );
    }

    #[test]
    fn overlapping_crashes_of_the_same_node_count_once() {
        let s = schedule(vec![
            inject(1, 0, crash(&[1, 2], CrashScope::Minority)),
            inject(
                2,
                1,
                Fault::Pause {
                    targets: Target::node(2),
                },
            ),
            heal(3, 0),
            heal(3, 1),
        ]);
        assert_eq!(check(&s), vec![]);
    }

    /// A bit flip may make its node fail-stop, and nothing repairs it: it
    /// stays down for the rest of the run (seed 641 of the control).
    #[test]
    fn a_bit_flipped_node_counts_as_down_for_the_rest_of_the_run() {
        let s = schedule(vec![
            inject(1, 0, flip(4)),
            inject(50, 1, crash(&[2, 3], CrashScope::Minority)),
            heal(60, 1),
        ]);
        assert_eq!(
            check(&s),
            vec![Violation::TooManyDown {
                at_ms: 50,
                id: 1,
                down: 3,
                limit: 2
            }]
        );
    }

    #[test]
    fn a_majority_crash_must_be_alone() {
        let ok = schedule(vec![
            inject(1, 0, crash(&[1, 2, 3], CrashScope::Majority)),
            heal(2, 0),
        ]);
        assert_eq!(check(&ok), vec![]);
        let bad = schedule(vec![
            inject(
                1,
                0,
                Fault::Pause {
                    targets: Target::node(5),
                },
            ),
            inject(2, 1, crash(&[1, 2, 3], CrashScope::Majority)),
            inject(
                3,
                2,
                Fault::Pause {
                    targets: Target::node(4),
                },
            ),
            heal(4, 0),
            heal(4, 1),
            heal(4, 2),
        ]);
        assert_eq!(
            check(&bad),
            vec![
                Violation::MajorityCrashNotAlone { at_ms: 2, id: 1 },
                Violation::MajorityCrashNotAlone { at_ms: 3, id: 2 }
            ]
        );
    }

    #[test]
    fn bit_flips_on_a_majority_are_caught() {
        let s = schedule(vec![
            inject(1, 0, flip(1)),
            inject(2, 1, flip(1)),
            inject(3, 2, flip(2)),
            inject(4, 3, flip(3)),
        ]);
        s.validate().unwrap();
        let v = check(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(matches!(&v[0], Violation::BitFlipsOnMajority { id: 3, .. }));
        assert!(v[0].to_string().contains("majority of replicas"));
    }

    #[test]
    fn two_disk_faults_at_once_are_caught() {
        let disk = |n| Fault::Disk {
            target: Target::node(n),
            disk: DiskFault::Full,
        };
        let s = schedule(vec![
            inject(1, 0, disk(1)),
            inject(2, 1, disk(2)),
            heal(3, 0),
            heal(3, 1),
        ]);
        assert_eq!(
            check(&s),
            vec![Violation::ConcurrentDiskFaults { at_ms: 2, id: 1 }]
        );
    }

    #[test]
    fn structural_errors_are_named() {
        use crate::schedule::ScheduleError as E;
        let p = |n| Fault::Pause {
            targets: Target::node(n),
        };
        assert_eq!(
            schedule(vec![inject(5, 0, p(1)), heal(4, 0)]).validate(),
            Err(E::OutOfOrder {
                index: 1,
                at_ms: 4,
                previous_ms: 5
            })
        );
        assert_eq!(
            schedule(vec![inject(1, 0, p(1))]).validate(),
            Err(E::NeverHealed(0))
        );
        assert_eq!(
            schedule(vec![heal(1, 0)]).validate(),
            Err(E::HealOfUnknown { index: 0, id: 0 })
        );
        assert_eq!(
            schedule(vec![inject(1, 0, flip(1)), heal(2, 0)]).validate(),
            Err(E::HealOfInstant { index: 1, id: 0 })
        );
        assert_eq!(
            schedule(vec![inject(1, 0, p(9)), heal(2, 0)]).validate(),
            Err(E::UnknownNode { id: 0, node: 9 })
        );
        assert_eq!(
            schedule(vec![inject(101, 0, p(1)), heal(102, 0)]).validate(),
            Err(E::AfterEnd {
                index: 0,
                at_ms: 101,
                end_ms: 100
            })
        );
        let wipe = Fault::RemoveNode {
            node: 1,
            wipe: true,
            rejoin_as: 2,
        };
        assert_eq!(
            schedule(vec![inject(1, 0, wipe), heal(2, 0)]).validate(),
            Err(E::ReusedNodeId { id: 0, node: 2 })
        );
        let removed = Fault::RemoveNode {
            node: 1,
            wipe: true,
            rejoin_as: 6,
        };
        assert_eq!(
            schedule(vec![
                inject(1, 0, removed),
                inject(2, 1, p(1)),
                heal(3, 0),
                heal(3, 1)
            ])
            .validate(),
            Err(E::UnknownNode { id: 1, node: 1 })
        );
        let lossy = Fault::Chaos {
            links: vec![crate::partition::Link::new(1, 2)],
            min_latency_ms: 0,
            max_latency_ms: 1,
            loss_permille: 999,
        };
        let e = schedule(vec![inject(1, 0, lossy), heal(2, 0)])
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("loss 999‰"), "{e}");
        assert!(matches!(
            Schedule::from_json("{\"nodes\": [1]}"),
            Err(E::Json(_))
        ));
    }

    fn profile_strategy() -> impl Strategy<Value = Profile> {
        proptest::collection::btree_set(proptest::sample::select(FaultKind::ALL.to_vec()), 1..=8)
            .prop_map(|kinds| Profile {
                kinds,
                failpoints: BTreeSet::new(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn generated_schedules_are_valid_and_within_limits(
            seed in any::<u64>(),
            n in proptest::sample::select(vec![1usize, 2, 3, 5, 7]),
            profile in profile_strategy(),
            duration_ms in 0u64..120_000,
            interval_ms in 1u64..5_000,
        ) {
            let nodes: Vec<NodeId> = (1..=n as NodeId).collect();
            let s = generate(seed, &profile, &nodes, duration_ms, interval_ms).unwrap();
            prop_assert_eq!(s.validate(), Ok(()));
            prop_assert_eq!(check(&s), vec![]);
            prop_assert!(s.items.iter().all(|i| i.at_ms <= duration_ms));
            for i in &s.items {
                if let Action::Inject { fault, .. } = &i.action {
                    prop_assert!(profile.contains(fault.kind()));
                }
            }
            prop_assert_eq!(Schedule::from_json(&s.to_json()), Ok(s.clone()));
            prop_assert_eq!(generate(seed, &profile, &nodes, duration_ms, interval_ms).unwrap(), s);
        }
    }
}
