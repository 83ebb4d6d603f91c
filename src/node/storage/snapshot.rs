//! Snapshot files: `snapshot-<index>-<term>.snap`, one framed record each,
//! written atomically. The newest is the one that counts; older ones are
//! removed only after a newer one is durable.

use std::path::Path;

use super::atomic;
use super::error::{Result, StorageError};
use super::fs::FileSystem;
use crate::raft::{Index, Snapshot, Term};

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";

/// The file name of the snapshot at `index` of `term`.
pub fn name(index: Index, term: Term) -> String {
    format!("{PREFIX}{index:020}-{term:020}{SUFFIX}")
}

/// Whether a file name claims to be a snapshot (well formed or not).
pub fn looks_like(name: &str) -> bool {
    name.starts_with(PREFIX) && name.ends_with(SUFFIX)
}

/// The index and term a snapshot file name carries.
pub fn parse_name(name: &str) -> Option<(Index, Term)> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (index, term) = rest.split_once('-')?;
    let digits = |s: &str| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(term) {
        return None;
    }
    Some((index.parse().ok()?, term.parse().ok()?))
}

/// Durably write `snap` under its own name.
pub fn save<F: FileSystem>(fs: &F, dir: &Path, snap: &Snapshot) -> Result<()> {
    atomic::replace(fs, dir, &name(snap.meta.index, snap.meta.term), snap)
}

/// The names of every snapshot file in `dir`, ordered oldest first, or a
/// corruption error for a file that claims to be one but is misnamed.
pub fn list<F: FileSystem>(fs: &F, dir: &Path) -> Result<Vec<(Index, Term, String)>> {
    let names = fs
        .list_dir(dir)
        .map_err(|e| StorageError::io("list", dir, e))?;
    let mut found = Vec::new();
    for name in names.into_iter().filter(|n| looks_like(n)) {
        match parse_name(&name) {
            Some((index, term)) => found.push((index, term, name)),
            None => {
                return Err(StorageError::corrupt(
                    dir.join(&name),
                    0,
                    "snapshot file name is not snapshot-<20-digit index>-<20-digit term>.snap",
                ))
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Read the snapshot in `dir/name`, checking it is the one its name says.
pub fn load<F: FileSystem>(fs: &F, dir: &Path, name: &str) -> Result<Snapshot> {
    let path = dir.join(name);
    let snap: Snapshot = atomic::load(fs, dir, name)?
        .ok_or_else(|| StorageError::io("read", &path, std::io::ErrorKind::NotFound.into()))?;
    if snap.meta.index == Index::MAX {
        return Err(StorageError::corrupt(path, 0, "snapshot index u64::MAX"));
    }
    if parse_name(name) != Some((snap.meta.index, snap.meta.term)) {
        return Err(StorageError::corrupt(
            path,
            0,
            format!(
                "holds the snapshot at index {} term {}, not the one its name says",
                snap.meta.index, snap.meta.term
            ),
        ));
    }
    Ok(snap)
}

/// Remove every snapshot file but `keep`.
pub fn remove_others<F: FileSystem>(fs: &F, dir: &Path, keep: &str) -> Result<()> {
    let mut removed = false;
    for (_, _, name) in list(fs, dir)? {
        if name != keep {
            let path = dir.join(&name);
            fs.remove_file(&path)
                .map_err(|e| StorageError::io("remove", &path, e))?;
            removed = true;
        }
    }
    if removed {
        fs.sync_dir(dir)
            .map_err(|e| StorageError::io("fsync directory", dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let n = name(42, 7);
        assert_eq!(n, "snapshot-00000000000000000042-00000000000000000007.snap");
        assert!(looks_like(&n));
        assert_eq!(parse_name(&n), Some((42, 7)));
        assert_eq!(parse_name("snapshot-42-7.snap"), None);
        assert!(looks_like("snapshot-42-7.snap"));
        assert!(!looks_like(&format!("{n}.tmp")));
    }
}
