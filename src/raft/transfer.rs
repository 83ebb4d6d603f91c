//! Leadership transfer (Raft thesis §3.10): stop taking proposals, bring
//! the target up to date, then tell it to start an election at once.

use super::message::{Message, ProposeError};
use super::state::Raft;
use super::types::NodeId;
use super::Millis;

impl Raft {
    /// Hand leadership to the voter `to`. Proposals are refused until it
    /// takes over or an election timeout passes.
    pub fn transfer_leadership(&mut self, to: NodeId, now: Millis) -> Result<(), ProposeError> {
        self.advance_clock(now);
        self.check_can_propose()?;
        if to == self.config.id {
            return Err(ProposeError::Invalid(format!("{to} is already the leader")));
        }
        if !self.membership.voters.contains(&to) {
            return Err(ProposeError::Invalid(format!("{to} is not a voter")));
        }
        let deadline = self.now + self.config.election_timeout;
        if let Some(ls) = &mut self.leader_state {
            ls.transfer = Some((to, deadline));
        }
        self.flush_broadcast();
        self.maybe_finish_transfer(to);
        self.send_append(to, true);
        Ok(())
    }

    /// If `peer` is the transfer target and has the whole log, send it
    /// TimeoutNow.
    pub(crate) fn maybe_finish_transfer(&mut self, peer: NodeId) {
        let last = self.log.last_index();
        let Some(ls) = &self.leader_state else { return };
        if ls.transfer.is_some_and(|(to, _)| to == peer)
            && ls.progress.get(&peer).is_some_and(|p| p.matched == last)
        {
            let term = self.term;
            self.send(peer, Message::TimeoutNow { term });
        }
    }
}
