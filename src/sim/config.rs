//! What one run is: [`RunConfig`], every knob of a simulation, derived from
//! the seed and the few [`RunOptions`] a user passes on the command line.
//!
//! The configuration is the run's identity: the report stores it whole, and
//! replaying it (with its schedule, possibly hand-edited) replays the run.

use std::collections::BTreeSet;

use faultline_nemesis::{self as nemesis, NodeId, Profile, Schedule, Swarm};
use faultline_workloads::{Generator, GeneratorConfig, Workload};
use serde::{Deserialize, Serialize};

use crate::bugs::Bugs;

/// The largest cluster a run may start with. Past seven voters a Raft
/// cluster only gets slower, and the simulation's cost grows with the
/// square of the node count (every pair is a link).
pub const MAX_NODES: usize = 9;
/// The most client processes running at once.
pub const MAX_CLIENTS: usize = 100;
/// The longest fault phase a run may ask for (one simulated hour).
pub const MAX_DURATION_MS: u64 = 3_600_000;

/// What the command line passes to [`RunConfig::from_seed`]. `None` means
/// "derive it": from the seed under `--swarm`, a default otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    pub seed: u64,
    pub nodes: Option<usize>,
    pub clients: Option<usize>,
    /// Simulated length of the fault phase (clients run throughout).
    pub duration_ms: Option<u64>,
    pub workload: Workload,
    /// `--nemesis`: `all`, `none`, or a comma-separated list of families.
    pub nemesis: String,
    /// Time between fault attempts; `None`: the default (or swarm's).
    pub nemesis_interval_ms: Option<u64>,
    /// Let the seed choose cluster size, timings, pre-vote, snapshot
    /// threshold and the fault mix (within `nemesis`).
    pub swarm: bool,
    pub bugs: Bugs,
    /// Log entries between snapshots; `None`: the default (or swarm's).
    #[serde(default)]
    pub snapshot_threshold: Option<u64>,
    /// Admin requests the operator keeps in flight at once; `None`: 1.
    #[serde(default)]
    pub admin_concurrency: Option<usize>,
    /// Run Raft's pre-vote round; `None`: on (or swarm's choice).
    #[serde(default)]
    pub pre_vote: Option<bool>,
    /// Most entries in one AppendEntries; `None`: the default of 64.
    #[serde(default)]
    pub max_append_entries: Option<usize>,
    /// Most AppendEntries in flight to one follower; `None`: the default of 8.
    #[serde(default)]
    pub max_inflight: Option<usize>,
    /// Log entries kept behind a snapshot; `None`: the default of 256.
    #[serde(default)]
    pub trailing_logs: Option<u64>,
}

impl Default for RunOptions {
    /// `faultline run` with no flags: 5 nodes, 10 clients, a simulated
    /// minute of the register workload under a moderate mix of every fault.
    fn default() -> RunOptions {
        RunOptions {
            seed: 0,
            nodes: None,
            clients: None,
            duration_ms: None,
            workload: Workload::Register,
            nemesis: "all".to_string(),
            nemesis_interval_ms: None,
            swarm: false,
            bugs: Bugs::NONE,
            snapshot_threshold: None,
            admin_concurrency: None,
            pre_vote: None,
            max_append_entries: None,
            max_inflight: None,
            trailing_logs: None,
        }
    }
}

/// Raft timings and switches, in milliseconds of the node's own clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RaftTimings {
    pub heartbeat_ms: u64,
    /// Randomised by the core in `[t, 2t)`.
    pub election_timeout_ms: u64,
    pub commit_timeout_ms: u64,
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub snapshot_threshold: u64,
    pub trailing_logs: u64,
    pub max_append_entries: usize,
    pub max_inflight: usize,
}

impl Default for RaftTimings {
    fn default() -> RaftTimings {
        RaftTimings {
            heartbeat_ms: 50,
            election_timeout_ms: 300,
            commit_timeout_ms: 25,
            pre_vote: true,
            check_quorum: true,
            snapshot_threshold: 1024,
            trailing_logs: 256,
            max_append_entries: 64,
            max_inflight: 8,
        }
    }
}

