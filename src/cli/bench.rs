//! `faultline bench`: speed and memory figures for this build on this
//! machine (see `harness::bench`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::args::{join_command, RunArgs};
use super::Failure;
use crate::harness::bench::{
    peak_rss_bytes, seeds_per_hour, sim_speed, time_checker, time_floor, time_seeds, Bench,
};
use crate::harness::history_file;
use crate::harness::run::Simulate;

#[derive(clap::Args, Debug)]
pub struct BenchCommand {
    /// Seeds to simulate, one after another on one core.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Time the checkers on this history.jsonl [default: the first seed's history].
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// The run each seed does [default: `faultline run`'s defaults].
    #[command(flatten)]
    pub run: RunArgs,
}

/// Each timed check repeats for about this long, for a stable mean.
const CHECK_TIME: Duration = Duration::from_secs(1);
const CHECK_REPEATS: usize = 1_000;
const CHECK_BUDGET: Duration = Duration::from_secs(30);

pub fn run(cmd: &BenchCommand, simulate: Simulate) -> Result<ExitCode, Failure> {
    if cmd.seeds == 0 {
        return Err(Failure::usage("--seeds must be at least 1"));
    }
    let end = cmd
        .start
        .checked_add(cmd.seeds)
        .ok_or_else(|| Failure::usage("--start plus --seeds overflows a u64"))?;
    let configs = (cmd.start..end)
        .map(|s| cmd.run.config(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)?;
    // Read the history first, so a bad file fails before minutes of runs.
    let stored = match &cmd.history {
        Some(path) => Some(load(path)?),
        None => None,
    };
    let mut profile = vec!["faultline".to_string(), "run".into()];
    profile.extend(cmd.run.to_flags());
    let profile = join_command(&profile);
    if !cmd.json {
        println!(
            "bench: seeds {}..{end} of `{profile}`, one at a time on one core",
            cmd.start
        );
    }
    let (seeds, first_history) = time_seeds(simulate, &configs);
    if !cmd.json {
        for s in &seeds {
            println!(
                "  seed {}: {:.1} s simulated in {:.2} s, judged in {:.2} s: {}, {} events",
                s.seed,
                s.sim_ms as f64 / 1e3,
                s.simulate_ms / 1e3,
                s.judge_ms / 1e3,
                s.verdict,
                s.events
            );
        }
    }
    let (source, workload, events) = match stored {
        Some((path, workload, events)) => (path, workload, events),
        None => (
            format!("seed {}'s history", cmd.start),
            cmd.run.workload,
            first_history,
        ),
    };
    let checker = time_checker(
        &source,
        workload,
        &events,
        CHECK_BUDGET,
        CHECK_TIME,
        CHECK_REPEATS,
    )
    .map_err(|e| Failure::usage(format!("{source}: {e}")))?;
    let floor = time_floor(&configs[0], &seeds).map_err(Failure::harness)?;
    let bench = Bench {
        profile,
        sim_seconds_per_wall_second: sim_speed(&seeds),
        seeds_per_hour_per_core: seeds_per_hour(&seeds),
        seeds,
        checker: Some(checker),
        floor: Some(floor),
        peak_rss_bytes: peak_rss_bytes(),
    };
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&bench).map_err(|e| Failure::harness(e.to_string()))?
        );
    } else {
        print_figures(&bench);
    }
    Ok(ExitCode::SUCCESS)
}

/// A stored faultline history and the workload its header names.
fn load(
    path: &std::path::Path,
) -> Result<
    (
        String,
        faultline_workloads::Workload,
        Vec<faultline_histories::Event>,
    ),
    Failure,
> {
    let loaded = history_file::load(path).map_err(|e| Failure::usage(e.to_string()))?;
    let workload = super::check::header_workload(&loaded).ok_or_else(|| {
        Failure::usage(format!(
            "{}: the file does not say which workload it records (not a faultline history.jsonl?)",
            path.display()
        ))
    })??;
    Ok((path.display().to_string(), workload, loaded.events))
}

fn print_figures(b: &Bench) {
    let row = |name: &str, figure: String, what: String| {
        println!("{name:<20} {figure:<24} {what}");
    };
    row(
        "simulation speed",
        format!("{:.1} sim s / wall s", b.sim_seconds_per_wall_second),
        "simulated seconds per wall-clock second of simulation alone (no checking)".into(),
    );
    row(
        "soak throughput",
        format!("{:.0} seeds/hour/core", b.seeds_per_hour_per_core),
        "seeds one core simulates and judges per hour, as `faultline soak` runs them".into(),
    );
    if let Some(f) = &b.floor {
        row(
            "turmoil floor",
            format!("{:.1} sim s / wall s", f.sim_seconds_per_wall_second),
            format!(
                "turmoil alone, same hosts and {:.0} s: a heartbeat per node pair every 50 ms, a round trip per client every 10 ms ({} round trips)",
                f.sim_ms as f64 / 1e3,
                f.round_trips
            ),
        );
        row(
            "cost over floor",
            format!("{:.2}x", f.faultline_over_floor),
            "wall time of a faultline run over the floor's, for the same simulated time".into(),
        );
    }
    if let Some(c) = &b.checker {
        row(
            "checker throughput",
            format!("{:.0} ops/s", c.ops_per_sec),
            format!(
                "every checker of the {} workload on {} ({} ops; mean of {} checks, {:.1} ms each)",
                c.workload, c.source, c.ops, c.repeats, c.mean_ms
            ),
        );
    }
    match b.peak_rss_bytes {
        Some(bytes) => row(
            "peak memory",
            format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0)),
            "the largest resident set this process reached (VmHWM)".into(),
        ),
        None => row(
            "peak memory",
            "unknown".into(),
            "/proc/self/status has no VmHWM on this system".into(),
        ),
    }
}
