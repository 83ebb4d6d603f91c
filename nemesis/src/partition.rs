//! Partition shapes computed from a node list, and the directed links each
//! one cuts.
//!
//! A shape is stored by its groups (who is isolated, which side is the
//! minority, the ring order) rather than by its links, so a schedule stays
//! short and editable; [`Partition::links`] turns it into links when it is
//! applied, against the membership of that moment. Nodes a shape does not
//! name (for example a node added later) stay connected to everyone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::fault::NodeId;

/// A directed link: messages sent by `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub from: NodeId,
    pub to: NodeId,
}

impl Link {
    pub fn new(from: NodeId, to: NodeId) -> Link {
        Link { from, to }
    }
}

/// Which way a group's cut blocks traffic.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Nothing crosses the cut.
    #[default]
    Both,
    /// The group hears nothing from the rest; the rest still hears it.
    Inbound,
    /// Nothing the group sends reaches the rest; it still hears them.
    Outbound,
}

/// A partition shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "kebab-case")]
pub enum Partition {
    /// One node cut off from all others.
    Isolate { node: NodeId, direction: Direction },
    /// The current leader cut off from all others, resolved when applied.
    IsolateLeader { direction: Direction },
    /// A random minority (⌊n/2⌋ nodes) against the majority.
    Halves {
        minority: Vec<NodeId>,
        direction: Direction,
    },
    /// A random third (⌈n/3⌉ nodes, never more than a minority) against the rest.
    MinorityThird {
        minority: Vec<NodeId>,
        direction: Direction,
    },
    /// Nodes in ring order, each connected only to its ring neighbours
    /// within a reach that gives it a majority view; no two nodes see the
    /// same majority. With three nodes the ring is a path (the two ends
    /// cannot talk), the only shape with that property.
    MajoritiesRing { ring: Vec<NodeId> },
    /// Two sides that cannot talk, joined by one bridge node that sees both.
    Bridge {
        left: Vec<NodeId>,
        bridge: NodeId,
        right: Vec<NodeId>,
    },
}

/// Why a shape cannot be built or applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionError {
    /// The shape needs at least `needed` nodes; it was given `got`.
    TooFewNodes {
        shape: &'static str,
        needed: usize,
        got: usize,
    },
    /// The shape names a node that is not a member.
    UnknownNode(NodeId),
    /// The shape names the same node twice.
    DuplicateNode(NodeId),
    /// `IsolateLeader` was applied when no node leads.
    NoLeader,
}

impl fmt::Display for PartitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionError::TooFewNodes { shape, needed, got } => write!(
                f,
                "a {shape} partition needs at least {needed} nodes, but the cluster has {got}"
            ),
            PartitionError::UnknownNode(n) => {
                write!(f, "the partition names node {n}, which is not a member")
            }
            PartitionError::DuplicateNode(n) => {
                write!(f, "the partition names node {n} more than once")
            }
            PartitionError::NoLeader => write!(f, "cannot isolate the leader: no node leads"),
        }
    }
}

impl std::error::Error for PartitionError {}

/// The smallest number of nodes that forms a majority of `n`.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// The largest number of nodes that is still a minority of `n`.
pub fn minority(n: usize) -> usize {
    n.saturating_sub(1) / 2
}

fn shuffled(nodes: &[NodeId], rng: &mut impl Rng) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = nodes
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    v.shuffle(rng);
    v
}

fn need(shape: &'static str, needed: usize, nodes: &[NodeId]) -> Result<(), PartitionError> {
    let got = nodes.iter().collect::<BTreeSet<_>>().len();
    if got < needed {
        return Err(PartitionError::TooFewNodes { shape, needed, got });
    }
    Ok(())
}

impl Partition {
    /// Cut one node off.
    pub fn isolate(node: NodeId, direction: Direction) -> Partition {
        Partition::Isolate { node, direction }
    }

    /// A random minority of ⌊n/2⌋ nodes against the rest.
    pub fn halves(
        nodes: &[NodeId],
        direction: Direction,
        rng: &mut impl Rng,
    ) -> Result<Partition, PartitionError> {
        need("halves", 2, nodes)?;
        let mut v = shuffled(nodes, rng);
        v.truncate(v.len() / 2);
        v.sort_unstable();
        Ok(Partition::Halves {
            minority: v,
            direction,
        })
    }

