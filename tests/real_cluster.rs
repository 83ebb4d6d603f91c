//! Real processes on loopback: three `faultline node`s, writes over HTTP,
//! the leader killed with SIGKILL, every acknowledged write still there.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use faultline::kv::Outcome;
use faultline::raft::NodeId;
use faultline::real::client::HttpClient;
use faultline::real::cluster::wait_for_leader;
use faultline::real::process::{ClusterSpec, LocalCluster};
use faultline_workloads::{Observation, Op};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_faultline"))
}

fn start(n: usize, dir: &std::path::Path) -> (ClusterSpec, LocalCluster) {
    let spec = ClusterSpec::local(n, dir, exe()).unwrap();
    let cluster = LocalCluster::start(spec.clone()).unwrap();
    (spec, cluster)
}

/// Retry `op` through the nodes in turn until it is `ok` or `within` passes.
fn until_ok(
    client: &HttpClient,
    spec: &ClusterSpec,
    ids: &[NodeId],
    op: &Op,
    within: Duration,
) -> Observation {
    let deadline = Instant::now() + within;
    let mut i = 0;
    loop {
        let node = spec.node(ids[i % ids.len()]).unwrap().http;
        match client.run(node, op) {
            Outcome::Ok(obs) => return obs,
            other if Instant::now() > deadline => panic!("{op:?} never succeeded: {other:?}"),
            _ => {
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn acknowledged_writes_survive_killing_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, mut cluster) = start(3, dir.path());
    let client = HttpClient::new(Duration::from_secs(5));
    let leader = wait_for_leader(&spec, &spec.ids(), &client, Duration::from_secs(20)).unwrap();

    // Writes through every node: followers forward to the leader.
    let mut acked = BTreeMap::new();
    for i in 0..30i64 {
        let node = spec.nodes[i as usize % 3].http;
        let op = Op::Write {
            key: format!("k{}", i % 10),
            value: i,
        };
        match client.run(node, &op) {
            Outcome::Ok(_) => {
                acked.insert(format!("k{}", i % 10), i);
            }
            other => panic!("write {i} through {node} failed on a healthy cluster: {other:?}"),
        }
    }

    cluster.node(leader).unwrap().kill().unwrap();
    let rest: Vec<NodeId> = spec.ids().into_iter().filter(|&id| id != leader).collect();
    let new_leader = wait_for_leader(&spec, &rest, &client, Duration::from_secs(20)).unwrap();
    assert_ne!(new_leader, leader);

    // Linearizable reads through the survivors see every acknowledged write.
    for (key, value) in &acked {
        let obs = until_ok(
            &client,
            &spec,
            &rest,
            &Op::Read { key: key.clone() },
            Duration::from_secs(10),
        );
        assert_eq!(obs, Observation::Int(Some(*value)), "key {key}");
    }
    // And the new leader takes writes.
    let op = Op::Write {
        key: "after".into(),
        value: 99,
    };
    until_ok(&client, &spec, &rest, &op, Duration::from_secs(10));

    // The killed node recovers from its data directory and catches up: its
    // own (stale) copy converges to the survivors'.
    cluster.ensure_started(leader).unwrap();
    let old = spec.node(leader).unwrap().http;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = client.call(old, "GET", "/kv/after?stale=true", None);
        if let Ok((200, Some(body))) = &got {
            if body["value"] == 99 && body["stale"] == true {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the restarted node never caught up: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.stop(Duration::from_secs(3));
}

#[test]
fn a_data_directory_of_another_cluster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, mut cluster) = start(1, dir.path());
    let client = HttpClient::new(Duration::from_secs(2));
    wait_for_leader(&spec, &spec.ids(), &client, Duration::from_secs(20)).unwrap();
    cluster.stop(Duration::from_secs(3));

    // Same directory, another cluster id.
    let mut other = spec.clone();
    other.cluster_id = "someone-else".into();
    let out = std::process::Command::new(exe())
        .args(other.args(1).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("someone-else") || stderr.contains(&spec.cluster_id),
        "{stderr}"
    );
}
