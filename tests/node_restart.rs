//! A whole cluster crashes (losing everything not fsynced) and restarts:
//! every node recovers its log, snapshot and state machine from its files,
//! and every acknowledged write is still there.

mod node_support;

use std::time::Duration;

use faultline::kv::Outcome;
use faultline_workloads::{Observation, Op};
use node_support::{read, write, Cluster, ScriptedClient};

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn full_cluster_restart_recovers_from_disk() {
    // Small snapshot settings, so recovery goes through a snapshot too.
    let mut cluster = Cluster::new(3, 9, |c| {
        c.raft.snapshot_threshold = 8;
        c.raft.trailing_logs = 4;
    });
    let mut ops: Vec<Op> = (0..30).map(|i| write(&format!("k{i}"), i)).collect();
    ops.extend((0..30).map(|i| read(&format!("k{i}"))));
    ops.push(write("after", 1));
    let client = ScriptedClient::start(&mut cluster, "client", 1, ops);

    assert!(cluster.step_until(5 * SECOND, |c| c.leader().is_some()));
    client.run(&mut cluster, 30, 20 * SECOND);
    assert!(client
        .log
        .borrow()
        .iter()
        .all(|(_, o)| *o == Outcome::Ok(Observation::Done)));
    // Let followers catch up and snapshot.
    cluster.step_until(SECOND, |_| false);
    let before: Vec<_> = cluster.controls.values().map(|c| c.status()).collect();
    assert!(
        before.iter().all(|s| s.durable.snapshot_index > 0),
        "every node took a snapshot: {before:#?}"
    );

    let ids = cluster.ids.clone();
    for &id in &ids {
        cluster.crash(id);
    }
    cluster.step_until(SECOND, |_| false);
    for &id in &ids {
        cluster.bounce(id);
    }
    // Each node has its log back before anyone could have re-sent it.
    assert!(cluster.step_until(SECOND, |c| c
        .controls
        .values()
        .all(|ctl| ctl.status().running)));
    for (old, ctl) in before.iter().zip(cluster.controls.values()) {
        let now = ctl.status();
        assert!(
            now.last_index >= old.durable.synced_index && now.term >= old.term,
            "node {} recovered {now:#?}, had {old:#?}",
            now.id
        );
        assert_eq!(now.durable.snapshot_index, old.durable.snapshot_index);
    }

    client.run(&mut cluster, 31, 20 * SECOND);
    let log = client.log.borrow();
    for (i, (op, outcome)) in log[30..60].iter().enumerate() {
        assert_eq!(
            outcome,
            &Outcome::Ok(Observation::Int(Some(i as i64))),
            "{op:?}"
        );
    }
    assert_eq!(log[60].1, Outcome::Ok(Observation::Done));
}
