//! The entry points the CLI and the harness use: pick a model by name,
//! check a file or a list of events, and turn the verdict into an exit
//! code and a report.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::check::{check, replay, CheckOptions, CheckReport, DecodeError, Verdict};
use crate::event::Event;
use crate::import::{self, Format, Loaded};
use crate::model::{CasRegister, KvKey, KvMap, ListAppend, Model, Register, SetModel};
use crate::ops::{pair, Operation};
use crate::timeline::{self, TimelineOptions};

/// Exit code for usage errors and bad input.
pub const EXIT_BAD_INPUT: i32 = 2;

/// A model chosen by name: `register[:INIT]`, `cas-register[:INIT]`
/// (`INIT` an integer; absent by default), `kv` (per key), `kv-map` (the
/// whole map as one object), `list-append`, `set`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    Register { initial: Option<i64> },
    CasRegister { initial: Option<i64> },
    Kv,
    KvMap,
    ListAppend,
    Set,
}

impl ModelSpec {
    pub const NAMES: &'static str =
        "register[:INIT], cas-register[:INIT], multi-register, kv, kv-map, list-append, set";

    /// The model a format's histories are checked with unless told.
    pub fn default_for(loaded: &Loaded) -> ModelSpec {
        match loaded.format {
            Format::JepsenEtcdLog => ModelSpec::CasRegister { initial: None },
            Format::KvEdnLines => ModelSpec::Kv,
            Format::KnossosEdn => ModelSpec::CasRegister { initial: Some(0) },
            Format::Native => {
                let workload = loaded
                    .header
                    .as_ref()
                    .and_then(|h| h.config.get("workload"))
                    .and_then(|w| w.as_str());
                match workload {
                    Some("kv") => ModelSpec::Kv,
                    Some("list-append") => ModelSpec::ListAppend,
                    Some("set") => ModelSpec::Set,
                    Some("register") => ModelSpec::CasRegister { initial: None },
                    _ => Self::guess(&loaded.events),
                }
            }
        }
    }

    /// Picks a model from the functions a history uses.
    fn guess(events: &[Event]) -> ModelSpec {
        let has = |f: &str| events.iter().any(|e| !e.process.is_nemesis() && e.f == f);
        if has("append") && events.iter().any(|e| e.f == "read" && e.value.is_array()) {
            ModelSpec::ListAppend
        } else if has("add") {
            ModelSpec::Set
        } else if has("append") || has("get") || has("put") {
            ModelSpec::Kv
        } else {
            ModelSpec::CasRegister { initial: None }
        }
    }
}

impl FromStr for ModelSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<ModelSpec, String> {
        let (name, init) = match s.split_once(':') {
            Some((n, i)) => (n, Some(i)),
            None => (s, None),
        };
        let initial = match init {
            None | Some("absent") | Some("nil") => None,
            Some(i) => Some(
                i.parse::<i64>()
                    .map_err(|_| format!("model {s:?}: initial value {i:?} is not an integer"))?,
            ),
        };
        let plain = |m: ModelSpec| {
            if init.is_some() {
                Err(format!("model {name:?} takes no initial value"))
            } else {
                Ok(m)
            }
        };
        match name {
            "register" | "multi-register" => Ok(ModelSpec::Register { initial }),
            "cas-register" => Ok(ModelSpec::CasRegister { initial }),
            "kv" => plain(ModelSpec::Kv),
            "kv-map" => plain(ModelSpec::KvMap),
            "list-append" => plain(ModelSpec::ListAppend),
            "set" => plain(ModelSpec::Set),
            _ => Err(format!(
                "unknown model {s:?}; expected one of {}",
                Self::NAMES
            )),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let init = |i: &Option<i64>| i.map_or(String::new(), |i| format!(":{i}"));
        match self {
            ModelSpec::Register { initial } => write!(f, "register{}", init(initial)),
            ModelSpec::CasRegister { initial } => write!(f, "cas-register{}", init(initial)),
            ModelSpec::Kv => f.write_str("kv"),
            ModelSpec::KvMap => f.write_str("kv-map"),
            ModelSpec::ListAppend => f.write_str("list-append"),
            ModelSpec::Set => f.write_str("set"),
        }
    }
}

/// Checks paired operations with the model a spec names.
pub fn check_ops(
    spec: &ModelSpec,
    ops: &[Operation],
    opts: &CheckOptions,
) -> Result<CheckReport, DecodeError> {
    let mut report = match spec {
        ModelSpec::Register { initial } => check(&Register::new(*initial), ops, opts),
        ModelSpec::CasRegister { initial } => check(&CasRegister::new(*initial), ops, opts),
        ModelSpec::Kv => check(&KvKey::default(), ops, opts),
        ModelSpec::KvMap => check(&KvMap::default(), ops, opts),
        ModelSpec::ListAppend => check(&ListAppend::default(), ops, opts),
        ModelSpec::Set => check(&SetModel::default(), ops, opts),
    }?;
    report.model = spec.to_string();
    Ok(report)
}

/// For the partition a timeline draws (the first violation, else the
/// first unknown, else the whole history): each (partially) linearized
/// operation's position from 1 and the model state after it.
pub fn linearization_states(
    spec: &ModelSpec,
    ops: &[Operation],
    report: &CheckReport,
) -> BTreeMap<usize, (usize, String)> {
    match spec {
        ModelSpec::Register { initial } => {
            linearization_states_with(&Register::new(*initial), ops, report)
        }
        ModelSpec::CasRegister { initial } => {
            linearization_states_with(&CasRegister::new(*initial), ops, report)
        }
        ModelSpec::Kv => linearization_states_with(&KvKey::default(), ops, report),
        ModelSpec::KvMap => linearization_states_with(&KvMap::default(), ops, report),
        ModelSpec::ListAppend => linearization_states_with(&ListAppend::default(), ops, report),
        ModelSpec::Set => linearization_states_with(&SetModel::default(), ops, report),
    }
}

