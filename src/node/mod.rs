//! The I/O shell around the Raft core.

pub mod clock;
pub mod frame;
pub mod net;
pub mod service;
pub mod storage;
pub mod transport;
