//! Whose data a directory holds, so a node never starts on another
//! cluster's or another node's state (and never votes with a stranger's
//! term and vote).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::raft::NodeId;

/// The owner of a data directory: a cluster and a node within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreIdentity {
    pub cluster_id: String,
    pub node_id: NodeId,
}

impl StoreIdentity {
    pub fn new(cluster_id: impl Into<String>, node_id: NodeId) -> Self {
        StoreIdentity {
            cluster_id: cluster_id.into(),
            node_id,
        }
    }
}

impl fmt::Display for StoreIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster {:?} node {}", self.cluster_id, self.node_id)
    }
}
