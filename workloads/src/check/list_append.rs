//! The list-append checker: per key, duplicated elements, lost
//! acknowledged appends, stale reads, phantom elements, and elements that
//! appear out of order, each named.
//!
//! A list's reads must all be prefixes of one another (each shows the
//! order of every append before it); an append acknowledged before another
//! was invoked must come first; an acknowledged append must be in the final
//! read. Whether the whole key history is linearizable is the job of the
//! search in `faultline-histories`; this names the elements involved.

use std::collections::{BTreeMap, BTreeSet};

use faultline_histories::ops::{pair, Operation, Outcome};
use faultline_histories::Event;
use serde::{Deserialize, Serialize};

use super::{AnomalyKind, Findings, Verdict};
use crate::history::{as_int, as_list, HistoryError};

/// What the list-append checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAppendReport {
    pub findings: Findings,
    /// Keys checked.
    pub keys: usize,
    /// Appends acknowledged, over all keys.
    pub acknowledged: usize,
}

impl ListAppendReport {
    pub fn verdict(&self) -> Verdict {
        self.findings.verdict()
    }
}

struct Append {
    element: i64,
    invoke_index: u64,
    invoke_ns: u64,
    ok: Option<(u64, u64)>,
    failed: bool,
}

struct Read {
    list: Vec<i64>,
    invoke_index: u64,
    complete_index: u64,
    invoke_ns: u64,
    complete_ns: u64,
}

#[derive(Default)]
struct Key {
    appends: BTreeMap<i64, Append>,
    reads: Vec<Read>,
}

