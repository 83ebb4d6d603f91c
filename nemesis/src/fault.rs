//! The fault vocabulary: every fault the nemesis can inject, as plain data.
//!
//! Each fault names its targets as node ids (or as a role such as the
//! current leader, resolved when the fault is applied) and has exactly one
//! heal, described on each variant. A few faults are instantaneous and have
//! no heal: a bit flip cannot be undone and a leadership transfer is over
//! once it happens.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::partition::{Link, Partition};

/// A Raft node's id, as the cluster knows it.
pub type NodeId = u64;

/// Which nodes a fault hits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// These nodes, named when the schedule was made.
    Nodes(Vec<NodeId>),
    /// Whichever running (neither crashed nor paused) node leads with the
    /// highest term when the fault is applied. If no node leads, the fault is
    /// skipped and the skip is recorded in the history.
    Leader,
}

impl Target {
    /// A target of one named node.
    pub fn node(id: NodeId) -> Target {
        Target::Nodes(vec![id])
    }

    /// The nodes named in the schedule; empty for a role resolved later.
    pub fn named(&self) -> BTreeSet<NodeId> {
        match self {
            Target::Nodes(ids) => ids.iter().copied().collect(),
            Target::Leader => BTreeSet::new(),
        }
    }

    /// How many nodes the target hits once resolved.
    pub fn size(&self) -> usize {
        match self {
            Target::Nodes(ids) => ids.iter().collect::<BTreeSet<_>>().len(),
            Target::Leader => 1,
        }
    }
}

/// How much of the cluster a crash takes down. Only `Majority` and `All`
/// may leave the cluster without a quorum; schedule limits hold the others
/// to a minority of nodes down at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashScope {
    One,
    Minority,
    Majority,
    All,
}

/// What goes wrong with one node's disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DiskFault {
    /// Every fsync returns an error until healed.
    FsyncFail,
    /// Every write returns EIO until healed.
    WriteEio,
    /// Every I/O call blocks until healed.
    Stall,
    /// Writes that need new space fail with ENOSPC until healed (space returns).
    Full,
    /// Flip `flips` random bits in one stored file. Instantaneous and
    /// permanent: the node must notice and fail-stop, never serve bad data.
    BitFlip { file: StoredFile, flips: u32 },
}

/// Which of a node's durable files a bit flip lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoredFile {
    /// The Raft log (inside fsynced records, not the torn tail).
    Log,
    /// The stable state: current term and vote.
    Stable,
    /// The newest snapshot, if there is one.
    Snapshot,
}

/// A named point in a node's loop where an armed failpoint crashes it, as
/// etcd's robustness tests arm gofail points (`raftBeforeSave`,
/// `raftBeforeLeaderSend`, ...). Each is reached at most once per loop
/// turn, and only when the turn has work of that kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failpoint {
    /// Durable work (hard state, entries, a snapshot) is about to be
    /// written: the crash loses all of it.
    BeforeSave,
    /// That work is written and fsynced, and no message about it has gone
    /// out: the node keeps what nobody heard of.
    AfterSave,
    /// As leader, new entries are durable locally and about to be sent:
    /// they stay in the leader's log alone.
    BeforeLeaderSend,
    /// As leader, entries have just been handed to the transport: some
    /// followers may get them, nobody's acknowledgement is heard.
    AfterLeaderSend,
    /// Committed entries are about to be applied to the state machine.
    BeforeApply,
    /// A snapshot received from the leader is about to be stored.
    BeforeApplySnapshot,
}

impl Failpoint {
    /// Every point, in a fixed order.
    pub const ALL: [Failpoint; 6] = [
        Failpoint::BeforeSave,
        Failpoint::AfterSave,
        Failpoint::BeforeLeaderSend,
        Failpoint::AfterLeaderSend,
        Failpoint::BeforeApply,
        Failpoint::BeforeApplySnapshot,
    ];

    /// The name in schedules and reports.
    pub fn name(self) -> &'static str {
        match self {
            Failpoint::BeforeSave => "before-save",
            Failpoint::AfterSave => "after-save",
            Failpoint::BeforeLeaderSend => "before-leader-send",
            Failpoint::AfterLeaderSend => "after-leader-send",
            Failpoint::BeforeApply => "before-apply",
            Failpoint::BeforeApplySnapshot => "before-apply-snapshot",
        }
    }
}

