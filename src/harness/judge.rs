//! Judging a history: linearizability per key with the workload's model,
//! and the workload's own checker.

use std::time::Duration;

use faultline_histories::Event;
use faultline_workloads::history::HistoryError;
use faultline_workloads::Workload;

use super::verdict::{CheckResult, Checker, Verdict};
use super::workload_check::{self, BankParams};

/// Every history checker's result for `history`. An error means the
/// history itself is malformed for this workload (bad input, not an anomaly).
pub fn judge_history(
    workload: Workload,
    history: &[Event],
    bank: Option<&BankParams>,
    budget: Duration,
) -> Result<Vec<CheckResult>, HistoryError> {
    let mut checks = vec![linearizability(workload, history, budget)];
    if let Some(w) = workload_check::check(workload, history, bank)? {
        checks.push(w);
    }
    Ok(checks)
}

fn linearizability(_workload: Workload, _history: &[Event], _budget: Duration) -> CheckResult {
    // Filled in when the checker of `faultline-histories` lands.
    CheckResult::new(
        Checker::Linearizability,
        Verdict::Unknown,
        "the linearizability checker is not in this build yet",
    )
}
