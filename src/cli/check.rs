//! `faultline check FILE`: re-judge a stored history.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use faultline_workloads::Workload;

use super::{args, Failure};
use crate::harness::history_file;
use crate::harness::judge::judge_history;
use crate::harness::verdict::Verdicts;

#[derive(clap::Args, Debug)]
pub struct CheckCommand {
    /// A history file (history.jsonl, as written by `faultline run`).
    pub history: PathBuf,
    /// The workload's model [default: the workload named in the file's header].
    #[arg(long, value_parser = args::parse_workload)]
    pub model: Option<Workload>,
    /// Wall-clock budget of the linearizability search; past it the answer is unknown (exit 3).
    #[arg(long, default_value = "30s", value_parser = args::parse_duration)]
    pub budget: Duration,
    /// Print the verdicts as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: &CheckCommand) -> Result<ExitCode, Failure> {
    let loaded = history_file::load(&cmd.history).map_err(|e| Failure::usage(e.to_string()))?;
    let workload = match cmd.model {
        Some(w) => w,
        None => header_workload(&loaded).ok_or_else(|| {
            Failure::usage(format!(
                "{}: the file does not say which workload it records; pass --model",
                cmd.history.display()
            ))
        })??,
    };
    let checks = judge_history(workload, &loaded.events, None, cmd.budget).map_err(|e| {
        let at = e
            .index
            .and_then(|i| loaded.line_of_index(i))
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        Failure::usage(format!("{}{at}: {e}", cmd.history.display()))
    })?;
    let verdicts = Verdicts::combine(checks);
    if cmd.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&verdicts).map_err(|e| Failure::harness(e.to_string()))?
        );
    } else {
        println!(
            "{}: {} events, workload {workload}",
            cmd.history.display(),
            loaded.events.len()
        );
        for c in &verdicts.checks {
            println!("[{} {}] {}", c.checker, c.verdict, c.explanation);
        }
        println!("verdict: {}", verdicts.headline());
    }
    Ok(verdicts.overall.exit())
}

/// The workload named by the header's run configuration, if any.
fn header_workload(loaded: &history_file::LoadedHistory) -> Option<Result<Workload, Failure>> {
    let name = loaded.header.as_ref()?.config.get("workload")?.as_str()?;
    Some(args::parse_workload(name).map_err(|e| Failure::usage(format!("header: {e}"))))
}