impl std::fmt::Display for Failpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Failpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Failpoint, String> {
        Failpoint::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Failpoint::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown failpoint {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One fault. `#[serde(tag = "fault")]` keeps the JSON flat enough to edit
/// by hand: `{"fault": "pause", "targets": {"nodes": [2]}}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Drop every message on the cut's links. Heal: reconnect those links.
    Partition { cut: Partition },
    /// Hold (do not deliver, do not drop) messages on these directed links.
    /// Heal: release everything held, in order. A swizzle-clog is several
    /// one-link clogs injected one by one and healed in shuffled order.
    Clog { links: Vec<Link> },
    /// Add latency in `[min_latency_ms, max_latency_ms]` and drop a share
    /// `loss_permille / 1000` of messages on these directed links.
    /// Heal: back to the base network.
    Chaos {
        links: Vec<Link>,
        min_latency_ms: u64,
        max_latency_ms: u64,
        loss_permille: u32,
    },
    /// Kill the targets' processes; every write not yet fsynced is lost and,
    /// with `torn_block_bytes`, the last unsynced block may be half-written.
    /// Heal: restart them from their disks.
    Crash {
        targets: Target,
        scope: CrashScope,
        torn_block_bytes: Option<u32>,
    },
    /// Freeze the targets: no task runs and no timer fires, but sockets and
    /// disk stay. Heal: resume, with whatever stale beliefs they had.
    Pause { targets: Target },
    /// Jump the targets' clocks by `delta_ms` (negative: backwards).
    /// Heal: reset their clocks to true time at rate 1.
    ClockBump { targets: Target, delta_ms: i64 },
    /// Flip the targets' clocks between true time and true time plus
    /// `delta_ms` every `period_ms`. Heal: stop and reset.
    ClockStrobe {
        targets: Target,
        delta_ms: i64,
        period_ms: u64,
    },
    /// Run the targets' clocks at `rate_permille / 1000` of true speed.
    /// Heal: reset.
    ClockDrift { targets: Target, rate_permille: u32 },
    /// A disk fault on exactly one node. Heal: the disk behaves again; a node
    /// that fail-stopped because of it is restarted.
    Disk { target: Target, disk: DiskFault },
    /// Remove a voter from the configuration and stop it once the removal
    /// is committed (stopped sooner, it would still count in the quorum of
    /// the configuration that holds it); with `wipe` its disk is erased.
    /// Heal: add it back as `rejoin_as` (a fresh id when wiped, since a
    /// wiped node must never reuse its old identity).
    RemoveNode {
        node: NodeId,
        wipe: bool,
        rejoin_as: NodeId,
    },
    /// Start a new node `node` and add it as a non-voter; after
    /// `promote_after_ms` (if set) promote it to voter. Heal: remove it,
    /// and stop it once the removal is committed.
    AddNonVoter {
        node: NodeId,
        promote_after_ms: Option<u64>,
    },
    /// Ask the leader to hand leadership to `to` (or to the most up-to-date
    /// follower if `None`). Instantaneous.
    TransferLeadership { to: Option<NodeId> },
    /// Arm `point` on exactly one node: when the node next reaches it, it
    /// crashes there (unsynced writes lost, as with `Crash`). A node armed
    /// while a follower crashes there only if it reaches the point before
    /// the heal, e.g. a leader-only point once it wins an election.
    /// Heal: restart the node if it crashed, else disarm the point.
    Failpoint { target: Target, point: Failpoint },
}

/// The families a profile chooses between (`--nemesis partition,crash,...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    Partition,
    Clog,
    Network,
    Crash,
    Pause,
    Clock,
    Disk,
    Membership,
    Failpoint,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 9] = [
        FaultKind::Partition,
        FaultKind::Clog,
        FaultKind::Network,
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::Disk,
        FaultKind::Membership,
        FaultKind::Failpoint,
    ];

    /// The kinds `--nemesis all` means: every kind but `Failpoint`, which
    /// is opt-in. Adding it to `all` would redraw every `all` schedule,
    /// and with it the recorded seeds of the long control and of the
    /// regression tests replaying its finds.
    pub const IN_ALL: [FaultKind; 8] = [
        FaultKind::Partition,
        FaultKind::Clog,
        FaultKind::Network,
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::Disk,
        FaultKind::Membership,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Clog => "clog",
            FaultKind::Network => "network",
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::Clock => "clock",
            FaultKind::Disk => "disk",
            FaultKind::Membership => "membership",
            FaultKind::Failpoint => "failpoint",
        }
    }
}

