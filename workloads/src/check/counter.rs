//! The counter checker: every read must lie between the sum of increments
//! certainly applied before it began and the sum of every increment that
//! might have been applied by the time it ended.
//!
//! An increment acknowledged before the read was invoked is certain. One
//! that failed is certainly not applied. Any other increment invoked before
//! the read completed (concurrent, or `info`) may or may not count, so it
//! widens the bounds by its delta in its own direction.

use std::collections::BTreeMap;

use faultline_histories::Event;
use serde::{Deserialize, Serialize};

use super::{AnomalyKind, Findings, Verdict};
use crate::history::{as_int, pair, HistoryError, OpRecord};

/// What the counter checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterReport {
    pub findings: Findings,
    /// Reads checked.
    pub reads: usize,
}

impl CounterReport {
    pub fn verdict(&self) -> Verdict {
        self.findings.verdict()
    }
}

/// Check a counter history (increments are `add`, reads are `read`).
pub fn check(history: &[Event]) -> Result<CounterReport, HistoryError> {
    let ops = pair(history)?;
    let mut by_key: BTreeMap<&str, Vec<&OpRecord>> = BTreeMap::new();
    for op in &ops {
        if let Some(k) = &op.key {
            by_key.entry(k).or_default().push(op);
        }
    }
    let mut report = CounterReport::default();
    for (key, ops) in by_key {
        let mut incs = Vec::new();
        for op in ops.iter().filter(|o| o.f == "add" && !o.is_fail()) {
            incs.push((as_int(&op.value, op.invoke_index, "an increment")?, op));
        }
        for read in ops.iter().filter(|o| o.f == "read") {
            let (Some(v), Some(ci), Some(cn)) =
                (read.ok_value(), read.complete_index, read.complete_ns)
            else {
                continue;
            };
            report.reads += 1;
            let value = if v.is_null() {
                0
            } else {
                as_int(v, ci, "a counter read")?
            };
            let (mut lower, mut upper) = (0i64, 0i64);
            for (d, inc) in &incs {
                let certain = inc.is_ok() && inc.complete_ns.is_some_and(|ns| ns < read.invoke_ns);
                if certain {
                    lower += d;
                    upper += d;
                } else if inc.invoke_ns < cn {
                    lower += d.min(&0);
                    upper += d.max(&0);
                }
            }
            if !(lower..=upper).contains(&value) {
                report.findings.push(AnomalyKind::OutOfBounds, Some(key), Some(value), vec![read.invoke_index, ci], format!(
                    "the read of counter {key:?} completing at event {ci} returned {value}, but the increments allow only {lower}..={upper} ({})",
                    if value < lower { "acknowledged increments are missing" } else { "more was added than was ever attempted" }
                ));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::H;
    use serde_json::{json, Value as Json};

    fn inc(h: &mut H, p: u64, d: i64) {
        h.op(p, "add", "c", json!(d), json!(d));
    }
    fn read(h: &mut H, p: u64, v: Json) {
        h.op(p, "read", "c", Json::Null, v);
    }

    #[test]
    fn reads_within_bounds_are_valid() {
        let mut h = H::default();
        read(&mut h, 0, Json::Null);
        inc(&mut h, 0, 2);
        h.invoke(1, "add", "c", json!(5))
            .info(1, "add", "c", json!(5));
        h.invoke(2, "add", "c", json!(7))
            .fail(2, "add", "c", json!(7));
        read(&mut h, 0, json!(2));
        read(&mut h, 0, json!(7));
        let r = check(&h.events).unwrap();
        assert_eq!(
            r.verdict(),
            Verdict::Valid,
            "{}",
            r.findings.explain("counter")
        );
        assert_eq!(r.reads, 3);
    }

    #[test]
    fn a_read_missing_an_acknowledged_increment_is_out_of_bounds() {
        let mut h = H::default();
        inc(&mut h, 0, 2);
        inc(&mut h, 0, 3);
        read(&mut h, 1, json!(2));
        let r = check(&h.events).unwrap();
        let a = &r.findings.anomalies[0];
        assert_eq!((a.kind, a.element), (AnomalyKind::OutOfBounds, Some(2)));
        assert!(
            a.explanation.contains("5..=5") && a.explanation.contains("missing"),
            "{}",
            a.explanation
        );
    }

    #[test]
    fn a_read_above_every_attempt_is_out_of_bounds() {
        let mut h = H::default();
        inc(&mut h, 0, 2);
        h.invoke(2, "add", "c", json!(4))
            .fail(2, "add", "c", json!(4));
        h.invoke(0, "add", "c", json!(1));
        read(&mut h, 1, json!(7));
        h.ok(0, "add", "c", json!(1));
        let r = check(&h.events).unwrap();
        let a = &r.findings.anomalies[0];
        assert!(
            a.explanation.contains("2..=3") && a.explanation.contains("than was ever attempted"),
            "{}",
            a.explanation
        );
    }

    #[test]
    fn a_concurrent_increment_may_or_may_not_count() {
        for seen in [1, 4] {
            let mut h = H::default();
            inc(&mut h, 0, 1);
            h.invoke(0, "add", "c", json!(3));
            read(&mut h, 1, json!(seen));
            h.ok(0, "add", "c", json!(3));
            assert_eq!(check(&h.events).unwrap().verdict(), Verdict::Valid);
        }
    }
}
