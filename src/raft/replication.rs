//! Log replication (Raft §5.3) and commitment (§5.4.2): the leader's side
//! (becoming leader, proposing, sending appends and heartbeats, reading the
//! answers, advancing the commit index over a quorum of voters) and the
//! follower's consistency check.

use super::message::{Message, ProposeError};
use super::progress::{Progress, ProgressState};
use super::quorum;
use super::state::{LeaderState, Raft};
use super::types::{Entry, EntryPayload, Index, NodeId, Role, Term};
use crate::bugs::Bug;
use std::collections::BTreeMap;

impl Raft {
    pub(crate) fn become_leader(&mut self) {
        debug_assert_eq!(self.role, Role::Candidate);
        self.role = Role::Leader;
        self.leader = Some(self.config.id);
        self.leader_contact = None;
        self.votes.clear();
        let next = self.log.last_index() + 1;
        let progress: BTreeMap<NodeId, Progress> = self
            .membership
            .members()
            .filter(|m| *m != self.config.id)
            .map(|m| (m, Progress::new(next)))
            .collect();
        self.leader_state = Some(LeaderState {
            progress,
            heartbeat_due: self.now + self.config.heartbeat_interval,
            check_quorum_due: self.now + self.config.election_timeout,
            commit_notify_due: None,
            transfer: None,
            broadcast_pending: false,
        });
        // Raft §8: an entry of the new term, so that earlier entries can be
        // committed and reads served.
        self.append_new(EntryPayload::Noop);
        self.flush_broadcast();
    }

    /// Leaving leadership (or a candidacy): forget the leader's bookkeeping
    /// and fail the reads that can no longer be confirmed.
    pub(crate) fn leader_state_lost(&mut self) {
        self.leader_state = None;
        self.reads.fail_all();
    }

    pub(crate) fn check_can_propose(&self) -> Result<(), ProposeError> {
        let Some(ls) = &self.leader_state else {
            return Err(ProposeError::NotLeader {
                leader: self.leader,
            });
        };
        if ls.transfer.is_some() {
            return Err(ProposeError::TransferInProgress);
        }
        Ok(())
    }

    /// Append a new entry at the leader; it is broadcast with the next
    /// `Ready` together with whatever else is proposed until then.
    pub(crate) fn append_new(&mut self, payload: EntryPayload) -> (Term, Index) {
        let index = self.log.last_index() + 1;
        let term = self.term;
        let is_config = matches!(payload, EntryPayload::Config(_));
        self.log.append([Entry {
            term,
            index,
            payload,
        }]);
        if is_config {
            self.reload_membership();
        }
        if let Some(ls) = &mut self.leader_state {
            ls.broadcast_pending = true;
        }
        // A single voter commits on its own fsync.
        self.maybe_commit();
        (term, index)
    }

    pub(crate) fn flush_broadcast(&mut self) {
        let pending = self
            .leader_state
            .as_mut()
            .is_some_and(|ls| std::mem::take(&mut ls.broadcast_pending));
        if pending {
            for peer in self.peers() {
                self.replicate_to(peer);
            }
        }
    }

    /// Send `peer` appends until its window is full or it has everything.
    pub(crate) fn replicate_to(&mut self, peer: NodeId) {
        for _ in 0..=self.config.max_inflight {
            if !self.send_append(peer, false) {
                break;
            }
        }
    }

    /// What this leader knows of `peer`'s log (`None` unless leading and
    /// `peer` is a member).
    pub(crate) fn progress(&self, peer: NodeId) -> Option<&Progress> {
        self.leader_state.as_ref()?.progress.get(&peer)
    }

    pub(crate) fn progress_mut(&mut self, peer: NodeId) -> Option<&mut Progress> {
        self.leader_state.as_mut()?.progress.get_mut(&peer)
    }

