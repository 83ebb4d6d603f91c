//! The in-memory view of the log: the entries after a compaction offset,
//! and the watermarks that say how far they are handed to storage, durable,
//! committed and applied.
//!
//! Indexes satisfy `offset <= applied <= apply_emitted <= commit` and
//! `persisted < unstable_from <= last_index() + 1`; the term of the entry at
//! `offset` is remembered so the entry after it can still be checked.

use super::types::{Entry, Index, Term};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
/// A node's log in memory with its watermarks (see the module docs).
pub struct RaftLog {
    /// Index of the last entry dropped by compaction or covered by an
    /// installed snapshot; `entries[0]` is at `offset + 1`.
    offset: Index,
    offset_term: Term,
    entries: Vec<Entry>,
    /// First index not yet handed to storage in a `Ready`.
    unstable_from: Index,
    /// Storage must truncate from here before appending the unstable tail.
    pending_truncate: Option<Index>,
    /// Last index storage said is durable.
    persisted: Index,
    commit: Index,
    /// Last index the state machine acknowledged.
    applied: Index,
    /// Last index handed out for applying.
    apply_emitted: Index,
}

impl RaftLog {
    /// A log recovered from storage: everything is durable, and the
    /// snapshot at (`offset`, `offset_term`) is committed and applied.
    pub fn recovered(offset: Index, offset_term: Term, entries: Vec<Entry>) -> Self {
        let last = offset + entries.len() as Index;
        RaftLog {
            offset,
            offset_term,
            entries,
            unstable_from: last + 1,
            pending_truncate: None,
            persisted: last,
            commit: offset,
            applied: offset,
            apply_emitted: offset,
        }
    }

    /// Index of the last entry compacted away or covered by a snapshot.
    pub fn offset(&self) -> Index {
        self.offset
    }

    /// Index of the first entry still in memory.
    pub fn first_index(&self) -> Index {
        self.offset + 1
    }

    /// Index of the last entry (the offset if the log is empty).
    pub fn last_index(&self) -> Index {
        self.offset + self.entries.len() as Index
    }

