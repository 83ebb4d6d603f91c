//! `faultline soak`: many seeds in parallel, a ledger, a failure table.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{default_jobs, Failure, RunArgs, SoakCommand, EXIT_HARNESS};
use crate::harness::ledger::{Ledger, SeedRecord, Status};
use crate::harness::run::{
    provisional_capsule, run as simulate_and_judge, write_outputs, Simulate,
};
use crate::harness::seeds::{SeedRange, Seeds, Shard};
use crate::harness::soak::{run_batch, BatchOptions, BatchSummary};
use crate::harness::store::{Store, LEDGER};
use crate::harness::verdict::Verdict;

/// Run one seed of a soak into `root/seed-<seed>/`, keeping the directory
/// only if the seed failed (or `keep_all`).
pub fn soak_one(
    simulate: Simulate,
    args: &RunArgs,
    seed: u64,
    root: Option<&Path>,
    keep_all: bool,
) -> SeedRecord {
    let repro = args.repro_command(seed);
    let config = match args.config(seed) {
        Ok(c) => c,
        Err(e) => return crashed_record(seed, format!("no configuration: {e}"), repro),
    };
    let dir = root.map(|r| r.join(format!("seed-{seed}")));
    if let Some(d) = &dir {
        let made =
            fs::create_dir_all(d).and_then(|_| provisional_capsule(&config, &repro).write(d));
        if let Err(e) = made {
            return crashed_record(seed, format!("cannot write {}: {e}", d.display()), repro);
        }
    }
    let judged = simulate_and_judge(simulate, &config, dir.as_deref());
    let mut kept = None;
    if let Some(d) = &dir {
        if judged.status() != Status::Valid || keep_all {
            if let Err(e) = write_outputs(d, &judged, &repro) {
                return crashed_record(seed, format!("cannot write {}: {e}", d.display()), repro);
            }
            kept = Some(d.clone());
        } else {
            let _ = fs::remove_dir_all(d);
        }
    }
    SeedRecord {
        seed,
        status: judged.status(),
        caught_by: judged.verdicts.caught_by.clone(),
        reason: judged.verdicts.first_reason(),
        wall_ms: judged.wall.as_millis() as u64,
        sim_ms: judged.facts.sim_time_ms,
        history_hash: judged.facts.history_hash.clone(),
        dir: kept,
        repro,
    }
}

