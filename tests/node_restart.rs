//! A whole cluster crashes (losing everything not fsynced) and restarts:
//! every node recovers its log, snapshot and state machine from its files,
//! and every acknowledged write is still there.

mod node_support;
mod storage_support;

use std::collections::BTreeMap;
use std::time::Duration;

use faultline::bugs::{Bug, Bugs};
use faultline::kv::Outcome;
use faultline::node::storage::SimFs;
use faultline::node::NodeStatus;
use faultline::raft::NodeId;
use faultline_workloads::{Observation, Op};
use node_support::{read, write, Cluster, ScriptedClient};
use storage_support::{Faults, FaultyFs};

const SECOND: Duration = Duration::from_secs(1);
const KEYS: i64 = 30;

/// Write `KEYS` keys, crash every node, restart them all, read the keys
/// back. Returns each node's status before the crash and right after
/// recovery, and the outcomes of the reads.
fn crash_all_and_restart(bugs: Bugs) -> (Vec<NodeStatus>, Vec<NodeStatus>, Vec<Outcome>) {
    // Small snapshot settings, so recovery goes through a snapshot too.
    let mut cluster = Cluster::new(3, 9, |c| {
        c.raft.snapshot_threshold = 8;
        c.raft.trailing_logs = 4;
        c.bugs = bugs;
    });
    let mut ops: Vec<Op> = (0..KEYS).map(|i| write(&format!("k{i}"), i)).collect();
    ops.extend((0..KEYS).map(|i| read(&format!("k{i}"))));
    let client = ScriptedClient::start(&mut cluster, "client", 1, ops);

    assert!(cluster.step_until(5 * SECOND, |c| c.leader().is_some()));
    client.run(&mut cluster, KEYS as usize, 20 * SECOND);
    assert!(client
        .log
        .borrow()
        .iter()
        .all(|(_, o)| *o == Outcome::Ok(Observation::Done)));
    // Let followers catch up and snapshot.
    cluster.step_until(SECOND, |_| false);
    let before: Vec<_> = cluster.controls.values().map(|c| c.status()).collect();

    let ids = cluster.ids.clone();
    for &id in &ids {
        cluster.crash(id);
    }
    cluster.step_until(SECOND, |_| false);
    for &id in &ids {
        cluster.bounce(id);
    }
    // Look at each node as soon as it has recovered, before any leader
    // could have re-sent it anything.
    assert!(cluster.step_until(SECOND, |c| c
        .controls
        .values()
        .all(|ctl| ctl.status().running)));
    let after: Vec<_> = cluster.controls.values().map(|c| c.status()).collect();

    client.run(&mut cluster, KEYS as usize, 20 * SECOND);
    let reads = client.log.borrow()[KEYS as usize..]
        .iter()
        .map(|(_, o)| o.clone())
        .collect();
    (before, after, reads)
}

#[test]
fn full_cluster_restart_recovers_from_disk() {
    let (before, after, reads) = crash_all_and_restart(Bugs::NONE);
    assert!(
        before.iter().all(|s| s.durable.snapshot_index > 0),
        "every node took a snapshot: {before:#?}"
    );
    for (old, new) in before.iter().zip(&after) {
        assert!(
            new.last_index >= old.durable.synced_index && new.term >= old.term,
            "node {} recovered {new:#?}, had {old:#?}",
            new.id
        );
        assert_eq!(new.durable.snapshot_index, old.durable.snapshot_index);
        assert_eq!(
            new.applied, old.durable.snapshot_index,
            "restored from the snapshot"
        );
    }
    for (i, outcome) in reads.iter().enumerate() {
        assert_eq!(
            outcome,
            &Outcome::Ok(Observation::Int(Some(i as i64))),
            "k{i}"
        );
    }
}

