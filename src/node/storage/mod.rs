//! The node's durable storage: stable state (term and vote), the Raft log
//! and snapshots, on real files or turmoil's simulated disk.
//!
//! Every file is made of frames `[len u32][crc32 u32][postcard payload]`
//! (`frame`). Small files are replaced atomically (`atomic`); the log is a
//! directory of append-only segments (`segment`, `log`); see
//! [`DurableStore`] for the layout and the durability contract, and
//! `segment` for how recovery tells a torn tail from corruption.

mod atomic;
mod error;
mod frame;
mod fs;
mod identity;
mod log;
mod segment;
mod snapshot;
mod store;

pub use error::{Result, StorageError};
pub use fs::{FileSystem, SimFile, SimFs, StdFile, StdFs, WritableFile};
pub use identity::StoreIdentity;
pub use segment::TornTail;
pub use store::{DurableStore, Recovered, StoreOptions};
