//! faultline: a deterministic fault-injection test harness for Raft.

pub mod bugs;
pub mod kv;
pub mod node;
pub mod raft;
