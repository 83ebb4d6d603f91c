//! Nodes as child processes: start `faultline node`, kill -9, SIGSTOP /
//! SIGCONT, restart on the same data directory, stop cleanly.
//!
//! Children are started with `PR_SET_PDEATHSIG` on Linux, so a harness that
//! dies (even by SIGKILL) takes its cluster with it. That signal fires
//! when the *thread* that spawned the child exits, so spawn from a thread
//! that outlives the cluster (the main one).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::addr::format_peers;
use super::ports::free_loopback_ports;
use crate::raft::NodeId;

/// Where one node listens and keeps its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    pub id: NodeId,
    pub raft: SocketAddr,
    /// The KV client protocol (what `KvClient` speaks).
    pub kv: SocketAddr,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

/// A local cluster's layout.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub cluster_id: String,
    /// The `faultline` binary to run.
    pub exe: PathBuf,
    pub nodes: Vec<NodeSpec>,
    /// Extra arguments for every node (timings, planted bugs).
    pub extra_args: Vec<String>,
    /// Nodes started outside the configuration (`--join`), to be added
    /// through `POST /members`; the others start as its voters.
    pub joining: BTreeSet<NodeId>,
}

impl ClusterSpec {
    /// `n` nodes (ids 1..=n) on free loopback ports, with data directories
    /// and logs under `dir`.
    pub fn local(n: usize, dir: &Path, exe: PathBuf) -> io::Result<ClusterSpec> {
        if n == 0 {
            return Err(io::Error::other("a cluster needs at least one node"));
        }
        let ports = free_loopback_ports(3 * n)?;
        let nodes = (0..n)
            .map(|i| {
                let id = i as NodeId + 1;
                NodeSpec {
                    id,
                    raft: ports[3 * i],
                    kv: ports[3 * i + 1],
                    http: ports[3 * i + 2],
                    data_dir: dir.join(format!("n{id}")),
                    log: dir.join(format!("n{id}.log")),
                }
            })
            .collect();
        Ok(ClusterSpec {
            cluster_id: format!("local-{:016x}", rand::random::<u64>()),
            exe,
            nodes,
            extra_args: Vec::new(),
            joining: BTreeSet::new(),
        })
    }

    pub fn node(&self, id: NodeId) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    fn peers(&self, addr: impl Fn(&NodeSpec) -> SocketAddr) -> String {
        format_peers(&self.nodes.iter().map(|n| (n.id, addr(n))).collect())
    }

    /// The command line that runs node `id`.
    pub fn args(&self, id: NodeId) -> Option<Vec<String>> {
        let n = self.node(id)?;
        let mut args = vec![
            "node".to_string(),
            "--id".into(),
            id.to_string(),
            "--cluster-id".into(),
            self.cluster_id.clone(),
            "--raft-addr".into(),
            n.raft.to_string(),
            "--kv-addr".into(),
            n.kv.to_string(),
            "--http-addr".into(),
            n.http.to_string(),
            "--peers".into(),
            self.peers(|n| n.raft),
            "--kv-peers".into(),
            self.peers(|n| n.kv),
            "--http-peers".into(),
            self.peers(|n| n.http),
            "--data-dir".into(),
            n.data_dir.display().to_string(),
        ];
        if self.joining.contains(&id) {
            args.push("--join".into());
        } else if !self.joining.is_empty() {
            let voters: Vec<String> = self
                .ids()
                .into_iter()
                .filter(|id| !self.joining.contains(id))
                .map(|id| id.to_string())
                .collect();
            args.extend(["--voters".into(), voters.join(",")]);
        }
        args.extend(self.extra_args.iter().cloned());
        Some(args)
    }
}

/// One node's process, if it is running.
pub struct NodeProcess {
    pub spec: NodeSpec,
    child: Option<Child>,
    paused: bool,
    /// How many times it was started.
    pub starts: u32,
}

