//! Turning history events back into [`Op`]s and [`Observation`]s, so a
//! model can replay a recorded history. The inverse of
//! [`Op::invoke_value`] and [`Op::ok_value`].
//!
//! Jepsen's convention applies: a CAS that did not apply, or a transaction
//! that aborted, completes as `fail`, so an `ok` CAS or write-only
//! transaction decodes as `Applied(true)`.

use serde_json::Value as Json;

use crate::op::{Observation, Op, TxnOp};
use crate::workload::Workload;

fn int(v: &Json, what: &str) -> Result<i64, String> {
    v.as_i64()
        .ok_or_else(|| format!("{what} should be an integer, got {v}"))
}

fn key_of(key: Option<&str>, f: &str) -> Result<String, String> {
    key.map(str::to_string)
        .ok_or_else(|| format!("a {f} operation needs a key"))
}

fn micro(v: &Json) -> Result<(String, String, &Json), String> {
    let bad = || format!("a transaction step should be [f, key, value], got {v}");
    let m = v.as_array().filter(|m| m.len() == 3).ok_or_else(bad)?;
    Ok((
        m[0].as_str().ok_or_else(bad)?.to_string(),
        m[1].as_str().ok_or_else(bad)?.to_string(),
        &m[2],
    ))
}

impl Op {
    /// The operation an invoke event records. `read` is a list read in the
    /// list-append and set workloads and a register read elsewhere.
    pub fn from_invoke(
        workload: Workload,
        f: &str,
        key: Option<&str>,
        value: &Json,
    ) -> Result<Op, String> {
        Ok(match f {
            "read" if matches!(workload, Workload::ListAppend | Workload::Set) => Op::ReadList {
                key: key_of(key, f)?,
            },
            "read" => Op::Read {
                key: key_of(key, f)?,
            },
            "write" => Op::Write {
                key: key_of(key, f)?,
                value: int(value, "a written value")?,
            },
            "cas" => {
                let pair = value.as_array().filter(|p| p.len() == 2);
                let pair =
                    pair.ok_or_else(|| format!("a cas value should be [from, to], got {value}"))?;
                Op::Cas {
                    key: key_of(key, f)?,
                    from: int(&pair[0], "cas from")?,
                    to: int(&pair[1], "cas to")?,
                }
            }
            "append" => Op::Append {
                key: key_of(key, f)?,
                element: int(value, "an appended element")?,
            },
            "add" => Op::Increment {
                key: key_of(key, f)?,
                delta: int(value, "an increment")?,
            },
            "txn" => {
                let steps = value
                    .as_array()
                    .ok_or_else(|| format!("a txn value should be a list, got {value}"))?;
                let ops = steps
                    .iter()
                    .map(|s| {
                        let (g, key, v) = micro(s)?;
                        Ok(match g.as_str() {
                            "r" => TxnOp::Read { key },
                            "w" => TxnOp::Write {
                                key,
                                value: int(v, "a written value")?,
                            },
                            "add" => TxnOp::Add {
                                key,
                                delta: int(v, "an added amount")?,
                            },
                            other => return Err(format!("unknown transaction step {other:?}")),
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Op::Txn { ops }
            }
            other => return Err(format!("unknown operation {other:?}")),
        })
    }

    /// What this operation observed, from its `ok` event's value.
    pub fn ok_observation(&self, value: &Json) -> Result<Observation, String> {
        Ok(match self {
            Op::Read { .. } => Observation::Int(if value.is_null() {
                None
            } else {
                Some(int(value, "a read value")?)
            }),
            Op::ReadList { .. } => {
                let bad = || format!("a list read should return a list of integers, got {value}");
                let l = value.as_array().ok_or_else(bad)?;
                Observation::List(
                    l.iter()
                        .map(|x| x.as_i64().ok_or_else(bad))
                        .collect::<Result<_, _>>()?,
                )
            }
            Op::Write { .. } | Op::Append { .. } | Op::Increment { .. } => Observation::Done,
            Op::Cas { .. } => Observation::Applied(true),
            Op::Txn { ops } if ops.iter().any(|o| matches!(o, TxnOp::Read { .. })) => {
                let steps = value
                    .as_array()
                    .ok_or_else(|| format!("a txn result should be a list, got {value}"))?;
                let mut reads = Vec::new();
                for s in steps {
                    let (g, key, v) = micro(s)?;
                    if g == "r" {
                        reads.push((
                            key,
                            if v.is_null() {
                                None
                            } else {
                                Some(int(v, "a read value")?)
                            },
                        ));
                    }
                }
                Observation::TxnReads(reads)
            }
            Op::Txn { .. } => Observation::Applied(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(workload: Workload, op: Op, obs: Observation) {
        let back = Op::from_invoke(workload, op.f(), op.key(), &op.invoke_value()).unwrap();
        assert_eq!(back, op);
        assert_eq!(
            op.ok_observation(&op.ok_value(&obs)).unwrap(),
            obs,
            "{op:?}"
        );
    }

    #[test]
    fn every_operation_round_trips_through_the_history() {
        let k = || "k".to_string();
        round_trip(
            Workload::Register,
            Op::Read { key: k() },
            Observation::Int(Some(3)),
        );
        round_trip(
            Workload::Register,
            Op::Read { key: k() },
            Observation::Int(None),
        );
        round_trip(
            Workload::Register,
            Op::Write { key: k(), value: 4 },
            Observation::Done,
        );
        round_trip(
            Workload::Register,
            Op::Cas {
                key: k(),
                from: 1,
                to: 2,
            },
            Observation::Applied(true),
        );
        round_trip(
            Workload::ListAppend,
            Op::Append {
                key: k(),
                element: 9,
            },
            Observation::Done,
        );
        round_trip(
            Workload::Set,
            Op::ReadList { key: k() },
            Observation::List(vec![1, 2]),
        );
        round_trip(
            Workload::Counter,
            Op::Increment { key: k(), delta: 2 },
            Observation::Done,
        );
        let transfer = Op::Txn {
            ops: vec![
                TxnOp::Add {
                    key: "a".into(),
                    delta: -1,
                },
                TxnOp::Add {
                    key: "b".into(),
                    delta: 1,
                },
            ],
        };
        round_trip(Workload::Bank, transfer, Observation::Applied(true));
        let read_all = Op::Txn {
            ops: vec![
                TxnOp::Read { key: "a".into() },
                TxnOp::Read { key: "b".into() },
            ],
        };
        round_trip(
            Workload::Bank,
            read_all,
            Observation::TxnReads(vec![("a".into(), Some(5)), ("b".into(), None)]),
        );
    }

    #[test]
    fn malformed_events_are_errors() {
        assert!(
            Op::from_invoke(Workload::Register, "cas", Some("k"), &json!([1]))
                .unwrap_err()
                .contains("[from, to]")
        );
        assert!(Op::from_invoke(Workload::Register, "frobnicate", Some("k"), &json!(1)).is_err());
        assert!(
            Op::from_invoke(Workload::Register, "write", None, &json!(1))
                .unwrap_err()
                .contains("needs a key")
        );
        assert!(Op::from_invoke(Workload::Bank, "txn", None, &json!([["x", "a", 1]])).is_err());
        let read = Op::Read { key: "k".into() };
        assert!(read.ok_observation(&json!("five")).is_err());
    }
}
