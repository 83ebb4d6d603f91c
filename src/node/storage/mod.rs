//! The node's durable storage: stable state (term and vote), the Raft log
//! and snapshots, on real files ([`StdFs`]) or turmoil's simulated disk
//! ([`SimFs`]) through one code path.
//!
//! Every file is made of frames `[len u32][crc32 u32][postcard payload]`
//! (`frame`). Small files are replaced atomically: temp file, fsync,
//! rename, directory fsync (`atomic`). The log is a directory of
//! append-only segments (`segment`, `log`). See [`DurableStore`] for the
//! layout and the durability contract, and `segment` for how recovery tells
//! a torn tail (truncated, with a warning) from corruption inside synced
//! data (a fail-stop [`StorageError::Corrupt`] naming file and offset).
//!
//! The store's calls block on the disk. Under turmoil they must run on the
//! host's own task (the simulated disk belongs to the current host).

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
pub use fs::{FileSystem, IoWait, SimFile, SimFs, StdFile, StdFs, WritableFile};
pub use identity::StoreIdentity;
pub use segment::TornTail;
pub use store::{DurableStore, Recovered, StoreOptions};
