//! Membership churn in the simulation: the nemesis's removals, re-adds
//! under fresh ids, non-voters and their promotion, and leadership
//! transfers really change the cluster's configuration, and the correct
//! cluster stays valid through them (invariants, liveness, agreement of
//! the final configuration's members).

mod suite_support;
use suite_support::{leader_at, run_valid, scripted_config};

use faultline::bugs::Bug;
use faultline::harness::run::judge;
use faultline::harness::verdict::Verdict;
use faultline::sim::{run, Phase, RunConfig, RunOptions, RunOutcome};
use faultline_nemesis::{Direction, DiskFault, Fault, Partition, StoredFile, Target};

fn membership_run(seed: u64, nemesis: &str) -> RunOutcome {
    let options = RunOptions {
        seed,
        nemesis: nemesis.into(),
        duration_ms: Some(6_000),
        nemesis_interval_ms: Some(600),
        ..RunOptions::default()
    };
    let config = RunConfig::from_seed(seed, &options).unwrap();
    run(&config, None)
}

/// The admin requests that took effect: (fault name, detail).
fn done(out: &RunOutcome) -> Vec<(String, String)> {
    out.faults_applied
        .iter()
        .filter(|r| r.phase == Phase::Done)
        .map(|r| (r.f.clone(), r.detail.clone().unwrap_or_default()))
        .collect()
}

fn assert_valid(out: &RunOutcome) {
    assert_eq!(out.crashed, None);
    assert_eq!(out.invariant_violation, None);
    assert_eq!(out.liveness, Ok(()));
    assert_eq!(out.agreement, Ok(()));
    assert!(
        !out.faults_applied
            .iter()
            .any(|r| r.phase == Phase::Skip
                && r.detail.as_deref().unwrap_or("").contains("membership")),
        "membership faults are applied, not skipped"
    );
}

/// Whether some change that took effect left a configuration without one
/// of the initial voters or with a voter that was not one of them.
fn configuration_changed(out: &RunOutcome) -> bool {
    done(out)
        .iter()
        .any(|(_, d)| d.contains("voters") && !d.contains("voters {1, 2, 3, 4, 5}"))
}

#[test]
fn membership_churn_changes_the_configuration_and_the_cluster_stays_valid() {
    let out = membership_run(3, "membership");
    assert_valid(&out);
    let done = done(&out);
    assert!(configuration_changed(&out), "{done:#?}");
    // The run's nemesis events in the history carry the outcomes too.
    assert!(out
        .history
        .iter()
        .any(|e| e.process.is_nemesis()
            && e.value["detail"].as_str().unwrap_or("").contains("voters")));
}

#[test]
fn membership_churn_under_partitions_stays_valid() {
    let out = membership_run(11, "membership,partition");
    assert_valid(&out);
    assert!(configuration_changed(&out), "{:#?}", out.faults_applied);
}

/// After long churn the node ids the clients know include many that are
/// gone (removed, wiped and replaced); the liveness probe must get past
/// them to the leader (it once started every attempt at the first node,
/// timed out on the dead ones and never reached it: seed 7, 1 s interval).
#[test]
fn the_liveness_probe_gets_past_nodes_removed_by_churn() {
    let options = RunOptions {
        seed: 7,
        nemesis: "membership".into(),
        duration_ms: Some(60_000),
        nemesis_interval_ms: Some(1_000),
        ..RunOptions::default()
    };
    let config = RunConfig::from_seed(7, &options).unwrap();
    let out = run(&config, None);
    assert_eq!(out.liveness, Ok(()));
    assert_valid(&out);
}

/// Seed 641 of the 1,000-seed control, as a script: node 4 is down for
/// good (a bit flip), non-voter 6 is promoted and made leader, then its
/// removal and node 3's removal are asked for at the same instant. Were
/// both nodes stopped at once, the six-voter configuration would be left
/// with three of its voters, no quorum to commit either removal, and the
/// cluster stuck for good. Each node now runs until its removal is in
/// effect, so the cluster shrinks one committed step at a time.
#[test]
fn removals_stop_their_nodes_only_once_in_effect() {
    let config = scripted_config(
        641,
        9_000,
        vec![
            (
                1_000,
                None,
                Fault::Disk {
                    target: Target::node(4),
                    disk: DiskFault::BitFlip {
                        file: StoredFile::Log,
                        flips: 8,
                    },
                },
            ),
            (
                1_500,
                Some(4_000),
                Fault::AddNonVoter {
                    node: 6,
                    promote_after_ms: Some(200),
                },
            ),
            (3_000, None, Fault::TransferLeadership { to: Some(6) }),
            (
                4_000,
                Some(6_000),
                Fault::RemoveNode {
                    node: 3,
                    wipe: true,
                    rejoin_as: 7,
                },
            ),
        ],
    );
    let out = run_valid(&config, None);
    assert!(
        out.stats.failures.contains_key(&4),
        "the bit flip must take node 4 down: {:?}",
        out.stats.failures
    );
    let done = done(&out);
    assert!(
        done.iter()
            .any(|(f, d)| f == "transfer-leadership" && d.contains("node 6 leads")),
        "node 6 must lead when its removal is asked for: {done:#?}"
    );
    // Both nodes stopped, each after its removal took effect, in order.
    let at = |phase: Phase, what: &str| {
        out.faults_applied
            .iter()
            .find(|r| r.phase == phase && r.description == what)
            .map(|r| r.time_ms)
            .unwrap_or_else(|| panic!("no {phase:?} {what}: {:#?}", out.faults_applied))
    };
    let stop = |node: u64| {
        out.faults_applied
            .iter()
            .find(|r| r.f == "stop" && r.nodes == [node])
            .map(|r| r.time_ms)
            .unwrap_or_else(|| panic!("node {node} never stopped: {:#?}", out.faults_applied))
    };
    assert!(at(Phase::Heal, "heal: add non-voter 6, promote after 200 ms") == 4_000);
    assert!(at(Phase::Done, "Remove(6)") <= stop(6));
    assert!(stop(6) <= at(Phase::Done, "Remove(3)"));
    assert!(at(Phase::Done, "Remove(3)") <= stop(3));
}

