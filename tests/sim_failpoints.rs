//! Failpoint crashes in a simulated cluster: a failpoint armed on a node
//! crashes it when the node reaches that point of its loop, and the heal
//! restarts it; a leader crashed before it sends its new entries keeps
//! them in its log alone. Each test reads the effect off the trace and the
//! nemesis records, fails were the fault a no-op, and judges the run
//! valid as `faultline run` does.

mod suite_support;
use suite_support::{leader_at, run_valid, scripted_config};

use faultline::sim::{NodeState, RunOutcome};
use faultline_nemesis::{Failpoint, Fault, Target};

const DURATION_MS: u64 = 5_000;
const ARM: (u64, u64) = (2_000, 3_000);

fn armed_on_leader(seed: u64, point: Failpoint) -> RunOutcome {
    let fault = Fault::Failpoint {
        target: Target::Leader,
        point,
    };
    run_valid(
        &scripted_config(seed, DURATION_MS, vec![(ARM.0, Some(ARM.1), fault)]),
        None,
    )
}

/// The node's traced states in `from_ms..to_ms`.
fn states(out: &RunOutcome, node: u64, from_ms: u64, to_ms: u64) -> Vec<(u64, NodeState)> {
    out.trace
        .iter()
        .filter(|l| l.node == node)
        .map(|l| (l.time_ns / 1_000_000, l.state))
        .filter(|(ms, _)| (from_ms..to_ms).contains(ms))
        .collect()
}

/// When (ms) `node` went down in `from_ms..to_ms`, if it did.
fn went_down(out: &RunOutcome, node: u64, from_ms: u64, to_ms: u64) -> Option<u64> {
    states(out, node, from_ms, to_ms)
        .into_iter()
        .find(|(_, s)| s.role.is_none())
        .map(|(ms, _)| ms)
}

/// The highest last index any node but `but` reached by `ms`.
fn others_last_index(out: &RunOutcome, but: u64, ms: u64) -> u64 {
    out.trace
        .iter()
        .filter(|l| l.node != but && l.time_ns <= ms * 1_000_000)
        .map(|l| l.state.last_index)
        .max()
        .unwrap_or(0)
}

/// Each point on the leader's path crashes the leader as soon as it gets
/// there (a leader under load has durable work, sends entries and
/// applies all the time), not before the fault and not at its heal; the
/// heal restarts it and it runs again.
#[test]
fn each_failpoint_crashes_the_leader_when_reached_and_the_heal_restarts_it() {
    let points = [
        Failpoint::BeforeSave,
        Failpoint::AfterSave,
        Failpoint::BeforeLeaderSend,
        Failpoint::AfterLeaderSend,
        Failpoint::BeforeApply,
    ];
    for point in points {
        let out = armed_on_leader(3, point);
        let leader = leader_at(&out, ARM.0 - 1).expect("a leader before the fault");
        let down = went_down(&out, leader, 0, DURATION_MS + 1)
            .unwrap_or_else(|| panic!("{point}: node {leader} never went down"));
        assert!(
            (ARM.0..ARM.0 + 50).contains(&down),
            "{point}: node {leader} went down at {down} ms, not right after {} ms",
            ARM.0
        );
        let crash = out
            .faults_applied
            .iter()
            .find(|r| r.f == "failpoint-crash")
            .unwrap_or_else(|| panic!("{point}: no failpoint-crash record"));
        assert_eq!(crash.nodes, vec![leader]);
        assert!(
            crash.detail.as_deref().unwrap_or("").contains(point.name()),
            "{crash:?}"
        );
        let back = states(&out, leader, ARM.1, DURATION_MS + 1);
        assert!(
            back.iter().any(|(_, s)| s.role.is_some()),
            "{point}: node {leader} did not run again after the heal"
        );
        assert!(
            states(&out, leader, down, ARM.1)
                .iter()
                .all(|(_, s)| s.role.is_none()),
            "{point}: node {leader} ran again before the heal"
        );
    }
}

/// Raft's Figure 8, step (b): a leader that appended entries and made them
/// durable, crashed before sending them, holds them alone. Restarted, it
/// recovers a log longer than any other node's was when it crashed (its
/// followers never got those entries). A plain crash at the same moment
/// leaves no such entries: the leader sends what it fsyncs at once.
#[test]
fn before_leader_send_leaves_the_new_entries_in_the_leaders_log_alone() {
    let out = armed_on_leader(3, Failpoint::BeforeLeaderSend);
    let leader = leader_at(&out, ARM.0 - 1).expect("a leader before the fault");
    let down = went_down(&out, leader, ARM.0, ARM.1).expect("the leader crashed");
    let others = others_last_index(&out, leader, down + 1);
    let (at, recovered) = states(&out, leader, ARM.1, DURATION_MS + 1)
        .into_iter()
        .find(|(_, s)| s.role.is_some())
        .expect("the leader restarted");
    assert!(
        recovered.last_index > others,
        "node {leader} recovered last index {} at {at} ms; the others had {others} when it crashed",
        recovered.last_index
    );
}

/// A point the armed node never reaches (a leader-only point on a node
/// that stays a follower) does nothing, and the heal disarms it: the node
/// never goes down, during the fault or after it.
#[test]
fn a_failpoint_never_reached_does_nothing_and_is_disarmed_by_the_heal() {
    let config = scripted_config(3, DURATION_MS, vec![]);
    let leader = leader_at(&run_valid(&config, None), ARM.0 - 1).expect("a leader");
    let follower = config.nodes.iter().copied().find(|&n| n != leader).unwrap();
    let fault = Fault::Failpoint {
        target: Target::node(follower),
        point: Failpoint::BeforeLeaderSend,
    };
    let out = run_valid(
        &scripted_config(3, DURATION_MS, vec![(ARM.0, Some(ARM.1), fault)]),
        None,
    );
    assert_eq!(went_down(&out, follower, 0, DURATION_MS + 1), None);
    assert!(out.faults_applied.iter().all(|r| r.f != "failpoint-crash"));
    assert!(out.faults_applied.iter().any(|r| r.f == "failpoint-heal"));
}
