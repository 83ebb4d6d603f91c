//! Verdicts: what each checker said about a run, and the one answer they add
//! up to. A run is invalid if any checker found an anomaly, unknown if none
//! did but one ran out of budget or could not decide, valid otherwise.

use std::fmt;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

/// One checker's answer, or the whole run's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Valid,
    /// Nothing wrong was found, but a checker could not settle the question.
    Unknown,
    /// An anomaly was found.
    Invalid,
}

impl Verdict {
    /// The process exit code for this verdict (see ARCHITECTURE.md).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 3,
        }
    }

    pub fn exit(self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }

    /// The worse of two verdicts: invalid beats unknown beats valid.
    pub fn worst(self, other: Verdict) -> Verdict {
        self.max(other)
    }
}

impl From<faultline_workloads::Verdict> for Verdict {
    fn from(v: faultline_workloads::Verdict) -> Verdict {
        match v {
            faultline_workloads::Verdict::Valid => Verdict::Valid,
            faultline_workloads::Verdict::Invalid => Verdict::Invalid,
            faultline_workloads::Verdict::Unknown => Verdict::Unknown,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
        })
    }
}

/// Which checker produced a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checker {
    /// The client history against the workload's sequential model, per key.
    Linearizability,
    /// The workload's own checker (lost, duplicated, stale, non-atomic, ...).
    Workload,
    /// Raft invariants checked after every simulation step.
    Invariant,
    /// Identical committed logs and state machines at quiescence.
    Agreement,
    /// A leader and fresh writes and reads after the heal phase.
    Liveness,
    /// The simulated world panicked (a node, a client, or the nemesis).
    Panic,
}

impl Checker {
    pub fn name(self) -> &'static str {
        match self {
            Checker::Linearizability => "linearizability",
            Checker::Workload => "workload",
            Checker::Invariant => "invariant",
            Checker::Agreement => "agreement",
            Checker::Liveness => "liveness",
            Checker::Panic => "panic",
        }
    }
}

impl fmt::Display for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one checker said.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub checker: Checker,
    pub verdict: Verdict,
    /// Sentences a person can act on; the first line is the summary.
    pub explanation: String,
    /// The checker's own structured findings (anomalies, the operations
    /// that cannot be ordered, ...), for tools and the timeline.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl CheckResult {
    pub fn new(checker: Checker, verdict: Verdict, explanation: impl Into<String>) -> CheckResult {
        CheckResult {
            checker,
            verdict,
            explanation: explanation.into(),
            details: serde_json::Value::Null,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> CheckResult {
        self.details = details;
        self
    }

    /// Valid if `result` is `Ok`, invalid with its message otherwise.
    pub fn from_result(checker: Checker, result: &Result<(), String>, ok: &str) -> CheckResult {
        match result {
            Ok(()) => CheckResult::new(checker, Verdict::Valid, ok),
            Err(why) => CheckResult::new(checker, Verdict::Invalid, why.clone()),
        }
    }

    /// The first line of the explanation.
    pub fn summary(&self) -> &str {
        self.explanation.lines().next().unwrap_or("")
    }
}

/// All checkers' results and the overall verdict they add up to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdicts {
    pub overall: Verdict,
    /// The checkers whose result decided `overall` (those that found an
    /// anomaly, or, if none did, those that could not decide).
    pub caught_by: Vec<Checker>,
    pub checks: Vec<CheckResult>,
}

impl Verdicts {
    pub fn combine(checks: Vec<CheckResult>) -> Verdicts {
        let overall = checks
            .iter()
            .map(|c| c.verdict)
            .fold(Verdict::Valid, Verdict::worst);
        let mut caught_by: Vec<Checker> = if overall == Verdict::Valid {
            Vec::new()
        } else {
            checks
                .iter()
                .filter(|c| c.verdict == overall)
                .map(|c| c.checker)
                .collect()
        };
        caught_by.sort();
        caught_by.dedup();
        Verdicts {
            overall,
            caught_by,
            checks,
        }
    }

    /// `invalid (linearizability, agreement)` or `valid`.
    pub fn headline(&self) -> String {
        if self.caught_by.is_empty() {
            return self.overall.to_string();
        }
        let names: Vec<&str> = self.caught_by.iter().map(|c| c.name()).collect();
        format!("{} ({})", self.overall, names.join(", "))
    }

    /// The explanations of the deciding checkers, each prefixed by its
    /// checker, for the terminal.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for c in self.checks.iter().filter(|c| c.verdict != Verdict::Valid) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{} {}] {}", c.checker, c.verdict, c.explanation));
        }
        out
    }

    /// The first line that says why the run is not valid, for tables.
    pub fn first_reason(&self) -> String {
        self.checks
            .iter()
            .find(|c| c.verdict == self.overall && c.verdict != Verdict::Valid)
            .map(|c| format!("{}: {}", c.checker, c.summary()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_beats_unknown_beats_valid() {
        let v = Verdicts::combine(vec![
            CheckResult::new(Checker::Linearizability, Verdict::Unknown, "budget"),
            CheckResult::new(Checker::Agreement, Verdict::Invalid, "logs differ at 7"),
            CheckResult::new(Checker::Liveness, Verdict::Valid, "ok"),
        ]);
        assert_eq!(v.overall, Verdict::Invalid);
        assert_eq!(v.caught_by, vec![Checker::Agreement]);
        assert_eq!(v.headline(), "invalid (agreement)");
        assert_eq!(v.first_reason(), "agreement: logs differ at 7");
        assert!(v.explain().contains("[linearizability unknown] budget"));

        let u = Verdicts::combine(vec![
            CheckResult::new(Checker::Linearizability, Verdict::Unknown, "budget"),
            CheckResult::new(Checker::Invariant, Verdict::Valid, "ok"),
        ]);
        assert_eq!(u.overall, Verdict::Unknown);
        assert_eq!(u.caught_by, vec![Checker::Linearizability]);
        assert_eq!(u.overall.exit_code(), 3);

        let ok = Verdicts::combine(vec![CheckResult::new(
            Checker::Invariant,
            Verdict::Valid,
            "ok",
        )]);
        assert_eq!(ok.overall, Verdict::Valid);
        assert!(ok.caught_by.is_empty());
        assert_eq!(ok.headline(), "valid");
        assert_eq!(Verdicts::combine(vec![]).overall, Verdict::Valid);
    }

    #[test]
    fn caught_by_lists_every_failing_checker_once_in_order() {
        let v = Verdicts::combine(vec![
            CheckResult::new(Checker::Liveness, Verdict::Invalid, "no leader"),
            CheckResult::new(Checker::Linearizability, Verdict::Invalid, "key a"),
            CheckResult::new(Checker::Linearizability, Verdict::Invalid, "key b"),
        ]);
        assert_eq!(
            v.caught_by,
            vec![Checker::Linearizability, Checker::Liveness]
        );
    }

    #[test]
    fn serialises_kebab_case() {
        let c = CheckResult::new(Checker::Invariant, Verdict::Invalid, "x");
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["checker"], "invariant");
        assert_eq!(j["verdict"], "invalid");
        assert!(j.get("details").is_none());
        let back: CheckResult = serde_json::from_value(j).unwrap();
        assert_eq!(back, c);
    }
}
