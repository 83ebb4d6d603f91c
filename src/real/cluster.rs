//! `faultline cluster`: a local cluster of `faultline node` child
//! processes on free loopback ports, until Ctrl-C or SIGTERM.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, Signal, SignalKind};

use super::client::HttpClient;
use super::process::{ClusterSpec, LocalCluster};
use crate::raft::NodeId;

/// How long a fresh cluster has to elect a leader.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a node has to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// `faultline cluster` options.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Nodes in the cluster (1 to 9).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub nodes: u64,
    /// Directory for the nodes' data and logs, new or empty [default: a
    /// fresh directory under the system's temporary directory].
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Why `faultline cluster` failed.
#[derive(Debug)]
pub enum ClusterError {
    /// Bad input: a --dir that cannot be used.
    Usage(String),
    /// The cluster could not be run.
    Harness(String),
}

/// One round of `/status` calls: the leader's id if every node of `ids`
/// answers and one of them leads (the highest term's, if several think
/// they do); else what is missing.
pub fn poll_leader(
    spec: &ClusterSpec,
    ids: &[NodeId],
    client: &HttpClient,
) -> Result<NodeId, String> {
    let mut leaders = Vec::new();
    let mut silent = None;
    for &id in ids {
        let n = spec.node(id).ok_or_else(|| format!("no node {id}"))?;
        match client.status(n.http) {
            Ok(s) if s["role"] == "leader" => leaders.push((s["term"].as_u64().unwrap_or(0), id)),
            Ok(_) => {}
            Err(e) => silent = Some(format!("node {id}: {e}")),
        }
    }
    if let Some(why) = silent {
        return Err(why);
    }
    leaders.sort();
    leaders
        .last()
        .map(|&(_, id)| id)
        .ok_or_else(|| "every node answers but none leads yet".into())
}

/// Poll every node's `/status` until all answer and one of them leads;
/// the leader's id.
pub fn wait_for_leader(
    spec: &ClusterSpec,
    ids: &[NodeId],
    client: &HttpClient,
    timeout: Duration,
) -> Result<NodeId, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match poll_leader(spec, ids, client) {
            Ok(leader) => return Ok(leader),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("no leader within {timeout:?}: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn default_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "faultline-cluster-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// Create `dir`, refusing one that already holds a cluster: its nodes
/// would refuse their data directories under the new cluster's id.
fn prepare_dir(dir: &Path) -> Result<(), ClusterError> {
    let usage = |e: String| ClusterError::Usage(e);
    std::fs::create_dir_all(dir)
        .map_err(|e| usage(format!("cannot create --dir {}: {e}", dir.display())))?;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| usage(format!("cannot read --dir {}: {e}", dir.display())))?;
    if let Some(entry) = entries.flatten().next() {
        return Err(usage(format!(
            "--dir {} is not empty (it holds {}); a cluster starts in a new or empty directory \
             (restart single nodes on their data with `faultline node`)",
            dir.display(),
            entry.file_name().to_string_lossy()
        )));
    }
    Ok(())
}

/// SIGINT and SIGTERM, both caught from the start, so that neither ends
/// the process before it has stopped its nodes.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Must be called inside a tokio runtime.
    fn new() -> io::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            biased;
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// How the wait for a leader ended.
enum Startup {
    Leader(NodeId),
    Interrupted,
    Failed(String),
}

async fn await_leader(
    cluster: &mut LocalCluster,
    client: &HttpClient,
    stop: &mut StopSignals,
) -> Startup {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            biased;
            _ = stop.recv() => return Startup::Interrupted,
            _ = tick.tick() => {}
        }
        if let Some((id, status)) = cluster.exited().into_iter().next() {
            return Startup::Failed(format!("node {id} exited ({status})"));
        }
        match poll_leader(&cluster.spec, &cluster.spec.ids(), client) {
            Ok(leader) => return Startup::Leader(leader),
            Err(e) if Instant::now() >= deadline => {
                return Startup::Failed(format!("no leader within {STARTUP_TIMEOUT:?}: {e}"))
            }
            Err(_) => {}
        }
    }
}

