//! A polynomial decision for read/write registers whose written values are
//! unique (Gibbons & Korach's zones): O(n log n) where the search can take
//! exponential time, e.g. to prove a long, highly concurrent history
//! invalid.
//!
//! Each written value forms a cluster: its write and the reads that
//! returned it. A cluster's zone runs between its earliest completion and
//! its latest invocation: a *forward* zone when the earliest completion
//! comes first (the value must stay current across the zone), a *backward*
//! zone otherwise (it can be current at one instant in it). The history is
//! linearizable iff no read returns a value before its write was invoked or
//! a value never written, no two forward zones overlap, and no backward
//! zone lies inside a forward one.

use std::collections::BTreeMap;

/// A register operation as the zone check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RwView {
    /// Writes this value (canonical text).
    Write(String),
    /// Returned this value (`None`: absent).
    Read(Option<String>),
}

const NEG_INF: u64 = 0;
const POS_INF: u64 = u64::MAX;
/// No operation (the initial value's virtual write).
const NONE: usize = usize::MAX;

/// Why the zone check refuses a history, and the operations (indices into
/// its input) that show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneViolation {
    pub why: String,
    pub ops: Vec<usize>,
}

/// A cluster's zone ends: earliest completion and latest invocation, each
/// with the operation that sets it.
#[derive(Clone, Copy)]
struct Ends {
    first_ret: (u64, usize),
    last_call: (u64, usize),
}

