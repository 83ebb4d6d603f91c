//! `faultline run`: one seed, judged, stored.

use std::path::Path;
use std::process::ExitCode;

use super::{Failure, RunCommand};
use crate::harness::ledger::Status;
use crate::harness::run::{
    provisional_capsule, run as simulate_and_judge, write_outputs, Judged, Simulate,
};
use crate::harness::store::Store;
use crate::harness::verdict::Verdict;

/// A seed for when the user gives none. Outside any simulation, so the
/// process's entropy is fine here; the seed is printed before anything runs.
pub fn random_seed() -> u64 {
    rand::random::<u64>() >> 1
}

pub fn run(cmd: &RunCommand, simulate: Simulate) -> Result<ExitCode, Failure> {
    let seed = cmd.seed.unwrap_or_else(random_seed);
    println!("seed: {seed}");
    let config = cmd.run.config(seed).map_err(Failure::usage)?;
    let repro = cmd.run.repro_command(seed);
    let store = Store::new(&cmd.out.out);
    let dir = store.create_run(&format!("seed-{seed}")).map_err(|e| {
        Failure::harness(format!(
            "cannot create a run directory in {}: {e}",
            store.root().display()
        ))
    })?;
    // If the process dies inside the simulation, the seed, the config and
    // the history written so far are already on disk.
    provisional_capsule(&config, &repro)
        .write(&dir)
        .map_err(|e| Failure::harness(format!("cannot write {}: {e}", dir.display())))?;
    let _ = store.point_latest(&dir);
    let judged = simulate_and_judge(simulate, &config, Some(&dir));
    write_outputs(&dir, &judged, &repro).map_err(|e| {
        Failure::harness(format!("cannot write the report in {}: {e}", dir.display()))
    })?;
    print_judged(&judged, &dir);
    if judged.verdict() != Verdict::Valid {
        println!("{repro}");
    }
    Ok(exit_code(&judged))
}

/// The verdict's exit code, or 4 when the simulation could not finish
/// (and had shown no anomaly before).
pub fn exit_code(judged: &Judged) -> ExitCode {
    match judged.status() {
        Status::HarnessCrash => ExitCode::from(super::EXIT_HARNESS),
        _ => judged.verdict().exit(),
    }
}

/// The verdict, its explanations, fault effectiveness, where it is stored.
pub fn print_judged(judged: &Judged, dir: &Path) {
    let c = &judged.config;
    println!(
        "{} nodes, {} clients, {} workload, {} faults, {:.1} s simulated in {:.1} s",
        c.nodes.len(),
        c.clients,
        c.workload,
        crate::harness::shrink::fault_ids(&c.schedule).len(),
        judged.facts.sim_time_ms as f64 / 1000.0,
        judged.wall.as_secs_f64()
    );
    println!("faults: {}", judged.effectiveness.summary());
    for check in &judged.verdicts.checks {
        let first = check.summary();
        println!(
            "  {:<16} {:<8} {first}",
            check.checker.name(),
            check.verdict.to_string()
        );
    }
    let detail = judged.verdicts.explain();
    if !detail.is_empty() {
        println!("{detail}");
    }
    println!("stored in {}", dir.display());
    println!("verdict: {}", judged.verdicts.headline());
}
