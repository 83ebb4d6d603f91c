//! faultline-histories: the recorded history of a run, its file formats,
//! and the linearizability checker that judges it.

pub mod event;
pub mod store;

pub use event::{Event, EventType, Process};
