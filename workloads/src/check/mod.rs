//! Workload-specific checkers. Each reads a history, returns what it found
//! as data, and says it in plain English.
//!
//! They complement the linearizability checker in `faultline-histories`:
//! that one says *whether* a key's history can be ordered; these say *what*
//! went wrong in the workload's own terms (which element was lost, which
//! read saw money vanish).

pub mod bank;
pub mod counter;
pub mod list_append;
pub mod set;

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds of anomaly the workload checkers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// An acknowledged write is missing from the final state.
    Lost,
    /// An element appears more than once.
    Duplicated,
    /// A read shows an element nobody (successfully or possibly) wrote.
    Phantom,
    /// A read misses a write that was acknowledged before the read began,
    /// though later reads show it.
    Stale,
    /// Elements appear in an order no sequential execution gives.
    OutOfOrder,
    /// A read shows part of a multi-key transaction (the bank's total changed).
    NonAtomic,
    /// A read shows a negative balance.
    Negative,
    /// A counter read outside what the increments allow.
    OutOfBounds,
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnomalyKind::Lost => "lost",
            AnomalyKind::Duplicated => "duplicated",
            AnomalyKind::Phantom => "phantom",
            AnomalyKind::Stale => "stale",
            AnomalyKind::OutOfOrder => "out-of-order",
            AnomalyKind::NonAtomic => "non-atomic",
            AnomalyKind::Negative => "negative",
            AnomalyKind::OutOfBounds => "out-of-bounds",
        })
    }
}

/// One thing that went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The element or written value concerned, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<i64>,
    /// History indices of the events that show it.
    pub events: Vec<u64>,
    /// One or two sentences a person can act on.
    pub explanation: String,
}

/// A checker's overall answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Valid,
    Invalid,
    /// Nothing wrong was found, but the history cannot settle the question
    /// (for example no final read was taken).
    Unknown,
}

/// The common part of every checker's report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    pub anomalies: Vec<Anomaly>,
    /// Why some question could not be settled.
    pub undecided: Vec<String>,
}

impl Findings {
    pub fn verdict(&self) -> Verdict {
        if !self.anomalies.is_empty() {
            Verdict::Invalid
        } else if !self.undecided.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Valid
        }
    }

    /// Anomalies of one kind.
    pub fn of(&self, kind: AnomalyKind) -> Vec<&Anomaly> {
        self.anomalies.iter().filter(|a| a.kind == kind).collect()
    }

    pub(crate) fn push(
        &mut self,
        kind: AnomalyKind,
        key: Option<&str>,
        element: Option<i64>,
        events: Vec<u64>,
        explanation: String,
    ) {
        self.anomalies.push(Anomaly {
            kind,
            key: key.map(str::to_string),
            element,
            events,
            explanation,
        });
    }

    /// One paragraph: the verdict, then every anomaly on its own line.
    pub fn explain(&self, workload: &str) -> String {
        let mut s = match self.verdict() {
            Verdict::Valid => format!("{workload}: no anomalies."),
            Verdict::Unknown => {
                format!("{workload}: no anomalies found, but the history cannot settle everything.")
            }
            Verdict::Invalid => format!("{workload}: {} anomalies.", self.anomalies.len()),
        };
        for a in &self.anomalies {
            s.push_str(&format!("\n- {}: {}", a.kind, a.explanation));
        }
        for u in &self.undecided {
            s.push_str(&format!("\n- undecided: {u}"));
        }
        s
    }
}
