//! One simulated run: a turmoil world of Raft nodes and clients, the
//! nemesis applying its schedule, and the checks made along the way.
//!
//! - [`config`]: what a run is, derived from the seed.
//! - [`disk`]: a node's disk failing on the nemesis's cue.
//! - [`network`]: link faults as counts, mapped onto turmoil.
//! - [`nemesis`]: the schedule applied to the cluster.
//! - [`trace`]: one line per node state change.

pub mod config;
pub mod disk;
pub mod nemesis;
pub mod network;
pub mod trace;

pub use config::{Bounds, RaftTimings, RunConfig, RunOptions, SubstrateConfig};
pub use disk::{DiskControl, DiskMode, DiskStats, FaultyFs, FlipOutcome};
pub use nemesis::{AdminOp, Cluster, Nemesis, NemesisRecord, Phase};
pub use network::{NetOps, Network};
pub use trace::{NodeState, TraceLine, Tracer};
