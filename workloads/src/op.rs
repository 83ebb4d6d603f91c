//! The operations a client performs and what it observes, independent of
//! the wire protocol that carries them. Generators produce [`Op`]s, the
//! client library executes them against the KV service and reports an
//! [`Observation`], and both are written into the history as JSON values.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// One step of a multi-key transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnOp {
    Read {
        key: String,
    },
    Write {
        key: String,
        value: i64,
    },
    /// Add `delta` to an integer key (absent counts as 0). The whole
    /// transaction aborts if any `Add` would leave its key negative.
    Add {
        key: String,
        delta: i64,
    },
}

/// A client operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Read an integer register (`None` = absent).
    Read {
        key: String,
    },
    Write {
        key: String,
        value: i64,
    },
    Cas {
        key: String,
        from: i64,
        to: i64,
    },
    /// Append one element to the list stored at `key`.
    Append {
        key: String,
        element: i64,
    },
    /// Read the whole list stored at `key`.
    ReadList {
        key: String,
    },
    /// Add to an integer key (counters).
    Increment {
        key: String,
        delta: i64,
    },
    /// An atomic multi-key transaction.
    Txn {
        ops: Vec<TxnOp>,
    },
}

/// What a completed operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Observation {
    /// A write, append or increment took effect.
    Done,
    Int(Option<i64>),
    List(Vec<i64>),
    /// Whether a CAS or a transaction's precondition held (false: it did
    /// nothing, which is itself an observation of the state).
    Applied(bool),
    /// The values a transaction read, in its read order.
    TxnReads(Vec<(String, Option<i64>)>),
}

impl Op {
    /// The key a single-key operation touches (for P-compositionality).
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Read { key }
            | Op::Write { key, .. }
            | Op::Cas { key, .. }
            | Op::Append { key, .. }
            | Op::ReadList { key }
            | Op::Increment { key, .. } => Some(key),
            Op::Txn { .. } => None,
        }
    }

    /// Whether the operation can change state: a write whose outcome is
    /// unknown is `info`, a read whose outcome is unknown is `fail`.
    pub fn is_write(&self) -> bool {
        match self {
            Op::Read { .. } | Op::ReadList { .. } => false,
            Op::Txn { ops } => ops.iter().any(|o| !matches!(o, TxnOp::Read { .. })),
            _ => true,
        }
    }

    /// The history function name (Jepsen's `:f`).
    pub fn f(&self) -> &'static str {
        match self {
            Op::Read { .. } | Op::ReadList { .. } => "read",
            Op::Write { .. } => "write",
            Op::Cas { .. } => "cas",
            Op::Append { .. } => "append",
            Op::Increment { .. } => "add",
            Op::Txn { .. } => "txn",
        }
    }

    /// The `value` of the invoke event.
    pub fn invoke_value(&self) -> Json {
        match self {
            Op::Read { .. } | Op::ReadList { .. } => Json::Null,
            Op::Write { value, .. } => json!(value),
            Op::Cas { from, to, .. } => json!([from, to]),
            Op::Append { element, .. } => json!(element),
            Op::Increment { delta, .. } => json!(delta),
            Op::Txn { ops } => Json::Array(ops.iter().map(txn_op_json).collect()),
        }
    }

    /// The `value` of the `ok` event completing this operation.
    pub fn ok_value(&self, obs: &Observation) -> Json {
        match (self, obs) {
            (Op::Read { .. }, Observation::Int(v)) => json!(v),
            (Op::ReadList { .. }, Observation::List(l)) => json!(l),
            (Op::Txn { ops }, Observation::TxnReads(reads)) => {
                // Jepsen's txn convention: the invoked micro-ops with reads filled in.
                let mut reads = reads.iter();
                Json::Array(
                    ops.iter()
                        .map(|o| match o {
                            TxnOp::Read { key } => {
                                let v = reads.next().and_then(|(_, v)| *v);
                                json!(["r", key, v])
                            }
                            other => txn_op_json(other),
                        })
                        .collect(),
                )
            }
            _ => self.invoke_value(),
        }
    }
}

fn txn_op_json(op: &TxnOp) -> Json {
    match op {
        TxnOp::Read { key } => json!(["r", key, null]),
        TxnOp::Write { key, value } => json!(["w", key, value]),
        TxnOp::Add { key, delta } => json!(["add", key, delta]),
    }
}
