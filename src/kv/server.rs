//! The client port of a node: decodes client requests, hands them to the
//! replica loop and writes back its answers. One task per connection, one
//! request in flight per connection.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use super::protocol::{ClientFrame, KvRequest, KvResponse, ServerFrame};
use super::state::{KvState, Proposal};
use crate::node::frame::{FrameReader, FrameWriter};
use crate::node::net::{serve_connections, BoxStream, Net};
use crate::node::service::Request;

#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    /// How long a request may wait for the replica loop before the client
    /// is told the outcome is unknown.
    pub request_timeout: Duration,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Deadline for writing one response.
    pub write_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(1),
        }
    }
}

/// Bind the client port; then serve it from a spawned task.
pub async fn serve<N: Net>(
    net: &N,
    port: u16,
    requests: mpsc::Sender<Request<KvState>>,
    options: ServerOptions,
) -> io::Result<()> {
    serve_connections(
        net,
        port,
        requests,
        "client",
        move |stream, addr, requests| connection(stream, addr, requests, options),
    )
    .await
}

async fn connection(
    stream: BoxStream,
    addr: SocketAddr,
    requests: mpsc::Sender<Request<KvState>>,
    options: ServerOptions,
) {
    let (r, w) = tokio::io::split(stream);
    let (mut reader, mut writer) = (FrameReader::new(r), FrameWriter::new(w));
    loop {
        let frame: ClientFrame = match timeout(options.idle_timeout, reader.recv()).await {
            Err(_) | Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::warn!(%addr, error = %e, "bad frame from a client; closing its connection");
                return;
            }
            Ok(Ok(Some(frame))) => frame,
        };
        let response = handle(frame.request, &requests, options.request_timeout).await;
        let out = ServerFrame {
            id: frame.id,
            response,
        };
        match timeout(options.write_timeout, writer.send(&out)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "client connection lost");
                return;
            }
            Err(_) => {
                tracing::debug!(%addr, "client connection too slow; dropping it");
                return;
            }
        }
    }
}

async fn handle(
    request: KvRequest,
    requests: &mpsc::Sender<Request<KvState>>,
    wait: Duration,
) -> KvResponse {
    let (reply, rx) = oneshot::channel();
    let req = match request {
        KvRequest::Write {
            client,
            seq,
            command,
        } => Request::Propose {
            command: Proposal {
                client,
                seq,
                command,
            }
            .encode(),
            reply,
        },
        KvRequest::Read { query } => Request::Read { query, reply },
    };
    if requests.try_send(req).is_err() {
        return KvResponse::Busy;
    }
    match timeout(wait, rx).await {
        Ok(Ok(reply)) => reply.into(),
        // The loop dropped or sat on the request: it may have been proposed.
        Ok(Err(_)) | Err(_) => KvResponse::Unknown,
    }
}
