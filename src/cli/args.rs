//! Flags shared by the commands that run simulations, and their rendering
//! back into the command line that reproduces a run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use faultline_nemesis::Profile;
use faultline_workloads::Workload;

use crate::bugs::{Bug, Bugs};
use crate::harness::store::DEFAULT_ROOT;
use crate::sim::{RunConfig, RunOptions};

/// What a run does. Flags left out are derived: from the seed under
/// `--swarm`, from the defaults otherwise.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct RunArgs {
    /// Workload the clients drive: register, kv, list-append, set, bank, counter.
    #[arg(long, short = 'w', default_value = "register", value_parser = parse_workload)]
    pub workload: Workload,

    /// Fault families, comma-separated: partition, clog, network, crash,
    /// pause, clock, disk, membership; or `all` (every one of those), or
    /// `none`. Opt-in, not in `all`: failpoint (crash a node at a named
    /// point of its loop), e.g. `all,failpoint`; `failpoint:a+b` draws
    /// only points a and b (before-save, after-save, before-leader-send,
    /// after-leader-send, before-apply, before-apply-snapshot).
    #[arg(long, default_value = "all", value_parser = parse_nemesis)]
    pub nemesis: String,

    /// Raft nodes in the initial cluster [default: 5; swarm: 3, 5 or 7].
    #[arg(long)]
    pub nodes: Option<usize>,

    /// Client processes running at once [default: 10].
    #[arg(long)]
    pub clients: Option<usize>,

    /// Simulated length of the fault phase, e.g. `20s`, `2m` [default: 60s].
    /// The heal phase and final reads follow it.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Simulated time between fault attempts [default: 3s; swarm: chosen by the seed].
    #[arg(long, value_parser = parse_duration)]
    pub nemesis_interval: Option<Duration>,

    /// Let the seed choose the cluster size, Raft timings, pre-vote,
    /// snapshot threshold and the fault mix (within --nemesis).
    #[arg(long)]
    pub swarm: bool,

    /// Log entries between snapshots [default: 1024; swarm: chosen by the
    /// seed]. Low values make compaction and InstallSnapshot catch-up common.
    #[arg(long, value_name = "ENTRIES")]
    pub snapshot_threshold: Option<u64>,

    /// Admin requests (membership changes, leadership transfers) kept in
    /// flight at once, as several operators acting together [default: 1].
    #[arg(long, value_name = "N")]
    pub admin_concurrency: Option<usize>,

    /// Raft's pre-vote round before an election, `on` or `off` [default:
    /// on; swarm: chosen by the seed]. Without it a restarted or
    /// partitioned node raises the term, and split votes are more likely.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub pre_vote: Option<bool>,

    /// Most log entries in one AppendEntries [default: 64]. Small batches
    /// make a lagging follower catch up over many round trips.
    #[arg(long, value_name = "N")]
    pub max_append_entries: Option<usize>,

    /// Most AppendEntries in flight to one follower while pipelining
    /// [default: 8] (etcd's MaxInflightMsgs). At 1, with
    /// `--max-append-entries 1`, a lagging follower catches up one entry
    /// per round trip.
    #[arg(long, value_name = "N")]
    pub max_inflight: Option<usize>,

    /// Log entries kept behind each snapshot for followers just behind
    /// [default: 256]. Fewer (hashicorp/raft's TrailingLogs, etcd's
    /// SnapshotCatchUpEntries) sends a lagging follower a snapshot sooner.
    #[arg(long, value_name = "ENTRIES")]
    pub trailing_logs: Option<u64>,

    /// Switch on a planted bug (repeatable); `faultline bugs` lists them.
    #[arg(long = "bug", value_name = "NAME", value_parser = parse_bug)]
    pub bugs: Vec<Bug>,
}

impl Default for RunArgs {
    fn default() -> RunArgs {
        RunArgs {
            workload: Workload::Register,
            nemesis: "all".into(),
            nodes: None,
            clients: None,
            duration: None,
            nemesis_interval: None,
            swarm: false,
            snapshot_threshold: None,
            admin_concurrency: None,
            pre_vote: None,
            max_append_entries: None,
            max_inflight: None,
            trailing_logs: None,
            bugs: Vec::new(),
        }
    }
}

impl RunArgs {
    pub fn bug_set(&self) -> Bugs {
        self.bugs.iter().fold(Bugs::NONE, |b, &bug| b.with(bug))
    }

