//! Shared helpers of the storage tests: a file system that fails on cue,
//! and small constructors of Raft data.

#![allow(dead_code)]

use std::cell::Cell;
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use faultline::node::storage::{FileSystem, WritableFile};
use faultline::raft::{Configuration, Entry, EntryPayload, Index, Snapshot, SnapshotMeta, Term};

/// When a [`FaultyFs`] fails.
#[derive(Clone, Default)]
pub struct Faults {
    /// Mutating operations performed so far (attempted ones included).
    pub ops: Rc<Cell<usize>>,
    /// Every mutating operation from this one on fails, as if the process
    /// had died just before it: nothing more reaches the disk.
    pub crash_at: Rc<Cell<Option<usize>>>,
    /// The next operation of this kind fails once, then all is well again.
    pub fail_next: Rc<Cell<Option<&'static str>>>,
}

impl Faults {
    fn check(&self, kind: &'static str) -> io::Result<()> {
        let n = self.ops.get();
        self.ops.set(n + 1);
        if self.crash_at.get().is_some_and(|at| n >= at) {
            return Err(io::Error::other(format!(
                "injected crash before op {n} ({kind})"
            )));
        }
        if self.fail_next.get() == Some(kind) {
            self.fail_next.set(None);
            return Err(io::Error::other(format!("injected {kind} failure")));
        }
        Ok(())
    }
}

/// A file system that passes everything to `inner` except the failures
/// `faults` asks for.
#[derive(Clone)]
pub struct FaultyFs<F> {
    pub inner: F,
    pub faults: Faults,
}

pub struct FaultyFile<W> {
    inner: W,
    faults: Faults,
}

impl<W: WritableFile> WritableFile for FaultyFile<W> {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.faults.check("write")?;
        self.inner.write_all_at(buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.faults.check("set_len")?;
        self.inner.set_len(len)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        self.faults.check("fsync")?;
        self.inner.sync_all()
    }
}

impl<F: FileSystem> FileSystem for FaultyFs<F> {
    type File = FaultyFile<F::File>;

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.faults.check("create_dir")?;
        self.inner.create_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn create(&self, path: &Path) -> io::Result<Self::File> {
        self.faults.check("create")?;
        Ok(FaultyFile {
            inner: self.inner.create(path)?,
            faults: self.faults.clone(),
        })
    }
    fn open_write(&self, path: &Path) -> io::Result<Self::File> {
        Ok(FaultyFile {
            inner: self.inner.open_write(path)?,
            faults: self.faults.clone(),
        })
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.faults.check("rename")?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.faults.check("remove")?;
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.faults.check("sync_dir")?;
        self.inner.sync_dir(path)
    }
}

/// A command entry whose payload names its index and term, so a misplaced
/// entry can never compare equal to the right one.
pub fn entry(index: Index, term: Term) -> Entry {
    Entry {
        term,
        index,
        payload: EntryPayload::Command(format!("cmd {index}@{term}").into_bytes()),
    }
}

/// Entries `from..=to`, all of `term`.
pub fn entries(from: Index, to: Index, term: Term) -> Vec<Entry> {
    (from..=to).map(|i| entry(i, term)).collect()
}

pub fn snapshot(index: Index, term: Term, voters: &[u64]) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            index,
            term,
            config: Configuration::with_voters(voters.iter().copied()),
        },
        data: format!("state machine through {index}@{term}").into_bytes(),
    }
}

/// Offsets of the frames in a segment file's bytes, read through their
/// length fields.
pub fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut pos = 0;
    while pos + 8 <= bytes.len() {
        offsets.push(pos);
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 8 + len;
    }
    offsets
}

/// Run `boot(k)` as the k-th incarnation of one simulated host, crashing
/// the host (losing its unsynced writes) between incarnations.
pub fn run_boots(builder: &turmoil::Builder, boots: usize, boot: impl Fn(usize) + 'static) {
    let mut sim = builder.build();
    let incarnation = Rc::new(Cell::new(0));
    let done = Rc::new(Cell::new(false));
    let boot = Rc::new(boot);
    {
        let (incarnation, done, boot) = (incarnation.clone(), done.clone(), boot.clone());
        sim.host("node", move || {
            let (k, done, boot) = (incarnation.get(), done.clone(), boot.clone());
            async move {
                boot(k);
                done.set(true);
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }
    for k in 0..boots {
        if k > 0 {
            sim.crash("node");
            incarnation.set(k);
            done.set(false);
            sim.bounce("node");
        }
        let done = done.clone();
        sim.client(format!("wait-{k}"), async move {
            while !done.get() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        });
        sim.run().expect("simulation");
    }
}
