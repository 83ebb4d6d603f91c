//! Sequential specifications the checker judges histories against. Each is
//! a stateright [`SequentialSpec`] whose state is `Clone + Hash + Eq`, so
//! that the search can memoise (linearized set, state) pairs.
//!
//! Operations whose outcome is unknown carry a return value that matches
//! anything (`Unknown`); `is_valid_step` applies them and accepts. Failed
//! operations are dropped by `decode`, except a CAS that failed because the
//! value differed ([`crate::event::CAS_MISMATCH`]), which is a read.

pub mod kv;
pub mod list_append;
pub mod register;
pub mod set;
mod unobserved;

use std::fmt::Debug;
use std::hash::Hash;

use serde_json::Value as Json;
use stateright::semantics::SequentialSpec;

use crate::ops::{Operation, Outcome};

pub use kv::{Datum, KvKey, KvMap, KvOp, KvRet};
pub use list_append::{ListAppend, ListOp, ListRet};
pub use register::{CasRegister, RegOp, RegRet, Register};
pub use set::{SetModel, SetOp, SetRet};

/// A model's reading of one history operation: its operation and expected
/// return, or `None` when it cannot affect the verdict.
pub type Decoded<M> = Option<(<M as SequentialSpec>::Op, <M as SequentialSpec>::Ret)>;

/// A model the linearizability checker can use.
pub trait Model:
    SequentialSpec<
        Op: Clone + Debug + Eq + Hash + Send + Sync,
        Ret: Clone + Debug + Eq + Hash + Send + Sync,
    > + Clone
    + Eq
    + Hash
    + Debug
    + Send
    + Sync
{
    /// The model's name on the command line.
    fn name(&self) -> &'static str;

    /// Whether each key's sub-history is checked on its own, starting from
    /// `self` (P-compositionality). Sound when operations touch one key and
    /// keys are independent.
    fn per_key(&self) -> bool;

    /// The model's operation and expected return for one history operation,
    /// or `None` when the operation cannot affect the verdict (a failed
    /// operation, a read whose outcome is unknown).
    fn decode(&self, op: &Operation) -> Result<Decoded<Self>, String>;

    fn describe_state(&self) -> String;
    fn describe_op(op: &Self::Op) -> String;
    fn describe_ret(ret: &Self::Ret) -> String;

    /// For read/write registers: the initial value as the zone check
    /// sees it (see [`crate::check::zones`]); `None` for other models.
    fn rw_initial(&self) -> Option<Option<String>> {
        None
    }

    /// For read/write registers: an operation as the zone check sees it;
    /// `None` when it is not a plain read or write (a CAS, an append).
    fn rw_view(_op: &Self::Op, _ret: &Self::Ret) -> Option<crate::check::zones::RwView> {
        None
    }

    /// Whether the operation, with this return, leaves every state it is
    /// valid in unchanged (a read; a CAS that found another value). The
    /// search places such an operation without branching wherever it is
    /// valid; an operation that merely leaves the current state unchanged
    /// (a write of the value already held) must not be, since placed later
    /// it would overwrite another value.
    fn observes_only(_op: &Self::Op, _ret: &Self::Ret) -> bool {
        false
    }

    /// An equivalent problem that is cheaper to search: each operation
    /// rewritten, or `None` to leave it out (allowed only for operations of
    /// unknown outcome). Equivalent means that the rewritten operations
    /// have a valid order exactly when the originals have one, and that
    /// every valid order of the rewritten operations (prefixes included)
    /// is valid for the originals, so linearizations and explanations can
    /// cite the originals. `None`: search the operations as they are.
    fn reduce(&self, _ops: &[(Self::Op, Self::Ret)]) -> Option<Vec<Decoded<Self>>> {
        None
    }

    /// Approximate bytes one stored copy of the state holds, for the
    /// memory budget.
    fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// What an operation's decoding depends on: whether it definitely
/// completed, and with which value.
pub(crate) enum Ending<'a> {
    Ok(&'a Json),
    /// Failed with a definite CAS mismatch.
    Mismatch,
    Unknown,
    /// Failed for any other reason: it did not happen.
    Dropped,
}

pub(crate) fn ending(op: &Operation) -> Ending<'_> {
    match &op.outcome {
        Outcome::Ok { value } => Ending::Ok(value),
        Outcome::Fail { error } if error.as_deref() == Some(crate::event::CAS_MISMATCH) => {
            Ending::Mismatch
        }
        Outcome::Fail { .. } => Ending::Dropped,
        Outcome::Info => Ending::Unknown,
    }
}

pub(crate) fn int(v: &Json, what: &str) -> Result<i64, String> {
    v.as_i64()
        .ok_or_else(|| format!("{what} should be an integer, got {v}"))
}

pub(crate) fn opt_int(v: &Json, what: &str) -> Result<Option<i64>, String> {
    if v.is_null() {
        Ok(None)
    } else {
        int(v, what).map(Some)
    }
}

pub(crate) fn int_list(v: &Json, what: &str) -> Result<Vec<i64>, String> {
    let bad = || format!("{what} should be a list of integers, got {v}");
    if v.is_null() {
        return Ok(Vec::new());
    }
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|x| x.as_i64().ok_or_else(bad))
        .collect()
}

pub(crate) fn unknown_f(model: &str, f: &str, known: &str) -> String {
    format!("the {model} model has no operation {f:?} (it knows {known})")
}
