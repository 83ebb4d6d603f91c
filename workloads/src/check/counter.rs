//! The counter checker: every read must lie between the sum of increments
//! certainly applied before it began and the sum of every increment that
//! might have been applied by the time it ended.
//!
//! An increment acknowledged before the read was invoked is certain. One
//! that failed is certainly not applied. Any other increment invoked before
//! the read completed (concurrent, or `info`) may or may not count, so it
//! widens the bounds by its delta in its own direction.

use std::collections::BTreeMap;

use faultline_histories::ops::{pair, Operation};
use faultline_histories::Event;
use serde::{Deserialize, Serialize};

use super::{AnomalyKind, Findings, Verdict};
use crate::history::{as_int, HistoryError};

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

/// Prefix sums that give a read's bounds in O(log n).
struct Bounds {
    /// Acknowledged increments by completion time: (time, Σd, Σmin(0,d), Σmax(0,d)) so far.
    certain: Vec<(u64, i64, i64, i64)>,
    /// Increments that did not fail, by invocation time: (time, Σmin(0,d), Σmax(0,d)) so far.
    attempted: Vec<(u64, i64, i64)>,
}

impl Bounds {
    fn new(ops: &[&Operation]) -> Result<Bounds, HistoryError> {
        let mut certain = Vec::new();
        let mut attempted = Vec::new();
        for op in ops.iter().filter(|o| o.f == "add" && !o.is_fail()) {
            let d = as_int(&op.value, op.invoke_index, "an increment")?;
            attempted.push((op.invoke_ns, d));
            if let (true, Some(ns)) = (op.is_ok(), op.return_ns) {
                certain.push((ns, d));
            }
        }
        certain.sort_unstable();
        attempted.sort_unstable();
        let (mut s, mut lo, mut hi) = (0, 0, 0);
        let certain = certain
            .into_iter()
            .map(|(t, d)| {
                s += d;
                lo += d.min(0);
                hi += d.max(0);
                (t, s, lo, hi)
            })
            .collect();
        let (mut lo, mut hi) = (0, 0);
        let attempted = attempted
            .into_iter()
            .map(|(t, d)| {
                lo += d.min(0);
                hi += d.max(0);
                (t, lo, hi)
            })
            .collect();
        Ok(Bounds { certain, attempted })
    }

    /// Bounds for a read invoked at `invoke_ns` and completed at `complete_ns`.
    /// Every certain increment was also invoked before the read completed, so
    /// the uncertain ones are the attempted ones minus the certain ones.
    fn at(&self, invoke_ns: u64, complete_ns: u64) -> (i64, i64) {
        let c = self.certain.partition_point(|e| e.0 < invoke_ns);
        let (sum, c_lo, c_hi) = c.checked_sub(1).map_or((0, 0, 0), |i| {
            let e = self.certain[i];
            (e.1, e.2, e.3)
        });
        let a = self.attempted.partition_point(|e| e.0 < complete_ns);
        let (a_lo, a_hi) = a
            .checked_sub(1)
            .map_or((0, 0), |i| (self.attempted[i].1, self.attempted[i].2));
        (sum + a_lo - c_lo, sum + a_hi - c_hi)
    }
}

/// Check a counter history (increments are `add`, reads are `read`).
pub fn check(history: &[Event]) -> Result<CounterReport, HistoryError> {
    let ops = pair(history)?;
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in &ops {
        if let Some(k) = &op.key {
            by_key.entry(k).or_default().push(op);
        }
    }
    let mut report = CounterReport::default();
    for (key, ops) in by_key {
        let bounds = Bounds::new(&ops)?;
        for read in ops.iter().filter(|o| o.f == "read") {
            let (Some(v), Some(ci), Some(cn)) =
                (read.ok_value(), read.return_index, read.return_ns)
            else {
                continue;
            };
            report.reads += 1;
            let value = if v.is_null() {
                0
            } else {
                as_int(v, ci, "a counter read")?
            };
            let (lower, upper) = bounds.at(read.invoke_ns, cn);
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
    use faultline_histories::ops::Outcome;
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

    #[test]
    fn prefix_sum_bounds_match_the_direct_definition() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let mut recs = Vec::new();
            for i in 0..20u64 {
                let invoke_ns = rng.random_range(0..100);
                let complete_ns = invoke_ns + rng.random_range(0..30);
                let outcome = match rng.random_range(0..3) {
                    0 => Outcome::Ok { value: json!(0) },
                    1 => Outcome::Fail { error: None },
                    _ => Outcome::Info,
                };
                let info = outcome == Outcome::Info;
                recs.push(Operation {
                    process: i,
                    f: "add".into(),
                    key: Some("c".into()),
                    value: json!(rng.random_range(-3..=5)),
                    outcome,
                    invoke_index: i,
                    invoke_ns,
                    return_index: (!info).then_some(i),
                    return_ns: (!info).then_some(complete_ns),
                });
            }
            let refs: Vec<&Operation> = recs.iter().collect();
            let bounds = Bounds::new(&refs).unwrap();
            for _ in 0..20 {
                let i = rng.random_range(0..130);
                let c = i + rng.random_range(0..30);
                let (mut lo, mut hi) = (0, 0);
                for r in recs.iter().filter(|r| !r.is_fail()) {
                    let d = r.value.as_i64().unwrap();
                    if r.is_ok() && r.return_ns.unwrap() < i {
                        lo += d;
                        hi += d;
                    } else if r.invoke_ns < c {
                        lo += d.min(0);
                        hi += d.max(0);
                    }
                }
                assert_eq!(bounds.at(i, c), (lo, hi));
            }
        }
    }
}
