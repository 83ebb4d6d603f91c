//! Per-key lists of integers: `append` one element, `read` the whole list.

use stateright::semantics::SequentialSpec;

use super::{ending, int, int_list, unknown_f, Ending, Model};
use crate::ops::Operation;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListOp {
    Append(i64),
    Read,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListRet {
    List(Vec<i64>),
    Done,
    Unknown,
}

/// One key's list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListAppend {
    pub list: Vec<i64>,
}

impl SequentialSpec for ListAppend {
    type Op = ListOp;
    type Ret = ListRet;

    fn invoke(&mut self, op: &ListOp) -> ListRet {
        match op {
            ListOp::Append(e) => {
                self.list.push(*e);
                ListRet::Done
            }
            ListOp::Read => ListRet::List(self.list.clone()),
        }
    }

    fn is_valid_step(&mut self, op: &ListOp, ret: &ListRet) -> bool {
        match (op, ret) {
            (ListOp::Read, ListRet::List(l)) => *l == self.list,
            (ListOp::Read, _) => false,
            (ListOp::Append(e), ListRet::Done | ListRet::Unknown) => {
                self.list.push(*e);
                true
            }
            (ListOp::Append(_), ListRet::List(_)) => false,
        }
    }
}

impl Model for ListAppend {
    fn name(&self) -> &'static str {
        "list-append"
    }
    fn per_key(&self) -> bool {
        true
    }
    fn decode(&self, op: &Operation) -> Result<Option<(ListOp, ListRet)>, String> {
        let end = ending(op);
        Ok(Some(match (op.f.as_str(), end) {
            (_, Ending::Dropped) => return Ok(None),
            ("read", Ending::Ok(v)) => (ListOp::Read, ListRet::List(int_list(v, "a list read")?)),
            ("read", _) => return Ok(None),
            ("append", end) => (
                ListOp::Append(int(&op.value, "an appended element")?),
                match end {
                    Ending::Ok(_) => ListRet::Done,
                    _ => ListRet::Unknown,
                },
            ),
            (f, _) => return Err(unknown_f("list-append", f, "append, read")),
        }))
    }
    fn describe_state(&self) -> String {
        format!("{:?}", self.list)
    }
    fn observes_only(op: &ListOp, _ret: &ListRet) -> bool {
        matches!(op, ListOp::Read)
    }
    fn describe_op(op: &ListOp) -> String {
        match op {
            ListOp::Append(e) => format!("append {e}"),
            ListOp::Read => "read".to_string(),
        }
    }
    fn describe_ret(ret: &ListRet) -> String {
        match ret {
            ListRet::List(l) => format!("{l:?}"),
            ListRet::Done => "ok".to_string(),
            ListRet::Unknown => "unknown".to_string(),
        }
    }
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>() + self.list.len() * 8
    }
}
