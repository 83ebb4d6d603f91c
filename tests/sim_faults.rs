//! One run per fault family: the fault takes effect, is healed, and the
//! correct cluster comes through it with every in-run check passing
//! (invariants each step, liveness after the heal, replica agreement).

use faultline::sim::{run, Phase, RunConfig, RunOptions, RunOutcome};
use faultline_nemesis::{
    Action, CrashScope, Direction, DiskFault, Fault, Item, Link, Partition, Schedule, StoredFile,
    Target,
};

const DURATION_MS: u64 = 6_000;

/// A fault-free configuration of `seed` with `faults` (inject ms, heal ms,
/// fault) as its whole schedule.
fn config_with(seed: u64, faults: Vec<(u64, Option<u64>, Fault)>) -> RunConfig {
    let options = RunOptions {
        seed,
        nemesis: "none".into(),
        duration_ms: Some(DURATION_MS),
        ..RunOptions::default()
    };
    let mut config = RunConfig::from_seed(seed, &options).unwrap();
    let mut items = Vec::new();
    for (id, (at, heal, fault)) in faults.into_iter().enumerate() {
        let id = id as u64;
        items.push(Item {
            at_ms: at,
            action: Action::Inject { id, fault },
        });
        if let Some(h) = heal {
            items.push(Item {
                at_ms: h,
                action: Action::Heal { id },
            });
        }
    }
    items.sort_by_key(|i| (i.at_ms, matches!(i.action, Action::Inject { .. })));
    config.schedule = Schedule {
        nodes: config.nodes.clone(),
        end_ms: DURATION_MS,
        items,
    };
    config.validate().unwrap();
    config
}

fn assert_survived(out: &RunOutcome) {
    assert_eq!(out.crashed, None);
    assert_eq!(out.invariant_violation, None);
    assert_eq!(out.liveness, Ok(()));
    assert_eq!(out.agreement, Ok(()));
    assert!(out.stats.ok > 50, "{:?}", out.stats);
}

fn injected(out: &RunOutcome) -> Vec<(String, Vec<u64>)> {
    out.faults_applied
        .iter()
        .filter(|r| r.phase == Phase::Inject)
        .map(|r| (r.f.clone(), r.nodes.clone()))
        .collect()
}

fn healed(out: &RunOutcome) -> usize {
    out.faults_applied
        .iter()
        .filter(|r| r.phase == Phase::Heal)
        .count()
}

/// The node that led when the run was at `ms`.
fn leader_at(out: &RunOutcome, ms: u64) -> Option<u64> {
    let ns = ms * 1_000_000;
    out.leader_spans
        .iter()
        .find(|s| s.start_ns <= ns && s.end_ns.is_none_or(|e| e > ns))
        .map(|s| s.node)
}

