//! Real processes on loopback: three `faultline node`s, writes over HTTP,
//! the leader killed with SIGKILL, every acknowledged write still there; a
//! fourth node added and removed through the membership API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use faultline::kv::Outcome;
use faultline::raft::NodeId;
use faultline::real::client::HttpClient;
use faultline::real::cluster::wait_for_leader;
use faultline::real::process::{ClusterSpec, LocalCluster};
use faultline_workloads::{Observation, Op};
use serde_json::{json, Value};

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
    assert_reads(&client, &spec, &rest, &acked);
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

/// Poll `probe` every 50 ms until it gives `Ok`, or fail after `within`
/// with what it last said.
fn eventually<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: not within {within:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn write(key: &str, value: i64) -> Op {
    Op::Write {
        key: key.into(),
        value,
    }
}

/// Linearizable reads through each of `via` see every acknowledged write.
fn assert_reads(
    client: &HttpClient,
    spec: &ClusterSpec,
    via: &[NodeId],
    acked: &BTreeMap<String, i64>,
) {
    for &id in via {
        for (key, value) in acked {
            let read = Op::Read { key: key.clone() };
            let obs = until_ok(client, spec, &[id], &read, Duration::from_secs(5));
            assert_eq!(
                obs,
                Observation::Int(Some(*value)),
                "{key} through node {id}"
            );
        }
    }
}

/// `POST /members` `body` to the leader among `ids` until it is accepted.
fn change_members(client: &HttpClient, spec: &ClusterSpec, ids: &[NodeId], body: Value) {
    eventually(&format!("{body} accepted"), Duration::from_secs(5), || {
        let leader = wait_for_leader(spec, ids, client, Duration::from_secs(5))?;
        let http = spec.node(leader).unwrap().http;
        match client.call(http, "POST", "/members", Some(&body)) {
            Ok((202, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
}

/// Wait until `node`'s `GET /members` shows `voters` and `learners`.
fn await_members(client: &HttpClient, node: SocketAddr, voters: &[NodeId], learners: &[NodeId]) {
    let what = format!("voters {voters:?} and learners {learners:?} at {node}");
    eventually(&what, Duration::from_secs(5), || {
        match client.call(node, "GET", "/members", None) {
            Ok((200, Some(b)))
                if b["voters"] == json!(voters) && b["learners"] == json!(learners) =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
}

/// A node started outside the configuration is added over HTTP as a
/// learner, catches up, is promoted and serves; then it is removed and
/// stopped, and the three it leaves behind keep serving linearizable
/// reads and writes, and hand leadership over on request.
#[test]
fn a_fourth_node_joins_serves_and_leaves_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ClusterSpec::local(4, dir.path(), exe()).unwrap();
    spec.joining.insert(4);
    let mut cluster = LocalCluster::start(spec.clone()).unwrap();
    let client = HttpClient::new(Duration::from_secs(3));
    let http = |id: NodeId| spec.node(id).unwrap().http;
    let first = [1, 2, 3];
    let leader = wait_for_leader(&spec, &first, &client, Duration::from_secs(20)).unwrap();
    await_members(&client, http(leader), &first, &[]);
    let status = client.status(http(4)).unwrap();
    assert_eq!(status["configuration"]["voters"], json!([]), "{status}");
    assert_ne!(status["role"], "leader", "{status}");

    let mut acked = BTreeMap::new();
    for i in 0..10i64 {
        let key = format!("m{i}");
        until_ok(
            &client,
            &spec,
            &first,
            &write(&key, i),
            Duration::from_secs(5),
        );
        acked.insert(key, i);
    }

    // A follower does not take membership changes: it points at the leader.
    let add_learner = json!({"action": "add-learner", "id": 4});
    let follower = first.into_iter().find(|&id| id != leader).unwrap();
    let (status, body) = client
        .call(http(follower), "POST", "/members", Some(&add_learner))
        .unwrap();
    assert_eq!(status, 307, "{body:?}");
    assert_eq!(body.unwrap()["leader"], json!(leader));

    change_members(&client, &spec, &first, add_learner);
    await_members(&client, http(leader), &first, &[4]);
    // It catches up: its own copy holds the writes made before it joined.
    eventually("4 catches up", Duration::from_secs(5), || {
        match client.call(http(4), "GET", "/kv/m9?stale=true", None) {
            Ok((200, Some(b))) if b["value"] == 9 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    let all = [1, 2, 3, 4];
    change_members(
        &client,
        &spec,
        &first,
        json!({"action": "promote", "id": 4}),
    );
    await_members(&client, http(4), &all, &[]);
    // It serves: a write and linearizable reads through it.
    until_ok(
        &client,
        &spec,
        &[4],
        &write("via4", 4),
        Duration::from_secs(5),
    );
    acked.insert("via4".into(), 4);
    assert_reads(&client, &spec, &[4], &acked);

    change_members(&client, &spec, &all, json!({"action": "remove", "id": 4}));
    let leader = wait_for_leader(&spec, &first, &client, Duration::from_secs(5)).unwrap();
    await_members(&client, http(leader), &first, &[]);
    cluster
        .node(4)
        .unwrap()
        .stop(Duration::from_secs(3))
        .unwrap();

    // The three left take writes and serve every acknowledged one,
    // linearizably, through each of them.
    until_ok(
        &client,
        &spec,
        &first,
        &write("after", 5),
        Duration::from_secs(5),
    );
    acked.insert("after".into(), 5);
    assert_reads(&client, &spec, &first, &acked);

    // And hand leadership to another voter when asked.
    let leader = wait_for_leader(&spec, &first, &client, Duration::from_secs(5)).unwrap();
    let to = first.into_iter().find(|&id| id != leader).unwrap();
    change_members(
        &client,
        &spec,
        &first,
        json!({"action": "transfer", "to": to}),
    );
    eventually(
        "leadership moves",
        Duration::from_secs(5),
        || match wait_for_leader(&spec, &first, &client, Duration::from_secs(1))? {
            l if l == to => Ok(()),
            l => Err(format!("node {l} leads")),
        },
    );
    assert_reads(&client, &spec, &[leader], &acked);
    cluster.stop(Duration::from_secs(3));
}
