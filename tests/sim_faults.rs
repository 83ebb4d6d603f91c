//! One run per fault kind: the fault takes effect (shown on the trace, the
//! history or the disk's counters), is healed, and the correct cluster
//! comes through it with the history judged as `faultline run` judges it
//! (linearizability and the workload's checker) and every in-run check
//! passing (invariants each step, liveness after the heal, replica
//! agreement).

use std::collections::BTreeMap;
use std::path::Path;

mod suite_support;
use suite_support::{leader_at, run_valid, scripted_config};

use faultline::sim::{NodeState, Phase, RunConfig, RunOutcome};
use faultline_histories::{EventType, Process};
use faultline_nemesis::{
    CrashScope, Direction, DiskFault, Fault, Link, Partition, StoredFile, Target,
};

const DURATION_MS: u64 = 6_000;

fn config_with(seed: u64, faults: Vec<(u64, Option<u64>, Fault)>) -> RunConfig {
    scripted_config(seed, DURATION_MS, faults)
}

fn run(config: &RunConfig, dir: Option<&Path>) -> RunOutcome {
    run_valid(config, dir)
}

/// Both directions of every link between nodes 1..=5.
fn every_link() -> Vec<Link> {
    let mut links = Vec::new();
    for a in 1..=5 {
        for b in (1..=5).filter(|&b| b != a) {
            links.push(Link::new(a, b));
        }
    }
    links
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
    let links = every_link();
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

/// The state `node` was in at `ms` (its last trace line by then).
fn state_at(out: &RunOutcome, node: u64, ms: u64) -> NodeState {
    out.trace
        .iter()
        .rfind(|l| l.node == node && l.time_ns <= ms * 1_000_000)
        .map(|l| l.state)
        .unwrap_or_else(|| panic!("node {node} was not seen by {ms} ms"))
}

/// `node`'s states in the window `from_ms..to_ms`, starting with the one
/// it was in at `from_ms`.
fn states_in(out: &RunOutcome, node: u64, from_ms: u64, to_ms: u64) -> Vec<NodeState> {
    let mut states = vec![state_at(out, node, from_ms)];
    states.extend(
        out.trace
            .iter()
            .filter(|l| {
                l.node == node && l.time_ns > from_ms * 1_000_000 && l.time_ns < to_ms * 1_000_000
            })
            .map(|l| l.state),
    );
    states
}

/// None of `nodes` commits anything in `from_ms..to_ms`.
fn assert_commit_stalls(out: &RunOutcome, nodes: &[u64], from_ms: u64, to_ms: u64) {
    for &n in nodes {
        let states = states_in(out, n, from_ms, to_ms);
        let (first, last) = (states[0].commit, states.iter().map(|s| s.commit).max());
        assert_eq!(
            Some(first),
            last,
            "node {n} committed from {first} to {last:?} in {from_ms}..{to_ms} ms"
        );
    }
}

/// Some node of `nodes` commits more by `to_ms` than it had at `from_ms`.
fn assert_commit_advances(out: &RunOutcome, nodes: &[u64], from_ms: u64, to_ms: u64) {
    assert!(
        nodes
            .iter()
            .any(|&n| state_at(out, n, to_ms).commit > state_at(out, n, from_ms).commit),
        "none of {nodes:?} committed anything in {from_ms}..{to_ms} ms"
    );
}

/// Each of `nodes` stops following `leader` at some point in the window.
fn assert_lose_leader(out: &RunOutcome, nodes: &[u64], leader: u64, from_ms: u64, to_ms: u64) {
    for &n in nodes {
        assert!(
            states_in(out, n, from_ms, to_ms)
                .iter()
                .any(|s| s.leader != Some(leader)),
            "node {n} kept following {leader} through {from_ms}..{to_ms} ms"
        );
    }
}

/// Client operations that completed ok: (invoked at, completed at, f), ns.
fn ok_ops(out: &RunOutcome) -> Vec<(u64, u64, String)> {
    let mut invoked = BTreeMap::new();
    let mut ops = Vec::new();
    for e in &out.history {
        let Process::Client(p) = e.process else {
            continue;
        };
        match e.kind {
            EventType::Invoke => {
                invoked.insert(p, e.time);
            }
            EventType::Ok => {
                if let Some(at) = invoked.remove(&p) {
                    ops.push((at, e.time, e.f.clone()));
                }
            }
            _ => {
                invoked.remove(&p);
            }
        }
    }
    ops
}

/// Mean latency (ms) of the ok operations invoked in `from_ms..to_ms`.
fn mean_latency_ms(out: &RunOutcome, from_ms: u64, to_ms: u64) -> f64 {
    let window: Vec<u64> = ok_ops(out)
        .into_iter()
        .filter(|(at, _, _)| *at >= from_ms * 1_000_000 && *at < to_ms * 1_000_000)
        .map(|(at, done, _)| done - at)
        .collect();
    assert!(
        !window.is_empty(),
        "no operation completed from {from_ms}..{to_ms} ms"
    );
    window.iter().sum::<u64>() as f64 / window.len() as f64 / 1e6
}

/// Writes invoked in `from_ms..to_ms` that completed ok before `to_ms`.
fn writes_done_within(out: &RunOutcome, from_ms: u64, to_ms: u64) -> usize {
    ok_ops(out)
        .iter()
        .filter(|(at, done, f)| {
            matches!(f.as_str(), "write" | "cas")
                && *at >= from_ms * 1_000_000
                && *done < to_ms * 1_000_000
        })
        .count()
}

#[test]
fn halves_and_a_minority_third_stop_the_minority_and_not_the_majority() {
    let out = run(
        &config_with(
            22,
            vec![
                (
                    1_500,
                    Some(3_000),
                    Fault::Partition {
                        cut: Partition::Halves {
                            minority: vec![1, 2],
                            direction: Direction::Both,
                        },
                    },
                ),
                (
                    3_500,
                    Some(5_000),
                    Fault::Partition {
                        cut: Partition::MinorityThird {
                            minority: vec![5],
                            direction: Direction::Both,
                        },
                    },
                ),
            ],
        ),
        None,
    );
    assert_survived(&out);
    // What was in flight lands within the first 300 ms of a cut.
    assert_commit_stalls(&out, &[1, 2], 1_800, 3_000);
    assert_commit_advances(&out, &[3, 4, 5], 1_800, 3_000);
    assert_commit_stalls(&out, &[5], 3_800, 5_000);
    assert_commit_advances(&out, &[1, 2, 3, 4], 3_800, 5_000);
    assert_eq!(healed(&out), 2);
}

#[test]
fn a_bridge_and_a_majorities_ring_cut_nodes_off_from_the_leader() {
    const BRIDGE: (u64, u64) = (1_500, 3_000);
    const RING: (u64, u64) = (3_500, 5_000);
    let ring = vec![1, 2, 3, 4, 5];
    let out = run(
        &config_with(
            23,
            vec![
                (
                    BRIDGE.0,
                    Some(BRIDGE.1),
                    Fault::Partition {
                        cut: Partition::Bridge {
                            left: vec![1, 2],
                            bridge: 3,
                            right: vec![4, 5],
                        },
                    },
                ),
                (
                    RING.0,
                    Some(RING.1),
                    Fault::Partition {
                        cut: Partition::MajoritiesRing { ring: ring.clone() },
                    },
                ),
            ],
        ),
        None,
    );
    assert_survived(&out);
    // Across the bridge: the side without the leader cannot hear it (a
    // leader on the bridge itself reaches everyone, and keeps them all).
    let leader = leader_at(&out, BRIDGE.0 - 1).expect("a leader before the bridge");
    let far: Vec<u64> = match leader {
        1 | 2 => vec![4, 5],
        4 | 5 => vec![1, 2],
        _ => vec![],
    };
    if far.is_empty() {
        assert_commit_advances(&out, &[1, 2, 4, 5], BRIDGE.0 + 300, BRIDGE.1);
    } else {
        assert_lose_leader(&out, &far, leader, BRIDGE.0 + 300, BRIDGE.1);
    }
    // On the ring each node sees its two neighbours: the two nodes that
    // are not the leader's neighbours lose it.
    let leader = leader_at(&out, RING.0 - 1).expect("a leader before the ring");
    let at = ring.iter().position(|&n| n == leader).unwrap();
    let far: Vec<u64> = (0..ring.len())
        .filter(|&i| {
            let d = i.abs_diff(at);
            d.min(ring.len() - d) >= 2
        })
        .map(|i| ring[i])
        .collect();
    assert_eq!(far.len(), 2);
    assert_lose_leader(&out, &far, leader, RING.0 + 300, RING.1);
    assert_eq!(healed(&out), 2);
}

#[test]
fn a_swizzle_clog_holds_every_link_then_releases_them_in_another_order() {
    let mut links = Vec::new();
    for a in 1..=5 {
        for b in a + 1..=5 {
            links.push(Link::new(a, b));
        }
    }
    // Clogged one by one every 100 ms, released one by one in a shuffled
    // order (FoundationDB's swizzle).
    let release_order = [7, 2, 9, 0, 5, 3, 8, 1, 6, 4];
    let faults: Vec<(u64, Option<u64>, Fault)> = links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            let release = release_order.iter().position(|&j| j == i).unwrap() as u64;
            (
                1_000 + 100 * i as u64,
                Some(2_800 + 100 * release),
                Fault::Clog { links: vec![*link] },
            )
        })
        .collect();
    let out = run(&config_with(24, faults), None);
    assert_survived(&out);
    // Every link held from 1.9 s to 2.8 s: nothing commits anywhere.
    assert_commit_stalls(&out, &[1, 2, 3, 4, 5], 2_100, 2_800);
    assert_commit_advances(&out, &[1, 2, 3, 4, 5], 3_800, DURATION_MS);
    assert_eq!(healed(&out), 10);
}

