//! Single-server membership changes (Raft thesis §4.1): a configuration
//! takes effect when its entry is appended, one change is in flight at a
//! time, and a leader removed from the voters steps down once the change
//! is committed.

use super::message::ProposeError;
use super::progress::Progress;
use super::state::Raft;
use super::types::{ConfChange, Configuration, EntryPayload, Index, NodeId, Role, Term};
use super::Millis;
use crate::bugs::Bug;

/// The configuration `cc` makes of `config`, or why it cannot.
pub fn apply_change(config: &Configuration, cc: &ConfChange) -> Result<Configuration, String> {
    let mut next = config.clone();
    match *cc {
        ConfChange::AddVoter(id) => {
            if config.voters.contains(&id) {
                return Err(format!("{id} is already a voter"));
            }
            next.learners.remove(&id);
            next.voters.insert(id);
        }
        ConfChange::AddLearner(id) => {
            if config.contains(id) {
                return Err(format!("{id} is already a member"));
            }
            next.learners.insert(id);
        }
        ConfChange::Promote(id) => {
            if !next.learners.remove(&id) {
                return Err(format!("{id} is not a learner"));
            }
            next.voters.insert(id);
        }
        ConfChange::Remove(id) => {
            if !config.contains(id) {
                return Err(format!("{id} is not a member"));
            }
            next.voters.remove(&id);
            next.learners.remove(&id);
            if next.voters.is_empty() {
                return Err(format!("removing {id} would leave no voter"));
            }
        }
    }
    Ok(next)
}

impl Raft {
    /// Propose a single-server membership change. Refused while another
    /// change is uncommitted, before this leader has committed an entry of
    /// its own term, and during a leadership transfer.
    pub fn propose_conf_change(
        &mut self,
        cc: ConfChange,
        now: Millis,
    ) -> Result<(Term, Index), ProposeError> {
        self.advance_clock(now);
        self.check_can_propose()?;
        if !self.term_committed() {
            return Err(ProposeError::ConfChangeInProgress);
        }
        let pending = if self.config.bugs.has(Bug::ConcurrentConfigChanges) {
            false
        } else {
            self.membership_index > self.log.commit()
        };
        if pending {
            return Err(ProposeError::ConfChangeInProgress);
        }
        let next = apply_change(&self.membership, &cc).map_err(ProposeError::Invalid)?;
        Ok(self.append_new(EntryPayload::Config(next)))
    }

    /// Recompute the configuration from the log (the last Config entry),
    /// else the snapshot, else the bootstrap one; used after appends and
    /// truncations of Config entries, so a truncated uncommitted change
    /// gives way to the one before it. A leader's progress set follows.
    pub(crate) fn reload_membership(&mut self) {
        let from_log = self
            .log
            .entries()
            .iter()
            .rev()
            .find_map(|e| match &e.payload {
                EntryPayload::Config(c) => Some((c.clone(), e.index)),
                _ => None,
            });
        let (config, index) = from_log
            .or_else(|| self.snapshot.meta().map(|m| (m.config.clone(), m.index)))
            .unwrap_or_else(|| (self.bootstrap.clone(), 0));
        self.membership = config;
        self.membership_index = index;
        let id = self.config.id;
        let next = self.log.last_index() + 1;
        let members: Vec<NodeId> = self.membership.members().filter(|m| *m != id).collect();
        if let Some(ls) = &mut self.leader_state {
            ls.progress.retain(|m, _| members.contains(m));
            for m in members {
                ls.progress.entry(m).or_insert_with(|| Progress::new(next));
            }
        }
    }

    /// The configuration in force at `index` (the last one at or before
    /// it), for the metadata of a snapshot taken there. Falls back to the
    /// snapshot's configuration when the log no longer reaches back.
    pub fn config_at(&self, index: Index) -> Configuration {
        self.log
            .entries()
            .iter()
            .rev()
            .filter(|e| e.index <= index)
            .find_map(|e| match &e.payload {
                EntryPayload::Config(c) => Some(c.clone()),
                _ => None,
            })
            .or_else(|| {
                self.snapshot
                    .meta()
                    .filter(|m| m.index <= index)
                    .map(|m| m.config.clone())
            })
            .unwrap_or_else(|| self.bootstrap.clone())
    }

    /// A leader no longer among the voters leaves once that is committed,
    /// after telling the followers the commit index.
    pub(crate) fn maybe_step_down_removed(&mut self) {
        if self.role == Role::Leader
            && !self.is_voter()
            && self.membership_index <= self.log.commit()
        {
            for peer in self.peers() {
                self.send_heartbeat(peer);
            }
            self.become_follower(self.term, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_and_their_refusals() {
        let c = Configuration::with_voters([1, 2, 3]);
        let c2 = apply_change(&c, &ConfChange::AddLearner(4)).unwrap();
        assert!(c2.learners.contains(&4));
        let c3 = apply_change(&c2, &ConfChange::Promote(4)).unwrap();
        assert_eq!(c3.voters.len(), 4);
        assert!(apply_change(&c3, &ConfChange::Promote(4)).is_err());
        assert!(apply_change(&c, &ConfChange::AddVoter(1)).is_err());
        assert!(apply_change(&c, &ConfChange::Remove(9)).is_err());
        let solo = Configuration::with_voters([1]);
        assert!(apply_change(&solo, &ConfChange::Remove(1))
            .unwrap_err()
            .contains("no voter"));
        let c4 = apply_change(&c, &ConfChange::Remove(2)).unwrap();
        assert_eq!(c4, Configuration::with_voters([1, 3]));
    }
}
