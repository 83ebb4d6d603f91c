//! The few file-system verbs durable storage needs, behind one trait with
//! two implementations: the real disk ([`StdFs`]) and turmoil's simulated
//! disk ([`SimFs`]), so the simulation exercises the code that ships.
//!
//! Every method returns plain `io::Error`; the store adds which file and
//! which operation when it turns them into [`StorageError`](super::StorageError)s.

use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;

/// Completes when a stalled disk takes I/O again.
pub type IoWait = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A file opened for writing. Writes are positional so the store, not a
/// cursor hidden in the handle, decides where bytes land.
pub trait WritableFile {
    /// Write all of `buf` starting at byte `offset`.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Cut (or extend with zeros) the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// fsync: make the file's data and size durable.
    fn sync_all(&mut self) -> io::Result<()>;
}

/// The file-system operations durable storage is built from.
///
/// A new name (created, renamed or removed) is durable only after
/// [`sync_dir`](FileSystem::sync_dir) on its parent, as in POSIX.
pub trait FileSystem {
    type File: WritableFile;

    /// Whether anything exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Create one directory whose parent exists.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries of a directory, sorted so callers never
    /// depend on the order the file system happens to return.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// A whole file's contents.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Create a file, truncating it if it exists, for writing.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Open an existing file for writing without truncating it.
    fn open_write(&self, path: &Path) -> io::Result<Self::File>;
    /// Atomically rename `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// fsync a directory: make creations, renames and removals in it durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;

    /// `None` when I/O may go ahead now (always, for the real disk, whose
    /// stalls block inside the calls); `Some(wait)` while a simulated disk
    /// stalls, `wait` completing when it answers again. Simulated calls are
    /// synchronous and no simulated time passes inside one, so a stall
    /// cannot block in the call; the node asks here first and waits
    /// without touching the disk, its timers and network going on.
    fn io_wait(&self) -> Option<IoWait> {
        None
    }
}

fn names_sorted(paths: impl Iterator<Item = PathBuf>) -> Vec<String> {
    let mut names: Vec<String> = paths
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// Real files through `std::fs`, with real fsyncs.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

/// A real file handle.
#[derive(Debug)]
pub struct StdFile(std::fs::File);

impl WritableFile for StdFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl FileSystem for StdFs {
    type File = StdFile;

    fn exists(&self, path: &Path) -> io::Result<bool> {
        std::fs::exists(path)
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(path)? {
            paths.push(entry?.path());
        }
        Ok(names_sorted(paths.into_iter()))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn create(&self, path: &Path) -> io::Result<StdFile> {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map(StdFile)
    }
    fn open_write(&self, path: &Path) -> io::Result<StdFile> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(StdFile)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // On Linux a directory opened read-only can be fsynced, which is
        // what makes new names in it durable.
        std::fs::File::open(path)?.sync_all()
    }
}

/// turmoil's simulated disk (`unstable-fs`): each host has its own, pending
/// writes are lost on `Sim::crash`, and faults (EIO, ENOSPC, torn writes,
/// silent corruption) come from the simulation's `FsConfig`.
///
/// Only usable from inside a turmoil host; paths must be absolute.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimFs;

/// A simulated file handle.
#[derive(Debug)]
pub struct SimFile(turmoil::fs::shim::std::fs::File);

impl WritableFile for SimFile {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl FileSystem for SimFs {
    type File = SimFile;

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(turmoil::fs::shim::std::fs::exists(path))
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        turmoil::fs::shim::std::fs::create_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        // The shim collects entries through a HashSet: sorting is what makes
        // the order deterministic.
        let mut paths = Vec::new();
        for entry in turmoil::fs::shim::std::fs::read_dir(path)? {
            paths.push(entry?.path());
        }
        Ok(names_sorted(paths.into_iter()))
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        turmoil::fs::shim::std::fs::read(path)
    }
    fn create(&self, path: &Path) -> io::Result<SimFile> {
        turmoil::fs::shim::std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map(SimFile)
    }
    fn open_write(&self, path: &Path) -> io::Result<SimFile> {
        turmoil::fs::shim::std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(SimFile)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        turmoil::fs::shim::std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        turmoil::fs::shim::std::fs::remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        turmoil::fs::shim::std::fs::sync_dir(path)
    }
}