/// A node replacement as the nemesis makes one (`Generator::replace`):
/// non-voter 6 joins; after 600 ms its promotion and node 5's removal are
/// asked for in the same instant, with two requests in flight, while a
/// partition cuts leader 1, node 2 and the newcomer off from nodes 3, 4
/// and 5. Node 1 appends the removal and, being correct, refuses the
/// promotion while the removal is uncommitted; the partition heals and
/// both changes commit one after the other, so the configuration becomes
/// {1, 2, 3, 4, 6}. The heals undo the replacement, and the run ends with
/// the schedule's membership, all of it valid. The partition heals at
/// `heal_ms`, node 5 rejoins at `rejoin_ms`.
fn replace_under_partition(heal_ms: u64, rejoin_ms: u64) -> RunConfig {
    let mut config = scripted_config(
        5,
        7_000,
        vec![
            (300, None, Fault::TransferLeadership { to: Some(1) }),
            (
                800,
                Some(6_000),
                Fault::AddNonVoter {
                    node: 6,
                    promote_after_ms: Some(600),
                },
            ),
            (
                1_400,
                Some(heal_ms),
                Fault::Partition {
                    cut: Partition::Halves {
                        minority: vec![1, 2, 6],
                        direction: Direction::Both,
                    },
                },
            ),
            (
                1_400,
                Some(rejoin_ms),
                Fault::RemoveNode {
                    node: 5,
                    wipe: false,
                    rejoin_as: 5,
                },
            ),
        ],
    );
    config.admin_concurrency = 2;
    config
}

/// Whether some change that took effect left the configuration at `voters`.
fn reached(out: &RunOutcome, voters: &str) -> bool {
    done(out)
        .iter()
        .any(|(_, d)| d.contains(&format!("voters {voters}, learners {{}}")))
}

#[test]
fn a_replacement_under_a_partition_takes_effect_and_is_undone_validly() {
    let config = replace_under_partition(2_400, 5_000);
    let out = run_valid(&config, None);
    assert_valid(&out);
    assert_eq!(
        leader_at(&out, 1_399),
        Some(1),
        "node 1 must lead when the partition comes"
    );
    // The replacement took effect: 6 a voter, 5 out.
    assert!(
        reached(&out, "{1, 2, 3, 4, 6}"),
        "{:#?}",
        out.faults_applied
    );
    // Its removal took effect once the partition healed, not before.
    let remove_done = out
        .faults_applied
        .iter()
        .find(|r| r.phase == Phase::Done && r.description == "Remove(5)")
        .map(|r| r.time_ms)
        .unwrap_or_else(|| panic!("{:#?}", out.faults_applied));
    assert!(remove_done >= 2_400, "removal done at {remove_done} ms");
    // The heals undid it: node 5 back, node 6 out.
    assert!(
        reached(&out, "{1, 2, 3, 4, 5}"),
        "{:#?}",
        out.faults_applied
    );
}

/// The same replacement with concurrent-config-changes planted: leader 1
/// takes the promotion too, so its side's {1, 2, 6} is a quorum of
/// {1, 2, 3, 4, 6} and commits (node 5 is stopped: its removal is in
/// effect there). Node 5 rejoins while the partition lasts, and {3, 4, 5}
/// elect a leader under {1, 2, 3, 4, 5}: two sides commit, which the
/// verdicts must catch. (On the correct build this schedule is valid: see
/// the control below.)
#[test]
fn the_same_replacement_exposes_concurrent_config_changes() {
    let control = replace_under_partition(3_000, 1_900);
    run_valid(&control, None);
    let mut config = control;
    config.bugs = config.bugs.with(Bug::ConcurrentConfigChanges);
    let out = run(&config, None);
    let verdicts = judge(&config, &out);
    assert_eq!(verdicts.overall, Verdict::Invalid, "{}", verdicts.explain());
}