    /// A random ⌈n/3⌉ nodes (at most a minority) against the rest.
    pub fn minority_third(
        nodes: &[NodeId],
        direction: Direction,
        rng: &mut impl Rng,
    ) -> Result<Partition, PartitionError> {
        need("minority-third", 3, nodes)?;
        let mut v = shuffled(nodes, rng);
        let size = v.len().div_ceil(3).min(minority(v.len())).max(1);
        v.truncate(size);
        v.sort_unstable();
        Ok(Partition::MinorityThird {
            minority: v,
            direction,
        })
    }

    /// Nodes in a random ring order; see [`Partition::MajoritiesRing`].
    pub fn majorities_ring(
        nodes: &[NodeId],
        rng: &mut impl Rng,
    ) -> Result<Partition, PartitionError> {
        need("majorities-ring", 3, nodes)?;
        Ok(Partition::MajoritiesRing {
            ring: shuffled(nodes, rng),
        })
    }

    /// Two random sides joined by one random bridge node.
    pub fn bridge(nodes: &[NodeId], rng: &mut impl Rng) -> Result<Partition, PartitionError> {
        need("bridge", 3, nodes)?;
        let mut v = shuffled(nodes, rng);
        let bridge = v.pop().expect("at least three nodes");
        let mut right = v.split_off(v.len() / 2);
        let mut left = v;
        left.sort_unstable();
        right.sort_unstable();
        Ok(Partition::Bridge {
            left,
            bridge,
            right,
        })
    }

    /// The shape's name as written in schedules.
    pub fn shape_name(&self) -> &'static str {
        match self {
            Partition::Isolate { .. } => "isolate",
            Partition::IsolateLeader { .. } => "isolate-leader",
            Partition::Halves { .. } => "halves",
            Partition::MinorityThird { .. } => "minority-third",
            Partition::MajoritiesRing { .. } => "majorities-ring",
            Partition::Bridge { .. } => "bridge",
        }
    }

    /// Whether the shape is aimed at the current leader.
    pub fn targets_leader(&self) -> bool {
        matches!(self, Partition::IsolateLeader { .. })
    }

    /// The nodes the cut hurts as named in the schedule: the isolated node,
    /// the minority side, or everyone who loses some peer (ring, bridge).
    pub fn hurt_nodes(&self) -> BTreeSet<NodeId> {
        match self {
            Partition::Isolate { node, .. } => BTreeSet::from([*node]),
            Partition::IsolateLeader { .. } => BTreeSet::new(),
            Partition::Halves { minority, .. } | Partition::MinorityThird { minority, .. } => {
                minority.iter().copied().collect()
            }
            Partition::MajoritiesRing { ring } => ring.iter().copied().collect(),
            Partition::Bridge { left, right, .. } => left.iter().chain(right).copied().collect(),
        }
    }

    /// Every node the shape names (checked against the membership).
    fn named(&self) -> Vec<NodeId> {
        match self {
            Partition::Isolate { node, .. } => vec![*node],
            Partition::IsolateLeader { .. } => vec![],
            Partition::Halves { minority, .. } | Partition::MinorityThird { minority, .. } => {
                minority.clone()
            }
            Partition::MajoritiesRing { ring } => ring.clone(),
            Partition::Bridge {
                left,
                bridge,
                right,
            } => left.iter().chain([bridge]).chain(right).copied().collect(),
        }
    }

    /// The directed links the shape cuts among `members`; `leader` resolves
    /// [`Partition::IsolateLeader`].
    pub fn links(
        &self,
        members: &[NodeId],
        leader: Option<NodeId>,
    ) -> Result<BTreeSet<Link>, PartitionError> {
        let members: BTreeSet<NodeId> = members.iter().copied().collect();
        let mut seen = BTreeSet::new();
        for n in self.named() {
            if !members.contains(&n) {
                return Err(PartitionError::UnknownNode(n));
            }
            if !seen.insert(n) {
                return Err(PartitionError::DuplicateNode(n));
            }
        }
        let mut cut = BTreeSet::new();
        match self {
            Partition::Isolate { node, direction } => {
                cut_group(&BTreeSet::from([*node]), &members, *direction, &mut cut)
            }
            Partition::IsolateLeader { direction } => {
                let leader = leader.ok_or(PartitionError::NoLeader)?;
                if !members.contains(&leader) {
                    return Err(PartitionError::UnknownNode(leader));
                }
                cut_group(&BTreeSet::from([leader]), &members, *direction, &mut cut)
            }
            Partition::Halves {
                minority,
                direction,
            }
            | Partition::MinorityThird {
                minority,
                direction,
            } => cut_group(
                &minority.iter().copied().collect(),
                &members,
                *direction,
                &mut cut,
            ),
            Partition::MajoritiesRing { ring } => {
                for (i, &a) in ring.iter().enumerate() {
                    for (j, &b) in ring.iter().enumerate() {
                        if i != j && !ring_connected(ring.len(), i, j) {
                            cut.insert(Link::new(a, b));
                        }
                    }
                }
            }
            Partition::Bridge { left, right, .. } => {
                for &a in left {
                    for &b in right {
                        cut.insert(Link::new(a, b));
                        cut.insert(Link::new(b, a));
                    }
                }
            }
        }
        Ok(cut)
    }
}

