//! [`DurableStore`]: everything a Raft node must keep across crashes, in
//! one directory:
//!
//! ```text
//! <dir>/identity                     cluster id and node id (claimed once)
//! <dir>/hardstate                    term and vote, one record, replaced atomically
//! <dir>/snapshot-<index>-<term>.snap the newest snapshot
//! <dir>/log/<first index>.seg        log segments, append-only
//! ```

use std::path::{Path, PathBuf};

use super::atomic;
use super::error::{Result, StorageError};
use super::fs::FileSystem;
use super::identity::StoreIdentity;
use super::log::SegmentLog;
use super::segment::{self, Layout, TornTail};
use super::snapshot;
use crate::raft::{Entry, HardState, Index, Snapshot, SnapshotMeta, Term};

const IDENTITY_FILE: &str = "identity";
const HARD_STATE_FILE: &str = "hardstate";
const LOG_DIR: &str = "log";

/// Tunables of a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// A sync starts a new log segment once the last one has reached this
    /// many bytes. Segments are the unit of compaction.
    pub segment_bytes: u64,
    /// Who must own the directory. When set, opening a directory claimed by
    /// anyone else fails with [`StorageError::IdentityMismatch`] before
    /// recovery repairs anything in it, and an unclaimed one is claimed.
    pub identity: Option<StoreIdentity>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            segment_bytes: 8 * 1024 * 1024,
            identity: None,
        }
    }
}

/// What a node finds on disk when it starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    /// Every log entry after the snapshot, in index order, without gaps.
    pub entries: Vec<Entry>,
    /// Who owns the directory (after [`DurableStore::open_as`] claimed it).
    pub identity: Option<StoreIdentity>,
    /// The unsynced partial write cut off the end of the log, if there was one.
    pub torn_tail: Option<TornTail>,
}

/// A node's durable state: stable state, log and snapshot.
///
/// Entries passed to [`append`](Self::append) are durable only once
/// [`sync`](Self::sync) returns `Ok`; every other mutating call is durable
/// when it returns. After any I/O failure the store is poisoned and every
/// later call fails: the node must stop, since it can no longer tell what
/// reached the disk.
pub struct DurableStore<F: FileSystem> {
    fs: F,
    dir: PathBuf,
    log: SegmentLog<F>,
    hard_state: HardState,
    snapshot: Option<SnapshotMeta>,
    identity: Option<StoreIdentity>,
    poisoned: Option<String>,
}

impl<F: FileSystem> DurableStore<F> {
    /// Open (creating if new) the store in `dir` with default options.
    ///
    /// Truncates a torn tail left by a crash (with a warning); refuses with
    /// [`StorageError::Corrupt`] data that was synced but no longer reads back.
    pub fn open(fs: F, dir: &Path) -> Result<(Self, Recovered)> {
        Self::open_with(fs, dir, StoreOptions::default())
    }

    /// [`open`](Self::open) as `identity`: refuses a directory owned by
    /// another cluster or node before touching it, claims an unowned one.
    pub fn open_as(fs: F, dir: &Path, identity: &StoreIdentity) -> Result<(Self, Recovered)> {
        let options = StoreOptions {
            identity: Some(identity.clone()),
            ..StoreOptions::default()
        };
        Self::open_with(fs, dir, options)
    }

    /// [`open`](Self::open) with explicit options.
    pub fn open_with(fs: F, dir: &Path, options: StoreOptions) -> Result<(Self, Recovered)> {
        if options.segment_bytes == 0 {
            return Err(StorageError::invalid("segment_bytes must be positive"));
        }
        let dir = dir.to_path_buf();
        let log_dir = dir.join(LOG_DIR);
        ensure_dir(&fs, &dir)?;
        // Whose directory this is, decided before any repair touches it.
        let identity: Option<StoreIdentity> = atomic::load(&fs, &dir, IDENTITY_FILE)?;
        if let (Some(expected), Some(found)) = (&options.identity, &identity) {
            if expected != found {
                return Err(StorageError::IdentityMismatch {
                    dir,
                    expected: expected.clone(),
                    found: found.clone(),
                });
            }
        }
        ensure_dir(&fs, &log_dir)?;
        atomic::sweep_temps(&fs, &dir)?;

        let hard_state: HardState = atomic::load(&fs, &dir, HARD_STATE_FILE)?.unwrap_or_default();
        let snap = load_newest_snapshot(&fs, &dir)?;
        let (snap_index, snap_term) = snap
            .as_ref()
            .map_or((0, 0), |s| (s.meta.index, s.meta.term));

        let (layouts, entries, torn_tail) = recover_log(&fs, &log_dir, snap_index, snap_term)?;
        let next_index = entries.last().map_or(snap_index, |e| e.index) + 1;
        let log = SegmentLog::new(log_dir, options.segment_bytes, layouts, next_index);
        let mut store = DurableStore {
            fs,
            dir,
            log,
            hard_state,
            snapshot: snap.as_ref().map(|s| s.meta.clone()),
            identity,
            poisoned: None,
        };
        if let Some(expected) = &options.identity {
            store.set_identity(expected)?;
        }
        let identity = store.identity.clone();
        let recovered = Recovered {
            hard_state,
            snapshot: snap,
            entries,
            identity,
            torn_tail,
        };
        Ok((store, recovered))
    }

