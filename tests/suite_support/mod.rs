//! What the fault suites share: one seed simulated and judged exactly as
//! `faultline run` does it, and assertion messages that carry everything an
//! engineer needs to pick up a failure (seed, explanation, repro command).

#![allow(dead_code)]

use std::time::Duration;

use std::path::Path;

use faultline::cli::args::RunArgs;
use faultline::harness::run::{judge, run, simulate, Judged};
use faultline::harness::verdict::Verdict;
use faultline::sim::{self, NodeState, RunConfig, RunOptions, RunOutcome};
use faultline_nemesis::{Fault, Schedule};
use faultline_workloads::Workload;

/// The simulated fault phase of every suite run: long enough for several
/// faults and their heals, short enough to take a second or two of wall time.
pub const SUITE_DURATION: Duration = Duration::from_secs(10);
/// Faults every two seconds, so a 10 s phase sees a handful of them.
pub const SUITE_INTERVAL: Duration = Duration::from_secs(2);

/// The command-line arguments of a suite run, so that the repro command is
/// rendered by the same code the CLI uses.
pub fn args(workload: Workload, nemesis: &str) -> RunArgs {
    RunArgs {
        workload,
        nemesis: nemesis.into(),
        duration: Some(SUITE_DURATION),
        nemesis_interval: Some(SUITE_INTERVAL),
        ..RunArgs::default()
    }
}

/// `cargo run --release -- run --seed S ...`: reproduces `seed` from a checkout.
pub fn repro(args: &RunArgs, seed: u64) -> String {
    let mut words = vec![
        "cargo run --release -- run --seed".to_string(),
        seed.to_string(),
    ];
    words.extend(args.to_flags());
    words.join(" ")
}

/// Simulate and judge one seed as `faultline run` would, without a store.
pub fn judge_seed(args: &RunArgs, seed: u64) -> Judged {
    let config = args
        .config(seed)
        .unwrap_or_else(|e| panic!("seed {seed}: bad suite configuration: {e}"));
    run(simulate, &config, None)
}

/// Why a judged run failed, for an assertion message.
pub fn failure_report(args: &RunArgs, judged: &Judged) -> String {
    let seed = judged.config.seed;
    format!(
        "seed {seed}: {} workload under nemesis `{}` was judged {} \
         ({} events, {:.1} s simulated)\n{}\nfaults: {}\nreproduce with:\n  {}",
        args.workload,
        args.nemesis,
        judged.verdicts.headline(),
        judged.facts.history.len(),
        judged.facts.sim_time_ms as f64 / 1000.0,
        judged.verdicts.explain(),
        judged.effectiveness.summary(),
        repro(args, seed),
    )
}

/// Run each seed and require a valid verdict with real work done.
pub fn assert_valid(workload: Workload, nemesis: &str, seeds: &[u64]) {
    let args = args(workload, nemesis);
    for &seed in seeds {
        let judged = judge_seed(&args, seed);
        assert!(
            judged.verdict() == Verdict::Valid,
            "{}",
            failure_report(&args, &judged)
        );
        // A run where no client operation completed proves nothing.
        let completed = judged
            .facts
            .history
            .iter()
            .filter(|e| e.kind == faultline_histories::EventType::Ok)
            .count();
        assert!(
            completed >= 20,
            "seed {seed}: only {completed} operations completed, the run exercised nothing\n{}",
            failure_report(&args, &judged)
        );
    }
}

/// A fault-free configuration of `seed` with a `duration_ms` fault phase and
/// `faults` (inject ms, heal ms, fault) as its whole schedule.
pub fn scripted_config(
    seed: u64,
    duration_ms: u64,
    faults: Vec<(u64, Option<u64>, Fault)>,
) -> RunConfig {
    let options = RunOptions {
        seed,
        nemesis: "none".into(),
        duration_ms: Some(duration_ms),
        ..RunOptions::default()
    };
    let mut config = RunConfig::from_seed(seed, &options).unwrap();
    config.schedule = Schedule::scripted(config.nodes.clone(), duration_ms, faults).unwrap();
    config.validate().unwrap();
    config
}

/// Simulate `config`, require every verdict of `faultline run` to be valid,
/// and hand back the outcome for the test's own effect checks.
pub fn run_valid(config: &RunConfig, dir: Option<&Path>) -> RunOutcome {
    let out = sim::run(config, dir);
    let verdicts = judge(config, &out);
    assert_eq!(
        verdicts.overall,
        Verdict::Valid,
        "seed {}: {}",
        config.seed,
        verdicts.explain()
    );
    out
}

/// The node that led when the run was at `ms`.
pub fn leader_at(out: &RunOutcome, ms: u64) -> Option<u64> {
    let ns = ms * 1_000_000;
    out.leader_spans
        .iter()
        .find(|s| s.start_ns <= ns && s.end_ns.is_none_or(|e| e > ns))
        .map(|s| s.node)
}

/// When (ms) `node` started campaigning in `from_ms..to_ms`: every trace
/// line where it turned (pre-)candidate or, as a candidate, raised its term.
pub fn campaigns(out: &RunOutcome, node: u64, from_ms: u64, to_ms: u64) -> Vec<u64> {
    use faultline::raft::Role;
    let campaigning = |r: Option<Role>| matches!(r, Some(Role::PreCandidate | Role::Candidate));
    let mut times = Vec::new();
    let mut prev: Option<&NodeState> = None;
    for line in out.trace.iter().filter(|l| l.node == node) {
        let s = &line.state;
        let started =
            campaigning(s.role) && prev.is_none_or(|p| !campaigning(p.role) || p.term < s.term);
        let ms = line.time_ns / 1_000_000;
        if started && ms >= from_ms && ms < to_ms {
            times.push(ms);
        }
        prev = Some(s);
    }
    times
}
