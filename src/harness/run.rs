//! One run from the harness's side: simulate a configuration, judge what
//! happened, and write the run's directory (capsule, history, trace,
//! timeline). The simulation is a plain function from a configuration to
//! its [`RunOutcome`], so everything here can be exercised with a stand-in.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faultline_histories::check::CheckReport;
use faultline_histories::{Event, EventType};
use faultline_nemesis::{Effectiveness, OpSpan};

use super::judge::judge_history_full;
use super::report::{self, Capsule, CAPSULE_FORMAT, CAPSULE_VERSION};
use super::verdict::{CheckResult, Checker, Verdict, Verdicts};
use super::workload_check::BankParams;
use crate::sim::{RunConfig, RunOutcome};

/// Runs one configuration, writing into the directory if one is given.
/// The harness judges the simulation's own [`RunOutcome`]: a stand-in
/// returns one too (built on [`RunOutcome::default`]).
pub type Simulate = fn(&RunConfig, Option<&Path>) -> RunOutcome;

/// The simulation this build runs.
pub use crate::sim::run as simulate;

/// The simulation this build runs, for the commands that take one.
pub const SIMULATOR: Option<Simulate> = Some(simulate);

/// A simulated and judged run.
#[derive(Clone, Debug)]
pub struct Judged {
    pub config: RunConfig,
    /// What the simulation reported.
    pub facts: RunOutcome,
    pub verdicts: Verdicts,
    /// The linearizability checker's whole report, for the timeline;
    /// `None` if the history could not be checked.
    pub linearizability: Option<CheckReport>,
    pub effectiveness: Effectiveness,
    pub wall: Duration,
}

impl Judged {
    pub fn verdict(&self) -> Verdict {
        self.verdicts.overall
    }

    /// How the run ended for a ledger: its verdict, except that a run the
    /// simulation could not finish is a harness crash unless it had
    /// already shown an anomaly.
    pub fn status(&self) -> super::ledger::Status {
        match (self.verdict(), self.facts.harness_failure()) {
            (Verdict::Invalid, _) | (_, None) => self.verdict().into(),
            (_, Some(_)) => super::ledger::Status::HarnessCrash,
        }
    }
}

/// Simulate and judge `config`.
pub fn run(simulate: Simulate, config: &RunConfig, dir: Option<&Path>) -> Judged {
    let start = Instant::now();
    let facts = simulate(config, dir);
    let (verdicts, linearizability) = judge_with_report(config, &facts);
    let effectiveness = effectiveness(&facts);
    Judged {
        config: config.clone(),
        facts,
        verdicts,
        linearizability,
        effectiveness,
        wall: start.elapsed(),
    }
}

/// Every verdict of a run: a panic, the history checkers, the invariants,
/// agreement and liveness.
pub fn judge(config: &RunConfig, facts: &RunOutcome) -> Verdicts {
    judge_with_report(config, facts).0
}

/// [`judge`], with the linearizability checker's report.
pub fn judge_with_report(
    config: &RunConfig,
    facts: &RunOutcome,
) -> (Verdicts, Option<CheckReport>) {
    let mut checks = Vec::new();
    let mut report = None;
    // The simulation stopping early is the harness's failure, not a verdict
    // on the system: nothing after that point can be judged.
    let failure = facts.harness_failure();
    if let Some(why) = &failure {
        checks.push(CheckResult::new(
            Checker::Panic,
            Verdict::Unknown,
            format!("the simulation stopped early: {why}"),
        ));
    }
    let bank = BankParams {
        accounts: (0..config.generator.accounts)
            .map(|i| format!("acct{i}"))
            .collect(),
        total: config.generator.initial_balance * config.generator.accounts as i64,
    };
    let budget = Duration::from_millis(config.bounds.checker_budget_ms);
    match judge_history_full(config.workload, &facts.history, Some(&bank), budget) {
        Ok(j) => {
            checks.extend(j.checks);
            report = Some(j.linearizability);
        }
        // The simulation wrote a history its own workload cannot read: a
        // harness bug, so nothing can be claimed about the system.
        Err(e) => checks.push(CheckResult::new(
            Checker::Linearizability,
            Verdict::Unknown,
            format!("the recorded history is malformed ({e}); this is a harness bug"),
        )),
    }
    // A crashed run stopped early: what it did not reach is not judged.
    // Nor is what a run stopped at an invariant violation did not reach:
    // reporting it would name verdicts that did not catch anything.
    if failure.is_none() && facts.stopped_early {
        let v = facts.invariant_violation.clone().unwrap_or_default();
        checks.push(CheckResult::new(
            Checker::Invariant,
            Verdict::Invalid,
            format!("{v}\nThe run stopped here, so agreement and liveness were not checked."),
        ));
    } else if failure.is_none() {
        checks.push(match &facts.invariant_violation {
            None => CheckResult::new(
                Checker::Invariant,
                Verdict::Valid,
                "every Raft invariant held after every step",
            ),
            Some(v) => CheckResult::new(Checker::Invariant, Verdict::Invalid, v.clone()),
        });
        checks.push(CheckResult::from_result(
            Checker::Agreement,
            &facts.agreement,
            "replicas agree on the committed log and state",
        ));
        checks.push(CheckResult::from_result(
            Checker::Liveness,
            &facts.liveness,
            "a leader whenever a sound quorum was up, and after the heal a leader was elected \
             and served fresh operations",
        ));
    } else if let Some(v) = &facts.invariant_violation {
        checks.push(CheckResult::new(
            Checker::Invariant,
            Verdict::Invalid,
            v.clone(),
        ));
    }
    (Verdicts::combine(checks), report)
}