/// The same scenario with the planted bug NeverFsync loses acknowledged
/// writes: the test above is able to see that.
#[test]
fn never_fsync_loses_acknowledged_writes() {
    let (before, after, reads) = crash_all_and_restart(Bugs::only(Bug::NeverFsync));
    assert!(
        before
            .iter()
            .zip(&after)
            .any(|(old, new)| new.last_index < old.durable.synced_index),
        "some node lost entries it believed written"
    );
    let lost = (0..KEYS as usize)
        .filter(|&i| reads[i] != Outcome::Ok(Observation::Int(Some(i as i64))))
        .count();
    assert!(lost > 0, "some acknowledged write is gone: {reads:?}");
}

/// A leader whose fsync fails stops (fail-stop) without acknowledging the
/// write it could not store; the others elect a new leader and go on.
#[test]
fn a_failed_fsync_stops_the_node_without_acknowledging() {
    let faults: BTreeMap<NodeId, Faults> = (1..=3).map(|id| (id, Faults::default())).collect();
    let per_node = faults.clone();
    let mut cluster = Cluster::with_fs(
        3,
        21,
        |_| {},
        move |id| FaultyFs {
            inner: SimFs,
            faults: per_node[&id].clone(),
        },
    );
    let ops: Vec<Op> = (0..10).map(|i| write(&format!("f{i}"), i)).collect();
    let client = ScriptedClient::start(&mut cluster, "client", 1, ops);
    assert!(cluster.step_until(5 * SECOND, |c| c.leader().is_some()));
    client.run(&mut cluster, 3, 10 * SECOND);
    let leader = cluster.leader().unwrap();
    faults[&leader].fail_next.set(Some("fsync"));
    client.run(&mut cluster, 1, 10 * SECOND);
    let status = cluster.controls[&leader].status();
    assert!(!status.running, "{status:#?}");
    let why = status.stopped.expect("the reason it stopped");
    assert!(why.contains("fsync"), "{why}");
    // The write that hit the failed fsync was not acknowledged by the node
    // that could not store it (the client may still have had it
    // acknowledged by a new leader after a retry).
    client.run(&mut cluster, 6, 20 * SECOND);
    assert_ne!(cluster.leader(), Some(leader));
    let log = client.log.borrow();
    assert!(
        log[4..]
            .iter()
            .all(|(_, o)| *o == Outcome::Ok(Observation::Done)),
        "{log:#?}"
    );
}

/// A follower that was down while the others snapshotted and compacted
/// their logs catches up through InstallSnapshot, sessions included.
#[test]
fn a_lagging_follower_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::new(3, 13, |c| {
        c.raft.snapshot_threshold = 8;
        c.raft.trailing_logs = 2;
    });
    let ops: Vec<Op> = (0..40).map(|i| write(&format!("s{i}"), i)).collect();
    let client = ScriptedClient::start(&mut cluster, "client", 1, ops);
    assert!(cluster.step_until(5 * SECOND, |c| c.leader().is_some()));
    client.run(&mut cluster, 2, 10 * SECOND);
    let leader = cluster.leader().unwrap();
    let lagging = *cluster.ids.iter().find(|&&id| id != leader).unwrap();
    cluster.crash(lagging);
    client.run(&mut cluster, 38, 20 * SECOND);
    let leader_status = cluster.controls[&leader].status();
    assert!(
        leader_status.durable.snapshot_index > 10,
        "the leader compacted past what the follower has: {leader_status:#?}"
    );
    cluster.bounce(lagging);
    let caught_up = cluster.step_until(10 * SECOND, |c| {
        let s = c.controls[&lagging].status();
        s.running && s.applied >= leader_status.applied
    });
    assert!(caught_up, "{:#?}", cluster.controls[&lagging].status());
    let follower = cluster.controls[&lagging].status();
    assert!(follower.durable.snapshot_index > 10, "{follower:#?}");
    let states = cluster.states();
    let leader_state = &states[&leader];
    let follower_state = &states[&lagging];
    assert_eq!(follower_state.data(), leader_state.data());
    assert_eq!(follower_state.data().len(), 40);
    // The session table came with the snapshot.
    assert_eq!(follower_state.sessions().get(&1).map(|s| s.seq), Some(40));
}