    /// Term of the last entry (the offset's term if the log is empty).
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.offset_term, |e| e.term)
    }

    /// The commit index.
    pub fn commit(&self) -> Index {
        self.commit
    }

    /// The last index storage said is durable.
    pub fn persisted(&self) -> Index {
        self.persisted
    }

    /// The last index the state machine acknowledged applying.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// The last index handed out for applying.
    pub fn apply_emitted(&self) -> Index {
        self.apply_emitted
    }

    /// The term of the entry at `index`, if the log still knows it.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.offset {
            Some(self.offset_term)
        } else if index < self.offset || index > self.last_index() {
            None
        } else {
            Some(self.entries[(index - self.offset - 1) as usize].term)
        }
    }

    /// The entry at `index`, if it is in memory.
    pub fn entry(&self, index: Index) -> Option<&Entry> {
        if index <= self.offset || index > self.last_index() {
            None
        } else {
            Some(&self.entries[(index - self.offset - 1) as usize])
        }
    }

    /// Entries from `from` on, at most `max` of them. `from` must be after
    /// the offset.
    pub fn slice(&self, from: Index, max: usize) -> Vec<Entry> {
        debug_assert!(from > self.offset);
        let start = (from - self.offset - 1) as usize;
        if start >= self.entries.len() {
            return Vec::new();
        }
        let end = start.saturating_add(max).min(self.entries.len());
        self.entries[start..end].to_vec()
    }

    /// All entries in memory, for views and scans.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Raft §5.4.1: is a log ending at (`last_term`, `last_index`) at least
    /// as up to date as this one?
    pub fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// Does this log hold an entry at `index` of `term`?
    pub fn matches(&self, index: Index, term: Term) -> bool {
        self.term_at(index) == Some(term)
    }

    /// The last index at or before `index` whose term is at most `term`,
    /// with that term: the fast back-off hint. Both sides use it, the
    /// follower to answer a rejected append and the leader to pick its next
    /// probe. Below the known log it answers (index, 0), which sends the
    /// leader back to what it knows matches.
    pub fn find_conflict_by_term(&self, index: Index, term: Term) -> (Index, Term) {
        let mut i = index.min(self.last_index());
        loop {
            match self.term_at(i) {
                Some(t) if t <= term => return (i, t),
                Some(_) if i > 0 => i -= 1,
                _ => return (i, 0),
            }
        }
    }

    /// Append entries that continue the log.
    pub fn append(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for e in entries {
            debug_assert_eq!(e.index, self.last_index() + 1, "log append leaves a gap");
            self.entries.push(e);
        }
    }

    /// Drop every entry at or after `index`.
    pub fn truncate_from(&mut self, index: Index) {
        debug_assert!(index > self.offset);
        if index > self.last_index() {
            return;
        }
        self.entries.truncate((index - self.offset - 1) as usize);
        if index < self.unstable_from {
            self.pending_truncate = Some(self.pending_truncate.map_or(index, |t| t.min(index)));
            self.unstable_from = index;
        }
        self.persisted = self.persisted.min(index - 1);
    }

    /// Is there a truncation or a tail not yet handed to storage?
    pub fn has_unstable(&self) -> bool {
        self.pending_truncate.is_some() || self.unstable_from <= self.last_index()
    }

    /// Hand the truncation and unwritten tail to storage.
    pub fn take_unstable(&mut self) -> (Option<Index>, Vec<Entry>) {
        let truncate = self.pending_truncate.take();
        let entries = if self.unstable_from <= self.last_index() {
            let from = (self.unstable_from - self.offset - 1) as usize;
            self.entries[from..].to_vec()
        } else {
            Vec::new()
        };
        self.unstable_from = self.last_index() + 1;
        (truncate, entries)
    }

    /// Storage made everything up to `index` durable. Ignored unless that
    /// entry was handed out and still has `term` (a stale acknowledgement
    /// for an entry since truncated says nothing about its replacement).
    pub fn stable_to(&mut self, index: Index, term: Term) -> bool {
        if index < self.unstable_from && index > self.persisted && self.matches(index, term) {
            self.persisted = index;
            true
        } else {
            false
        }
    }

    /// Raise the commit index to `index`; false if it was not a raise.
    pub fn commit_to(&mut self, index: Index) -> bool {
        if index > self.commit {
            self.commit = index;
            true
        } else {
            false
        }
    }

    /// Committed, durable entries not yet handed out for applying.
    pub fn has_next_committed(&self) -> bool {
        self.commit.min(self.persisted) > self.apply_emitted
    }

    /// Hand out the committed, durable entries not yet handed out for applying.
    pub fn take_next_committed(&mut self) -> Vec<Entry> {
        let upto = self.commit.min(self.persisted);
        if upto <= self.apply_emitted {
            return Vec::new();
        }
        let from = self.apply_emitted + 1;
        let out = self.slice(from, (upto - self.apply_emitted) as usize);
        self.apply_emitted = upto;
        out
    }

    /// The state machine applied up to `index` (never past what it was given).
    pub fn applied_to(&mut self, index: Index) -> bool {
        let index = index.min(self.apply_emitted);
        if index > self.applied {
            self.applied = index;
            true
        } else {
            false
        }
    }

    /// Drop entries at or before `index`, which the state machine's
    /// snapshot covers.
    pub fn compact(&mut self, index: Index) -> bool {
        if index <= self.offset || index > self.applied {
            return false;
        }
        let Some(term) = self.term_at(index) else {
            return false;
        };
        self.entries.drain(..(index - self.offset) as usize);
        self.offset = index;
        self.offset_term = term;
        true
    }

    /// Make a received snapshot at (`index`, `term`) the base of the log.
    /// If the log holds that very entry and storage already has everything
    /// up to it, the entries after it stay; otherwise the whole log goes
    /// (Raft §7: drop a log that conflicts with the snapshot).
    pub fn restore(&mut self, index: Index, term: Term) {
        if self.matches(index, term) && index < self.unstable_from {
            self.entries.drain(..(index - self.offset) as usize);
        } else {
            self.entries.clear();
            self.pending_truncate = Some(
                self.pending_truncate
                    .map_or(index + 1, |t| t.min(index + 1)),
            );
            self.unstable_from = index + 1;
            self.persisted = self.persisted.min(index);
        }
        self.offset = index;
        self.offset_term = term;
        self.commit = self.commit.max(index);
    }

    /// The restored snapshot is durable and the state machine holds it.
    /// Under the install-stale-snapshot bug `index` may be below what was
    /// applied, and the applied watermark goes back with it.
    pub fn snapshot_applied(&mut self, index: Index) {
        self.persisted = self.persisted.max(index);
        self.applied = index;
        self.apply_emitted = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::EntryPayload;

    fn e(index: Index, term: Term) -> Entry {
        Entry {
            index,
            term,
            payload: EntryPayload::Noop,
        }
    }

    fn log_of(terms: &[Term]) -> RaftLog {
        let mut log = RaftLog::recovered(0, 0, Vec::new());
        log.append(terms.iter().enumerate().map(|(i, t)| e(i as Index + 1, *t)));
        log
    }

    #[test]
    fn terms_and_bounds() {
        let log = log_of(&[1, 1, 2]);
        assert_eq!((log.last_index(), log.last_term()), (3, 2));
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(4), None);
        assert!(log.is_up_to_date(3, 2) && log.is_up_to_date(1, 3) && !log.is_up_to_date(9, 1));
    }

    #[test]
    fn conflict_hint_skips_a_whole_term() {
        let log = log_of(&[1, 1, 4, 4, 4, 4]);
        assert_eq!(log.find_conflict_by_term(6, 3), (2, 1));
        assert_eq!(log.find_conflict_by_term(9, 4), (6, 4));
        assert_eq!(log.find_conflict_by_term(6, 0), (0, 0));
    }

    #[test]
    fn unstable_tail_and_truncation_reach_storage_once() {
        let mut log = log_of(&[1, 1, 1]);
        assert_eq!(log.take_unstable(), (None, vec![e(1, 1), e(2, 1), e(3, 1)]));
        assert!(log.stable_to(3, 1));
        log.truncate_from(2);
        log.append([e(2, 2)]);
        assert_eq!(log.persisted(), 1);
        assert!(!log.stable_to(3, 1), "stale acknowledgement");
        assert_eq!(log.take_unstable(), (Some(2), vec![e(2, 2)]));
        assert!(!log.has_unstable());
    }

    #[test]
    fn committed_entries_wait_for_durability() {
        let mut log = log_of(&[1, 1]);
        log.commit_to(2);
        assert!(!log.has_next_committed());
        log.take_unstable();
        log.stable_to(1, 1);
        assert_eq!(log.take_next_committed(), vec![e(1, 1)]);
        log.stable_to(2, 1);
        assert_eq!(log.take_next_committed(), vec![e(2, 1)]);
        assert!(log.applied_to(5));
        assert_eq!(log.applied(), 2);
    }

    #[test]
    fn compaction_keeps_the_offset_term() {
        let mut log = log_of(&[1, 2, 3]);
        log.take_unstable();
        log.stable_to(3, 3);
        log.commit_to(3);
        log.take_next_committed();
        log.applied_to(3);
        assert!(log.compact(2));
        assert_eq!(
            (log.first_index(), log.term_at(2), log.term_at(1)),
            (3, Some(2), None)
        );
        assert_eq!(log.slice(3, 10), vec![e(3, 3)]);
    }

    #[test]
    fn restore_keeps_a_matching_durable_suffix_and_drops_a_conflicting_log() {
        let mut log = log_of(&[1, 1, 1, 1]);
        log.take_unstable();
        log.restore(2, 1);
        assert_eq!((log.offset(), log.last_index(), log.commit()), (2, 4, 2));
        let mut log = log_of(&[1, 1, 1, 1]);
        log.take_unstable();
        log.restore(3, 2);
        assert_eq!((log.offset(), log.last_index()), (3, 3));
        assert_eq!(log.take_unstable(), (Some(4), vec![]));
    }
}