/// Client operations as spans, for fault effectiveness.
pub fn op_spans(history: &[Event]) -> Vec<OpSpan> {
    let mut open: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut spans = Vec::new();
    for e in history {
        let faultline_histories::Process::Client(p) = e.process else {
            continue;
        };
        match e.kind {
            EventType::Invoke => {
                open.insert(p, e.time);
            }
            EventType::Ok | EventType::Fail => {
                if let Some(start) = open.remove(&p) {
                    spans.push(OpSpan {
                        start_ns: start,
                        end_ns: Some(e.time),
                    });
                }
            }
            EventType::Info => {
                if let Some(start) = open.remove(&p) {
                    spans.push(OpSpan {
                        start_ns: start,
                        end_ns: None,
                    });
                }
            }
        }
    }
    spans.extend(open.into_values().map(|start| OpSpan {
        start_ns: start,
        end_ns: None,
    }));
    spans
}

pub fn effectiveness(facts: &RunOutcome) -> Effectiveness {
    faultline_nemesis::effectiveness(
        &facts.fault_spans,
        &op_spans(&facts.history),
        &facts.leader_spans,
    )
}

/// The capsule of a judged run.
pub fn capsule(judged: &Judged, repro: &str) -> Capsule {
    Capsule {
        format: CAPSULE_FORMAT.into(),
        version: CAPSULE_VERSION,
        faultline_version: report::faultline_version().into(),
        git_commit: report::git_commit().into(),
        seed: judged.config.seed,
        repro: repro.into(),
        config: serde_json::to_value(&judged.config).unwrap_or_default(),
        schedule: serde_json::to_value(&judged.config.schedule).unwrap_or_default(),
        faults_applied: serde_json::to_value(&judged.facts.faults_applied).unwrap_or_default(),
        verdicts: judged.verdicts.clone(),
        effectiveness: Some(judged.effectiveness.clone()),
        history_hash: judged.facts.history_hash.clone(),
        events: judged.facts.history.len(),
        sim_time_ms: judged.facts.sim_time_ms,
        wall_ms: judged.wall.as_millis() as u64,
        bugs: judged
            .config
            .bugs
            .iter()
            .map(|b| b.name().to_string())
            .collect(),
        shrunk: None,
    }
}

/// The capsule a run writes before it starts: if the process dies inside
/// the simulation, the seed and configuration are already on disk.
pub fn provisional_capsule(config: &RunConfig, repro: &str) -> Capsule {
    Capsule {
        format: CAPSULE_FORMAT.into(),
        version: CAPSULE_VERSION,
        faultline_version: report::faultline_version().into(),
        git_commit: report::git_commit().into(),
        seed: config.seed,
        repro: repro.into(),
        config: serde_json::to_value(config).unwrap_or_default(),
        schedule: serde_json::to_value(&config.schedule).unwrap_or_default(),
        faults_applied: serde_json::Value::Null,
        verdicts: Verdicts::combine(vec![CheckResult::new(
            Checker::Panic,
            Verdict::Unknown,
            "the run did not finish: the harness stopped before judging it",
        )]),
        effectiveness: None,
        history_hash: String::new(),
        events: 0,
        sim_time_ms: 0,
        wall_ms: 0,
        bugs: config.bugs.iter().map(|b| b.name().to_string()).collect(),
        shrunk: None,
    }
}