    /// Durably replace the term and vote.
    pub fn save_hard_state(&mut self, hs: &HardState) -> Result<()> {
        self.guard(|s| {
            atomic::replace(&s.fs, &s.dir, HARD_STATE_FILE, hs)?;
            s.hard_state = *hs;
            Ok(())
        })
    }

    /// Durably remove every log entry at or after `index`.
    ///
    /// Entries the snapshot covers are not in the log, so an `index` at or
    /// before the snapshot removes everything after it. That is what a
    /// `Ready` carrying a log-replacing snapshot followed by a truncation
    /// from the old log's start means.
    pub fn truncate_from(&mut self, index: Index) -> Result<()> {
        self.guard(|s| {
            let index = index.max(s.snapshot_index() + 1);
            s.log.truncate_from(&s.fs, index)
        })
    }

    /// Buffer entries that continue the log: the first one after the
    /// snapshot must be [`last_index`](Self::last_index)` + 1`. Leading
    /// entries the snapshot already covers are skipped (a leader may resend
    /// them alongside the snapshot), after checking that one at the
    /// snapshot's index carries its term. Not durable until
    /// [`sync`](Self::sync).
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        self.guard(|s| {
            let Some(meta) = &s.snapshot else {
                return s.log.append(entries);
            };
            let covered = entries.iter().take_while(|e| e.index <= meta.index).count();
            if let Some(e) = entries[..covered].iter().find(|e| e.index == meta.index) {
                if e.term != meta.term {
                    return Err(StorageError::invalid(format!(
                        "entry {} of term {} contradicts the snapshot at index {} of term {}",
                        e.index, e.term, meta.index, meta.term
                    )));
                }
            }
            s.log.append(&entries[covered..])
        })
    }

    /// Write and fsync every appended entry. Only after this returns `Ok`
    /// may the node acknowledge them.
    pub fn sync(&mut self) -> Result<()> {
        self.guard(|s| s.log.sync(&s.fs))
    }

    /// Write every appended entry to its file without fsyncing it, so a
    /// crash may lose it. Only the planted bug NeverFsync calls this;
    /// [`synced_index`](Self::synced_index) then overstates what is durable.
    pub fn write_without_fsync(&mut self) -> Result<()> {
        self.guard(|s| s.log.flush(&s.fs, false))
    }

    /// Durably store `snap`, remove older snapshots, and drop the log
    /// entries it covers. If the log disagrees with the snapshot (it lacks
    /// the snapshot's last entry, or holds it with another term) the whole
    /// log is dropped, as Raft's InstallSnapshot requires. Entries still
    /// buffered are synced first.
    pub fn save_snapshot(&mut self, snap: &Snapshot) -> Result<()> {
        self.guard(|s| {
            let meta = &snap.meta;
            if meta.index < s.snapshot_index() {
                return Err(StorageError::invalid(format!(
                    "snapshot at index {} is older than the stored one at {}",
                    meta.index,
                    s.snapshot_index()
                )));
            }
            if meta.index == 0 || meta.index == Index::MAX {
                return Err(StorageError::invalid(format!(
                    "snapshot at index {}",
                    meta.index
                )));
            }
            s.log.sync(&s.fs)?;
            let agrees = s.term_of(meta.index) == Some(meta.term);
            snapshot::save(&s.fs, &s.dir, snap)?;
            snapshot::remove_others(&s.fs, &s.dir, &snapshot::name(meta.index, meta.term))?;
            s.snapshot = Some(meta.clone());
            if agrees {
                s.log.drop_through(&s.fs, meta.index)
            } else {
                s.log.reset(&s.fs, meta.index + 1)
            }
        })
    }

    /// Drop whole log segments whose entries are all at or before `index`,
    /// which must be covered by the stored snapshot.
    pub fn compact_to(&mut self, index: Index) -> Result<()> {
        self.guard(|s| {
            let floor = s.snapshot_index();
            if index > floor {
                return Err(StorageError::invalid(format!(
                    "compact to {index}, past the snapshot at {floor}: those entries exist nowhere else"
                )));
            }
            s.log.drop_through(&s.fs, index)
        })
    }

    /// Who owns this directory, if it has been claimed.
    pub fn identity(&self) -> Option<&StoreIdentity> {
        self.identity.as_ref()
    }

    /// Claim the directory for `identity`, or check an earlier claim.
    ///
    /// The first call durably records the identity; later calls (in this or
    /// any later run) succeed only with the same identity, and fail with
    /// [`StorageError::IdentityMismatch`] otherwise.
    pub fn set_identity(&mut self, identity: &StoreIdentity) -> Result<()> {
        self.guard(|s| match &s.identity {
            Some(found) if found == identity => Ok(()),
            Some(found) => Err(StorageError::IdentityMismatch {
                dir: s.dir.clone(),
                expected: identity.clone(),
                found: found.clone(),
            }),
            None => {
                atomic::replace(&s.fs, &s.dir, IDENTITY_FILE, identity)?;
                s.identity = Some(identity.clone());
                Ok(())
            }
        })
    }

    /// The last saved term and vote.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Index and term of the stored snapshot, if any.
    pub fn snapshot_meta(&self) -> Option<&SnapshotMeta> {
        self.snapshot.as_ref()
    }

    /// The last entry appended, synced or not (the snapshot index if none).
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// The last entry known durable.
    pub fn synced_index(&self) -> Index {
        self.log.synced_index()
    }

    /// The term of entry `index` if the log holds it or it is the
    /// snapshot's last entry.
    pub fn term_of(&self, index: Index) -> Option<Term> {
        match &self.snapshot {
            Some(meta) if meta.index == index => Some(meta.term),
            _ => self.log.term_of(index),
        }
    }

    /// How many log segment files exist.
    pub fn segment_count(&self) -> usize {
        self.log.segment_count()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the disk makes I/O wait: see [`FileSystem::io_wait`].
    pub fn io_wait(&self) -> Option<super::fs::IoWait> {
        self.fs.io_wait()
    }

    /// Why the store refuses to work, if it does.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    fn snapshot_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |m| m.index)
    }

    /// Run a mutation unless poisoned; poison on any failure that may have
    /// left the disk in a state we do not know.
    fn guard<T>(&mut self, op: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if let Some(cause) = &self.poisoned {
            return Err(StorageError::Poisoned {
                cause: cause.clone(),
            });
        }
        let result = op(self);
        if let Err(e) = &result {
            // Refused requests changed nothing on disk; everything else may have.
            if !matches!(
                e,
                StorageError::Invalid { .. } | StorageError::IdentityMismatch { .. }
            ) {
                tracing::error!(dir = %self.dir.display(), error = %e, "storage failed; refusing further writes");
                self.poisoned = Some(e.to_string());
            }
        }
        result
    }
}