/// Zone-check verdict, or `None` when the history does not qualify (a
/// value written twice, or written and also initial). `call` and `ret` are
/// history positions; `ret` `None` is an unknown outcome.
pub(crate) fn decide(
    initial: &Option<String>,
    ops: &[(RwView, u64, Option<u64>)],
) -> Option<Result<(), ZoneViolation>> {
    // Positions shifted by one so that 0 can be minus infinity.
    let pos = |p: u64| p.saturating_add(1).min(POS_INF - 1);
    let mut writes: BTreeMap<&str, (u64, u64, usize)> = BTreeMap::new();
    for (i, (view, call, ret)) in ops.iter().enumerate() {
        if let RwView::Write(v) = view {
            if Some(v) == initial.as_ref() {
                return None;
            }
            let span = (pos(*call), ret.map_or(POS_INF, pos), i);
            if writes.insert(v, span).is_some() {
                return None;
            }
        }
    }
    let bad = |why: String, ops: Vec<usize>| {
        Some(Err(ZoneViolation {
            why,
            ops: ops.into_iter().filter(|&i| i != NONE).collect(),
        }))
    };
    let mut clusters: BTreeMap<Option<&str>, Ends> = BTreeMap::new();
    for (i, (view, call, ret)) in ops.iter().enumerate() {
        let RwView::Read(value) = view else { continue };
        let (c, r) = (pos(*call), ret.map_or(POS_INF, pos));
        let key = if value == initial {
            None
        } else {
            let v = value.as_deref();
            match v.and_then(|v| writes.get(v)) {
                None => {
                    return bad(
                        format!(
                            "a read returned {}, which nothing wrote",
                            v.unwrap_or("absent")
                        ),
                        vec![i],
                    )
                }
                Some(&(wc, _, w)) if r < wc => {
                    return bad(
                        format!(
                            "a read returned {} before the write of it was invoked",
                            v.unwrap_or("absent")
                        ),
                        vec![i, w],
                    )
                }
                Some(_) => v,
            }
        };
        let init = match key {
            None => Ends {
                first_ret: (NEG_INF, NONE),
                last_call: (NEG_INF, NONE),
            },
            Some(v) => {
                let (wc, wr, w) = writes[v];
                Ends {
                    first_ret: (wr, w),
                    last_call: (wc, w),
                }
            }
        };
        let e = clusters.entry(key).or_insert(init);
        e.first_ret = e.first_ret.min((r, i));
        e.last_call = e.last_call.max((c, i));
    }
    // Writes nobody read: a definite one is a cluster of its own; one of
    // unknown outcome may never have happened and is left out.
    for (v, &(c, r, w)) in &writes {
        if r != POS_INF {
            clusters.entry(Some(v)).or_insert(Ends {
                first_ret: (r, w),
                last_call: (c, w),
            });
        }
    }
    // (start, end, cluster, ops setting the ends)
    type Zone<'a> = (u64, u64, Option<&'a str>, [usize; 2]);
    let mut forward: Vec<Zone> = Vec::new();
    let mut backward: Vec<Zone> = Vec::new();
    for (k, e) in &clusters {
        let ends = [e.first_ret.1, e.last_call.1];
        if e.first_ret.0 < e.last_call.0 {
            forward.push((e.first_ret.0, e.last_call.0, *k, ends));
        } else {
            backward.push((e.last_call.0, e.first_ret.0, *k, ends));
        }
    }
    forward.sort_unstable();
    let name =
        |k: Option<&str>| k.map_or("the initial value".to_string(), |v| format!("value {v}"));
    for w in forward.windows(2) {
        if w[1].0 < w[0].1 {
            return bad(
                format!(
                    "{} and {} must each stay current over overlapping stretches of time",
                    name(w[0].2),
                    name(w[1].2)
                ),
                vec![w[1].3[0], w[1].3[1], w[0].3[0], w[0].3[1]],
            );
        }
    }
    for &(s, f, k, ends) in &backward {
        // The forward zone starting last before s, if any, is the only one
        // that can contain [s, f] (forward zones do not overlap).
        let i = forward.partition_point(|z| z.0 < s);
        if i > 0 && forward[i - 1].1 > f {
            let outer = forward[i - 1];
            return bad(
                format!(
                    "{} must be current at some instant while {} must stay current throughout",
                    name(k),
                    name(outer.2)
                ),
                vec![ends[0], ends[1], outer.3[0], outer.3[1]],
            );
        }
    }
    Some(Ok(()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::check::{partition, wgl};
    use crate::model::{KvKey, Model, Register};
    use crate::ops::pair;
    use crate::simulate::{mutate, register_history, Rng, SimConfig};

    /// The zone check's verdict and the search's, for every key.
    fn both<M: Model>(model: &M, events: &[crate::Event]) -> Vec<(bool, bool)> {
        let ops = pair(events).unwrap();
        let used = AtomicUsize::new(0);
        let limits = wgl::Limits {
            deadline: None,
            max_bytes: usize::MAX,
            used_bytes: &used,
            max_steps: u64::MAX,
        };
        partition(model, &ops)
            .unwrap()
            .iter()
            .filter_map(|part| {
                let views: Vec<_> = part
                    .ops
                    .iter()
                    .enumerate()
                    .map(|(i, (o, r))| (M::rw_view(o, r).unwrap(), part.call[i], part.ret[i]))
                    .collect();
                let zone = decide(&model.rw_initial().unwrap(), &views)?.is_ok();
                let problem = wgl::Problem {
                    init: model.clone(),
                    ops: &part.ops,
                    call: &part.call,
                    ret: &part.ret,
                    twins: true,
                };
                let search = matches!(
                    wgl::search(&problem, &limits).found,
                    wgl::Found::Linearizable(_)
                );
                Some((zone, search))
            })
            .collect()
    }

    #[test]
    fn zones_agree_with_the_search_on_valid_and_mutated_histories() {
        let (mut checked, mut invalid) = (0, 0);
        for seed in 0..400u64 {
            let mut events = register_history(&SimConfig {
                seed,
                clients: 1 + (seed % 7) as usize,
                keys: 1 + (seed % 2) as usize,
                ops: 5 + (seed % 60) as usize,
                info: if seed % 4 == 0 { 0.0 } else { 0.15 },
                cas: false,
                progress: 0.4,
            });
            if seed % 3 != 0 {
                mutate(&mut events, &mut Rng::new(seed));
            }
            for (zone, search) in both(&Register::new(None), &events)
                .into_iter()
                .chain(both(&KvKey::default(), &events))
            {
                assert_eq!(
                    zone,
                    search,
                    "seed {seed}: {}",
                    serde_json::to_string(&events).unwrap()
                );
                checked += 1;
                invalid += !zone as usize;
            }
        }
        assert!(
            checked > 500 && invalid * 4 > checked,
            "{invalid} invalid of {checked}"
        );
    }

    #[test]
    fn repeated_values_do_not_qualify() {
        let w = |v: &str, c, r| (RwView::Write(v.into()), c, Some(r));
        assert!(decide(&None, &[w("1", 0, 1), w("1", 2, 3)]).is_none());
        assert!(decide(&Some("1".into()), &[w("1", 0, 1)]).is_none());
        let read = |v: Option<&str>, c, r| (RwView::Read(v.map(str::to_string)), c, Some(r));
        assert!(decide(&None, &[w("1", 0, 1), read(None, 2, 3)])
            .unwrap()
            .is_err());
        assert!(decide(&None, &[read(None, 0, 3), w("1", 1, 2)])
            .unwrap()
            .is_ok());
        let e = decide(&None, &[read(Some("2"), 0, 1)])
            .unwrap()
            .unwrap_err();
        assert!(e.why.contains("nothing wrote"), "{}", e.why);
    }
}
