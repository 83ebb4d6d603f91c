//! Linearizable reads (Raft thesis §6.4): ReadIndex, confirmed by a quorum
//! answering a heartbeat round sent after the read arrived, and leader
//! leases, which skip the round while a recent one still vouches for the
//! leadership.

use super::message::{ProposeError, ReadState};
use super::quorum;
use super::state::Raft;
use super::types::{Index, Role};
use super::Millis;
use crate::bugs::Bug;
use std::collections::VecDeque;

/// How many unconfirmed rounds the lease bookkeeping remembers.
const MAX_ROUNDS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PendingRead {
    id: u64,
    index: Index,
    round: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReadQueue {
    /// The latest confirmation round; every append carries it.
    round: u64,
    /// Send times of recent rounds, for the lease.
    round_sent: VecDeque<(u64, Millis)>,
    /// Reads waiting for this leader to commit an entry of its term.
    waiting: Vec<u64>,
    /// Reads waiting for a quorum to answer their round.
    pending: VecDeque<PendingRead>,
    /// Reads confirmed, waiting for the state machine to reach their index.
    confirmed: Vec<ReadState>,
    failed: Vec<u64>,
    lease_until: Millis,
}

impl ReadQueue {
    pub fn round(&self) -> u64 {
        self.round
    }

    pub fn new_round(&mut self, now: Millis) -> u64 {
        self.round += 1;
        self.round_sent.push_back((self.round, now));
        if self.round_sent.len() > MAX_ROUNDS {
            self.round_sent.pop_front();
        }
        self.round
    }

    /// Leadership is gone: unconfirmed reads fail, the lease ends.
    /// Confirmed reads stay; their index was right when confirmed.
    pub fn fail_all(&mut self) {
        self.failed.append(&mut self.waiting);
        self.failed.extend(self.pending.drain(..).map(|r| r.id));
        self.round_sent.clear();
        self.lease_until = 0;
    }

    pub fn has_ready(&self, applied: Index) -> bool {
        !self.failed.is_empty() || self.confirmed.iter().any(|r| r.index <= applied)
    }

    /// Reads the state machine can serve now (it has been handed
    /// everything up to `applied`), and failed reads.
    pub fn take_ready(&mut self, applied: Index) -> (Vec<ReadState>, Vec<u64>) {
        let (ready, waiting): (Vec<ReadState>, Vec<ReadState>) =
            self.confirmed.drain(..).partition(|r| r.index <= applied);
        self.confirmed = waiting;
        (ready, std::mem::take(&mut self.failed))
    }
}

impl Raft {
    /// Ask to read linearizably. The read's index arrives in
    /// `Ready::reads` once leadership is confirmed and the state machine
    /// has been handed that index; `Ready::failed_reads` names it if the
    /// leadership is lost first.
    pub fn read_index(&mut self, id: u64, now: Millis) -> Result<(), ProposeError> {
        self.advance_clock(now);
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader,
            });
        }
        if self.config.bugs.has(Bug::LocalReads) {
            let index = self.log.commit();
            self.reads.confirmed.push(ReadState { id, index });
            return Ok(());
        }
        // Until it commits an entry of its term a new leader does not know
        // the commit index (thesis §6.4 step 1).
        if self.term_committed() || self.config.bugs.has(Bug::ReadIndexBeforeTermCommit) {
            self.start_read(id);
        } else {
            self.reads.waiting.push(id);
        }
        Ok(())
    }

    pub(crate) fn term_committed(&self) -> bool {
        self.log.term_at(self.log.commit()) == Some(self.term)
    }

    fn lease_valid(&self) -> bool {
        self.config.uses_lease()
            && self
                .leader_state
                .as_ref()
                .is_some_and(|ls| ls.transfer.is_none())
            && self.now < self.reads.lease_until
    }

    fn start_read(&mut self, id: u64) {
        let index = self.log.commit();
        if self.lease_valid() {
            self.reads.confirmed.push(ReadState { id, index });
            return;
        }
        let round = self.reads.new_round(self.now);
        self.reads
            .pending
            .push_back(PendingRead { id, index, round });
        for peer in self.peers() {
            self.send_heartbeat(peer);
        }
        self.confirm_reads();
    }

    /// Release reads whose round a quorum of voters has answered, start
    /// those that waited for the term's first commit, extend the lease.
    pub(crate) fn confirm_reads(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        if self.term_committed() && !self.reads.waiting.is_empty() {
            for id in std::mem::take(&mut self.reads.waiting) {
                self.start_read(id);
            }
        }
        let Some(ls) = &self.leader_state else { return };
        let id = self.config.id;
        let round = self.reads.round;
        let acks: Vec<Index> = self
            .membership
            .voters
            .iter()
            .map(|v| {
                if *v == id {
                    round
                } else {
                    ls.progress.get(v).map_or(0, |p| p.read_ack)
                }
            })
            .collect();
        let acked = quorum::committed_index(acks, self.config.bugs);
        while self.reads.pending.front().is_some_and(|r| r.round <= acked) {
            let r = self.reads.pending.pop_front().expect("checked non-empty");
            self.reads.confirmed.push(ReadState {
                id: r.id,
                index: r.index,
            });
        }
        let lease = self.config.lease_duration();
        while let Some(&(r, sent)) = self.reads.round_sent.front() {
            if r > acked {
                break;
            }
            self.reads.lease_until = self.reads.lease_until.max(sent.saturating_add(lease));
            self.reads.round_sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-memory cluster hands out committed entries in the same Ready
    /// as it persists them, so no scenario can show a confirmed read
    /// waiting for its entries; this test pins that rule down instead.
    #[test]
    fn a_confirmed_read_waits_until_its_index_was_handed_out_for_applying() {
        let mut q = ReadQueue::default();
        q.confirmed.push(ReadState { id: 1, index: 5 });
        q.confirmed.push(ReadState { id: 2, index: 3 });
        assert!(q.has_ready(3));
        assert_eq!(
            q.take_ready(4),
            (vec![ReadState { id: 2, index: 3 }], vec![])
        );
        assert!(!q.has_ready(4));
        assert_eq!(
            q.take_ready(5),
            (vec![ReadState { id: 1, index: 5 }], vec![])
        );
    }
}
