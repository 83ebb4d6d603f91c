//! How a workload operation travels over HTTP, both ways: which request
//! carries it ([`request_for`]), how a node answers an outcome
//! ([`answer`]), and how a client reads that answer back into an outcome
//! ([`outcome_of`]). One place, so the server and the real-run client can
//! never disagree.
//!
//! Every data answer is JSON with an `outcome` of `ok`, `fail` or `info`,
//! Jepsen's three (see `kv::client`): `ok` carries the operation's result
//! as the history records it (`Op::ok_value`), `fail` and `info` an
//! `error`. Status codes say the same for tools that only look at them:
//! 200 ok; 409 a definite refusal by the state machine (CAS mismatch, an
//! aborted transaction, a type error); 503 certainly not applied (no
//! leader, unreachable, busy); 504 may or may not have been applied.

use serde_json::{json, Value as Json};

use crate::kv::Outcome;
use faultline_workloads::Op;

/// Longest key the API accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

/// A request as the client sends it.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpCall {
    pub method: &'static str,
    /// Path and query, percent-encoded.
    pub path: String,
    pub body: Option<Json>,
}

/// Whether `key` is acceptable: 1 to [`MAX_KEY_BYTES`] bytes, no control
/// characters.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "the key is {} bytes long; at most {MAX_KEY_BYTES} are allowed",
            key.len()
        ));
    }
    if key.chars().any(char::is_control) {
        return Err("the key contains control characters".into());
    }
    Ok(())
}

/// Percent-encode one path segment.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request that runs `op`.
pub fn request_for(op: &Op) -> HttpCall {
    let kv = |key: &str, suffix: &str| format!("/kv/{}{suffix}", encode_segment(key));
    match op {
        Op::Read { key } => HttpCall {
            method: "GET",
            path: kv(key, ""),
            body: None,
        },
        Op::ReadList { key } => HttpCall {
            method: "GET",
            path: kv(key, "/list"),
            body: None,
        },
        Op::Write { key, value } => HttpCall {
            method: "PUT",
            path: kv(key, ""),
            body: Some(json!({ "value": value })),
        },
        Op::Cas { key, from, to } => HttpCall {
            method: "POST",
            path: kv(key, "/cas"),
            body: Some(json!({ "from": from, "to": to })),
        },
        Op::Append { key, element } => HttpCall {
            method: "POST",
            path: kv(key, "/append"),
            body: Some(json!({ "element": element })),
        },
        Op::Increment { key, delta } => HttpCall {
            method: "POST",
            path: kv(key, "/add"),
            body: Some(json!({ "delta": delta })),
        },
        Op::Txn { .. } => HttpCall {
            method: "POST",
            path: "/txn".into(),
            body: Some(json!({ "ops": op.invoke_value() })),
        },
    }
}

/// Refusals by the state machine itself: the request reached the leader
/// and was answered, just not the way the client hoped.
fn is_definite_refusal(reason: &str) -> bool {
    reason == "cas-mismatch" || reason == "txn-aborted" || reason.starts_with("key ")
}

/// The status code and JSON body a node answers `outcome` of `op` with.
pub fn answer(op: &Op, outcome: &Outcome) -> (u16, Json) {
    let key = op.key();
    match outcome {
        Outcome::Ok(obs) => (
            200,
            json!({ "outcome": "ok", "key": key, "value": op.ok_value(obs) }),
        ),
        Outcome::Fail(reason) => {
            let status = if is_definite_refusal(reason) {
                409
            } else {
                503
            };
            (
                status,
                json!({ "outcome": "fail", "key": key, "error": reason }),
            )
        }
        Outcome::Info(reason) => (
            504,
            json!({ "outcome": "info", "key": key, "error": reason }),
        ),
    }
}

