//! [`NodeConfig`]: everything one node needs to start.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::transport::TransportOptions;
use crate::bugs::Bugs;
use crate::raft::{self, Configuration, NodeId};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeConfig {
    pub id: NodeId,
    /// Names the cluster in the data directory, so a node never starts on
    /// another cluster's state.
    pub cluster_id: String,
    /// The core's settings; `raft.id` and `raft.bugs` are overridden by
    /// `id` and `bugs`.
    pub raft: raft::Config,
    /// Raft address (`host:port`) of every member, this node included.
    pub peers: BTreeMap<NodeId, String>,
    pub raft_port: u16,
    pub client_port: u16,
    pub data_dir: PathBuf,
    /// Deadline on every connect and message send, on the node's clock.
    pub rpc_timeout_ms: u64,
    /// How often the core is ticked, on the node's clock.
    pub tick_ms: u64,
    /// The configuration a fresh cluster starts with.
    pub initial_config: Configuration,
    pub bugs: Bugs,
}

impl NodeConfig {
    /// A member of a cluster whose voters are the keys of `peers`, with the
    /// default timings.
    pub fn new(
        id: NodeId,
        cluster_id: impl Into<String>,
        peers: BTreeMap<NodeId, String>,
        raft_port: u16,
        client_port: u16,
        data_dir: impl Into<PathBuf>,
    ) -> NodeConfig {
        let initial_config = Configuration::with_voters(peers.keys().copied());
        NodeConfig {
            id,
            cluster_id: cluster_id.into(),
            raft: raft::Config::default(),
            peers,
            raft_port,
            client_port,
            data_dir: data_dir.into(),
            rpc_timeout_ms: 200,
            tick_ms: 10,
            initial_config,
            bugs: Bugs::NONE,
        }
    }

    /// The core's configuration as this node runs it.
    pub fn raft_config(&self) -> raft::Config {
        raft::Config {
            id: self.id,
            bugs: self.bugs,
            ..self.raft.clone()
        }
    }

    pub fn transport_options(&self) -> TransportOptions {
        TransportOptions {
            rpc_timeout_ms: self.rpc_timeout_ms,
            ..TransportOptions::default()
        }
    }

    /// Refuse settings the node cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        self.raft_config().validate()?;
        if self.tick_ms == 0 {
            return Err("tick_ms must be positive".into());
        }
        if self.rpc_timeout_ms == 0 {
            return Err("rpc_timeout_ms must be positive".into());
        }
        if self.cluster_id.is_empty() {
            return Err("cluster_id must not be empty".into());
        }
        if !self.initial_config.voters.is_empty()
            && !self.initial_config.contains(self.id)
            && !self.peers.contains_key(&self.id)
        {
            return Err(format!(
                "node {} is neither in the initial configuration nor among the peers",
                self.id
            ));
        }
        for id in self.initial_config.members() {
            if !self.peers.contains_key(&id) {
                return Err(format!("member {id} has no address in peers"));
            }
        }
        Ok(())
    }
}
