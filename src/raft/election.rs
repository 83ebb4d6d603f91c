//! Leader election (Raft §5.2, §5.4.1) with the thesis' extensions:
//! pre-vote (§9.6), leader stickiness and check-quorum, plus the term rules
//! every message passes through first.

use super::message::Message;
use super::quorum::{self, VoteResult};
use super::state::Raft;
use super::types::{NodeId, Role, Term};
use crate::bugs::Bug;
use std::collections::BTreeMap;

impl Raft {
    /// Draw a fresh election deadline in `[t, 2t)` from now.
    pub(crate) fn reset_election_timer(&mut self) {
        let t = self.config.election_timeout;
        let wait = if self.config.bugs.has(Bug::FixedElectionTimeout) {
            t
        } else {
            t + self.rng.below(t)
        };
        self.election_due = self.now.saturating_add(wait);
    }

    /// Has this node heard from a leader within the minimum election
    /// timeout? Then a vote request is a disruption, not a need.
    pub(crate) fn in_leader_lease(&self) -> bool {
        if !self.config.check_quorum {
            return false;
        }
        if self.role == Role::Leader {
            return true;
        }
        self.leader_contact
            .is_some_and(|t| self.now < t.saturating_add(self.config.election_timeout))
    }

    pub(crate) fn tick_election(&mut self) {
        if self.now >= self.election_due {
            if self.is_voter() {
                self.campaign(false);
            } else {
                self.reset_election_timer();
            }
        }
    }

    /// Start an election: a pre-vote round first unless disabled or this is
    /// a leadership transfer.
    pub(crate) fn campaign(&mut self, transfer: bool) {
        let pre_vote = self.config.pre_vote && !transfer;
        let term = if pre_vote {
            self.become_pre_candidate();
            self.term + 1
        } else {
            self.become_candidate();
            self.term
        };
        if self.poll_votes() {
            return;
        }
        self.request_votes(term, pre_vote, transfer);
    }

    /// Ask every other voter for its (pre-)vote in `term`.
    fn request_votes(&mut self, term: Term, pre_vote: bool, transfer: bool) {
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        let id = self.config.id;
        let voters: Vec<NodeId> = self
            .membership
            .voters
            .iter()
            .copied()
            .filter(|v| *v != id)
            .collect();
        for v in voters {
            self.send(
                v,
                Message::RequestVote {
                    term,
                    pre_vote,
                    last_log_index,
                    last_log_term,
                    transfer,
                },
            );
        }
    }

    fn become_pre_candidate(&mut self) {
        self.leader_state_lost();
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes = BTreeMap::from([(self.config.id, true)]);
        self.reset_election_timer();
    }

    fn become_candidate(&mut self) {
        self.leader_state_lost();
        self.term += 1;
        self.vote = Some(self.config.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.leader_contact = None;
        self.votes = BTreeMap::from([(self.config.id, true)]);
        self.reset_election_timer();
    }

    /// Step down to follower in `term`. The vote is kept when the term does
    /// not change: one vote per term, whatever the role.
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if self.config.bugs.has(Bug::ForgetVoteOnStepDown) || term != self.term {
            self.vote = None;
        }
        self.term = term;
        self.leader_state_lost();
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        if leader.is_some() {
            self.leader_contact = Some(self.now);
        }
        self.reset_election_timer();
    }

    /// Tally the votes so far; true if the round is decided.
    fn poll_votes(&mut self) -> bool {
        match quorum::tally(&self.votes, &self.membership.voters, self.config.bugs) {
            VoteResult::Won => {
                if self.role == Role::PreCandidate {
                    // Pre-vote won: the real election, which increments the term.
                    self.campaign_after_pre_vote();
                } else {
                    self.become_leader();
                }
                true
            }
            VoteResult::Lost => {
                self.become_follower(self.term, None);
                true
            }
            VoteResult::Pending => false,
        }
    }

    fn campaign_after_pre_vote(&mut self) {
        self.become_candidate();
        if self.poll_votes() {
            return;
        }
        self.request_votes(self.term, false, false);
    }

