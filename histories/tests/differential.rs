//! Differential property tests: random small concurrent histories of a
//! real atomic register, valid by construction, and mutated copies, judged
//! by our search and by stateright's own `LinearizabilityTester` (exhaustive
//! and slow, so the histories stay small). They must always agree.

use faultline_histories::command::{check_ops, ModelSpec};
use faultline_histories::model::{CasRegister, KvKey, Model};
use faultline_histories::ops::{pair, Operation};
use faultline_histories::simulate::{mutate, register_history, Rng, SimConfig};
use faultline_histories::{CheckOptions, Event, Verdict};
use proptest::prelude::*;
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

/// Stateright's verdict: events fed in history order; an operation whose
/// outcome is unknown stays in flight (its process never invokes again);
/// operations the model drops are not fed at all.
fn stateright_says<M: Model>(model: &M, ops: &[Operation]) -> bool {
    let mut feed: Vec<(u64, bool, usize)> = Vec::new();
    let mut decoded = Vec::new();
    for op in ops {
        let Some(pair) = model.decode(op).expect("decodable") else {
            continue;
        };
        let i = decoded.len();
        decoded.push((op.process, pair));
        feed.push((op.invoke_index, true, i));
        if let Some(r) = op.return_index {
            feed.push((r, false, i));
        }
    }
    feed.sort();
    let mut t = LinearizabilityTester::new(model.clone());
    for (_, is_invoke, i) in feed {
        let (process, (o, r)) = &decoded[i];
        if is_invoke {
            t.on_invoke(*process, o.clone()).expect("well-formed");
        } else {
            t.on_return(*process, r.clone()).expect("well-formed");
        }
    }
    t.is_consistent()
}

fn ours(spec: &ModelSpec, ops: &[Operation]) -> Verdict {
    check_ops(spec, ops, &CheckOptions::default())
        .expect("decodable")
        .verdict
}

fn small(seed: u64, clients: usize, ops: usize, info: f64, cas: bool) -> Vec<Event> {
    register_history(&SimConfig {
        seed,
        clients,
        keys: 1,
        ops,
        info,
        cas,
        progress: 0.4,
    })
}

fn agree(events: &[Event], cas: bool) -> (Verdict, bool) {
    let ops = pair(events).unwrap();
    let (spec, theirs) = if cas {
        (
            ModelSpec::CasRegister { initial: None },
            stateright_says(&CasRegister::new(None), &ops),
        )
    } else {
        (ModelSpec::Kv, stateright_says(&KvKey::default(), &ops))
    };
    let v = ours(&spec, &ops);
    assert_ne!(v, Verdict::Unknown);
    assert_eq!(
        v == Verdict::Linearizable,
        theirs,
        "we say {v}, stateright says {theirs}, for {}",
        serde_json::to_string(events).unwrap()
    );
    (v, theirs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn histories_of_a_real_register_are_linearizable(
        seed in any::<u64>(), clients in 1usize..5, n in 1usize..10, info in 0.0f64..0.4, cas in any::<bool>()
    ) {
        let events = small(seed, clients, n, info, cas);
        let (v, _) = agree(&events, cas);
        prop_assert_eq!(v, Verdict::Linearizable);
    }

    #[test]
    fn mutated_histories_get_the_same_verdict_from_both_checkers(
        seed in any::<u64>(), clients in 1usize..5, n in 2usize..10, info in 0.0f64..0.4, cas in any::<bool>()
    ) {
        let mut events = small(seed, clients, n, info, cas);
        let mut rng = Rng::new(seed ^ 0x5eed);
        if mutate(&mut events, &mut rng) {
            agree(&events, cas);
        }
    }
}

/// Most mutations break linearizability: the test above would pass
/// trivially if they did not.
#[test]
fn mutations_mostly_break_linearizability() {
    let (mut broken, mut total) = (0, 0);
    for seed in 0..200 {
        let mut events = small(seed, 3, 8, 0.1, true);
        if mutate(&mut events, &mut Rng::new(seed)) {
            total += 1;
            if agree(&events, true).0 == Verdict::NotLinearizable {
                broken += 1;
            }
        }
    }
    assert!(
        total > 150 && broken * 10 > total * 7,
        "{broken} of {total}"
    );
}

/// Larger generated histories (beyond stateright's reach) are still judged
/// linearizable, with many keys and unknown outcomes.
#[test]
fn large_generated_histories_are_linearizable() {
    for (seed, cas) in [(1, true), (2, false)] {
        let events = register_history(&SimConfig {
            seed,
            clients: 8,
            keys: 20,
            ops: 20_000,
            info: 0.01,
            cas,
            progress: 0.5,
        });
        let ops = pair(&events).unwrap();
        let spec = if cas {
            ModelSpec::CasRegister { initial: None }
        } else {
            ModelSpec::Kv
        };
        let r = check_ops(&spec, &ops, &CheckOptions::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Linearizable, "{}", r.summary());
        assert_eq!(r.partitions.len(), 20);
    }
}

/// The zone check and the search agree on read/write histories too large
/// for stateright, valid and mutated, with unknown outcomes.
#[test]
fn zone_check_agrees_with_the_search() {
    let (mut invalid, mut total) = (0, 0);
    for seed in 0..150u64 {
        let mut events = small(
            seed,
            1 + (seed % 6) as usize,
            10 + (seed % 40) as usize,
            0.1,
            false,
        );
        if seed % 3 != 0 {
            mutate(&mut events, &mut Rng::new(seed));
        }
        let ops = pair(&events).unwrap();
        for spec in [ModelSpec::Kv, ModelSpec::Register { initial: None }] {
            let with = check_ops(&spec, &ops, &CheckOptions::default()).unwrap();
            let without = check_ops(
                &spec,
                &ops,
                &CheckOptions {
                    zones: false,
                    ..CheckOptions::default()
                },
            )
            .unwrap();
            assert_eq!(
                with.verdict,
                without.verdict,
                "seed {seed} {spec}: {}",
                serde_json::to_string(&events).unwrap()
            );
            total += 1;
            invalid += (with.verdict == Verdict::NotLinearizable) as usize;
        }
    }
    assert!(invalid * 3 > total, "{invalid} of {total} invalid");
}
