//! `faultline node`: one node as an ordinary process. The same core,
//! replica loop and KV state machine the simulation runs, on tokio TCP
//! ([`TokioNet`]) and real files with real fsync ([`StdFs`]), plus the
//! HTTP API ([`super::api`]).
//!
//! Exit codes: 0 after SIGINT / SIGTERM; 2 for bad arguments, a port in
//! use, or a data directory the node cannot start from (another cluster's
//! or node's, unreadable, corrupt); 1 when the node fail-stops while
//! running (a disk error).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::addr::{check_loopback, parse_addr, parse_peers};
use super::api;
use super::front::{Front, FrontOptions};
use crate::bugs::{Bug, Bugs};
use crate::kv::server::{self, ServerOptions};
use crate::kv::KvState;
use crate::node::net::TokioNet;
use crate::node::storage::{StdFs, StorageError};
use crate::node::{self, Clock, Controls, NodeConfig, NodeError};
use crate::raft::{Configuration, NodeId};

/// `faultline node` options.
#[derive(clap::Args, Clone, Debug)]
pub struct NodeArgs {
    /// This node's id (a positive integer, one of --peers).
    #[arg(long)]
    pub id: NodeId,
    /// Where this node listens for Raft traffic from its peers.
    #[arg(long, value_parser = parse_addr)]
    pub raft_addr: SocketAddr,
    /// Where the HTTP API listens.
    #[arg(long, value_parser = parse_addr)]
    pub http_addr: SocketAddr,
    /// Where the KV client protocol listens (the port followers forward
    /// requests to) [default: the Raft port + 2, on the Raft host].
    #[arg(long, value_parser = parse_addr)]
    pub kv_addr: Option<SocketAddr>,
    /// Raft address of every member, this node included:
    /// `1=127.0.0.1:7000,2=127.0.0.1:8000,3=127.0.0.1:9000`.
    #[arg(long)]
    pub peers: String,
    /// KV client-protocol address of every member [default: each Raft
    /// port + 2].
    #[arg(long)]
    pub kv_peers: Option<String>,
    /// HTTP address of every member, so a follower can redirect membership
    /// requests to the leader and /status can name the leader's address.
    #[arg(long)]
    pub http_peers: Option<String>,
    /// The node's data directory (created if missing). A restart with the
    /// same directory recovers; a directory of another cluster or node is
    /// refused.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Names the cluster; written into the data directory on first start.
    #[arg(long, default_value = "faultline")]
    pub cluster_id: String,
    /// Start outside the configuration, to be added by `POST /members`
    /// (a fresh node started without it would form a cluster of its own).
    #[arg(long)]
    pub join: bool,
    /// The voters a fresh cluster starts with, e.g. `1,2,3` [default:
    /// every node of --peers]. List fewer to add the others later: start
    /// them with --join, then `POST /members`.
    #[arg(long, value_parser = parse_ids, conflicts_with = "join")]
    pub voters: Option<BTreeSet<NodeId>>,
    /// Allow listening on non-loopback addresses (the API has no
    /// authentication).
    #[arg(long)]
    pub public: bool,
    /// Election timeout in ms (randomised in [t, 2t)).
    #[arg(long, default_value_t = 300)]
    pub election_timeout_ms: u64,
    /// Heartbeat interval in ms.
    #[arg(long, default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// Budget of one client operation through this node, in ms.
    #[arg(long, default_value_t = 3000)]
    pub op_timeout_ms: u64,
    /// Switch on a planted bug (`faultline bugs` lists them); repeatable.
    #[arg(long = "bug", value_parser = parse_bug)]
    pub bugs: Vec<Bug>,
}

/// `1,2,3`: positive, distinct node ids.
fn parse_ids(s: &str) -> Result<BTreeSet<NodeId>, String> {
    let mut ids = BTreeSet::new();
    for part in s.split(',').map(str::trim) {
        let id: NodeId = part.parse().ok().filter(|&id| id > 0).ok_or_else(|| {
            format!("bad node id {part:?}: expected positive integers, e.g. 1,2,3")
        })?;
        if !ids.insert(id) {
            return Err(format!("node {id} is listed twice"));
        }
    }
    Ok(ids)
}

fn parse_bug(s: &str) -> Result<Bug, String> {
    s.parse::<Bug>().map_err(|e| e.to_string())
}

