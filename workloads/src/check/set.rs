//! The set checker, after Jepsen's set-full: adds of unique elements and
//! reads of the whole set, judged per element against the final read taken
//! after the heal.
//!
//! Per element: when it first became visible, whether it stayed visible,
//! and an outcome. An acknowledged add missing from the final read is
//! *lost*; an element nobody added (or whose add failed) is a *phantom*;
//! one shown twice is *duplicated*; one present at the end but missing from
//! a read that began after it was acknowledged or seen is *stale*. An add
//! that ended in `info` may or may not be present, so its absence is not an
//! anomaly (outcome `never-read`).

use std::collections::{BTreeMap, BTreeSet};

use faultline_histories::ops::{pair, Outcome};
use faultline_histories::Event;
use serde::{Deserialize, Serialize};

use super::{AnomalyKind, Findings, Verdict};
use crate::history::{as_int, as_list, HistoryError};

/// How an element's add ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddOutcome {
    Ok,
    Fail,
    Info,
    /// No add of this element is in the history.
    Never,
}

/// Where an element ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElementOutcome {
    /// Present from its first appearance on.
    Stable,
    /// Present at the end, but some read missed it after it was known.
    Stale,
    /// Acknowledged or once visible, and absent from the final read.
    Lost,
    /// Its add was indeterminate and it is absent: allowed.
    NeverRead,
    /// Visible though never (successfully or possibly) added.
    Phantom,
}

/// Jepsen set-full's per-element record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementReport {
    pub key: String,
    pub element: i64,
    pub add: AddOutcome,
    /// Completion time of the first read that showed it.
    pub first_visible_ns: Option<u64>,
    /// Visible in every read that began after it first became visible.
    pub stayed: bool,
    pub duplicated: bool,
    pub outcome: ElementOutcome,
}

/// What the set checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetReport {
    pub findings: Findings,
    pub elements: Vec<ElementReport>,
}

impl SetReport {
    pub fn verdict(&self) -> Verdict {
        self.findings.verdict()
    }

    /// How many elements ended each way.
    pub fn counts(&self) -> BTreeMap<ElementOutcome, usize> {
        let mut m = BTreeMap::new();
        for e in &self.elements {
            *m.entry(e.outcome).or_insert(0) += 1;
        }
        m
    }
}

struct Add {
    outcome: AddOutcome,
    invoke_index: u64,
    ok: Option<(u64, u64)>,
}

struct Read {
    set: BTreeSet<i64>,
    dups: BTreeSet<i64>,
    invoke_index: u64,
    invoke_ns: u64,
    complete_index: u64,
    complete_ns: u64,
}

/// Check a set history (adds are `append`, reads are `read` of the whole set).
pub fn check(history: &[Event]) -> Result<SetReport, HistoryError> {
    let ops = pair(history)?;
    let mut adds: BTreeMap<String, BTreeMap<i64, Add>> = BTreeMap::new();
    let mut reads: BTreeMap<String, Vec<Read>> = BTreeMap::new();
    for op in &ops {
        let Some(key) = &op.key else { continue };
        match op.f.as_str() {
            "append" | "add" => {
                let element = as_int(&op.value, op.invoke_index, "an added element")?;
                let (outcome, ok) = match op.outcome {
                    Outcome::Ok { .. } => (AddOutcome::Ok, op.return_index.zip(op.return_ns)),
                    Outcome::Fail { .. } => (AddOutcome::Fail, None),
                    Outcome::Info => (AddOutcome::Info, None),
                };
                adds.entry(key.clone())
                    .or_default()
                    .entry(element)
                    .or_insert(Add {
                        outcome,
                        invoke_index: op.invoke_index,
                        ok,
                    });
            }
            "read" => {
                if let (Some(v), Some(ci), Some(cn)) =
                    (op.ok_value(), op.return_index, op.return_ns)
                {
                    let list = as_list(v, ci)?;
                    let mut set = BTreeSet::new();
                    let dups = list.iter().copied().filter(|e| !set.insert(*e)).collect();
                    reads.entry(key.clone()).or_default().push(Read {
                        set,
                        dups,
                        invoke_index: op.invoke_index,
                        invoke_ns: op.invoke_ns,
                        complete_index: ci,
                        complete_ns: cn,
                    });
                }
            }
            _ => {}
        }
    }
    let mut report = SetReport::default();
    let keys: BTreeSet<String> = adds.keys().chain(reads.keys()).cloned().collect();
    let empty_adds = BTreeMap::new();
    for key in keys {
        let adds = adds.get(&key).unwrap_or(&empty_adds);
        let reads = reads.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        check_key(&key, adds, reads, &mut report);
    }
    Ok(report)
}

