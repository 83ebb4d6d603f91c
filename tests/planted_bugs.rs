//! The harness must find every planted bug (src/bugs.rs) and raise no alarm
//! on the correct build. Each bug runs its hunt profile from the registry
//! (`faultline hunt` uses the same flags) on a seed recorded by
//! `faultline hunt`; the run must be invalid, caught by the verdict the
//! table in docs/bugs.md names. The negative control runs the same
//! profiles and seeds with no bug and must be valid. A change that blinds
//! the harness (a verdict that stops looking, a nemesis that stops firing)
//! fails here.

use std::thread;

use faultline::bugs::Bug;
use faultline::cli::args::RunArgs;
use faultline::cli::hunt::profile_args;
use faultline::harness::run::{run, SIMULATOR};
use faultline::harness::verdict::{Checker, Verdict};

/// For each bug: a seed on which its hunt profile finds it (the first
/// invalid seed of `faultline hunt --bug NAME`), and the verdict that
/// must be among those that caught it.
const FOUND_AT: &[(Bug, u64, Checker)] = &[
    (Bug::VoteWithoutLogCheck, 0, Checker::Invariant),
    (Bug::ForgetVoteOnStepDown, 0, Checker::Invariant),
    (Bug::VoteBeforePersist, 0, Checker::Invariant),
    (Bug::CommitOldTermByCount, 1, Checker::Invariant),
    (Bug::MinorityQuorum, 0, Checker::Invariant),
    (Bug::TruncateOnEveryAppend, 0, Checker::Agreement),
    (Bug::AckBeforeFsync, 0, Checker::Invariant),
    (Bug::AckBeforeCommit, 0, Checker::Linearizability),
    (Bug::AckWrongEntry, 16, Checker::Linearizability),
    (Bug::LocalReads, 3, Checker::Linearizability),
    (Bug::ReadIndexBeforeTermCommit, 1, Checker::Linearizability),
    (Bug::LeaseOnSkewedClock, 0, Checker::Linearizability),
    (Bug::InstallStaleSnapshot, 2, Checker::Invariant),
    (Bug::SessionsNotInSnapshot, 2, Checker::Agreement),
    (Bug::NeverFsync, 1, Checker::Invariant),
    (Bug::ConcurrentConfigChanges, 7, Checker::Invariant),
    (Bug::NoSessionDedup, 9, Checker::Linearizability),
    (Bug::FixedElectionTimeout, 0, Checker::Liveness),
];

/// Bugs no hunt has found yet within the seeds hunted so far (docs/bugs.md) (see
/// docs/bugs.md for why). Listed so that the gap is explicit: a bug leaves
/// this list when a seed that finds it is recorded above.
const NOT_FOUND_YET: &[Bug] = &[];

fn args(bug: Bug, on: bool) -> RunArgs {
    profile_args(&bug.hunt(), on.then_some(bug))
}

/// The verdict of `seed` under `args`, what caught it, and why.
fn judge(args: &RunArgs, seed: u64) -> (Verdict, Vec<Checker>, String) {
    let simulate = SIMULATOR.expect("this build has the simulation");
    let config = args.config(seed).expect("a valid configuration");
    let judged = run(simulate, &config, None);
    (
        judged.verdict(),
        judged.verdicts.caught_by.clone(),
        judged.verdicts.explain(),
    )
}

/// Run `cases` two at a time (the machine has two cores) and collect the
/// failures `check` reports.
fn in_parallel<T: Send + Sync>(
    cases: &[T],
    check: impl Fn(&T) -> Option<String> + Sync,
) -> Vec<String> {
    let mut failures = Vec::new();
    for pair in cases.chunks(2) {
        thread::scope(|s| {
            let handles: Vec<_> = pair.iter().map(|c| s.spawn(|| check(c))).collect();
            for h in handles {
                match h.join() {
                    Ok(f) => failures.extend(f),
                    Err(_) => failures.push("a run panicked outside the simulation".into()),
                }
            }
        });
    }
    failures
}

#[test]
fn every_planted_bug_has_a_recorded_seed_or_is_listed_as_not_found() {
    for bug in NOT_FOUND_YET {
        assert!(
            !FOUND_AT.iter().any(|(f, _, _)| f == bug),
            "{bug} has a recorded seed: take it off NOT_FOUND_YET"
        );
    }
    let missing: Vec<&str> = Bug::ALL
        .iter()
        .filter(|b| !NOT_FOUND_YET.contains(b))
        .filter(|b| !FOUND_AT.iter().any(|(f, _, _)| f == *b))
        .map(|b| b.name())
        .collect();
    assert!(
        missing.is_empty(),
        "no recorded seed finds these bugs: {}",
        missing.join(", ")
    );
}

#[test]
fn each_planted_bug_is_found_by_its_profile_and_the_expected_verdict() {
    let failures = in_parallel(FOUND_AT, |&(bug, seed, checker)| {
        let args = args(bug, true);
        let (verdict, caught_by, why) = judge(&args, seed);
        (verdict != Verdict::Invalid || !caught_by.contains(&checker)).then(|| {
            format!(
                "bug {bug} on seed {seed}: expected invalid, caught by {checker}; got {verdict:?} \
                 caught by {caught_by:?}\n{why}\n  repro: {}",
                args.repro_command(seed)
            )
        })
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_correct_build_is_clean_on_the_same_profiles_and_seeds() {
    let failures = in_parallel(FOUND_AT, |&(bug, seed, _)| {
        let args = args(bug, false);
        let (verdict, _, why) = judge(&args, seed);
        (verdict != Verdict::Valid).then(|| {
            format!(
                "the correct build is {verdict:?} on seed {seed} with {bug}'s profile\n{why}\n  repro: {}",
                args.repro_command(seed)
            )
        })
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