pub fn crashed_record(seed: u64, reason: String, repro: String) -> SeedRecord {
    SeedRecord {
        seed,
        status: Status::HarnessCrash,
        caught_by: vec![],
        reason,
        wall_ms: 0,
        sim_ms: 0,
        history_hash: String::new(),
        dir: None,
        repro,
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = if total.is_some() {
        "{elapsed_precise} [{bar:30}] {pos}/{len} seeds  {msg}"
    } else {
        "{elapsed_precise} {spinner} {pos} seeds  {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// Exit code of a batch: 1 if any seed was invalid, else 4 for a harness
/// crash, else 3 if any was unknown, else 0.
pub fn batch_exit(summary: &BatchSummary) -> ExitCode {
    if summary.count(Status::Invalid) > 0 {
        Verdict::Invalid.exit()
    } else if summary.count(Status::HarnessCrash) > 0 {
        ExitCode::from(EXIT_HARNESS)
    } else if summary.count(Status::Unknown) > 0 {
        Verdict::Unknown.exit()
    } else {
        ExitCode::SUCCESS
    }
}

/// The failures as a table with their repro commands.
pub fn failure_table(failures: &[&SeedRecord]) -> String {
    let mut s = String::new();
    for r in failures {
        s.push_str(&format!(
            "seed {:<20} {:<13} {}\n    {}\n",
            r.seed,
            r.status.to_string(),
            r.reason,
            r.repro
        ));
        if let Some(d) = &r.dir {
            s.push_str(&format!("    stored in {}\n", d.display()));
        }
    }
    s
}

pub fn run(cmd: &SoakCommand, simulate: Simulate) -> Result<ExitCode, Failure> {
    let range = cmd
        .seeds
        .unwrap_or_else(|| SeedRange::from(super::run::random_seed()));
    let shard = cmd.shard.unwrap_or(Shard::WHOLE);
    if range.end.is_none() && cmd.count.is_none() && cmd.for_.is_none() {
        return Err(Failure::usage(
            "soak needs an end: --count N, --for DURATION, or a bounded --seeds A..B",
        ));
    }
    let jobs = cmd.jobs.unwrap_or_else(default_jobs).max(1);
    // A bad flag combination fails every seed the same way: say so once, now.
    cmd.run.config(range.start).map_err(Failure::usage)?;
    println!(
        "soak: seeds {range}, shard {shard}, {jobs} jobs{}{}",
        cmd.count.map_or(String::new(), |n| format!(", {n} seeds")),
        cmd.for_.map_or(String::new(), |d| format!(
            ", for {}",
            super::args::format_duration(d)
        ))
    );
    let store = Store::new(&cmd.out.out);
    let dir = store
        .create_run("soak")
        .map_err(|e| Failure::harness(format!("cannot create the soak directory: {e}")))?;
    let _ = store.point_latest(&dir);
    let ledger_path = dir.join(LEDGER);
    let ledger =
        Mutex::new(Ledger::create(&ledger_path).map_err(|e| {
            Failure::harness(format!("cannot create {}: {e}", ledger_path.display()))
        })?);
    let seeds = Seeds::new(range, shard, cmd.count);
    let total = cmd.count.or_else(|| {
        range
            .len()
            .map(|n| n / shard.count + u64::from(n % shard.count >= shard.index))
    });
    let bar = progress(if cmd.for_.is_some() { None } else { total });
    let mut failures = 0u64;
    let mut ledger_error = None;
    let opts = BatchOptions {
        jobs,
        fail_fast: cmd.fail_fast,
        time_limit: cmd.for_,
    };
    let summary = run_batch(
        seeds,
        &opts,
        |seed| soak_one(simulate, &cmd.run, seed, Some(&dir), cmd.keep_all),
        |seed, why| {
            crashed_record(
                seed,
                format!("harness panic: {why}"),
                cmd.run.repro_command(seed),
            )
        },
        |record| {
            if let Err(e) = ledger
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .append(record)
            {
                ledger_error.get_or_insert(e.to_string());
            }
            if record.is_failure() {
                failures += 1;
                bar.println(format!(
                    "seed {} {}: {}",
                    record.seed, record.status, record.reason
                ));
            }
            bar.inc(1);
            let rate = bar.position() as f64 / bar.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{failures} failures  {rate:.2} seeds/s"));
        },
    );
    bar.finish_and_clear();
    print_summary(&summary, jobs, &ledger_path);
    if let Some(e) = ledger_error {
        return Err(Failure::harness(format!("cannot write the ledger: {e}")));
    }
    Ok(batch_exit(&summary))
}

/// Counts, throughput, the failure table; repro commands come last.
pub fn print_summary(summary: &BatchSummary, jobs: usize, ledger: &Path) {
    let n = summary.records.len();
    let per_hour_core = summary.seeds_per_sec() * 3600.0 / jobs as f64;
    println!(
        "{n} seeds in {:.1} s: {} valid, {} invalid, {} unknown, {} harness crashes ({:.2} seeds/s, {:.0} seeds/hour/core){}",
        summary.elapsed.as_secs_f64(),
        summary.count(Status::Valid),
        summary.count(Status::Invalid),
        summary.count(Status::Unknown),
        summary.count(Status::HarnessCrash),
        summary.seeds_per_sec(),
        per_hour_core,
        if summary.stopped_early { " (stopped early)" } else { "" }
    );
    println!("ledger: {}", ledger.display());
    let failures = summary.failures();
    if !failures.is_empty() {
        println!("\nfailures:");
        print!("{}", failure_table(&failures));
    }
}
