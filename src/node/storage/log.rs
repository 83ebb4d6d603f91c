//! The Raft log on disk: a directory of append-only segments.
//!
//! `append` only encodes into a memory buffer; `sync` writes the whole
//! buffer with one write at the end of the last segment and fsyncs it (see
//! `segment` for why one write matters to recovery). `truncate_from` cuts
//! files and fsyncs at once, so a later torn batch can never land on top of
//! entries a truncation was meant to remove.

use std::path::{Path, PathBuf};

use super::error::{Result, StorageError};
use super::frame;
use super::fs::{FileSystem, WritableFile};
use super::segment::{self, Layout};
use crate::raft::{Entry, Index, Term};

/// The log's files and what is buffered for them.
pub struct SegmentLog<F: FileSystem> {
    dir: PathBuf,
    /// Soft size limit: a batch starts a new segment once the last one is
    /// at least this long.
    segment_bytes: u64,
    /// Oldest first; every one holds at least one entry, all fsynced.
    segments: Vec<Layout>,
    /// Write handle of the last segment, opened on first use.
    tail: Option<F::File>,
    /// Encoded frames appended since the last sync.
    buffer: Vec<u8>,
    /// Offset in `buffer` and term of each buffered entry.
    buffered: Vec<(u64, Term)>,
    /// The index the next appended entry must carry.
    next_index: Index,
}

impl<F: FileSystem> SegmentLog<F> {
    /// A log over recovered segments. `next_index` is one past the last
    /// entry (or past the snapshot, if the log holds nothing after it).
    pub fn new(dir: PathBuf, segment_bytes: u64, segments: Vec<Layout>, next_index: Index) -> Self {
        SegmentLog {
            dir,
            segment_bytes,
            segments,
            tail: None,
            buffer: Vec::new(),
            buffered: Vec::new(),
            next_index,
        }
    }

    /// The index of the last entry appended, synced or not.
    pub fn last_index(&self) -> Index {
        self.next_index - 1
    }

    /// The index of the last entry that is durable.
    pub fn synced_index(&self) -> Index {
        self.next_index - 1 - self.buffered.len() as u64
    }

