//! Failpoint crashes in a simulated cluster: a failpoint armed on a node
//! crashes it when the node reaches that point of its loop, and the heal
//! restarts it; a leader crashed before it sends its new entries keeps
//! them in its log alone; a follower that can only be caught up by a
//! snapshot crashes when the snapshot reaches it, before storing it. Each test reads the effect off the trace and the
//! nemesis records, fails were the fault a no-op, and judges the run
//! valid as `faultline run` does.

mod suite_support;
use suite_support::{leader_at, run_valid, scripted_config};

use faultline::sim::{NodeState, RunConfig, RunOptions, RunOutcome};
use faultline_nemesis::{Direction, Failpoint, Fault, Partition, Schedule, Target};

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

/// The follower is cut off from 1 s to 2.5 s: over a hundred entries
/// behind when the cut heals.
const CUT: (u64, u64) = (1_000, 2_500);
/// The failpoint is armed on the follower while it is cut off, and
/// healed well after the cut.
const SNAPSHOT_ARM: (u64, u64) = (1_500, 4_000);
/// Appends of at most 8 entries, 2 in flight: a follower catching up by
/// appends gains at most 8 * (2 + 1) entries in one step.
const MAX_APPEND: usize = 8;
const PER_STEP: u64 = MAX_APPEND as u64 * (2 + 1);

/// A run of `seed` with a snapshot every 16 entries and none of the log
/// kept behind it (`--snapshot-threshold 16 --trailing-logs 0`), so a
/// follower that falls behind can only be caught up by InstallSnapshot.
fn snapshot_catch_up_config(seed: u64, faults: Vec<(u64, Option<u64>, Fault)>) -> RunConfig {
    let options = RunOptions {
        seed,
        nemesis: "none".into(),
        duration_ms: Some(DURATION_MS),
        snapshot_threshold: Some(16),
        max_append_entries: Some(MAX_APPEND),
        trailing_logs: Some(0),
        ..RunOptions::default()
    };
    let mut config = RunConfig::from_seed(seed, &options).unwrap();
    config.raft.max_inflight = 2;
    config.schedule = Schedule::scripted(config.nodes.clone(), DURATION_MS, faults).unwrap();
    config.validate().unwrap();
    config
}

fn cut_off(node: u64) -> (u64, Option<u64>, Fault) {
    let cut = Fault::Partition {
        cut: Partition::isolate(node, Direction::Both),
    };
    (CUT.0, Some(CUT.1), cut)
}

/// The running states of `node` in `from_ms..to_ms`.
fn running(out: &RunOutcome, node: u64, from_ms: u64, to_ms: u64) -> Vec<(u64, NodeState)> {
    states(out, node, from_ms, to_ms)
        .into_iter()
        .filter(|(_, s)| s.role.is_some())
        .collect()
}

/// `before-apply-snapshot` on a follower crashes it when, back from a cut
/// that left it behind the leader's compacted log, it is sent a snapshot:
/// not while it is cut off (armed, nothing to store), not at the heal.
/// It crashes before storing the snapshot, so it restarts with the log it
/// had; the heal restarts it and a second snapshot catches it up.
#[test]
fn before_apply_snapshot_crashes_a_follower_when_the_leaders_snapshot_arrives() {
    let seed = 3;
    let baseline = run_valid(&snapshot_catch_up_config(seed, vec![]), None);
    let leader = leader_at(&baseline, CUT.0 - 1).expect("a leader before the cut");
    let follower = (1..=5).find(|&n| n != leader).unwrap();

    // Cut off without the failpoint, the follower comes back by a
    // snapshot: its log jumps further in one step than appends can take it.
    let control = run_valid(
        &snapshot_catch_up_config(seed, vec![cut_off(follower)]),
        None,
    );
    let jump = running(&control, follower, 0, DURATION_MS + 1)
        .windows(2)
        .filter(|w| w[1].0 >= CUT.1)
        .map(|w| w[1].1.last_index.saturating_sub(w[0].1.last_index))
        .max()
        .unwrap_or(0);
    assert!(
        jump > PER_STEP,
        "node {follower} caught up by appends of at most {jump} entries: no snapshot was sent"
    );

    let armed = Fault::Failpoint {
        target: Target::node(follower),
        point: Failpoint::BeforeApplySnapshot,
    };
    let out = run_valid(
        &snapshot_catch_up_config(
            seed,
            vec![
                cut_off(follower),
                (SNAPSHOT_ARM.0, Some(SNAPSHOT_ARM.1), armed),
            ],
        ),
        None,
    );
    let down = went_down(&out, follower, 0, DURATION_MS + 1)
        .unwrap_or_else(|| panic!("node {follower} never went down"));
    assert!(
        (CUT.1..CUT.1 + 200).contains(&down),
        "node {follower} went down at {down} ms, not when the cut healed at {} ms",
        CUT.1
    );
    let crash = out
        .faults_applied
        .iter()
        .find(|r| r.f == "failpoint-crash")
        .expect("a failpoint-crash record");
    assert_eq!(crash.nodes, vec![follower]);
    assert!(
        crash
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("before-apply-snapshot"),
        "{crash:?}"
    );

    // It went down holding the log it had when it was cut off (nothing
    // but the snapshot could reach it), and came back with that log: the
    // snapshot was never stored.
    let before = running(&out, follower, 0, down);
    let (_, at_cut) = *before
        .iter()
        .rev()
        .find(|(ms, _)| *ms < CUT.0)
        .expect("the follower ran before the cut");
    let (_, last) = *before.last().unwrap();
    assert_eq!(
        last.last_index, at_cut.last_index,
        "it took entries while cut off"
    );
    assert!(
        states(&out, follower, down, SNAPSHOT_ARM.1)
            .iter()
            .all(|(_, s)| s.role.is_none()),
        "node {follower} ran again before the heal"
    );
    let after = running(&out, follower, SNAPSHOT_ARM.1, DURATION_MS + 1);
    let (_, restarted) = *after.first().expect("the heal restarted it");
    assert_eq!(
        restarted.last_index, at_cut.last_index,
        "node {follower} came back with a log it never had before the crash"
    );

    // Caught up: it applies past what the cluster had committed by the
    // time it came back.
    let committed = out
        .trace
        .iter()
        .filter(|l| l.node != follower && l.time_ns <= SNAPSHOT_ARM.1 * 1_000_000)
        .map(|l| l.state.commit)
        .max()
        .unwrap();
    let (_, end) = *after.last().unwrap();
    assert!(
        end.applied >= committed,
        "node {follower} applied {} by the end, the others had committed {committed}",
        end.applied
    );
}
