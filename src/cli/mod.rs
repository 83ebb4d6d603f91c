//! The `faultline` command line.
//!
//! Exit codes (ARCHITECTURE.md): 0 valid, 1 invalid (an anomaly was found),
//! 2 usage or bad input, 3 unknown (a checker ran out of budget); 4 when the
//! harness itself fails (cannot write the store), 101 on a harness panic.

pub mod args;
pub mod bench;
pub mod bugs;
pub mod check;
pub mod determinism;
#[cfg(test)]
mod fake_sim_tests;
pub mod hunt;
pub mod real;
pub mod repro;
pub mod run;
pub mod shrink;
pub mod soak;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use args::{OutArgs, RunArgs};

/// Exit code for usage errors and bad input files.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the harness itself fails (not the system under test).
pub const EXIT_HARNESS: u8 = 4;

#[derive(Parser, Debug)]
#[command(
    name = "faultline",
    version,
    about = "Deterministic fault-injection testing for Raft",
    long_about = "Deterministic fault-injection testing for Raft.\n\n\
        Real Raft nodes behind a replicated key-value store run inside a \
        deterministic simulation (turmoil); a nemesis injects partitions, \
        crashes, pauses, clock skew, disk faults and membership churn; \
        clients record a Jepsen history, which is checked for \
        linearizability beside the Raft invariants, replica agreement and \
        liveness. One seed replays a whole run.",
    after_help = "Exit codes: 0 valid, 1 invalid (an anomaly was found), 2 usage or bad input, \
        3 unknown (a checker ran out of budget), 4 harness failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one seed and judge it.
    ///
    /// The seed is printed first (random if not given); the run is written
    /// to `<out>/<time>-seed-<S>/` (report.json, history.jsonl,
    /// timeline.html, trace.log) and `<out>/latest`. For an invalid run the
    /// last line printed is the command that reproduces it.
    Run(RunCommand),

    /// Run many seeds in parallel and report the failures.
    ///
    /// Seeds come from --seeds (or a random start), split by --shard across
    /// machines, and stop after --count seeds or --for a wall-clock time.
    /// Every seed's verdict goes to `seeds.jsonl`; failing seeds keep their
    /// store directory. Exits 1 if any seed was invalid.
    Soak(SoakCommand),

    /// Re-run a stored run and check that it replays identically.
    ///
    /// Takes a store directory or its report.json, re-runs its exact
    /// configuration, compares the history hash (a mismatch is a
    /// determinism bug, reported with the first differing event) and prints
    /// the verdict.
    Repro(ReproCommand),

    /// Shrink a failing run to a smaller one that fails the same way.
    ///
    /// Delta-debugs the fault schedule, then tries fewer clients, a shorter
    /// run and fewer nodes, keeping each change only if the run still fails
    /// with the same verdict. Writes the minimal capsule and prints its
    /// repro command.
    Shrink(ShrinkCommand),

    /// Re-check a stored history file (Jepsen's `analyze`).
    ///
    /// Runs the linearizability checker and the workload's checker on a
    /// history.jsonl, so a better checker can re-judge old runs. A malformed
    /// file exits 2 naming the file and line.
    Check(check::CheckCommand),

    /// Run sampled seeds twice each and compare their histories.
    ///
    /// Any difference is a determinism bug; the first differing event is
    /// reported.
    Determinism(DeterminismCommand),

    /// List the planted bugs (`--bug NAME`).
    ///
    /// Each is a small copy of a bug that shipped in a real Raft system,
    /// switched on at run time by `--bug NAME` (run, soak) and off by
    /// default. The table gives its name, the nemesis expected to expose it,
    /// what the planted code does wrong and the real bug it copies.
    Bugs(bugs::BugsCommand),

    /// Measure how fast faultline finds a planted bug.
    ///
    /// Soaks seeds with the bug switched on until a run is invalid, and
    /// reports seeds tried, simulated and wall time, which verdict caught it
    /// and the repro command. --all runs every bug in the registry and a
    /// negative control on the correct build.
    Hunt(HuntCommand),

    /// Print how fast this build is on this machine.
    ///
    /// Simulates --seeds seeds one at a time on one core and reports
    /// simulated seconds per wall second, seeds per hour per core of a
    /// soak with the same flags, the checkers' throughput on a history and
    /// the peak memory. Figures, not a test.
    Bench(bench::BenchCommand),

    /// Run one node as a real process: tokio TCP, real files, an HTTP API.
    ///
    /// The same Raft core, replica loop and KV state machine the
    /// simulation runs. Restarting with the same --data-dir recovers.
    Node(real::NodeArgs),

    /// Start a local cluster of real node processes until Ctrl-C.
    ///
    /// Nodes listen on free loopback ports; their endpoints and a curl
    /// example are printed once a leader is elected.
    Cluster(real::ClusterArgs),

    /// A Jepsen-style run against real node processes (not deterministic).
    ///
    /// Starts a local cluster, drives the workload over HTTP, kills
    /// (SIGKILL and restart), pauses (SIGSTOP / SIGCONT) and partitions
    /// (through each node's failpoint) on a seeded schedule, and judges the
    /// history with the same checkers as `run`. Writes the same store.
    RealRun(real::RealRunArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunCommand {
    /// The seed (any unsigned 64-bit integer); random if not given.
    #[arg(long, short = 's')]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

#[derive(clap::Args, Debug)]
pub struct SoakCommand {
    /// Seeds to run: `A..B` (B excluded), `A..=B`, or `A..` (until --count or --for).
    /// Without it, a random start is chosen and printed.
    #[arg(long, value_parser = |s: &str| s.parse::<crate::harness::seeds::SeedRange>())]
    pub seeds: Option<crate::harness::seeds::SeedRange>,
    /// Stop after this many seeds (of this shard).
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop starting seeds after this much wall time, e.g. `30m`.
    #[arg(long = "for", value_name = "DURATION", value_parser = args::parse_duration)]
    pub for_: Option<std::time::Duration>,
    /// Seeds run in parallel [default: the number of cores].
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Run only shard i of n (1-based) of the seeds, e.g. `3/8`.
    #[arg(long, value_parser = |s: &str| s.parse::<crate::harness::seeds::Shard>())]
    pub shard: Option<crate::harness::seeds::Shard>,
    /// Stop at the first failing seed.
    #[arg(long)]
    pub fail_fast: bool,
    /// Keep the store directory of every seed, not only failing ones.
    #[arg(long)]
    pub keep_all: bool,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

#[derive(clap::Args, Debug)]
pub struct ReproCommand {
    /// A run's store directory, or its report.json.
    pub path: PathBuf,
    #[command(flatten)]
    pub out: OutArgs,
}

#[derive(clap::Args, Debug)]
pub struct ShrinkCommand {
    /// The report.json (or store directory) of a failing run.
    pub report: PathBuf,
    /// Most simulations to run while shrinking.
    #[arg(long, default_value_t = 300)]
    pub max_runs: usize,
    #[command(flatten)]
    pub out: OutArgs,
}

#[derive(clap::Args, Debug)]
pub struct DeterminismCommand {
    /// Seeds to sample.
    #[arg(long, default_value_t = 20)]
    pub count: u64,
    /// Where sampling starts [default: random, printed].
    #[arg(long)]
    pub start: Option<u64>,
    /// Seeds run in parallel [default: the number of cores].
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(clap::Args, Debug)]
pub struct HuntCommand {
    /// The bug to hunt (`faultline bugs` lists them).
    #[arg(long, value_parser = args::parse_bug, required_unless_present = "all", conflicts_with = "all")]
    pub bug: Option<crate::bugs::Bug>,
    /// Hunt every bug in the registry, then run the negative control.
    #[arg(long)]
    pub all: bool,
    /// Fault families, as `run --nemesis` takes them [default: the bug's
    /// hunt profile from the registry].
    #[arg(long, value_parser = args::parse_nemesis)]
    pub nemesis: Option<String>,
    /// Give up after this many seeds per bug.
    #[arg(long, default_value_t = 200)]
    pub seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Seeds run in parallel [default: the number of cores].
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Workload the clients drive.
    #[arg(long, short = 'w', default_value = "register", value_parser = args::parse_workload)]
    pub workload: faultline_workloads::Workload,
    /// Simulated length of each run's fault phase [default: the bug's hunt profile].
    #[arg(long, value_parser = args::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Let each seed choose the cluster shape and fault mix (within --nemesis).
    #[arg(long)]
    pub swarm: bool,
    /// Admin requests kept in flight at once [default: the profile's].
    #[arg(long, value_name = "N")]
    pub admin_concurrency: Option<usize>,
    /// Negative control: run each distinct hunt profile on the correct
    /// build over this many seeds from --start [default with --all: the
    /// seeds each hunt tried]. Every run must be valid.
    #[arg(long, value_name = "N")]
    pub control_seeds: Option<u64>,
    #[command(flatten)]
    pub out: OutArgs,
}

/// Cores to use when --jobs is not given.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A command's failure that is not a verdict: bad input or a harness error.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub fn harness(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_HARNESS,
            message: message.into(),
        }
    }
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help / --version.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(c) => check::run(&c),
        Command::Bugs(c) => bugs::run(&c),
        Command::Node(c) => real::node(&c),
        Command::Cluster(c) => real::cluster(&c),
        Command::RealRun(c) => real::real_run(&c),
        other => match crate::harness::run::SIMULATOR {
            None => Err(Failure::harness(
                "this command needs the simulation (src/sim), which is not in this build yet",
            )),
            Some(sim) => match other {
                Command::Run(c) => run::run(&c, sim),
                Command::Soak(c) => soak::run(&c, sim),
                Command::Repro(c) => repro::run(&c, sim),
                Command::Shrink(c) => shrink::run(&c, sim),
                Command::Determinism(c) => determinism::run(&c, sim),
                Command::Hunt(c) => hunt::run(&c, sim),
                Command::Bench(c) => bench::run(&c, sim),
                Command::Check(_)
                | Command::Bugs(_)
                | Command::Node(_)
                | Command::Cluster(_)
                | Command::RealRun(_) => unreachable!("handled above"),
            },
        },
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_are_exit_2() {
        for argv in [
            vec!["faultline", "run", "--nodes", "many"],
            vec!["faultline", "run", "--nemesis", "gremlins"],
            vec!["faultline", "soak", "--shard", "9/8"],
            vec!["faultline", "soak", "--seeds", "9..1"],
            vec!["faultline", "hunt"],
            vec!["faultline", "hunt", "--bug", "nope"],
            vec!["faultline", "frobnicate"],
        ] {
            let e = Cli::try_parse_from(&argv).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{argv:?}: {e}");
        }
    }

    #[test]
    fn parses_a_soak() {
        let cli = Cli::try_parse_from([
            "faultline",
            "soak",
            "--for",
            "45m",
            "--shard",
            "3/8",
            "--swarm",
            "--nemesis",
            "all",
        ])
        .unwrap();
        let Command::Soak(s) = cli.command else {
            panic!("not a soak")
        };
        assert_eq!(s.for_, Some(std::time::Duration::from_secs(45 * 60)));
        assert_eq!(s.shard.unwrap().to_string(), "3/8");
        assert!(s.run.swarm);
        assert_eq!(s.out.out, PathBuf::from("store"));
    }
}