    /// Raft §5.1: a newer term makes anyone a follower; an older one is
    /// answered so its sender learns, or ignored. Then the message goes to
    /// its handler.
    pub(crate) fn step_message(&mut self, from: NodeId, msg: Message) {
        let term = msg.term();
        if term > self.term {
            match msg {
                Message::RequestVote { transfer, .. } if !transfer && self.in_leader_lease() => {
                    // Stickiness: a live leader is known; this candidate is
                    // partitioned or behind. Neither its term nor its vote.
                    return;
                }
                // A pre-vote is a question about a future term, and a
                // granted pre-vote answers one: neither changes our term.
                Message::RequestVote { pre_vote: true, .. } => {}
                Message::VoteResponse {
                    pre_vote: true,
                    granted: true,
                    ..
                } => {}
                _ => {
                    let leader = msg.is_from_leader().then_some(from);
                    self.become_follower(term, leader);
                }
            }
        } else if term < self.term {
            match msg {
                Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => {
                    // A deposed leader: our term tells it so. Without this a
                    // node whose term rose while it was cut off could never
                    // rejoin under stickiness.
                    let t = self.term;
                    self.send(
                        from,
                        Message::AppendResponse {
                            term: t,
                            success: false,
                            index: 0,
                            hint_index: 0,
                            hint_term: 0,
                            read_ctx: 0,
                        },
                    );
                }
                Message::RequestVote { pre_vote: true, .. } => {
                    let t = self.term;
                    self.send(
                        from,
                        Message::VoteResponse {
                            term: t,
                            pre_vote: true,
                            granted: false,
                        },
                    );
                }
                _ => {}
            }
            return;
        }
        match msg {
            Message::RequestVote {
                term,
                pre_vote,
                last_log_index,
                last_log_term,
                ..
            } => self.handle_request_vote(from, term, pre_vote, last_log_index, last_log_term),
            Message::VoteResponse {
                term,
                pre_vote,
                granted,
            } => self.handle_vote_response(from, term, pre_vote, granted),
            Message::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_ctx,
                ..
            } => self.handle_append(
                from,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_ctx,
            ),
            Message::AppendResponse {
                success,
                index,
                hint_index,
                hint_term,
                read_ctx,
                ..
            } => self.handle_append_response(from, success, index, hint_index, hint_term, read_ctx),
            Message::InstallSnapshot {
                meta,
                offset,
                data,
                done,
                read_ctx,
                ..
            } => self.handle_install_snapshot(from, meta, offset, data, done, read_ctx),
            Message::SnapshotResponse {
                snapshot_index,
                next_offset,
                done,
                index,
                read_ctx,
                ..
            } => self.handle_snapshot_response(
                from,
                snapshot_index,
                next_offset,
                done,
                index,
                read_ctx,
            ),
            Message::TimeoutNow { .. } => self.handle_timeout_now(from),
        }
    }

    fn handle_request_vote(
        &mut self,
        from: NodeId,
        term: Term,
        pre_vote: bool,
        last_log_index: u64,
        last_log_term: Term,
    ) {
        // One vote per term; a pre-vote for a later term promises nothing.
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre_vote && term > self.term);
        let up_to_date = if self.config.bugs.has(Bug::VoteWithoutLogCheck) {
            true
        } else {
            self.log.is_up_to_date(last_log_index, last_log_term)
        };
        let granted = can_vote && up_to_date;
        if granted && !pre_vote {
            // Persisted with the next Ready, before the answer is sent.
            self.vote = Some(from);
            self.reset_election_timer();
        }
        let answer_term = if granted && pre_vote { term } else { self.term };
        self.send(
            from,
            Message::VoteResponse {
                term: answer_term,
                pre_vote,
                granted,
            },
        );
    }

    fn handle_vote_response(&mut self, from: NodeId, term: Term, pre_vote: bool, granted: bool) {
        let expected = match self.role {
            Role::PreCandidate if pre_vote => self.term + 1,
            Role::Candidate if !pre_vote => self.term,
            _ => return,
        };
        // A rejected pre-vote carries the voter's (equal) term.
        if granted && term != expected {
            return;
        }
        self.votes.entry(from).or_insert(granted);
        self.poll_votes();
    }

    fn handle_timeout_now(&mut self, from: NodeId) {
        if self.is_voter() && self.role != Role::Leader {
            let _ = from;
            self.campaign(true);
        }
    }
}
