//! How many entries per second one Raft core replicates in memory: a
//! 3-node cluster, proposals in batches of 64, every message delivered in
//! order. Prints the figure so later work can spot regressions.

use faultline::raft::testing::Cluster;
use faultline::raft::Config;
use std::time::Instant;

fn main() {
    // Default snapshotting keeps the in-memory log, and with it the cost
    // of the per-step invariant checks, bounded.
    let cfg = Config {
        seed: 1,
        ..Config::default()
    };
    let mut c = Cluster::new(3, &cfg);
    c.fire_election_timeout(1);
    c.stabilize();
    let batches = 500u64;
    let payload = vec![7u8; 64];
    let start = Instant::now();
    for _ in 0..batches {
        let leader = c.node_mut(1);
        for _ in 0..64 {
            leader.propose(payload.clone(), 0).expect("leader");
        }
        c.process(1);
        c.stabilize();
    }
    c.run_for(100, 25);
    let elapsed = start.elapsed();
    let entries = batches * 64;
    assert!(c.node(2).commit_index() > entries, "replication stalled");
    c.assert_safe();
    println!(
        "raft_replication: {entries} entries in {:.3} s = {:.0} entries/s (3 nodes, batches of 64, invariants checked every step)",
        elapsed.as_secs_f64(),
        entries as f64 / elapsed.as_secs_f64()
    );
}
