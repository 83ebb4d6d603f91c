//! A schedule moved onto a smaller cluster, for shrinking a failing run.
//!
//! Clusters are numbered `1..=n` and faults name nodes, so a schedule for
//! five nodes is meaningless for three until every fault is renumbered.
//! The nodes the faults name are kept first (they are what the failure is
//! about), then the lowest others; the kept nodes are renumbered `1..=n`
//! in their old order. A fault that loses what it acts on (its only
//! target, every link, one side of a cut) is dropped with its heal, and a
//! fault sized for the old cluster (a minority, a majority, all nodes) is
//! resized for the new one.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use crate::fault::{CrashScope, Fault, NodeId, Target};
use crate::limits::{down_of, Down};
use crate::members::Members;
use crate::partition::{majority, minority, Link, Partition};
use crate::schedule::{Action, FaultId, Item, Schedule};

/// A schedule restricted to a smaller cluster, and how it got there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restricted {
    pub schedule: Schedule,
    /// Old id to new id, for the initial voters kept and the fresh ids
    /// (rejoining wiped nodes, added non-voters) of the faults kept.
    pub renumbered: BTreeMap<NodeId, NodeId>,
    /// Faults dropped because nothing meaningful was left of them.
    pub dropped: Vec<FaultId>,
}

impl Schedule {
    /// This schedule on the cluster `1..=n`; see the [module docs](self).
    /// Fresh ids the faults bring in become `n + 1, n + 2, ...` in order.
    pub fn restrict_to(&self, n: usize) -> Restricted {
        let kept = self.nodes_to_keep(n);
        let mut renumbered: BTreeMap<NodeId, NodeId> =
            kept.iter().zip(1..).map(|(&old, new)| (old, new)).collect();
        let mut next_fresh = n as NodeId + 1;
        let mut dropped = Vec::new();
        let mut items = Vec::new();
        // The members of the new cluster as the kept faults change them.
        let mut members = Members::new(1..=n as NodeId);
        for item in &self.items {
            match &item.action {
                Action::Inject { id, fault } => {
                    // Fresh ids count only if the fault that brings them in stays.
                    let mut with_fresh = renumbered.clone();
                    let mut fresh = next_fresh;
                    for old in fresh_ids(fault) {
                        if let Entry::Vacant(e) = with_fresh.entry(old) {
                            e.insert(fresh);
                            fresh += 1;
                        }
                    }
                    match resize(fault, n, &with_fresh, members.now()) {
                        Some(f) => {
                            renumbered = with_fresh;
                            next_fresh = fresh;
                            members.inject(*id, &f);
                            items.push(Item {
                                at_ms: item.at_ms,
                                action: Action::Inject { id: *id, fault: f },
                            });
                        }
                        None => dropped.push(*id),
                    }
                }
                Action::Heal { id } => {
                    members.heal(*id);
                    if !dropped.contains(id) {
                        items.push(item.clone());
                    }
                }
            }
        }
        Restricted {
            schedule: Schedule {
                nodes: (1..=n as NodeId).collect(),
                end_ms: self.end_ms,
                items,
            },
            renumbered,
            dropped,
        }
    }

    /// The `n` initial voters to keep, ascending: those the faults name,
    /// in order of first mention, then the lowest others.
    fn nodes_to_keep(&self, n: usize) -> Vec<NodeId> {
        let voters: BTreeSet<NodeId> = self.nodes.iter().copied().collect();
        let mut order: Vec<NodeId> = Vec::new();
        let mentioned = self.items.iter().filter_map(|i| match &i.action {
            Action::Inject { fault, .. } => Some(mentions(fault)),
            Action::Heal { .. } => None,
        });
        for node in mentioned.flatten().chain(voters.iter().copied()) {
            if voters.contains(&node) && !order.contains(&node) {
                order.push(node);
            }
        }
        order.truncate(n);
        order.sort_unstable();
        order
    }
}

/// Every node id a fault names, in the order it names them.
fn mentions(fault: &Fault) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut note = |id: NodeId| {
        out.push(id);
        Some(id)
    };
    map_ids(fault, &mut note);
    out
}