impl RaftTimings {
    /// Every timing multiplied by `permille / 1000` (never below 1 ms).
    pub fn scaled(&self, permille: u32) -> RaftTimings {
        let s = |ms: u64| (ms * permille as u64 / 1000).max(1);
        RaftTimings {
            heartbeat_ms: s(self.heartbeat_ms),
            election_timeout_ms: s(self.election_timeout_ms),
            commit_timeout_ms: s(self.commit_timeout_ms),
            ..self.clone()
        }
    }
}

/// The simulated network and disk underneath the nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubstrateConfig {
    /// turmoil's step: every host runs this much simulated time per step,
    /// and the monitor checks invariants after each.
    pub tick_ms: u64,
    /// Base one-way message latency range (exponentially distributed).
    pub min_latency_ms: u64,
    pub max_latency_ms: u64,
    /// Segments a TCP socket buffers before the peer sees resets.
    pub tcp_capacity: usize,
    /// Crashes tear unsynced writes at this block size (turmoil applies it
    /// to every crash of the run); `None`: unsynced writes vanish whole.
    pub torn_block_bytes: Option<u64>,
}

impl Default for SubstrateConfig {
    fn default() -> SubstrateConfig {
        SubstrateConfig {
            tick_ms: 1,
            min_latency_ms: 1,
            max_latency_ms: 10,
            tcp_capacity: 4096,
            torn_block_bytes: None,
        }
    }
}

/// Deadlines and bounds the clients and the verdicts use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bounds {
    /// A client gives up on one operation after this long (`info` for a
    /// write, `fail` for a read).
    pub op_timeout_ms: u64,
    /// Node-to-node RPC deadline.
    pub rpc_timeout_ms: u64,
    /// After every fault is healed: the cluster must elect one leader and
    /// serve a fresh write and read within this long.
    pub liveness_ms: u64,
    /// Quiet period after the liveness probe in which final reads are taken
    /// and replicas must converge.
    pub converge_ms: u64,
    /// Wall-clock budget of the linearizability checker.
    pub checker_budget_ms: u64,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            op_timeout_ms: 1_000,
            rpc_timeout_ms: 200,
            liveness_ms: 10_000,
            converge_ms: 10_000,
            checker_budget_ms: 30_000,
        }
    }
}

/// Everything that defines one run. Serialisable; the capsule stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub seed: u64,
    /// The initial voters, `1..=n`.
    pub nodes: Vec<NodeId>,
    pub clients: usize,
    /// Length of the fault phase; the heal phase follows.
    pub duration_ms: u64,
    pub workload: Workload,
    pub generator: GeneratorConfig,
    /// The families the schedule was drawn from.
    pub nemesis: Profile,
    pub nemesis_interval_ms: u64,
    /// The faults of the run, at their times. May be edited by hand.
    pub schedule: Schedule,
    pub raft: RaftTimings,
    pub substrate: SubstrateConfig,
    pub bounds: Bounds,
    pub bugs: Bugs,
    /// The swarm draw, when `--swarm` chose the shape of the run.
    pub swarm: Option<Swarm>,
    /// Admin requests the operator keeps in flight at once (several
    /// operators acting together). Left out of the JSON at its default of
    /// 1, so older capsules read back as they ran.
    #[serde(default = "one_operator", skip_serializing_if = "is_one_operator")]
    pub admin_concurrency: usize,
}

/// Defaults of a run without `--swarm`.
pub const DEFAULT_NODES: usize = 5;
pub const DEFAULT_CLIENTS: usize = 10;
pub const DEFAULT_DURATION_MS: u64 = 60_000;
pub const DEFAULT_NEMESIS_INTERVAL_MS: u64 = 3_000;
/// The most admin requests in flight at once (operators acting together).
pub const MAX_ADMIN_CONCURRENCY: usize = 16;
/// The largest AppendEntries batch a run may ask for.
pub const MAX_APPEND_ENTRIES: usize = 1 << 20;
/// The most AppendEntries a run may keep in flight to one follower.
pub const MAX_INFLIGHT: u64 = 1 << 16;
/// The most log entries a run may keep behind a snapshot (more than any
/// run appends: the log is then never compacted).
pub const MAX_TRAILING_LOGS: u64 = 1 << 32;

fn one_operator() -> usize {
    1
}

