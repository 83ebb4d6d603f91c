//! Checkers against histories of generated operations run on an in-memory
//! store that linearizes each operation at a random point between its
//! invocation and completion: a correct store must never be flagged, and a
//! store with a planted bug must be caught, named as the bug it is.

use std::collections::BTreeMap;

use faultline_histories::{Event, EventType, Process};
use faultline_workloads::check::{bank, counter, list_append, set};
use faultline_workloads::model::bank::Bank;
use faultline_workloads::{
    AnomalyKind, Generator, GeneratorConfig, Observation, Op, Verdict, Workload,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stateright::semantics::SequentialSpec;

#[derive(Clone, Copy, PartialEq)]
enum Bug {
    None,
    /// Retries are applied again: every append is applied twice.
    NoSessionDedup,
    /// Some appends are acknowledged but never applied.
    AckBeforeCommit,
    /// A transfer's credit lands one operation after its debit.
    TornTxn,
    /// Increments are applied twice.
    DoubleIncrement,
}

struct Store {
    ints: Bank,
    lists: BTreeMap<String, Vec<i64>>,
    bug: Bug,
    /// TornTxn: the half of a transfer still to apply.
    late: Option<Op>,
}

impl Store {
    fn apply(&mut self, op: &Op, rng: &mut ChaCha8Rng) -> Observation {
        let late = self.late.take();
        let obs = self.apply_now(op, rng);
        if let Some(late) = late {
            self.ints.invoke(&late);
        }
        obs
    }

    fn apply_now(&mut self, op: &Op, rng: &mut ChaCha8Rng) -> Observation {
        match op {
            Op::Txn { ops } if self.bug == Bug::TornTxn && ops.len() == 2 && op.is_write() => {
                let first = Op::Txn {
                    ops: vec![ops[0].clone()],
                };
                let obs = self.ints.invoke(&first);
                if obs == Observation::Applied(true) {
                    self.late = Some(Op::Txn {
                        ops: vec![ops[1].clone()],
                    });
                }
                obs
            }
            Op::Increment { .. } if self.bug == Bug::DoubleIncrement => {
                self.ints.invoke(op);
                self.ints.invoke(op)
            }
            Op::Append { key, element } => {
                let skip = self.bug == Bug::AckBeforeCommit && rng.random_bool(0.2);
                if !skip {
                    let l = self.lists.entry(key.clone()).or_default();
                    l.push(*element);
                    if self.bug == Bug::NoSessionDedup {
                        l.push(*element);
                    }
                }
                Observation::Done
            }
            Op::ReadList { key } => {
                Observation::List(self.lists.get(key).cloned().unwrap_or_default())
            }
            other => self.ints.invoke(other),
        }
    }
}

struct Pending {
    op: Op,
    result: Option<Observation>,
}

/// Run `ops` generated operations on `concurrency` clients, then the final reads.
fn run(workload: Workload, seed: u64, ops: usize, bug: Bug) -> (Vec<Event>, Generator) {
    let config = GeneratorConfig::for_workload(workload);
    let concurrency = config.concurrency as u64;
    let mut g = Generator::new(workload, config).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut store = Store {
        ints: Bank::default(),
        lists: BTreeMap::new(),
        bug,
        late: None,
    };
    let mut events = Vec::new();
    let emit = |events: &mut Vec<Event>, p: u64, kind: EventType, op: &Op, value| {
        let index = events.len() as u64;
        events.push(Event {
            index,
            time: index * 1_000,
            process: Process::Client(p),
            kind,
            f: op.f().to_string(),
            key: op.key().map(str::to_string),
            value,
            error: None,
        });
    };
    for op in g.initial_ops() {
        emit(&mut events, 0, EventType::Invoke, &op, op.invoke_value());
        let obs = store.apply(&op, &mut rng);
        emit(&mut events, 0, EventType::Ok, &op, op.ok_value(&obs));
    }
    // Slot i runs process procs[i]; a process that ends with info is replaced.
    let mut procs: Vec<u64> = (0..concurrency).collect();
    let mut pending: BTreeMap<usize, Pending> = BTreeMap::new();
    let mut issued = 0;
    while issued < ops || !pending.is_empty() {
        let slot = rng.random_range(0..procs.len());
        let p = procs[slot];
        match pending.get_mut(&slot) {
            None if issued < ops => {
                let op = g.next_op(p, &mut rng);
                emit(&mut events, p, EventType::Invoke, &op, op.invoke_value());
                pending.insert(slot, Pending { op, result: None });
                issued += 1;
            }
            None => {}
            Some(pend) if pend.result.is_none() => {
                if rng.random_bool(0.05) {
                    // Times out before it reaches the store.
                    let pend = pending.remove(&slot).unwrap();
                    let kind = if pend.op.is_write() {
                        EventType::Info
                    } else {
                        EventType::Fail
                    };
                    emit(&mut events, p, kind, &pend.op, pend.op.invoke_value());
                    if kind == EventType::Info {
                        procs[slot] += concurrency;
                    }
                } else {
                    pend.result = Some(store.apply(&pend.op, &mut rng));
                }
            }
            Some(_) => {
                let pend = pending.remove(&slot).unwrap();
                let obs = pend.result.unwrap();
                if rng.random_bool(0.05) && pend.op.is_write() {
                    // Applied, but the reply was lost.
                    emit(
                        &mut events,
                        p,
                        EventType::Info,
                        &pend.op,
                        pend.op.invoke_value(),
                    );
                    procs[slot] += concurrency;
                } else if obs == Observation::Applied(false) {
                    emit(
                        &mut events,
                        p,
                        EventType::Fail,
                        &pend.op,
                        pend.op.invoke_value(),
                    );
                } else {
                    emit(
                        &mut events,
                        p,
                        EventType::Ok,
                        &pend.op,
                        pend.op.ok_value(&obs),
                    );
                }
            }
        }
    }
    for op in g.final_ops() {
        let p = procs[0];
        emit(&mut events, p, EventType::Invoke, &op, op.invoke_value());
        let obs = store.apply(&op, &mut rng);
        emit(&mut events, p, EventType::Ok, &op, op.ok_value(&obs));
    }
    (events, g)
}

#[test]
fn a_correct_store_is_never_flagged() {
    for seed in 0..20 {
        let (h, _) = run(Workload::ListAppend, seed, 2_000, Bug::None);
        let r = list_append::check(&h).unwrap();
        assert_eq!(
            r.verdict(),
            Verdict::Valid,
            "seed {seed}: {}",
            r.findings.explain("list-append")
        );
        assert!(r.acknowledged > 500);

        let (h, _) = run(Workload::Set, seed, 2_000, Bug::None);
        let r = set::check(&h).unwrap();
        assert_eq!(
            r.verdict(),
            Verdict::Valid,
            "seed {seed}: {}",
            r.findings.explain("set")
        );

        let (h, _) = run(Workload::Counter, seed, 2_000, Bug::None);
        let r = counter::check(&h).unwrap();
        assert_eq!(
            r.verdict(),
            Verdict::Valid,
            "seed {seed}: {}",
            r.findings.explain("counter")
        );
        assert!(r.reads > 500);

        let (h, g) = run(Workload::Bank, seed, 2_000, Bug::None);
        let r = bank::check(&h, &g.accounts(), g.bank_total()).unwrap();
        assert_eq!(
            r.verdict(),
            Verdict::Valid,
            "seed {seed}: {}",
            r.findings.explain("bank")
        );
        assert!(r.reads > 500);
    }
}

#[test]
fn no_session_dedup_shows_as_duplicated_elements_in_list_append() {
    let (h, _) = run(Workload::ListAppend, 1, 500, Bug::NoSessionDedup);
    let r = list_append::check(&h).unwrap();
    assert!(
        !r.findings.of(AnomalyKind::Duplicated).is_empty(),
        "{}",
        r.findings.explain("list-append")
    );
}

#[test]
fn ack_before_commit_shows_as_lost_elements_in_set() {
    let (h, _) = run(Workload::Set, 1, 500, Bug::AckBeforeCommit);
    let r = set::check(&h).unwrap();
    let lost = r.findings.of(AnomalyKind::Lost);
    assert!(!lost.is_empty(), "{}", r.findings.explain("set"));
    assert!(lost[0].explanation.contains("acknowledged"));
}

#[test]
fn a_torn_transfer_shows_as_non_atomic_in_bank() {
    let (h, g) = run(Workload::Bank, 1, 500, Bug::TornTxn);
    let r = bank::check(&h, &g.accounts(), g.bank_total()).unwrap();
    assert!(
        !r.findings.of(AnomalyKind::NonAtomic).is_empty(),
        "{}",
        r.findings.explain("bank")
    );
}

#[test]
fn a_doubled_increment_shows_as_out_of_bounds_in_counter() {
    let (h, _) = run(Workload::Counter, 1, 500, Bug::DoubleIncrement);
    let r = counter::check(&h).unwrap();
    let found = r.findings.of(AnomalyKind::OutOfBounds);
    assert!(!found.is_empty(), "{}", r.findings.explain("counter"));
    assert!(found[0].explanation.contains("more was added"));
}
