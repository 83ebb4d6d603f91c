//! [`Front`]: what the HTTP API talks to. Data operations go through the
//! KV client library ([`KvClient`]) over the node's own client protocol,
//! so finding the leader, forwarding to it, retrying a write under the
//! same session and classifying outcomes are the code every simulated
//! client runs, not a second copy. Status, local (stale) reads, membership
//! and the partition failpoint go to the local node in process.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::kv::{KvClient, KvOutput, KvQuery, KvState, Outcome};
use crate::node::net::TokioNet;
use crate::node::service::{Admin, Reply, Request};
use crate::node::{Controls, NodeStatus};
use crate::raft::NodeId;
use faultline_workloads::{Observation, Op};

/// Limits of one node's front end.
#[derive(Clone, Copy, Debug)]
pub struct FrontOptions {
    /// The whole budget of one operation, retries included.
    pub op_timeout: Duration,
    /// Operations in flight at once; more are refused as busy.
    pub max_in_flight: usize,
}

impl Default for FrontOptions {
    fn default() -> Self {
        FrontOptions {
            op_timeout: Duration::from_secs(3),
            max_in_flight: 256,
        }
    }
}

/// Why an admin request was not carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminError {
    /// Not the leader; the leader's id and HTTP address if known.
    NotLeader {
        leader: Option<NodeId>,
        http: Option<SocketAddr>,
    },
    /// Refused by the node (a change already in progress, an unknown node).
    Refused(String),
    /// The node did not answer in time or is shutting down.
    Unavailable(String),
}

pub struct Front {
    me: NodeId,
    /// Client-protocol address of every node, this one first.
    kv_nodes: Vec<(NodeId, String)>,
    http_peers: BTreeMap<NodeId, SocketAddr>,
    /// Idle clients, each its own session; a busy one is out of the pool.
    idle: Mutex<Vec<KvClient<TokioNet>>>,
    permits: Semaphore,
    /// Session ids: a random prefix per process, so a restarted node never
    /// reuses a session whose sequence numbers the cluster has seen.
    session_base: u64,
    next_session: AtomicU64,
    options: FrontOptions,
    controls: Controls,
    local: mpsc::Sender<Request<KvState>>,
}

impl Front {
    pub fn new(
        me: NodeId,
        kv_nodes: BTreeMap<NodeId, SocketAddr>,
        http_peers: BTreeMap<NodeId, SocketAddr>,
        controls: Controls,
        local: mpsc::Sender<Request<KvState>>,
        options: FrontOptions,
    ) -> Front {
        let mut nodes: Vec<(NodeId, String)> = kv_nodes
            .iter()
            .map(|(id, a)| (*id, a.to_string()))
            .collect();
        // Ask this node first: it is as likely as any to lead, and a
        // follower's refusal names the leader.
        nodes.sort_by_key(|(id, _)| *id != me);
        Front {
            me,
            kv_nodes: nodes,
            http_peers,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(options.max_in_flight.max(1)),
            session_base: rand::random::<u64>() << 24,
            next_session: AtomicU64::new(1),
            options,
            controls,
            local,
        }
    }

    pub fn id(&self) -> NodeId {
        self.me
    }

    /// Run `op` against the cluster: linearizable, through the leader.
    pub async fn execute(&self, op: &Op) -> Outcome {
        let Ok(_permit) = self.permits.try_acquire() else {
            return Outcome::Fail("busy: too many requests in flight".into());
        };
        let mut client = self.take_client();
        let outcome = client.call(op).await;
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(client);
        outcome
    }

    fn take_client(&self) -> KvClient<TokioNet> {
        if let Some(c) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return c;
        }
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        let id = self.session_base | (n & 0xFF_FFFF);
        KvClient::new(
            TokioNet::default(),
            id,
            self.kv_nodes.clone(),
            self.options.op_timeout,
        )
    }

    /// Read from this node's state machine as it is, without asking the
    /// leader: may be stale, never blocks on a quorum.
    pub async fn stale_read(&self, op: &Op) -> Outcome {
        let query = match op {
            Op::Read { key } => KvQuery::Get { key: key.clone() },
            Op::ReadList { key } => KvQuery::GetList { key: key.clone() },
            _ => return Outcome::Fail("only reads can be stale".into()),
        };
        let (reply, rx) = oneshot::channel();
        if self
            .local
            .try_send(Request::LocalRead { query, reply })
            .is_err()
        {
            return Outcome::Fail("busy: the node's queue is full".into());
        }
        match tokio::time::timeout(self.options.op_timeout, rx).await {
            Ok(Ok(Reply::Done(out))) => match (op, out) {
                (Op::Read { .. }, KvOutput::Int(v)) => Outcome::Ok(Observation::Int(v)),
                (Op::ReadList { .. }, KvOutput::List(l)) => Outcome::Ok(Observation::List(l)),
                (_, KvOutput::Rejected(e)) => Outcome::Fail(e),
                (_, other) => Outcome::Fail(format!("unexpected answer {other:?}")),
            },
            Ok(Ok(other)) => Outcome::Fail(format!("refused: {other:?}")),
            Ok(Err(_)) | Err(_) => Outcome::Fail("the node did not answer".into()),
        }
    }

    /// The node's latest state.
    pub fn status(&self) -> NodeStatus {
        self.controls.status()
    }

    /// The HTTP address of `id`, if this node was told it.
    pub fn http_addr(&self, id: NodeId) -> Option<SocketAddr> {
        self.http_peers.get(&id).copied()
    }

    /// Ask the local node to change the membership or hand over leadership.
    pub async fn admin(&self, admin: Admin) -> Result<(), AdminError> {
        let (reply, rx) = oneshot::channel();
        if self
            .local
            .try_send(Request::Admin { admin, reply })
            .is_err()
        {
            return Err(AdminError::Unavailable("the node's queue is full".into()));
        }
        match tokio::time::timeout(self.options.op_timeout, rx).await {
            Ok(Ok(Reply::Done(()))) => Ok(()),
            Ok(Ok(Reply::NotLeader { leader })) => Err(AdminError::NotLeader {
                leader,
                http: leader.and_then(|l| self.http_addr(l)),
            }),
            Ok(Ok(Reply::Refused(why))) => Err(AdminError::Refused(why)),
            Ok(Ok(other)) => Err(AdminError::Unavailable(format!("{other:?}"))),
            Ok(Err(_)) | Err(_) => Err(AdminError::Unavailable(
                "no answer from the node in time; the change may still happen".into(),
            )),
        }
    }

    /// Drop all Raft traffic this node sends to `peers` (a partition
    /// failpoint); an empty set heals.
    pub fn set_blocked_peers(&self, peers: std::collections::BTreeSet<NodeId>) {
        self.controls.block_peers(peers);
    }

    pub fn blocked_peers(&self) -> std::collections::BTreeSet<NodeId> {
        self.controls.blocked_peers()
    }
}

/// The HTTP server runs handlers on any worker thread, so these futures
/// must be `Send`; this fails to compile if they stop being so.
#[allow(dead_code)]
fn assert_send(f: &Front, op: &Op) {
    fn is_send<T: Send>(_: T) {}
    is_send(f.execute(op));
    is_send(f.stale_read(op));
}
