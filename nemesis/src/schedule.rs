//! A schedule: faults and their heals at simulated times, as data that can
//! be written into a run's report, edited by hand and replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fault::{DiskFault, Fault, NodeId, Target};
use crate::limits::{MAX_LATENCY_MS, MAX_LOSS_PERMILLE, MAX_RATE_PERMILLE, MIN_RATE_PERMILLE};
use crate::members::Members;

/// Names one injected fault so its heal can refer to it.
pub type FaultId = u64;

/// What happens at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Inject { id: FaultId, fault: Fault },
    Heal { id: FaultId },
}

/// One step of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Item {
    /// Simulated milliseconds since the run started.
    pub at_ms: u64,
    pub action: Action,
}

/// Faults over time for a cluster that starts with `nodes`. Every fault
/// with a heal is healed by `end_ms`, when the heal phase begins.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schedule {
    /// The initial voters.
    pub nodes: Vec<NodeId>,
    /// When the fault phase ends and the heal phase begins.
    pub end_ms: u64,
    /// In time order.
    pub items: Vec<Item>,
}

/// Why a schedule is not usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleError {
    Json(String),
    EmptyCluster,
    OutOfOrder {
        index: usize,
        at_ms: u64,
        previous_ms: u64,
    },
    AfterEnd {
        index: usize,
        at_ms: u64,
        end_ms: u64,
    },
    DuplicateId(FaultId),
    HealOfUnknown {
        index: usize,
        id: FaultId,
    },
    HealOfInstant {
        index: usize,
        id: FaultId,
    },
    NeverHealed(FaultId),
    UnknownNode {
        id: FaultId,
        node: NodeId,
    },
    ReusedNodeId {
        id: FaultId,
        node: NodeId,
    },
    BadFault {
        id: FaultId,
        why: String,
    },
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::Json(e) => write!(f, "the schedule is not valid JSON for a schedule: {e}"),
            ScheduleError::EmptyCluster => write!(f, "the schedule names no nodes"),
            ScheduleError::OutOfOrder { index, at_ms, previous_ms } => write!(
                f,
                "item {index} is at {at_ms} ms, before the previous item at {previous_ms} ms; items must be in time order"
            ),
            ScheduleError::AfterEnd { index, at_ms, end_ms } => write!(
                f,
                "item {index} is at {at_ms} ms, after the fault phase ends at {end_ms} ms"
            ),
            ScheduleError::DuplicateId(id) => write!(f, "fault id {id} is injected twice"),
            ScheduleError::HealOfUnknown { index, id } => write!(
                f,
                "item {index} heals fault {id}, which is not active at that time"
            ),
            ScheduleError::HealOfInstant { index, id } => write!(
                f,
                "item {index} heals fault {id}, which is instantaneous and has no heal"
            ),
            ScheduleError::NeverHealed(id) => {
                write!(f, "fault {id} is never healed before the heal phase")
            }
            ScheduleError::UnknownNode { id, node } => {
                write!(f, "fault {id} names node {node}, which is not a member at that time")
            }
            ScheduleError::ReusedNodeId { id, node } => write!(
                f,
                "fault {id} brings in node id {node}, which was already used; new and wiped nodes need fresh ids"
            ),
            ScheduleError::BadFault { id, why } => write!(f, "fault {id}: {why}"),
        }
    }
}

impl std::error::Error for ScheduleError {}

impl Schedule {
    /// Parse and validate a schedule written as JSON.
    pub fn from_json(text: &str) -> Result<Schedule, ScheduleError> {
        let s: Schedule =
            serde_json::from_str(text).map_err(|e| ScheduleError::Json(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// A hand-written schedule over `nodes` ending at `end_ms`: fault `i`
    /// of `faults` (inject ms, heal ms if it has a heal, fault) gets id `i`.
    /// Items are ordered by time, heals before injects at the same
    /// millisecond, so a link or node freed at `t` can be faulted at `t`.
    pub fn scripted(
        nodes: Vec<NodeId>,
        end_ms: u64,
        faults: Vec<(u64, Option<u64>, Fault)>,
    ) -> Result<Schedule, ScheduleError> {
        let mut items = Vec::new();
        for (id, (at_ms, heal_ms, fault)) in (0..).zip(faults) {
            items.push(Item {
                at_ms,
                action: Action::Inject { id, fault },
            });
            if let Some(at_ms) = heal_ms {
                items.push(Item {
                    at_ms,
                    action: Action::Heal { id },
                });
            }
        }
        items.sort_by_key(|i| (i.at_ms, matches!(i.action, Action::Inject { .. })));
        let schedule = Schedule {
            nodes,
            end_ms,
            items,
        };
        schedule.validate()?;
        Ok(schedule)
    }

    /// Pretty JSON, one field per line, for reports and hand edits.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule always serialises")
    }

    /// The fault injected under `id`, if any.
    pub fn fault(&self, id: FaultId) -> Option<&Fault> {
        self.items.iter().find_map(|i| match &i.action {
            Action::Inject { id: j, fault } if *j == id => Some(fault),
            _ => None,
        })
    }

    /// Each fault with when it starts and when it is healed (equal for
    /// instantaneous faults), in injection order.
    pub fn intervals(&self) -> Vec<(FaultId, &Fault, u64, u64)> {
        let heals: BTreeMap<FaultId, u64> = self
            .items
            .iter()
            .filter_map(|i| match i.action {
                Action::Heal { id } => Some((id, i.at_ms)),
                _ => None,
            })
            .collect();
        self.items
            .iter()
            .filter_map(|i| match &i.action {
                Action::Inject { id, fault } => {
                    let end = if fault.is_instant() {
                        i.at_ms
                    } else {
                        heals.get(id).copied().unwrap_or(self.end_ms)
                    };
                    Some((*id, fault, i.at_ms, end))
                }
                Action::Heal { .. } => None,
            })
            .collect()
    }

    /// Check the structure: time order, ids, heals, node ids, parameter
    /// bounds. Safety limits (how much may be down at once) are checked by
    /// [`crate::limits::check`], since a hand-written schedule may break them
    /// on purpose.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.nodes.is_empty() {
            return Err(ScheduleError::EmptyCluster);
        }
        let mut members = Members::new(self.nodes.iter().copied());
        let mut used: BTreeSet<NodeId> = members.now().clone();
        let mut injected = BTreeSet::new();
        let mut active: BTreeMap<FaultId, &Fault> = BTreeMap::new();
        let mut previous_ms = 0;
        for (index, item) in self.items.iter().enumerate() {
            if item.at_ms < previous_ms {
                return Err(ScheduleError::OutOfOrder {
                    index,
                    at_ms: item.at_ms,
                    previous_ms,
                });
            }
            if item.at_ms > self.end_ms {
                return Err(ScheduleError::AfterEnd {
                    index,
                    at_ms: item.at_ms,
                    end_ms: self.end_ms,
                });
            }
            previous_ms = item.at_ms;
            match &item.action {
                Action::Inject { id, fault } => {
                    if !injected.insert(*id) {
                        return Err(ScheduleError::DuplicateId(*id));
                    }
                    check_fault(*id, fault, members.now(), &mut used)?;
                    members.inject(*id, fault);
                    if !fault.is_instant() {
                        active.insert(*id, fault);
                    }
                }
                Action::Heal { id } => match active.remove(id) {
                    Some(_) => members.heal(*id),
                    None if injected.contains(id)
                        && self.fault(*id).is_some_and(Fault::is_instant) =>
                    {
                        return Err(ScheduleError::HealOfInstant { index, id: *id })
                    }
                    None => return Err(ScheduleError::HealOfUnknown { index, id: *id }),
                },
            }
        }
        if let Some(id) = active.keys().next() {
            return Err(ScheduleError::NeverHealed(*id));
        }
        Ok(())
    }
}