/// What the arguments add up to, checked.
#[derive(Clone, Debug)]
pub struct NodePlan {
    pub config: NodeConfig,
    pub bind_ip: std::net::IpAddr,
    pub http_addr: SocketAddr,
    pub kv_peers: BTreeMap<NodeId, SocketAddr>,
    pub http_peers: BTreeMap<NodeId, SocketAddr>,
    pub op_timeout: Duration,
}

fn plus_two(a: SocketAddr) -> Result<SocketAddr, String> {
    let port = a.port().checked_add(2).ok_or_else(|| {
        format!("cannot derive a client port from {a}; give --kv-addr / --kv-peers")
    })?;
    Ok(SocketAddr::new(a.ip(), port))
}

impl NodeArgs {
    /// Check the arguments and build the node's configuration.
    pub fn plan(&self) -> Result<NodePlan, String> {
        let peers = parse_peers(&self.peers).map_err(|e| format!("--peers: {e}"))?;
        let me = *peers
            .get(&self.id)
            .ok_or_else(|| format!("--id {} is not in --peers ({})", self.id, self.peers))?;
        if me != self.raft_addr {
            return Err(format!(
                "--raft-addr {} differs from node {}'s address {me} in --peers",
                self.raft_addr, self.id
            ));
        }
        let kv_addr = match self.kv_addr {
            Some(a) => a,
            None => plus_two(self.raft_addr)?,
        };
        if kv_addr.ip() != self.raft_addr.ip() {
            return Err(format!(
                "--kv-addr {kv_addr} must be on the same host address as --raft-addr {}",
                self.raft_addr
            ));
        }
        for (what, a) in [
            ("--raft-addr", self.raft_addr),
            ("--http-addr", self.http_addr),
            ("--kv-addr", kv_addr),
        ] {
            check_loopback(what, a, self.public)?;
        }
        let ports = [self.raft_addr.port(), kv_addr.port(), self.http_addr.port()];
        if ports.contains(&0) {
            return Err(
                "ports must be given explicitly (0 is not allowed): peers must know them".into(),
            );
        }
        if self.raft_addr == self.http_addr
            || kv_addr == self.http_addr
            || kv_addr == self.raft_addr
        {
            return Err("the Raft, KV and HTTP addresses must differ".into());
        }
        let kv_peers = match &self.kv_peers {
            Some(s) => parse_peers(s).map_err(|e| format!("--kv-peers: {e}"))?,
            None => peers
                .iter()
                .map(|(id, a)| Ok((*id, plus_two(*a)?)))
                .collect::<Result<_, String>>()?,
        };
        if kv_peers.keys().ne(peers.keys()) {
            return Err("--kv-peers must name the same nodes as --peers".into());
        }
        if kv_peers[&self.id] != kv_addr {
            return Err(format!(
                "node {}'s entry in --kv-peers ({}) differs from its --kv-addr {kv_addr}",
                self.id, kv_peers[&self.id]
            ));
        }
        let http_peers = match &self.http_peers {
            Some(s) => parse_peers(s).map_err(|e| format!("--http-peers: {e}"))?,
            None => BTreeMap::from([(self.id, self.http_addr)]),
        };
        if http_peers
            .get(&self.id)
            .is_some_and(|a| *a != self.http_addr)
        {
            return Err(format!(
                "node {}'s entry in --http-peers differs from its --http-addr {}",
                self.id, self.http_addr
            ));
        }
        if self.cluster_id.trim().is_empty() {
            return Err("--cluster-id must not be empty".into());
        }
        if self.op_timeout_ms == 0 || self.election_timeout_ms == 0 || self.heartbeat_ms == 0 {
            return Err("timeouts and intervals must be positive".into());
        }

        let raft_peers: BTreeMap<NodeId, String> =
            peers.iter().map(|(id, a)| (*id, a.to_string())).collect();
        let mut config = NodeConfig::new(
            self.id,
            self.cluster_id.clone(),
            raft_peers,
            self.raft_addr.port(),
            kv_addr.port(),
            self.data_dir.clone(),
        );
        config.raft.election_timeout = self.election_timeout_ms;
        config.raft.heartbeat_interval = self.heartbeat_ms;
        config.raft.seed = rand::random();
        config.bugs = self.bugs.iter().fold(Bugs::NONE, |b, bug| b.with(*bug));
        if self.join {
            config.initial_config = Configuration::default();
        }
        if let Some(voters) = &self.voters {
            if let Some(stranger) = voters.iter().find(|id| !peers.contains_key(id)) {
                return Err(format!(
                    "--voters names node {stranger}, which is not in --peers"
                ));
            }
            if !voters.contains(&self.id) {
                return Err(format!(
                    "--voters leaves out this node ({}); start it with --join instead, \
                     and add it with POST /members",
                    self.id
                ));
            }
            config.initial_config = Configuration::with_voters(voters.iter().copied());
        }
        config.validate()?;
        Ok(NodePlan {
            config,
            bind_ip: self.raft_addr.ip(),
            http_addr: self.http_addr,
            kv_peers,
            http_peers,
            op_timeout: Duration::from_millis(self.op_timeout_ms),
        })
    }
}

