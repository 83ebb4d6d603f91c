//! A KV cluster under turmoil: it elects a leader, acknowledges writes that
//! are then readable, survives a leader crash without losing an
//! acknowledged write, and brings the crashed node back into agreement.

mod node_support;

use std::time::Duration;

use faultline::kv::Outcome;
use faultline::raft::NodeId;
use faultline_workloads::{Observation, Op};
use node_support::{read, write, Cluster, ScriptedClient};

const SECOND: Duration = Duration::from_secs(1);

fn cas(key: &str, from: i64, to: i64) -> Op {
    Op::Cas {
        key: key.into(),
        from,
        to,
    }
}

/// The scenario, returning its transcript (for the determinism test).
fn leader_crash_scenario(nodes: u64, seed: u64) -> String {
    let mut cluster = Cluster::new(nodes, seed, |_| {});
    let mut ops = Vec::new();
    // Phase 1: 10 writes of unique keys, each read back, and CAS both ways.
    for i in 0..10 {
        ops.push(write(&format!("a{i}"), i));
        ops.push(read(&format!("a{i}")));
    }
    ops.push(cas("a0", 0, 100));
    ops.push(cas("a0", 0, 200));
    ops.push(read("a0"));
    // Phase 2, across the leader's crash: 20 more writes.
    for i in 0..20 {
        ops.push(write(&format!("b{i}"), i));
    }
    // Phase 3: read everything back.
    for i in 0..10 {
        ops.push(read(&format!("a{i}")));
    }
    for i in 0..20 {
        ops.push(read(&format!("b{i}")));
    }
    let client = ScriptedClient::start(&mut cluster, "client", 1, ops.clone());

    assert!(
        cluster.step_until(5 * SECOND, |c| c.leader().is_some()),
        "no leader within 5 s"
    );
    let first = cluster.leader().unwrap();
    cluster.note(&format!("leader n{first}"));

    client.run(&mut cluster, 23, 10 * SECOND);
    {
        let log = client.log.borrow();
        for (i, (op, outcome)) in log[..20].iter().enumerate() {
            let want = if i % 2 == 0 {
                Observation::Done
            } else {
                Observation::Int(Some(i as i64 / 2))
            };
            assert_eq!(outcome, &Outcome::Ok(want), "{op:?}");
        }
        assert_eq!(log[20].1, Outcome::Ok(Observation::Applied(true)));
        assert_eq!(log[21].1, Outcome::Fail("cas-mismatch".into()));
        assert_eq!(log[22].1, Outcome::Ok(Observation::Int(Some(100))));
    }

    // Crash the leader with writes in flight.
    client.run(&mut cluster, 5, 10 * SECOND);
    cluster.crash(first);
    client.run(&mut cluster, 15, 30 * SECOND);
    let second = cluster.leader().expect("a new leader");
    assert_ne!(second, first, "the crashed node cannot lead");
    cluster.note(&format!("leader n{second}"));

    // Bring the old leader back; read everything.
    cluster.bounce(first);
    client.run(&mut cluster, 30, 30 * SECOND);

    let log = client.log.borrow();
    let acked: Vec<(&Op, bool)> = log[23..43]
        .iter()
        .map(|(op, o)| (op, matches!(o, Outcome::Ok(_))))
        .collect();
    let acked_count = acked.iter().filter(|(_, ok)| *ok).count();
    assert!(
        acked_count >= 10,
        "most writes around the crash succeed: {acked_count}/20"
    );
    for (i, (op, outcome)) in log[43..].iter().enumerate() {
        let Outcome::Ok(Observation::Int(v)) = outcome else {
            panic!("final read {op:?} did not complete: {outcome:?}");
        };
        if i < 10 {
            let want = if i == 0 { 100 } else { i as i64 };
            assert_eq!(*v, Some(want), "{op:?}");
        } else {
            let (write, ok) = acked[i - 10];
            let Op::Write { value, .. } = write else {
                unreachable!()
            };
            if ok {
                assert_eq!(*v, Some(*value), "acknowledged {write:?} lost");
            } else {
                // Fail or info: either outcome may have happened.
                assert!(v.is_none() || *v == Some(*value), "{op:?} read {v:?}");
            }
        }
    }
    drop(log);

    // Everyone, the restarted node included, converges on one state.
    let converged = cluster.step_until(10 * SECOND, |c| {
        let states = c.states();
        let statuses: Vec<_> = c.controls.values().map(|c| c.status()).collect();
        statuses.iter().all(|s| s.running)
            && statuses.windows(2).all(|w| w[0].applied == w[1].applied)
            && states.values().all(|s| s.data() == states[&1].data())
    });
    assert!(
        converged,
        "replicas did not converge: {:#?}",
        cluster.states()
    );
    let applied: Vec<(NodeId, u64)> = cluster
        .controls
        .iter()
        .map(|(id, c)| (*id, c.status().applied))
        .collect();
    cluster.note(&format!("applied {applied:?}"));
    cluster.transcript
}

#[test]
fn three_nodes_serve_and_survive_a_leader_crash() {
    leader_crash_scenario(3, 1);
}

#[test]
fn five_nodes_serve_and_survive_a_leader_crash() {
    leader_crash_scenario(5, 2);
}

#[test]
fn same_seed_same_transcript() {
    let a = leader_crash_scenario(3, 42);
    let b = leader_crash_scenario(3, 42);
    assert_eq!(a, b, "same seed, different transcripts");
}
