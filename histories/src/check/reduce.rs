//! A partition as the search sees it: the model's reduction
//! ([`Model::reduce`]) applied, and the search's answers mapped back to the
//! partition's own operations, so that linearizations and explanations
//! cite what the history holds.

use super::wgl::{self, Found, Limits, Outcome, Problem};
use super::Part;
use crate::model::Model;

pub(crate) struct Reduced<M: Model> {
    ops: Vec<(M::Op, M::Ret)>,
    call: Vec<u64>,
    ret: Vec<Option<u64>>,
    /// For each searched operation, its index in the partition.
    back: Vec<usize>,
    twins: bool,
}

impl<M: Model> Reduced<M> {
    /// `enabled` false: the partition as it is, searched without the
    /// interchangeable-twins rule.
    pub fn new(model: &M, part: &Part<M>, enabled: bool) -> Self {
        let rewritten = if enabled {
            model.reduce(&part.ops)
        } else {
            None
        };
        let mut r = Reduced {
            ops: Vec::with_capacity(part.ops.len()),
            call: Vec::with_capacity(part.ops.len()),
            ret: Vec::with_capacity(part.ops.len()),
            back: Vec::with_capacity(part.ops.len()),
            twins: enabled,
        };
        for (i, original) in part.ops.iter().enumerate() {
            let pair = match rewritten.as_ref().map(|ops| &ops[i]) {
                None => original.clone(),
                Some(Some(pair)) => pair.clone(),
                // Only an operation that may never have happened can be
                // left out; a model asking more is wrong, and the original
                // is searched instead.
                Some(None) if part.ret[i].is_none() => continue,
                Some(None) => {
                    debug_assert!(false, "{} left out a definite operation", model.name());
                    original.clone()
                }
            };
            r.ops.push(pair);
            r.call.push(part.call[i]);
            r.ret.push(part.ret[i]);
            r.back.push(i);
        }
        r
    }

    /// Operations the reduction left out.
    pub fn left_out(&self, part: &Part<M>) -> usize {
        part.ops.len() - self.ops.len()
    }

    /// Searches, and names operations by their index in the partition.
    pub fn search(&self, init: &M, limits: &Limits<'_>) -> Outcome {
        let problem = Problem {
            init: init.clone(),
            ops: &self.ops,
            call: &self.call,
            ret: &self.ret,
            twins: self.twins,
        };
        let mut out = wgl::search(&problem, limits);
        let back = |i: usize| self.back[i];
        if let Found::Linearizable(order) = &mut out.found {
            order.iter_mut().for_each(|i| *i = back(*i));
        }
        out.longest.iter_mut().for_each(|i| *i = back(*i));
        out.stuck = out.stuck.map(back);
        out
    }
}
