//! Many operations of unknown outcome on one key: the search's reductions
//! (unobservable register values collapsed, identical unknown operations
//! placed in call order) decide such histories fast, and never hide a
//! violation.

use std::path::PathBuf;
use std::time::Duration;

use faultline_histories::command::{check_events, check_ops, ModelSpec};
use faultline_histories::event::{Event, EventType, Process, CAS_MISMATCH};
use faultline_histories::ops::pair;
use faultline_histories::simulate::{mutate, register_history, Rng, SimConfig};
use faultline_histories::{import, CheckOptions, CheckReport, Verdict};
use serde_json::{json, Value as Json};

const LIN: Verdict = Verdict::Linearizable;
const NOT: Verdict = Verdict::NotLinearizable;

fn cas_register(initial: Option<i64>) -> ModelSpec {
    ModelSpec::CasRegister { initial }
}

fn opts(budget: Duration, reduce: bool) -> CheckOptions {
    CheckOptions {
        budget: Some(budget),
        reduce,
        ..CheckOptions::default()
    }
}

/// Builds a one-key history one event at a time, 10 ns apart.
#[derive(Default)]
struct H {
    events: Vec<Event>,
}

impl H {
    fn ev(&mut self, p: u64, kind: EventType, f: &str, value: Json, error: Option<&str>) {
        let index = self.events.len() as u64;
        self.events.push(Event {
            index,
            time: index * 10,
            process: Process::Client(p),
            kind,
            f: f.into(),
            key: Some("k".into()),
            value,
            error: error.map(str::to_string),
        });
    }
    fn invoke(&mut self, p: u64, f: &str, v: Json) -> &mut H {
        self.ev(p, EventType::Invoke, f, v, None);
        self
    }
    fn ok(&mut self, p: u64, f: &str, v: Json) -> &mut H {
        self.ev(p, EventType::Ok, f, v, None);
        self
    }
    /// An operation that timed out: it may take effect at any later point.
    fn unknown(&mut self, p: u64, f: &str, v: Json) -> &mut H {
        self.invoke(p, f, v.clone());
        self.ev(p, EventType::Info, f, v, Some("timeout"));
        self
    }
    fn op_write(&mut self, p: u64, v: i64) -> &mut H {
        self.invoke(p, "write", json!(v)).ok(p, "write", json!(v))
    }
    fn mismatch(&mut self, p: u64, from: i64, to: i64) -> &mut H {
        self.invoke(p, "cas", json!([from, to]));
        self.ev(
            p,
            EventType::Fail,
            "cas",
            json!([from, to]),
            Some(CAS_MISMATCH),
        );
        self
    }
    fn check(&self, spec: &ModelSpec, opts: &CheckOptions) -> CheckReport {
        check_events(&self.events, spec, opts).unwrap()
    }
    fn verdict(&self, initial: Option<i64>) -> Verdict {
        self.check(&cas_register(initial), &CheckOptions::default())
            .verdict
    }
}

/// The key of the 1,000-seed control whose check ran out of its 30 s
/// budget: 91 operations, 20 writes and CASes of unknown outcome during a
/// leader change, none of their values read afterwards.
#[test]
fn seed_469s_hard_key_is_decided_within_a_second() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/faultline/register-all-seed469-key-r52-ok.jsonl");
    let loaded = import::load(&path, None).unwrap();
    let ops = pair(&loaded.events).unwrap();
    let r = check_ops(
        &cas_register(None),
        &ops,
        &opts(Duration::from_secs(1), true),
    )
    .unwrap();
    assert_eq!(r.verdict, LIN, "{}", r.summary());
    // Without the reductions the search does not finish (it ran out of
    // 60 s when this history was recorded).
    let plain = check_ops(
        &cas_register(None),
        &ops,
        &opts(Duration::from_millis(300), false),
    )
    .unwrap();
    assert_eq!(plain.verdict, Verdict::Unknown, "{}", plain.summary());
}