impl NodeProcess {
    pub fn new(spec: NodeSpec) -> NodeProcess {
        NodeProcess {
            spec,
            child: None,
            paused: false,
            starts: 0,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Start the node (a no-op if it runs). Its output is appended to its log.
    pub fn start(&mut self, cluster: &ClusterSpec) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let args = cluster.args(self.spec.id).ok_or_else(|| {
            io::Error::other(format!("node {} is not in the cluster", self.spec.id))
        })?;
        if let Some(parent) = self.spec.log.parent() {
            fs::create_dir_all(parent)?;
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)?;
        let mut cmd = Command::new(&cluster.exe);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        die_with_parent(&mut cmd);
        // A process group of its own: Ctrl-C in a terminal signals the
        // foreground group, and the harness, not the terminal, decides
        // how and in which order its nodes stop.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        self.child = Some(cmd.spawn()?);
        self.paused = false;
        self.starts += 1;
        Ok(())
    }

    /// Whether the process exists (possibly stopped); reaps it if it died.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            None => false,
            Some(c) => match c.try_wait() {
                Ok(None) => true,
                _ => {
                    self.child = None;
                    self.paused = false;
                    false
                }
            },
        }
    }

    /// How the process ended, if it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| io::Error::other(format!("node {} is not running", self.spec.id)))?;
        // SAFETY: kill(2) on a child we spawned and have not reaped, so the
        // pid still names it.
        let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// kill -9 and reap: whatever was not fsynced is the OS's to keep or lose.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut c) = self.child.take() {
            // A stopped process dies of SIGKILL too.
            let _ = c.kill();
            c.wait()?;
        }
        self.paused = false;
        Ok(())
    }

    /// SIGSTOP: the process freezes with its sockets open.
    pub fn pause(&mut self) -> io::Result<()> {
        self.signal(libc::SIGSTOP)?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            self.signal(libc::SIGCONT)?;
        }
        self.paused = false;
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub fn stop(&mut self, grace: Duration) -> io::Result<()> {
        if self.child.is_none() {
            return Ok(());
        }
        if self.paused {
            let _ = self.signal(libc::SIGCONT);
        }
        let _ = self.signal(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.is_running() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only this process.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// A running local cluster; dropping it kills every node.
pub struct LocalCluster {
    pub spec: ClusterSpec,
    pub nodes: BTreeMap<NodeId, NodeProcess>,
}

impl LocalCluster {
    /// Start every node of `spec`.
    pub fn start(spec: ClusterSpec) -> io::Result<LocalCluster> {
        let mut nodes = BTreeMap::new();
        for n in &spec.nodes {
            let mut p = NodeProcess::new(n.clone());
            p.start(&spec)?;
            nodes.insert(n.id, p);
        }
        Ok(LocalCluster { spec, nodes })
    }

    pub fn node(&mut self, id: NodeId) -> io::Result<&mut NodeProcess> {
        self.nodes
            .get_mut(&id)
            .ok_or_else(|| io::Error::other(format!("no node {id}")))
    }

    /// Restart node `id` on its data directory.
    pub fn restart(&mut self, id: NodeId) -> io::Result<()> {
        let spec = self.spec.clone();
        let p = self.node(id)?;
        p.kill()?;
        p.start(&spec)
    }

    /// Start node `id` if it is not running.
    pub fn ensure_started(&mut self, id: NodeId) -> io::Result<()> {
        let spec = self.spec.clone();
        self.node(id)?.start(&spec)
    }

    /// Nodes whose process has exited on its own (not killed by us).
    pub fn exited(&mut self) -> Vec<(NodeId, String)> {
        let mut out = Vec::new();
        for (id, p) in &mut self.nodes {
            if let Some(status) = p.exit_status() {
                out.push((*id, status.to_string()));
            }
        }
        out
    }

    /// Stop every node: SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        for p in self.nodes.values_mut() {
            if p.is_paused() {
                let _ = p.resume();
            }
            let _ = p.signal(libc::SIGTERM);
        }
        for p in self.nodes.values_mut() {
            let _ = p.stop(grace);
        }
    }

    /// The last `lines` lines of node `id`'s log, for error messages.
    pub fn log_tail(&self, id: NodeId, lines: usize) -> String {
        let Some(n) = self.spec.node(id) else {
            return String::new();
        };
        let text = File::open(&n.log)
            .and_then(|mut f| {
                let mut s = String::new();
                io::Read::read_to_string(&mut f, &mut s)?;
                Ok(s)
            })
            .unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}