/// Why `faultline node` ended, with its exit code.
#[derive(Debug)]
pub struct NodeExit {
    pub code: u8,
    pub message: String,
}

/// Run the node until SIGINT / SIGTERM or a fail-stop.
pub fn run(args: &NodeArgs) -> Result<(), NodeExit> {
    let usage = |message: String| NodeExit { code: 2, message };
    let plan = args.plan().map_err(usage)?;
    std::fs::create_dir_all(&plan.config.data_dir).map_err(|e| {
        usage(format!(
            "cannot create --data-dir {}: {e}",
            plan.config.data_dir.display()
        ))
    })?;
    init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| NodeExit {
            code: 1,
            message: format!("cannot start the runtime: {e}"),
        })?;
    rt.block_on(serve(plan))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

async fn serve(plan: NodePlan) -> Result<(), NodeExit> {
    let id = plan.config.id;
    let fail = |code: u8, message: String| NodeExit { code, message };
    let net = TokioNet {
        bind_ip: plan.bind_ip,
    };
    let controls = Controls::new(id);
    let (tx, rx) = mpsc::channel(node::REQUEST_QUEUE);
    let http = tokio::net::TcpListener::bind(plan.http_addr)
        .await
        .map_err(|e| {
            fail(
                2,
                format!("cannot listen on --http-addr {}: {e}", plan.http_addr),
            )
        })?;
    server::serve(
        &net,
        plan.config.client_port,
        tx.clone(),
        ServerOptions::default(),
    )
    .await
    .map_err(|e| {
        fail(
            2,
            format!(
                "cannot listen on the KV port {}: {e}",
                plan.config.client_port
            ),
        )
    })?;
    let front = Arc::new(Front::new(
        id,
        plan.kv_peers.clone(),
        plan.http_peers.clone(),
        controls.clone(),
        tx,
        FrontOptions {
            op_timeout: plan.op_timeout,
            ..FrontOptions::default()
        },
    ));
    let bugs = plan.config.bugs;
    let recovered = controls.clone();
    let data_dir = plan.config.data_dir.clone();
    let mut node_task = tokio::spawn(node::run_node(
        plan.config,
        net,
        StdFs,
        Clock::new(),
        controls,
        KvState::new(bugs),
        rx,
    ));
    let app = api::router(front);
    let mut http_task = tokio::spawn(async move { axum::serve(http, app).await });
    tracing::info!(id, http = %plan.http_addr, data_dir = %data_dir.display(), "node started");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| fail(1, format!("cannot handle SIGTERM: {e}")))?;
    let result = tokio::select! {
        biased;
        r = &mut node_task => match r {
            Ok(Ok(())) => Err(fail(1, format!("node {id} stopped unexpectedly"))),
            Ok(Err(e)) => Err(node_failure(id, &data_dir, e, recovered.has_recovered())),
            Err(e) => Err(fail(1, format!("node {id} crashed: {e}"))),
        },
        r = &mut http_task => Err(fail(1, format!("node {id}'s HTTP server stopped: {r:?}"))),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    };
    if result.is_ok() {
        tracing::info!(id, "stopping");
    }
    node_task.abort();
    http_task.abort();
    result
}

/// Why the node task ended, as an exit. A node that never got through
/// recovery was given something it cannot start from: bad input (2), as
/// opposed to a fail-stop while running (1).
fn node_failure(id: NodeId, data_dir: &std::path::Path, e: NodeError, recovered: bool) -> NodeExit {
    let (code, message) = match &e {
        // The identity error names the directory itself.
        NodeError::Config(_)
        | NodeError::Listen { .. }
        | NodeError::Storage(StorageError::IdentityMismatch { .. }) => {
            (2, format!("node {id} cannot start: {e}"))
        }
        _ if !recovered => (
            2,
            format!(
                "node {id} cannot start from data dir {}: {e}",
                data_dir.display()
            ),
        ),
        _ => (
            1,
            format!("node {id} (data dir {}) stopped: {e}", data_dir.display()),
        ),
    };
    NodeExit { code, message }
}
