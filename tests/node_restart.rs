//! A whole cluster crashes (losing everything not fsynced) and restarts:
//! every node recovers its log, snapshot and state machine from its files,
//! and every acknowledged write is still there.

mod node_support;

use std::time::Duration;

use faultline::bugs::{Bug, Bugs};
use faultline::kv::Outcome;
use faultline::node::NodeStatus;
use faultline_workloads::{Observation, Op};
use node_support::{read, write, Cluster, ScriptedClient};

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
