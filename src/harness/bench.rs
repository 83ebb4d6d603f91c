//! `faultline bench`: how fast this build simulates, soaks and checks, and
//! how much memory it needs. These are figures for a machine, not a test:
//! nothing here passes or fails.

use std::time::{Duration, Instant};

use faultline_histories::ops::pair;
use faultline_histories::Event;
use faultline_workloads::Workload;
use serde::Serialize;

use super::judge::{judge_history, BadHistory};
use super::run::{judge, Simulate};
use super::verdict::Verdict;
use crate::sim::floor::simulate_floor;
use crate::sim::RunConfig;

/// One seed, simulated and judged once, on this thread.
#[derive(Clone, Debug, Serialize)]
pub struct SeedTiming {
    pub seed: u64,
    /// Simulated time the run covered (fault phase, heal and final reads).
    pub sim_ms: u64,
    /// Wall time of the simulation alone.
    pub simulate_ms: f64,
    /// Wall time of every verdict on it.
    pub judge_ms: f64,
    pub verdict: Verdict,
    pub events: usize,
}

/// The checkers on one history, repeated until the timing is stable.
#[derive(Clone, Debug, Serialize)]
pub struct CheckerTiming {
    /// Where the history came from.
    pub source: String,
    pub workload: String,
    pub events: usize,
    pub ops: usize,
    pub repeats: usize,
    /// Mean wall time of one check (linearizability and workload checker).
    pub mean_ms: f64,
    /// Client operations checked per second.
    pub ops_per_sec: f64,
}

/// Everything `faultline bench` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Bench {
    /// The run command the seeds were configured by (without `--seed`).
    pub profile: String,
    pub seeds: Vec<SeedTiming>,
    pub sim_seconds_per_wall_second: f64,
    pub seeds_per_hour_per_core: f64,
    pub checker: Option<CheckerTiming>,
    /// The bare turmoil simulation of the same traffic (see `sim::floor`).
    pub floor: Option<FloorTiming>,
    /// VmHWM: the largest resident set of this process, where the OS says.
    pub peak_rss_bytes: Option<u64>,
}

/// The substrate's floor beside the runs: turmoil alone, same hosts,
/// tick, latencies and simulated time, one message per heartbeat and op.
#[derive(Clone, Debug, Serialize)]
pub struct FloorTiming {
    pub sim_ms: u64,
    pub wall_ms: f64,
    pub round_trips: u64,
    pub sim_seconds_per_wall_second: f64,
    /// Wall time of a faultline run over the floor's, per simulated second.
    pub faultline_over_floor: f64,
}

/// Time the floor of `config` over the mean simulated time of `seeds`,
/// and compare the seeds' simulation speed with it.
pub fn time_floor(config: &RunConfig, seeds: &[SeedTiming]) -> Result<FloorTiming, String> {
    let sim_ms = seeds.iter().map(|s| s.sim_ms).sum::<u64>() / seeds.len().max(1) as u64;
    let start = Instant::now();
    let floor = simulate_floor(config, sim_ms)?;
    let wall_ms = ms(start.elapsed());
    let speed = floor.sim_ms as f64 / wall_ms.max(1e-9);
    Ok(FloorTiming {
        sim_ms: floor.sim_ms,
        wall_ms,
        round_trips: floor.round_trips,
        sim_seconds_per_wall_second: speed,
        faultline_over_floor: speed / sim_speed(seeds).max(1e-9),
    })
}

/// Simulate and judge each configuration in turn on this thread. Returns
/// the timings and the first run's history (for the checker figure).
pub fn time_seeds(simulate: Simulate, configs: &[RunConfig]) -> (Vec<SeedTiming>, Vec<Event>) {
    let mut first = None;
    let mut out = Vec::new();
    for config in configs {
        let start = Instant::now();
        let facts = simulate(config, None);
        let simulated = start.elapsed();
        let start = Instant::now();
        let verdicts = judge(config, &facts);
        let judged = start.elapsed();
        out.push(SeedTiming {
            seed: config.seed,
            sim_ms: facts.sim_time_ms,
            simulate_ms: ms(simulated),
            judge_ms: ms(judged),
            verdict: verdicts.overall,
            events: facts.history.len(),
        });
        first.get_or_insert(facts.history);
    }
    (out, first.unwrap_or_default())
}

