//! What a leader knows of one follower's log (Raft's nextIndex and
//! matchIndex) and how it is sending to it: probing one message at a time,
//! pipelining within a bounded window, or sending a snapshot.

use super::types::Index;
use std::collections::VecDeque;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
/// How a leader is sending to one follower.
pub enum ProgressState {
    /// Where the follower's log matches is unknown: one append at a time.
    Probe,
    /// The follower matched: appends are pipelined, `next` moves on send.
    Replicate,
    /// The follower needs the snapshot at `index`; `offset` bytes of it
    /// have been acknowledged.
    Snapshot {
        /// The snapshot's index.
        index: Index,
        /// Bytes acknowledged so far.
        offset: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
/// What a leader knows of one follower.
pub struct Progress {
    /// Highest index known to match the leader's log (durable there).
    pub matched: Index,
    /// Next index to send.
    pub next: Index,
    /// How the leader is sending to it.
    pub state: ProgressState,
    /// In probe state, a probe is outstanding: wait for its answer or the
    /// next heartbeat before sending another.
    pub probe_sent: bool,
    /// Last index of each pipelined append not yet answered.
    pub inflight: VecDeque<Index>,
    /// Heard from since the last check-quorum round.
    pub recent_active: bool,
    /// Heard from since the last heartbeat (a snapshot chunk is re-sent
    /// when not).
    pub responded: bool,
    /// `matched` at the last heartbeat: a pipelined follower whose match
    /// did not move for a heartbeat interval with appends outstanding has
    /// lost them, and is probed again.
    pub matched_at_heartbeat: Index,
    /// Highest read-confirmation round this follower has answered.
    pub read_ack: u64,
}

impl Progress {
    /// A follower whose log is assumed to end just before `next`.
    pub fn new(next: Index) -> Self {
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            inflight: VecDeque::new(),
            recent_active: true,
            responded: true,
            matched_at_heartbeat: 0,
            read_ack: 0,
        }
    }

    /// Probe from just after the match index, one append at a time.
    pub fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// Pipeline from just after the match index.
    pub fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// Send the snapshot at `index` from its first byte.
    pub fn become_snapshot(&mut self, index: Index) {
        self.state = ProgressState::Snapshot { index, offset: 0 };
        self.probe_sent = false;
        self.inflight.clear();
    }

    /// The follower answered an append or a snapshot chunk, echoing the
    /// read round `read_ctx`.
    pub fn heard_from(&mut self, read_ctx: u64) {
        self.recent_active = true;
        self.responded = true;
        self.read_ack = self.read_ack.max(read_ctx);
    }

    /// The follower verified its log up to `index`. Returns whether that
    /// is news.
    pub fn update(&mut self, index: Index) -> bool {
        while self.inflight.front().is_some_and(|&i| i <= index) {
            self.inflight.pop_front();
        }
        let news = index > self.matched;
        if news {
            self.matched = index;
        }
        self.next = self.next.max(index + 1);
        news
    }

    /// The follower rejected an append whose previous index was `rejected`;
    /// `match_hint` is where the leader's own log says to retry. Returns
    /// false for a stale rejection that says nothing new.
    pub fn reject(&mut self, rejected: Index, match_hint: Index) -> bool {
        match self.state {
            ProgressState::Replicate => {
                if rejected <= self.matched {
                    return false;
                }
                self.become_probe();
                self.next = (match_hint + 1).min(rejected).max(self.matched + 1);
                true
            }
            ProgressState::Probe => {
                if self.next.saturating_sub(1) != rejected {
                    return false;
                }
                self.next = (match_hint + 1).min(rejected).max(self.matched + 1);
                self.probe_sent = false;
                true
            }
            ProgressState::Snapshot { .. } => false,
        }
    }

    /// Should no further append be sent until an answer arrives?
    pub fn is_paused(&self, max_inflight: usize) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflight.len() >= max_inflight,
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// An append ending at `last` (of `count` entries) went out.
    pub fn sent(&mut self, last: Index, count: usize) {
        match self.state {
            ProgressState::Replicate if count > 0 => {
                self.next = last + 1;
                self.inflight.push_back(last);
            }
            ProgressState::Probe => self.probe_sent = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelining_window_and_fallback_to_probe() {
        let mut p = Progress::new(5);
        p.matched = 4;
        p.become_replicate();
        p.sent(6, 2);
        p.sent(8, 2);
        assert!(p.is_paused(2) && !p.is_paused(3));
        assert!(p.update(6));
        assert_eq!(p.inflight, [8]);
        assert!(!p.reject(5, 0), "stale rejection below the match");
        assert!(p.reject(8, 7));
        assert_eq!((p.state.clone(), p.next), (ProgressState::Probe, 8));
    }

    #[test]
    fn probe_waits_and_backs_off_by_hint() {
        let mut p = Progress::new(11);
        p.sent(10, 0);
        assert!(p.is_paused(8));
        assert!(!p.reject(7, 3), "not the outstanding probe");
        assert!(p.reject(10, 3));
        assert_eq!(p.next, 4);
        assert!(!p.is_paused(8));
    }
}
