//! `faultline hunt`: how fast the harness finds each planted bug, and a
//! negative control on the correct build.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::soak::{crashed_record, soak_one};
use super::{default_jobs, Failure, HuntCommand, RunArgs};
use crate::bugs::{Bug, HuntProfile};
use crate::harness::ledger::Status;
use crate::harness::run::Simulate;
use crate::harness::seeds::{SeedRange, Seeds, Shard};
use crate::harness::soak::{run_batch, BatchOptions};
use crate::harness::store::Store;
use crate::harness::verdict::{Checker, Verdict};

/// What hunting one bug found.
#[derive(Clone, Debug, Serialize)]
pub struct HuntResult {
    pub bug: String,
    pub nemesis: String,
    /// The run flags of the hunt (the bug's profile), without `--bug`.
    pub profile: String,
    /// The smallest seed whose run was invalid.
    pub found_seed: Option<u64>,
    /// Seeds up to and including the first invalid one (all seeds if none).
    pub seeds_tried: u64,
    /// Simulated time over those seeds.
    pub sim_ms: u64,
    /// Wall time until the first invalid run arrived (the whole hunt's
    /// wall time when nothing was found).
    pub wall_ms: u64,
    pub caught_by: Vec<Checker>,
    pub reason: String,
    pub repro: Option<String>,
    /// Negative control with the same profile without the bug: invalid runs.
    pub control_invalid: Option<u64>,
    /// Control runs that were not valid without being invalid (unknown
    /// verdicts, harness crashes): not a pass either.
    pub control_undecided: Option<u64>,
    pub control_seeds: Option<u64>,
}

/// The run flags of a hunt profile, with `bug` switched on.
pub fn profile_args(profile: &HuntProfile, bug: Option<Bug>) -> RunArgs {
    RunArgs {
        nemesis: profile.nemesis.to_string(),
        nodes: profile.nodes,
        clients: profile.clients,
        duration: Some(Duration::from_millis(profile.duration_ms)),
        nemesis_interval: profile.nemesis_interval_ms.map(Duration::from_millis),
        snapshot_threshold: profile.snapshot_threshold,
        admin_concurrency: profile.admin_concurrency,
        pre_vote: profile.pre_vote,
        max_append_entries: profile.max_append_entries,
        max_inflight: profile.max_inflight,
        trailing_logs: profile.trailing_logs,
        bugs: bug.into_iter().collect(),
        ..RunArgs::default()
    }
}

/// The bug's registry profile, with what the command line overrides.
fn hunt_args(cmd: &HuntCommand, bug: Bug) -> RunArgs {
    let mut args = profile_args(&bug.hunt(), Some(bug));
    if let Some(n) = &cmd.nemesis {
        args.nemesis = n.clone();
    }
    if let Some(d) = cmd.duration {
        args.duration = Some(d);
    }
    if let Some(n) = cmd.admin_concurrency {
        args.admin_concurrency = Some(n);
    }
    args.workload = cmd.workload;
    args.swarm |= cmd.swarm;
    args
}

/// The profile's flags, for the table (without `--bug`).
fn profile_flags(args: &RunArgs) -> String {
    let without_bug = RunArgs {
        bugs: Vec::new(),
        ..args.clone()
    };
    super::args::join_command(&without_bug.to_flags())
}

/// Soak seeds with `args` until the first invalid run.
fn hunt_one(
    simulate: Simulate,
    args: &RunArgs,
    range: SeedRange,
    jobs: usize,
    root: &Path,
    stop_at_first: bool,
) -> (
    Option<(u64, Duration)>,
    Vec<crate::harness::ledger::SeedRecord>,
    Duration,
) {
    let started = Instant::now();
    let mut first: Option<(u64, Duration)> = None;
    let summary = run_batch(
        Seeds::new(range, Shard::WHOLE, None),
        &BatchOptions {
            jobs,
            fail_fast: stop_at_first,
            time_limit: None,
        },
        |seed| soak_one(simulate, args, seed, Some(root), false),
        |seed, why| {
            crashed_record(
                seed,
                format!("harness panic: {why}"),
                args.repro_command(seed),
            )
        },
        |r| {
            if r.status == Status::Invalid && first.is_none_or(|(s, _)| r.seed < s) {
                first = Some((r.seed, first.map_or(started.elapsed(), |(_, t)| t)));
            }
        },
    );
    (first, summary.records, started.elapsed())
}

