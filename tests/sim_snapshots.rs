//! Snapshot catch-up under the settings a user tunes: how many log entries
//! the leader keeps behind each snapshot (`--trailing-logs`), and the
//! in-run check that a node's storage accepts every snapshot its core
//! installs.

mod suite_support;
use suite_support::run_valid;

use faultline::bugs::Bug;
use faultline::cli::args::RunArgs;
use faultline::cli::hunt::profile_args;
use faultline::harness::run::{run, SIMULATOR};
use faultline::harness::verdict::{Checker, Verdict};
use faultline::sim::{RunConfig, RunOptions, RunOutcome};
use faultline_nemesis::{CrashScope, Fault, Schedule, Target};

const DURATION_MS: u64 = 6_000;
/// Node 5 is down from 1 s to 2.5 s: about a hundred entries behind when
/// it comes back, fewer than the default 256 trailing entries.
const DOWN: (u64, u64) = (1_000, 2_500);

/// A run of `seed` in which node 5 crashes for `DOWN`, snapshots are taken
/// every 16 entries, appends carry at most 8 entries with 2 in flight, and
/// `trailing_logs` entries are kept behind each snapshot.
fn outage_config(seed: u64, trailing_logs: Option<u64>) -> RunConfig {
    let options = RunOptions {
        seed,
        nemesis: "none".into(),
        duration_ms: Some(DURATION_MS),
        snapshot_threshold: Some(16),
        max_append_entries: Some(8),
        trailing_logs,
        ..RunOptions::default()
    };
    let mut config = RunConfig::from_seed(seed, &options).unwrap();
    config.raft.max_inflight = 2;
    let crash = Fault::Crash {
        targets: Target::node(5),
        scope: CrashScope::One,
        torn_block_bytes: None,
    };
    config.schedule = Schedule::scripted(
        config.nodes.clone(),
        DURATION_MS,
        vec![(DOWN.0, Some(DOWN.1), crash)],
    )
    .unwrap();
    config.validate().unwrap();
    config
}

/// The largest jump of node 5's last log index after its restart. An
/// append moves it by at most `max_append_entries` per message and
/// `max_inflight + 1` messages can land in one step; a larger jump is an
/// installed snapshot.
fn largest_catch_up_jump(out: &RunOutcome) -> (u64, u64) {
    let states: Vec<_> = out
        .trace
        .iter()
        .filter(|l| l.node == 5 && l.time_ns >= DOWN.1 * 1_000_000)
        .filter(|l| l.state.role.is_some())
        .map(|l| l.state.last_index)
        .collect();
    let first = *states.first().expect("node 5 came back");
    let jump = states
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or(0);
    (first, jump)
}

#[test]
fn without_trailing_logs_a_follower_back_from_a_short_outage_catches_up_by_snapshot() {
    let per_step = 8 * (2 + 1);

    let kept = outage_config(31, None);
    assert_eq!(kept.raft.trailing_logs, 256);
    let out = run_valid(&kept, None);
    let (_, jump) = largest_catch_up_jump(&out);
    assert!(
        jump <= per_step,
        "with 256 trailing entries node 5 jumped {jump} entries at once: a snapshot, \
         though the log still held what it missed"
    );

    let none_kept = outage_config(31, Some(0));
    assert_eq!(none_kept.raft.trailing_logs, 0);
    let out = run_valid(&none_kept, None);
    let (restarted_at, jump) = largest_catch_up_jump(&out);
    assert!(
        jump > per_step,
        "with no trailing entries node 5 (back at index {restarted_at}) caught up by \
         appends of at most {jump} entries: no snapshot was sent"
    );
}

/// The hunt profile of install-stale-snapshot (a snapshot every 4
/// entries, no trailing log), which makes a leader send snapshots to
/// followers that have already applied past them while their
/// acknowledgements are on the way.
fn stale_profile(on: bool) -> RunArgs {
    let bug = Bug::InstallStaleSnapshot;
    profile_args(&bug.hunt(), on.then_some(bug))
}

#[test]
fn a_follower_that_installs_a_snapshot_older_than_its_own_is_caught_by_the_monitor() {
    // Seed 2: the leader compacts at 121 while node 2, which has already
    // taken its own snapshot at 122, still looks behind it.
    let simulate = SIMULATOR.expect("this build has the simulation");
    let correct = run(
        simulate,
        &stale_profile(false).config(2).expect("a valid profile"),
        None,
    );
    assert_eq!(
        correct.verdict(),
        Verdict::Valid,
        "{}",
        correct.verdicts.explain()
    );
    let buggy = run(
        simulate,
        &stale_profile(true).config(2).expect("a valid profile"),
        None,
    );
    assert_eq!(buggy.verdict(), Verdict::Invalid);
    assert!(
        buggy.verdicts.caught_by.contains(&Checker::Invariant),
        "{:?}",
        buggy.verdicts.caught_by
    );
    let why = buggy.verdicts.explain();
    assert!(why.contains("storage accepts what the core asks"), "{why}");
    assert!(why.contains("older than the stored one"), "{why}");
}