fn collect(ops: &[Operation]) -> Result<BTreeMap<String, Key>, HistoryError> {
    let mut keys: BTreeMap<String, Key> = BTreeMap::new();
    for op in ops {
        let Some(key) = &op.key else { continue };
        match op.f.as_str() {
            "append" => {
                let element = as_int(&op.value, op.invoke_index, "an appended element")?;
                let ok = match op.outcome {
                    Outcome::Ok { .. } => op.return_index.zip(op.return_ns),
                    _ => None,
                };
                keys.entry(key.clone())
                    .or_default()
                    .appends
                    .entry(element)
                    .or_insert(Append {
                        element,
                        invoke_index: op.invoke_index,
                        invoke_ns: op.invoke_ns,
                        ok,
                        failed: op.is_fail(),
                    });
            }
            "read" => {
                if let (Some(v), Some(ci), Some(cn)) =
                    (op.ok_value(), op.return_index, op.return_ns)
                {
                    let list = as_list(v, ci)?;
                    keys.entry(key.clone()).or_default().reads.push(Read {
                        list,
                        invoke_index: op.invoke_index,
                        complete_index: ci,
                        invoke_ns: op.invoke_ns,
                        complete_ns: cn,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(keys)
}

/// Check a list-append history.
pub fn check(history: &[Event]) -> Result<ListAppendReport, HistoryError> {
    let ops = pair(history)?;
    let keys = collect(&ops)?;
    let mut report = ListAppendReport {
        keys: keys.len(),
        ..Default::default()
    };
    let owner: BTreeMap<i64, &str> = keys
        .iter()
        .flat_map(|(k, d)| d.appends.keys().map(move |e| (*e, k.as_str())))
        .collect();
    for (key, data) in &keys {
        report.acknowledged += data.appends.values().filter(|a| a.ok.is_some()).count();
        check_key(key, data, &owner, &mut report.findings);
    }
    Ok(report)
}

fn check_key(key: &str, d: &Key, owner: &BTreeMap<i64, &str>, out: &mut Findings) {
    let k = Some(key);
    // Duplicates and phantoms, each reported once per element.
    let mut duplicated = BTreeSet::new();
    let mut phantom = BTreeSet::new();
    for r in &d.reads {
        let mut seen = BTreeSet::new();
        for &e in &r.list {
            if !seen.insert(e) && duplicated.insert(e) {
                let times = r.list.iter().filter(|x| **x == e).count();
                let mut events = vec![r.complete_index];
                events.extend(d.appends.get(&e).map(|a| a.invoke_index));
                out.push(AnomalyKind::Duplicated, k, Some(e), events, format!(
                    "element {e} appears {times} times in the read of key {key:?} completing at event {}; it was appended once, so an append was applied more than once",
                    r.complete_index
                ));
            }
            let known = d.appends.get(&e).filter(|a| !a.failed);
            if known.is_none() && phantom.insert(e) {
                let why = match (d.appends.get(&e), owner.get(&e)) {
                    (Some(_), _) => {
                        "its append failed, so it must never become visible".to_string()
                    }
                    (None, Some(other)) => {
                        format!("it was appended to key {other:?}, not this one")
                    }
                    (None, None) => "no client ever appended it".to_string(),
                };
                out.push(
                    AnomalyKind::Phantom,
                    k,
                    Some(e),
                    vec![r.complete_index],
                    format!(
                    "the read of key {key:?} completing at event {} shows element {e}, but {why}",
                    r.complete_index
                ),
                );
            }
        }
    }

    let sets: Vec<BTreeSet<i64>> = d
        .reads
        .iter()
        .map(|r| r.list.iter().copied().collect())
        .collect();
    let final_read = d
        .reads
        .iter()
        .enumerate()
        .max_by_key(|(_, r)| (r.invoke_ns, r.invoke_index))
        .map(|(i, _)| i);

    // Lost: acknowledged (or once visible) and absent from the final read.
    let mut lost = BTreeSet::new();
    match final_read {
        None => {
            if d.appends.values().any(|a| a.ok.is_some()) {
                out.undecided.push(format!(
                    "key {key:?} has acknowledged appends but no successful read, so lost appends cannot be judged"
                ));
            }
        }
        Some(fi) => {
            let f = &d.reads[fi];
            for a in d.appends.values() {
                if sets[fi].contains(&a.element) {
                    continue;
                }
                if let Some((ok_index, ok_ns)) = a.ok {
                    if ok_ns < f.invoke_ns {
                        lost.insert(a.element);
                        out.push(AnomalyKind::Lost, k, Some(a.element), vec![a.invoke_index, ok_index, f.complete_index], format!(
                            "append of {} to key {key:?} was acknowledged at event {ok_index} but is missing from the final read completing at event {}",
                            a.element, f.complete_index
                        ));
                        continue;
                    }
                    out.undecided.push(format!(
                        "append of {} to key {key:?} was acknowledged after the last read of the key began",
                        a.element
                    ));
                }
                if let Some(ri) =
                    (0..d.reads.len()).find(|&ri| ri != fi && sets[ri].contains(&a.element))
                {
                    lost.insert(a.element);
                    out.push(AnomalyKind::Lost, k, Some(a.element), vec![d.reads[ri].complete_index, f.complete_index], format!(
                        "element {} of key {key:?} was visible in the read completing at event {} but is missing from the final read completing at event {}",
                        a.element, d.reads[ri].complete_index, f.complete_index
                    ));
                }
            }
        }
    }

    // Stale: a read misses an element that was acknowledged, or seen by a
    // finished read, before it began, though the final read has it.
    let first_seen: BTreeMap<i64, (u64, u64)> = {
        let mut m: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for r in &d.reads {
            for &e in &r.list {
                let cur = m.entry(e).or_insert((r.complete_ns, r.complete_index));
                if r.complete_ns < cur.0 {
                    *cur = (r.complete_ns, r.complete_index);
                }
            }
        }
        m
    };
    for (ri, r) in d.reads.iter().enumerate() {
        let missed = d
            .appends
            .values()
            .filter(|a| !lost.contains(&a.element) && !sets[ri].contains(&a.element))
            .filter_map(|a| {
                let acked =
                    a.ok.filter(|(_, ns)| *ns < r.invoke_ns)
                        .map(|(i, _)| (i, "acknowledged"));
                let seen = first_seen
                    .get(&a.element)
                    .filter(|(ns, _)| *ns < r.invoke_ns)
                    .map(|(_, i)| (*i, "seen by a read"));
                acked.or(seen).map(|(i, how)| (a.element, i, how))
            })
            .min_by_key(|(_, i, _)| *i);
        if let Some((e, at, how)) = missed {
            out.push(AnomalyKind::Stale, k, Some(e), vec![at, r.invoke_index, r.complete_index], format!(
                "the read of key {key:?} invoked at event {} misses element {e}, which was {how} at event {at} before that read began",
                r.invoke_index
            ));
        }
    }

    // Out of order, against the longest read.
    let Some(longest) = d
        .reads
        .iter()
        .max_by_key(|r| (r.list.len(), std::cmp::Reverse(r.invoke_index)))
    else {
        return;
    };
    for r in &d.reads {
        if let Some(i) = (0..r.list.len()).find(|&i| longest.list.get(i) != Some(&r.list[i])) {
            let there = longest
                .list
                .get(i)
                .map_or("nothing".to_string(), |x| format!("element {x}"));
            out.push(AnomalyKind::OutOfOrder, k, Some(r.list[i]), vec![r.complete_index, longest.complete_index], format!(
                "the read of key {key:?} completing at event {} has element {} at position {i}, where the read completing at event {} has {there}; reads of one list must be prefixes of each other",
                r.complete_index, r.list[i], longest.complete_index
            ));
        }
    }
    // An append acknowledged before another began must come first.
    let mut pos: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, &e) in longest.list.iter().enumerate() {
        pos.entry(e).or_insert(i);
    }
    for (&y, &py) in &pos {
        let Some(ay) = d.appends.get(&y) else {
            continue;
        };
        let before = pos
            .iter()
            .filter(|(_, &px)| px > py)
            .filter_map(|(x, _)| d.appends.get(x))
            .filter_map(|ax| {
                ax.ok
                    .filter(|(_, ns)| *ns < ay.invoke_ns)
                    .map(|(i, _)| (ax.element, i))
            })
            .min_by_key(|(_, i)| *i);
        if let Some((x, x_ok)) = before {
            out.push(AnomalyKind::OutOfOrder, k, Some(x), vec![x_ok, ay.invoke_index, longest.complete_index], format!(
                "append of {x} to key {key:?} was acknowledged at event {x_ok}, before the append of {y} began at event {}, yet the read completing at event {} puts {y} first",
                ay.invoke_index, longest.complete_index
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::H;
    use serde_json::{json, Value as Json};

    fn append(h: &mut H, p: u64, key: &str, e: i64) {
        h.op(p, "append", key, json!(e), json!(e));
    }
    fn read(h: &mut H, p: u64, key: &str, list: Json) {
        h.op(p, "read", key, Json::Null, list);
    }
    fn kinds(r: &ListAppendReport) -> Vec<AnomalyKind> {
        r.findings.anomalies.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn a_clean_history_is_valid() {
        let mut h = H::default();
        append(&mut h, 0, "k", 1);
        read(&mut h, 1, "k", json!([1]));
        h.invoke(0, "append", "k", json!(2))
            .invoke(1, "read", "k", Json::Null);
        h.ok(1, "read", "k", json!([1]))
            .ok(0, "append", "k", json!(2));
        h.invoke(2, "append", "k", json!(3))
            .info(2, "append", "k", json!(3));
        read(&mut h, 1, "k", json!([1, 2]));
        let r = check(&h.events).unwrap();
        assert_eq!(
            r.verdict(),
            Verdict::Valid,
            "{}",
            r.findings.explain("list-append")
        );
        assert_eq!((r.keys, r.acknowledged), (1, 2));
    }

    #[test]
    fn duplicated_element_is_named() {
        let mut h = H::default();
        append(&mut h, 0, "k", 1);
        append(&mut h, 0, "k", 2);
        read(&mut h, 1, "k", json!([1, 2, 2]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Duplicated]);
        let a = &r.findings.anomalies[0];
        assert_eq!((a.element, a.key.as_deref()), (Some(2), Some("k")));
        assert!(
            a.explanation.contains("appears 2 times"),
            "{}",
            a.explanation
        );
    }

    #[test]
    fn lost_acknowledged_append_is_named() {
        let mut h = H::default();
        append(&mut h, 0, "k", 1);
        append(&mut h, 0, "k", 2);
        read(&mut h, 1, "k", json!([1]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Lost]);
        assert_eq!(r.findings.anomalies[0].element, Some(2));
        assert_eq!(r.verdict(), Verdict::Invalid);
    }

    #[test]
    fn an_element_that_vanishes_is_lost_even_if_its_append_was_info() {
        let mut h = H::default();
        h.invoke(0, "append", "k", json!(7))
            .info(0, "append", "k", json!(7));
        read(&mut h, 1, "k", json!([7]));
        read(&mut h, 1, "k", json!([]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Lost]);
        assert!(r.findings.anomalies[0].explanation.contains("was visible"));
    }

    #[test]
    fn stale_read_is_named() {
        let mut h = H::default();
        append(&mut h, 0, "k", 1);
        read(&mut h, 1, "k", json!([]));
        read(&mut h, 1, "k", json!([1]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Stale]);
        assert_eq!(r.findings.anomalies[0].element, Some(1));
    }

    #[test]
    fn phantom_element_is_named() {
        let mut h = H::default();
        append(&mut h, 0, "k", 1);
        h.invoke(0, "append", "k", json!(2))
            .fail(0, "append", "k", json!(2));
        append(&mut h, 0, "other", 3);
        read(&mut h, 1, "k", json!([1, 2, 3, 4]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::Phantom; 3]);
        let ex: Vec<&str> = r
            .findings
            .anomalies
            .iter()
            .map(|a| a.explanation.as_str())
            .collect();
        assert!(
            ex[0].contains("failed") && ex[1].contains("\"other\"") && ex[2].contains("no client"),
            "{ex:?}"
        );
    }

    #[test]
    fn reads_that_disagree_on_order_are_out_of_order() {
        let mut h = H::default();
        h.invoke(0, "append", "k", json!(1))
            .invoke(1, "append", "k", json!(2));
        h.ok(0, "append", "k", json!(1))
            .ok(1, "append", "k", json!(2));
        read(&mut h, 2, "k", json!([2]));
        read(&mut h, 2, "k", json!([1, 2]));
        let r = check(&h.events).unwrap();
        assert!(
            kinds(&r).contains(&AnomalyKind::OutOfOrder),
            "{:?}",
            kinds(&r)
        );
        assert!(r.findings.of(AnomalyKind::OutOfOrder)[0]
            .explanation
            .contains("prefixes"));
    }

    #[test]
    fn real_time_order_of_appends_is_enforced() {
        let mut h = H::default();
        append(&mut h, 0, "k", 1);
        append(&mut h, 0, "k", 2);
        read(&mut h, 1, "k", json!([2, 1]));
        let r = check(&h.events).unwrap();
        assert_eq!(kinds(&r), vec![AnomalyKind::OutOfOrder]);
        assert_eq!(r.findings.anomalies[0].element, Some(1));
    }

    #[test]
    fn no_read_at_all_is_undecided_not_valid() {
        let mut h = H::default();
        append(&mut h, 0, "k", 1);
        let r = check(&h.events).unwrap();
        assert_eq!(r.verdict(), Verdict::Unknown);
    }

    #[test]
    fn malformed_values_are_errors() {
        let mut h = H::default();
        h.op(0, "read", "k", Json::Null, json!("oops"));
        assert!(check(&h.events)
            .unwrap_err()
            .to_string()
            .contains("list of integers"));
    }
}
