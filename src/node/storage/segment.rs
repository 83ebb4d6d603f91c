//! One log segment file: its name, and how its bytes are read back.
//!
//! A segment is named after the index of its first entry
//! (`00000000000000000001.seg`) and holds consecutive entries, one frame
//! each. Only the last segment is ever written to; a new one is started
//! only after everything before it was fsynced.
//!
//! # Torn tail or corruption?
//!
//! After a crash, bytes past the last successful fsync of the last segment
//! may be anything: missing, a prefix of the final batch, garbage. Bytes
//! before it were acknowledged and must read back exactly. We tell the two
//! apart without a separate "synced length" file (which would double the
//! fsyncs on the commit path) by relying on how the store writes:
//!
//! * each `sync()` writes its whole batch with one write at the end of the
//!   last segment and then fsyncs, so an interrupted batch leaves damage
//!   only at the very end of the last segment;
//! * so the first bad frame of the last segment is a torn tail only if it
//!   looks like one: a record cut short by the end of the file, or nothing
//!   but zeros from there on (blocks allocated but never written), and no
//!   valid entry can be found anywhere after it;
//! * anything else is corruption: a whole record failing its checksum,
//!   non-zero garbage, a valid entry after a bad one (e.g. one flipped byte
//!   in the middle of synced data), or any bad frame in an earlier segment,
//!   since those were completely fsynced before the next one was created.
//!
//! This errs towards fail-stop: a disk that persists a later block of the
//! final, unacknowledged batch but not an earlier one, or fills unwritten
//! blocks with stale bytes, is reported as corruption, never silently
//! truncated. What it cannot tell apart is a torn append from damage to the
//! length field of the very last record that makes it reach past the end of
//! the file; the store re-reads a torn tail before cutting it, so a
//! transient misread never destroys data.

use std::path::{Path, PathBuf};

use super::error::{Result, StorageError};
use super::frame::{self, Frame};
use crate::raft::{Entry, Index, Term};

const SUFFIX: &str = ".seg";
const DIGITS: usize = 20;

/// The file name of the segment whose first entry is `first_index`.
pub fn name(first_index: Index) -> String {
    format!("{first_index:0DIGITS$}{SUFFIX}")
}

/// The first index named by a segment file name, if it is one.
pub fn parse_name(name: &str) -> Option<Index> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Where each entry of a segment lives, without the entries themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub first_index: Index,
    /// Byte offset and term of each entry, in index order.
    pub entries: Vec<(u64, Term)>,
    /// Bytes of the file that hold valid records.
    pub len: u64,
}

impl Layout {
    pub fn empty(first_index: Index) -> Self {
        Layout {
            first_index,
            entries: Vec::new(),
            len: 0,
        }
    }

    /// Index of the last entry; `first_index - 1` when empty.
    pub fn last_index(&self) -> Index {
        self.first_index + self.entries.len() as u64 - 1
    }

    pub fn term_of(&self, index: Index) -> Option<Term> {
        let pos = index.checked_sub(self.first_index)?;
        self.entries.get(pos as usize).map(|&(_, term)| term)
    }

    pub fn offset_of(&self, index: Index) -> Option<u64> {
        let pos = index.checked_sub(self.first_index)?;
        self.entries.get(pos as usize).map(|&(offset, _)| offset)
    }
}

/// A discarded partial write at the end of the last segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    /// Where the valid records end and the tail was cut.
    pub offset: u64,
    /// How many bytes were discarded.
    pub discarded: u64,
    pub reason: String,
}

/// A segment as read back from disk.
#[derive(Debug)]
pub struct Scanned {
    pub layout: Layout,
    pub entries: Vec<Entry>,
    pub torn: Option<TornTail>,
}

fn describe(frame: &Frame<'_>) -> String {
    match frame {
        Frame::Valid { .. } => "valid record".to_string(),
        Frame::Truncated => "incomplete record".to_string(),
        Frame::BadLength(len) => format!("impossible record length {len}"),
        Frame::BadChecksum => "checksum mismatch".to_string(),
    }
}

/// Read back the segment at `path` whose bytes are `buf`. `is_last` says
/// whether a torn tail is possible (see the module docs).
pub fn scan(path: &Path, buf: &[u8], first_index: Index, is_last: bool) -> Result<Scanned> {
    let mut layout = Layout::empty(first_index);
    let mut entries = Vec::new();
    let mut pos = 0usize;
    while pos < buf.len() {
        let expected = first_index + entries.len() as u64;
        let bad = match frame::read_at(buf, pos) {
            Frame::Valid { payload, next } => {
                let entry: Entry = frame::decode(payload)
                    .map_err(|e| StorageError::corrupt(path, pos as u64, e))?;
                if entry.index != expected || entry.index == Index::MAX {
                    return Err(StorageError::corrupt(
                        path,
                        pos as u64,
                        format!("entry has index {}, expected {expected}", entry.index),
                    ));
                }
                layout.entries.push((pos as u64, entry.term));
                entries.push(entry);
                pos = next;
                continue;
            }
            bad => bad,
        };
        let reason = describe(&bad);
        if !is_last {
            return Err(StorageError::corrupt(
                path,
                pos as u64,
                format!("{reason} in a segment that was fully synced before the next was started"),
            ));
        }
        if let Some((at, index)) = find_entry_after(buf, pos + 1, expected) {
            return Err(StorageError::corrupt(
                path,
                pos as u64,
                format!("{reason}, yet a valid record of entry {index} follows at offset {at}: damage inside synced data"),
            ));
        }
        // An interrupted append leaves a record cut short, or zeros where
        // blocks were allocated but never written. Anything else after the
        // last good record (a whole record failing its checksum, non-zero
        // garbage) is damage to data that may have been acknowledged.
        let tail_is_zeros = buf[pos..].iter().all(|&b| b == 0);
        if !matches!(bad, Frame::Truncated) && !tail_is_zeros {
            return Err(StorageError::corrupt(
                path,
                pos as u64,
                format!(
                    "{reason} in the last {} bytes of the log, which is not what an interrupted append leaves (a record cut short, or zeros)",
                    buf.len() - pos
                ),
            ));
        }
        layout.len = pos as u64;
        return Ok(Scanned {
            layout,
            entries,
            torn: Some(TornTail {
                path: path.to_path_buf(),
                offset: pos as u64,
                discarded: (buf.len() - pos) as u64,
                reason,
            }),
        });
    }
    layout.len = pos as u64;
    Ok(Scanned {
        layout,
        entries,
        torn: None,
    })
}

