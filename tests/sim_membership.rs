//! Membership churn in the simulation: the nemesis's removals, re-adds
//! under fresh ids, non-voters and their promotion, and leadership
//! transfers really change the cluster's configuration, and the correct
//! cluster stays valid through them (invariants, liveness, agreement of
//! the final configuration's members).

use faultline::sim::{run, Phase, RunConfig, RunOptions, RunOutcome};

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
