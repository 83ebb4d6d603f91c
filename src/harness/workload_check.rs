//! The workload's own checker (from `faultline-workloads`) as one verdict.

use faultline_histories::{Event, EventType};
use faultline_workloads::check::{bank, counter, list_append, set};
use faultline_workloads::history::HistoryError;
use faultline_workloads::{Findings, Workload};
use serde_json::json;

use super::verdict::{CheckResult, Checker};

/// The bank's accounts and the total every read must show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankParams {
    pub accounts: Vec<String>,
    pub total: i64,
}

impl BankParams {
    /// Read them off the history itself: the opening transaction is the
    /// first one that only writes, and it writes every account's balance.
    pub fn from_history(history: &[Event]) -> Option<BankParams> {
        let opening = history
            .iter()
            .find(|e| e.kind == EventType::Invoke && e.f == "txn" && is_all_writes(&e.value))?;
        let mut accounts = Vec::new();
        let mut total = 0i64;
        for m in opening.value.as_array()? {
            let m = m.as_array()?;
            accounts.push(m.get(1)?.as_str()?.to_string());
            total = total.checked_add(m.get(2)?.as_i64()?)?;
        }
        Some(BankParams { accounts, total })
    }
}

fn is_all_writes(v: &serde_json::Value) -> bool {
    v.as_array().is_some_and(|ms| {
        !ms.is_empty()
            && ms
                .iter()
                .all(|m| m.get(0).and_then(|f| f.as_str()) == Some("w"))
    })
}

/// Run the workload's checker over `history`. `None` for workloads judged
/// by linearizability alone (register, kv). A history whose values do not
/// have the workload's shapes is an error: it is bad input, not an anomaly.
pub fn check(
    workload: Workload,
    history: &[Event],
    bank_params: Option<&BankParams>,
) -> Result<Option<CheckResult>, HistoryError> {
    let name = workload.name();
    let (findings, details): (Findings, serde_json::Value) = match workload {
        Workload::Register | Workload::Kv => return Ok(None),
        Workload::ListAppend => {
            let r = list_append::check(history)?;
            let d = json!({"keys": r.keys, "acknowledged": r.acknowledged});
            (r.findings, d)
        }
        Workload::Set => {
            let r = set::check(history)?;
            let d = json!({"elements": serde_json::to_value(r.counts()).unwrap_or_default()});
            (r.findings, d)
        }
        Workload::Bank => {
            let derived;
            let params = match bank_params {
                Some(p) => p,
                None => match BankParams::from_history(history) {
                    Some(p) => {
                        derived = p;
                        &derived
                    }
                    None => {
                        let mut f = Findings::default();
                        f.undecided.push(
                            "the history has no opening transaction to learn the accounts from"
                                .into(),
                        );
                        return Ok(Some(result(name, f, json!({}))));
                    }
                },
            };
            let r = bank::check(history, &params.accounts, params.total)?;
            let d = json!({"reads": r.reads, "total": params.total});
            (r.findings, d)
        }
        Workload::Counter => {
            let r = counter::check(history)?;
            let d = json!({"reads": r.reads});
            (r.findings, d)
        }
    };
    Ok(Some(result(name, findings, details)))
}

fn result(name: &str, findings: Findings, mut details: serde_json::Value) -> CheckResult {
    let verdict = findings.verdict().into();
    let explanation = findings.explain(name);
    if let Some(obj) = details.as_object_mut() {
        obj.insert(
            "anomalies".into(),
            serde_json::to_value(&findings.anomalies).unwrap_or_default(),
        );
    }
    CheckResult::new(Checker::Workload, verdict, explanation).with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::verdict::Verdict;
    use faultline_histories::Process;

    fn ev(
        index: u64,
        process: u64,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: serde_json::Value,
    ) -> Event {
        Event {
            index,
            time: index * 10,
            process: Process::Client(process),
            kind,
            f: f.into(),
            key: key.map(str::to_string),
            value,
            error: None,
        }
    }

    fn opening() -> Vec<Event> {
        let v = json!([["w", "acct0", 50], ["w", "acct1", 50]]);
        vec![
            ev(0, 0, EventType::Invoke, "txn", None, v.clone()),
            ev(1, 0, EventType::Ok, "txn", None, v),
        ]
    }

    #[test]
    fn bank_params_come_from_the_opening_transaction() {
        let p = BankParams::from_history(&opening()).unwrap();
        assert_eq!(p.accounts, vec!["acct0", "acct1"]);
        assert_eq!(p.total, 100);
        assert_eq!(BankParams::from_history(&[]), None);
    }

    #[test]
    fn a_bank_read_with_the_wrong_total_is_invalid() {
        let mut h = opening();
        h.push(ev(
            2,
            1,
            EventType::Invoke,
            "txn",
            None,
            json!([["r", "acct0", null], ["r", "acct1", null]]),
        ));
        h.push(ev(
            3,
            1,
            EventType::Ok,
            "txn",
            None,
            json!([["r", "acct0", 50], ["r", "acct1", 49]]),
        ));
        let r = check(Workload::Bank, &h, None).unwrap().unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.explanation);
        assert_eq!(r.checker, Checker::Workload);

        h[3].value = json!([["r", "acct0", 60], ["r", "acct1", 40]]);
        let r = check(Workload::Bank, &h, None).unwrap().unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.explanation);
    }

    #[test]
    fn a_lost_append_is_invalid_and_register_has_no_workload_checker() {
        let h = vec![
            ev(0, 0, EventType::Invoke, "append", Some("k"), json!(1)),
            ev(1, 0, EventType::Ok, "append", Some("k"), json!(1)),
            ev(2, 1, EventType::Invoke, "read", Some("k"), json!(null)),
            ev(3, 1, EventType::Ok, "read", Some("k"), json!([])),
        ];
        let r = check(Workload::ListAppend, &h, None).unwrap().unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.explanation);
        assert!(r.details["anomalies"]
            .as_array()
            .is_some_and(|a| !a.is_empty()));
        assert!(check(Workload::Register, &h, None).unwrap().is_none());
    }

    #[test]
    fn malformed_values_are_errors() {
        let h = vec![
            ev(0, 0, EventType::Invoke, "add", Some("c"), json!("one")),
            ev(1, 0, EventType::Ok, "add", Some("c"), json!("one")),
        ];
        assert!(check(Workload::Counter, &h, None).is_err());
    }
}
