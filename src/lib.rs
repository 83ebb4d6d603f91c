//! faultline: a deterministic fault-injection test harness for Raft.

pub mod bugs;
pub mod cli;
pub mod harness;
pub mod kv;
pub mod node;
pub mod raft;
pub mod real;
pub mod sim;
