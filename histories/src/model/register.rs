//! Integer registers: `Register` (read, write) and `CasRegister` (read,
//! write, compare-and-set). Both start with a given value or absent, and
//! are checked per key.

use stateright::semantics::SequentialSpec;

use super::{ending, int, opt_int, unknown_f, Ending, Model};
use crate::check::zones::RwView;
use crate::ops::Operation;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegOp {
    Read,
    Write(i64),
    Cas { from: i64, to: i64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegRet {
    /// A read's value (`None`: absent).
    Value(Option<i64>),
    Written,
    /// The CAS found `from` and stored `to`.
    Swapped,
    /// The CAS found something other than `from` and did nothing.
    Mismatch,
    /// Outcome unknown: matches anything.
    Unknown,
}

fn step(value: &mut Option<i64>, op: &RegOp) -> RegRet {
    match *op {
        RegOp::Read => RegRet::Value(*value),
        RegOp::Write(v) => {
            *value = Some(v);
            RegRet::Written
        }
        RegOp::Cas { from, to } => {
            if *value == Some(from) {
                *value = Some(to);
                RegRet::Swapped
            } else {
                RegRet::Mismatch
            }
        }
    }
}

fn valid_step(value: &mut Option<i64>, op: &RegOp, ret: &RegRet) -> bool {
    let got = step(value, op);
    *ret == RegRet::Unknown || got == *ret
}

fn describe(value: Option<i64>) -> String {
    match value {
        Some(v) => v.to_string(),
        None => "absent".to_string(),
    }
}

fn describe_op(op: &RegOp) -> String {
    match op {
        RegOp::Read => "read".to_string(),
        RegOp::Write(v) => format!("write {v}"),
        RegOp::Cas { from, to } => format!("cas {from}->{to}"),
    }
}

fn describe_ret(ret: &RegRet) -> String {
    match ret {
        RegRet::Value(v) => describe(*v),
        RegRet::Written => "ok".to_string(),
        RegRet::Swapped => "swapped".to_string(),
        RegRet::Mismatch => "mismatch (value was not the expected one)".to_string(),
        RegRet::Unknown => "unknown".to_string(),
    }
}

fn decode(model: &str, op: &Operation, cas: bool) -> Result<Option<(RegOp, RegRet)>, String> {
    let end = ending(op);
    if let Ending::Dropped = end {
        return Ok(None);
    }
    let known = if cas {
        "read, write, cas"
    } else {
        "read, write"
    };
    Ok(Some(match op.f.as_str() {
        "read" | "get" => match end {
            Ending::Ok(v) => (RegOp::Read, RegRet::Value(opt_int(v, "a read value")?)),
            _ => return Ok(None),
        },
        "write" | "put" => {
            let w = RegOp::Write(int(&op.value, "a written value")?);
            match end {
                Ending::Ok(_) => (w, RegRet::Written),
                _ => (w, RegRet::Unknown),
            }
        }
        "cas" if cas => {
            let pair = op
                .value
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| {
                    format!("a cas value should be [expected, new], got {}", op.value)
                })?;
            let c = RegOp::Cas {
                from: int(&pair[0], "cas expected value")?,
                to: int(&pair[1], "cas new value")?,
            };
            match end {
                Ending::Ok(_) => (c, RegRet::Swapped),
                Ending::Mismatch => (c, RegRet::Mismatch),
                _ => (c, RegRet::Unknown),
            }
        }
        f => return Err(unknown_f(model, f, known)),
    }))
}

macro_rules! register_model {
    ($ty:ident, $name:literal, $cas:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $ty {
            /// The current value; `None` while absent.
            pub value: Option<i64>,
        }

        impl $ty {
            pub fn new(initial: Option<i64>) -> Self {
                $ty { value: initial }
            }
        }

        impl SequentialSpec for $ty {
            type Op = RegOp;
            type Ret = RegRet;

            fn invoke(&mut self, op: &RegOp) -> RegRet {
                step(&mut self.value, op)
            }

            fn is_valid_step(&mut self, op: &RegOp, ret: &RegRet) -> bool {
                valid_step(&mut self.value, op, ret)
            }
        }

        impl Model for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn per_key(&self) -> bool {
                true
            }
            fn decode(&self, op: &Operation) -> Result<Option<(RegOp, RegRet)>, String> {
                decode($name, op, $cas)
            }
            fn describe_state(&self) -> String {
                describe(self.value)
            }
            fn observes_only(op: &RegOp, ret: &RegRet) -> bool {
                matches!(op, RegOp::Read) || matches!(ret, RegRet::Mismatch)
            }
            fn reduce(&self, ops: &[(RegOp, RegRet)]) -> Option<Vec<Option<(RegOp, RegRet)>>> {
                super::unobserved::collapse(self.value, ops)
            }
            fn rw_initial(&self) -> Option<Option<String>> {
                Some(self.value.map(|v| v.to_string()))
            }
            fn rw_view(op: &RegOp, ret: &RegRet) -> Option<RwView> {
                match (op, ret) {
                    (RegOp::Read, RegRet::Value(v)) => Some(RwView::Read(v.map(|v| v.to_string()))),
                    (RegOp::Write(v), _) => Some(RwView::Write(v.to_string())),
                    _ => None,
                }
            }
            fn describe_op(op: &RegOp) -> String {
                describe_op(op)
            }
            fn describe_ret(ret: &RegRet) -> String {
                describe_ret(ret)
            }
        }
    };
}

register_model!(
    Register,
    "register",
    false,
    "A read/write integer register, one per key."
);
register_model!(
    CasRegister,
    "cas-register",
    true,
    "A read/write/compare-and-set integer register, one per key."
);
