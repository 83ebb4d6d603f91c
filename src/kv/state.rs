//! [`KvState`]: the replicated key-value state machine. Integer registers
//! and lists under string keys, and a session table that makes a retried
//! write take effect once.
//!
//! Every replica applies the same log entries in the same order and must end
//! in the same state, so nothing here may depend on anything but the
//! entries: no clocks, no hash-map order, no randomness.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bugs::{Bug, Bugs};

pub type ClientId = u64;
pub type Seq = u64;

/// A value stored under a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    Int(i64),
    List(Vec<i64>),
}

/// One step of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnStep {
    Read(String),
    Write(String, i64),
    /// Add to an integer (absent = 0); the whole transaction aborts if the
    /// result would be negative.
    Add(String, i64),
}

/// A state-changing command: goes through the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvCommand {
    Put {
        key: String,
        value: i64,
    },
    Cas {
        key: String,
        from: i64,
        to: i64,
    },
    Append {
        key: String,
        element: i64,
    },
    /// Add to an integer counter (absent = 0).
    Add {
        key: String,
        delta: i64,
    },
    /// Atomic multi-key reads and writes.
    Txn {
        steps: Vec<TxnStep>,
    },
}

/// A read: served from local state once the node has applied up to a
/// confirmed read index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvQuery {
    Get {
        key: String,
    },
    GetList {
        key: String,
    },
    /// Read several keys at one point of the log.
    Multi {
        keys: Vec<String>,
    },
}

/// A log entry's payload: a command and the session it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Proposal {
    pub client: ClientId,
    pub seq: Seq,
    pub command: KvCommand,
}

impl Proposal {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("a proposal always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Proposal, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("undecodable proposal: {e}"))
    }
}

/// What applying a command or answering a query produced.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvOutput {
    /// A put, append or add took effect.
    Done,
    Int(Option<i64>),
    List(Vec<i64>),
    /// Whether a CAS applied.
    Cas(bool),
    /// A committed transaction, with what its reads saw in order.
    Txn(Vec<(String, Option<i64>)>),
    /// A transaction that changed nothing because a step would have broken
    /// a rule (a negative balance).
    TxnAborted(String),
    /// The command was refused and changed nothing (wrong value type,
    /// overflow, a retry older than the session's last command, garbage).
    Rejected(String),
}

/// The last command a client had applied and what it returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Session {
    pub seq: Seq,
    pub output: KvOutput,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct SnapshotImage {
    data: BTreeMap<String, Value>,
    sessions: BTreeMap<ClientId, Session>,
}

/// The key-value state machine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvState {
    data: BTreeMap<String, Value>,
    sessions: BTreeMap<ClientId, Session>,
    bugs: Bugs,
}

impl KvState {
    pub fn new(bugs: Bugs) -> KvState {
        KvState {
            bugs,
            ..KvState::default()
        }
    }

    /// Apply one log entry's payload.
    pub fn apply(&mut self, bytes: &[u8]) -> KvOutput {
        match Proposal::decode(bytes) {
            Ok(p) => self.apply_proposal(&p),
            // Every replica sees the same bytes and refuses them the same way.
            Err(e) => {
                tracing::error!(error = %e, "refusing a log entry that does not decode");
                KvOutput::Rejected(e)
            }
        }
    }

    /// Apply a command once per (client, seq): a retry of the last command
    /// is answered from the session table.
    pub fn apply_proposal(&mut self, p: &Proposal) -> KvOutput {
        if let Some(s) = self.sessions.get(&p.client) {
            if p.seq < s.seq {
                // The client has moved on; it is not waiting for this answer.
                return KvOutput::Rejected(format!(
                    "stale sequence {} (session is at {})",
                    p.seq, s.seq
                ));
            }
            if p.seq == s.seq {
                if self.bugs.has(Bug::NoSessionDedup) {
                    // fall through and apply the retry again
                } else {
                    return s.output.clone();
                }
            }
        }
        let output = self.execute(&p.command);
        self.sessions.insert(
            p.client,
            Session {
                seq: p.seq,
                output: output.clone(),
            },
        );
        output
    }

