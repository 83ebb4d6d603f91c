//! One line of a history, in Jepsen's vocabulary.
//!
//! A client operation is an `invoke` followed by exactly one completion:
//! `ok` (it happened, with this result), `fail` (it certainly did not happen)
//! or `info` (it may or may not have happened). A process that gets `info`
//! never invokes again. Nemesis events record faults with their targets.

use serde::{Deserialize, Serialize};

/// The `error` of a `fail` CAS that definitely found a value other than
/// the expected one. Such a failure is an observation (the value was not
/// `expected` at that moment), so the checker keeps it; a CAS failing with
/// any other error is dropped as not having happened.
pub const CAS_MISMATCH: &str = "cas-mismatch";

/// Who performed an event: a client process, or the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    Client(u64),
    Nemesis(NemesisTag),
}

/// Serialises as the string `"nemesis"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NemesisTag {
    Nemesis,
}

impl Process {
    pub const NEMESIS: Process = Process::Nemesis(NemesisTag::Nemesis);

    pub fn is_nemesis(&self) -> bool {
        matches!(self, Process::Nemesis(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// A history event. `value` is JSON so that every workload (integers,
/// `[expected, new]` CAS pairs, appended elements, list reads, transactions,
/// fault targets) fits one schema that `jq` can read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 0.
    pub index: u64,
    /// Simulated time since the start of the run, in nanoseconds.
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The function: `read`, `write`, `cas`, `append`, `txn`, ... or, for
    /// the nemesis, the fault (`partition`, `crash`, `heal`, ...).
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub value: serde_json::Value,
    /// Why an operation failed or is indeterminate (`timeout`, `not-leader`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