fn check_key(key: &str, adds: &BTreeMap<i64, Add>, reads: &[Read], report: &mut SetReport) {
    let k = Some(key);
    let out = &mut report.findings;
    let Some(fin) = reads.iter().max_by_key(|r| (r.invoke_ns, r.invoke_index)) else {
        if adds.values().any(|a| a.outcome == AddOutcome::Ok) {
            out.undecided.push(format!(
                "set {key:?} was never read, so lost adds cannot be judged"
            ));
        }
        return;
    };
    let elements: BTreeSet<i64> = adds
        .keys()
        .copied()
        .chain(reads.iter().flat_map(|r| r.set.iter().copied()))
        .collect();
    for e in elements {
        let add = adds.get(&e);
        let add_outcome = add.map_or(AddOutcome::Never, |a| a.outcome);
        let first = reads
            .iter()
            .filter(|r| r.set.contains(&e))
            .min_by_key(|r| (r.complete_ns, r.complete_index));
        let first_visible_ns = first.map(|r| r.complete_ns);
        // The moment the element was certainly in the set: acknowledged or seen.
        let known = [
            add.and_then(|a| a.ok),
            first.map(|r| (r.complete_index, r.complete_ns)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(_, ns)| *ns);
        let missed_after = known.and_then(|(_, ns)| {
            reads
                .iter()
                .filter(|r| r.invoke_ns > ns && !r.set.contains(&e))
                .min_by_key(|r| r.invoke_index)
        });
        let stayed = first_visible_ns.is_some_and(|seen| {
            reads
                .iter()
                .all(|r| r.invoke_ns <= seen || r.set.contains(&e))
        });
        let duplicated = reads.iter().find(|r| r.dups.contains(&e));
        let in_final = fin.set.contains(&e);
        let outcome =
            if matches!(add_outcome, AddOutcome::Fail | AddOutcome::Never) && first.is_some() {
                ElementOutcome::Phantom
            } else if in_final {
                if missed_after.is_some() {
                    ElementOutcome::Stale
                } else {
                    ElementOutcome::Stable
                }
            } else if known.is_some_and(|(_, ns)| ns < fin.invoke_ns) {
                ElementOutcome::Lost
            } else {
                if add_outcome == AddOutcome::Ok {
                    out.undecided.push(format!(
                        "add of {e} to set {key:?} was acknowledged after the final read began"
                    ));
                }
                ElementOutcome::NeverRead
            };
        match outcome {
            ElementOutcome::Phantom => {
                let why = if add_outcome == AddOutcome::Fail {
                    "its add failed"
                } else {
                    "nobody added it"
                };
                let r = first.expect("phantoms were seen");
                out.push(
                    AnomalyKind::Phantom,
                    k,
                    Some(e),
                    vec![r.complete_index],
                    format!(
                        "set {key:?}: the read completing at event {} shows {e}, but {why}",
                        r.complete_index
                    ),
                );
            }
            ElementOutcome::Lost => {
                let (at, _) = known.expect("lost elements were known");
                let how = if add.and_then(|a| a.ok).is_some_and(|(i, _)| i == at) {
                    "acknowledged"
                } else {
                    "visible"
                };
                out.push(AnomalyKind::Lost, k, Some(e), vec![at, fin.complete_index], format!(
                    "set {key:?}: {e} was {how} at event {at} but is missing from the final read completing at event {}",
                    fin.complete_index
                ));
            }
            ElementOutcome::Stale => {
                let r = missed_after.expect("stale elements were missed");
                let (at, _) = known.expect("stale elements were known");
                out.push(AnomalyKind::Stale, k, Some(e), vec![at, r.invoke_index, r.complete_index], format!(
                    "set {key:?}: the read invoked at event {} misses {e}, which was already in the set at event {at}; the final read has it",
                    r.invoke_index
                ));
            }
            _ => {}
        }
        if let Some(r) = duplicated {
            let mut events = vec![r.complete_index];
            events.extend(add.map(|a| a.invoke_index));
            out.push(AnomalyKind::Duplicated, k, Some(e), events, format!(
                "set {key:?}: the read completing at event {} shows {e} more than once; it was added once",
                r.complete_index
            ));
        }
        report.elements.push(ElementReport {
            key: key.to_string(),
            element: e,
            add: add_outcome,
            first_visible_ns,
            stayed,
            duplicated: duplicated.is_some(),
            outcome,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::H;
    use serde_json::{json, Value as Json};

    fn add(h: &mut H, p: u64, e: i64) {
        h.op(p, "append", "s", json!(e), json!(e));
    }
    fn read(h: &mut H, p: u64, list: Json) {
        h.op(p, "read", "s", Json::Null, list);
    }
    fn kinds(r: &SetReport) -> Vec<AnomalyKind> {
        r.findings.anomalies.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn acknowledged_and_indeterminate_adds_are_fine() {
        let mut h = H::default();
        add(&mut h, 0, 1);
        read(&mut h, 1, json!([1]));
        h.invoke(0, "append", "s", json!(2))
            .info(0, "append", "s", json!(2));
        h.invoke(2, "append", "s", json!(3))
            .info(2, "append", "s", json!(3));
        read(&mut h, 1, json!([3, 1]));
        let r = check(&h.events).unwrap();
        assert_eq!(r.verdict(), Verdict::Valid, "{}", r.findings.explain("set"));
        let by: BTreeMap<i64, &ElementReport> = r.elements.iter().map(|e| (e.element, e)).collect();
        assert_eq!(by[&1].outcome, ElementOutcome::Stable);
        assert_eq!(by[&1].first_visible_ns, Some(30));
        assert!(by[&1].stayed);
        assert_eq!(by[&2].outcome, ElementOutcome::NeverRead);
        assert_eq!(by[&3].outcome, ElementOutcome::Stable);
        assert_eq!(r.counts()[&ElementOutcome::Stable], 2);
    }

    #[test]
    fn lost_add_is_named() {
        let mut h = H::default();
        add(&mut h, 0, 1);
        add(&mut h, 0, 2);
        read(&mut h, 1, json!([2]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Lost]);
        assert_eq!(r.findings.anomalies[0].element, Some(1));
        assert!(r.findings.anomalies[0].explanation.contains("acknowledged"));
    }

    #[test]
    fn visible_then_gone_is_lost_and_did_not_stay() {
        let mut h = H::default();
        h.invoke(0, "append", "s", json!(5))
            .info(0, "append", "s", json!(5));
        read(&mut h, 1, json!([5]));
        read(&mut h, 1, json!([]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Lost]);
        assert!(!r.elements[0].stayed);
        assert!(r.findings.anomalies[0].explanation.contains("visible"));
    }

    #[test]
    fn phantom_elements_are_named() {
        let mut h = H::default();
        h.invoke(0, "append", "s", json!(1))
            .fail(0, "append", "s", json!(1));
        read(&mut h, 1, json!([1, 9]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Phantom, AnomalyKind::Phantom]);
        assert!(r.findings.anomalies[0].explanation.contains("failed"));
        assert!(r.findings.anomalies[1].explanation.contains("nobody"));
    }

    #[test]
    fn duplicated_elements_are_named() {
        let mut h = H::default();
        add(&mut h, 0, 1);
        read(&mut h, 1, json!([1, 1]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Duplicated]);
        assert!(r.elements[0].duplicated);
    }

    #[test]
    fn a_read_that_misses_a_known_element_is_stale() {
        let mut h = H::default();
        add(&mut h, 0, 1);
        read(&mut h, 1, json!([]));
        read(&mut h, 1, json!([1]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Stale]);
        assert_eq!(r.elements[0].outcome, ElementOutcome::Stale);
        // Once it first showed, it never went away again.
        assert!(r.elements[0].stayed);
    }

    #[test]
    fn no_final_read_is_undecided() {
        let mut h = H::default();
        add(&mut h, 0, 1);
        assert_eq!(check(&h.events).unwrap().verdict(), Verdict::Unknown);
    }
}
