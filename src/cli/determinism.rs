//! `faultline determinism`: every sampled seed twice, histories compared.

use std::process::ExitCode;

use super::{default_jobs, DeterminismCommand, Failure, RunArgs, EXIT_HARNESS};
use crate::harness::ledger::{SeedRecord, Status};
use crate::harness::run::{describe_event, first_difference, run as simulate_and_judge, Simulate};
use crate::harness::seeds::{SeedRange, Seeds, Shard};
use crate::harness::soak::{run_batch, BatchOptions};

/// Run `seed` twice; a harness-crash record names the first difference.
pub fn check_seed(simulate: Simulate, args: &RunArgs, seed: u64) -> SeedRecord {
    let repro = args.repro_command(seed);
    let config = match args.config(seed) {
        Ok(c) => c,
        Err(e) => return super::soak::crashed_record(seed, e, repro),
    };
    let a = simulate_and_judge(simulate, &config, None);
    let b = simulate_and_judge(simulate, &config, None);
    let same = a.facts.history_hash == b.facts.history_hash && a.facts.history == b.facts.history;
    let reason = if same {
        String::new()
    } else {
        match first_difference(&a.facts.history, &b.facts.history) {
            Some((i, x, y)) => format!(
                "histories differ at event {i}: first run {} / second run {}",
                describe_event(x),
                describe_event(y)
            ),
            None => format!(
                "equal histories hash differently ({} vs {})",
                a.facts.history_hash, b.facts.history_hash
            ),
        }
    };
    SeedRecord {
        seed,
        status: if same {
            Status::Valid
        } else {
            Status::HarnessCrash
        },
        caught_by: vec![],
        reason,
        wall_ms: (a.wall + b.wall).as_millis() as u64,
        sim_ms: a.facts.sim_time_ms,
        history_hash: a.facts.history_hash,
        dir: None,
        repro,
    }
}

pub fn run(cmd: &DeterminismCommand, simulate: Simulate) -> Result<ExitCode, Failure> {
    let start = cmd.start.unwrap_or_else(super::run::random_seed);
    let range = SeedRange {
        start,
        end: Some(start.saturating_add(cmd.count)),
    };
    cmd.run.config(start).map_err(Failure::usage)?;
    let jobs = cmd.jobs.unwrap_or_else(default_jobs).max(1);
    println!("determinism: seeds {range}, each run twice, {jobs} jobs");
    let bar = super::soak::progress(Some(cmd.count));
    let summary = run_batch(
        Seeds::new(range, Shard::WHOLE, None),
        &BatchOptions {
            jobs,
            fail_fast: false,
            time_limit: None,
        },
        |seed| check_seed(simulate, &cmd.run, seed),
        |seed, why| {
            super::soak::crashed_record(
                seed,
                format!("harness panic: {why}"),
                cmd.run.repro_command(seed),
            )
        },
        |r| {
            if r.is_failure() {
                bar.println(format!("seed {}: {}", r.seed, r.reason));
            }
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    let diverged = summary.failures();
    println!(
        "{} seeds run twice in {:.1} s: {} identical, {} diverged",
        summary.records.len(),
        summary.elapsed.as_secs_f64(),
        summary.records.len() - diverged.len(),
        diverged.len()
    );
    if diverged.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!("\nDETERMINISM BUGS:");
    print!("{}", super::soak::failure_table(&diverged));
    Ok(ExitCode::from(EXIT_HARNESS))
}