/// Read a node's answer to `op` back into an outcome. `body` is `None`
/// when it was not JSON. An answer that makes no sense leaves a write
/// indeterminate and fails a read, as `kv::client` does.
pub fn outcome_of(op: &Op, status: u16, body: Option<&Json>) -> Outcome {
    let unsure = |why: String| {
        if op.is_write() {
            Outcome::Info(why)
        } else {
            Outcome::Fail(why)
        }
    };
    let Some(body) = body else {
        return unsure(format!("HTTP {status} without a JSON body"));
    };
    let error = || {
        body.get("error")
            .and_then(Json::as_str)
            .unwrap_or("no reason given")
            .to_string()
    };
    match (status, body.get("outcome").and_then(Json::as_str)) {
        (200, Some("ok")) => {
            let value = body.get("value").unwrap_or(&Json::Null);
            match op.ok_observation(value) {
                Ok(obs) => Outcome::Ok(obs),
                Err(e) => unsure(format!("undecodable result: {e}")),
            }
        }
        (409 | 503, Some("fail")) => Outcome::Fail(error()),
        (504, Some("info")) => unsure(error()),
        // Refused before the request was looked at: nothing was proposed.
        (400..=499, _) => Outcome::Fail(format!("HTTP {status}: {}", error())),
        _ => unsure(format!("HTTP {status}: {}", error())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_workloads::{Observation, TxnOp};

    fn ops() -> Vec<Op> {
        vec![
            Op::Read {
                key: "k 1/x".into(),
            },
            Op::ReadList { key: "l".into() },
            Op::Write {
                key: "k".into(),
                value: 7,
            },
            Op::Cas {
                key: "k".into(),
                from: 1,
                to: 2,
            },
            Op::Append {
                key: "l".into(),
                element: 3,
            },
            Op::Increment {
                key: "c".into(),
                delta: 2,
            },
            Op::Txn {
                ops: vec![
                    TxnOp::Read { key: "a".into() },
                    TxnOp::Add {
                        key: "b".into(),
                        delta: -1,
                    },
                ],
            },
        ]
    }

    fn observation(op: &Op) -> Observation {
        match op {
            Op::Read { .. } => Observation::Int(Some(4)),
            Op::ReadList { .. } => Observation::List(vec![1, 2]),
            Op::Cas { .. } => Observation::Applied(true),
            Op::Txn { .. } => Observation::TxnReads(vec![("a".into(), Some(9))]),
            _ => Observation::Done,
        }
    }

    #[test]
    fn every_outcome_survives_the_round_trip() {
        for op in ops() {
            let outcomes = [
                Outcome::Ok(observation(&op)),
                Outcome::Fail("not-leader".into()),
                Outcome::Fail("cas-mismatch".into()),
                Outcome::Info("timeout".into()),
            ];
            for outcome in outcomes {
                let (status, body) = answer(&op, &outcome);
                let back = outcome_of(&op, status, Some(&body));
                let expected = match (&outcome, op.is_write()) {
                    (Outcome::Info(e), false) => Outcome::Fail(e.clone()),
                    _ => outcome.clone(),
                };
                assert_eq!(back, expected, "{op:?} {status} {body}");
            }
        }
    }

    #[test]
    fn status_codes_say_the_outcome() {
        let op = &ops()[3];
        assert_eq!(answer(op, &Outcome::Fail("cas-mismatch".into())).0, 409);
        assert_eq!(answer(op, &Outcome::Fail("not-leader".into())).0, 503);
        assert_eq!(answer(op, &Outcome::Info("timeout".into())).0, 504);
    }

    #[test]
    fn nonsense_answers_are_never_ok() {
        let write = &ops()[2];
        let read = &ops()[0];
        assert!(matches!(outcome_of(write, 200, None), Outcome::Info(_)));
        assert!(matches!(outcome_of(read, 200, None), Outcome::Fail(_)));
        let bad = json!({"outcome": "ok", "value": "seven"});
        assert!(matches!(
            outcome_of(read, 200, Some(&bad)),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            outcome_of(write, 500, Some(&json!({}))),
            Outcome::Info(_)
        ));
        assert!(matches!(
            outcome_of(write, 400, Some(&json!({}))),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn keys_are_bounded_and_encoded() {
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(check_key("a\nb").is_err());
        assert!(check_key("ok-key").is_ok());
        assert_eq!(request_for(&ops()[0]).path, "/kv/k%201%2Fx");
    }
}
