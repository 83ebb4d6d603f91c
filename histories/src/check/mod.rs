//! The linearizability checker: decode a history's operations with a
//! model, split them by key when the model allows (P-compositionality),
//! search each part with [`wgl`], and explain what failed.

mod bitset;
mod reduce;
mod wgl;
pub mod zones;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::explain::{explain, op_ref, Explanation};
use crate::model::Model;
use crate::ops::Operation;

/// The answer for a history or one of its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Linearizable,
    /// The budget ran out first; nothing is claimed.
    Unknown,
    NotLinearizable,
}

impl Verdict {
    /// The process exit code: 0 linearizable, 1 not, 3 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Linearizable => 0,
            Verdict::NotLinearizable => 1,
            Verdict::Unknown => 3,
        }
    }

    /// The worse of two verdicts: a violation anywhere beats an unknown,
    /// which beats linearizable.
    pub fn worst(self, other: Verdict) -> Verdict {
        self.max(other)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Linearizable => "linearizable",
            Verdict::Unknown => "unknown",
            Verdict::NotLinearizable => "not linearizable",
        })
    }
}

/// Limits and settings of one check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Wall-clock time for the whole check; `None`: unlimited.
    pub budget: Option<Duration>,
    /// Memo table bytes all searches may hold together.
    pub max_memory_bytes: usize,
    /// Partitions searched in parallel.
    pub jobs: usize,
    /// Whether event times are real (nanoseconds) or only an order
    /// (imported formats without times); explanations cite times or
    /// event numbers accordingly.
    pub timed: bool,
    /// Use the zone check for read/write registers with unique values
    /// (off only to cross-check it against the search).
    pub zones: bool,
    /// Search the model's reduction of each partition ([`Model::reduce`])
    /// and place identical operations of unknown outcome in call order
    /// (off only to cross-check both against the plain search).
    pub reduce: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            budget: Some(Duration::from_secs(60)),
            max_memory_bytes: 2 << 30,
            jobs: 1,
            timed: true,
            zones: true,
            reduce: true,
        }
    }
}

/// An operation the model cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The invoke event's index.
    pub index: u64,
    pub process: u64,
    pub why: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation invoked at event {} by process {}: {}",
            self.index, self.process, self.why
        )
    }
}

impl std::error::Error for DecodeError {}

/// The verdict for one key (or the whole history, when not partitioned).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Operations the model checked (failed ones and unknown reads dropped).
    pub ops: usize,
    pub verdict: Verdict,
    /// Search steps and memo table size, for performance work.
    pub steps: u64,
    pub memo_entries: usize,
    pub elapsed_ms: f64,
    /// Why the verdict is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undecided: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
    /// Indices into the checked history's operations, in linearization
    /// order, when one was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linearization: Option<Vec<usize>>,
}

/// The verdict for a whole history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub model: String,
    pub verdict: Verdict,
    /// Client operations in the history.
    pub ops: usize,
    pub partitions: Vec<PartitionResult>,
    pub elapsed_ms: f64,
}

impl CheckReport {
    /// Partitions that are not linearizable.
    pub fn violations(&self) -> impl Iterator<Item = &PartitionResult> {
        self.partitions
            .iter()
            .filter(|p| p.verdict == Verdict::NotLinearizable)
    }

    /// A verdict line, then an explanation per failing key and a line per
    /// undecided key.
    pub fn summary(&self) -> String {
        let decided = self
            .partitions
            .iter()
            .filter(|p| p.verdict != Verdict::Unknown)
            .count();
        let mut s = format!(
            "{}: {} operations, {} key{} ({} decided), model {}, {:.1} ms",
            self.verdict,
            self.ops,
            self.partitions.len(),
            if self.partitions.len() == 1 { "" } else { "s" },
            decided,
            self.model,
            self.elapsed_ms
        );
        for p in &self.partitions {
            if let Some(e) = &p.explanation {
                s.push('\n');
                s.push_str(&e.sentence);
            }
        }
        for p in &self.partitions {
            if let Some(u) = &p.undecided {
                let key = p.key.as_deref().map_or(String::new(), |k| format!(" {k}"));
                s.push_str(&format!("\nundecided key{key}: {u}"));
            }
        }
        s
    }
}