    /// The term of entry `index` if the log (disk or buffer) holds it.
    pub fn term_of(&self, index: Index) -> Option<Term> {
        let synced = self.synced_index();
        if index > synced {
            let pos = index - synced - 1;
            return self.buffered.get(pos as usize).map(|&(_, t)| t);
        }
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.first_index <= index)?;
        seg.term_of(index)
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Buffer `entries`, which must continue the log without a gap.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        if entries.last().is_some_and(|e| e.index == Index::MAX) {
            return Err(StorageError::invalid(
                "entry index u64::MAX leaves no next index",
            ));
        }
        for (expected, e) in (self.next_index..).zip(entries) {
            if e.index != expected {
                return Err(StorageError::invalid(format!(
                    "append of entry {} where entry {expected} comes next (truncate first to overwrite)",
                    e.index
                )));
            }
        }
        let (buffer_len, buffered_len, next_index) =
            (self.buffer.len(), self.buffered.len(), self.next_index);
        for e in entries {
            let offset = self.buffer.len() as u64;
            if let Err(detail) = frame::encode(e, &mut self.buffer) {
                // All or nothing: forget the part of this call already buffered.
                self.buffer.truncate(buffer_len);
                self.buffered.truncate(buffered_len);
                self.next_index = next_index;
                return Err(StorageError::invalid(format!(
                    "entry {}: {detail}",
                    e.index
                )));
            }
            self.buffered.push((offset, e.term));
            self.next_index = e.index + 1;
        }
        Ok(())
    }

    /// Write and fsync everything buffered. On success every appended entry
    /// is durable.
    pub fn sync(&mut self, fs: &F) -> Result<()> {
        self.flush(fs, true)
    }

    /// Write buffered entries to their segment, with or without the fsync
    /// that makes them durable.
    pub fn flush(&mut self, fs: &F, fsync: bool) -> Result<()> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        let first_buffered = self.synced_index() + 1;
        let roll = match self.segments.last() {
            None => true,
            Some(last) => last.len >= self.segment_bytes,
        };
        if roll {
            self.tail = None;
            let path = self.dir.join(segment::name(first_buffered));
            let file = fs
                .create(&path)
                .map_err(|e| StorageError::io("create", &path, e))?;
            self.tail = Some(file);
            self.segments.push(Layout::empty(first_buffered));
        }
        let dir = self.dir.clone();
        let last = self.segments.last_mut().expect("a segment to write to");
        assert_eq!(
            last.first_index + last.entries.len() as u64,
            first_buffered,
            "buffered entries must continue the last segment"
        );
        let path = dir.join(segment::name(last.first_index));
        let file = open_tail(fs, &mut self.tail, &path)?;
        file.write_all_at(&self.buffer, last.len)
            .map_err(|e| StorageError::io("write", &path, e))?;
        if fsync {
            file.sync_all()
                .map_err(|e| StorageError::io("fsync", &path, e))?;
        }
        if roll {
            fs.sync_dir(&dir)
                .map_err(|e| StorageError::io("fsync directory", &dir, e))?;
        }
        let base = last.len;
        last.entries.extend(
            self.buffered
                .iter()
                .map(|&(offset, term)| (base + offset, term)),
        );
        last.len += self.buffer.len() as u64;
        self.buffer.clear();
        self.buffered.clear();
        Ok(())
    }

    /// Remove every entry at or after `index`, durably, before returning.
    pub fn truncate_from(&mut self, fs: &F, index: Index) -> Result<()> {
        if index >= self.next_index {
            return Ok(());
        }
        let synced = self.synced_index();
        if index > synced {
            let keep = (index - synced - 1) as usize;
            let cut = self.buffered[keep].0 as usize;
            self.buffer.truncate(cut);
            self.buffered.truncate(keep);
            self.next_index = index;
            return Ok(());
        }
        self.buffer.clear();
        self.buffered.clear();
        // Cut from the end backwards so a crash part way leaves a shorter
        // log, never one with a hole in it.
        while let Some(last) = self.segments.last() {
            let path = self.dir.join(segment::name(last.first_index));
            if last.first_index >= index {
                self.tail = None;
                fs.remove_file(&path)
                    .map_err(|e| StorageError::io("remove", &path, e))?;
                fs.sync_dir(&self.dir)
                    .map_err(|e| StorageError::io("fsync directory", &self.dir, e))?;
                self.segments.pop();
                continue;
            }
            if let Some(offset) = last.offset_of(index) {
                let file = open_tail(fs, &mut self.tail, &path)?;
                file.set_len(offset)
                    .map_err(|e| StorageError::io("truncate", &path, e))?;
                file.sync_all()
                    .map_err(|e| StorageError::io("fsync", &path, e))?;
                let last = self.segments.last_mut().expect("checked above");
                last.entries.truncate((index - last.first_index) as usize);
                last.len = offset;
            }
            break;
        }
        self.next_index = index;
        Ok(())
    }

    /// Delete whole segments whose entries are all at or before `index`.
    /// Deletes from the front, so a crash part way leaves a log that still
    /// reaches back to `index` or a later segment start.
    pub fn drop_through(&mut self, fs: &F, index: Index) -> Result<()> {
        let count = self
            .segments
            .iter()
            .take_while(|s| s.last_index() <= index)
            .count();
        if count == 0 {
            return Ok(());
        }
        if count == self.segments.len() {
            self.tail = None;
        }
        for seg in &self.segments[..count] {
            let path = self.dir.join(segment::name(seg.first_index));
            fs.remove_file(&path)
                .map_err(|e| StorageError::io("remove", &path, e))?;
        }
        fs.sync_dir(&self.dir)
            .map_err(|e| StorageError::io("fsync directory", &self.dir, e))?;
        self.segments.drain(..count);
        Ok(())
    }

    /// Delete every segment and forget the buffer; the next entry appended
    /// must be `next_index`. Used when a snapshot replaces a log that does
    /// not agree with it.
    ///
    /// Deletes from the end, one durable removal at a time, so a crash part
    /// way leaves a prefix of the old log: recovery then still finds the
    /// disagreeing entry at the snapshot's index and finishes the reset,
    /// instead of keeping a suffix that cannot be checked against it.
    pub fn reset(&mut self, fs: &F, next_index: Index) -> Result<()> {
        self.buffer.clear();
        self.buffered.clear();
        self.tail = None;
        while let Some(last) = self.segments.last() {
            let path = self.dir.join(segment::name(last.first_index));
            fs.remove_file(&path)
                .map_err(|e| StorageError::io("remove", &path, e))?;
            fs.sync_dir(&self.dir)
                .map_err(|e| StorageError::io("fsync directory", &self.dir, e))?;
            self.segments.pop();
        }
        self.next_index = next_index;
        Ok(())
    }
}

fn open_tail<'a, F: FileSystem>(
    fs: &F,
    tail: &'a mut Option<F::File>,
    path: &Path,
) -> Result<&'a mut F::File> {
    if tail.is_none() {
        let file = fs
            .open_write(path)
            .map_err(|e| StorageError::io("open", path, e))?;
        *tail = Some(file);
    }
    Ok(tail.as_mut().expect("just opened"))
}
