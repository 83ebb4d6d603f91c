//! The Raft core: a deterministic, sans-IO state machine.
//!
//! See `../shared/ARCHITECTURE.md`. Inputs are ticks, received messages,
//! proposals, read requests, and persistence / apply acknowledgements;
//! outputs are collected in a [`Ready`] for the node shell to act on.
//! Modelled on hashicorp/raft's behaviour (pre-vote, leader stickiness,
//! check-quorum, pipelining, batching, group commit) with etcd-io/raft's
//! sans-IO split.
//!
//! The node shell drives it in a loop:
//!
//! 1. feed inputs: [`Raft::tick`], [`Raft::step`], [`Raft::propose`],
//!    [`Raft::propose_conf_change`], [`Raft::read_index`],
//!    [`Raft::transfer_leadership`];
//! 2. when [`Raft::has_ready`], take [`Raft::ready`] and, in this order:
//!    persist `hard_state`, truncate, append `entries`, save `snapshot`
//!    (one fsync), then call [`Raft::persisted`] /
//!    [`Raft::snapshot_installed`]; send `messages`; apply `committed` and
//!    call [`Raft::applied`]; serve `reads`; fail `failed_reads`; if
//!    `want_snapshot`, snapshot the state machine and call
//!    [`Raft::snapshot_taken`]; compact storage to `compact_to`.
//!
//! Nothing is sent before the state it depends on is durable, which is why
//! a vote or an append acknowledgement can sit in the same `Ready` as the
//! hard state or entries it reports.
//!
//! The state is `Clone + Hash + Eq`: no clocks, no I/O, no hidden
//! randomness (a seeded splitmix64 lives in the state), no hash maps.

#![warn(missing_docs)]

pub mod config;
mod election;
pub mod invariants;
pub mod log;
pub mod membership;
pub mod message;
pub mod progress;
pub mod quorum;
mod read;
mod replication;
pub mod rng;
mod snapshot;
mod state;
pub mod testing;
mod transfer;
pub mod types;

pub use crate::bugs::{Bug, Bugs};
pub use config::Config;
pub use message::{Message, ProposeError, ReadError, ReadState, Ready};
pub use state::{Raft, Recovered};
pub use types::*;

/// Milliseconds on the node's own (skewable) clock.
pub type Millis = u64;
#[cfg(test)]
mod scenario;
#[cfg(test)]
mod tests;
