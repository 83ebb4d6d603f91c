//! faultline: a deterministic fault-injection test harness for Raft.

pub mod raft;
