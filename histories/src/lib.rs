//! faultline-histories: the recorded history of a run, its file formats,
//! and the linearizability checker that judges it.
//!
//! - [`event`], [`store`]: history events and the native JSON Lines file.
//! - [`import`], [`export`], [`edn`]: peers' formats (Jepsen etcd logs,
//!   porcupine kv logs, Knossos/Jepsen EDN).
//! - [`ops`]: invocations paired with completions.
//! - [`model`]: sequential specifications (stateright `SequentialSpec`).
//! - [`check`]: the Wing–Gong–Lowe search with P-compositionality and a
//!   budget; [`explain`]: why a history is not linearizable.
//! - [`command`]: check a file by model name, with exit codes.

pub mod check;
pub mod command;
pub mod edn;
pub mod event;
pub mod explain;
pub mod export;
pub(crate) mod hash;
pub mod import;
pub mod model;
pub mod ops;
pub mod simulate;
pub mod store;
pub mod timeline;

pub use check::{check, CheckOptions, CheckReport, PartitionResult, Verdict};
pub use command::{check_command, check_command_with, check_events, CommandOptions, ModelSpec};
pub use event::{Event, EventType, Process};
