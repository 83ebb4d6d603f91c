//! Pairing a history's invocations with their completions.

use std::collections::BTreeMap;
use std::fmt;

use faultline_histories::{Event, EventType, Process};
use serde_json::Value as Json;

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It happened, returning this value.
    Ok(Json),
    /// It certainly did not happen.
    Fail,
    /// It may or may not have happened (also: no completion by the end).
    Info,
}

/// One client operation: its invocation and how it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct OpRecord {
    pub process: u64,
    pub f: String,
    pub key: Option<String>,
    /// The invoke event's value.
    pub value: Json,
    pub outcome: Outcome,
    pub invoke_index: u64,
    pub invoke_ns: u64,
    /// `None` if the operation never completed or completed with `info`:
    /// its effect may land at any later time.
    pub complete_index: Option<u64>,
    pub complete_ns: Option<u64>,
}

impl OpRecord {
    /// The value of an `ok` completion.
    pub fn ok_value(&self) -> Option<&Json> {
        match &self.outcome {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    pub fn is_fail(&self) -> bool {
        matches!(self.outcome, Outcome::Fail)
    }
}

/// A history that breaks Jepsen's invoke/complete discipline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryError {
    /// A process completed an operation it had not invoked.
    CompletionWithoutInvoke { index: u64, process: u64 },
    /// A process invoked a second operation while one was still open.
    DoubleInvoke { index: u64, process: u64 },
    /// An event's value does not have the shape its function needs.
    BadValue { index: u64, why: String },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::CompletionWithoutInvoke { index, process } => write!(
                f,
                "event {index}: process {process} completes an operation it never invoked"
            ),
            HistoryError::DoubleInvoke { index, process } => write!(
                f,
                "event {index}: process {process} invokes while its previous operation is still open"
            ),
            HistoryError::BadValue { index, why } => write!(f, "event {index}: {why}"),
        }
    }
}

impl std::error::Error for HistoryError {}

/// Pair every client invocation with its completion, in invocation order.
/// Nemesis events are skipped. An invocation with no completion is `info`.
pub fn pair(history: &[Event]) -> Result<Vec<OpRecord>, HistoryError> {
    let mut out: Vec<OpRecord> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for e in history {
        let Process::Client(p) = e.process else {
            continue;
        };
        match e.kind {
            EventType::Invoke => {
                if open.contains_key(&p) {
                    return Err(HistoryError::DoubleInvoke {
                        index: e.index,
                        process: p,
                    });
                }
                open.insert(p, out.len());
                out.push(OpRecord {
                    process: p,
                    f: e.f.clone(),
                    key: e.key.clone(),
                    value: e.value.clone(),
                    outcome: Outcome::Info,
                    invoke_index: e.index,
                    invoke_ns: e.time,
                    complete_index: None,
                    complete_ns: None,
                });
            }
            kind => {
                let at = open
                    .remove(&p)
                    .ok_or(HistoryError::CompletionWithoutInvoke {
                        index: e.index,
                        process: p,
                    })?;
                let rec = &mut out[at];
                match kind {
                    EventType::Ok => {
                        rec.outcome = Outcome::Ok(e.value.clone());
                        rec.complete_index = Some(e.index);
                        rec.complete_ns = Some(e.time);
                    }
                    EventType::Fail => {
                        rec.outcome = Outcome::Fail;
                        rec.complete_index = Some(e.index);
                        rec.complete_ns = Some(e.time);
                    }
                    _ => rec.outcome = Outcome::Info,
                }
            }
        }
    }
    Ok(out)
}

/// Read an integer out of a JSON value.
pub(crate) fn as_int(v: &Json, index: u64, what: &str) -> Result<i64, HistoryError> {
    v.as_i64().ok_or_else(|| HistoryError::BadValue {
        index,
        why: format!("{what} should be an integer, got {v}"),
    })
}

/// Read a list of integers out of a JSON value.
pub(crate) fn as_list(v: &Json, index: u64) -> Result<Vec<i64>, HistoryError> {
    let bad = || HistoryError::BadValue {
        index,
        why: format!("a list read should return a list of integers, got {v}"),
    };
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|x| x.as_i64().ok_or_else(bad))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use faultline_histories::event::NemesisTag;
    use serde_json::json;

    /// A tiny history builder for checker tests: each call appends one event
    /// at the next index, one nanosecond after the previous.
    #[derive(Default)]
    pub struct H {
        pub events: Vec<Event>,
    }

    impl H {
        fn push(
            &mut self,
            process: Process,
            kind: EventType,
            f: &str,
            key: Option<&str>,
            value: Json,
        ) -> &mut H {
            let index = self.events.len() as u64;
            self.events.push(Event {
                index,
                time: index * 10,
                process,
                kind,
                f: f.into(),
                key: key.map(str::to_string),
                value,
                error: None,
            });
            self
        }
        pub fn invoke(&mut self, p: u64, f: &str, key: &str, value: Json) -> &mut H {
            self.push(Process::Client(p), EventType::Invoke, f, Some(key), value)
        }
        pub fn ok(&mut self, p: u64, f: &str, key: &str, value: Json) -> &mut H {
            self.push(Process::Client(p), EventType::Ok, f, Some(key), value)
        }
        pub fn fail(&mut self, p: u64, f: &str, key: &str, value: Json) -> &mut H {
            self.push(Process::Client(p), EventType::Fail, f, Some(key), value)
        }
        pub fn info(&mut self, p: u64, f: &str, key: &str, value: Json) -> &mut H {
            self.push(Process::Client(p), EventType::Info, f, Some(key), value)
        }
        pub fn nemesis(&mut self, f: &str, value: Json) -> &mut H {
            self.push(
                Process::Nemesis(NemesisTag::Nemesis),
                EventType::Info,
                f,
                None,
                value,
            )
        }
        /// invoke + ok in one go.
        pub fn op(&mut self, p: u64, f: &str, key: &str, invoke: Json, ok: Json) -> &mut H {
            self.invoke(p, f, key, invoke).ok(p, f, key, ok)
        }
    }

    #[test]
    fn pairs_invocations_with_completions() {
        let mut h = H::default();
        h.invoke(0, "append", "k", json!(1))
            .invoke(1, "read", "k", Json::Null)
            .nemesis("partition", json!({"shape": "halves"}))
            .ok(1, "read", "k", json!([]))
            .info(0, "append", "k", json!(1))
            .invoke(2, "append", "k", json!(2))
            .fail(2, "append", "k", json!(2))
            .invoke(3, "read", "k", Json::Null);
        let ops = pair(&h.events).unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[0].outcome, Outcome::Info);
        assert_eq!(ops[0].complete_ns, None);
        assert_eq!(ops[1].outcome, Outcome::Ok(json!([])));
        assert_eq!(ops[1].complete_ns, Some(30));
        assert!(ops[2].is_fail());
        assert_eq!(ops[3].outcome, Outcome::Info);
    }

    #[test]
    fn broken_histories_are_named() {
        let mut h = H::default();
        h.ok(0, "read", "k", json!(1));
        assert_eq!(
            pair(&h.events),
            Err(HistoryError::CompletionWithoutInvoke {
                index: 0,
                process: 0
            })
        );
        let mut h = H::default();
        h.invoke(0, "read", "k", Json::Null)
            .invoke(0, "read", "k", Json::Null);
        let e = pair(&h.events).unwrap_err();
        assert!(e.to_string().contains("still open"), "{e}");
    }
}
