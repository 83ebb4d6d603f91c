//! One simulated run: a turmoil world of Raft nodes and clients, the
//! nemesis applying its schedule, and the checks made along the way.
//!
//! - [`config`]: what a run is, derived from the seed.
//! - [`disk`]: a node's disk failing on the nemesis's cue.
//! - [`floor`]: the bare turmoil cost of a run's traffic, for `bench`.
//! - [`network`]: link faults as counts, mapped onto turmoil.
//! - [`nemesis`]: the schedule applied to the cluster.
//! - [`trace`]: one line per node state change.
//! - [`world`]: the turmoil simulation and the handles on each node.
//! - [`admin`]: membership changes and transfers carried to the leader.
//! - [`reconcile`]: the heal phase brings the membership to the schedule's intent.
//! - [`client`]: the client processes, the liveness probe, final reads.
//! - [`history`]: the history as it is recorded, and its hash.
//! - [`monitor`]: Raft invariants after every step, durability on restart.
//! - [`committed`]: entries seen committed, held against later leaders and commits.
//! - [`availability`]: a sound quorum elects a leader, during the faults.
//! - [`run`]: one run, from configuration to outcome.

pub mod admin;
pub mod availability;
pub mod client;
pub mod committed;
pub mod config;
pub mod disk;
pub mod floor;
pub mod history;
pub mod monitor;
pub mod nemesis;
pub mod network;
pub mod reconcile;
pub mod run;
pub mod trace;
pub mod world;

pub use config::{Bounds, RaftTimings, RunConfig, RunOptions, SubstrateConfig};
pub use disk::{DiskControl, DiskMode, DiskStats, FaultyFs, FlipOutcome};
pub use nemesis::{AdminOp, Cluster, Nemesis, NemesisRecord, Phase};
pub use network::{NetOps, Network};
pub use run::{run, RunOutcome, RunStats};
pub use trace::{NodeState, TraceLine, Tracer};