pub fn run(cmd: &HuntCommand, simulate: Simulate) -> Result<ExitCode, Failure> {
    let jobs = cmd.jobs.unwrap_or_else(default_jobs).max(1);
    let bugs: Vec<Bug> = match cmd.bug {
        Some(b) => vec![b],
        None => Bug::ALL.to_vec(),
    };
    let range = SeedRange {
        start: cmd.start,
        end: Some(cmd.start.saturating_add(cmd.seeds)),
    };
    let store = Store::new(&cmd.out.out);
    let dir = store
        .create_run(if cmd.all { "hunt-all" } else { "hunt" })
        .map_err(|e| Failure::harness(format!("cannot create the hunt directory: {e}")))?;
    let _ = store.point_latest(&dir);
    println!(
        "hunt: seeds {range}, {jobs} jobs, stored in {}",
        dir.display()
    );
    let mut results = Vec::new();
    let mut profiles: Vec<RunArgs> = Vec::new();
    for bug in bugs {
        let args = hunt_args(cmd, bug);
        args.config(range.start).map_err(Failure::usage)?;
        let (first, records, elapsed) = hunt_one(simulate, &args, range, jobs, &dir, true);
        let tried: Vec<_> = records
            .iter()
            .filter(|r| first.is_none_or(|(s, _)| r.seed <= s))
            .collect();
        let found = first.and_then(|(s, _)| records.iter().find(|r| r.seed == s));
        let result = HuntResult {
            bug: bug.name().into(),
            nemesis: args.nemesis.clone(),
            profile: profile_flags(&args),
            found_seed: first.map(|(s, _)| s),
            seeds_tried: first.map_or(records.len() as u64, |(s, _)| s - range.start + 1),
            sim_ms: tried.iter().map(|r| r.sim_ms).sum(),
            wall_ms: first.map_or(elapsed, |(_, t)| t).as_millis() as u64,
            caught_by: found.map(|r| r.caught_by.clone()).unwrap_or_default(),
            reason: found.map(|r| r.reason.clone()).unwrap_or_default(),
            repro: found.map(|r| r.repro.clone()),
            control_invalid: None,
            control_undecided: None,
            control_seeds: None,
        };
        println!("{}", row(&result));
        results.push(result);
        profiles.push(RunArgs {
            bugs: Vec::new(),
            ..args
        });
    }
    if cmd.all || cmd.control_seeds.is_some() {
        control(cmd, simulate, &profiles, &mut results, jobs, &dir);
    }
    println!("\n{}", table(&results));
    if let Some(m) = median(&results) {
        println!("{m}");
    }
    let _ = std::fs::write(
        dir.join("hunt.json"),
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    );
    let found_all = results.iter().all(|r| r.found_seed.is_some());
    let control_clean = results
        .iter()
        .all(|r| r.control_invalid.unwrap_or(0) == 0 && r.control_undecided.unwrap_or(0) == 0);
    if cmd.all {
        // Green table: every bug found and a clean control.
        return Ok(if found_all && control_clean {
            ExitCode::SUCCESS
        } else {
            Verdict::Invalid.exit()
        });
    }
    if let Some(repro) = results.last().and_then(|r| r.repro.clone()) {
        println!("{repro}");
        return Ok(Verdict::Invalid.exit());
    }
    Ok(if control_clean {
        ExitCode::SUCCESS
    } else {
        Verdict::Invalid.exit()
    })
}

/// The negative control: each distinct profile on the correct build, over
/// `--control-seeds` seeds (or as many as the longest hunt with that
/// profile tried). Every run must be valid; each invalid one is printed
/// with its repro command.
fn control(
    cmd: &HuntCommand,
    simulate: Simulate,
    profiles: &[RunArgs],
    results: &mut [HuntResult],
    jobs: usize,
    dir: &Path,
) {
    let mut done: Vec<(RunArgs, u64, u64, u64)> = Vec::new();
    println!("\nnegative control: the same profiles on the correct build");
    for (i, args) in profiles.iter().enumerate() {
        if let Some((_, bad, undecided, n)) = done.iter().find(|(a, ..)| a == args) {
            results[i].control_invalid = Some(*bad);
            results[i].control_undecided = Some(*undecided);
            results[i].control_seeds = Some(*n);
            continue;
        }
        let count = cmd.control_seeds.unwrap_or_else(|| {
            profiles
                .iter()
                .zip(results.iter())
                .filter(|(a, _)| *a == args)
                .map(|(_, r)| r.seeds_tried)
                .max()
                .unwrap_or(1)
        });
        let range = SeedRange {
            start: cmd.start,
            end: Some(cmd.start.saturating_add(count)),
        };
        let (_, records, _) = hunt_one(simulate, args, range, jobs, dir, false);
        let bad = records
            .iter()
            .filter(|x| x.status == Status::Invalid)
            .count() as u64;
        let undecided = records.iter().filter(|x| x.is_failure()).count() as u64 - bad;
        for x in records.iter().filter(|x| x.is_failure()) {
            println!(
                "  control seed {} {}: {}\n    {}",
                x.seed, x.status, x.reason, x.repro
            );
        }
        println!(
            "  {}: {bad} invalid, {undecided} undecided of {} seeds",
            profile_flags(args),
            records.len()
        );
        results[i].control_invalid = Some(bad);
        results[i].control_undecided = Some(undecided);
        results[i].control_seeds = Some(records.len() as u64);
        done.push((args.clone(), bad, undecided, records.len() as u64));
    }
}

