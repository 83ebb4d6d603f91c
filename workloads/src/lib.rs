//! faultline-workloads: what clients do, and the models and checkers that
//! judge what they saw.
//!
//! - [`op`]: the operations and observations every workload shares.
//! - [`workload`]: `--workload register|kv|list-append|set|bank|counter`.
//! - [`generator`]: seeded per-workload operation generators.
//! - [`check`]: workload checkers (list-append, set, bank, counter).
//! - [`model`]: sequential specifications for the bank and the counter.
//! - [`elle`]: export list-append histories for Elle.
//! - [`history`]: the error for unreadable histories, and value readers
//!   (pairing is `faultline_histories::ops::pair`).

pub mod check;
pub mod decode;
pub mod elle;
pub mod generator;
pub mod history;
pub mod model;
pub mod op;
pub mod workload;

pub use check::{Anomaly, AnomalyKind, Findings, Verdict};
pub use generator::{ConfigError, Generator, GeneratorConfig, MAX_CLIENTS_PER_KEY};
pub use op::{Observation, Op, TxnOp};
pub use workload::{UnknownWorkload, Workload};
