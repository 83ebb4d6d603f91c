//! Link faults that are not plain partitions, in a simulated cluster: a
//! clog holds a node's messages and its release lets them through, and a
//! one-way cut has the asymmetric effect its direction implies. Each test
//! reads the effect off the trace and fails were the fault a no-op; each
//! run is judged valid as `faultline run` judges it.

mod suite_support;
use suite_support::{campaigns, leader_at, run_valid, scripted_config};

use faultline::raft::Role;
use faultline::sim::{NodeState, RunConfig, RunOutcome};
use faultline_nemesis::{Direction, Fault, Link, Partition};

const DURATION_MS: u64 = 6_000;

/// `node`'s last traced state at or before `ms`.
fn state_at(out: &RunOutcome, node: u64, ms: u64) -> NodeState {
    out.trace
        .iter()
        .rfind(|l| l.node == node && l.time_ns <= ms * 1_000_000)
        .map(|l| l.state)
        .unwrap_or_else(|| panic!("node {node} was not seen by {ms} ms"))
}

/// When (ms) in `from_ms..to_ms` `node` stopped leading.
fn stepped_down(out: &RunOutcome, node: u64, from_ms: u64, to_ms: u64) -> Option<u64> {
    out.trace
        .iter()
        .filter(|l| l.node == node)
        .filter(|l| l.time_ns >= from_ms * 1_000_000 && l.time_ns < to_ms * 1_000_000)
        .find(|l| l.state.role != Some(Role::Leader))
        .map(|l| l.time_ns / 1_000_000)
}

/// The leader just before `at_ms`, required to exist.
fn leader_before(out: &RunOutcome, at_ms: u64) -> u64 {
    leader_at(out, at_ms - 1).expect("a leader before the fault")
}

fn config(seed: u64, faults: Vec<(u64, Option<u64>, Fault)>) -> RunConfig {
    let config = scripted_config(seed, DURATION_MS, faults);
    assert!(config.raft.pre_vote && config.raft.check_quorum);
    assert_eq!(config.raft.election_timeout_ms, 300);
    config
}

/// Node 5's links to everyone held from 2 s to 3.5 s: it hears nothing
/// (no append, no heartbeat), so its commit index stands still and its
/// election timer fires, while the other four commit on. At the release
/// what was held is delivered and it catches up with the leader.
#[test]
fn a_clog_holds_a_followers_messages_until_the_release() {
    const CLOG: (u64, u64) = (2_000, 3_500);
    let links: Vec<Link> = (1..=4).map(|n| Link::new(n, 5)).collect();
    let out = run_valid(
        &config(41, vec![(CLOG.0, Some(CLOG.1), Fault::Clog { links })]),
        None,
    );
    let leader = leader_before(&out, CLOG.0);
    assert_ne!(leader, 5, "pick a seed where node 5 follows");
    let held = state_at(&out, 5, CLOG.0 + 100).commit;
    assert_eq!(
        state_at(&out, 5, CLOG.1 - 1).commit,
        held,
        "node 5 committed while its links were clogged"
    );
    assert!(
        state_at(&out, leader, CLOG.1 - 1).commit > held + 50,
        "the other four went on committing"
    );
    assert!(
        !campaigns(&out, 5, CLOG.0, CLOG.1).is_empty(),
        "node 5 missed the heartbeats: its election timer fires"
    );
    let leader_commit = state_at(&out, leader, CLOG.1).commit;
    assert!(
        state_at(&out, 5, CLOG.1 + 300).commit >= leader_commit,
        "node 5 caught up within 300 ms of the release"
    );
}

/// The leader cut off inbound only: its appends and heartbeats still reach
/// the followers, so none of them campaigns, but no acknowledgement comes
/// back, so nothing commits and check-quorum makes it step down after an
/// election timeout without hearing a quorum. Only then do the followers
/// time out and elect another leader.
#[test]
fn a_leader_that_can_send_but_not_hear_steps_down_by_check_quorum() {
    const CUT: (u64, u64) = (2_000, 4_000);
    let out = run_valid(
        &config(
            42,
            vec![(
                CUT.0,
                Some(CUT.1),
                Fault::Partition {
                    cut: Partition::IsolateLeader {
                        direction: Direction::Inbound,
                    },
                },
            )],
        ),
        None,
    );
    let old = leader_before(&out, CUT.0);
    let down = stepped_down(&out, old, CUT.0, CUT.1)
        .unwrap_or_else(|| panic!("node {old} still led at the end of the inbound cut"));
    // Check-quorum looks back one election timeout (and runs on ticks).
    assert!(
        (CUT.0 + 250..CUT.0 + 700).contains(&down),
        "node {old} stepped down at {down} ms"
    );
    for n in (1..=5).filter(|&n| n != old) {
        let early = campaigns(&out, n, CUT.0, down);
        assert!(
            early.is_empty(),
            "node {n} still heard node {old}, yet campaigned at {early:?} ms"
        );
    }
    let new = leader_at(&out, CUT.1 - 1).expect("a new leader during the cut");
    assert_ne!(new, old);
}

/// A follower cut off inbound only misses the heartbeats and campaigns;
/// its pre-vote requests reach the others, who still hear the leader and
/// refuse, so the leader keeps leading in its term and commits go on.
#[test]
fn a_follower_that_cannot_hear_the_leader_campaigns_without_disrupting_it() {
    const CUT: (u64, u64) = (2_000, 4_000);
    let out = run_valid(
        &config(
            43,
            vec![(
                CUT.0,
                Some(CUT.1),
                Fault::Partition {
                    cut: Partition::Isolate {
                        node: 5,
                        direction: Direction::Inbound,
                    },
                },
            )],
        ),
        None,
    );
    let leader = leader_before(&out, CUT.0);
    assert_ne!(leader, 5, "pick a seed where node 5 follows");
    assert!(
        !campaigns(&out, 5, CUT.0, CUT.1).is_empty(),
        "node 5 heard no heartbeat and must campaign"
    );
    assert_eq!(stepped_down(&out, leader, CUT.0, CUT.1), None);
    let term = state_at(&out, leader, CUT.0).term;
    assert_eq!(state_at(&out, leader, CUT.1 - 1).term, term);
    assert!(state_at(&out, leader, CUT.1 - 1).commit > state_at(&out, leader, CUT.0).commit + 50);
}