/// Write a judged run's report into its directory, and the history too if
/// the simulation did not already write it there.
pub fn write_outputs(dir: &Path, judged: &Judged, repro: &str) -> std::io::Result<Capsule> {
    let history = dir.join(super::store::HISTORY);
    if !history.exists() {
        let header = faultline_histories::store::Header::new(
            judged.config.seed,
            serde_json::to_value(&judged.config).unwrap_or_default(),
        );
        let mut w = faultline_histories::store::HistoryWriter::create(&history, &header)?;
        for e in &judged.facts.history {
            w.append(e)?;
        }
    }
    super::timeline::write(
        &dir.join(super::store::TIMELINE),
        &super::timeline::TimelineInput {
            title: format!("faultline seed {}", judged.config.seed),
            workload: judged.config.workload,
            history: &judged.facts.history,
            linearizability: judged.linearizability.as_ref(),
            faults: &judged.facts.fault_spans,
            trace: &judged.facts.trace,
            verdicts: &judged.verdicts,
            end_ns: judged.facts.sim_time_ms.saturating_mul(1_000_000),
        },
    )?;
    let c = capsule(judged, repro);
    c.write(dir)?;
    Ok(c)
}

/// The first position where two histories differ, with the event on each
/// side (`None` where one history ended).
pub fn first_difference<'a>(
    a: &'a [Event],
    b: &'a [Event],
) -> Option<(usize, Option<&'a Event>, Option<&'a Event>)> {
    let n = a.len().max(b.len());
    (0..n).find_map(|i| {
        let (x, y) = (a.get(i), b.get(i));
        (x != y).then_some((i, x, y))
    })
}

/// One line naming an event, for divergence reports.
pub fn describe_event(e: Option<&Event>) -> String {
    match e {
        None => "(history ended)".into(),
        Some(e) => serde_json::to_string(e).unwrap_or_else(|_| format!("{e:?}")),
    }
}

