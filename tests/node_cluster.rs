//! A KV cluster under turmoil: it elects a leader, acknowledges writes that
//! are then readable, survives a leader crash without losing an
//! acknowledged write, and brings the crashed node back into agreement.

mod node_support;

use std::time::Duration;

use faultline::kv::Outcome;
use faultline::node::net::{Net, SimNet};
use faultline::raft::{NodeId, Role};
use faultline_workloads::{Observation, Op};
use node_support::{read, write, Cluster, ScriptedClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

#[test]
fn a_paused_leader_is_replaced_and_rejoins_as_follower() {
    let mut cluster = Cluster::new(3, 5, |_| {});
    let ops: Vec<Op> = (0..20).map(|i| write(&format!("p{i}"), i)).collect();
    let client = ScriptedClient::start(&mut cluster, "client", 1, ops);
    assert!(cluster.step_until(5 * SECOND, |c| c.leader().is_some()));
    client.run(&mut cluster, 5, 10 * SECOND);
    let old = cluster.leader().unwrap();
    let old_term = cluster.controls[&old].status().term;
    cluster.controls[&old].pause();
    let replaced = cluster.step_until(5 * SECOND, |c| c.leader().is_some_and(|l| l != old));
    assert!(replaced, "no new leader while n{old} is paused");
    let frozen = cluster.controls[&old].status();
    assert!(frozen.paused && frozen.role == Role::Leader && frozen.term == old_term);
    client.run(&mut cluster, 10, 20 * SECOND);
    cluster.controls[&old].resume();
    let rejoined = cluster.step_until(5 * SECOND, |c| {
        let s = c.controls[&old].status();
        !s.paused && s.role == Role::Follower && s.term > old_term
    });
    assert!(rejoined, "{:#?}", cluster.controls[&old].status());
    client.run(&mut cluster, 5, 10 * SECOND);
    let log = client.log.borrow();
    assert!(log[..5]
        .iter()
        .all(|(_, o)| *o == Outcome::Ok(Observation::Done)));
    assert!(
        log[15..]
            .iter()
            .all(|(_, o)| *o == Outcome::Ok(Observation::Done)),
        "{log:#?}"
    );
}

#[test]
fn garbage_on_either_port_closes_only_that_connection() {
    let mut cluster = Cluster::new(3, 11, |_| {});
    assert!(cluster.step_until(5 * SECOND, |c| c.leader().is_some()));
    let done = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = done.clone();
    cluster.sim.client("vandal", async move {
        for port in [node_support::RAFT_PORT, node_support::CLIENT_PORT] {
            for junk in [
                vec![0, 0, 0, 3, 0xff, 0xff, 0xff],    // undecodable payload
                vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3], // absurd length
            ] {
                let mut s = SimNet.connect(&format!("n1:{port}")).await?;
                s.write_all(&junk).await?;
                // The node hangs up on us.
                let mut buf = [0u8; 16];
                let n = tokio::time::timeout(SECOND, s.read(&mut buf)).await??;
                assert_eq!(n, 0, "expected the node to close the connection");
            }
        }
        flag.set(true);
        Ok(())
    });
    assert!(cluster.step_until(10 * SECOND, |_| done.get()));
    // Every node is still up and the cluster still serves.
    let client = ScriptedClient::start(&mut cluster, "client", 1, vec![write("x", 1), read("x")]);
    client.run(&mut cluster, 2, 10 * SECOND);
    assert!(cluster.controls.values().all(|c| c.status().running));
    assert_eq!(
        client.log.borrow()[1].1,
        Outcome::Ok(Observation::Int(Some(1)))
    );
}

/// Wall-clock figure for the closing note: 5 nodes, one client writing
/// back to back for 60 simulated seconds.
#[test]
#[ignore]
fn perf_probe_five_nodes_sixty_seconds() {
    let mut cluster = Cluster::new(5, 3, |_| {});
    let n = 100_000;
    let ops: Vec<Op> = (0..n).map(|i| write(&format!("k{}", i % 100), i)).collect();
    let client = ScriptedClient::start(&mut cluster, "client", 1, ops);
    client.allowed.set(n as usize);
    let start = std::time::Instant::now();
    cluster.step_until(60 * SECOND, |_| false);
    eprintln!(
        "60 simulated seconds: {:?} wall, {} ops",
        start.elapsed(),
        client.done()
    );
}

/// The client writes through a leader that has just been cut off from its
/// followers. Returns the write's outcome and what a read of the key
/// returns once the partition has healed.
fn write_through_isolated_leader(bugs: faultline::bugs::Bugs) -> (Outcome, Outcome) {
    let mut cluster = Cluster::new(3, 17, |c| c.bugs = bugs);
    let ops = vec![write("warm", 0), write("x", 1), read("x")];
    // Long enough for the retry at a newly elected leader.
    let client = ScriptedClient::start_with_timeout(&mut cluster, "client", 1, ops, 3 * SECOND);
    assert!(cluster.step_until(5 * SECOND, |c| c.leader().is_some()));
    client.run(&mut cluster, 1, 10 * SECOND);
    let leader = cluster.leader().unwrap();
    for &other in &cluster.ids.clone() {
        if other != leader {
            cluster
                .sim
                .partition(node_support::host(leader), node_support::host(other));
        }
    }
    client.run(&mut cluster, 1, 10 * SECOND);
    for &other in &cluster.ids.clone() {
        if other != leader {
            cluster
                .sim
                .repair(node_support::host(leader), node_support::host(other));
        }
    }
    cluster.step_until(2 * SECOND, |_| false);
    client.run(&mut cluster, 1, 10 * SECOND);
    let log = client.log.borrow();
    (log[1].1.clone(), log[2].1.clone())
}

#[test]
fn an_isolated_leader_acknowledges_only_what_commits() {
    let (write, read) = write_through_isolated_leader(faultline::bugs::Bugs::NONE);
    // Not answered by the cut-off leader; retried (same session sequence)
    // at the new one, where it commits.
    assert_eq!(write, Outcome::Ok(Observation::Done));
    assert_eq!(read, Outcome::Ok(Observation::Int(Some(1))));
}

#[test]
fn ack_before_commit_acknowledges_a_write_that_is_lost() {
    use faultline::bugs::{Bug, Bugs};
    let (write, read) = write_through_isolated_leader(Bugs::only(Bug::AckBeforeCommit));
    assert_eq!(write, Outcome::Ok(Observation::Done));
    assert_eq!(
        read,
        Outcome::Ok(Observation::Int(None)),
        "the acknowledged write is gone"
    );
}