/// Cut `group` from every other member in `direction`.
fn cut_group(
    group: &BTreeSet<NodeId>,
    members: &BTreeSet<NodeId>,
    direction: Direction,
    cut: &mut BTreeSet<Link>,
) {
    for &g in group {
        for &m in members.difference(group) {
            if direction != Direction::Outbound {
                cut.insert(Link::new(m, g));
            }
            if direction != Direction::Inbound {
                cut.insert(Link::new(g, m));
            }
        }
    }
}

/// Whether ring positions `i` and `j` stay connected in a majorities ring of
/// `n` nodes. Each node must reach `majority(n) - 1` others; neighbours
/// within ring distance ⌈that/2⌉ do, and while `2·reach + 1 < n` every node's
/// window of the ring is different. Three nodes cannot satisfy that on a
/// circle, so there the ring is opened into a path.
fn ring_connected(n: usize, i: usize, j: usize) -> bool {
    if n == 3 {
        return i.abs_diff(j) == 1;
    }
    let reach = (majority(n) - 1).div_ceil(2);
    let d = i.abs_diff(j);
    d.min(n - d) <= reach
}

/// What each member can exchange messages with (both directions open),
/// itself included, once `cut` is applied.
pub fn views(members: &[NodeId], cut: &BTreeSet<Link>) -> BTreeMap<NodeId, BTreeSet<NodeId>> {
    members
        .iter()
        .map(|&a| {
            let seen = members
                .iter()
                .copied()
                .filter(|&b| {
                    a == b || (!cut.contains(&Link::new(a, b)) && !cut.contains(&Link::new(b, a)))
                })
                .collect();
            (a, seen)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: u64) -> Vec<NodeId> {
        (1..=n).collect()
    }

    #[test]
    fn isolate_cuts_one_node_both_ways() {
        for n in [3, 5, 7] {
            let ns = nodes(n);
            let cut = Partition::isolate(2, Direction::Both)
                .links(&ns, None)
                .unwrap();
            assert_eq!(cut.len(), 2 * (n as usize - 1));
            let v = views(&ns, &cut);
            assert_eq!(v[&2], BTreeSet::from([2]));
            for &m in ns.iter().filter(|&&m| m != 2) {
                assert_eq!(v[&m].len(), n as usize - 1);
            }
        }
    }

    #[test]
    fn one_way_isolation_blocks_one_direction_only() {
        let ns = nodes(3);
        let inbound = Partition::isolate(1, Direction::Inbound)
            .links(&ns, None)
            .unwrap();
        assert_eq!(inbound, BTreeSet::from([Link::new(2, 1), Link::new(3, 1)]));
        let outbound = Partition::isolate(1, Direction::Outbound)
            .links(&ns, None)
            .unwrap();
        assert_eq!(outbound, BTreeSet::from([Link::new(1, 2), Link::new(1, 3)]));
    }

    #[test]
    fn isolate_leader_resolves_at_apply_time() {
        let ns = nodes(5);
        let p = Partition::IsolateLeader {
            direction: Direction::Both,
        };
        assert_eq!(p.links(&ns, None), Err(PartitionError::NoLeader));
        let v = views(&ns, &p.links(&ns, Some(4)).unwrap());
        assert_eq!(v[&4], BTreeSet::from([4]));
    }

    #[test]
    fn halves_split_minority_from_majority() {
        for n in [3, 5, 7] {
            for seed in 0..20 {
                let ns = nodes(n);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let p = Partition::halves(&ns, Direction::Both, &mut rng).unwrap();
                let Partition::Halves { minority: min, .. } = &p else {
                    unreachable!()
                };
                assert_eq!(min.len(), n as usize / 2);
                let v = views(&ns, &p.links(&ns, None).unwrap());
                for (node, seen) in &v {
                    if min.contains(node) {
                        assert_eq!(seen.len(), min.len());
                    } else {
                        assert_eq!(seen.len(), majority(n as usize));
                    }
                }
            }
        }
    }

    #[test]
    fn minority_third_is_a_third_and_a_minority() {
        for (n, size) in [(3, 1), (5, 2), (7, 3)] {
            let ns = nodes(n);
            let mut rng = ChaCha8Rng::seed_from_u64(n);
            let p = Partition::minority_third(&ns, Direction::Both, &mut rng).unwrap();
            assert_eq!(p.hurt_nodes().len(), size);
            assert!(size <= minority(n as usize));
        }
    }

    #[test]
    fn majorities_ring_gives_everyone_a_different_majority() {
        for n in [3, 4, 5, 6, 7, 9] {
            for seed in 0..10 {
                let ns = nodes(n);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let p = Partition::majorities_ring(&ns, &mut rng).unwrap();
                let cut = p.links(&ns, None).unwrap();
                assert!(!cut.is_empty(), "n={n}: the ring must cut something");
                let v = views(&ns, &cut);
                for seen in v.values() {
                    assert!(seen.len() >= majority(n as usize), "n={n}: {v:?}");
                }
                let distinct: BTreeSet<_> = v.values().collect();
                assert_eq!(distinct.len(), n as usize, "n={n}: {v:?}");
            }
        }
    }

    #[test]
    fn majorities_ring_on_five_is_the_perfect_ring() {
        let ns = nodes(5);
        let p = Partition::MajoritiesRing {
            ring: vec![1, 2, 3, 4, 5],
        };
        let v = views(&ns, &p.links(&ns, None).unwrap());
        assert_eq!(v[&1], BTreeSet::from([5, 1, 2]));
        assert_eq!(v[&3], BTreeSet::from([2, 3, 4]));
    }

    #[test]
    fn bridge_joins_two_sides_through_one_node() {
        for n in [3, 5, 7] {
            let ns = nodes(n);
            let mut rng = ChaCha8Rng::seed_from_u64(n);
            let p = Partition::bridge(&ns, &mut rng).unwrap();
            let Partition::Bridge {
                left,
                bridge,
                right,
            } = &p
            else {
                unreachable!()
            };
            assert_eq!(left.len() + right.len() + 1, n as usize);
            assert!(left.len().abs_diff(right.len()) <= 1);
            let v = views(&ns, &p.links(&ns, None).unwrap());
            assert_eq!(v[bridge].len(), n as usize);
            for a in left {
                assert!(v[a].contains(bridge));
                assert!(right.iter().all(|b| !v[a].contains(b)));
            }
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!(matches!(
            Partition::majorities_ring(&[1, 2], &mut rng),
            Err(PartitionError::TooFewNodes {
                needed: 3,
                got: 2,
                ..
            })
        ));
        let p = Partition::isolate(9, Direction::Both);
        assert_eq!(
            p.links(&[1, 2, 3], None),
            Err(PartitionError::UnknownNode(9))
        );
        let p = Partition::MajoritiesRing {
            ring: vec![1, 1, 2],
        };
        assert_eq!(
            p.links(&[1, 2, 3], None),
            Err(PartitionError::DuplicateNode(1))
        );
        assert!(p
            .links(&[1, 2, 3], None)
            .unwrap_err()
            .to_string()
            .contains("more than once"));
    }
}