fn is_one_operator(n: &usize) -> bool {
    *n == 1
}

impl RunConfig {
    /// Derive the whole run from the seed and the command line. The same
    /// seed and options always give the same configuration.
    pub fn from_seed(seed: u64, options: &RunOptions) -> Result<RunConfig, String> {
        let allowed: Profile = options
            .nemesis
            .parse()
            .map_err(|e: nemesis::ProfileError| e.to_string())?;
        let swarm = options.swarm.then(|| Swarm::from_seed(seed, &allowed));
        let mut raft = RaftTimings::default();
        let (n, profile, interval) = match &swarm {
            Some(s) => {
                raft = raft.scaled(s.timing_scale_permille);
                raft.pre_vote = s.pre_vote;
                raft.snapshot_threshold = s.snapshot_threshold;
                (
                    options.nodes.unwrap_or(s.cluster_size),
                    s.profile.clone(),
                    options.nemesis_interval_ms.unwrap_or(s.nemesis_interval_ms),
                )
            }
            None => (
                options.nodes.unwrap_or(DEFAULT_NODES),
                allowed,
                options
                    .nemesis_interval_ms
                    .unwrap_or(DEFAULT_NEMESIS_INTERVAL_MS),
            ),
        };
        if let Some(t) = options.snapshot_threshold {
            check_range("--snapshot-threshold", t, 1, u64::MAX)?;
            raft.snapshot_threshold = t;
        }
        if let Some(p) = options.pre_vote {
            raft.pre_vote = p;
        }
        if let Some(m) = options.max_append_entries {
            check_range(
                "--max-append-entries",
                m as u64,
                1,
                MAX_APPEND_ENTRIES as u64,
            )?;
            raft.max_append_entries = m;
        }
        if let Some(m) = options.max_inflight {
            check_range("--max-inflight", m as u64, 1, MAX_INFLIGHT)?;
            raft.max_inflight = m;
        }
        if let Some(t) = options.trailing_logs {
            check_range("--trailing-logs", t, 0, MAX_TRAILING_LOGS)?;
            raft.trailing_logs = t;
        }
        check_range("--nodes", n as u64, 1, MAX_NODES as u64)?;
        let clients = options.clients.unwrap_or(DEFAULT_CLIENTS);
        check_range("--clients", clients as u64, 1, MAX_CLIENTS as u64)?;
        let duration_ms = options.duration_ms.unwrap_or(DEFAULT_DURATION_MS);
        check_range("--duration", duration_ms, 1, MAX_DURATION_MS)?;
        if interval == 0 {
            return Err("--nemesis-interval must be at least 1 ms".into());
        }
        let nodes: Vec<NodeId> = (1..=n as NodeId).collect();
        let schedule = nemesis::generate(seed, &profile, &nodes, duration_ms, interval)
            .map_err(|e| e.to_string())?;
        let mut generator = GeneratorConfig::for_workload(options.workload);
        generator.concurrency = clients;
        generator.clients_per_key = generator.clients_per_key.min(clients);
        let substrate = SubstrateConfig {
            torn_block_bytes: torn_block_bytes(&schedule),
            ..SubstrateConfig::default()
        };
        let admin_concurrency = options.admin_concurrency.unwrap_or(1);
        check_range(
            "--admin-concurrency",
            admin_concurrency as u64,
            1,
            MAX_ADMIN_CONCURRENCY as u64,
        )?;
        let config = RunConfig {
            seed,
            nodes,
            clients,
            duration_ms,
            workload: options.workload,
            generator,
            nemesis: profile,
            nemesis_interval_ms: interval,
            schedule,
            raft,
            substrate,
            bounds: Bounds::default(),
            bugs: options.bugs,
            swarm,
            admin_concurrency,
        };
        config.validate()?;
        Ok(config)
    }

