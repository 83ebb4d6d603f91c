//! `faultline shrink`: a smaller run that fails the same way.

use std::process::ExitCode;

use super::{args::shell_quote, Failure, ShrinkCommand};
use crate::harness::report::{Capsule, Shrunk as ShrunkInfo};
use crate::harness::run::{run as simulate_and_judge, write_outputs, Judged, Simulate};
use crate::harness::shrink::{shrink, Size};
use crate::harness::store::{self, Store};
use crate::harness::verdict::{Checker, Verdict};

/// "The same way": invalid, and caught by the checker that caught the original.
pub fn same_failure(judged: &Judged, caught_by: Checker) -> bool {
    judged.verdict() == Verdict::Invalid && judged.verdicts.caught_by.contains(&caught_by)
}

pub fn run(cmd: &ShrinkCommand, simulate: Simulate) -> Result<ExitCode, Failure> {
    let report = store::resolve_report(&cmd.report);
    let capsule = Capsule::read(&report).map_err(|e| Failure::usage(e.to_string()))?;
    println!("seed: {}", capsule.seed);
    let config = super::repro::capsule_config(&capsule, &report)?;
    if capsule.verdicts.overall != Verdict::Invalid {
        return Err(Failure::usage(format!(
            "{}: the run was {}; only invalid runs can be shrunk",
            report.display(),
            capsule.verdicts.overall
        )));
    }
    let target = *capsule.verdicts.caught_by.first().ok_or_else(|| {
        Failure::usage(format!(
            "{}: an invalid report that names no checker",
            report.display()
        ))
    })?;
    // Replays are deterministic, but make sure this build still fails the
    // same way before spending runs on it.
    let first = simulate_and_judge(simulate, &config, None);
    if !same_failure(&first, target) {
        return Err(Failure::usage(format!(
            "{}: this build does not reproduce the failure (now {}); nothing to shrink",
            report.display(),
            first.verdicts.headline()
        )));
    }
    let before = Size::of(&config);
    println!(
        "shrinking a {target} failure: {} faults, {} clients, {} nodes, {} ms; up to {} runs",
        before.faults, before.clients, before.nodes, before.duration_ms, cmd.max_runs
    );
    let shrunk = shrink(&config, cmd.max_runs, |c| {
        same_failure(&simulate_and_judge(simulate, c, None), target)
    });
    for step in &shrunk.steps {
        println!("  {step}");
    }
    let out = Store::new(&cmd.out.out);
    let dir = out
        .create_run(&format!("shrunk-seed-{}", capsule.seed))
        .map_err(|e| Failure::harness(format!("cannot create a run directory: {e}")))?;
    let _ = out.point_latest(&dir);
    let judged = simulate_and_judge(simulate, &shrunk.config, Some(&dir));
    let new_report = dir.join(store::REPORT);
    let repro = format!(
        "faultline repro {}",
        shell_quote(&new_report.display().to_string())
    );
    let mut minimal = write_outputs(&dir, &judged, &repro).map_err(|e| {
        Failure::harness(format!("cannot write the report in {}: {e}", dir.display()))
    })?;
    let after = Size::of(&shrunk.config);
    minimal.shrunk = Some(ShrunkInfo {
        from: report.clone(),
        faults: (before.faults, after.faults),
        clients: (before.clients, after.clients),
        nodes: (before.nodes, after.nodes),
        duration_ms: (before.duration_ms, after.duration_ms),
        events: (capsule.events, judged.facts.history.len()),
        runs: shrunk.runs + 2,
    });
    minimal.write(&dir).map_err(|e| {
        Failure::harness(format!("cannot write the report in {}: {e}", dir.display()))
    })?;
    println!(
        "shrunk in {} runs{}: faults {} -> {}, clients {} -> {}, nodes {} -> {}, duration {} -> {} ms, events {} -> {}",
        shrunk.runs + 2,
        if shrunk.exhausted { " (budget exhausted)" } else { "" },
        before.faults,
        after.faults,
        before.clients,
        after.clients,
        before.nodes,
        after.nodes,
        before.duration_ms,
        after.duration_ms,
        capsule.events,
        judged.facts.history.len()
    );
    super::run::print_judged(&judged, &dir);
    if !same_failure(&judged, target) {
        // Cannot happen with a deterministic simulation; say so if it does.
        return Err(Failure::harness(format!(
            "the minimal run no longer fails the same way ({}); this is a determinism bug",
            judged.verdicts.headline()
        )));
    }
    println!("{repro}");
    Ok(super::run::exit_code(&judged))
}
