//! The client wire protocol, served on each node's client port over the
//! same framing as Raft traffic: one request at a time per connection, each
//! answered by a response carrying its id.

use serde::{Deserialize, Serialize};

use super::state::{ClientId, KvCommand, KvOutput, KvQuery, Seq};
use crate::node::service::Reply;
use crate::raft::NodeId;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvRequest {
    /// A write, once per (client, seq) however often it is retried.
    Write {
        client: ClientId,
        seq: Seq,
        command: KvCommand,
    },
    /// A linearizable read.
    Read { query: KvQuery },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResponse {
    Output(KvOutput),
    /// This node is not the leader; nothing was proposed.
    NotLeader {
        leader: Option<NodeId>,
    },
    /// Proposed but overwritten: certainly not applied.
    Dropped,
    /// Proposed, then leadership was lost: may still be applied.
    Unknown,
    /// The node is overloaded or shutting down; nothing was proposed.
    Busy,
}

impl From<Reply<KvOutput>> for KvResponse {
    fn from(r: Reply<KvOutput>) -> KvResponse {
        match r {
            Reply::Done(o) => KvResponse::Output(o),
            Reply::NotLeader { leader } => KvResponse::NotLeader { leader },
            Reply::Dropped => KvResponse::Dropped,
            Reply::Unknown => KvResponse::Unknown,
            Reply::Refused(_) => KvResponse::Busy,
            Reply::Accepted => KvResponse::Output(KvOutput::Done),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    pub id: u64,
    pub request: KvRequest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFrame {
    pub id: u64,
    pub response: KvResponse,
}