/// [`linearization_states`] for any model, e.g. one a caller defines.
pub fn linearization_states_with<M: Model>(
    model: &M,
    ops: &[Operation],
    report: &CheckReport,
) -> BTreeMap<usize, (usize, String)> {
    let mut out = BTreeMap::new();
    let focus = report
        .partitions
        .iter()
        .find(|p| p.verdict == Verdict::NotLinearizable)
        .or_else(|| {
            report
                .partitions
                .iter()
                .find(|p| p.verdict == Verdict::Unknown)
        });
    if let Some(p) = focus {
        for (n, step) in p
            .explanation
            .iter()
            .flat_map(|e| e.longest.iter())
            .enumerate()
        {
            out.insert(step.op.op, (n + 1, step.state_after.clone()));
        }
        return out;
    }
    for p in &report.partitions {
        let Some(order) = &p.linearization else {
            continue;
        };
        for (n, (&i, s)) in order.iter().zip(replay(model, ops, order)).enumerate() {
            out.insert(i, (n + 1, s));
        }
    }
    out
}

/// Writes `timeline.html` for a checked history. Without faults in
/// `opts`, the history's nemesis events are drawn.
pub fn write_timeline(
    path: &Path,
    spec: &ModelSpec,
    events: &[Event],
    ops: &[Operation],
    report: &CheckReport,
    opts: &TimelineOptions,
) -> std::io::Result<()> {
    let states = linearization_states(spec, ops, report);
    write_page(path, events, ops, report, &states, opts)
}

/// [`write_timeline`] for any model.
pub fn write_timeline_with<M: Model>(
    path: &Path,
    model: &M,
    events: &[Event],
    ops: &[Operation],
    report: &CheckReport,
    opts: &TimelineOptions,
) -> std::io::Result<()> {
    let states = linearization_states_with(model, ops, report);
    write_page(path, events, ops, report, &states, opts)
}

fn write_page(
    path: &Path,
    events: &[Event],
    ops: &[Operation],
    report: &CheckReport,
    states: &BTreeMap<usize, (usize, String)>,
    opts: &TimelineOptions,
) -> std::io::Result<()> {
    let mut opts = opts.clone();
    if opts.faults.is_empty() {
        opts.faults = timeline::fault_bands(events);
    }
    std::fs::write(path, timeline::render(ops, report, states, &opts))
}

/// Checks a history's events: the per-key result structure the harness
/// puts into `report.json`. An `Err` is bad input.
pub fn check_events(
    events: &[Event],
    spec: &ModelSpec,
    opts: &CheckOptions,
) -> Result<CheckReport, String> {
    let ops = pair(events).map_err(|e| e.to_string())?;
    check_ops(spec, &ops, opts).map_err(|e| e.to_string())
}

/// Everything `faultline check` may set.
#[derive(Clone, Debug, Default)]
pub struct CommandOptions {
    /// `None`: detect from the file.
    pub format: Option<Format>,
    /// `None`: the format's default model.
    pub model: Option<String>,
    pub check: CheckOptions,
    /// Where to write `timeline.html`, if anywhere.
    pub html: Option<PathBuf>,
}

/// What checking one file gave.
#[derive(Clone, Debug)]
pub struct FileCheck {
    pub loaded: Loaded,
    pub ops: Vec<Operation>,
    pub report: CheckReport,
}

/// Loads and checks one file; `Err` is a bad-input message.
pub fn check_file(path: &Path, opts: &CommandOptions) -> Result<FileCheck, String> {
    let loaded = import::load(path, opts.format).map_err(|e| e.to_string())?;
    let spec = match &opts.model {
        Some(m) => m.parse::<ModelSpec>()?,
        None => ModelSpec::default_for(&loaded),
    };
    let ops = pair(&loaded.events).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut check_opts = opts.check.clone();
    check_opts.timed = loaded.timed;
    let report =
        check_ops(&spec, &ops, &check_opts).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(html) = &opts.html {
        let t = TimelineOptions {
            title: path.display().to_string(),
            timed: loaded.timed,
            ..TimelineOptions::default()
        };
        write_timeline(html, &spec, &loaded.events, &ops, &report, &t)
            .map_err(|e| format!("{}: cannot write the timeline: {e}", html.display()))?;
    }
    Ok(FileCheck {
        loaded,
        ops,
        report,
    })
}

/// Checks one history file: the exit code (0 linearizable, 1 not, 2 bad
/// input, 3 unknown) and the report text.
pub fn check_command(path: &Path, model_name: Option<&str>, budget: Duration) -> (i32, String) {
    let opts = CommandOptions {
        model: model_name.map(str::to_string),
        check: CheckOptions {
            budget: Some(budget),
            ..CheckOptions::default()
        },
        ..CommandOptions::default()
    };
    check_command_with(path, &opts)
}

/// [`check_command`] with every option.
pub fn check_command_with(path: &Path, opts: &CommandOptions) -> (i32, String) {
    match check_file(path, opts) {
        Ok(c) => (
            c.report.verdict.exit_code(),
            format!("{}: {}", path.display(), c.report.summary()),
        ),
        Err(e) => (EXIT_BAD_INPUT, format!("error: {e}")),
    }
}
