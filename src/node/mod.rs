//! The I/O shell around the Raft core.

pub mod storage;