fn row(r: &HuntResult) -> String {
    let caught: Vec<&str> = r.caught_by.iter().map(|c| c.name()).collect();
    match r.found_seed {
        Some(seed) => format!(
            "{:<30} found at seed {seed} after {} seeds, {:.1} s simulated, {:.1} s wall; caught by {}",
            r.bug,
            r.seeds_tried,
            r.sim_ms as f64 / 1000.0,
            r.wall_ms as f64 / 1000.0,
            caught.join(", ")
        ),
        None => format!(
            "{:<30} NOT FOUND in {} seeds ({:.1} s wall)",
            r.bug,
            r.seeds_tried,
            r.wall_ms as f64 / 1000.0
        ),
    }
}

/// The median bug's seeds and wall time to its find, counting a bug not
/// found as worse than any found one (the target is a median within
/// 20 seeds and 10 s).
fn median(results: &[HuntResult]) -> Option<String> {
    if results.len() < 2 {
        return None;
    }
    let key = |r: &HuntResult| (r.found_seed.is_none(), r.seeds_tried);
    let mut by_seeds: Vec<&HuntResult> = results.iter().collect();
    by_seeds.sort_by_key(|r| key(r));
    let mut by_wall: Vec<&HuntResult> = results.iter().collect();
    by_wall.sort_by_key(|r| (r.found_seed.is_none(), r.wall_ms));
    let mid = (results.len() - 1) / 2;
    // With an even count the upper of the two middle bugs: the pessimistic median.
    let mid = if results.len().is_multiple_of(2) {
        mid + 1
    } else {
        mid
    };
    let found = results.iter().filter(|r| r.found_seed.is_some()).count();
    let (s, w) = (by_seeds[mid], by_wall[mid]);
    let seeds = if s.found_seed.is_some() {
        format!("{} seeds", s.seeds_tried)
    } else {
        "not found".into()
    };
    let wall = if w.found_seed.is_some() {
        format!("{:.1} s wall", w.wall_ms as f64 / 1000.0)
    } else {
        "not found".into()
    };
    Some(format!(
        "found {found} of {} bugs; median bug: {seeds}, {wall}",
        results.len()
    ))
}

/// The markdown table of a hunt, as the README shows it.
pub fn table(results: &[HuntResult]) -> String {
    let mut s = String::from(
        "| bug | profile | found | seeds | sim time | wall time | caught by | control |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let caught: Vec<&str> = r.caught_by.iter().map(|c| c.name()).collect();
        let control = match (r.control_invalid, r.control_undecided, r.control_seeds) {
            (Some(0), Some(0), Some(n)) => format!("clean ({n} seeds)"),
            (Some(k), Some(0), Some(n)) => format!("{k} INVALID of {n}"),
            (Some(k), Some(u), Some(n)) => format!("{k} INVALID, {u} undecided of {n}"),
            _ => "-".into(),
        };
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {:.1} s | {:.1} s | {} | {} |\n",
            r.bug,
            r.profile,
            r.found_seed.map_or("no".into(), |s| format!("seed {s}")),
            r.seeds_tried,
            r.sim_ms as f64 / 1000.0,
            r.wall_ms as f64 / 1000.0,
            caught.join(", "),
            control
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(found: Option<u64>, seeds: u64, wall_ms: u64) -> HuntResult {
        HuntResult {
            bug: "b".into(),
            nemesis: "crash".into(),
            profile: String::new(),
            found_seed: found,
            seeds_tried: seeds,
            sim_ms: 0,
            wall_ms,
            caught_by: Vec::new(),
            reason: String::new(),
            repro: None,
            control_invalid: None,
            control_undecided: None,
            control_seeds: None,
        }
    }

    #[test]
    fn median_counts_a_missed_bug_as_worst() {
        let rs = [
            result(Some(0), 1, 100),
            result(None, 200, 9_000),
            result(Some(4), 5, 3_000),
        ];
        let m = median(&rs).unwrap();
        assert_eq!(m, "found 2 of 3 bugs; median bug: 5 seeds, 3.0 s wall");
        let rs = [
            result(None, 200, 1),
            result(None, 200, 1),
            result(Some(0), 1, 5),
        ];
        assert!(median(&rs)
            .unwrap()
            .contains("median bug: not found, not found"));
    }

    #[test]
    fn even_count_takes_the_upper_middle() {
        let rs = [
            result(Some(0), 1, 100),
            result(Some(1), 2, 200),
            result(Some(9), 10, 900),
            result(Some(19), 20, 1_900),
        ];
        assert!(median(&rs).unwrap().contains("10 seeds, 0.9 s wall"));
    }
}
