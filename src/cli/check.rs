//! `faultline check FILE`: re-judge a stored history.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use faultline_histories::import::Format;
use faultline_histories::{check_command_with, CheckOptions, CommandOptions};
use faultline_workloads::Workload;

use super::{args, Failure};
use crate::harness::history_file;
use crate::harness::judge::judge_history;
use crate::harness::verdict::Verdicts;

#[derive(clap::Args, Debug)]
pub struct CheckCommand {
    /// A history file (history.jsonl, as written by `faultline run`).
    pub history: PathBuf,
    /// The model: for faultline histories a workload (register, kv, list-append, ...) [default: the
    /// workload named in the file's header]; for other formats a checker model (register[:INIT],
    /// cas-register[:INIT], kv, kv-map, list-append, set) [default: the format's usual model].
    #[arg(long)]
    pub model: Option<String>,
    /// The file's format: native, jepsen-etcd-log, kv-edn-lines or knossos-edn [default: detected].
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Also write a timeline.html of a foreign history here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Wall-clock budget of the linearizability search; past it the answer is unknown (exit 3).
    #[arg(long, default_value = "30s", value_parser = args::parse_duration)]
    pub budget: Duration,
    /// Print the verdicts as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

pub fn run(cmd: &CheckCommand) -> Result<ExitCode, Failure> {
    if is_foreign(cmd)? {
        return Ok(check_foreign(cmd));
    }
    let loaded = history_file::load(&cmd.history).map_err(|e| Failure::usage(e.to_string()))?;
    let workload = match &cmd.model {
        Some(w) => args::parse_workload(w).map_err(Failure::usage)?,
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

/// Is this a history from another tool (porcupine, Jepsen, Knossos)? Those
/// carry no run configuration, so only the linearizability checker judges them.
fn is_foreign(cmd: &CheckCommand) -> Result<bool, Failure> {
    if let Some(format) = cmd.format {
        return Ok(format != Format::Native);
    }
    let text = std::fs::read_to_string(&cmd.history)
        .map_err(|e| Failure::usage(format!("{}: {e}", cmd.history.display())))?;
    Ok(matches!(Format::detect(&text), Some(f) if f != Format::Native))
}

fn check_foreign(cmd: &CheckCommand) -> ExitCode {
    let opts = CommandOptions {
        format: cmd.format,
        model: cmd.model.clone(),
        check: CheckOptions {
            budget: Some(cmd.budget),
            ..CheckOptions::default()
        },
        html: cmd.html.clone(),
    };
    let (code, text) = check_command_with(&cmd.history, &opts);
    if code == 2 {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
    ExitCode::from(code as u8)
}

/// The workload named by the header's run configuration, if any.
pub(super) fn header_workload(
    loaded: &history_file::LoadedHistory,
) -> Option<Result<Workload, Failure>> {
    let name = loaded.header.as_ref()?.config.get("workload")?.as_str()?;
    Some(args::parse_workload(name).map_err(|e| Failure::usage(format!("header: {e}"))))
}
