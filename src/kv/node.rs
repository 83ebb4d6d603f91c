//! A KV node: the replica loop over [`KvState`] plus the client port.

use tokio::sync::mpsc;
use tracing::Instrument;

use super::server::{self, ServerOptions};
use super::state::KvState;
use crate::node::net::Net;
use crate::node::service::Request;
use crate::node::storage::FileSystem;
use crate::node::{self, Clock, Controls, NodeConfig, NodeError};

/// Serve the KV service on `config.client_port` and run the node. Returns
/// only when the node fail-stops.
pub async fn run_node<N: Net, F: FileSystem>(
    config: NodeConfig,
    net: N,
    fs: F,
    clock: Clock,
    controls: Controls,
) -> Result<(), NodeError> {
    let (tx, rx) = mpsc::channel(node::REQUEST_QUEUE);
    run_node_on(config, net, fs, clock, controls, (tx, rx)).await
}

/// [`run_node`] on a request queue the caller made, so it can keep a
/// sender for operator requests (membership changes, leadership
/// transfer) next to the client port's.
pub async fn run_node_on<N: Net, F: FileSystem>(
    config: NodeConfig,
    net: N,
    fs: F,
    clock: Clock,
    controls: Controls,
    (tx, rx): (
        mpsc::Sender<Request<KvState>>,
        mpsc::Receiver<Request<KvState>>,
    ),
) -> Result<(), NodeError> {
    let span = node::node_span(config.id);
    async move {
        let server_options = ServerOptions::default();
        server::serve(&net, config.client_port, tx, server_options)
            .await
            .map_err(|source| NodeError::Listen {
                port: config.client_port,
                source,
            })?;
        let sm = KvState::new(config.bugs);
        node::run_replica(config, net, fs, clock, controls, sm, rx).await
    }
    .instrument(span)
    .await
}
