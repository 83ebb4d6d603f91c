//! A disk that fails on the nemesis's cue: a [`FileSystem`] wrapper around
//! the node's real storage path (turmoil's simulated disk in a run) and a
//! shared [`DiskControl`] the nemesis flips from outside the node.
//!
//! How each fault is modelled, and why:
//!
//! - **fsync fails**: `sync_all` and `sync_dir` return EIO and sync nothing.
//!   Whatever was written since the last good sync stays un-durable, so a
//!   crash loses it. Linux may even drop those dirty pages after a failed
//!   fsync, which is why the store must poison itself on the first failure
//!   and never retry the sync (it does: any I/O error poisons it).
//! - **writes fail**: every mutation (write, truncate, create, rename,
//!   remove, mkdir) returns EIO; reads and syncs of earlier writes work.
//! - **disk full**: calls that need space (writes, extending, creating
//!   files or directories) return ENOSPC; removing files and renames work,
//!   so a node can free space. Space returns at the heal.
//! - **stall**: I/O blocks until the stall ends; nothing else does. A
//!   node whose storage runs beside its timers and network (as the replica
//!   loop's does) goes on heartbeating, voting in pre-votes and serving
//!   what needs no disk, while every write, fsync and read waits. Simulated
//!   file calls are synchronous and no simulated time passes inside one, so
//!   the wait cannot happen in the call: the node asks
//!   [`FileSystem::io_wait`] before doing I/O and, while the disk stalls,
//!   gets a future that completes when it answers again. Calls made anyway
//!   during a stall complete (the node's discipline is to ask first).
//! - **bit flips**: applied from outside the node, in place, through
//!   turmoil's handle on the host's disk, and synced so the damage is
//!   durable (which also makes that one file's pending writes durable, as a
//!   real disk's writeback may at any moment).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use faultline_nemesis::StoredFile;
use rand::Rng;
use serde::{Deserialize, Serialize};

use tokio::sync::watch;

use crate::node::storage::{FileSystem, IoWait, WritableFile};

/// A disk fault that lasts until healed (bit flips are instantaneous and
/// go through [`DiskControl::flip_bits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskMode {
    FsyncFail,
    WriteEio,
    Stall,
    Full,
}

/// What the faults did to the node's calls, for the report and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskStats {
    pub fsync_failures: u64,
    pub write_failures: u64,
    pub enospc: u64,
    /// Stalls the node's I/O had to wait out (at most one per stall).
    pub stalls: u64,
    pub bits_flipped: u64,
}

struct State {
    mode: Option<DiskMode>,
    /// The node's I/O has waited on the current stall.
    waited: bool,
    /// turmoil's handle on the host's disk, for bit flips from outside.
    handle: Option<turmoil::fs::FsHandle>,
    stats: DiskStats,
}

/// The nemesis's side of one node's disk. Cheap to clone; lives as long as
/// the simulated machine (across the node's restarts).
#[derive(Clone)]
pub struct DiskControl {
    state: Arc<Mutex<State>>,
    /// Whether the disk stalls, for the node's I/O to wait on.
    stalled: Arc<watch::Sender<bool>>,
    dir: PathBuf,
}

/// Where a bit flip landed, or why it could not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlipOutcome {
    Flipped {
        path: String,
        offsets: Vec<u64>,
    },
    /// The node has no such file yet (no snapshot taken, empty log, ...).
    NoFile,
    /// The node never started, so there is no disk to reach.
    NoDisk,
}

