//! The bank checker: every read of all accounts must sum to the bank's
//! total and show no negative balance. A wrong total means a transfer was
//! seen half-applied (or money was created or destroyed): a non-atomic
//! transaction. Whether the whole-bank reads are linearizable is checked
//! separately with [`crate::model::bank::Bank`].

use std::collections::BTreeMap;

use faultline_histories::ops::{pair, Operation};
use faultline_histories::Event;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{AnomalyKind, Findings, Verdict};
use crate::history::HistoryError;

/// What the bank checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankReport {
    pub findings: Findings,
    /// Reads of all accounts checked.
    pub reads: usize,
}

impl BankReport {
    pub fn verdict(&self) -> Verdict {
        self.findings.verdict()
    }
}

/// A transaction's micro-ops as `(f, key, value)`.
fn micro_ops(v: &Json, index: u64) -> Result<Vec<(String, String, Option<i64>)>, HistoryError> {
    let bad = || HistoryError::BadValue {
        index,
        why: format!("a txn value should be a list of [f, key, value] triples, got {v}"),
    };
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|m| {
            let m = m.as_array().filter(|m| m.len() == 3).ok_or_else(bad)?;
            let f = m[0].as_str().ok_or_else(bad)?.to_string();
            let key = m[1].as_str().ok_or_else(bad)?.to_string();
            let value = if m[2].is_null() {
                None
            } else {
                Some(m[2].as_i64().ok_or_else(bad)?)
            };
            Ok((f, key, value))
        })
        .collect()
}

fn all(ops: &[(String, String, Option<i64>)], f: &str) -> bool {
    !ops.is_empty() && ops.iter().all(|(g, _, _)| g == f)
}

/// Check a bank history over `accounts` whose balances must sum to `total`.
pub fn check(
    history: &[Event],
    accounts: &[String],
    total: i64,
) -> Result<BankReport, HistoryError> {
    let ops = pair(history)?;
    let txns: Vec<&Operation> = ops.iter().filter(|o| o.f == "txn").collect();
    // When the opening balances were first acknowledged.
    let mut opened: Option<(u64, u64)> = None;
    for t in &txns {
        if all(&micro_ops(&t.value, t.invoke_index)?, "w") {
            if let (true, Some(i), Some(ns)) = (t.is_ok(), t.return_index, t.return_ns) {
                if opened.is_none_or(|(_, o)| ns < o) {
                    opened = Some((i, ns));
                }
            }
        }
    }
    let mut report = BankReport::default();
    for t in &txns {
        let (Some(v), Some(ci)) = (t.ok_value(), t.return_index) else {
            continue;
        };
        let micro = micro_ops(v, ci)?;
        if !all(&micro, "r") {
            continue;
        }
        report.reads += 1;
        check_read(
            &micro,
            ci,
            t.invoke_ns,
            accounts,
            total,
            opened,
            &mut report.findings,
        );
    }
    if opened.is_none() && report.reads > 0 {
        report
            .findings
            .undecided
            .push("the opening balances were never acknowledged".into());
    }
    Ok(report)
}

