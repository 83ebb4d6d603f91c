//! The harness: judging runs, storing their reports, running many seeds,
//! and shrinking failures.
//!
//! - [`verdict`]: checker results and the overall verdict.
//! - [`judge`] / [`workload_check`]: the history checkers.
//! - [`history_file`]: reading stored histories back, with line numbers.
//! - [`store`] / [`report`]: run directories and the failure capsule.
//! - [`seeds`] / [`soak`] / [`ledger`]: which seeds, in parallel, recorded.
//! - [`ddmin`]: delta debugging for `shrink`.
//! - [`bench`]: speed and memory figures for `faultline bench`.
//! - [`timeline`]: a run's `timeline.html`.

pub mod bench;
pub mod ddmin;
pub mod history_file;
pub mod judge;
pub mod ledger;
pub mod models;
pub mod report;
pub mod run;
pub mod seeds;
pub mod shrink;
pub mod soak;
pub mod store;
pub mod timeline;
pub mod verdict;
pub mod workload_check;
