//! The same node on real sockets and real files: three nodes on loopback
//! (TokioNet + StdFs) in one process elect a leader and serve a client.
//! Also checks the node's future is `Send`, so a real process may spawn it
//! on a multi-threaded runtime.

use std::collections::BTreeMap;
use std::time::Duration;

use faultline::kv::{self, KvClient, Outcome};
use faultline::node::net::TokioNet;
use faultline::node::storage::StdFs;
use faultline::node::{Clock, Controls, NodeConfig};
use faultline::raft::{NodeId, Role};
use faultline_workloads::{Observation, Op};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_real_nodes_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<NodeId> = vec![1, 2, 3];
    let ports: BTreeMap<NodeId, (u16, u16)> = ids
        .iter()
        .map(|&id| (id, (free_port(), free_port())))
        .collect();
    let peers: BTreeMap<NodeId, String> = ports
        .iter()
        .map(|(&id, &(raft, _))| (id, format!("127.0.0.1:{raft}")))
        .collect();
    let mut controls = BTreeMap::new();
    let mut tasks = Vec::new();
    for &id in &ids {
        let (raft_port, client_port) = ports[&id];
        let config = NodeConfig::new(
            id,
            "real",
            peers.clone(),
            raft_port,
            client_port,
            dir.path().join(format!("n{id}")),
        );
        let ctl = Controls::new(id);
        controls.insert(id, ctl.clone());
        let node = kv::run_node(config, TokioNet::default(), StdFs, Clock::new(), ctl);
        tasks.push(tokio::spawn(node));
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let leader = loop {
        let leader = controls
            .values()
            .map(|c| c.status())
            .find(|s| s.role == Role::Leader);
        if let Some(s) = leader {
            break s.id;
        }
        assert!(tokio::time::Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let nodes = ports
        .iter()
        .map(|(&id, &(_, client))| (id, format!("127.0.0.1:{client}")))
        .collect();
    let mut client = KvClient::new(TokioNet::default(), 1, nodes, Duration::from_secs(2));
    let put = Op::Write {
        key: "x".into(),
        value: 7,
    };
    assert_eq!(client.call(&put).await, Outcome::Ok(Observation::Done));
    let get = Op::Read { key: "x".into() };
    assert_eq!(
        client.call(&get).await,
        Outcome::Ok(Observation::Int(Some(7)))
    );
    assert!(controls[&leader].status().commit >= 2);
    for t in &tasks {
        assert!(!t.is_finished(), "a node stopped");
    }
    for t in tasks {
        t.abort();
    }
}
