//! The I/O shell around the Raft core: storage, transport, timers on a
//! skewable clock, and the replica loop that ties them to the core and to a
//! replicated state machine. Generic over the network ([`net::Net`]) and
//! the file system ([`storage::FileSystem`]), so the same node runs under
//! turmoil and as a real process.

pub mod clock;
pub mod config;
pub mod control;
pub mod frame;
pub mod logging;
pub mod net;
mod replica;
pub mod service;
pub mod storage;
pub mod transport;

use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tracing::Instrument;

pub use clock::Clock;
pub use config::NodeConfig;
pub use control::{Controls, DurableView, NodeStatus};
use net::Net;
use service::{Request, StateMachine};
use storage::{DurableStore, FileSystem, StorageError, StoreIdentity};

use crate::raft::{self, Message, NodeId, Raft};

/// Why a node stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("invalid node configuration: {0}")]
    Config(String),
    /// Fail-stop: the disk failed or holds corrupt data.
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the Raft core refused the recovered state: {0}")]
    Recovery(String),
    #[error("state machine: {0}")]
    StateMachine(String),
    #[error("cannot listen on port {port}: {source}")]
    Listen {
        port: u16,
        #[source]
        source: io::Error,
    },
}

/// Inbound Raft messages waiting for the loop; more are dropped.
const INBOUND_QUEUE: usize = 1024;
/// Client requests waiting for the loop; more are refused as busy.
pub const REQUEST_QUEUE: usize = 1024;

/// The span every task of node `id` runs in: it stamps each log line.
pub fn node_span(id: NodeId) -> tracing::Span {
    // At error level, so the id is on every line whatever RUST_LOG lets through.
    tracing::error_span!("node", id)
}

/// Open storage, recover, and run the replica loop of state machine `sm`
/// forever, serving `requests`. Returns only on a fail-stop error.
pub async fn run_node<N: Net, F: FileSystem, S: StateMachine>(
    config: NodeConfig,
    net: N,
    fs: F,
    clock: Clock,
    controls: Controls,
    sm: S,
    requests: mpsc::Receiver<Request<S>>,
) -> Result<(), NodeError> {
    let span = node_span(config.id);
    run_replica(config, net, fs, clock, controls, sm, requests)
        .instrument(span)
        .await
}

/// [`run_node`] without its span, for front ends that open the span
/// themselves around their own tasks too.
pub async fn run_replica<N: Net, F: FileSystem, S: StateMachine>(
    config: NodeConfig,
    net: N,
    fs: F,
    clock: Clock,
    controls: Controls,
    sm: S,
    requests: mpsc::Receiver<Request<S>>,
) -> Result<(), NodeError> {
    // Also marks the node stopped when its task is dropped mid-run (a
    // crash under turmoil drops the host's tasks without a word).
    let guard = StopGuard(controls.clone());
    let result = start(config, net, fs, clock, controls, sm, requests).await;
    if let Err(e) = &result {
        tracing::error!(error = %e, "node stopped");
        guard.0.mark_stopped(Some(e.to_string()));
    }
    result
}

struct StopGuard(Controls);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.mark_stopped_unless_failed();
    }
}

async fn start<N: Net, F: FileSystem, S: StateMachine>(
    config: NodeConfig,
    net: N,
    fs: F,
    clock: Clock,
    controls: Controls,
    mut sm: S,
    requests: mpsc::Receiver<Request<S>>,
) -> Result<(), NodeError> {
    config.validate().map_err(NodeError::Config)?;
    // A restarted process starts running, whatever its predecessor was.
    controls.begin_incarnation();
    controls.resume();
    let identity = StoreIdentity::new(config.cluster_id.clone(), config.id);
    // Recovery reads the disk: a stalled one makes it wait.
    if let Some(wait) = fs.io_wait() {
        wait.await;
    }
    let (store, recovered) = DurableStore::open_as(fs, &config.data_dir, &identity)?;
    if let Some(torn) = &recovered.torn_tail {
        tracing::warn!(path = %torn.path.display(), offset = torn.offset, "recovered past a torn write");
    }

    let mut applied = 0;
    let mut applied_config = config.initial_config.clone();
    if let Some(snap) = &recovered.snapshot {
        sm.restore(&snap.data).map_err(|e| {
            NodeError::StateMachine(format!("stored snapshot at {}: {e}", snap.meta.index))
        })?;
        applied = snap.meta.index;
        applied_config = snap.meta.config.clone();
    }
    let mut raft = Raft::new(
        config.raft_config(),
        raft::Recovered {
            hard_state: recovered.hard_state,
            snapshot: recovered.snapshot.as_ref().map(|s| s.meta.clone()),
            entries: recovered.entries,
            config: config.initial_config.clone(),
        },
    )
    .map_err(NodeError::Recovery)?;
    if let Some(snap) = recovered.snapshot {
        // The core has the snapshot's place in the log; give it the data
        // too, so it can send it to followers that fall behind.
        raft.snapshot_taken(snap.meta, snap.data);
    }
    tracing::info!(
        term = recovered.hard_state.term,
        vote = ?recovered.hard_state.vote,
        snapshot = applied,
        last_index = raft.last_index(),
        "recovered"
    );

    let options = config.transport_options();
    let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE);
    transport::listen::<N, Message>(&net, config.raft_port, inbound_tx, &clock, options)
        .await
        .map_err(|source| NodeError::Listen {
            port: config.raft_port,
            source,
        })?;
    let transport = transport::Transport::start(&net, config.id, &config.peers, &clock, options)
        .with_drop_list(controls.drop_list());

    let sm = Arc::new(Mutex::new(sm));
    controls.attach_state(sm.clone());
    let replica = replica::Replica::new(
        config.id,
        config.bugs,
        config.tick_ms,
        raft,
        store,
        sm,
        transport,
        clock,
        controls,
        applied,
        applied_config,
    );
    replica.run(inbound, requests).await
}