fn check_fault(
    id: FaultId,
    fault: &Fault,
    members: &BTreeSet<NodeId>,
    used: &mut BTreeSet<NodeId>,
) -> Result<(), ScheduleError> {
    let bad = |why: String| Err(ScheduleError::BadFault { id, why });
    let known = |node: NodeId| {
        if members.contains(&node) {
            Ok(())
        } else {
            Err(ScheduleError::UnknownNode { id, node })
        }
    };
    if let Fault::Partition { cut } = fault {
        let member_list: Vec<NodeId> = members.iter().copied().collect();
        // Any member will do as a stand-in leader: only the named nodes are checked here.
        if let Err(e) = cut.links(&member_list, member_list.first().copied()) {
            return bad(e.to_string());
        }
    }
    if let Some(target) = fault.target() {
        if let Target::Nodes(ids) = target {
            if ids.is_empty() {
                return bad("the target names no nodes".into());
            }
            for &n in ids {
                known(n)?;
            }
        }
        if matches!(fault, Fault::Disk { .. }) && target.size() != 1 {
            return bad("a disk fault targets exactly one node".into());
        }
        if matches!(fault, Fault::Failpoint { .. }) && target.size() != 1 {
            return bad("a failpoint is armed on exactly one node".into());
        }
    }
    match fault {
        Fault::Clog { links } | Fault::Chaos { links, .. } => {
            if links.is_empty() {
                return bad("no links named".into());
            }
            for l in links {
                if l.from == l.to {
                    return bad(format!("link {}->{} is a self-loop", l.from, l.to));
                }
                known(l.from)?;
                known(l.to)?;
            }
        }
        Fault::RemoveNode {
            node,
            wipe,
            rejoin_as,
        } => {
            known(*node)?;
            if *wipe {
                if !used.insert(*rejoin_as) {
                    return Err(ScheduleError::ReusedNodeId {
                        id,
                        node: *rejoin_as,
                    });
                }
            } else if rejoin_as != node {
                return bad("a node removed without a wipe rejoins under its own id".into());
            }
        }
        Fault::AddNonVoter { node, .. } if !used.insert(*node) => {
            return Err(ScheduleError::ReusedNodeId { id, node: *node });
        }
        Fault::TransferLeadership { to: Some(n) } => known(*n)?,
        _ => {}
    }
    match fault {
        Fault::Chaos {
            min_latency_ms,
            max_latency_ms,
            loss_permille,
            ..
        } => {
            if min_latency_ms > max_latency_ms || *max_latency_ms > MAX_LATENCY_MS {
                return bad(format!(
                    "latency must satisfy min <= max <= {MAX_LATENCY_MS} ms, got {min_latency_ms}..{max_latency_ms}"
                ));
            }
            if *loss_permille > MAX_LOSS_PERMILLE {
                return bad(format!(
                    "loss {loss_permille}‰ is above the {MAX_LOSS_PERMILLE}‰ the transport is built to survive"
                ));
            }
        }
        Fault::ClockDrift { rate_permille, .. }
            if !(MIN_RATE_PERMILLE..=MAX_RATE_PERMILLE).contains(rate_permille) =>
        {
            return bad(format!(
                "clock rate {rate_permille}‰ is outside {MIN_RATE_PERMILLE}..={MAX_RATE_PERMILLE}‰"
            ));
        }
        Fault::ClockStrobe { period_ms: 0, .. } => return bad("a strobe period must be > 0".into()),
        Fault::Disk {
            disk: DiskFault::BitFlip { flips: 0, .. },
            ..
        } => return bad("a bit flip must flip at least one bit".into()),
        _ => {}
    }
    Ok(())
}
