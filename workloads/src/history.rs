//! What the workload checkers share: the error for a history they cannot
//! read, and reading values out of events. Invocations are paired with
//! their completions by `faultline_histories::ops::pair`, the one pairing
//! the linearizability checker uses too.

use std::fmt;

use faultline_histories::ops::PairError;
use serde_json::Value as Json;

/// A history that breaks Jepsen's invoke/complete discipline, or whose
/// values a checker cannot read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryError {
    /// A process completed an operation it had not invoked.
    CompletionWithoutInvoke { index: u64, process: u64 },
    /// A process invoked a second operation while one was still open.
    DoubleInvoke { index: u64, process: u64 },
    /// An event's value does not have the shape its function needs.
    BadValue { index: u64, why: String },
}

impl From<PairError> for HistoryError {
    fn from(e: PairError) -> HistoryError {
        match e {
            PairError::CompletionWithoutInvoke { index, process } => {
                HistoryError::CompletionWithoutInvoke { index, process }
            }
            PairError::DoubleInvoke { index, process } => {
                HistoryError::DoubleInvoke { index, process }
            }
        }
    }
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::CompletionWithoutInvoke { index, process } => {
                PairError::CompletionWithoutInvoke {
                    index: *index,
                    process: *process,
                }
                .fmt(f)
            }
            HistoryError::DoubleInvoke { index, process } => PairError::DoubleInvoke {
                index: *index,
                process: *process,
            }
            .fmt(f),
            HistoryError::BadValue { index, why } => write!(f, "event {index}: {why}"),
        }
    }
}

impl std::error::Error for HistoryError {}

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
    use faultline_histories::ops::pair;
    use faultline_histories::{Event, EventType, Process};
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
    fn broken_histories_are_named() {
        let mut h = H::default();
        h.ok(0, "read", "k", json!(1));
        assert_eq!(
            pair(&h.events).map_err(HistoryError::from),
            Err(HistoryError::CompletionWithoutInvoke {
                index: 0,
                process: 0
            })
        );
        let mut h = H::default();
        h.invoke(0, "read", "k", Json::Null)
            .invoke(0, "read", "k", Json::Null);
        let e = HistoryError::from(pair(&h.events).unwrap_err());
        assert!(e.to_string().contains("still open"), "{e}");
    }
}