impl Fault {
    /// The family this fault belongs to.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Partition { .. } => FaultKind::Partition,
            Fault::Clog { .. } => FaultKind::Clog,
            Fault::Chaos { .. } => FaultKind::Network,
            Fault::Crash { .. } => FaultKind::Crash,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::ClockBump { .. } | Fault::ClockStrobe { .. } | Fault::ClockDrift { .. } => {
                FaultKind::Clock
            }
            Fault::Disk { .. } => FaultKind::Disk,
            Fault::RemoveNode { .. }
            | Fault::AddNonVoter { .. }
            | Fault::TransferLeadership { .. } => FaultKind::Membership,
            Fault::Failpoint { .. } => FaultKind::Failpoint,
        }
    }

    /// Whether the fault is over as soon as it is applied (no heal follows).
    pub fn is_instant(&self) -> bool {
        matches!(
            self,
            Fault::Disk {
                disk: DiskFault::BitFlip { .. },
                ..
            } | Fault::TransferLeadership { .. }
        )
    }

    /// The history `f` of the inject event (Jepsen's nemesis `:f`).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Clog { .. } => "clog",
            Fault::Chaos { .. } => "chaos",
            Fault::Crash { .. } => "crash",
            Fault::Pause { .. } => "pause",
            Fault::ClockBump { .. } => "clock-bump",
            Fault::ClockStrobe { .. } => "clock-strobe",
            Fault::ClockDrift { .. } => "clock-drift",
            Fault::Disk { disk, .. } => match disk {
                DiskFault::FsyncFail => "disk-fsync-fail",
                DiskFault::WriteEio => "disk-eio",
                DiskFault::Stall => "disk-stall",
                DiskFault::Full => "disk-full",
                DiskFault::BitFlip { .. } => "disk-bitflip",
            },
            Fault::RemoveNode { .. } => "remove-node",
            Fault::AddNonVoter { .. } => "add-non-voter",
            Fault::TransferLeadership { .. } => "transfer-leadership",
            Fault::Failpoint { .. } => "failpoint",
        }
    }

    /// The history `f` of the heal event; `None` for instantaneous faults.
    pub fn heal_name(&self) -> Option<&'static str> {
        if self.is_instant() {
            return None;
        }
        Some(match self {
            Fault::Partition { .. } => "heal-partition",
            Fault::Clog { .. } => "release",
            Fault::Chaos { .. } => "calm",
            Fault::Crash { .. } => "restart",
            Fault::Pause { .. } => "resume",
            Fault::ClockBump { .. } | Fault::ClockStrobe { .. } | Fault::ClockDrift { .. } => {
                "clock-reset"
            }
            Fault::Disk { .. } => "disk-heal",
            Fault::RemoveNode { .. } => "rejoin",
            Fault::AddNonVoter { .. } => "remove-non-voter",
            Fault::Failpoint { .. } => "failpoint-heal",
            Fault::TransferLeadership { .. } => unreachable!("instant faults return early"),
        })
    }

    /// The target role or nodes of node-level faults (`None` for network faults).
    pub fn target(&self) -> Option<&Target> {
        match self {
            Fault::Crash { targets, .. }
            | Fault::Pause { targets }
            | Fault::ClockBump { targets, .. }
            | Fault::ClockStrobe { targets, .. }
            | Fault::ClockDrift { targets, .. } => Some(targets),
            Fault::Disk { target, .. } | Fault::Failpoint { target, .. } => Some(target),
            _ => None,
        }
    }

    /// The nodes the fault visibly hurts, as far as the schedule names them:
    /// the isolated or minority side of a partition, the endpoints of
    /// clogged or chaotic links, the crashed or paused nodes, and so on.
    /// Faults aimed at the leader name nobody here; whoever applies the
    /// schedule knows whom they hit.
    pub fn named_nodes(&self) -> BTreeSet<NodeId> {
        match self {
            Fault::Partition { cut } => cut.hurt_nodes(),
            Fault::Clog { links } | Fault::Chaos { links, .. } => {
                links.iter().flat_map(|l| [l.from, l.to]).collect()
            }
            Fault::RemoveNode { node, .. } | Fault::AddNonVoter { node, .. } => {
                BTreeSet::from([*node])
            }
            Fault::TransferLeadership { to } => to.iter().copied().collect(),
            other => other.target().map(Target::named).unwrap_or_default(),
        }
    }

    /// Whether the fault is aimed at whoever leads when it is applied.
    pub fn targets_leader(&self) -> bool {
        match self {
            Fault::Partition { cut } => cut.targets_leader(),
            other => matches!(other.target(), Some(Target::Leader)),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Leader => write!(f, "the leader"),
            Target::Nodes(ids) if ids.len() == 1 => write!(f, "node {}", ids[0]),
            Target::Nodes(ids) => {
                let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
                write!(f, "nodes {}", ids.join(", "))
            }
        }
    }
}