/// Create `dir` and any missing parents, making each new name durable.
fn ensure_dir<F: FileSystem>(fs: &F, dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(p) = cur {
        if p.as_os_str().is_empty() || fs.exists(p).map_err(|e| StorageError::io("stat", p, e))? {
            break;
        }
        missing.push(p);
        cur = p.parent();
    }
    for p in missing.into_iter().rev() {
        fs.create_dir(p)
            .map_err(|e| StorageError::io("create directory", p, e))?;
        if let Some(parent) = p.parent().filter(|q| !q.as_os_str().is_empty()) {
            fs.sync_dir(parent)
                .map_err(|e| StorageError::io("fsync directory", parent, e))?;
        }
    }
    Ok(())
}

/// The newest snapshot in `dir`; older ones left by a crash are removed.
fn load_newest_snapshot<F: FileSystem>(fs: &F, dir: &Path) -> Result<Option<Snapshot>> {
    let Some((_, _, newest)) = snapshot::list(fs, dir)?.pop() else {
        return Ok(None);
    };
    let snap = snapshot::load(fs, dir, &newest)?;
    snapshot::remove_others(fs, dir, &newest)?;
    Ok(Some(snap))
}

type RecoveredLog = (Vec<Layout>, Vec<Entry>, Option<TornTail>);

