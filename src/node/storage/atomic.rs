//! Small files replaced as a whole, atomically: write a temporary file,
//! fsync it, rename it over the old one, fsync the directory. A crash at
//! any point leaves either the old file or the new one, never a mix; the
//! temporary is swept on the next open.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{Result, StorageError};
use super::frame;
use super::fs::{FileSystem, WritableFile};

/// Suffix of files being written; whatever carries it after a crash is junk.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Durably replace `dir/name` with a file holding the one record `value`.
pub fn replace<F: FileSystem, T: Serialize>(
    fs: &F,
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<()> {
    let mut buf = Vec::new();
    frame::encode(value, &mut buf).map_err(|e| StorageError::invalid(format!("{name}: {e}")))?;
    replace_bytes(fs, dir, name, &buf)
}

/// Durably replace `dir/name` with `bytes`.
pub fn replace_bytes<F: FileSystem>(fs: &F, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    {
        let mut file = fs
            .create(&temp)
            .map_err(|e| StorageError::io("create", &temp, e))?;
        file.write_all_at(bytes, 0)
            .map_err(|e| StorageError::io("write", &temp, e))?;
        file.sync_all()
            .map_err(|e| StorageError::io("fsync", &temp, e))?;
    }
    fs.rename(&temp, &path)
        .map_err(|e| StorageError::io("rename", &temp, e))?;
    fs.sync_dir(dir)
        .map_err(|e| StorageError::io("fsync directory", dir, e))
}

/// Read `dir/name` holding exactly one record, or `None` if it does not exist.
/// Anything unreadable is corruption: the file was only ever renamed into
/// place after it was fsynced.
pub fn load<F: FileSystem, T: DeserializeOwned>(
    fs: &F,
    dir: &Path,
    name: &str,
) -> Result<Option<T>> {
    let path = dir.join(name);
    if !fs
        .exists(&path)
        .map_err(|e| StorageError::io("stat", &path, e))?
    {
        return Ok(None);
    }
    let buf = fs
        .read(&path)
        .map_err(|e| StorageError::io("read", &path, e))?;
    frame::decode_single(&buf)
        .map(Some)
        .map_err(|(offset, detail)| StorageError::corrupt(&path, offset, detail))
}

/// Remove leftover temporary files of interrupted replacements in `dir`.
pub fn sweep_temps<F: FileSystem>(fs: &F, dir: &Path) -> Result<()> {
    let names = fs
        .list_dir(dir)
        .map_err(|e| StorageError::io("list", dir, e))?;
    let mut removed = false;
    for name in names.iter().filter(|n| n.ends_with(TEMP_SUFFIX)) {
        let path = dir.join(name);
        fs.remove_file(&path)
            .map_err(|e| StorageError::io("remove", &path, e))?;
        removed = true;
    }
    if removed {
        fs.sync_dir(dir)
            .map_err(|e| StorageError::io("fsync directory", dir, e))?;
    }
    Ok(())
}
