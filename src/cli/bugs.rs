//! `faultline bugs`: the planted-bug registry as a table (or JSON).

use std::process::ExitCode;

use super::Failure;
use crate::bugs::Bug;

#[derive(clap::Args, Debug)]
pub struct BugsCommand {
    /// Print JSON (one object per bug) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: &BugsCommand) -> Result<ExitCode, Failure> {
    if cmd.json {
        let list: Vec<serde_json::Value> = Bug::ALL
            .iter()
            .map(|b| {
                let i = b.info();
                serde_json::json!({
                    "name": i.name,
                    "description": i.description,
                    "origin": i.origin,
                    "nemesis": i.nemesis,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).map_err(|e| Failure::harness(e.to_string()))?
        );
    } else {
        print!("{}", table());
    }
    Ok(ExitCode::SUCCESS)
}

/// Name, exposing nemesis and description on one line; origin beneath.
pub fn table() -> String {
    let width = Bug::ALL.iter().map(|b| b.name().len()).max().unwrap_or(0);
    let nem = Bug::ALL
        .iter()
        .map(|b| b.info().nemesis.len())
        .max()
        .unwrap_or(0)
        .max("NEMESIS".len());
    let mut s = format!("{:width$}  {:nem$}  DESCRIPTION\n", "BUG", "NEMESIS");
    for b in Bug::ALL {
        let i = b.info();
        s.push_str(&format!(
            "{:width$}  {:nem$}  {}\n{:width$}  {:nem$}  copies: {}\n",
            i.name, i.nemesis, i.description, "", "", i.origin
        ));
    }
    s.push_str(&format!(
        "\n{} bugs. Switch one on with `--bug NAME` (run, soak, hunt); all are off by default.\n",
        Bug::ALL.len()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_bug_with_its_nemesis() {
        let t = table();
        for b in Bug::ALL {
            let line = t.lines().find(|l| l.starts_with(b.name())).unwrap();
            assert!(line.contains(b.info().nemesis), "{line}");
        }
    }
}