/// Simulated seconds per wall second of simulation, over all seeds.
pub fn sim_speed(seeds: &[SeedTiming]) -> f64 {
    let sim: u64 = seeds.iter().map(|s| s.sim_ms).sum();
    let wall: f64 = seeds.iter().map(|s| s.simulate_ms).sum();
    sim as f64 / wall.max(1e-9)
}

/// Seeds one core gets through in an hour, simulating and judging each
/// as `faultline soak` does (valid seeds write nothing to disk).
pub fn seeds_per_hour(seeds: &[SeedTiming]) -> f64 {
    let wall_ms: f64 = seeds.iter().map(|s| s.simulate_ms + s.judge_ms).sum();
    seeds.len() as f64 * 3_600_000.0 / wall_ms.max(1e-9)
}

/// Check `history` repeatedly for at least `min_time` (and at least once,
/// at most `max_repeats` times).
pub fn time_checker(
    source: &str,
    workload: Workload,
    history: &[Event],
    budget: Duration,
    min_time: Duration,
    max_repeats: usize,
) -> Result<CheckerTiming, BadHistory> {
    let ops = pair(history)?.len();
    let start = Instant::now();
    let mut repeats = 0;
    while repeats == 0 || (start.elapsed() < min_time && repeats < max_repeats) {
        judge_history(workload, history, None, budget)?;
        repeats += 1;
    }
    let mean_ms = ms(start.elapsed()) / repeats as f64;
    Ok(CheckerTiming {
        source: source.into(),
        workload: workload.name().into(),
        events: history.len(),
        ops,
        repeats,
        mean_ms,
        ops_per_sec: ops as f64 / (mean_ms / 1e3).max(1e-9),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// This process's peak resident set (VmHWM), on Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// A `VmHWM:` line (a tab, then `12345 kB`) in bytes.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(n * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sim_ms: u64, simulate_ms: f64, judge_ms: f64) -> SeedTiming {
        SeedTiming {
            seed: 0,
            sim_ms,
            simulate_ms,
            judge_ms,
            verdict: Verdict::Valid,
            events: 0,
        }
    }

    #[test]
    fn rates_come_from_the_summed_times() {
        let seeds = [t(60_000, 1_000.0, 500.0), t(30_000, 2_000.0, 500.0)];
        assert!((sim_speed(&seeds) - 30.0).abs() < 1e-9);
        // Two seeds in 4 s of wall time: 1800 an hour.
        assert!((seeds_per_hour(&seeds) - 1_800.0).abs() < 1e-9);
        assert_eq!(seeds_per_hour(&[]), 0.0);
    }

    #[test]
    fn reads_vm_hwm_in_kilobytes() {
        let status = "Name:\tfaultline\nVmPeak:\t  900 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(2048 * 1024));
        assert_eq!(parse_vm_hwm("VmHWM: lots"), None);
        assert_eq!(parse_vm_hwm("Name: x"), None);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().unwrap() > 1024 * 1024);
        }
    }

    #[test]
    fn checker_timing_repeats_within_limits() {
        let history = crate::harness::run::tests::register_history();
        let c = time_checker(
            "test",
            Workload::Register,
            &history,
            Duration::from_secs(5),
            Duration::from_secs(10),
            3,
        )
        .unwrap();
        assert_eq!((c.repeats, c.ops, c.events), (3, 2, 4));
        assert!(c.ops_per_sec > 0.0 && c.mean_ms > 0.0);
    }
}