    /// The flags that differ from the defaults, in a fixed order, so that
    /// `faultline run --seed S <flags>` rebuilds the same configuration.
    pub fn to_flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.workload != Workload::Register {
            f.extend(["--workload".into(), self.workload.name().into()]);
        }
        if self.nemesis != "all" {
            f.extend(["--nemesis".into(), self.nemesis.clone()]);
        }
        if let Some(n) = self.nodes {
            f.extend(["--nodes".into(), n.to_string()]);
        }
        if let Some(c) = self.clients {
            f.extend(["--clients".into(), c.to_string()]);
        }
        if let Some(d) = self.duration {
            f.extend(["--duration".into(), format_duration(d)]);
        }
        if let Some(d) = self.nemesis_interval {
            f.extend(["--nemesis-interval".into(), format_duration(d)]);
        }
        if self.swarm {
            f.push("--swarm".into());
        }
        if let Some(t) = self.snapshot_threshold {
            f.extend(["--snapshot-threshold".into(), t.to_string()]);
        }
        if let Some(n) = self.admin_concurrency {
            f.extend(["--admin-concurrency".into(), n.to_string()]);
        }
        if let Some(p) = self.pre_vote {
            f.extend(["--pre-vote".into(), if p { "on" } else { "off" }.into()]);
        }
        if let Some(n) = self.max_append_entries {
            f.extend(["--max-append-entries".into(), n.to_string()]);
        }
        if let Some(n) = self.max_inflight {
            f.extend(["--max-inflight".into(), n.to_string()]);
        }
        if let Some(n) = self.trailing_logs {
            f.extend(["--trailing-logs".into(), n.to_string()]);
        }
        for bug in self.bug_set().iter() {
            f.extend(["--bug".into(), bug.name().into()]);
        }
        f
    }

    /// The simulation's options for `seed`.
    pub fn to_options(&self, seed: u64) -> RunOptions {
        RunOptions {
            seed,
            nodes: self.nodes,
            clients: self.clients,
            duration_ms: self.duration.map(|d| d.as_millis() as u64),
            workload: self.workload,
            nemesis: self.nemesis.clone(),
            nemesis_interval_ms: self.nemesis_interval.map(|d| d.as_millis() as u64),
            swarm: self.swarm,
            bugs: self.bug_set(),
            snapshot_threshold: self.snapshot_threshold,
            admin_concurrency: self.admin_concurrency,
            pre_vote: self.pre_vote,
            max_append_entries: self.max_append_entries,
            max_inflight: self.max_inflight,
            trailing_logs: self.trailing_logs,
        }
    }

    /// The configuration for `seed`; an error is a usage error.
    pub fn config(&self, seed: u64) -> Result<RunConfig, String> {
        RunConfig::from_seed(seed, &self.to_options(seed))
    }

    /// `faultline run --seed S ...`: the command that reproduces seed S.
    pub fn repro_command(&self, seed: u64) -> String {
        let mut words = vec![
            "faultline".to_string(),
            "run".into(),
            "--seed".into(),
            seed.to_string(),
        ];
        words.extend(self.to_flags());
        join_command(&words)
    }
}

/// Where runs are written.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct OutArgs {
    /// Store root: each run gets `<DIR>/<time>-<name>/`, and `<DIR>/latest` points at the newest.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_ROOT)]
    pub out: PathBuf,
}

pub fn parse_workload(s: &str) -> Result<Workload, String> {
    s.parse()
        .map_err(|e: faultline_workloads::UnknownWorkload| e.to_string())
}

/// Checked here so a typo is a usage error (exit 2) before anything runs;
/// kept as written so the repro command echoes the user's words.
pub fn parse_nemesis(s: &str) -> Result<String, String> {
    s.parse::<Profile>()
        .map(|_| s.trim().to_string())
        .map_err(|e| e.to_string())
}

/// `on` / `off` (also `true` / `false`), for switches that default on.
pub fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim() {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("{s:?} is neither `on` nor `off`")),
    }
}

pub fn parse_bug(s: &str) -> Result<Bug, String> {
    s.parse()
}

/// `500ms`, `20s`, `30m`, `1h 30m`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{s:?} is not a duration like 500ms, 20s, 30m: {e}"))
}

/// Durations in the largest unit that keeps them exact (`20s`, `1500ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Quote a word for a POSIX shell if it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=@+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub fn join_command(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_render_exactly() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        for s in ["20s", "30m", "1500ms", "2h", "0s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn repro_command_lists_only_what_differs_from_defaults() {
        assert_eq!(
            RunArgs::default().repro_command(9),
            "faultline run --seed 9"
        );
        let a = RunArgs {
            workload: Workload::ListAppend,
            nemesis: "partition,crash".into(),
            nodes: Some(3),
            duration: Some(Duration::from_secs(20)),
            swarm: true,
            pre_vote: Some(false),
            max_append_entries: Some(2),
            max_inflight: Some(1),
            trailing_logs: Some(0),
            bugs: vec![Bug::NeverFsync, Bug::MinorityQuorum],
            ..RunArgs::default()
        };
        assert_eq!(
            a.repro_command(1),
            "faultline run --seed 1 --workload list-append --nemesis partition,crash --nodes 3 \
             --duration 20s --swarm --pre-vote off --max-append-entries 2 \
             --max-inflight 1 --trailing-logs 0 --bug minority-quorum --bug never-fsync"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("store/x/report.json"), "store/x/report.json");
        assert_eq!(shell_quote("my dir"), "'my dir'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse_nemesis("partition,gremlins")
            .unwrap_err()
            .contains("gremlins"));
        assert!(parse_workload("queue").is_err());
        assert!(parse_bug("no-such").unwrap_err().contains("known bugs"));
        assert!(parse_on_off("maybe").unwrap_err().contains("on"));
        assert_eq!(parse_on_off("off"), Ok(false));
    }
}
