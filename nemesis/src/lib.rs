//! faultline-nemesis: Jepsen's fault vocabulary as plain data, and seeded
//! schedules of it. Knows nothing of turmoil: the simulation reads a
//! [`Schedule`] and applies each [`Fault`] and heal at its time.
//!
//! - [`fault`]: every fault, its targets and its heal.
//! - [`partition`]: partition shapes computed from a node list.
//! - [`schedule`]: faults over time, as editable JSON.
//! - [`members`]: the cluster's members as membership faults change them.
//! - [`restrict`]: a schedule renumbered onto a smaller cluster.
//! - [`profile`]: `--nemesis partition,crash,...`.
//! - [`generate()`]: a seeded schedule within the [`limits`].
//! - [`live_majority`]: at apply time, whether a node may be lost for good.
//! - [`swarm`]: cluster shape and fault mix chosen by the seed.
//! - [`mod@effectiveness`]: which faults overlapped client operations.

pub mod effectiveness;
pub mod fault;
pub mod generate;
pub mod limits;
pub mod live_majority;
pub mod members;
pub mod partition;
pub mod profile;
pub mod restrict;
pub mod schedule;
pub mod swarm;

pub use effectiveness::{effectiveness, Effectiveness, FaultEffect, FaultSpan, LeaderSpan, OpSpan};
pub use fault::{CrashScope, DiskFault, Failpoint, Fault, FaultKind, NodeId, StoredFile, Target};
pub use generate::{generate, GenerateError};
pub use live_majority::{LiveMajority, ShortOfMajority, VoterChange};
pub use members::Members;
pub use partition::{Direction, Link, Partition, PartitionError};
pub use profile::{Profile, ProfileError};
pub use restrict::Restricted;
pub use schedule::{Action, FaultId, Item, Schedule, ScheduleError};
pub use swarm::Swarm;
