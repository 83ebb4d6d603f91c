//! Clock faults in a simulated cluster: each one moves when a node's
//! election timer fires, and the correct cluster comes through it valid.
//!
//! Heartbeats reset a follower's election timer, so a skewed clock on a
//! follower that keeps hearing its leader shows nothing. Each test here
//! isolates the skewed follower, so its timer runs on its own clock alone:
//! the times it starts campaigning are the timer firing, read from the
//! trace. Its election timeout is `[t, 2t)` local ms (t = 300 here), drawn
//! again at each campaign.

mod suite_support;
use suite_support::{campaigns, leader_at, run_valid, scripted_config};

use faultline::sim::{RunConfig, RunOutcome};
use faultline_nemesis::{Direction, Fault, Partition, Target};

const DURATION_MS: u64 = 6_000;

fn isolate(node: u64) -> Fault {
    Fault::Partition {
        cut: Partition::Isolate {
            node,
            direction: Direction::Both,
        },
    }
}

/// `seed`'s configuration with `faults`, the election timeout checked (the
/// bounds below are derived from it).
fn config(seed: u64, pre_vote: bool, faults: Vec<(u64, Option<u64>, Fault)>) -> RunConfig {
    let mut config = scripted_config(seed, DURATION_MS, faults);
    config.raft.pre_vote = pre_vote;
    config.validate().unwrap();
    assert_eq!(config.raft.election_timeout_ms, 300);
    assert_eq!(config.raft.heartbeat_ms, 50);
    config
}

/// Run and require the skewed nodes not to have led before the faults
/// (the tests reason about followers).
fn run(config: &RunConfig, at_ms: u64, skewed: &[u64]) -> RunOutcome {
    let out = run_valid(config, None);
    let leader = leader_at(&out, at_ms - 1).expect("a leader before the faults");
    assert!(
        !skewed.contains(&leader),
        "seed {}: node {leader} led before the faults; pick a seed where a node outside {skewed:?} leads",
        config.seed
    );
    out
}

fn mean_gap(times: &[u64]) -> f64 {
    assert!(times.len() >= 3, "too few campaigns to measure: {times:?}");
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.iter().sum::<u64>() as f64 / gaps.len() as f64
}

/// Both nodes are cut off at 2 s, when they last heard the leader (its
/// heartbeats come every 50 ms), so unskewed they would campaign in
/// [2.25 s, 2.6 s). A forward bump of 5 s at 2.1 s fires node 4's timer at
/// its next tick (10 local ms); a backward bump of 1 s at 2 s freezes node
/// 5's clock for a second, so its timer fires a second late.
#[test]
fn a_clock_bump_moves_when_the_election_timer_fires() {
    let out = run(
        &config(
            32,
            true,
            vec![
                (2_000, Some(4_000), isolate(4)),
                (2_000, Some(4_000), isolate(5)),
                (
                    2_100,
                    Some(4_000),
                    Fault::ClockBump {
                        targets: Target::node(4),
                        delta_ms: 5_000,
                    },
                ),
                (
                    2_000,
                    Some(4_000),
                    Fault::ClockBump {
                        targets: Target::node(5),
                        delta_ms: -1_000,
                    },
                ),
            ],
        ),
        2_000,
        &[4, 5],
    );
    let early = campaigns(&out, 4, 2_000, 4_000);
    assert!(
        early.first().is_some_and(|&t| (2_100..2_125).contains(&t)),
        "node 4, bumped forward at 2.1 s, campaigned at {early:?} ms"
    );
    let late = campaigns(&out, 5, 2_000, 4_000);
    assert!(
        late.first().is_some_and(|&t| (3_250..3_650).contains(&t)),
        "node 5, bumped back 1 s at 2 s, campaigned at {late:?} ms"
    );
}

/// Pre-vote off, so every campaign of an isolated node raises its term
/// and shows on the trace. Unskewed, campaigns come every [300, 600) ms;
/// node 4's clock runs at twice true speed, so its come every [150, 300)
/// ms, and node 5's at half speed, every [600, 1200) ms.
#[test]
fn drift_speeds_up_and_slows_down_the_election_timer() {
    let drift = |node, rate_permille| Fault::ClockDrift {
        targets: Target::node(node),
        rate_permille,
    };
    let out = run(
        &config(
            35,
            false,
            vec![
                (1_500, Some(5_500), isolate(4)),
                (1_500, Some(5_500), isolate(5)),
                (1_500, Some(5_500), drift(4, 2_000)),
                (1_500, Some(5_500), drift(5, 500)),
            ],
        ),
        1_500,
        &[4, 5],
    );
    // From the first campaign on, the gaps are whole timeouts.
    let fast = campaigns(&out, 4, 1_500, 5_500);
    let slow = campaigns(&out, 5, 1_500, 5_500);
    assert!(
        mean_gap(&fast) < 290.0,
        "node 4 at double speed campaigned every {:.0} ms on average: {fast:?}",
        mean_gap(&fast)
    );
    assert!(
        mean_gap(&slow) > 640.0,
        "node 5 at half speed campaigned every {:.0} ms on average: {slow:?}",
        mean_gap(&slow)
    );
}

/// A strobe of +2 s every 100 ms from 2 s on: the first flip jumps the
/// clock 2 s ahead, so the isolated node campaigns at once; after that
/// each flip back would take the clock backwards, which a monotonic clock
/// turns into a freeze, so local time only moves in the even 100 ms
/// phases, and the timer can fire only then (or within one 10 ms tick
/// after).
#[test]
fn a_strobe_jumps_the_election_timer_and_confines_it_to_alternate_phases() {
    const START: u64 = 2_000;
    const PERIOD: u64 = 100;
    let out = run(
        &config(
            33,
            false,
            vec![
                (1_000, Some(5_000), isolate(5)),
                (
                    START,
                    Some(4_000),
                    Fault::ClockStrobe {
                        targets: Target::node(5),
                        delta_ms: 2_000,
                        period_ms: PERIOD,
                    },
                ),
            ],
        ),
        1_000,
        &[5],
    );
    let times = campaigns(&out, 5, START, 4_000);
    assert!(
        times.first().is_some_and(|&t| t < START + 15),
        "node 5 campaigned at {times:?} ms, not at once when its clock jumped ahead"
    );
    assert!(times.len() >= 4, "{times:?}");
    let in_odd_phase: Vec<u64> = times
        .iter()
        .copied()
        .filter(|t| (t - START) % (2 * PERIOD) > PERIOD + 12)
        .collect();
    assert!(
        in_odd_phase.is_empty(),
        "node 5 campaigned while its clock was frozen, at {in_odd_phase:?} of {times:?} ms"
    );
}