/// `k` writes of unknown outcome that nobody reads, then `pairs` rounds of
/// a definite write followed by a CAS that found something else: each
/// round needs one of the unknown writes to land between its two
/// operations, so the history is linearizable iff `pairs <= k`.
fn rounds(k: u64, pairs: i64) -> H {
    let mut h = H::default();
    for j in 0..k {
        h.unknown(100 + j, "write", json!(1000 + j));
    }
    for i in 1..=pairs {
        h.invoke(1, "write", json!(i)).ok(1, "write", json!(i));
        h.mismatch(1, i, 500 + i);
    }
    h
}

#[test]
fn identical_unknown_writes_are_counted_not_chosen() {
    let budget = Duration::from_secs(5);
    let enough = rounds(24, 24).check(&cas_register(None), &opts(budget, true));
    assert_eq!(enough.verdict, LIN, "{}", enough.summary());
    // One round too many: the violation must survive the reductions, and
    // be found, with its explanation, well within the budget (choosing
    // which 24 of 24 writes to use would take 2^24 configurations).
    let short = rounds(24, 25).check(&cas_register(None), &opts(budget, true));
    assert_eq!(short.verdict, NOT, "{}", short.summary());
    let e = short.partitions[0].explanation.as_ref().unwrap();
    assert!(e.stuck.is_some(), "{}", e.sentence);
    // The same, small enough for the plain search, gets the same answers.
    for (pairs, want) in [(6, LIN), (7, NOT)] {
        let plain = rounds(6, pairs).check(&cas_register(None), &opts(budget, false));
        assert_eq!(plain.verdict, want, "{}", plain.summary());
        assert_eq!(rounds(6, pairs).verdict(None), want);
    }
}

/// etcd's robustness tests drop unknown writes whose value nobody read;
/// for a CAS register that is wrong: a CAS that found something other than
/// what it expected may need such a write to have happened.
#[test]
fn an_unread_unknown_write_can_still_explain_a_cas_mismatch() {
    let mut h = H::default();
    h.unknown(1, "write", json!(5)).mismatch(2, 0, 7);
    assert_eq!(h.verdict(Some(0)), LIN);
    // Without it the mismatch is impossible.
    let mut h = H::default();
    h.mismatch(2, 0, 7);
    assert_eq!(h.verdict(Some(0)), NOT);
}

#[test]
fn an_unknown_cas_chain_is_kept_when_its_end_is_read() {
    let mut h = H::default();
    h.unknown(1, "write", json!(1))
        .unknown(2, "cas", json!([1, 2]))
        .unknown(3, "cas", json!([2, 3]))
        .invoke(4, "read", Json::Null)
        .ok(4, "read", json!(3));
    assert_eq!(h.verdict(None), LIN);
    // A link missing: 3 cannot be reached.
    let mut h = H::default();
    h.unknown(1, "write", json!(1))
        .unknown(3, "cas", json!([2, 3]))
        .invoke(4, "read", Json::Null)
        .ok(4, "read", json!(3));
    assert_eq!(h.verdict(None), NOT);
}

#[test]
fn violations_among_unknown_operations_stay_violations() {
    // The CAS expects a value nobody wrote, so its new value is unreachable.
    let mut h = H::default();
    h.invoke(1, "write", json!(1))
        .ok(1, "write", json!(1))
        .unknown(2, "cas", json!([5, 2]))
        .unknown(3, "write", json!(9))
        .invoke(4, "read", Json::Null)
        .ok(4, "read", json!(2));
    assert_eq!(h.verdict(None), NOT);
    // A read of the initial value after a definite write, with only
    // unobservable unknown writes around it.
    let mut h = H::default();
    h.unknown(2, "write", json!(8))
        .unknown(3, "cas", json!([8, 9]))
        .invoke(1, "write", json!(1))
        .ok(1, "write", json!(1))
        .invoke(4, "read", Json::Null)
        .ok(4, "read", Json::Null);
    assert_eq!(h.verdict(None), NOT);
}

