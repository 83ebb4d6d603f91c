//! The core's tunables, with hashicorp/raft's defaults scaled down for
//! simulation, and the checks that refuse unsafe combinations.

use super::Millis;
use crate::bugs::{Bug, Bugs};
use serde::{Deserialize, Serialize};

/// Configuration of one Raft node. Times are on the node's own clock.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    /// This node's id.
    pub id: super::NodeId,
    /// Seeds the election-timeout randomisation. Give each node its own,
    /// well mixed ([`rng::node_seed`](super::rng::node_seed)): nodes
    /// sharing one small seed draw related timeouts.
    pub seed: u64,
    /// How often a leader sends heartbeats to idle followers.
    pub heartbeat_interval: Millis,
    /// The base election timeout `t`; each wait is drawn from `[t, 2t)`.
    pub election_timeout: Millis,
    /// How long a leader holds a freshly advanced commit index before it
    /// sends it to idle followers on its own.
    pub commit_timeout: Millis,
    /// Most entries in one AppendEntries.
    pub max_append_entries: usize,
    /// Most AppendEntries in flight to one follower while pipelining.
    pub max_inflight: usize,
    /// Largest InstallSnapshot chunk, in bytes.
    pub max_snapshot_chunk: usize,
    /// Run a pre-vote round before raising the term (thesis §9.6).
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum within an
    /// election timeout; followers then also ignore vote requests while they
    /// hear from a leader (leader stickiness).
    pub check_quorum: bool,
    /// Serve reads from a leader lease instead of a ReadIndex round. Only
    /// safe while no two clocks drift apart by more than a factor of
    /// `election_timeout / lease_duration()` (4/3 with the derived lease).
    pub lease_reads: bool,
    /// Entries applied since the last snapshot before the core asks for one.
    pub snapshot_threshold: u64,
    /// Entries kept in the log behind a snapshot, so a follower that is
    /// only a little behind catches up from the log rather than a snapshot.
    pub trailing_logs: u64,
    /// Planted bugs switched on (issue 8); none by default.
    pub bugs: Bugs,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            id: 0,
            seed: 0,
            heartbeat_interval: 50,
            election_timeout: 300,
            commit_timeout: 25,
            max_append_entries: 64,
            max_inflight: 8,
            max_snapshot_chunk: 64 * 1024,
            pre_vote: true,
            check_quorum: true,
            lease_reads: false,
            snapshot_threshold: 1024,
            trailing_logs: 256,
            bugs: Bugs::NONE,
        }
    }
}

/// Timeouts above this are refused so deadline arithmetic cannot overflow.
const MAX_TIMEOUT: Millis = 1 << 40;

impl Config {
    /// Refuse configurations that are meaningless or unsafe, with a
    /// sentence saying why.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("election_timeout", self.election_timeout),
            ("commit_timeout", self.commit_timeout),
            ("max_append_entries", self.max_append_entries as u64),
            ("max_inflight", self.max_inflight as u64),
            ("max_snapshot_chunk", self.max_snapshot_chunk as u64),
            ("snapshot_threshold", self.snapshot_threshold),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        for (name, value) in [
            ("heartbeat_interval", self.heartbeat_interval),
            ("election_timeout", self.election_timeout),
            ("commit_timeout", self.commit_timeout),
        ] {
            if value > MAX_TIMEOUT {
                return Err(format!("{name} of {value} ms is absurdly large"));
            }
        }
        if self.heartbeat_interval >= self.election_timeout {
            return Err(format!(
                "heartbeat_interval ({} ms) must be below election_timeout ({} ms), \
                 or followers time out between heartbeats",
                self.heartbeat_interval, self.election_timeout
            ));
        }
        if self.uses_lease() && !self.check_quorum {
            return Err(
                "lease reads need check_quorum: without leader stickiness a \
                        follower may elect a new leader while the old lease still runs"
                    .to_string(),
            );
        }
        Ok(())
    }

    /// Whether reads are served from the leader lease.
    pub fn uses_lease(&self) -> bool {
        self.lease_reads || self.bugs.has(Bug::LeaseOnSkewedClock)
    }

    /// How long after a quorum-acknowledged heartbeat was sent the leader
    /// may serve reads without another round: three quarters of the
    /// election timeout, because a follower refuses to vote for a full
    /// election timeout after hearing from its leader.
    pub fn lease_duration(&self) -> Millis {
        if self.bugs.has(Bug::LeaseOnSkewedClock) {
            3 * self.election_timeout
        } else {
            self.election_timeout - self.election_timeout / 4
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn unsafe_combinations_are_refused() {
        let c = Config {
            heartbeat_interval: 300,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("heartbeat_interval"));
        let c = Config {
            lease_reads: true,
            check_quorum: false,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("check_quorum"));
        let c = Config {
            max_inflight: 0,
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("max_inflight"));
    }

    #[test]
    fn lease_is_shorter_than_the_election_timeout_unless_the_bug_is_on() {
        let c = Config::default();
        assert!(c.lease_duration() < c.election_timeout);
        let c = Config {
            bugs: Bugs::only(Bug::LeaseOnSkewedClock),
            ..Config::default()
        };
        assert!(c.lease_duration() > c.election_timeout);
        c.validate().unwrap();
    }
}