/// Wait for a stop signal; `Some` with the nodes that exited on their own
/// if that came first.
async fn watch(
    cluster: &mut LocalCluster,
    stop: &mut StopSignals,
) -> Option<Vec<(NodeId, String)>> {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            biased;
            _ = stop.recv() => return None,
            _ = tick.tick() => {
                let exited = cluster.exited();
                if !exited.is_empty() {
                    return Some(exited);
                }
            }
        }
    }
}

fn print_banner(spec: &ClusterSpec, dir: &Path, leader: NodeId) {
    println!(
        "faultline cluster {} is up: {} nodes, node {leader} leads.",
        spec.cluster_id,
        spec.nodes.len()
    );
    println!("Data and logs: {}", dir.display());
    for n in &spec.nodes {
        println!(
            "  node {}: http://{}  (raft {}, kv {}, log {})",
            n.id,
            n.http,
            n.raft,
            n.kv,
            n.log.display()
        );
    }
    let a = spec.nodes[0].http;
    let b = spec.nodes[spec.nodes.len() - 1].http;
    println!();
    println!("Try:");
    println!("  curl 'http://{a}/set?key=greeting&value=42'");
    println!("  curl 'http://{b}/get?key=greeting'");
    println!("  curl -X PUT http://{a}/kv/x -d '{{\"value\": 7}}'");
    println!("  curl -X POST http://{b}/kv/x/cas -d '{{\"from\": 7, \"to\": 8}}'");
    println!("  curl http://{b}/status");
    println!();
    println!("Ctrl-C stops every node.");
}

fn log_tails(cluster: &LocalCluster) -> String {
    cluster
        .spec
        .ids()
        .iter()
        .map(|id| format!("--- node {id} log ---\n{}", cluster.log_tail(*id, 10)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run the cluster until SIGINT or SIGTERM.
pub fn run(args: &ClusterArgs) -> Result<(), ClusterError> {
    let harness = ClusterError::Harness;
    let exe = std::env::current_exe()
        .map_err(|e| harness(format!("cannot find the faultline binary: {e}")))?;
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    prepare_dir(&dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| harness(format!("cannot start the runtime: {e}")))?;
    let _in_runtime = rt.enter();
    let mut stop = StopSignals::new().map_err(|e| harness(format!("cannot catch signals: {e}")))?;
    let spec = ClusterSpec::local(args.nodes as usize, &dir, exe)
        .map_err(|e| harness(format!("cannot pick ports: {e}")))?;
    let mut cluster =
        LocalCluster::start(spec).map_err(|e| harness(format!("cannot start the nodes: {e}")))?;
    let client = HttpClient::new(Duration::from_secs(2));

    let leader = match rt.block_on(await_leader(&mut cluster, &client, &mut stop)) {
        Startup::Leader(leader) => leader,
        Startup::Interrupted => {
            cluster.stop(STOP_GRACE);
            println!("stopped before a leader was elected.");
            return Ok(());
        }
        Startup::Failed(why) => {
            cluster.stop(STOP_GRACE);
            return Err(harness(format!(
                "the cluster did not come up: {why}\n{}",
                log_tails(&cluster)
            )));
        }
    };
    print_banner(&cluster.spec, &dir, leader);

    let died = rt.block_on(watch(&mut cluster, &mut stop));
    cluster.stop(STOP_GRACE);
    match died {
        None => {
            println!("stopped.");
            Ok(())
        }
        Some(exited) => {
            let what: Vec<String> = exited
                .iter()
                .map(|(id, status)| {
                    format!(
                        "node {id} exited ({status}):\n{}",
                        cluster.log_tail(*id, 10)
                    )
                })
                .collect();
            Err(harness(format!(
                "stopped the cluster because {}",
                what.join("\n")
            )))
        }
    }
}