/// The reductions change no verdict: random CAS-register histories with
/// many unknown outcomes, valid and mutated, judged with and without them.
#[test]
fn reductions_agree_with_the_plain_search() {
    let (mut total, mut invalid, mut changed) = (0, 0, 0);
    for seed in 0..200u64 {
        let mut events = register_history(&SimConfig {
            seed,
            clients: 2 + (seed % 4) as usize,
            keys: 1,
            ops: 8 + (seed % 20) as usize,
            info: 0.2 + (seed % 3) as f64 * 0.1,
            cas: true,
            progress: 0.4,
        });
        if seed % 3 != 0 {
            mutate(&mut events, &mut Rng::new(seed));
        }
        let budget = Duration::from_secs(20);
        let with = check_events(&events, &cas_register(None), &opts(budget, true)).unwrap();
        let without = check_events(&events, &cas_register(None), &opts(budget, false)).unwrap();
        assert_ne!(without.verdict, Verdict::Unknown, "seed {seed}");
        assert_eq!(
            with.verdict,
            without.verdict,
            "seed {seed}: {}",
            serde_json::to_string(&events).unwrap()
        );
        total += 1;
        invalid += (with.verdict == NOT) as usize;
        changed += (with.partitions[0].steps != without.partitions[0].steps) as usize;
    }
    // Both verdicts occur, and the reductions did act on many histories.
    assert!(
        invalid * 4 > total && invalid * 4 < total * 3,
        "{invalid} of {total} invalid"
    );
    assert!(
        changed * 3 > total,
        "the reductions changed the search on {changed} of {total}"
    );
}

/// Seed 477 of a control: two overlapping writes nobody read, the later
/// one's writer then finds its own value gone. Valid (the other write went
/// second), and must stay so: collapsing definite writes' values into one
/// would make the second write look like it changes nothing, and the
/// search place it at once, in the wrong order.
#[test]
fn overlapping_unread_writes_keep_their_order_open() {
    let mut h = H::default();
    h.invoke(1, "write", json!(1))
        .ok(1, "write", json!(1))
        .invoke(2, "write", json!(2))
        .invoke(3, "write", json!(3))
        .ok(2, "write", json!(2))
        .ok(3, "write", json!(3))
        .mismatch(3, 3, 4);
    assert_eq!(h.verdict(None), LIN);
    let plain = h.check(&cas_register(None), &opts(Duration::from_secs(5), false));
    assert_eq!(plain.verdict, LIN);
    // Had the other write finished first, the mismatch is a violation.
    let mut h = H::default();
    h.invoke(1, "write", json!(1))
        .ok(1, "write", json!(1))
        .invoke(2, "write", json!(2))
        .ok(2, "write", json!(2))
        .invoke(3, "write", json!(3))
        .ok(3, "write", json!(3))
        .mismatch(3, 3, 4);
    assert_eq!(h.verdict(None), NOT);
}

/// Duplicate written values (imported Knossos and etcd histories have
/// them): a write of the value the register already holds changes nothing
/// where it stands, but placed later it overwrites another value, so the
/// search must not force it into place as it does a read.
#[test]
fn a_write_of_the_current_value_is_not_forced_into_place() {
    let mut h = H::default();
    h.invoke(1, "write", json!(1))
        .ok(1, "write", json!(1))
        .invoke(3, "write", json!(1))
        .invoke(2, "write", json!(2))
        .ok(3, "write", json!(1))
        .ok(2, "write", json!(2))
        .invoke(4, "read", Json::Null)
        .ok(4, "read", json!(1));
    for model in ["register", "cas-register", "kv"] {
        let spec: ModelSpec = model.parse().unwrap();
        for zones in [true, false] {
            let r = h.check(
                &spec,
                &CheckOptions {
                    zones,
                    ..CheckOptions::default()
                },
            );
            assert_eq!(r.verdict, LIN, "{model}: {}", r.summary());
        }
    }
    // The second write of 1 finished before the write of 2 began: now the
    // read of 1 is stale.
    let mut h = H::default();
    h.op_write(1, 1).op_write(3, 1).op_write(2, 2);
    h.invoke(4, "read", Json::Null).ok(4, "read", json!(1));
    assert_eq!(h.verdict(None), NOT);
}