impl std::fmt::Display for Fault {
    /// One line for timelines and reports.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Partition { cut } => {
                let hurt: Vec<String> = cut.hurt_nodes().iter().map(u64::to_string).collect();
                if cut.targets_leader() {
                    write!(f, "partition: isolate the leader")
                } else {
                    write!(f, "partition ({}): cuts off {}", cut.shape_name(), hurt.join(", "))
                }
            }
            Fault::Clog { links } => write!(f, "clog {} links", links.len()),
            Fault::Chaos { links, min_latency_ms, max_latency_ms, loss_permille } => write!(
                f,
                "network chaos on {} links: {min_latency_ms}-{max_latency_ms} ms latency, {loss_permille}‰ loss",
                links.len()
            ),
            Fault::Crash { targets, scope, torn_block_bytes } => {
                write!(f, "crash {targets} ({scope:?})")?;
                match torn_block_bytes {
                    Some(b) => write!(f, ", torn {b}-byte blocks"),
                    None => Ok(()),
                }
            }
            Fault::Pause { targets } => write!(f, "pause {targets}"),
            Fault::ClockBump { targets, delta_ms } => write!(f, "bump the clock of {targets} by {delta_ms:+} ms"),
            Fault::ClockStrobe { targets, delta_ms, period_ms } => {
                write!(f, "strobe the clock of {targets} by {delta_ms:+} ms every {period_ms} ms")
            }
            Fault::ClockDrift { targets, rate_permille } => {
                write!(f, "run the clock of {targets} at {rate_permille}‰ speed")
            }
            Fault::Disk { target, disk } => match disk {
                DiskFault::BitFlip { file, flips } => write!(f, "flip {flips} bits in the {file:?} file of {target}"),
                _ => write!(f, "disk {} on {target}", self.name().trim_start_matches("disk-")),
            },
            Fault::RemoveNode { node, wipe: true, rejoin_as } => {
                write!(f, "remove node {node}, wipe it, rejoin as node {rejoin_as}")
            }
            Fault::RemoveNode { node, .. } => write!(f, "remove node {node}"),
            Fault::AddNonVoter { node, promote_after_ms } => match promote_after_ms {
                Some(ms) => write!(f, "add non-voter {node}, promote after {ms} ms"),
                None => write!(f, "add non-voter {node}"),
            },
            Fault::TransferLeadership { to: Some(n) } => write!(f, "transfer leadership to node {n}"),
            Fault::TransferLeadership { to: None } => write!(f, "transfer leadership"),
            Fault::Failpoint { target, point } => write!(f, "crash {target} at failpoint {point}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::Direction;

    #[test]
    fn faults_describe_themselves() {
        let crash = Fault::Crash {
            targets: Target::Nodes(vec![1, 3]),
            scope: CrashScope::Minority,
            torn_block_bytes: Some(512),
        };
        assert_eq!(
            crash.to_string(),
            "crash nodes 1, 3 (Minority), torn 512-byte blocks"
        );
        let cut = Fault::Partition {
            cut: Partition::isolate(2, Direction::Both),
        };
        assert_eq!(cut.to_string(), "partition (isolate): cuts off 2");
        let disk = Fault::Disk {
            target: Target::Leader,
            disk: DiskFault::Full,
        };
        assert_eq!(disk.to_string(), "disk full on the leader");
        assert_eq!(
            Fault::ClockBump {
                targets: Target::node(4),
                delta_ms: -30
            }
            .to_string(),
            "bump the clock of node 4 by -30 ms"
        );
    }

    #[test]
    fn instant_faults_have_no_heal() {
        let flip = Fault::Disk {
            target: Target::node(1),
            disk: DiskFault::BitFlip {
                file: StoredFile::Log,
                flips: 1,
            },
        };
        assert!(flip.is_instant() && flip.heal_name().is_none());
        assert_eq!(
            Fault::Pause {
                targets: Target::Leader
            }
            .heal_name(),
            Some("resume")
        );
    }
}
