//! `faultline repro`: replay a stored run and check that it replays exactly.

use std::process::ExitCode;

use super::{args::shell_quote, Failure, ReproCommand, EXIT_HARNESS};
use crate::harness::history_file;
use crate::harness::report::Capsule;
use crate::harness::run::{
    describe_event, first_difference, run as simulate_and_judge, write_outputs, Simulate,
};
use crate::harness::store::{self, Store};
use crate::harness::verdict::Verdict;
use crate::sim::RunConfig;

/// The configuration a capsule describes, validated.
pub fn capsule_config(capsule: &Capsule, path: &std::path::Path) -> Result<RunConfig, Failure> {
    let config: RunConfig = serde_json::from_value(capsule.config.clone()).map_err(|e| {
        Failure::usage(format!(
            "{}: the report's config does not fit this faultline ({}; the report was written by faultline {} at commit {}): {e}",
            path.display(),
            crate::harness::report::faultline_version(),
            capsule.faultline_version,
            capsule.git_commit
        ))
    })?;
    config
        .validate()
        .map_err(|e| Failure::usage(format!("{}: config: {e}", path.display())))?;
    Ok(config)
}

pub fn run(cmd: &ReproCommand, simulate: Simulate) -> Result<ExitCode, Failure> {
    let report = store::resolve_report(&cmd.path);
    let capsule = Capsule::read(&report).map_err(|e| Failure::usage(e.to_string()))?;
    println!("seed: {}", capsule.seed);
    let config = capsule_config(&capsule, &report)?;
    let out = Store::new(&cmd.out.out);
    let dir = out
        .create_run(&format!("repro-seed-{}", capsule.seed))
        .map_err(|e| Failure::harness(format!("cannot create a run directory: {e}")))?;
    let _ = out.point_latest(&dir);
    let judged = simulate_and_judge(simulate, &config, Some(&dir));
    let repro = format!(
        "faultline repro {}",
        shell_quote(&report.display().to_string())
    );
    write_outputs(&dir, &judged, &repro).map_err(|e| {
        Failure::harness(format!("cannot write the report in {}: {e}", dir.display()))
    })?;
    super::run::print_judged(&judged, &dir);
    if !capsule.history_hash.is_empty() && capsule.history_hash != judged.facts.history_hash {
        println!(
            "DETERMINISM BUG: the replay's history hash {} differs from the report's {}",
            judged.facts.history_hash, capsule.history_hash
        );
        let original = report.with_file_name(store::HISTORY);
        match history_file::load(&original) {
            Ok(h) => match first_difference(&h.events, &judged.facts.history) {
                Some((i, a, b)) => {
                    println!("first difference at event {i}:");
                    println!("  original: {}", describe_event(a));
                    println!("  replay:   {}", describe_event(b));
                }
                None => println!("the events are equal; the hash differs in how they are written"),
            },
            Err(e) => println!("cannot compare events: {e}"),
        }
        println!("replay stored in {}", dir.display());
        return Ok(ExitCode::from(EXIT_HARNESS));
    }
    println!("history hash matches the report: the run replayed exactly");
    if capsule.verdicts.overall != judged.verdict() {
        println!(
            "note: the report's verdict was {}, this faultline says {}",
            capsule.verdicts.headline(),
            judged.verdicts.headline()
        );
    }
    if judged.verdict() != Verdict::Valid {
        println!("{repro}");
    }
    Ok(super::run::exit_code(&judged))
}
