//! The same nodes outside the simulation: a real process per node on tokio
//! TCP and real files ([`node`]), its HTTP API ([`api`]), a local cluster
//! of child processes ([`cluster`]), and a Jepsen-style run that injects
//! faults into those processes and judges the history with the same
//! checkers as a simulated run ([`run`]).
//!
//! Nothing here knows Raft or the KV machine beyond their public handles:
//! a real node is the simulation's node (`node::run_node` with the KV
//! state machine and its client port) on `TokioNet` and `StdFs`.

pub mod addr;
pub mod api;
pub mod client;
pub mod cluster;
pub mod driver;
pub mod front;
pub mod nemesis;
pub mod node;
pub mod ops;
pub mod ports;
pub mod process;
pub mod recorder;
pub mod run;
