//! Why a history is not linearizable, as data and as a sentence: the
//! longest prefix the search could order (with the model state after each
//! step), the operation it could not get past, and the operations that
//! were concurrent with it.

use serde::{Deserialize, Serialize};

use crate::check::Part;
use crate::model::Model;
use crate::ops::Operation;

/// An operation as an explanation cites it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpRef {
    /// Index into the history's operations.
    pub op: usize,
    pub process: u64,
    /// The model's reading of it, e.g. `write 3`, `cas 1->2`, `read x`.
    pub description: String,
    /// What it returned (`unknown` when it may or may not have happened).
    pub result: String,
    pub invoke_index: u64,
    pub invoke_ns: u64,
    pub return_index: Option<u64>,
    pub return_ns: Option<u64>,
}

/// One step of a partial linearization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub op: OpRef,
    pub state_after: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The operation that cannot be placed after the longest prefix.
    pub stuck: Option<OpRef>,
    /// Operations that overlap `stuck` in time, so that it could be
    /// ordered before or after them; no order of them works.
    pub concurrent: Vec<OpRef>,
    /// The longest partial linearization found.
    pub longest: Vec<Step>,
    /// The model state after it.
    pub state: String,
    pub sentence: String,
}

/// How to name a point in time: seconds when the history has real times,
/// the event number otherwise.
pub fn when(ns: u64, index: u64, timed: bool) -> String {
    if timed {
        format!("{:.6} s", ns as f64 / 1e9)
    } else {
        format!("event {index}")
    }
}

/// Cites operation `i` of a partition.
pub(crate) fn op_ref<M: Model>(ops: &[Operation], part: &Part<M>, i: usize) -> OpRef {
    let h = &ops[part.members[i]];
    let (o, r) = &part.ops[i];
    OpRef {
        op: part.members[i],
        process: h.process,
        description: M::describe_op(o),
        result: M::describe_ret(r),
        invoke_index: h.invoke_index,
        invoke_ns: h.invoke_ns,
        return_index: h.return_index,
        return_ns: h.return_ns,
    }
}

pub(crate) fn explain<M: Model>(
    model: &M,
    ops: &[Operation],
    part: &Part<M>,
    longest: &[usize],
    stuck: Option<usize>,
    timed: bool,
) -> Explanation {
    let op_ref = |i: usize| op_ref(ops, part, i);
    let mut state = model.clone();
    let mut steps = Vec::with_capacity(longest.len());
    for &i in longest {
        let (o, r) = &part.ops[i];
        let valid = state.is_valid_step(o, r);
        debug_assert!(valid, "the search only keeps valid prefixes");
        steps.push(Step {
            op: op_ref(i),
            state_after: state.describe_state(),
        });
    }
    // Operations that overlap the stuck one in time: those it could have
    // been ordered before or after.
    let concurrent: Vec<OpRef> = match stuck {
        Some(st) => (0..part.ops.len())
            .filter(|&i| {
                i != st
                    && part.ret[st].is_none_or(|r| part.call[i] < r)
                    && part.ret[i].is_none_or(|r| r > part.call[st])
            })
            .map(op_ref)
            .collect(),
        None => Vec::new(),
    };
    let sentence = sentence(
        model,
        part,
        &state,
        &steps,
        stuck.map(|s| (s, op_ref(s))),
        &concurrent,
        timed,
    );
    Explanation {
        key: part.key.clone(),
        stuck: stuck.map(op_ref),
        concurrent,
        longest: steps,
        state: state.describe_state(),
        sentence,
    }
}

fn span(r: &OpRef, timed: bool) -> String {
    match (r.return_ns, r.return_index) {
        (Some(ns), Some(idx)) => format!(
            "invoked at {}, returned at {}",
            when(r.invoke_ns, r.invoke_index, timed),
            when(ns, idx, timed)
        ),
        _ => format!(
            "invoked at {}, outcome unknown",
            when(r.invoke_ns, r.invoke_index, timed)
        ),
    }
}

fn sentence<M: Model>(
    model: &M,
    part: &Part<M>,
    state: &M,
    steps: &[Step],
    stuck: Option<(usize, OpRef)>,
    concurrent: &[OpRef],
    timed: bool,
) -> String {
    let on_key = part
        .key
        .as_deref()
        .map_or(String::new(), |k| format!(" on key {k}"));
    let Some((s, r)) = stuck else {
        return format!(
            "Not linearizable{on_key}: no order of its {} operations is valid for the {} model.",
            part.ops.len(),
            model.name()
        );
    };
    let prefix = match steps.last() {
        None => format!(
            "Not even the first operation can be placed: the initial state is {}",
            state.describe_state()
        ),
        Some(last) => format!(
            "The longest valid order holds {} of the {} operations and ends with {} by process {} ({}), leaving the state {}",
            steps.len(),
            part.ops.len(),
            last.op.description,
            last.op.process,
            span(&last.op, timed),
            state.describe_state()
        ),
    };
    let (o, _) = &part.ops[s];
    let mut probe = state.clone();
    let would = M::describe_ret(&probe.invoke(o));
    let here = if would == r.result {
        format!(
            "there {} could return {}, but the remaining operations then cannot be ordered",
            r.description, would
        )
    } else {
        format!("there {} would return {}", r.description, would)
    };
    let others = match concurrent.len() {
        0 => ". No other operation overlaps it in time.".to_string(),
        n => {
            let named: Vec<String> = concurrent
                .iter()
                .take(6)
                .map(|c| format!("{} by process {} ({})", c.description, c.process, c.result))
                .collect();
            format!(
                ". {n} operation{} overlap{} it in time ({}{}), and no order of {} makes its result possible.",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
                named.join(", "),
                if n > 6 { ", ..." } else { "" },
                if n == 1 { "it" } else { "them" },
            )
        }
    };
    format!(
        "Not linearizable{on_key}: {} by process {} ({}) returned {}, but no valid order can place it. {}; {}{}",
        r.description,
        r.process,
        span(&r, timed),
        r.result,
        prefix,
        here,
        others
    )
}