/// The ids a kept fault brings into the cluster for the first time.
fn fresh_ids(fault: &Fault) -> Vec<NodeId> {
    match fault {
        Fault::RemoveNode {
            wipe: true,
            rejoin_as,
            ..
        } => vec![*rejoin_as],
        Fault::AddNonVoter { node, .. } => vec![*node],
        _ => vec![],
    }
}

/// Renumber every node id of `fault` through `f` (`None`: the node is
/// gone), keeping the structure. Returns `None` when a node that cannot
/// be left out (an isolated node, a bridge, a removed node) is gone.
fn map_ids(fault: &Fault, f: &mut impl FnMut(NodeId) -> Option<NodeId>) -> Option<Fault> {
    let mut list = |ids: &[NodeId]| ids.iter().filter_map(|&id| f(id)).collect::<Vec<_>>();
    Some(match fault {
        Fault::Partition { cut } => Fault::Partition {
            cut: match cut {
                Partition::Isolate { node, direction } => Partition::Isolate {
                    node: list(&[*node]).pop()?,
                    direction: *direction,
                },
                Partition::IsolateLeader { direction } => Partition::IsolateLeader {
                    direction: *direction,
                },
                Partition::Halves {
                    minority,
                    direction,
                } => Partition::Halves {
                    minority: list(minority),
                    direction: *direction,
                },
                Partition::MinorityThird {
                    minority,
                    direction,
                } => Partition::MinorityThird {
                    minority: list(minority),
                    direction: *direction,
                },
                Partition::MajoritiesRing { ring } => {
                    Partition::MajoritiesRing { ring: list(ring) }
                }
                Partition::Bridge {
                    left,
                    bridge,
                    right,
                } => {
                    let left = list(left);
                    let bridge = list(&[*bridge]).pop()?;
                    let right = list(right);
                    Partition::Bridge {
                        left,
                        bridge,
                        right,
                    }
                }
            },
        },
        Fault::Clog { links } => Fault::Clog {
            links: map_links(links, f),
        },
        Fault::Chaos {
            links,
            min_latency_ms,
            max_latency_ms,
            loss_permille,
        } => Fault::Chaos {
            links: map_links(links, f),
            min_latency_ms: *min_latency_ms,
            max_latency_ms: *max_latency_ms,
            loss_permille: *loss_permille,
        },
        Fault::Crash {
            targets,
            scope,
            torn_block_bytes,
        } => Fault::Crash {
            targets: map_target(targets, f),
            scope: *scope,
            torn_block_bytes: *torn_block_bytes,
        },
        Fault::Pause { targets } => Fault::Pause {
            targets: map_target(targets, f),
        },
        Fault::ClockBump { targets, delta_ms } => Fault::ClockBump {
            targets: map_target(targets, f),
            delta_ms: *delta_ms,
        },
        Fault::ClockStrobe {
            targets,
            delta_ms,
            period_ms,
        } => Fault::ClockStrobe {
            targets: map_target(targets, f),
            delta_ms: *delta_ms,
            period_ms: *period_ms,
        },
        Fault::ClockDrift {
            targets,
            rate_permille,
        } => Fault::ClockDrift {
            targets: map_target(targets, f),
            rate_permille: *rate_permille,
        },
        Fault::Disk { target, disk } => Fault::Disk {
            target: map_target(target, f),
            disk: disk.clone(),
        },
        Fault::RemoveNode {
            node,
            wipe,
            rejoin_as,
        } => {
            let node = f(*node)?;
            let rejoin_as = if *wipe { f(*rejoin_as)? } else { node };
            Fault::RemoveNode {
                node,
                wipe: *wipe,
                rejoin_as,
            }
        }
        Fault::AddNonVoter {
            node,
            promote_after_ms,
        } => Fault::AddNonVoter {
            node: f(*node)?,
            promote_after_ms: *promote_after_ms,
        },
        Fault::TransferLeadership { to: None } => Fault::TransferLeadership { to: None },
        Fault::TransferLeadership { to: Some(n) } => Fault::TransferLeadership { to: Some(f(*n)?) },
        Fault::Failpoint { target, point } => Fault::Failpoint {
            target: map_target(target, f),
            point: *point,
        },
    })
}