fn check_read(
    micro: &[(String, String, Option<i64>)],
    at: u64,
    invoke_ns: u64,
    accounts: &[String],
    total: i64,
    opened: Option<(u64, u64)>,
    out: &mut Findings,
) {
    let balances: BTreeMap<&str, Option<i64>> =
        micro.iter().map(|(_, k, v)| (k.as_str(), *v)).collect();
    if let Some(missing) = accounts.iter().find(|a| !balances.contains_key(a.as_str())) {
        out.undecided.push(format!(
            "the read completing at event {at} does not read account {missing:?}"
        ));
        return;
    }
    let shown = || {
        accounts
            .iter()
            .map(|a| {
                format!(
                    "{a}={}",
                    balances[a.as_str()].map_or("nil".into(), |b| b.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    if accounts.iter().all(|a| balances[a.as_str()].is_none()) {
        // A read from before the bank opened sees nothing, and that is fine.
        if let Some((oi, ons)) = opened.filter(|(_, ns)| *ns < invoke_ns) {
            out.push(AnomalyKind::Lost, None, None, vec![oi, at], format!(
                "the read completing at event {at} sees no accounts at all, though the opening balances were acknowledged at event {oi} (at {ons} ns)"
            ));
        }
        return;
    }
    for a in accounts {
        if let Some(b) = balances[a.as_str()].filter(|b| *b < 0) {
            out.push(AnomalyKind::Negative, Some(a), Some(b), vec![at], format!(
                "the read completing at event {at} shows account {a:?} at {b}; transfers must never overdraw ({})",
                shown()
            ));
        }
    }
    let sum: i64 = accounts
        .iter()
        .map(|a| balances[a.as_str()].unwrap_or(0))
        .sum();
    if sum != total {
        out.push(AnomalyKind::NonAtomic, None, Some(sum), vec![at], format!(
            "the read completing at event {at} sums to {sum}, not {total}: part of a transfer is visible, or money was made or lost ({})",
            shown()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::H;
    use serde_json::json;

    fn accounts() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    fn open(h: &mut H) {
        let w = json!([["w", "a", 10], ["w", "b", 10]]);
        h.op(0, "txn", "bank", w.clone(), w);
    }

    fn read(h: &mut H, a: Json, b: Json) {
        h.op(
            1,
            "txn",
            "bank",
            json!([["r", "a", null], ["r", "b", null]]),
            json!([["r", "a", a], ["r", "b", b]]),
        );
    }

    fn transfer(h: &mut H, amount: i64) {
        let t = json!([["add", "a", -amount], ["add", "b", amount]]);
        h.op(2, "txn", "bank", t.clone(), t);
    }

    #[test]
    fn consistent_reads_are_valid() {
        let mut h = H::default();
        read(&mut h, Json::Null, Json::Null);
        open(&mut h);
        transfer(&mut h, 3);
        read(&mut h, json!(7), json!(13));
        let r = check(&h.events, &accounts(), 20).unwrap();
        assert_eq!(
            r.verdict(),
            Verdict::Valid,
            "{}",
            r.findings.explain("bank")
        );
        assert_eq!(r.reads, 2);
    }

    #[test]
    fn a_half_applied_transfer_is_non_atomic() {
        let mut h = H::default();
        open(&mut h);
        transfer(&mut h, 3);
        read(&mut h, json!(7), json!(10));
        let r = check(&h.events, &accounts(), 20).unwrap();
        assert_eq!(r.findings.anomalies.len(), 1);
        let a = &r.findings.anomalies[0];
        assert_eq!((a.kind, a.element), (AnomalyKind::NonAtomic, Some(17)));
        assert!(a.explanation.contains("a=7 b=10"), "{}", a.explanation);
    }

    #[test]
    fn a_negative_balance_is_named() {
        let mut h = H::default();
        open(&mut h);
        read(&mut h, json!(-5), json!(25));
        let r = check(&h.events, &accounts(), 20).unwrap();
        let kinds: Vec<AnomalyKind> = r.findings.anomalies.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec![AnomalyKind::Negative]);
        assert_eq!(r.findings.anomalies[0].key.as_deref(), Some("a"));
    }

    #[test]
    fn an_empty_bank_after_opening_is_lost() {
        let mut h = H::default();
        open(&mut h);
        read(&mut h, Json::Null, Json::Null);
        let r = check(&h.events, &accounts(), 20).unwrap();
        assert_eq!(r.findings.anomalies[0].kind, AnomalyKind::Lost);
    }

    #[test]
    fn bad_txn_values_are_errors() {
        let mut h = H::default();
        h.op(0, "txn", "bank", json!([["r", "a"]]), json!([]));
        assert!(check(&h.events, &accounts(), 20)
            .unwrap_err()
            .to_string()
            .contains("triples"));
    }
}
