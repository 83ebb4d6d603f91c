//! Judging a history: linearizability per key with the workload's model,
//! and the workload's own checker.

use std::fmt;
use std::time::Duration;

use faultline_histories::check::{check, CheckOptions, CheckReport, Verdict as LinVerdict};
use faultline_histories::command::{check_ops, ModelSpec};
use faultline_histories::ops::{pair, PairError};
use faultline_histories::Event;
use faultline_workloads::Workload;

use super::models;
use super::verdict::{CheckResult, Checker, Verdict};
use super::workload_check::{self, BankParams};

/// A history the checkers cannot read: bad input, not an anomaly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadHistory {
    /// The history index of the offending event, when known.
    pub index: Option<u64>,
    pub message: String,
}

impl fmt::Display for BadHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<faultline_workloads::history::HistoryError> for BadHistory {
    fn from(e: faultline_workloads::history::HistoryError) -> BadHistory {
        use faultline_workloads::history::HistoryError as H;
        let index = match &e {
            H::CompletionWithoutInvoke { index, .. }
            | H::DoubleInvoke { index, .. }
            | H::BadValue { index, .. } => *index,
        };
        BadHistory {
            index: Some(index),
            message: e.to_string(),
        }
    }
}

impl From<PairError> for BadHistory {
    fn from(e: PairError) -> BadHistory {
        let index = match &e {
            PairError::CompletionWithoutInvoke { index, .. }
            | PairError::DoubleInvoke { index, .. } => *index,
        };
        BadHistory {
            index: Some(index),
            message: e.to_string(),
        }
    }
}

/// Every history checker's result for `history`.
pub fn judge_history(
    workload: Workload,
    history: &[Event],
    bank: Option<&BankParams>,
    budget: Duration,
) -> Result<Vec<CheckResult>, BadHistory> {
    judge_history_full(workload, history, bank, budget).map(|j| j.checks)
}

/// What the history checkers said, with the linearizability checker's
/// whole report (the timeline draws its linearization).
#[derive(Clone, Debug)]
pub struct Judgement {
    pub checks: Vec<CheckResult>,
    pub linearizability: CheckReport,
}

/// [`judge_history`], keeping the linearizability report.
pub fn judge_history_full(
    workload: Workload,
    history: &[Event],
    bank: Option<&BankParams>,
    budget: Duration,
) -> Result<Judgement, BadHistory> {
    let report = linearizability_report(workload, history, budget)?;
    let mut checks = vec![linearizability_result(&report)];
    if let Some(w) = workload_check::check(workload, history, bank)? {
        checks.push(w);
    }
    Ok(Judgement {
        checks,
        linearizability: report,
    })
}

/// The model a workload's history is checked against: one `histories`
/// names, or the bank and counter models of [`models`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinModel {
    Spec(ModelSpec),
    Bank,
    Counter,
}

pub fn lin_model(workload: Workload) -> LinModel {
    match workload {
        Workload::Register => LinModel::Spec(ModelSpec::CasRegister { initial: None }),
        Workload::Kv => LinModel::Spec(ModelSpec::Kv),
        Workload::ListAppend => LinModel::Spec(ModelSpec::ListAppend),
        Workload::Set => LinModel::Spec(ModelSpec::Set),
        Workload::Bank => LinModel::Bank,
        Workload::Counter => LinModel::Counter,
    }
}

/// The linearizability checker with the workload's model.
pub fn linearizability(
    workload: Workload,
    history: &[Event],
    budget: Duration,
) -> Result<CheckResult, BadHistory> {
    linearizability_report(workload, history, budget).map(|r| linearizability_result(&r))
}

fn linearizability_report(
    workload: Workload,
    history: &[Event],
    budget: Duration,
) -> Result<CheckReport, BadHistory> {
    let ops = pair(history)?;
    let opts = CheckOptions {
        budget: Some(budget),
        ..CheckOptions::default()
    };
    match lin_model(workload) {
        LinModel::Spec(spec) => check_ops(&spec, &ops, &opts),
        LinModel::Bank => check(&models::bank(), &ops, &opts),
        LinModel::Counter => check(&models::counter(), &ops, &opts),
    }
    .map_err(|e| BadHistory {
        index: Some(e.index),
        message: e.to_string(),
    })
}

fn linearizability_result(report: &CheckReport) -> CheckResult {
    let verdict = match report.verdict {
        LinVerdict::Linearizable => Verdict::Valid,
        LinVerdict::NotLinearizable => Verdict::Invalid,
        LinVerdict::Unknown => Verdict::Unknown,
    };
    CheckResult::new(Checker::Linearizability, verdict, report.summary())
        .with_details(details(report))
}

/// The report without what is long and only useful to the checker: the
/// per-key linearizations, and keys that passed.
fn details(report: &CheckReport) -> serde_json::Value {
    let mut r = report.clone();
    let total = r.partitions.len();
    r.partitions
        .retain(|p| p.verdict != LinVerdict::Linearizable);
    for p in &mut r.partitions {
        p.linearization = None;
    }
    let mut v = serde_json::to_value(&r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("keys".into(), total.into());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_histories::{EventType, Process};
    use serde_json::json;

    fn ev(index: u64, p: u64, kind: EventType, f: &str, value: serde_json::Value) -> Event {
        Event {
            index,
            time: index * 10,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: Some("r".into()),
            value,
            error: None,
        }
    }

    #[test]
    fn a_stale_register_read_is_not_linearizable() {
        let mut h = vec![
            ev(0, 0, EventType::Invoke, "write", json!(1)),
            ev(1, 0, EventType::Ok, "write", json!(1)),
            ev(2, 1, EventType::Invoke, "read", json!(null)),
            ev(3, 1, EventType::Ok, "read", json!(1)),
        ];
        let ok = linearizability(Workload::Register, &h, Duration::from_secs(5)).unwrap();
        assert_eq!(ok.verdict, Verdict::Valid, "{}", ok.explanation);
        h[3].value = json!(null);
        let bad = linearizability(Workload::Register, &h, Duration::from_secs(5)).unwrap();
        assert_eq!(bad.verdict, Verdict::Invalid, "{}", bad.explanation);
        assert_eq!(bad.details["partitions"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn malformed_histories_name_the_event() {
        let h = vec![ev(0, 0, EventType::Ok, "write", json!(1))];
        let e = judge_history(Workload::Register, &h, None, Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.index, Some(0));
        let h = vec![
            ev(0, 0, EventType::Invoke, "write", json!("x")),
            ev(1, 0, EventType::Ok, "write", json!("x")),
        ];
        let e = judge_history(Workload::Register, &h, None, Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.index, Some(0), "{e}");
    }
}