fn map_links(links: &[Link], f: &mut impl FnMut(NodeId) -> Option<NodeId>) -> Vec<Link> {
    links
        .iter()
        .filter_map(|l| Some(Link::new(f(l.from)?, f(l.to)?)))
        .collect()
}

fn map_target(target: &Target, f: &mut impl FnMut(NodeId) -> Option<NodeId>) -> Target {
    match target {
        Target::Nodes(ids) => Target::Nodes(ids.iter().filter_map(|&id| f(id)).collect()),
        Target::Leader => Target::Leader,
    }
}

/// `fault` renumbered through `map` and sized for a cluster of `n` whose
/// members are now `members`, or `None` if nothing meaningful is left of it.
fn resize(
    fault: &Fault,
    n: usize,
    map: &BTreeMap<NodeId, NodeId>,
    members: &BTreeSet<NodeId>,
) -> Option<Fault> {
    let mut f = map_ids(fault, &mut |id| map.get(&id).copied())?;
    let (most_down, quorum) = (minority(n), majority(n));
    let alive = match &mut f {
        Fault::Partition { cut } => match cut {
            Partition::Isolate { .. } | Partition::IsolateLeader { .. } => n >= 2,
            // Still a minority of the voters against a majority of the
            // smaller cluster. Newcomers (ids above `n`) do not count: a
            // replacement's halves put the new server beside a minority.
            Partition::Halves { minority, .. } | Partition::MinorityThird { minority, .. } => {
                let mut voters = 0;
                minority.retain(|&id| {
                    voters += usize::from(id <= n as NodeId);
                    id > n as NodeId || voters <= most_down
                });
                !minority.is_empty()
            }
            Partition::MajoritiesRing { ring } => ring.len() >= 3,
            Partition::Bridge { left, right, .. } => !left.is_empty() && !right.is_empty(),
        },
        Fault::Clog { links } | Fault::Chaos { links, .. } => !links.is_empty(),
        Fault::Crash {
            targets: Target::Nodes(ids),
            scope,
            ..
        } => {
            match scope {
                CrashScope::One | CrashScope::Minority => ids.truncate(most_down),
                // A majority short of everyone, as the generator draws it.
                CrashScope::Majority => {
                    fill_from_lowest(ids, quorum, members);
                    ids.truncate(quorum.max(n.saturating_sub(1)).min(n));
                    ids.sort_unstable();
                }
                CrashScope::All => *ids = members.iter().copied().collect(),
            }
            !ids.is_empty()
        }
        // At most a minority paused, as for any fault that takes nodes down.
        Fault::Pause {
            targets: Target::Nodes(ids),
        } => {
            ids.truncate(most_down);
            !ids.is_empty()
        }
        other => match other.target() {
            Some(Target::Nodes(ids)) => !ids.is_empty(),
            _ => true,
        },
    };
    // A cluster too small to have a minority cannot lose any node.
    let fits = most_down > 0 || matches!(down_of(&f), Down::None | Down::Quorum);
    (alive && fits).then_some(f)
}