/// Read every segment back and return the log after the snapshot at
/// (`snap_index`, `snap_term`), repairing what a crash can leave behind:
/// a torn tail, an empty last segment, segments a finished snapshot made
/// obsolete, a log that a newer snapshot replaced.
fn recover_log<F: FileSystem>(
    fs: &F,
    log_dir: &Path,
    snap_index: Index,
    snap_term: Term,
) -> Result<RecoveredLog> {
    let names = fs
        .list_dir(log_dir)
        .map_err(|e| StorageError::io("list", log_dir, e))?;
    let mut firsts = Vec::with_capacity(names.len());
    for name in &names {
        match segment::parse_name(name) {
            Some(first) if first > 0 => firsts.push(first),
            _ => {
                return Err(StorageError::corrupt(
                    log_dir.join(name),
                    0,
                    "unexpected file in the log directory (segments are named <20-digit first index>.seg)",
                ))
            }
        }
    }
    firsts.sort_unstable();

    let mut kept: Vec<(Layout, Vec<Entry>)> = Vec::new();
    let mut obsolete = Vec::new();
    let mut torn_tail = None;
    for (i, &first) in firsts.iter().enumerate() {
        let path = log_dir.join(segment::name(first));
        let is_last = i + 1 == firsts.len();
        let buf = fs
            .read(&path)
            .map_err(|e| StorageError::io("read", &path, e))?;
        let scanned = segment::scan(&path, &buf, first, is_last)?;
        if let Some(torn) = scanned.torn {
            // Cutting is irreversible: make sure the damage is on the disk
            // and not in one misread.
            let again = fs
                .read(&path)
                .map_err(|e| StorageError::io("read", &path, e))?;
            let rescanned = segment::scan(&path, &again, first, is_last)?;
            if again != buf || rescanned.torn.as_ref() != Some(&torn) {
                return Err(StorageError::corrupt(
                    &path,
                    torn.offset,
                    "two reads of the log's tail disagree; refusing to truncate it",
                ));
            }
            tracing::warn!(
                path = %torn.path.display(),
                offset = torn.offset,
                discarded = torn.discarded,
                reason = %torn.reason,
                "truncating a torn write at the end of the log (it was never synced)"
            );
            let mut file = fs
                .open_write(&path)
                .map_err(|e| StorageError::io("open", &path, e))?;
            use super::fs::WritableFile;
            file.set_len(torn.offset)
                .map_err(|e| StorageError::io("truncate", &path, e))?;
            file.sync_all()
                .map_err(|e| StorageError::io("fsync", &path, e))?;
            torn_tail = Some(torn);
        }
        if scanned.entries.is_empty() {
            if !is_last {
                return Err(StorageError::corrupt(
                    &path,
                    0,
                    "empty segment followed by others",
                ));
            }
            obsolete.push(path);
        } else if scanned.layout.last_index() <= snap_index {
            obsolete.push(path);
        } else {
            kept.push((scanned.layout, scanned.entries));
        }
    }

    for pair in kept.windows(2) {
        let (prev, next) = (&pair[0].0, &pair[1].0);
        if next.first_index != prev.last_index() + 1 {
            return Err(StorageError::corrupt(
                log_dir.join(segment::name(next.first_index)),
                0,
                format!(
                    "log gap: the previous segment ends at entry {}",
                    prev.last_index()
                ),
            ));
        }
    }
    if let Some((first, _)) = kept.first() {
        if first.first_index > snap_index + 1 {
            return Err(StorageError::corrupt(
                log_dir.join(segment::name(first.first_index)),
                0,
                format!(
                    "log gap: entries {}..{} are in neither the snapshot nor the log",
                    snap_index + 1,
                    first.first_index - 1
                ),
            ));
        }
        if snap_index > 0 {
            if let Some(term) = first.term_of(snap_index) {
                if term != snap_term {
                    // A crash between storing an installed snapshot and
                    // dropping the log it replaced: finish the job.
                    tracing::warn!(
                        snap_index,
                        snap_term,
                        log_term = term,
                        "log disagrees with the snapshot; dropping the log as InstallSnapshot does"
                    );
                    obsolete.extend(
                        kept.drain(..)
                            .map(|(l, _)| log_dir.join(segment::name(l.first_index))),
                    );
                }
            }
        }
    }

    // Newest first, each removal durable before the next: a crash part way
    // leaves a prefix of the log, which the next recovery judges the same way.
    for path in obsolete.iter().rev() {
        fs.remove_file(path)
            .map_err(|e| StorageError::io("remove", path, e))?;
        fs.sync_dir(log_dir)
            .map_err(|e| StorageError::io("fsync directory", log_dir, e))?;
    }

    let mut layouts = Vec::with_capacity(kept.len());
    let mut entries = Vec::new();
    for (layout, seg_entries) in kept {
        entries.extend(seg_entries.into_iter().filter(|e| e.index > snap_index));
        layouts.push(layout);
    }
    Ok((layouts, entries, torn_tail))
}
