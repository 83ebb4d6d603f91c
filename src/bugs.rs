//! The registry of planted bugs.
//!
//! Each variant is a small, faithful copy of a bug that shipped in a real
//! Raft system. A bug is a runtime switch (`--bug NAME`), off by default;
//! the code that honours it is a one-line branch at the exact site where
//! the real bug lived, so the correct path stays the default and readable.
//! The harness must find every one of them through its ordinary verdicts:
//! nothing outside that one branch knows which bug is on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bug {
    VoteWithoutLogCheck,
    ForgetVoteOnStepDown,
    VoteBeforePersist,
    CommitOldTermByCount,
    MinorityQuorum,
    TruncateOnEveryAppend,
    AckBeforeFsync,
    AckBeforeCommit,
    AckWrongEntry,
    LocalReads,
    ReadIndexBeforeTermCommit,
    LeaseOnSkewedClock,
    InstallStaleSnapshot,
    SessionsNotInSnapshot,
    NeverFsync,
    ConcurrentConfigChanges,
    NoSessionDedup,
    FixedElectionTimeout,
}

/// What the registry says of one bug.
#[derive(Clone, Copy, Debug)]
pub struct BugInfo {
    pub bug: Bug,
    pub name: &'static str,
    /// What the planted code does wrong.
    pub description: &'static str,
    /// The real-world bug it copies.
    pub origin: &'static str,
    /// The nemesis profile (`--nemesis`) expected to expose it.
    pub nemesis: &'static str,
    /// The whole run a user would choose to hunt it.
    pub hunt: HuntProfile,
}

/// The run that hunts one class of bug: plain run flags (`faultline run
/// --nemesis .. --nodes ..`), shown in the hunt table and repeated in each
/// repro command. `None` leaves a flag at its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HuntProfile {
    /// `--nemesis`: the fault families.
    pub nemesis: &'static str,
    /// `--nodes`.
    pub nodes: Option<usize>,
    /// `--clients`: more clients keep more writes in flight, so a leader
    /// cut off takes a longer tail of entries no quorum holds.
    pub clients: Option<usize>,
    /// `--nemesis-interval`, in ms: shorter packs more faults in a run.
    pub nemesis_interval_ms: Option<u64>,
    /// `--duration` of the fault phase, in ms.
    pub duration_ms: u64,
    /// `--snapshot-threshold`: low enough that compaction and
    /// InstallSnapshot happen within the run.
    pub snapshot_threshold: Option<u64>,
    /// `--admin-concurrency`: admin requests in flight at once, as when
    /// several operators change the membership together.
    pub admin_concurrency: Option<usize>,
    /// `--pre-vote`: `Some(false)` hunts with the pre-vote round off.
    pub pre_vote: Option<bool>,
    /// `--max-append-entries`: smaller batches stretch catch-up over
    /// more round trips.
    pub max_append_entries: Option<usize>,
    /// `--max-inflight`: fewer AppendEntries in flight per follower
    /// stretch catch-up over more round trips.
    pub max_inflight: Option<usize>,
    /// `--trailing-logs`: entries kept behind a snapshot; fewer send a
    /// lagging follower a snapshot sooner.
    pub trailing_logs: Option<u64>,
}

impl HuntProfile {
    /// The registry's default hunt: a 20 s fault phase of `nemesis` on
    /// the default cluster.
    pub const fn of(nemesis: &'static str) -> HuntProfile {
        HuntProfile {
            nemesis,
            nodes: None,
            clients: None,
            nemesis_interval_ms: None,
            duration_ms: 20_000,
            snapshot_threshold: None,
            admin_concurrency: None,
            pre_vote: None,
            max_append_entries: None,
            max_inflight: None,
            trailing_logs: None,
        }
    }
}

impl Bug {
    pub const ALL: [Bug; 18] = [
        Bug::VoteWithoutLogCheck,
        Bug::ForgetVoteOnStepDown,
        Bug::VoteBeforePersist,
        Bug::CommitOldTermByCount,
        Bug::MinorityQuorum,
        Bug::TruncateOnEveryAppend,
        Bug::AckBeforeFsync,
        Bug::AckBeforeCommit,
        Bug::AckWrongEntry,
        Bug::LocalReads,
        Bug::ReadIndexBeforeTermCommit,
        Bug::LeaseOnSkewedClock,
        Bug::InstallStaleSnapshot,
        Bug::SessionsNotInSnapshot,
        Bug::NeverFsync,
        Bug::ConcurrentConfigChanges,
        Bug::NoSessionDedup,
        Bug::FixedElectionTimeout,
    ];