    /// A configuration read back from JSON (a capsule, or a hand edit),
    /// validated.
    pub fn from_json(text: &str) -> Result<RunConfig, String> {
        let config: RunConfig =
            serde_json::from_str(text).map_err(|e| format!("not a run configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a run configuration always serialises")
    }

    /// Every node id the run may ever start: the initial voters and the
    /// fresh ids the schedule brings in.
    pub fn all_node_ids(&self) -> Vec<NodeId> {
        let mut ids: BTreeSet<NodeId> = self.nodes.iter().copied().collect();
        for item in &self.schedule.items {
            if let nemesis::Action::Inject { fault, .. } = &item.action {
                match fault {
                    nemesis::Fault::RemoveNode { rejoin_as, .. } => {
                        ids.insert(*rejoin_as);
                    }
                    nemesis::Fault::AddNonVoter { node, .. } => {
                        ids.insert(*node);
                    }
                    _ => {}
                }
            }
        }
        ids.into_iter().collect()
    }

    /// Check that the run can be simulated, naming the first problem.
    pub fn validate(&self) -> Result<(), String> {
        check_range("nodes", self.nodes.len() as u64, 1, MAX_NODES as u64)?;
        let expected: Vec<NodeId> = (1..=self.nodes.len() as NodeId).collect();
        if self.nodes != expected {
            return Err(format!(
                "nodes must be 1..={}, got {:?}",
                self.nodes.len(),
                self.nodes
            ));
        }
        check_range("clients", self.clients as u64, 1, MAX_CLIENTS as u64)?;
        check_range("duration_ms", self.duration_ms, 1, MAX_DURATION_MS)?;
        if self.generator.concurrency != self.clients {
            return Err(format!(
                "generator.concurrency ({}) must equal clients ({})",
                self.generator.concurrency, self.clients
            ));
        }
        Generator::new(self.workload, self.generator.clone()).map_err(|e| e.to_string())?;
        self.schedule
            .validate()
            .map_err(|e| format!("schedule: {e}"))?;
        if self.schedule.nodes != self.nodes {
            return Err(format!(
                "the schedule is for nodes {:?} but the run starts {:?}",
                self.schedule.nodes, self.nodes
            ));
        }
        if self.schedule.end_ms > self.duration_ms {
            return Err(format!(
                "the schedule runs to {} ms, past the fault phase of {} ms",
                self.schedule.end_ms, self.duration_ms
            ));
        }
        let ids = self.all_node_ids();
        if ids.iter().any(|&id| id == 0 || id > 250) {
            return Err(format!(
                "node ids must be 1..=250 (one simulated host each), got {ids:?}"
            ));
        }
        let r = &self.raft;
        check_range("raft.heartbeat_ms", r.heartbeat_ms, 1, 60_000)?;
        if r.election_timeout_ms <= r.heartbeat_ms {
            return Err(format!(
                "raft.election_timeout_ms ({}) must exceed raft.heartbeat_ms ({})",
                r.election_timeout_ms, r.heartbeat_ms
            ));
        }
        check_range("raft.commit_timeout_ms", r.commit_timeout_ms, 1, 60_000)?;
        check_range("raft.snapshot_threshold", r.snapshot_threshold, 1, u64::MAX)?;
        check_range(
            "raft.max_append_entries",
            r.max_append_entries as u64,
            1,
            MAX_APPEND_ENTRIES as u64,
        )?;
        check_range("raft.max_inflight", r.max_inflight as u64, 1, MAX_INFLIGHT)?;
        check_range(
            "admin_concurrency",
            self.admin_concurrency as u64,
            1,
            MAX_ADMIN_CONCURRENCY as u64,
        )?;
        let s = &self.substrate;
        check_range("substrate.tick_ms", s.tick_ms, 1, 1_000)?;
        if s.min_latency_ms > s.max_latency_ms {
            return Err(format!(
                "substrate.min_latency_ms ({}) exceeds max_latency_ms ({})",
                s.min_latency_ms, s.max_latency_ms
            ));
        }
        check_range("substrate.max_latency_ms", s.max_latency_ms, 0, 10_000)?;
        check_range("substrate.tcp_capacity", s.tcp_capacity as u64, 1, 1 << 20)?;
        if let Some(b) = s.torn_block_bytes {
            check_range("substrate.torn_block_bytes", b, 1, 1 << 20)?;
        }
        let b = &self.bounds;
        check_range("bounds.op_timeout_ms", b.op_timeout_ms, 1, 600_000)?;
        check_range("bounds.rpc_timeout_ms", b.rpc_timeout_ms, 1, 600_000)?;
        check_range("bounds.liveness_ms", b.liveness_ms, 1, 3_600_000)?;
        check_range("bounds.converge_ms", b.converge_ms, 0, 3_600_000)?;
        Ok(())
    }

    /// Simulated time at which every fault has been healed.
    pub fn heal_at_ms(&self) -> u64 {
        self.duration_ms
    }

    /// How long the heal phase may take to bring the membership to the
    /// schedule's intent: the whole quiet period after the heal (the
    /// cluster's recovery and its convergence), since a learner that
    /// missed much may need both a recovery and a snapshot to catch up.
    pub fn reconcile_ms(&self) -> u64 {
        self.bounds.liveness_ms + self.bounds.converge_ms
    }

    /// Simulated time limit of the whole run: fault phase, liveness probe,
    /// reconciliation of the membership, convergence, and slack for final
    /// reads to finish.
    pub fn horizon_ms(&self) -> u64 {
        self.duration_ms
            + self.bounds.liveness_ms
            + self.reconcile_ms()
            + self.bounds.converge_ms
            + self.bounds.liveness_ms
    }
}

/// The block size of the first crash that tears writes; turmoil applies one
/// block size to the whole run.
fn torn_block_bytes(schedule: &Schedule) -> Option<u64> {
    schedule.items.iter().find_map(|i| match &i.action {
        nemesis::Action::Inject {
            fault:
                nemesis::Fault::Crash {
                    torn_block_bytes: Some(b),
                    ..
                },
            ..
        } => Some(u64::from(*b)),
        _ => None,
    })
}

fn check_range(what: &str, value: u64, min: u64, max: u64) -> Result<(), String> {
    if value < min || value > max {
        return Err(format!("{what} must be in {min}..={max}, got {value}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_five_node_minute_of_everything() {
        let c = RunConfig::from_seed(7, &RunOptions::default()).unwrap();
        assert_eq!(c.nodes, vec![1, 2, 3, 4, 5]);
        assert_eq!(c.clients, 10);
        assert_eq!(c.duration_ms, 60_000);
        assert_eq!(c.nemesis, Profile::all());
        assert!(!c.schedule.items.is_empty());
        assert!(nemesis::limits::check(&c.schedule).is_empty());
        assert_eq!(c, RunConfig::from_seed(7, &RunOptions::default()).unwrap());
        assert_ne!(
            c.schedule,
            RunConfig::from_seed(8, &RunOptions::default())
                .unwrap()
                .schedule
        );
    }

    #[test]
    fn json_round_trip() {
        let c = RunConfig::from_seed(3, &RunOptions::default()).unwrap();
        assert_eq!(RunConfig::from_json(&c.to_json()).unwrap(), c);
        let e = RunConfig::from_json("{\"seed\": 1}").unwrap_err();
        assert!(e.contains("not a run configuration"), "{e}");
    }

    #[test]
    fn admin_concurrency_is_kept_in_the_capsule_and_defaults_to_one() {
        let one = RunConfig::from_seed(3, &RunOptions::default()).unwrap();
        assert_eq!(one.admin_concurrency, 1);
        // Left out at its default, so capsules written before the knob
        // existed read back the same.
        assert!(!one.to_json().contains("admin_concurrency"));
        let three = RunConfig::from_seed(
            3,
            &RunOptions {
                admin_concurrency: Some(3),
                ..RunOptions::default()
            },
        )
        .unwrap();
        assert_eq!(RunConfig::from_json(&three.to_json()).unwrap(), three);
        assert_eq!(three.admin_concurrency, 3);
        let e = RunConfig::from_seed(
            3,
            &RunOptions {
                admin_concurrency: Some(0),
                ..RunOptions::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("--admin-concurrency"), "{e}");
    }

    #[test]
    fn swarm_draws_the_shape_from_the_seed() {
        let opts = RunOptions {
            swarm: true,
            ..RunOptions::default()
        };
        let sizes: BTreeSet<usize> = (0..40)
            .map(|s| RunConfig::from_seed(s, &opts).unwrap().nodes.len())
            .collect();
        assert_eq!(sizes, BTreeSet::from([3, 5, 7]));
        let c = RunConfig::from_seed(11, &opts).unwrap();
        let s = c.swarm.clone().unwrap();
        assert_eq!(c.raft.pre_vote, s.pre_vote);
        assert_eq!(c.raft.snapshot_threshold, s.snapshot_threshold);
        assert!(c.nemesis.kinds.is_subset(&Profile::all().kinds));
        // An explicit flag beats the swarm's choice.
        let pinned = RunOptions {
            nodes: Some(3),
            ..opts
        };
        assert_eq!(RunConfig::from_seed(11, &pinned).unwrap().nodes.len(), 3);
    }

    #[test]
    fn none_gives_an_empty_schedule() {
        let opts = RunOptions {
            nemesis: "none".into(),
            ..RunOptions::default()
        };
        let c = RunConfig::from_seed(1, &opts).unwrap();
        assert!(c.schedule.items.is_empty());
    }

    #[test]
    fn bad_options_are_clear_errors() {
        let bad = |o: RunOptions| RunConfig::from_seed(1, &o).unwrap_err();
        let e = bad(RunOptions {
            nodes: Some(0),
            ..RunOptions::default()
        });
        assert!(e.contains("--nodes"), "{e}");
        let e = bad(RunOptions {
            clients: Some(1000),
            ..RunOptions::default()
        });
        assert!(e.contains("--clients"), "{e}");
        let e = bad(RunOptions {
            nemesis: "partition,gremlins".into(),
            ..RunOptions::default()
        });
        assert!(e.contains("gremlins"), "{e}");
        let e = bad(RunOptions {
            nemesis_interval_ms: Some(0),
            ..RunOptions::default()
        });
        assert!(e.contains("interval"), "{e}");
    }

    #[test]
    fn hand_edits_are_validated() {
        let mut c = RunConfig::from_seed(1, &RunOptions::default()).unwrap();
        c.raft.election_timeout_ms = 10;
        assert!(c.validate().unwrap_err().contains("election_timeout"));
        let mut c = RunConfig::from_seed(1, &RunOptions::default()).unwrap();
        c.generator.concurrency = 3;
        assert!(c.validate().unwrap_err().contains("concurrency"));
        let mut c = RunConfig::from_seed(1, &RunOptions::default()).unwrap();
        c.schedule.end_ms = c.duration_ms + 1;
        assert!(c.validate().is_err());
    }

    #[test]
    fn trailing_logs_is_a_raft_setting_from_the_command_line() {
        let default = RunConfig::from_seed(1, &RunOptions::default()).unwrap();
        assert_eq!(default.raft.trailing_logs, 256);
        let none_kept = RunConfig::from_seed(
            1,
            &RunOptions {
                trailing_logs: Some(0),
                ..RunOptions::default()
            },
        )
        .unwrap();
        assert_eq!(none_kept.raft.trailing_logs, 0);
        assert_eq!(
            RunConfig::from_json(&none_kept.to_json()).unwrap(),
            none_kept
        );
        let e = RunConfig::from_seed(
            1,
            &RunOptions {
                trailing_logs: Some(u64::MAX),
                ..RunOptions::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("--trailing-logs"), "{e}");
    }

    #[test]
    fn max_inflight_is_a_raft_setting_from_the_command_line() {
        let default = RunConfig::from_seed(1, &RunOptions::default()).unwrap();
        assert_eq!(default.raft.max_inflight, 8);
        let one = RunConfig::from_seed(
            1,
            &RunOptions {
                max_inflight: Some(1),
                ..RunOptions::default()
            },
        )
        .unwrap();
        assert_eq!(one.raft.max_inflight, 1);
        assert_eq!(RunConfig::from_json(&one.to_json()).unwrap(), one);
        for bad in [0, MAX_INFLIGHT as usize + 1] {
            let e = RunConfig::from_seed(
                1,
                &RunOptions {
                    max_inflight: Some(bad),
                    ..RunOptions::default()
                },
            )
            .unwrap_err();
            assert!(e.contains("--max-inflight"), "{e}");
        }
    }

    #[test]
    fn few_clients_share_a_key() {
        let opts = RunOptions {
            clients: Some(2),
            ..RunOptions::default()
        };
        let c = RunConfig::from_seed(1, &opts).unwrap();
        assert_eq!(c.generator.clients_per_key, 2);
    }
}