/// The first offset at or after `from` holding a valid frame that decodes
/// to an entry at or after `min_index`. Requiring a plausible index as well
/// as a good checksum keeps chance matches in garbage from counting.
fn find_entry_after(buf: &[u8], from: usize, min_index: Index) -> Option<(usize, Index)> {
    (from..buf.len()).find_map(|at| match frame::read_at(buf, at) {
        Frame::Valid { payload, .. } => frame::decode::<Entry>(payload)
            .ok()
            .filter(|e| e.index >= min_index)
            .map(|e| (at, e.index)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::EntryPayload;

    fn entry(index: Index) -> Entry {
        Entry {
            term: 1 + index / 3,
            index,
            payload: EntryPayload::Command(vec![index as u8; 10]),
        }
    }

    fn segment(first: Index, count: u64) -> (Vec<u8>, Vec<u64>) {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        for i in first..first + count {
            offsets.push(buf.len() as u64);
            frame::encode(&entry(i), &mut buf).unwrap();
        }
        (buf, offsets)
    }

    fn path() -> PathBuf {
        PathBuf::from("/data/log").join(name(5))
    }

    #[test]
    fn names_round_trip_and_reject_strangers() {
        assert_eq!(name(1), "00000000000000000001.seg");
        assert_eq!(parse_name(&name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_name("1.seg"), None);
        assert_eq!(parse_name("0000000000000000000x.seg"), None);
        assert_eq!(parse_name("00000000000000000001.seg.tmp"), None);
    }

    #[test]
    fn clean_segment_reads_back_whole() {
        let (buf, offsets) = segment(5, 4);
        let scanned = scan(&path(), &buf, 5, true).unwrap();
        assert_eq!(scanned.entries, (5..9).map(entry).collect::<Vec<_>>());
        assert_eq!(
            scanned
                .layout
                .entries
                .iter()
                .map(|e| e.0)
                .collect::<Vec<_>>(),
            offsets
        );
        assert_eq!(scanned.layout.len, buf.len() as u64);
        assert_eq!(scanned.layout.last_index(), 8);
        assert!(scanned.torn.is_none());
    }

    #[test]
    fn any_cut_of_the_last_record_is_a_torn_tail() {
        let (buf, offsets) = segment(5, 3);
        let last = offsets[2] as usize;
        for cut in last + 1..buf.len() {
            let scanned = scan(&path(), &buf[..cut], 5, true).unwrap();
            assert_eq!(scanned.entries.len(), 2, "cut at {cut}");
            let torn = scanned.torn.unwrap();
            assert_eq!(torn.offset, last as u64);
            assert_eq!(torn.discarded, (cut - last) as u64);
        }
    }

    #[test]
    fn zeros_after_valid_records_are_a_torn_tail() {
        let (mut buf, _) = segment(5, 2);
        let valid = buf.len();
        buf.extend_from_slice(&[0u8; 300]);
        let scanned = scan(&path(), &buf, 5, true).unwrap();
        assert_eq!(scanned.entries.len(), 2);
        assert_eq!(scanned.torn.unwrap().offset, valid as u64);
    }

    #[test]
    fn garbage_or_a_bad_whole_record_at_the_end_is_corruption() {
        let (buf, offsets) = segment(5, 3);
        let mut garbage = buf.clone();
        garbage.extend_from_slice(&[0xA5; 17]);
        let mut flipped = buf.clone();
        flipped[offsets[2] as usize + 9] ^= 1;
        for (bad, at) in [(garbage, buf.len() as u64), (flipped, offsets[2])] {
            match scan(&path(), &bad, 5, true) {
                Err(StorageError::Corrupt { offset, .. }) => assert_eq!(offset, at),
                other => panic!("expected corruption at {at}, got {other:?}"),
            }
        }
    }

    #[test]
    fn flipped_byte_before_valid_records_is_corruption() {
        let (buf, offsets) = segment(5, 4);
        for at in offsets[1]..offsets[2] {
            let mut bad = buf.clone();
            bad[at as usize] ^= 0x40;
            match scan(&path(), &bad, 5, true) {
                Err(StorageError::Corrupt {
                    offset, path: p, ..
                }) => {
                    assert_eq!(offset, offsets[1]);
                    assert_eq!(p, path());
                }
                other => panic!("flip at {at}: expected corruption, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_entry_at_the_last_possible_index_is_corruption() {
        let mut buf = Vec::new();
        frame::encode(&entry(Index::MAX), &mut buf).unwrap();
        let err = scan(&path(), &buf, Index::MAX, true).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn torn_end_of_an_earlier_segment_is_corruption() {
        let (buf, _) = segment(5, 3);
        let err = scan(&path(), &buf[..buf.len() - 1], 5, false).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn out_of_sequence_index_is_corruption() {
        let (buf, _) = segment(5, 3);
        let err = scan(&path(), &buf, 4, true).unwrap_err();
        assert!(err.to_string().contains("expected 4"), "{err}");
    }
}
