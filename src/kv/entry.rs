//! A history event before a recorder numbers and stamps it: the invoke of
//! a client operation, its completion, or a nemesis record. Built here
//! once so the simulation's recorder and the real run's write the same
//! shape; they differ only in their clocks and locking.

use faultline_histories::{Event, EventType, Process};
use faultline_workloads::Op;
use serde_json::Value as Json;

use super::Outcome;

/// Everything of an [`Event`] but its index and time.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub process: Process,
    pub kind: EventType,
    pub f: String,
    pub key: Option<String>,
    pub value: Json,
    pub error: Option<String>,
}

impl Entry {
    /// Client `process` is about to send `op`.
    pub fn invoke(process: u64, op: &Op) -> Entry {
        Entry {
            process: Process::Client(process),
            kind: EventType::Invoke,
            f: op.f().to_string(),
            key: op.key().map(str::to_string),
            value: op.invoke_value(),
            error: None,
        }
    }

    /// What became of `op` for client `process`: an `ok` carries what was
    /// observed, a `fail` or `info` the invoked value and why.
    pub fn completion(process: u64, op: &Op, outcome: &Outcome) -> Entry {
        let (kind, value, error) = match outcome {
            Outcome::Ok(obs) => (EventType::Ok, op.ok_value(obs), None),
            Outcome::Fail(why) => (EventType::Fail, op.invoke_value(), Some(why.clone())),
            Outcome::Info(why) => (EventType::Info, op.invoke_value(), Some(why.clone())),
        };
        Entry {
            process: Process::Client(process),
            kind,
            f: op.f().to_string(),
            key: op.key().map(str::to_string),
            value,
            error,
        }
    }

    /// A fault, heal or skip by the nemesis.
    pub fn nemesis(f: &str, value: Json, error: Option<String>) -> Entry {
        Entry {
            process: Process::NEMESIS,
            kind: EventType::Info,
            f: f.to_string(),
            key: None,
            value,
            error,
        }
    }

    /// The event at position `index` of a history, `time_ns` into the run.
    pub fn at(self, index: u64, time_ns: u64) -> Event {
        Event {
            index,
            time: time_ns,
            process: self.process,
            kind: self.kind,
            f: self.f,
            key: self.key,
            value: self.value,
            error: self.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_workloads::Observation;
    use serde_json::json;

    #[test]
    fn a_completion_carries_what_was_observed_or_why_not() {
        let read = Op::Read { key: "r1".into() };
        let invoke = Entry::invoke(3, &read).at(0, 10);
        assert_eq!(
            (invoke.process, invoke.kind, invoke.f.as_str()),
            (Process::Client(3), EventType::Invoke, "read")
        );
        assert_eq!(
            (invoke.key.as_deref(), &invoke.value),
            (Some("r1"), &Json::Null)
        );
        let ok = Entry::completion(3, &read, &Outcome::Ok(Observation::Int(Some(7)))).at(1, 20);
        assert_eq!(
            (ok.kind, &ok.value, &ok.error),
            (EventType::Ok, &json!(7), &None)
        );
        assert_eq!((ok.index, ok.time), (1, 20));
        let fail = Entry::completion(3, &read, &Outcome::Fail("not-leader".into()));
        assert_eq!(
            (fail.kind, &fail.value, fail.error.as_deref()),
            (EventType::Fail, &Json::Null, Some("not-leader"))
        );
        let info = Entry::completion(3, &read, &Outcome::Info("timeout".into()));
        assert_eq!(
            (info.kind, info.error.as_deref(), info.key.as_deref()),
            (EventType::Info, Some("timeout"), Some("r1"))
        );
    }

    #[test]
    fn nemesis_entries_are_info_of_the_nemesis_process() {
        let e = Entry::nemesis(
            "crash",
            json!({"nodes": [1]}),
            Some("skipped: no leader".into()),
        );
        assert_eq!(
            (e.process, e.kind, e.key),
            (Process::NEMESIS, EventType::Info, None)
        );
        assert_eq!(e.f, "crash");
    }
}