    pub fn info(self) -> BugInfo {
        let (name, description, origin) = match self {
            Bug::VoteWithoutLogCheck => (
                "vote-without-log-check",
                "grant votes without the (last term, last index) up-to-date check",
                "Raft §5.4.1 election restriction; broken in several student and early production Rafts",
            ),
            Bug::ForgetVoteOnStepDown => (
                "forget-vote-on-step-down",
                "clear votedFor when stepping down within the same term, allowing a second vote",
                "etcd/raft and LogCabin vote-reset bugs on step-down",
            ),
            Bug::VoteBeforePersist => (
                "vote-before-persist",
                "answer RequestVote before term and vote are fsynced",
                "Raft Figure 2: persistent state is updated on stable storage before responding to RPCs",
            ),
            Bug::CommitOldTermByCount => (
                "commit-old-term-by-count",
                "commit entries of earlier terms by counting replicas (Raft Figure 8)",
                "Raft paper §5.4.2, Figure 8",
            ),
            Bug::MinorityQuorum => (
                "minority-quorum",
                "quorum is n/2 instead of n/2+1",
                "off-by-one quorum sizes in hand-rolled consensus code",
            ),
            Bug::TruncateOnEveryAppend => (
                "truncate-on-every-append",
                "a follower drops every entry after prevLogIndex on each AppendEntries",
                "Raft Figure 2 receiver rule 3 misread (truncate only on conflict)",
            ),
            Bug::AckBeforeFsync => (
                "ack-before-fsync",
                "a follower acknowledges appended entries before fsyncing them",
                "etcd and hashicorp/raft durability bugs found by ALICE-style crash testing",
            ),
            Bug::AckBeforeCommit => (
                "ack-before-commit",
                "the leader answers a client after its local append, before quorum commit",
                "early RethinkDB and Redis-Raft acknowledgement bugs found by Jepsen",
            ),
            Bug::AckWrongEntry => (
                "ack-wrong-entry",
                "complete a client's request when any entry at its log index is applied",
                "Jepsen's finding in several Raft KV stores: an overwritten entry acknowledged",
            ),
            Bug::LocalReads => (
                "local-reads",
                "the leader serves reads from local state without confirming leadership",
                "etcd stale reads (Jepsen 2014), Consul stale reads",
            ),
            Bug::ReadIndexBeforeTermCommit => (
                "read-index-before-term-commit",
                "serve ReadIndex before the new leader has committed an entry of its term",
                "etcd-io/raft ReadIndex before first commit; Raft thesis §6.4",
            ),
            Bug::LeaseOnSkewedClock => (
                "lease-on-skewed-clock",
                "serve lease reads with a lease longer than the election timeout",
                "leader leases under clock drift (Raft thesis §6.4.1; CockroachDB, TiKV)",
            ),
            Bug::InstallStaleSnapshot => (
                "install-stale-snapshot",
                "install a snapshot at or below the applied index",
                "hashicorp/raft stale InstallSnapshot after retries",
            ),
            Bug::SessionsNotInSnapshot => (
                "sessions-not-in-snapshot",
                "leave the client dedup table out of state-machine snapshots",
                "Raft thesis §6.3: session state must be part of the snapshot",
            ),
            Bug::NeverFsync => (
                "never-fsync",
                "never fsync the log",
                "misconfigured or missing fsync (e.g. LogCabin, Kafka unclean settings)",
            ),
            Bug::ConcurrentConfigChanges => (
                "concurrent-config-changes",
                "accept a membership change while another is still uncommitted",
                "Raft single-server change bug (Ongaro, raft-dev 2015)",
            ),
            Bug::NoSessionDedup => (
                "no-session-dedup",
                "apply a retried write again instead of answering from the session table",
                "Raft thesis §6.3, duplicated writes on client retry",
            ),
            Bug::FixedElectionTimeout => (
                "fixed-election-timeout",
                "no randomisation of the election timeout",
                "Raft §5.2 split votes forever (liveness)",
            ),
        };
        let hunt = self.hunt();
        BugInfo {
            bug: self,
            name,
            description,
            origin,
            nemesis: hunt.nemesis,
            hunt,
        }
    }

