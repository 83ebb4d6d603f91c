//! Determinism: the same seed, simulated twice with every fault family on,
//! must give the same history, event for event (compared by hash, and by
//! the first differing event when they do not match). A divergence makes
//! every seed a failure report cannot be reproduced, so it fails loudly
//! with the seed and the command to rerun it.

mod suite_support;

use faultline::cli::args::RunArgs;
use faultline::harness::run::{describe_event, first_difference, Judged};
use faultline::sim::Phase;
use faultline_workloads::Workload;
use suite_support::{judge_seed, repro};

/// Run each seed twice and require the same history; returns the first
/// run of each.
fn assert_replays(args: &RunArgs, seeds: &[u64]) -> Vec<Judged> {
    let mut runs = Vec::new();
    for &seed in seeds {
        let a = judge_seed(args, seed);
        let b = judge_seed(args, seed);
        assert!(
            !a.facts.history.is_empty() && !a.facts.history_hash.is_empty(),
            "seed {seed}: the run recorded no history, nothing to compare\n\
             reproduce with:\n  {}",
            repro(args, seed)
        );
        if a.facts.history_hash != b.facts.history_hash {
            let diff = first_difference(&a.facts.history, &b.facts.history);
            let at = match diff {
                Some((i, x, y)) => format!(
                    "first difference at event {i}:\n  first run:  {}\n  second run: {}",
                    describe_event(x),
                    describe_event(y)
                ),
                None => "the events are equal but their hashes differ".into(),
            };
            panic!(
                "seed {seed}: determinism bug, two runs of the same seed diverged \
                 (hashes {} and {}; {} and {} events)\n{at}\nreproduce with:\n  {}",
                a.facts.history_hash,
                b.facts.history_hash,
                a.facts.history.len(),
                b.facts.history.len(),
                repro(args, seed)
            );
        }
        assert_eq!(
            a.verdicts.overall,
            b.verdicts.overall,
            "seed {seed}: same history but different verdicts\n{}\n--\n{}\nreproduce with:\n  {}",
            a.verdicts.explain(),
            b.verdicts.explain(),
            repro(args, seed)
        );
        runs.push(a);
    }
    runs
}

#[test]
fn every_nemesis_replays_identically() {
    let args = suite_support::args(Workload::Register, "all");
    assert_replays(&args, &[11, 12]);
}

#[test]
fn swarm_runs_replay_identically() {
    let args = RunArgs {
        swarm: true,
        // Swarm chooses the fault interval from the seed.
        nemesis_interval: None,
        ..suite_support::args(Workload::Kv, "all")
    };
    assert_replays(&args, &[21, 22]);
}

/// How many membership changes took effect (the operator's `done`
/// records), so a replay test knows the churn it replays really happened.
fn membership_changes_done(judged: &Judged) -> usize {
    judged
        .facts
        .faults_applied
        .iter()
        .filter(|r| r.phase == Phase::Done)
        .count()
}

#[test]
fn membership_churn_replays_identically() {
    let args = RunArgs {
        // Churn every 600 ms, so removals, re-adds, promotions and
        // transfers all come up within the run.
        nemesis_interval: Some(std::time::Duration::from_millis(600)),
        ..suite_support::args(Workload::Register, "membership")
    };
    let judged = &assert_replays(&args, &[41])[0];
    assert!(
        membership_changes_done(judged) >= 2,
        "seed 41 changed the membership {} times; the replay above proves little\n{}",
        membership_changes_done(judged),
        repro(&args, 41)
    );
}

#[test]
fn membership_churn_under_swarm_replays_identically() {
    let args = RunArgs {
        swarm: true,
        nemesis_interval: None,
        ..suite_support::args(Workload::Register, "membership")
    };
    assert_replays(&args, &[42]);
}

#[test]
fn different_seeds_give_different_histories() {
    // Guards the test above against a hash that ignores the history.
    let args = suite_support::args(Workload::Register, "all");
    let a = judge_seed(&args, 31);
    let b = judge_seed(&args, 32);
    assert_ne!(
        a.facts.history_hash,
        b.facts.history_hash,
        "seeds 31 and 32 hashed alike; reproduce with:\n  {}\n  {}",
        repro(&args, 31),
        repro(&args, 32)
    );
}
