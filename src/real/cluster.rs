//! `faultline cluster`: a local cluster of `faultline node` child
//! processes on free loopback ports, until Ctrl-C.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::client::HttpClient;
use super::process::{ClusterSpec, LocalCluster};
use crate::raft::NodeId;

/// `faultline cluster` options.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Nodes in the cluster (1 to 9).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub nodes: u64,
    /// Directory for the nodes' data and logs [default: a fresh directory
    /// under the system's temporary directory].
    #[arg(long)]
    pub dir: Option<PathBuf>,
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
    let mut last = String::from("no node answered");
    while Instant::now() < deadline {
        let mut leaders = Vec::new();
        let mut all = true;
        for &id in ids {
            let Some(n) = spec.node(id) else {
                return Err(format!("no node {id}"));
            };
            match client.status(n.http) {
                Ok(s) => {
                    if s["role"] == "leader" {
                        leaders.push((s["term"].as_u64().unwrap_or(0), id));
                    }
                }
                Err(e) => {
                    all = false;
                    last = format!("node {id}: {e}");
                }
            }
        }
        leaders.sort();
        if let (true, Some(&(_, leader))) = (all, leaders.last()) {
            return Ok(leader);
        }
        if all {
            last = "every node answers but none leads yet".into();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no leader within {timeout:?}: {last}"))
}

fn default_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "faultline-cluster-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// Run the cluster until Ctrl-C. `Err` carries a message for stderr.
pub fn run(args: &ClusterArgs) -> Result<(), String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the faultline binary: {e}"))?;
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let spec = ClusterSpec::local(args.nodes as usize, &dir, exe)
        .map_err(|e| format!("cannot pick ports: {e}"))?;
    let mut cluster =
        LocalCluster::start(spec.clone()).map_err(|e| format!("cannot start the nodes: {e}"))?;
    let client = HttpClient::new(Duration::from_secs(2));
    let leader = match wait_for_leader(&spec, &spec.ids(), &client, Duration::from_secs(20)) {
        Ok(l) => l,
        Err(e) => {
            let tails: Vec<String> = spec
                .ids()
                .iter()
                .map(|id| format!("--- node {id} log ---\n{}", cluster.log_tail(*id, 10)))
                .collect();
            cluster.stop(Duration::from_secs(2));
            return Err(format!(
                "the cluster did not come up: {e}\n{}",
                tails.join("\n")
            ));
        }
    };

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

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let died = rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => return None,
                _ = tick.tick() => {
                    let exited = cluster.exited();
                    if !exited.is_empty() {
                        return Some(exited);
                    }
                }
            }
        }
    });
    cluster.stop(Duration::from_secs(3));
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
            Err(format!("stopped the cluster because {}", what.join("\n")))
        }
    }
}