    /// The run that hunts this bug; see [`HuntProfile`]. Chosen the way a
    /// user would hunt the class of bug (the faults that expose it, a
    /// cluster and pace that make them bite), never by what the planted
    /// branch does.
    pub fn hunt(self) -> HuntProfile {
        let p = HuntProfile::of;
        match self {
            Bug::VoteWithoutLogCheck => p("crash,partition"),
            Bug::ForgetVoteOnStepDown => p("partition,crash"),
            Bug::VoteBeforePersist => p("crash"),
            // Figure 8 needs a leader lost between its election and its
            // first send, so a user arms the etcd failpoint for it, with
            // partitions that cut leaders off while they take writes (30
            // clients: a long tail no quorum holds), latency spikes, and
            // catch-up one entry per round trip (batch and pipeline of 1),
            // so a re-elected leader takes long to bring a lagging
            // follower its own entries. Three nodes: one lagging follower
            // is a quorum with the leader and with the node that lost.
            Bug::CommitOldTermByCount => HuntProfile {
                nodes: Some(3),
                clients: Some(30),
                nemesis_interval_ms: Some(300),
                max_append_entries: Some(1),
                max_inflight: Some(1),
                ..p("partition,network,failpoint:before-leader-send")
            },
            Bug::MinorityQuorum => p("partition"),
            Bug::TruncateOnEveryAppend => p("partition,crash"),
            Bug::AckBeforeFsync => p("crash"),
            Bug::AckBeforeCommit => p("crash,partition"),
            Bug::AckWrongEntry => p("partition"),
            // Leader isolations and pauses every second or so: each one is a
            // window in which a deposed leader may still answer reads.
            Bug::LocalReads => HuntProfile {
                nemesis_interval_ms: Some(1_000),
                ..p("partition,pause")
            },
            Bug::ReadIndexBeforeTermCommit => p("crash,partition"),
            // A small cluster whose leader is cut off, paused and has its
            // clock slowed or set back, a fault every second: each isolation
            // of a leader is a window in which a lease that outlives the
            // election timeout still vouches for a deposed leader.
            Bug::LeaseOnSkewedClock => HuntProfile {
                nodes: Some(3),
                nemesis_interval_ms: Some(1_000),
                ..p("clock,partition,pause")
            },
            // Snapshot catch-up hunted as a user would: compaction as
            // aggressive as the settings allow (a snapshot every 4 entries,
            // no trailing log kept behind it), so any follower a partition
            // or a crash leaves even slightly behind, or whose
            // acknowledgements are still in flight, is brought up by
            // InstallSnapshot rather than by the log.
            Bug::InstallStaleSnapshot => HuntProfile {
                snapshot_threshold: Some(4),
                trailing_logs: Some(0),
                ..p("crash,partition")
            },
            // Frequent snapshots, crashes that restart nodes from them, and
            // lossy links that lose replies so clients retry their writes.
            Bug::SessionsNotInSnapshot => HuntProfile {
                nemesis_interval_ms: Some(1_000),
                snapshot_threshold: Some(8),
                ..p("crash,network")
            },
            Bug::NeverFsync => p("crash"),
            // Membership bugs show where a configuration change meets a
            // split cluster, so a user churns the membership under
            // partitions: five nodes (room to replace one), a fault every
            // second, and several operators at once (a node replacement's
            // promotion and removal go out together, as etcd and Consul
            // operators issue them). No crashes: while nodes are held down
            // the nemesis makes no replacement (it keeps a quorum of every
            // configuration up), so crashes would thin out the changes
            // under test.
            Bug::ConcurrentConfigChanges => HuntProfile {
                nodes: Some(5),
                nemesis_interval_ms: Some(1_000),
                admin_concurrency: Some(3),
                ..p("membership,partition")
            },
            Bug::NoSessionDedup => p("crash,partition"),
            // Election liveness, hunted as a user would: pre-vote off (many
            // Rafts run without it), a three-node cluster, and long leader
            // isolations, during which the two others must elect a leader;
            // the availability check judges it while the fault lasts.
            Bug::FixedElectionTimeout => HuntProfile {
                nodes: Some(3),
                nemesis_interval_ms: Some(10_000),
                duration_ms: 30_000,
                pre_vote: Some(false),
                ..p("partition")
            },
        }
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Bug::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Bug::ALL.iter().map(|b| b.name()).collect();
                format!("unknown bug {s:?}; known bugs: {}", names.join(", "))
            })
    }
}

/// The set of bugs switched on for a run: a bit set, so it is `Copy` and
/// costs one test of a bit at each planted site.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bugs(u32);

impl Bugs {
    /// No bug: the correct build.
    pub const NONE: Bugs = Bugs(0);

    pub fn only(bug: Bug) -> Bugs {
        Bugs(1 << bug as u32)
    }

    pub fn with(self, bug: Bug) -> Bugs {
        Bugs(self.0 | 1 << bug as u32)
    }

    /// Is this bug switched on?
    #[inline]
    pub fn has(self, bug: Bug) -> bool {
        self.0 & (1 << bug as u32) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.into_iter().filter(move |b| self.has(*b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut names = std::collections::BTreeSet::new();
        for bug in Bug::ALL {
            assert_eq!(bug.name().parse::<Bug>().unwrap(), bug);
            assert!(names.insert(bug.name()));
        }
        assert!("no-such-bug"
            .parse::<Bug>()
            .unwrap_err()
            .contains("known bugs"));
    }

    #[test]
    fn bit_set() {
        let b = Bugs::only(Bug::MinorityQuorum).with(Bug::NeverFsync);
        assert!(b.has(Bug::MinorityQuorum) && b.has(Bug::NeverFsync));
        assert!(!b.has(Bug::LocalReads));
        assert_eq!(b.iter().count(), 2);
        assert!(Bugs::NONE.is_empty());
    }
}
