//! faultline-workloads: operation generators and the models that judge them.

pub mod op;

pub use op::{Observation, Op, TxnOp};
