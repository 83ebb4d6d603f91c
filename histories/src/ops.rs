//! Client operations: a history's invocations paired with their completions.
//! This is what the checker reads; nemesis events are kept aside for the
//! timeline.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::event::{Event, EventType, Process};

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum Outcome {
    /// It happened and returned this value.
    Ok { value: Json },
    /// It certainly did not happen; `error` says why.
    Fail { error: Option<String> },
    /// It may or may not have happened (an `info` completion, or none at all
    /// before the history ended).
    Info,
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub process: u64,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The invocation's value.
    pub value: Json,
    pub outcome: Outcome,
    /// Index and time of the invoke event.
    pub invoke_index: u64,
    pub invoke_ns: u64,
    /// Index and time of the `ok` or `fail` completion; `None` when the
    /// outcome is unknown, so that the operation may take effect at any
    /// later point.
    pub return_index: Option<u64>,
    pub return_ns: Option<u64>,
}

impl Operation {
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok { .. })
    }

    pub fn is_fail(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }

    /// The value of an `ok` completion.
    pub fn ok_value(&self) -> Option<&Json> {
        match &self.outcome {
            Outcome::Ok { value } => Some(value),
            _ => None,
        }
    }

    /// The error of a `fail` completion.
    pub fn fail_error(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Fail { error } => error.as_deref(),
            _ => None,
        }
    }
}

/// A history that breaks the invoke/complete discipline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairError {
    CompletionWithoutInvoke { index: u64, process: u64 },
    DoubleInvoke { index: u64, process: u64 },
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairError::CompletionWithoutInvoke { index, process } => write!(
                f,
                "event {index}: process {process} completes an operation it never invoked"
            ),
            PairError::DoubleInvoke { index, process } => write!(
                f,
                "event {index}: process {process} invokes while its previous operation is still open"
            ),
        }
    }
}

impl std::error::Error for PairError {}

/// Pairs every client invocation with its completion, in invocation order.
/// An invocation never completed is `Info`.
pub fn pair(events: &[Event]) -> Result<Vec<Operation>, PairError> {
    let mut out: Vec<Operation> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for e in events {
        let Process::Client(p) = e.process else {
            continue;
        };
        if e.kind == EventType::Invoke {
            if open.contains_key(&p) {
                return Err(PairError::DoubleInvoke {
                    index: e.index,
                    process: p,
                });
            }
            open.insert(p, out.len());
            out.push(Operation {
                process: p,
                f: e.f.clone(),
                key: e.key.clone(),
                value: e.value.clone(),
                outcome: Outcome::Info,
                invoke_index: e.index,
                invoke_ns: e.time,
                return_index: None,
                return_ns: None,
            });
            continue;
        }
        let at = open.remove(&p).ok_or(PairError::CompletionWithoutInvoke {
            index: e.index,
            process: p,
        })?;
        let op = &mut out[at];
        match e.kind {
            EventType::Ok => {
                op.outcome = Outcome::Ok {
                    value: e.value.clone(),
                };
            }
            EventType::Fail => {
                op.outcome = Outcome::Fail {
                    error: e.error.clone(),
                };
            }
            EventType::Info | EventType::Invoke => continue,
        }
        op.return_index = Some(e.index);
        op.return_ns = Some(e.time);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(index: u64, process: Process, kind: EventType, value: Json) -> Event {
        Event {
            index,
            time: index * 10,
            process,
            kind,
            f: "append".into(),
            key: Some("k".into()),
            value,
            error: (kind == EventType::Fail).then(|| "not-leader".to_string()),
        }
    }

    #[test]
    fn pairs_invocations_with_completions() {
        let c = Process::Client;
        let h = vec![
            ev(0, c(0), EventType::Invoke, json!(1)),
            ev(1, c(1), EventType::Invoke, Json::Null),
            ev(2, Process::NEMESIS, EventType::Info, json!("halves")),
            ev(3, c(1), EventType::Ok, json!([])),
            ev(4, c(0), EventType::Info, json!(1)),
            ev(5, c(2), EventType::Invoke, json!(2)),
            ev(6, c(2), EventType::Fail, json!(2)),
            ev(7, c(3), EventType::Invoke, Json::Null),
        ];
        let ops = pair(&h).unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[0].outcome, Outcome::Info);
        assert_eq!((ops[0].return_index, ops[0].return_ns), (None, None));
        assert_eq!(ops[1].ok_value(), Some(&json!([])));
        assert_eq!((ops[1].return_index, ops[1].return_ns), (Some(3), Some(30)));
        assert!(ops[2].is_fail() && !ops[2].is_ok());
        assert_eq!(ops[2].fail_error(), Some("not-leader"));
        assert_eq!(ops[3].outcome, Outcome::Info);
        assert_eq!(ops[3].ok_value(), None);
    }

    #[test]
    fn broken_histories_are_named() {
        let h = vec![ev(0, Process::Client(0), EventType::Ok, json!(1))];
        assert_eq!(
            pair(&h),
            Err(PairError::CompletionWithoutInvoke {
                index: 0,
                process: 0
            })
        );
        let h = vec![
            ev(0, Process::Client(0), EventType::Invoke, Json::Null),
            ev(1, Process::Client(0), EventType::Invoke, Json::Null),
        ];
        let e = pair(&h).unwrap_err();
        assert!(e.to_string().contains("still open"), "{e}");
    }
}
