//! The Raft core: a deterministic, sans-IO state machine.
//!
//! See `../shared/ARCHITECTURE.md`. Inputs are ticks, received messages,
//! proposals, read requests, and persistence / apply acknowledgements;
//! outputs are collected in a [`Ready`] for the node shell to act on.

pub mod types;

pub use types::*;
