//! The bank and counter workloads' sequential specifications (from
//! `faultline-workloads`) as models the linearizability checker of
//! `faultline-histories` can search: decoding history operations, and a
//! return value that matches anything for operations whose outcome is
//! unknown.

use std::fmt::Debug;
use std::hash::Hash;

use faultline_histories::model::{Decoded, Model};
use faultline_histories::ops::{Operation, Outcome};
use faultline_workloads::model::bank::Bank;
use faultline_workloads::model::counter::Counter;
use faultline_workloads::{Observation, Op, Workload};
use stateright::semantics::SequentialSpec;

/// What an operation returned, or `Unknown` for a write that may or may
/// not have happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    Known(Observation),
    Unknown,
}

/// A workload's spec, checked as a whole (bank) or per key (counter).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkloadModel<S> {
    spec: S,
    workload: Workload,
    per_key: bool,
}

/// The bank: one object, every transaction over all accounts, starting
/// empty (the opening transaction is part of the history).
pub fn bank() -> WorkloadModel<Bank> {
    WorkloadModel {
        spec: Bank::default(),
        workload: Workload::Bank,
        per_key: false,
    }
}

/// Counters: each key on its own, starting absent.
pub fn counter() -> WorkloadModel<Counter> {
    WorkloadModel {
        spec: Counter::default(),
        workload: Workload::Counter,
        per_key: true,
    }
}

impl<S> SequentialSpec for WorkloadModel<S>
where
    S: SequentialSpec<Op = Op, Ret = Observation>,
{
    type Op = Op;
    type Ret = Ret;

    fn invoke(&mut self, op: &Op) -> Ret {
        Ret::Known(self.spec.invoke(op))
    }

    fn is_valid_step(&mut self, op: &Op, ret: &Ret) -> bool {
        let actual = self.spec.invoke(op);
        match ret {
            Ret::Unknown => true,
            Ret::Known(r) => *r == actual,
        }
    }
}

impl<S> Model for WorkloadModel<S>
where
    S: SequentialSpec<Op = Op, Ret = Observation> + Clone + Eq + Hash + Debug + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.workload.name()
    }

    fn per_key(&self) -> bool {
        self.per_key
    }

    fn decode(&self, op: &Operation) -> Result<Decoded<Self>, String> {
        let wop = Op::from_invoke(self.workload, &op.f, op.key.as_deref(), &op.value)?;
        Ok(match &op.outcome {
            Outcome::Ok { value } => {
                let obs = wop.ok_observation(value)?;
                Some((wop, Ret::Known(obs)))
            }
            // It certainly did not happen.
            Outcome::Fail { .. } => None,
            // A read that may not have happened tells nothing.
            Outcome::Info if wop.is_write() => Some((wop, Ret::Unknown)),
            Outcome::Info => None,
        })
    }

    fn observes_only(op: &Op, _ret: &Ret) -> bool {
        !op.is_write()
    }

    fn describe_state(&self) -> String {
        format!("{:?}", self.spec)
    }

    fn describe_op(op: &Op) -> String {
        format!("{op:?}")
    }

    fn describe_ret(ret: &Ret) -> String {
        match ret {
            Ret::Known(o) => format!("{o:?}"),
            Ret::Unknown => "unknown".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_histories::check::{check, CheckOptions, Verdict};
    use faultline_histories::ops::pair;
    use faultline_histories::{Event, EventType, Process};
    use serde_json::{json, Value};

    fn ev(index: u64, p: u64, kind: EventType, f: &str, key: Option<&str>, value: Value) -> Event {
        Event {
            index,
            time: index * 10,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: key.map(str::to_string),
            value,
            error: None,
        }
    }

    fn verdict<M: Model>(model: &M, h: &[Event]) -> Verdict {
        check(model, &pair(h).unwrap(), &CheckOptions::default())
            .unwrap()
            .verdict
    }

    #[test]
    fn counter_reads_must_match_some_order_of_increments() {
        let mut h = vec![
            ev(0, 0, EventType::Invoke, "add", Some("c"), json!(2)),
            ev(1, 0, EventType::Ok, "add", Some("c"), json!(2)),
            ev(2, 1, EventType::Invoke, "add", Some("c"), json!(3)),
            ev(3, 1, EventType::Info, "add", Some("c"), json!(3)),
            ev(4, 2, EventType::Invoke, "read", Some("c"), json!(null)),
            ev(5, 2, EventType::Ok, "read", Some("c"), json!(5)),
        ];
        assert_eq!(verdict(&counter(), &h), Verdict::Linearizable);
        h[5].value = json!(2);
        assert_eq!(
            verdict(&counter(), &h),
            Verdict::Linearizable,
            "the info add may not have happened"
        );
        h[5].value = json!(4);
        assert_eq!(verdict(&counter(), &h), Verdict::NotLinearizable);
    }

    #[test]
    fn bank_reads_must_see_whole_transfers() {
        let open = json!([["w", "a", 10], ["w", "b", 10]]);
        let transfer = json!([["add", "a", -3], ["add", "b", 3]]);
        let read = json!([["r", "a", null], ["r", "b", null]]);
        let mut h = vec![
            ev(0, 0, EventType::Invoke, "txn", None, open.clone()),
            ev(1, 0, EventType::Ok, "txn", None, open),
            ev(2, 0, EventType::Invoke, "txn", None, transfer.clone()),
            ev(3, 0, EventType::Ok, "txn", None, transfer),
            ev(4, 1, EventType::Invoke, "txn", None, read),
            ev(
                5,
                1,
                EventType::Ok,
                "txn",
                None,
                json!([["r", "a", 7], ["r", "b", 13]]),
            ),
        ];
        assert_eq!(verdict(&bank(), &h), Verdict::Linearizable);
        h[5].value = json!([["r", "a", 7], ["r", "b", 10]]);
        assert_eq!(verdict(&bank(), &h), Verdict::NotLinearizable);
    }

    #[test]
    fn bad_values_are_decode_errors() {
        let h = vec![
            ev(0, 0, EventType::Invoke, "add", Some("c"), json!("x")),
            ev(1, 0, EventType::Ok, "add", Some("c"), json!("x")),
        ];
        assert!(check(&counter(), &pair(&h).unwrap(), &CheckOptions::default()).is_err());
    }
}