/// Add the lowest of `members` not in `ids` until it has `want`.
fn fill_from_lowest(ids: &mut Vec<NodeId>, want: usize, members: &BTreeSet<NodeId>) {
    for &id in members {
        if ids.len() >= want {
            break;
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::DiskFault;
    use crate::generate::generate;
    use crate::partition::Direction;
    use crate::profile::Profile;

    fn inject(at_ms: u64, id: FaultId, fault: Fault) -> Item {
        Item {
            at_ms,
            action: Action::Inject { id, fault },
        }
    }

    fn heal(at_ms: u64, id: FaultId) -> Item {
        Item {
            at_ms,
            action: Action::Heal { id },
        }
    }

    fn five(items: Vec<Item>) -> Schedule {
        let s = Schedule {
            nodes: vec![1, 2, 3, 4, 5],
            end_ms: 1_000,
            items,
        };
        s.validate().unwrap();
        s
    }

    fn crash(ids: &[NodeId], scope: CrashScope) -> Fault {
        Fault::Crash {
            targets: Target::Nodes(ids.to_vec()),
            scope,
            torn_block_bytes: None,
        }
    }

    fn halves(minority: &[NodeId]) -> Fault {
        Fault::Partition {
            cut: Partition::Halves {
                minority: minority.to_vec(),
                direction: Direction::Both,
            },
        }
    }

    #[test]
    fn keeps_the_named_nodes_and_renumbers_them_in_order() {
        let s = five(vec![
            inject(10, 0, halves(&[1, 5])),
            inject(20, 1, crash(&[5], CrashScope::One)),
            heal(30, 1),
            heal(40, 0),
        ]);
        let r = s.restrict_to(3);
        assert_eq!(r.renumbered, BTreeMap::from([(1, 1), (2, 2), (5, 3)]));
        assert!(r.dropped.is_empty());
        // The minority side stays a minority of three: one node.
        assert_eq!(r.schedule.fault(0), Some(&halves(&[1])));
        assert_eq!(r.schedule.fault(1), Some(&crash(&[3], CrashScope::One)));
        assert_eq!(r.schedule.nodes, vec![1, 2, 3]);
        assert_eq!(r.schedule.items.len(), 4);
        r.schedule.validate().unwrap();
        assert!(crate::limits::check(&r.schedule).is_empty());
    }

    #[test]
    fn drops_faults_left_with_nothing_to_act_on_and_their_heals() {
        let s = five(vec![
            inject(0, 0, crash(&[1, 2], CrashScope::Minority)),
            heal(5, 0),
            inject(
                10,
                1,
                Fault::Partition {
                    cut: Partition::isolate(4, Direction::Inbound),
                },
            ),
            inject(
                20,
                2,
                Fault::Pause {
                    targets: Target::node(3),
                },
            ),
            inject(
                25,
                3,
                Fault::Clog {
                    links: vec![Link::new(3, 5), Link::new(5, 3)],
                },
            ),
            inject(
                26,
                4,
                Fault::Clog {
                    links: vec![Link::new(3, 4), Link::new(1, 4)],
                },
            ),
            inject(27, 5, Fault::TransferLeadership { to: Some(5) }),
            heal(30, 2),
            heal(30, 3),
            heal(30, 4),
            heal(40, 1),
        ]);
        let r = s.restrict_to(3);
        assert_eq!(r.renumbered, BTreeMap::from([(1, 1), (2, 2), (4, 3)]));
        assert_eq!(r.dropped, vec![2, 3, 5]);
        // Two crashed of three is no longer a minority: one stays crashed.
        assert_eq!(
            r.schedule.fault(0),
            Some(&crash(&[1], CrashScope::Minority))
        );
        assert_eq!(
            r.schedule.fault(1),
            Some(&Fault::Partition {
                cut: Partition::isolate(3, Direction::Inbound)
            })
        );
        assert_eq!(
            r.schedule.fault(4),
            Some(&Fault::Clog {
                links: vec![Link::new(1, 3)]
            })
        );
        let heals: Vec<FaultId> = r
            .schedule
            .items
            .iter()
            .filter_map(|i| match i.action {
                Action::Heal { id } => Some(id),
                Action::Inject { .. } => None,
            })
            .collect();
        assert_eq!(heals, vec![0, 4, 1]);
        r.schedule.validate().unwrap();

        // One node: nothing can be cut off from anyone.
        let one = s.restrict_to(1);
        assert_eq!(one.schedule.nodes, vec![1]);
        assert_eq!(one.dropped, vec![0, 1, 2, 3, 4, 5]);
        assert!(one.schedule.items.is_empty());
    }

    #[test]
    fn quorum_crashes_and_shapes_are_resized() {
        let s = five(vec![
            inject(0, 0, crash(&[2, 3, 4], CrashScope::Majority)),
            heal(10, 0),
            inject(20, 1, crash(&[1, 2, 3, 4, 5], CrashScope::All)),
            heal(30, 1),
            inject(
                40,
                2,
                Fault::Partition {
                    cut: Partition::Bridge {
                        left: vec![1, 5],
                        bridge: 2,
                        right: vec![3, 4],
                    },
                },
            ),
            heal(50, 2),
        ]);
        let r = s.restrict_to(3);
        assert_eq!(r.renumbered, BTreeMap::from([(2, 1), (3, 2), (4, 3)]));
        assert_eq!(
            r.schedule.fault(0),
            Some(&crash(&[1, 2], CrashScope::Majority))
        );
        assert_eq!(
            r.schedule.fault(1),
            Some(&crash(&[1, 2, 3], CrashScope::All))
        );
        // Node 1 was not kept: the bridge lost its left side and is dropped.
        assert_eq!(r.dropped, vec![2]);
        r.schedule.validate().unwrap();
        assert!(crate::limits::check(&r.schedule).is_empty());
    }

    #[test]
    fn fresh_ids_follow_the_new_cluster_and_vanish_with_their_fault() {
        let s = five(vec![
            inject(
                0,
                0,
                Fault::RemoveNode {
                    node: 4,
                    wipe: true,
                    rejoin_as: 6,
                },
            ),
            heal(10, 0),
            inject(
                20,
                1,
                Fault::AddNonVoter {
                    node: 7,
                    promote_after_ms: None,
                },
            ),
            inject(
                30,
                2,
                Fault::Disk {
                    target: Target::node(7),
                    disk: DiskFault::Stall,
                },
            ),
            heal(40, 2),
            heal(50, 1),
        ]);
        let r = s.restrict_to(3);
        assert_eq!(
            r.renumbered,
            BTreeMap::from([(1, 1), (2, 2), (4, 3), (6, 4), (7, 5)])
        );
        assert_eq!(
            r.schedule.fault(0),
            Some(&Fault::RemoveNode {
                node: 3,
                wipe: true,
                rejoin_as: 4
            })
        );
        assert_eq!(
            r.schedule.fault(2),
            Some(&Fault::Disk {
                target: Target::node(5),
                disk: DiskFault::Stall
            })
        );
        r.schedule.validate().unwrap();

        // Node 4 is not kept: its removal goes, and its fresh id is never
        // handed out, so the non-voter gets the first fresh id.
        let pause = |at_ms, id, node| {
            [
                inject(
                    at_ms,
                    id,
                    Fault::Pause {
                        targets: Target::node(node),
                    },
                ),
                heal(at_ms + 1, id),
            ]
        };
        let mut items: Vec<Item> = [pause(0, 10, 1), pause(2, 11, 2), pause(4, 12, 3)]
            .into_iter()
            .flatten()
            .collect();
        items.extend(s.items.clone());
        for i in &mut items[6..] {
            i.at_ms += 10;
        }
        let r = five(items).restrict_to(3);
        assert_eq!(r.dropped, vec![0]);
        assert_eq!(
            r.renumbered,
            BTreeMap::from([(1, 1), (2, 2), (3, 3), (7, 4)])
        );
        assert_eq!(
            r.schedule.fault(2),
            Some(&Fault::Disk {
                target: Target::node(4),
                disk: DiskFault::Stall
            })
        );
        r.schedule.validate().unwrap();

        // A single node can lose none: removal, newcomer and stall all go.
        let one = s.restrict_to(1);
        assert_eq!(one.dropped, vec![0, 1, 2]);
        assert!(one.schedule.items.is_empty());
    }

    #[test]
    fn generated_schedules_stay_valid_and_unchanged_at_their_own_size() {
        for n in [3u64, 5, 7] {
            let nodes: Vec<NodeId> = (1..=n).collect();
            for seed in 0..40 {
                let s = generate(seed, &Profile::all(), &nodes, 30_000, 1_000).unwrap();
                assert_eq!(s.restrict_to(n as usize).schedule, s, "n={n} seed={seed}");
                for smaller in (1..n as usize).filter(|k| k % 2 == 1) {
                    let r = s.restrict_to(smaller);
                    if let Err(e) = r.schedule.validate() {
                        panic!(
                            "n={n} seed={seed} -> {smaller}: {e}\n{}",
                            r.schedule.to_json()
                        );
                    }
                    let kept = r.schedule.items.len();
                    let healed_or_dropped = r.dropped.len();
                    assert!(kept + healed_or_dropped >= 1 || s.items.is_empty());
                }
            }
        }
    }
}