    pub(crate) fn peers(&self) -> Vec<NodeId> {
        self.leader_state
            .as_ref()
            .map(|ls| ls.progress.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Send `peer` what it is missing, if it is not paused. With `empty`, a
    /// message goes out even when there is nothing new (probe, heartbeat).
    /// Returns whether entries went out.
    pub(crate) fn send_append(&mut self, peer: NodeId, empty: bool) -> bool {
        let max_inflight = self.config.max_inflight;
        let Some(pr) = self.progress(peer) else {
            return false;
        };
        if matches!(pr.state, ProgressState::Snapshot { .. }) {
            return false;
        }
        if pr.is_paused(max_inflight) && !empty {
            return false;
        }
        let prev = pr.next - 1;
        let Some(prev_term) = self.log.term_at(prev) else {
            // Compacted away: only the snapshot can bring this follower on.
            self.start_snapshot(peer);
            return false;
        };
        let entries = if pr.is_paused(max_inflight) {
            Vec::new()
        } else {
            self.log.slice(pr.next, self.config.max_append_entries)
        };
        if entries.is_empty() && !empty {
            return false;
        }
        let count = entries.len();
        let last = prev + count as Index;
        let msg = Message::AppendEntries {
            term: self.term,
            prev_log_index: prev,
            prev_log_term: prev_term,
            entries,
            leader_commit: self.log.commit(),
            read_ctx: self.reads.round(),
        };
        self.send(peer, msg);
        if let Some(pr) = self.progress_mut(peer) {
            pr.sent(last, count);
        }
        count > 0
    }

    /// A heartbeat: an empty append at the last index known to match, so it
    /// always passes the consistency check and carries the commit index
    /// and the current read round.
    pub(crate) fn send_heartbeat(&mut self, peer: NodeId) {
        let Some(pr) = self.progress(peer) else {
            return;
        };
        let matched = pr.matched;
        let Some(prev_term) = self.log.term_at(matched) else {
            if let Some(pr) = self.progress_mut(peer) {
                pr.become_probe();
            }
            self.send_append(peer, true);
            return;
        };
        let msg = Message::AppendEntries {
            term: self.term,
            prev_log_index: matched,
            prev_log_term: prev_term,
            entries: Vec::new(),
            leader_commit: self.log.commit(),
            read_ctx: self.reads.round(),
        };
        self.send(peer, msg);
    }

    /// Heartbeat every peer: probes are re-sent, a pipeline that went quiet
    /// with appends outstanding falls back to probing (they were lost),
    /// snapshot chunks are re-sent.
    pub(crate) fn broadcast_heartbeat(&mut self) {
        for peer in self.peers() {
            let Some(pr) = self.progress_mut(peer) else {
                continue;
            };
            let responded = std::mem::replace(&mut pr.responded, false);
            let stalled = pr.matched == std::mem::replace(&mut pr.matched_at_heartbeat, pr.matched);
            match pr.state {
                ProgressState::Probe => {
                    pr.probe_sent = false;
                    self.send_append(peer, true);
                }
                ProgressState::Replicate => {
                    if !pr.inflight.is_empty() && stalled {
                        pr.become_probe();
                        self.send_append(peer, true);
                    } else {
                        self.send_heartbeat(peer);
                    }
                }
                ProgressState::Snapshot { .. } => {
                    if !responded {
                        self.send_snapshot_chunk(peer);
                    }
                }
            }
        }
    }

    pub(crate) fn tick_leader(&mut self) {
        let now = self.now;
        let Some(ls) = &self.leader_state else { return };
        let (hb_due, cq_due, commit_due, transfer) = (
            ls.heartbeat_due,
            ls.check_quorum_due,
            ls.commit_notify_due,
            ls.transfer,
        );
        if let Some((_, deadline)) = transfer {
            if now >= deadline {
                // The target did not take over in time: resume.
                if let Some(ls) = &mut self.leader_state {
                    ls.transfer = None;
                }
            }
        }
        if now >= cq_due {
            if let Some(ls) = &mut self.leader_state {
                ls.check_quorum_due = now + self.config.election_timeout;
            }
            if self.config.check_quorum && !self.quorum_active() {
                self.become_follower(self.term, None);
                return;
            }
        }
        if now >= hb_due {
            if let Some(ls) = &mut self.leader_state {
                ls.heartbeat_due = now + self.config.heartbeat_interval;
                ls.commit_notify_due = None;
            }
            self.reads.new_round(now);
            self.broadcast_heartbeat();
        } else if commit_due.is_some_and(|d| now >= d) {
            if let Some(ls) = &mut self.leader_state {
                ls.commit_notify_due = None;
            }
            for peer in self.peers() {
                let sending_snapshot = self
                    .progress(peer)
                    .is_some_and(|pr| matches!(pr.state, ProgressState::Snapshot { .. }));
                if !sending_snapshot {
                    self.send_heartbeat(peer);
                }
            }
        }
    }

    /// Check-quorum: has a quorum of voters (this leader included) been
    /// heard from since the last round? Resets the marks.
    fn quorum_active(&mut self) -> bool {
        let id = self.config.id;
        let voters = self.membership.voters.clone();
        let bugs = self.config.bugs;
        let Some(ls) = &mut self.leader_state else {
            return false;
        };
        let active = voters
            .iter()
            .filter(|v| **v == id || ls.progress.get(v).is_some_and(|p| p.recent_active))
            .count();
        for pr in ls.progress.values_mut() {
            pr.recent_active = false;
        }
        active >= quorum::size(voters.len(), bugs)
    }

    /// Follower side of AppendEntries (Raft Figure 2, receiver rules 1-5).
    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        prev: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
        read_ctx: u64,
    ) {
        self.accept_leader(from);
        let term = self.term;
        let reply = |success: bool, index: Index, hint: (Index, Term)| Message::AppendResponse {
            term,
            success,
            index,
            hint_index: hint.0,
            hint_term: hint.1,
            read_ctx,
        };
        if prev < self.log.commit() {
            // Everything up to our commit index matches any leader's log;
            // answer with it and let the leader continue from there.
            let commit = self.log.commit();
            self.send(from, reply(true, commit, (0, 0)));
            return;
        }
        if !self.log.matches(prev, prev_term) {
            let hint = self.log.find_conflict_by_term(prev, prev_term);
            self.send(from, reply(false, prev, hint));
            return;
        }
        let last_new = prev + entries.len() as Index;
        // Truncate only from the first entry that really conflicts: a
        // delayed or duplicated append must not cut off newer entries.
        let first_new = if self.config.bugs.has(Bug::TruncateOnEveryAppend) {
            entries.first().map_or(prev + 1, |e| e.index)
        } else {
            entries
                .iter()
                .find(|e| !self.log.matches(e.index, e.term))
                .map_or(last_new + 1, |e| e.index)
        };
        if first_new <= self.log.last_index()
            && (first_new <= last_new || self.config.bugs.has(Bug::TruncateOnEveryAppend))
        {
            self.log.truncate_from(first_new);
            self.reload_membership();
        }
        let skip = (first_new - prev - 1) as usize;
        let appended: Vec<Entry> = entries.into_iter().skip(skip).collect();
        let has_config = appended
            .iter()
            .any(|e| matches!(e.payload, EntryPayload::Config(_)));
        self.log.append(appended);
        if has_config {
            self.reload_membership();
        }
        // Only what this message verified may be committed.
        self.log.commit_to(leader_commit.min(last_new));
        self.send(from, reply(true, last_new, (0, 0)));
    }

    /// A message from the leader of our term: follow it and stay quiet.
    pub(crate) fn accept_leader(&mut self, from: NodeId) {
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(from));
        } else {
            self.leader = Some(from);
            self.leader_contact = Some(self.now);
            self.reset_election_timer();
        }
    }

    pub(crate) fn handle_append_response(
        &mut self,
        from: NodeId,
        success: bool,
        index: Index,
        hint_index: Index,
        hint_term: Term,
        read_ctx: u64,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let match_hint = if success {
            0
        } else {
            self.log.find_conflict_by_term(hint_index, hint_term).0
        };
        let Some(pr) = self.progress_mut(from) else {
            return;
        };
        pr.heard_from(read_ctx);
        if success {
            let news = pr.update(index);
            if pr.state == ProgressState::Probe {
                // The follower matched: start pipelining.
                pr.become_replicate();
            }
            if news {
                self.maybe_commit();
                self.maybe_finish_transfer(from);
            }
            self.replicate_to(from);
        } else if pr.reject(index, match_hint) {
            self.send_append(from, true);
        }
        self.confirm_reads();
    }

    /// Advance the commit index to the highest index a quorum of voters
    /// holds durably, if that entry is of this leader's term (Figure 8).
    pub(crate) fn maybe_commit(&mut self) {
        let Some(ls) = &self.leader_state else { return };
        let id = self.config.id;
        let matches: Vec<Index> = self
            .membership
            .voters
            .iter()
            .map(|v| {
                if *v == id {
                    self.log.persisted()
                } else {
                    ls.progress.get(v).map_or(0, |p| p.matched)
                }
            })
            .collect();
        let n = quorum::committed_index(matches, self.config.bugs);
        if n <= self.log.commit() {
            return;
        }
        let countable = if self.config.bugs.has(Bug::CommitOldTermByCount) {
            true
        } else {
            self.log.term_at(n) == Some(self.term)
        };
        if countable && self.log.commit_to(n) {
            self.on_commit_advanced();
        }
    }

    fn on_commit_advanced(&mut self) {
        let now = self.now;
        let timeout = self.config.commit_timeout;
        if let Some(ls) = &mut self.leader_state {
            ls.commit_notify_due.get_or_insert(now + timeout);
        }
        self.confirm_reads();
        self.maybe_step_down_removed();
    }
}
