//! What can go wrong with durable storage, said so an operator can act on it.

use std::io;
use std::path::PathBuf;

use super::identity::StoreIdentity;

/// A storage failure. Every variant's `Display` names what failed and where.
///
/// `Io` and `Poisoned` mean the disk misbehaved; `Corrupt` means data that
/// was once durable no longer reads back; `IdentityMismatch` means the data
/// directory belongs to someone else. The node must fail-stop on all of
/// these rather than serve or vote on possibly wrong state. `Invalid` is a
/// caller bug caught before any I/O was done.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file system returned an error (EIO, ENOSPC, a failed fsync, ...).
    #[error("storage I/O error: {op} {}: {source}", path.display())]
    Io {
        /// The operation that failed, e.g. "fsync" or "rename".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Durable data failed its checksum or does not make sense.
    #[error("corrupt storage: {} at byte offset {offset}: {detail}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    /// The data directory was claimed by another cluster or node.
    #[error(
        "data directory {} belongs to {found}, refusing to start as {expected}",
        dir.display()
    )]
    IdentityMismatch {
        dir: PathBuf,
        expected: StoreIdentity,
        found: StoreIdentity,
    },
    /// An earlier write or fsync failed, so nothing written since can be
    /// trusted to be durable (PostgreSQL's "fsyncgate" lesson: a failed
    /// fsync may have dropped dirty pages, and retrying it can succeed
    /// without writing them).
    #[error("storage is unusable after an earlier failure: {cause}")]
    Poisoned { cause: String },
    /// The caller asked for something that would break the log's shape,
    /// e.g. a gap in indices. Nothing was written.
    #[error("invalid storage request: {detail}")]
    Invalid { detail: String },
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        detail: impl Into<String>,
    ) -> Self {
        StorageError::Corrupt {
            path: path.into(),
            offset,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        StorageError::Invalid {
            detail: detail.into(),
        }
    }
}

/// Shorthand for results of storage operations.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