impl DiskControl {
    /// The control of a node whose store lives in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> DiskControl {
        DiskControl {
            state: Arc::new(Mutex::new(State {
                mode: None,
                waited: false,
                handle: None,
                stats: DiskStats::default(),
            })),
            stalled: Arc::new(watch::Sender::new(false)),
            dir: dir.into(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No threads run in a simulation; a poisoned lock means a panic
        // already unwound through here, and the state is still plain data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file system the node should use: `inner` with this control's faults.
    pub fn wrap<F: FileSystem>(&self, inner: F) -> FaultyFs<F> {
        FaultyFs {
            inner,
            control: self.clone(),
        }
    }

    /// Remember the current host's simulated disk so bit flips can reach it
    /// from outside the host. Call from inside the node's host task.
    pub fn attach_current_host(&self) {
        self.lock().handle = Some(turmoil::fs::FsHandle::current());
    }

    pub fn mode(&self) -> Option<DiskMode> {
        self.lock().mode
    }

    pub fn stats(&self) -> DiskStats {
        self.lock().stats
    }

    /// Start a lasting fault (replacing any other).
    pub fn inject(&self, mode: DiskMode) {
        let mut s = self.lock();
        s.mode = Some(mode);
        s.waited = false;
        self.stalled.send_replace(mode == DiskMode::Stall);
    }

    /// The disk works again; I/O waiting on a stall goes on.
    pub fn heal(&self) {
        let mut s = self.lock();
        s.mode = None;
        s.waited = false;
        self.stalled.send_replace(false);
    }

    /// Whether the node's I/O is waiting on the current stall.
    pub fn is_holding_io(&self) -> bool {
        let s = self.lock();
        s.mode == Some(DiskMode::Stall) && s.waited
    }

    /// See [`FileSystem::io_wait`].
    fn io_wait(&self) -> Option<IoWait> {
        let mut s = self.lock();
        if s.mode != Some(DiskMode::Stall) {
            return None;
        }
        if !std::mem::replace(&mut s.waited, true) {
            s.stats.stalls += 1;
        }
        let mut stalled = self.stalled.subscribe();
        Some(Box::pin(async move {
            // An error means the control is gone, and the stall with it.
            let _ = stalled.wait_for(|on| !*on).await;
        }))
    }

    /// Decide the fate of one call of class `op`.
    fn check(&self, op: Op) -> io::Result<()> {
        let mut s = self.lock();
        let Some(mode) = s.mode else {
            return Ok(());
        };
        match (mode, op) {
            (DiskMode::FsyncFail, Op::Sync) => {
                s.stats.fsync_failures += 1;
                Err(io::Error::from_raw_os_error(libc::EIO))
            }
            (DiskMode::WriteEio, Op::Grow | Op::Mutate) => {
                s.stats.write_failures += 1;
                Err(io::Error::from_raw_os_error(libc::EIO))
            }
            (DiskMode::Full, Op::Grow) => {
                s.stats.enospc += 1;
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            }
            _ => Ok(()),
        }
    }

    /// Flip `flips` random bits of one of the node's stored files, in place
    /// and durably. Runs outside the node, between simulation steps.
    pub fn flip_bits(&self, file: StoredFile, flips: u32, rng: &mut impl Rng) -> FlipOutcome {
        // While the guard lives, every shim call on this thread goes to the
        // node's disk.
        let _inside = match &self.lock().handle {
            Some(handle) => handle.enter(),
            None => return FlipOutcome::NoDisk,
        };
        let Some(path) = pick_file(&self.dir, file, rng) else {
            return FlipOutcome::NoFile;
        };
        match flip_in_place(&path, flips, rng) {
            Ok(offsets) if !offsets.is_empty() => {
                self.lock().stats.bits_flipped += offsets.len() as u64;
                FlipOutcome::Flipped {
                    path: path.display().to_string(),
                    offsets,
                }
            }
            _ => FlipOutcome::NoFile,
        }
    }
}

/// The classes of calls the faults tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    /// Needs space: writes, creating names, growing files.
    Grow,
    /// Changes the disk without needing space: renames, removals, cuts.
    Mutate,
    Sync,
}

/// A [`FileSystem`] that consults a [`DiskControl`] before every call.
#[derive(Clone)]
pub struct FaultyFs<F> {
    inner: F,
    control: DiskControl,
}

/// A file of a [`FaultyFs`].
pub struct FaultyFile<W> {
    inner: W,
    control: DiskControl,
}

impl<W: WritableFile> WritableFile for FaultyFile<W> {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.control.check(Op::Grow)?;
        self.inner.write_all_at(buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        // The store only ever cuts files; a cut needs no space, but under
        // EIO it fails like any write.
        self.control.check(Op::Mutate)?;
        self.inner.set_len(len)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.control.check(Op::Sync)?;
        self.inner.sync_all()
    }
}

impl<F: FileSystem> FileSystem for FaultyFs<F> {
    type File = FaultyFile<F::File>;

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.control.check(Op::Read)?;
        self.inner.exists(path)
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.control.check(Op::Grow)?;
        self.inner.create_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.control.check(Op::Read)?;
        self.inner.list_dir(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.control.check(Op::Read)?;
        self.inner.read(path)
    }
    fn create(&self, path: &Path) -> io::Result<Self::File> {
        self.control.check(Op::Grow)?;
        Ok(FaultyFile {
            inner: self.inner.create(path)?,
            control: self.control.clone(),
        })
    }
    fn open_write(&self, path: &Path) -> io::Result<Self::File> {
        self.control.check(Op::Read)?;
        Ok(FaultyFile {
            inner: self.inner.open_write(path)?,
            control: self.control.clone(),
        })
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.control.check(Op::Mutate)?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.control.check(Op::Mutate)?;
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.control.check(Op::Sync)?;
        self.inner.sync_dir(path)
    }
    fn io_wait(&self) -> Option<IoWait> {
        self.control.io_wait()
    }
}

/// The file a flip of `file` lands in: a random non-empty log segment, the
/// stable state, or the newest snapshot.
fn pick_file(dir: &Path, file: StoredFile, rng: &mut impl Rng) -> Option<PathBuf> {
    use turmoil::fs::shim::std::fs;
    let non_empty = |p: &Path| fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false);
    let sorted_names = |d: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(d)
            .map(|it| {
                it.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        // The shim lists through a hash set; sorting keeps runs replayable.
        names.sort();
        names
    };
    match file {
        StoredFile::Stable => Some(dir.join("hardstate")).filter(|p| non_empty(p)),
        StoredFile::Snapshot => sorted_names(dir)
            .into_iter()
            .filter(|n| n.starts_with("snapshot-") && n.ends_with(".snap"))
            .map(|n| dir.join(n))
            .rfind(|p| non_empty(p)),
        StoredFile::Log => {
            let log = dir.join("log");
            let segments: Vec<PathBuf> = sorted_names(&log)
                .into_iter()
                .filter(|n| n.ends_with(".seg"))
                .map(|n| log.join(n))
                .filter(|p| non_empty(p))
                .collect();
            if segments.is_empty() {
                None
            } else {
                Some(segments[rng.random_range(0..segments.len())].clone())
            }
        }
    }
}

/// Flip `flips` distinct random bits of `path` and sync the file.
fn flip_in_place(path: &Path, flips: u32, rng: &mut impl Rng) -> io::Result<Vec<u64>> {
    use std::os::unix::fs::FileExt;
    use turmoil::fs::shim::std::fs;
    let mut bytes = fs::read(path)?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut offsets = Vec::new();
    for _ in 0..flips {
        let bit = rng.random_range(0..bytes.len() as u64 * 8);
        bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
        offsets.push(bit / 8);
    }
    offsets.sort_unstable();
    offsets.dedup();
    let file = fs::OpenOptions::new().write(true).open(path)?;
    for &at in &offsets {
        file.write_all_at(&bytes[at as usize..at as usize + 1], at)?;
    }
    file.sync_all()?;
    Ok(offsets)
}