/// One partition, decoded.
pub(crate) struct Part<M: Model> {
    pub key: Option<String>,
    /// Indices into the history's operations.
    pub members: Vec<usize>,
    pub ops: Vec<(M::Op, M::Ret)>,
    pub call: Vec<u64>,
    pub ret: Vec<Option<u64>>,
}

/// Decodes and partitions a history's operations.
pub(crate) fn partition<M: Model>(
    model: &M,
    ops: &[Operation],
) -> Result<Vec<Part<M>>, DecodeError> {
    let mut parts: BTreeMap<Option<String>, Part<M>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let decoded = model.decode(op).map_err(|why| DecodeError {
            index: op.invoke_index,
            process: op.process,
            why,
        })?;
        let Some(pair) = decoded else { continue };
        let key = if model.per_key() {
            op.key.clone()
        } else {
            None
        };
        let part = parts.entry(key.clone()).or_insert_with(|| Part {
            key,
            members: Vec::new(),
            ops: Vec::new(),
            call: Vec::new(),
            ret: Vec::new(),
        });
        part.members.push(i);
        part.ops.push(pair);
        part.call.push(op.invoke_index);
        part.ret.push(op.return_index);
    }
    Ok(parts.into_values().collect())
}

/// Checks a history's operations against `model` (the initial state of
/// every key when the model is checked per key).
pub fn check<M: Model>(
    model: &M,
    ops: &[Operation],
    opts: &CheckOptions,
) -> Result<CheckReport, DecodeError> {
    let start = Instant::now();
    let parts = partition(model, ops)?;
    let deadline = opts.budget.map(|b| start + b);
    let used = AtomicUsize::new(0);
    let limits = wgl::Limits {
        deadline,
        max_bytes: opts.max_memory_bytes,
        used_bytes: &used,
        max_steps: u64::MAX,
    };
    let run = |part: &Part<M>| check_part(model, ops, part, &limits, opts);
    let results: Vec<PartitionResult> = if opts.jobs <= 1 || parts.len() <= 1 {
        parts.iter().map(run).collect()
    } else {
        let slots: Vec<Mutex<Option<PartitionResult>>> =
            parts.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..opts.jobs.min(parts.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(part) = parts.get(i) else { break };
                    let r = run(part);
                    *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                });
            }
        });
        slots
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .expect("every partition checked")
            })
            .collect()
    };
    let verdict = results
        .iter()
        .fold(Verdict::Linearizable, |v, r| v.worst(r.verdict));
    Ok(CheckReport {
        model: model.name().to_string(),
        verdict,
        ops: ops.len(),
        partitions: results,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// Time the search gets to explain a violation the zone check found.
const EXPLAIN_BUDGET: Duration = Duration::from_secs(5);

fn check_part<M: Model>(
    model: &M,
    ops: &[Operation],
    part: &Part<M>,
    limits: &wgl::Limits<'_>,
    opts: &CheckOptions,
) -> PartitionResult {
    let timed = opts.timed;
    let start = Instant::now();
    let reduced = reduce::Reduced::new(model, part, opts.reduce);
    // Read/write registers with unique values: a cheap first search
    // decides most histories (with a linearization to draw); when it does
    // not, the zone check decides in O(n log n), and the search then only
    // runs, briefly, to explain a violation.
    let views = model.rw_initial().filter(|_| opts.zones).and_then(|init| {
        let views: Option<Vec<_>> = part
            .ops
            .iter()
            .enumerate()
            .map(|(i, (o, r))| M::rw_view(o, r).map(|v| (v, part.call[i], part.ret[i])))
            .collect();
        Some((init, views?))
    });
    let mut zone = None;
    let mut first = None;
    if let Some((init, views)) = &views {
        let quick = wgl::Limits {
            deadline: limits.deadline,
            max_bytes: limits.max_bytes,
            used_bytes: limits.used_bytes,
            max_steps: 64 * part.ops.len() as u64 + 4096,
        };
        let out = reduced.search(model, &quick);
        if matches!(out.found, wgl::Found::Unknown(wgl::Stop::Steps)) {
            zone = zones::decide(init, views);
        } else {
            first = Some(out);
        }
    }
    if let Some(Ok(())) = zone {
        return PartitionResult {
            key: part.key.clone(),
            ops: part.ops.len(),
            verdict: Verdict::Linearizable,
            steps: 0,
            memo_entries: 0,
            elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
            undecided: None,
            explanation: None,
            linearization: None,
        };
    }
    let out = match first {
        Some(out) => out,
        None => {
            let cap = Instant::now() + EXPLAIN_BUDGET;
            let brief = wgl::Limits {
                deadline: match zone {
                    Some(Err(_)) => Some(limits.deadline.map_or(cap, |d| d.min(cap))),
                    _ => limits.deadline,
                },
                max_bytes: limits.max_bytes,
                used_bytes: limits.used_bytes,
                max_steps: u64::MAX,
            };
            reduced.search(model, &brief)
        }
    };
    let mut result = PartitionResult {
        key: part.key.clone(),
        ops: part.ops.len(),
        verdict: Verdict::Linearizable,
        steps: out.steps,
        memo_entries: out.memo_entries,
        elapsed_ms: 0.0,
        undecided: None,
        explanation: None,
        linearization: None,
    };
    match out.found {
        wgl::Found::Linearizable(order) => {
            debug_assert!(
                !matches!(zone, Some(Err(_))),
                "the zone check and the search disagree"
            );
            result.linearization = Some(order.into_iter().map(|i| part.members[i]).collect());
        }
        wgl::Found::NotLinearizable => {
            result.verdict = Verdict::NotLinearizable;
            result.explanation = Some(explain(model, ops, part, &out.longest, out.stuck, timed));
        }
        wgl::Found::Unknown(_) if matches!(zone, Some(Err(_))) => {
            let (why, cited) = match &zone {
                Some(Err(v)) => (v.why.clone(), v.ops.clone()),
                _ => (String::new(), Vec::new()),
            };
            let mut cited = cited.into_iter().map(|i| op_ref(ops, part, i));
            let on_key = part
                .key
                .as_deref()
                .map_or(String::new(), |k| format!(" on key {k}"));
            result.verdict = Verdict::NotLinearizable;
            result.explanation = Some(Explanation {
                key: part.key.clone(),
                stuck: cited.next(),
                concurrent: cited.collect(),
                longest: Vec::new(),
                state: String::new(),
                sentence: format!(
                    "Not linearizable{on_key}: {why}. (Decided by the zone check on unique written values; the search ran out of time before it could find the longest valid order.)"
                ),
            });
        }
        wgl::Found::Unknown(stop) => {
            result.verdict = Verdict::Unknown;
            result.undecided = Some(format!(
                "{} after {} search steps; the longest linearizable prefix found holds {} of {} operations ({} of unknown outcome left out as unobservable)",
                match stop {
                    wgl::Stop::Time => "time budget ran out",
                    wgl::Stop::Memory => "memory budget ran out",
                    wgl::Stop::Steps => "step limit reached",
                },
                out.steps,
                out.longest.len(),
                part.ops.len(),
                reduced.left_out(part)
            ));
        }
    }
    result.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    result
}

/// The model state after each operation of `order` (indices into `ops`),
/// applied from `model` in turn: for drawing a linearization.
pub fn replay<M: Model>(model: &M, ops: &[Operation], order: &[usize]) -> Vec<String> {
    let mut state = model.clone();
    order
        .iter()
        .map(|&i| {
            if let Ok(Some((o, r))) = model.decode(&ops[i]) {
                state.is_valid_step(&o, &r);
            }
            state.describe_state()
        })
        .collect()
}
