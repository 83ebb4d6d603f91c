//! Per-key sets of integers: `add` (or `append`) an element, `read` all of
//! them. A read returns a list; it matches when it holds exactly the set's
//! elements, each once, in any order.

use std::collections::BTreeSet;

use stateright::semantics::SequentialSpec;

use super::{ending, int, int_list, unknown_f, Ending, Model};
use crate::ops::Operation;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOp {
    Add(i64),
    Read,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetRet {
    /// The elements read, sorted (duplicates kept, so they never match).
    Elements(Vec<i64>),
    Done,
    Unknown,
}

/// One key's set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetModel {
    pub set: BTreeSet<i64>,
}

impl SequentialSpec for SetModel {
    type Op = SetOp;
    type Ret = SetRet;

    fn invoke(&mut self, op: &SetOp) -> SetRet {
        match op {
            SetOp::Add(e) => {
                self.set.insert(*e);
                SetRet::Done
            }
            SetOp::Read => SetRet::Elements(self.set.iter().copied().collect()),
        }
    }

    fn is_valid_step(&mut self, op: &SetOp, ret: &SetRet) -> bool {
        match (op, ret) {
            (SetOp::Read, SetRet::Elements(l)) => {
                l.len() == self.set.len() && l.iter().zip(&self.set).all(|(a, b)| a == b)
            }
            (SetOp::Read, _) => false,
            (SetOp::Add(e), SetRet::Done | SetRet::Unknown) => {
                self.set.insert(*e);
                true
            }
            (SetOp::Add(_), SetRet::Elements(_)) => false,
        }
    }
}

impl Model for SetModel {
    fn name(&self) -> &'static str {
        "set"
    }
    fn per_key(&self) -> bool {
        true
    }
    fn decode(&self, op: &Operation) -> Result<Option<(SetOp, SetRet)>, String> {
        let end = ending(op);
        Ok(Some(match (op.f.as_str(), end) {
            (_, Ending::Dropped) => return Ok(None),
            ("read", Ending::Ok(v)) => {
                let mut l = int_list(v, "a set read")?;
                l.sort_unstable();
                (SetOp::Read, SetRet::Elements(l))
            }
            ("read", _) => return Ok(None),
            ("add" | "append", end) => (
                SetOp::Add(int(&op.value, "an added element")?),
                match end {
                    Ending::Ok(_) => SetRet::Done,
                    _ => SetRet::Unknown,
                },
            ),
            (f, _) => return Err(unknown_f("set", f, "add, read")),
        }))
    }
    fn describe_state(&self) -> String {
        format!("{:?}", self.set)
    }
    fn observes_only(op: &SetOp, _ret: &SetRet) -> bool {
        matches!(op, SetOp::Read)
    }
    fn describe_op(op: &SetOp) -> String {
        match op {
            SetOp::Add(e) => format!("add {e}"),
            SetOp::Read => "read".to_string(),
        }
    }
    fn describe_ret(ret: &SetRet) -> String {
        match ret {
            SetRet::Elements(l) => format!("{l:?}"),
            SetRet::Done => "ok".to_string(),
            SetRet::Unknown => "unknown".to_string(),
        }
    }
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.set.len() * 16
    }
}