#[test]
fn network_chaos_slows_operations_down_and_is_survived() {
    let links = every_link();
    let out = run(
        &config_with(
            25,
            vec![(
                2_000,
                Some(4_500),
                Fault::Chaos {
                    links,
                    min_latency_ms: 20,
                    max_latency_ms: 150,
                    loss_permille: 20,
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
    let before = mean_latency_ms(&out, 500, 2_000);
    let during = mean_latency_ms(&out, 2_000, 4_300);
    assert!(
        during > 2.0 * before,
        "operations took {during:.1} ms on average under chaos, {before:.1} ms before"
    );
}

#[test]
fn crashing_a_majority_stops_commits_until_it_restarts() {
    const DOWN: (u64, u64) = (2_000, 3_000);
    let out = run(
        &config_with(
            26,
            vec![(
                DOWN.0,
                Some(DOWN.1),
                Fault::Crash {
                    targets: Target::Nodes(vec![1, 2, 3]),
                    scope: CrashScope::Majority,
                    torn_block_bytes: Some(512),
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
    assert_eq!(writes_done_within(&out, DOWN.0 + 50, DOWN.1), 0);
    assert_commit_stalls(&out, &[4, 5], DOWN.0 + 100, DOWN.1);
    assert!(writes_done_within(&out, DOWN.1, DURATION_MS) > 10);
}

#[test]
fn write_errors_on_the_leader_make_it_fail_stop_and_the_heal_restarts_it() {
    let out = run(
        &config_with(
            28,
            vec![(
                2_000,
                Some(3_500),
                Fault::Disk {
                    target: Target::Leader,
                    disk: DiskFault::WriteEio,
                },
            )],
        ),
        None,
    );
    assert_survived(&out);
    let node = injected(&out)[0].1[0];
    assert!(out.stats.disk[&node].write_failures >= 1, "{:?}", out.stats);
    assert_ne!(leader_at(&out, 3_400), Some(node));
    assert!(
        out.stats.failures.is_empty(),
        "restarted: {:?}",
        out.stats.failures
    );
}

#[test]
fn a_long_outage_makes_the_restarted_node_catch_up_from_a_snapshot() {
    const DOWN: (u64, u64) = (1_000, 4_500);
    let mut config = config_with(
        29,
        vec![(
            DOWN.0,
            Some(DOWN.1),
            Fault::Crash {
                targets: Target::node(5),
                scope: CrashScope::One,
                torn_block_bytes: None,
            },
        )],
    );
    // Logs compacted every 64 entries, and appends small enough that a
    // jump of more than one step's worth of them can only be a snapshot.
    config.raft.snapshot_threshold = 64;
    config.raft.trailing_logs = 8;
    config.raft.max_append_entries = 8;
    config.raft.max_inflight = 2;
    config.validate().unwrap();
    let per_step = (config.raft.max_append_entries * (config.raft.max_inflight + 1)) as u64;
    let out = run(&config, None);
    assert_survived(&out);
    let after: Vec<NodeState> = states_in(&out, 5, DOWN.1, DURATION_MS);
    let behind = state_at(&out, 1, DOWN.1)
        .commit
        .saturating_sub(after[0].last_index);
    assert!(behind > 64 + 8, "node 5 was only {behind} entries behind");
    let jump = after
        .windows(2)
        .map(|w| w[1].last_index.saturating_sub(w[0].last_index))
        .max()
        .unwrap_or(0);
    assert!(
        jump > per_step,
        "node 5 caught up {behind} entries by appends of at most {jump} at a time, not from a snapshot"
    );
}