    fn int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.data.get(key) {
            None => Ok(None),
            Some(Value::Int(v)) => Ok(Some(*v)),
            Some(Value::List(_)) => Err(format!("key {key:?} holds a list, not an integer")),
        }
    }

    fn execute(&mut self, cmd: &KvCommand) -> KvOutput {
        match cmd {
            KvCommand::Put { key, value } => {
                self.data.insert(key.clone(), Value::Int(*value));
                KvOutput::Done
            }
            KvCommand::Cas { key, from, to } => match self.int(key) {
                Err(e) => KvOutput::Rejected(e),
                Ok(Some(v)) if v == *from => {
                    self.data.insert(key.clone(), Value::Int(*to));
                    KvOutput::Cas(true)
                }
                Ok(_) => KvOutput::Cas(false),
            },
            KvCommand::Append { key, element } => match self.data.get_mut(key) {
                None => {
                    self.data.insert(key.clone(), Value::List(vec![*element]));
                    KvOutput::Done
                }
                Some(Value::List(l)) => {
                    l.push(*element);
                    KvOutput::Done
                }
                Some(Value::Int(_)) => {
                    KvOutput::Rejected(format!("key {key:?} holds an integer, not a list"))
                }
            },
            KvCommand::Add { key, delta } => match self.int(key) {
                Err(e) => KvOutput::Rejected(e),
                Ok(v) => match v.unwrap_or(0).checked_add(*delta) {
                    Some(n) => {
                        self.data.insert(key.clone(), Value::Int(n));
                        KvOutput::Done
                    }
                    None => KvOutput::Rejected(format!("adding {delta} to {key:?} overflows")),
                },
            },
            KvCommand::Txn { steps } => self.txn(steps),
        }
    }

    /// All steps or none: run against a scratch copy of the touched keys,
    /// then install it.
    fn txn(&mut self, steps: &[TxnStep]) -> KvOutput {
        let mut scratch: BTreeMap<&str, Option<i64>> = BTreeMap::new();
        let mut reads = Vec::new();
        for step in steps {
            let key = match step {
                TxnStep::Read(k) | TxnStep::Write(k, _) | TxnStep::Add(k, _) => k.as_str(),
            };
            let current = match scratch.get(key) {
                Some(v) => *v,
                None => match self.int(key) {
                    Ok(v) => v,
                    Err(e) => return KvOutput::Rejected(e),
                },
            };
            match step {
                TxnStep::Read(_) => {
                    reads.push((key.to_string(), current));
                    scratch.insert(key, current);
                }
                TxnStep::Write(_, v) => {
                    scratch.insert(key, Some(*v));
                }
                TxnStep::Add(_, d) => match current.unwrap_or(0).checked_add(*d) {
                    Some(n) if n >= 0 => {
                        scratch.insert(key, Some(n));
                    }
                    Some(n) => return KvOutput::TxnAborted(format!("{key:?} would become {n}")),
                    None => return KvOutput::Rejected(format!("adding {d} to {key:?} overflows")),
                },
            }
        }
        for (key, v) in scratch {
            if let Some(v) = v {
                self.data.insert(key.to_string(), Value::Int(v));
            }
        }
        KvOutput::Txn(reads)
    }

    /// Answer a read from the current state.
    pub fn query(&self, q: &KvQuery) -> KvOutput {
        match q {
            KvQuery::Get { key } => match self.int(key) {
                Ok(v) => KvOutput::Int(v),
                Err(e) => KvOutput::Rejected(e),
            },
            KvQuery::GetList { key } => match self.data.get(key) {
                None => KvOutput::List(Vec::new()),
                Some(Value::List(l)) => KvOutput::List(l.clone()),
                Some(Value::Int(_)) => {
                    KvOutput::Rejected(format!("key {key:?} holds an integer, not a list"))
                }
            },
            KvQuery::Multi { keys } => {
                let mut reads = Vec::with_capacity(keys.len());
                for key in keys {
                    match self.int(key) {
                        Ok(v) => reads.push((key.clone(), v)),
                        Err(e) => return KvOutput::Rejected(e),
                    }
                }
                KvOutput::Txn(reads)
            }
        }
    }

    /// The whole state, sessions included, as bytes for a Raft snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        let sessions = if self.bugs.has(Bug::SessionsNotInSnapshot) {
            BTreeMap::new()
        } else {
            self.sessions.clone()
        };
        let image = SnapshotImage {
            data: self.data.clone(),
            sessions,
        };
        postcard::to_stdvec(&image).expect("a snapshot image always encodes")
    }

    /// Replace the state with a snapshot's.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let image: SnapshotImage =
            postcard::from_bytes(bytes).map_err(|e| format!("undecodable KV snapshot: {e}"))?;
        self.data = image.data;
        self.sessions = image.sessions;
        Ok(())
    }

    /// Every key and value, in key order (for agreement checks).
    pub fn data(&self) -> &BTreeMap<String, Value> {
        &self.data
    }

    pub fn sessions(&self) -> &BTreeMap<ClientId, Session> {
        &self.sessions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(client: ClientId, seq: Seq, command: KvCommand) -> Vec<u8> {
        Proposal {
            client,
            seq,
            command,
        }
        .encode()
    }

    fn put(key: &str, value: i64) -> KvCommand {
        KvCommand::Put {
            key: key.into(),
            value,
        }
    }

    fn get(kv: &KvState, key: &str) -> KvOutput {
        kv.query(&KvQuery::Get { key: key.into() })
    }

    #[test]
    fn registers_and_cas() {
        let mut kv = KvState::default();
        assert_eq!(get(&kv, "x"), KvOutput::Int(None));
        assert_eq!(kv.apply(&p(1, 1, put("x", 5))), KvOutput::Done);
        let cas = |from, to| KvCommand::Cas {
            key: "x".into(),
            from,
            to,
        };
        assert_eq!(kv.apply(&p(1, 2, cas(4, 9))), KvOutput::Cas(false));
        assert_eq!(kv.apply(&p(1, 3, cas(5, 9))), KvOutput::Cas(true));
        assert_eq!(get(&kv, "x"), KvOutput::Int(Some(9)));
        // CAS on an absent key never matches.
        let absent = KvCommand::Cas {
            key: "y".into(),
            from: 0,
            to: 1,
        };
        assert_eq!(kv.apply(&p(1, 4, absent)), KvOutput::Cas(false));
    }

    #[test]
    fn lists_counters_and_type_errors() {
        let mut kv = KvState::default();
        for (seq, e) in [(1, 10), (2, 20)] {
            let c = KvCommand::Append {
                key: "l".into(),
                element: e,
            };
            assert_eq!(kv.apply(&p(1, seq, c)), KvOutput::Done);
        }
        assert_eq!(
            kv.query(&KvQuery::GetList { key: "l".into() }),
            KvOutput::List(vec![10, 20])
        );
        let add = |delta| KvCommand::Add {
            key: "c".into(),
            delta,
        };
        kv.apply(&p(1, 3, add(3)));
        kv.apply(&p(1, 4, add(-5)));
        assert_eq!(get(&kv, "c"), KvOutput::Int(Some(-2)));
        assert!(matches!(get(&kv, "l"), KvOutput::Rejected(_)));
        assert!(matches!(
            kv.apply(&p(1, 5, put("x", i64::MAX))),
            KvOutput::Done
        ));
        let overflow = KvCommand::Add {
            key: "x".into(),
            delta: 1,
        };
        assert!(matches!(
            kv.apply(&p(1, 6, overflow)),
            KvOutput::Rejected(_)
        ));
        assert_eq!(get(&kv, "x"), KvOutput::Int(Some(i64::MAX)));
        assert!(matches!(
            kv.apply(&[0xff, 0xff, 0xff]),
            KvOutput::Rejected(_)
        ));
    }

    #[test]
    fn retried_command_applies_once() {
        let mut kv = KvState::default();
        let append = |e| KvCommand::Append {
            key: "l".into(),
            element: e,
        };
        assert_eq!(kv.apply(&p(7, 1, append(1))), KvOutput::Done);
        assert_eq!(kv.apply(&p(7, 1, append(1))), KvOutput::Done);
        assert_eq!(
            kv.query(&KvQuery::GetList { key: "l".into() }),
            KvOutput::List(vec![1])
        );
        // A CAS retry answers what the first attempt saw, not a re-evaluation.
        kv.apply(&p(7, 2, put("x", 1)));
        let cas = KvCommand::Cas {
            key: "x".into(),
            from: 1,
            to: 2,
        };
        assert_eq!(kv.apply(&p(7, 3, cas.clone())), KvOutput::Cas(true));
        assert_eq!(kv.apply(&p(7, 3, cas)), KvOutput::Cas(true));
        // An older sequence is refused and changes nothing.
        assert!(matches!(
            kv.apply(&p(7, 1, append(1))),
            KvOutput::Rejected(_)
        ));
        // Other clients have their own sessions.
        assert_eq!(kv.apply(&p(8, 1, append(2))), KvOutput::Done);
        assert_eq!(
            kv.query(&KvQuery::GetList { key: "l".into() }),
            KvOutput::List(vec![1, 2])
        );
    }

    #[test]
    fn no_session_dedup_bug_applies_retries_again() {
        let mut kv = KvState::new(Bugs::only(Bug::NoSessionDedup));
        let append = KvCommand::Append {
            key: "l".into(),
            element: 1,
        };
        kv.apply(&p(7, 1, append.clone()));
        kv.apply(&p(7, 1, append));
        assert_eq!(
            kv.query(&KvQuery::GetList { key: "l".into() }),
            KvOutput::List(vec![1, 1])
        );
    }

    #[test]
    fn txn_is_all_or_nothing() {
        let mut kv = KvState::default();
        let open = KvCommand::Txn {
            steps: vec![
                TxnStep::Write("a".into(), 10),
                TxnStep::Write("b".into(), 10),
            ],
        };
        assert_eq!(kv.apply(&p(1, 1, open)), KvOutput::Txn(vec![]));
        let transfer = |amount: i64| KvCommand::Txn {
            steps: vec![
                TxnStep::Add("a".into(), -amount),
                TxnStep::Add("b".into(), amount),
                TxnStep::Read("a".into()),
            ],
        };
        assert_eq!(
            kv.apply(&p(1, 2, transfer(4))),
            KvOutput::Txn(vec![("a".into(), Some(6))])
        );
        assert!(matches!(
            kv.apply(&p(1, 3, transfer(7))),
            KvOutput::TxnAborted(_)
        ));
        assert_eq!(
            kv.query(&KvQuery::Multi {
                keys: vec!["a".into(), "b".into(), "z".into()]
            }),
            KvOutput::Txn(vec![
                ("a".into(), Some(6)),
                ("b".into(), Some(14)),
                ("z".into(), None)
            ])
        );
    }

    #[test]
    fn snapshot_round_trips_with_sessions() {
        let mut kv = KvState::default();
        kv.apply(&p(3, 1, put("x", 1)));
        let append = KvCommand::Append {
            key: "l".into(),
            element: 5,
        };
        kv.apply(&p(3, 2, append.clone()));
        let mut restored = KvState::default();
        restored.restore(&kv.snapshot()).unwrap();
        assert_eq!(restored, kv);
        // The restored replica still deduplicates the retry.
        restored.apply(&p(3, 2, append));
        assert_eq!(
            restored.query(&KvQuery::GetList { key: "l".into() }),
            KvOutput::List(vec![5])
        );
        assert!(restored.restore(b"\x01garbage").is_err());
    }

    #[test]
    fn sessions_not_in_snapshot_bug_loses_dedup() {
        let mut kv = KvState::new(Bugs::only(Bug::SessionsNotInSnapshot));
        let append = KvCommand::Append {
            key: "l".into(),
            element: 5,
        };
        kv.apply(&p(3, 1, append.clone()));
        let mut restored = KvState::default();
        restored.restore(&kv.snapshot()).unwrap();
        assert!(restored.sessions().is_empty());
        restored.apply(&p(3, 1, append));
        assert_eq!(
            restored.query(&KvQuery::GetList { key: "l".into() }),
            KvOutput::List(vec![5, 5])
        );
    }
}