#[test]
fn isolating_the_leader_elects_another_and_heals() {
    let out = run(
        &config_with(
            11,
            vec![(
                2_000,
                Some(4_000),
                Fault::Partition {
                    cut: Partition::IsolateLeader {
                        direction: Direction::Both,
                    },
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
    let isolated = injected(&out)[0].1.clone();
    assert_eq!(isolated.len(), 1);
    assert_eq!(leader_at(&out, 1_999), Some(isolated[0]));
    let during = leader_at(&out, 3_900).expect("a leader on the majority side");
    assert_ne!(during, isolated[0]);
    assert_eq!(healed(&out), 1);
}

#[test]
fn a_majorities_ring_and_one_way_cuts_are_survived() {
    let out = run(
        &config_with(
            12,
            vec![
                (
                    1_000,
                    Some(2_500),
                    Fault::Partition {
                        cut: Partition::MajoritiesRing {
                            ring: vec![1, 2, 3, 4, 5],
                        },
                    },
                ),
                (
                    3_000,
                    Some(4_500),
                    Fault::Partition {
                        cut: Partition::Isolate {
                            node: 1,
                            direction: Direction::Inbound,
                        },
                    },
                ),
            ],
        ),
        None,
    );
    assert_survived(&out);
    assert_eq!(healed(&out), 2);
}

#[test]
fn clogged_links_hold_messages_and_release_them() {
    let links: Vec<Link> = [(1, 2), (2, 3), (3, 1), (4, 5)]
        .into_iter()
        .map(|(a, b)| Link::new(a, b))
        .collect();
    let out = run(
        &config_with(13, vec![(1_500, Some(3_500), Fault::Clog { links })]),
        None,
    );
    assert_survived(&out);
    assert_eq!(healed(&out), 1);
}

#[test]
fn network_chaos_is_survived() {
    let mut links = Vec::new();
    for a in 1..=5 {
        for b in 1..=5 {
            if a != b {
                links.push(Link::new(a, b));
            }
        }
    }
    let out = run(
        &config_with(
            14,
            vec![(
                1_000,
                Some(4_000),
                Fault::Chaos {
                    links,
                    min_latency_ms: 5,
                    max_latency_ms: 200,
                    loss_permille: 100,
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
}

#[test]
fn crashing_the_leader_and_a_minority_loses_nothing_acknowledged() {
    let out = run(
        &config_with(
            15,
            vec![
                (
                    2_000,
                    Some(2_800),
                    Fault::Crash {
                        targets: Target::Leader,
                        scope: CrashScope::One,
                        torn_block_bytes: Some(512),
                    },
                ),
                (
                    3_500,
                    Some(4_500),
                    Fault::Crash {
                        targets: Target::Nodes(vec![2, 4]),
                        scope: CrashScope::Minority,
                        torn_block_bytes: Some(512),
                    },
                ),
            ],
        ),
        None,
    );
    assert_survived(&out);
    let first = injected(&out)[0].1[0];
    assert_ne!(leader_at(&out, 2_700), Some(first));
    assert!(out.stats.leader_changes >= 2);
}

#[test]
fn crashing_every_node_at_once_recovers_from_disk() {
    let out = run(
        &config_with(
            16,
            vec![(
                2_000,
                Some(3_000),
                Fault::Crash {
                    targets: Target::Nodes(vec![1, 2, 3, 4, 5]),
                    scope: CrashScope::All,
                    torn_block_bytes: None,
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
    assert_eq!(
        leader_at(&out, 2_500),
        None,
        "nobody leads while all are down"
    );
}

#[test]
fn pausing_the_leader_replaces_it() {
    let out = run(
        &config_with(
            17,
            vec![(
                2_000,
                Some(3_500),
                Fault::Pause {
                    targets: Target::Leader,
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
    let paused = injected(&out)[0].1[0];
    let during = leader_at(&out, 3_400).expect("a new leader");
    assert_ne!(during, paused);
}

#[test]
fn clock_bumps_strobes_and_drift_are_survived() {
    let out = run(
        &config_with(
            18,
            vec![
                (
                    2_000,
                    Some(2_400),
                    Fault::ClockBump {
                        targets: Target::Leader,
                        delta_ms: 5_000,
                    },
                ),
                (
                    2_500,
                    Some(3_500),
                    Fault::ClockStrobe {
                        targets: Target::Nodes(vec![2, 3]),
                        delta_ms: -400,
                        period_ms: 30,
                    },
                ),
                (
                    4_000,
                    Some(5_000),
                    Fault::ClockDrift {
                        targets: Target::Nodes(vec![4]),
                        rate_permille: 2_000,
                    },
                ),
            ],
        ),
        None,
    );
    assert_survived(&out);
    assert_eq!(healed(&out), 3);
}

#[test]
fn a_failing_fsync_on_the_leader_makes_it_fail_stop_and_the_heal_restarts_it() {
    let out = run(
        &config_with(
            19,
            vec![(
                2_000,
                Some(3_500),
                Fault::Disk {
                    target: Target::Leader,
                    disk: DiskFault::FsyncFail,
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
    let node = injected(&out)[0].1[0];
    assert!(out.stats.disk[&node].fsync_failures >= 1, "{:?}", out.stats);
    assert!(
        out.stats.failures.is_empty(),
        "restarted: {:?}",
        out.stats.failures
    );
    assert_ne!(leader_at(&out, 3_400), Some(node));
}

#[test]
fn a_full_disk_and_a_stall_are_survived() {
    let out = run(
        &config_with(
            20,
            vec![
                (
                    2_000,
                    Some(3_000),
                    Fault::Disk {
                        target: Target::Leader,
                        disk: DiskFault::Full,
                    },
                ),
                (
                    3_500,
                    Some(5_000),
                    Fault::Disk {
                        target: Target::node(2),
                        disk: DiskFault::Stall,
                    },
                ),
            ],
        ),
        None,
    );
    assert_survived(&out);
    let full = injected(&out)[0].1[0];
    let stalled = injected(&out)[1].1[0];
    assert!(out.stats.disk[&full].enospc >= 1, "{:?}", out.stats.disk);
    assert_eq!(out.stats.disk[&stalled].stalls, 1, "{:?}", out.stats.disk);
}

#[test]
fn a_bit_flip_makes_its_node_fail_stop_and_the_rest_go_on() {
    let out = run(
        &config_with(
            21,
            vec![(
                3_000,
                None,
                Fault::Disk {
                    target: Target::node(3),
                    disk: DiskFault::BitFlip {
                        file: StoredFile::Log,
                        flips: 4,
                    },
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
    assert!(out.stats.disk[&3].bits_flipped >= 1, "{:?}", out.stats.disk);
    let why = out.stats.failures.get(&3).expect("node 3 fail-stops");
    assert!(why.contains("corrupt"), "{why}");
}
