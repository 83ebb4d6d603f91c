//! Sequential specifications (stateright's `SequentialSpec`) for the
//! workloads whose state is not a single register or list: the bank and the
//! counter. The linearizability search in `faultline-histories` replays
//! candidate orders against them.

pub mod bank;
pub mod counter;