/// A run's directory path in a capsule-relative form for repro commands.
pub fn report_path(dir: &Path) -> PathBuf {
    dir.join(super::store::REPORT)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sim::RunOptions;
    use faultline_histories::Process;
    use serde_json::json;

    pub(crate) fn event(
        index: u64,
        process: u64,
        kind: EventType,
        f: &str,
        value: serde_json::Value,
    ) -> Event {
        Event {
            index,
            time: index * 1_000_000,
            process: Process::Client(process),
            kind,
            f: f.into(),
            key: Some("r0".into()),
            value,
            error: None,
        }
    }

    /// A write and a read that sees it.
    pub(crate) fn register_history() -> Vec<Event> {
        vec![
            event(0, 0, EventType::Invoke, "write", json!(1)),
            event(1, 0, EventType::Ok, "write", json!(1)),
            event(2, 1, EventType::Invoke, "read", json!(null)),
            event(3, 1, EventType::Ok, "read", json!(1)),
        ]
    }

    fn config() -> RunConfig {
        RunConfig::from_seed(1, &RunOptions::default()).unwrap()
    }

    #[test]
    fn every_failed_check_is_named() {
        let facts = RunOutcome {
            invariant_violation: Some("election safety: two leaders in term 3".into()),
            agreement: Err("node 2 and node 3 differ at index 9".into()),
            ..RunOutcome::default()
        };
        let v = judge(&config(), &facts);
        assert_eq!(v.overall, Verdict::Invalid);
        assert_eq!(v.caught_by, vec![Checker::Invariant, Checker::Agreement]);
    }

    #[test]
    fn a_history_that_could_not_be_written_is_the_harness_s() {
        let facts = RunOutcome {
            history: register_history(),
            write_error: Some("writing the history: disk full".into()),
            ..RunOutcome::default()
        };
        let v = judge(&config(), &facts);
        let panic = v.checks.iter().find(|c| c.checker == Checker::Panic);
        assert!(
            panic.is_some_and(|c| c.explanation.contains("could not be written: writing the")),
            "{v:?}"
        );
        assert!(!v.checks.iter().any(|c| c.checker == Checker::Liveness));
        assert_eq!(
            run_with(&config(), facts).status(),
            crate::harness::ledger::Status::HarnessCrash
        );
    }

    #[test]
    fn a_crash_is_the_harness_s_and_skips_what_the_run_never_reached() {
        let facts = RunOutcome {
            crashed: Some("index out of bounds".into()),
            ..RunOutcome::default()
        };
        let v = judge(&config(), &facts);
        assert!(v.caught_by.contains(&Checker::Panic));
        assert!(!v.checks.iter().any(|c| c.checker == Checker::Liveness));
        let judged = run_with(&config(), facts.clone());
        assert_eq!(
            judged.status(),
            crate::harness::ledger::Status::HarnessCrash
        );
        // An anomaly seen before the crash still makes the run invalid.
        let judged = run_with(
            &config(),
            RunOutcome {
                invariant_violation: Some("two leaders in term 2".into()),
                ..facts
            },
        );
        assert_eq!(judged.status(), crate::harness::ledger::Status::Invalid);
    }

    #[test]
    fn a_run_stopped_at_a_violation_does_not_judge_what_it_never_reached() {
        let facts = RunOutcome {
            invariant_violation: Some("at 5 ms: two leaders in term 3".into()),
            stopped_early: true,
            agreement: Err("the run ended before replicas could be compared".into()),
            liveness: Err("the run ended before the liveness probe".into()),
            ..RunOutcome::default()
        };
        let v = judge(&config(), &facts);
        assert_eq!(v.overall, Verdict::Invalid);
        assert_eq!(v.caught_by, vec![Checker::Invariant]);
        assert!(!v
            .checks
            .iter()
            .any(|c| matches!(c.checker, Checker::Liveness | Checker::Agreement)));
        assert!(v.explain().contains("not checked"), "{}", v.explain());
    }

    #[test]
    fn op_spans_keep_unfinished_ops_open() {
        let h = vec![
            event(0, 0, EventType::Invoke, "write", json!(1)),
            event(1, 1, EventType::Invoke, "write", json!(2)),
            event(2, 0, EventType::Ok, "write", json!(1)),
            event(3, 1, EventType::Info, "write", json!(2)),
            event(4, 2, EventType::Invoke, "read", json!(null)),
        ];
        let spans = op_spans(&h);
        assert_eq!(spans.len(), 3);
        assert_eq!(
            spans[0],
            OpSpan {
                start_ns: 0,
                end_ns: Some(2_000_000)
            }
        );
        assert_eq!(spans[1].end_ns, None);
        assert_eq!(
            spans[2],
            OpSpan {
                start_ns: 4_000_000,
                end_ns: None
            }
        );
    }

    #[test]
    fn first_difference_finds_changes_and_truncation() {
        let a = vec![
            event(0, 0, EventType::Invoke, "write", json!(1)),
            event(1, 0, EventType::Ok, "write", json!(1)),
        ];
        let mut b = a.clone();
        assert!(first_difference(&a, &b).is_none());
        b[1].time += 1;
        assert_eq!(first_difference(&a, &b).unwrap().0, 1);
        let (i, x, y) = first_difference(&a, &a[..1]).unwrap();
        assert_eq!((i, x.is_some(), y.is_none()), (1, true, true));
        assert!(describe_event(None).contains("ended"));
    }

    #[test]
    fn capsules_carry_the_config_and_bugs() {
        let mut cfg = config();
        cfg.bugs = crate::bugs::Bugs::only(crate::bugs::Bug::NeverFsync);
        let facts = RunOutcome {
            history_hash: "h".into(),
            ..RunOutcome::default()
        };
        let judged = run_with(&cfg, facts);
        let c = capsule(&judged, "faultline run --seed 1");
        assert_eq!(c.bugs, vec!["never-fsync"]);
        let back: RunConfig = serde_json::from_value(c.config.clone()).unwrap();
        assert_eq!(back, cfg);
        let p = provisional_capsule(&cfg, "x");
        assert_eq!(p.verdicts.overall, Verdict::Unknown);
    }

    fn run_with(cfg: &RunConfig, facts: RunOutcome) -> Judged {
        Judged {
            config: cfg.clone(),
            verdicts: judge(cfg, &facts),
            linearizability: None,
            effectiveness: effectiveness(&facts),
            facts,
            wall: Duration::ZERO,
        }
    }
}
