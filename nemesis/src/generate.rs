//! Seeded schedule generation from a profile.
//!
//! Every `interval` (with ±25% jitter) the generator tries to start one
//! fault of a family drawn from the profile; a fault lasts ½–1½ intervals
//! (crash outages sometimes 3–5, long enough to force snapshot catch-up)
//! and is healed no later than the end of the fault phase. At most one fault
//! per family is active at a time, except crashes and pauses, which share
//! the down-node budget of [`crate::limits`]. A slot where no family fits
//! the limits is left empty.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fault::{
    CrashScope, DiskFault, Failpoint, Fault, FaultKind, NodeId, StoredFile, Target,
};
use crate::limits::{down_count, down_of, Down, MAX_LATENCY_MS, MAX_LOSS_PERMILLE};
use crate::partition::{majority, minority, Direction, Link, Partition};
use crate::profile::Profile;
use crate::schedule::{Action, FaultId, Item, Schedule};

/// The ChaCha stream the nemesis draws from, so the same run seed used by
/// other parts of the run gives independent numbers here.
const NEMESIS_STREAM: u64 = 0x6e656d65736973;

/// Why a schedule cannot be generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenerateError {
    NoNodes,
    DuplicateNode(NodeId),
    ZeroInterval,
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenerateError::NoNodes => {
                write!(f, "cannot make a fault schedule for an empty cluster")
            }
            GenerateError::DuplicateNode(n) => write!(f, "node {n} is listed twice"),
            GenerateError::ZeroInterval => write!(f, "the nemesis interval must be at least 1 ms"),
        }
    }
}

impl std::error::Error for GenerateError {}

/// Generate the schedule for a run: faults from `profile` against a
/// cluster of `nodes`, one attempt every `interval_ms`, all healed by
/// `duration_ms`. The same arguments always give the same schedule.
pub fn generate(
    seed: u64,
    profile: &Profile,
    nodes: &[NodeId],
    duration_ms: u64,
    interval_ms: u64,
) -> Result<Schedule, GenerateError> {
    if nodes.is_empty() {
        return Err(GenerateError::NoNodes);
    }
    if interval_ms == 0 {
        return Err(GenerateError::ZeroInterval);
    }
    let mut seen = BTreeSet::new();
    for &n in nodes {
        if !seen.insert(n) {
            return Err(GenerateError::DuplicateNode(n));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(NEMESIS_STREAM);
    let mut g = Generator::new(nodes, duration_ms, interval_ms, &mut rng);
    g.partitions = profile.kinds.contains(&FaultKind::Partition);
    g.failpoints = profile.failpoint_choices();
    let kinds: Vec<FaultKind> = profile.kinds.iter().copied().collect();
    let mut t = interval_ms;
    while t < duration_ms && !kinds.is_empty() {
        g.expire(t);
        let mut order = kinds.clone();
        order.shuffle(&mut rng);
        for kind in order {
            if g.try_start(kind, t, &mut rng) {
                break;
            }
        }
        t += rng
            .random_range(interval_ms * 3 / 4..=interval_ms * 5 / 4)
            .max(1);
    }
    let mut items = g.items;
    // Heals before injects at the same instant, otherwise generation order.
    items.sort_by_key(|(item, seq)| {
        (
            item.at_ms,
            matches!(item.action, Action::Inject { .. }),
            *seq,
        )
    });
    Ok(Schedule {
        nodes: nodes.to_vec(),
        end_ms: duration_ms,
        items: items.into_iter().map(|(i, _)| i).collect(),
    })
}

struct Active {
    kind: FaultKind,
    end_ms: u64,
    /// Set for a removal: who rejoins the voters at the heal.
    rejoin: Option<NodeId>,
}

struct Generator {
    n: usize,
    duration_ms: u64,
    interval_ms: u64,
    /// Current voters that are in the configuration.
    members: Vec<NodeId>,
    next_fresh: NodeId,
    /// The points failpoint faults draw from.
    failpoints: Vec<Failpoint>,
    /// The only nodes bit flips may ever touch: a fixed random minority.
    corruptible: BTreeSet<NodeId>,
    flipped: BTreeSet<NodeId>,
    active: BTreeMap<FaultId, Active>,
    downs: BTreeMap<FaultId, Down>,
    next_id: FaultId,
    items: Vec<(Item, usize)>,
    /// Whether the profile has partitions, which a node replacement then
    /// comes with (see [`Generator::replace`]).
    partitions: bool,
}

impl Generator {
    fn new(
        nodes: &[NodeId],
        duration_ms: u64,
        interval_ms: u64,
        rng: &mut ChaCha8Rng,
    ) -> Generator {
        let mut shuffled = nodes.to_vec();
        shuffled.shuffle(rng);
        let corruptible = shuffled.into_iter().take(minority(nodes.len())).collect();
        Generator {
            n: nodes.len(),
            duration_ms,
            interval_ms,
            members: nodes.to_vec(),
            next_fresh: nodes.iter().max().copied().unwrap_or(0) + 1,
            corruptible,
            failpoints: Failpoint::ALL.to_vec(),
            flipped: BTreeSet::new(),
            active: BTreeMap::new(),
            downs: BTreeMap::new(),
            next_id: 0,
            items: Vec::new(),
            partitions: false,
        }
    }

    /// Forget faults healed by `t`, and bring removed nodes back.
    fn expire(&mut self, t: u64) {
        let done: Vec<FaultId> = self
            .active
            .iter()
            .filter(|(_, a)| a.end_ms <= t)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let a = self.active.remove(&id).expect("listed above");
            self.downs.remove(&id);
            if let Some(node) = a.rejoin {
                self.members.push(node);
                self.members.sort_unstable();
            }
        }
    }

    fn kind_active(&self, kind: FaultKind) -> bool {
        self.active.values().any(|a| a.kind == kind)
    }

    fn quorum_down(&self) -> bool {
        self.downs.values().any(|d| *d == Down::Quorum)
    }

    /// How many more nodes may go down now.
    fn budget(&self) -> usize {
        if self.quorum_down() {
            return 0;
        }
        minority(self.n).saturating_sub(down_count(&self.downs, &self.flipped))
    }

    /// Members that are up as far as the schedule knows.
    fn available(&self) -> Vec<NodeId> {
        let mut down = self.flipped.clone();
        for d in self.downs.values() {
            if let Down::Nodes { named, .. } = d {
                down.extend(named);
            }
        }
        self.members
            .iter()
            .copied()
            .filter(|m| !down.contains(m))
            .collect()
    }

    fn fresh(&mut self) -> NodeId {
        let id = self.next_fresh;
        self.next_fresh += 1;
        id
    }

    fn duration(&self, rng: &mut ChaCha8Rng) -> u64 {
        rng.random_range(self.interval_ms / 2..=self.interval_ms * 3 / 2)
            .max(1)
    }

    fn push(&mut self, at_ms: u64, action: Action) {
        let seq = self.items.len();
        self.items.push((Item { at_ms, action }, seq));
    }

    /// Inject `fault` at `t` and heal it `dur` later (capped at the end).
    fn start(&mut self, fault: Fault, t: u64, dur: u64) -> FaultId {
        let id = self.next_id;
        self.next_id += 1;
        let end = (t + dur).min(self.duration_ms);
        let kind = fault.kind();
        let instant = fault.is_instant();
        let down = down_of(&fault);
        let rejoin = match &fault {
            Fault::RemoveNode {
                node, rejoin_as, ..
            } => {
                self.members.retain(|m| m != node);
                Some(*rejoin_as)
            }
            _ => None,
        };
        if let Fault::Disk {
            target,
            disk: DiskFault::BitFlip { .. },
        } = &fault
        {
            self.flipped.extend(target.named());
        }
        self.push(t, Action::Inject { id, fault });
        if !instant {
            self.push(end, Action::Heal { id });
            self.active.insert(
                id,
                Active {
                    kind,
                    end_ms: end,
                    rejoin,
                },
            );
            if down != Down::None {
                self.downs.insert(id, down);
            }
        }
        id
    }

    fn try_start(&mut self, kind: FaultKind, t: u64, rng: &mut ChaCha8Rng) -> bool {
        // Failpoints, each on one node, overlap as crashes do: the down
        // budget bounds them.
        if kind != FaultKind::Failpoint && self.kind_active(kind) {
            return false;
        }
        match kind {
            FaultKind::Partition => self.partition(t, rng),
            FaultKind::Clog => self.clog(t, rng),
            FaultKind::Network => self.chaos(t, rng),
            FaultKind::Crash => self.crash(t, rng),
            FaultKind::Pause => self.pause(t, rng),
            FaultKind::Clock => self.clock(t, rng),
            FaultKind::Disk => self.disk(t, rng),
            FaultKind::Membership => self.membership(t, rng),
            FaultKind::Failpoint => self.failpoint(t, rng),
        }
    }

    fn direction(rng: &mut ChaCha8Rng) -> Direction {
        match rng.random_range(0..20) {
            0..14 => Direction::Both,
            14..17 => Direction::Inbound,
            _ => Direction::Outbound,
        }
    }

    fn partition(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        let members = self.members.clone();
        self.partition_of(members, t, rng)
    }

    /// A partition of a random shape among `members`.
    fn partition_of(&mut self, members: Vec<NodeId>, t: u64, rng: &mut ChaCha8Rng) -> bool {
        if members.len() < 2 {
            return false;
        }
        let shapes: &[&str] = if members.len() >= 3 {
            &[
                "isolate",
                "isolate-leader",
                "halves",
                "minority-third",
                "majorities-ring",
                "bridge",
            ]
        } else {
            &["isolate", "isolate-leader", "halves"]
        };
        let dir = Self::direction(rng);
        let cut = match *shapes.choose(rng).expect("non-empty") {
            "isolate" => Partition::isolate(*members.choose(rng).expect("non-empty"), dir),
            "isolate-leader" => Partition::IsolateLeader { direction: dir },
            "halves" => Partition::halves(&members, dir, rng).expect("two or more nodes"),
            "minority-third" => {
                Partition::minority_third(&members, dir, rng).expect("three or more")
            }
            "majorities-ring" => Partition::majorities_ring(&members, rng).expect("three or more"),
            _ => Partition::bridge(&members, rng).expect("three or more"),
        };
        let dur = self.duration(rng);
        self.start(Fault::Partition { cut }, t, dur);
        true
    }

    fn all_links(&self) -> Vec<Link> {
        let mut links = Vec::new();
        for &a in &self.members {
            for &b in &self.members {
                if a != b {
                    links.push(Link::new(a, b));
                }
            }
        }
        links
    }

    fn clog(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        let mut links = self.all_links();
        if links.is_empty() {
            return false;
        }
        links.shuffle(rng);
        let dur = self.duration(rng).min(self.duration_ms - t);
        let k = rng.random_range(2..=6).min(links.len());
        let step = dur / (2 * k as u64);
        if rng.random_bool(0.5) && step > 0 {
            // FoundationDB's swizzle: clog links one at a time, then
            // release them one at a time in a different random order.
            let chosen: Vec<Link> = links[..k].to_vec();
            let mut ids = Vec::new();
            for (i, link) in chosen.into_iter().enumerate() {
                let id = self.next_id;
                self.next_id += 1;
                self.push(
                    t + i as u64 * step,
                    Action::Inject {
                        id,
                        fault: Fault::Clog { links: vec![link] },
                    },
                );
                ids.push(id);
            }
            ids.shuffle(rng);
            for (j, id) in ids.iter().enumerate() {
                let at = t + (k + j) as u64 * step;
                self.push(at, Action::Heal { id: *id });
                self.active.insert(
                    *id,
                    Active {
                        kind: FaultKind::Clog,
                        end_ms: at,
                        rejoin: None,
                    },
                );
            }
        } else {
            let count = rng.random_range(1..=links.len());
            let mut chosen = links[..count].to_vec();
            chosen.sort_unstable();
            self.start(Fault::Clog { links: chosen }, t, dur);
        }
        true
    }

    fn chaos(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        let mut links = self.all_links();
        if links.is_empty() {
            return false;
        }
        if rng.random_bool(0.6) {
            links.shuffle(rng);
            let count = rng.random_range(1..=links.len());
            links.truncate(count);
            links.sort_unstable();
        }
        let min_latency_ms = rng.random_range(0..=50);
        let max_latency_ms =
            rng.random_range(min_latency_ms..=(min_latency_ms + 300).min(MAX_LATENCY_MS));
        let loss_permille = rng.random_range(0..=MAX_LOSS_PERMILLE * 2 / 3);
        let dur = self.duration(rng);
        self.start(
            Fault::Chaos {
                links,
                min_latency_ms,
                max_latency_ms,
                loss_permille,
            },
            t,
            dur,
        );
        true
    }

    /// `Target::Leader` or a random available node, if the budget allows one more down.
    fn one_down(&self, leader_share: f64, rng: &mut ChaCha8Rng) -> Option<Target> {
        if self.budget() == 0 {
            return None;
        }
        if rng.random_bool(leader_share) {
            return Some(Target::Leader);
        }
        self.available().choose(rng).map(|n| Target::node(*n))
    }

    /// A random group of 1..=budget available nodes.
    fn group_down(&self, rng: &mut ChaCha8Rng) -> Option<Target> {
        let mut avail = self.available();
        let max = self.budget().min(avail.len());
        if max == 0 {
            return None;
        }
        avail.shuffle(rng);
        avail.truncate(rng.random_range(1..=max));
        avail.sort_unstable();
        Some(Target::Nodes(avail))
    }

    fn crash(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        let scope = match rng.random_range(0..20) {
            0..11 => CrashScope::One,
            11..16 => CrashScope::Minority,
            16..18 => CrashScope::Majority,
            _ => CrashScope::All,
        };
        let targets = match scope {
            CrashScope::One => self.one_down(0.4, rng),
            CrashScope::Minority => self.group_down(rng),
            CrashScope::Majority | CrashScope::All => {
                if !self.downs.is_empty() || !self.flipped.is_empty() {
                    None
                } else {
                    let mut m = self.members.clone();
                    m.shuffle(rng);
                    if scope == CrashScope::Majority {
                        // A majority short of everyone; `All` is the whole cluster.
                        let most = majority(self.n).max(self.n - 1);
                        m.truncate(rng.random_range(majority(self.n)..=most).min(m.len()));
                    }
                    m.sort_unstable();
                    Some(Target::Nodes(m))
                }
            }
        };
        let Some(targets) = targets else { return false };
        let torn_block_bytes = rng
            .random_bool(0.5)
            .then(|| *[512, 4096].choose(rng).expect("non-empty"));
        let dur = if rng.random_bool(0.2) {
            rng.random_range(self.interval_ms * 3..=self.interval_ms * 5)
        } else {
            self.duration(rng)
        };
        self.start(
            Fault::Crash {
                targets,
                scope,
                torn_block_bytes,
            },
            t,
            dur,
        );
        true
    }

    fn pause(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        let targets = if rng.random_bool(0.7) {
            self.one_down(0.4, rng)
        } else {
            self.group_down(rng)
        };
        let Some(targets) = targets else { return false };
        let dur = self.duration(rng);
        self.start(Fault::Pause { targets }, t, dur);
        true
    }

    fn clock(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        // Half the time the leader, as Jepsen users aim clock skew: the
        // leader's clock is the one its lease and check-quorum run on.
        let targets = if rng.random_bool(0.5) {
            Target::Leader
        } else {
            let mut m = self.members.clone();
            m.shuffle(rng);
            m.truncate(rng.random_range(1..=m.len()));
            m.sort_unstable();
            Target::Nodes(m)
        };
        let sign = if rng.random_bool(0.5) { 1 } else { -1 };
        let fault = match rng.random_range(0..10) {
            0..4 => Fault::ClockBump {
                targets,
                delta_ms: sign * rng.random_range(10..=5_000),
            },
            4..7 => Fault::ClockStrobe {
                targets,
                delta_ms: sign * rng.random_range(50..=2_000),
                period_ms: rng.random_range(5..=200),
            },
            _ => Fault::ClockDrift {
                targets,
                rate_permille: if rng.random_bool(0.5) {
                    rng.random_range(500..=900)
                } else {
                    rng.random_range(1_100..=2_000)
                },
            },
        };
        let dur = self.duration(rng);
        self.start(fault, t, dur);
        true
    }

    fn disk(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        let fault = match rng.random_range(0..25) {
            0..5 => DiskFault::FsyncFail,
            5..10 => DiskFault::WriteEio,
            10..15 => DiskFault::Stall,
            15..20 => DiskFault::Full,
            _ => {
                // Bit flips stay inside the fixed corruptible minority; a node
                // flipped before may be flipped again without spending budget.
                let quorum = self.quorum_down();
                let budget = self.budget();
                let avail: BTreeSet<NodeId> = self.available().into_iter().collect();
                let candidates: Vec<NodeId> = self
                    .corruptible
                    .iter()
                    .copied()
                    .filter(|c| self.members.contains(c))
                    .filter(|c| self.flipped.contains(c) || (budget > 0 && avail.contains(c)))
                    .collect();
                let Some(&node) = candidates.choose(rng) else {
                    return false;
                };
                if quorum {
                    return false;
                }
                let file = *[StoredFile::Log, StoredFile::Stable, StoredFile::Snapshot]
                    .choose(rng)
                    .expect("non-empty");
                let flips = rng.random_range(1..=8);
                self.start(
                    Fault::Disk {
                        target: Target::node(node),
                        disk: DiskFault::BitFlip { file, flips },
                    },
                    t,
                    0,
                );
                return true;
            }
        };
        let Some(target) = self.one_down(0.3, rng) else {
            return false;
        };
        let dur = self.duration(rng);
        self.start(
            Fault::Disk {
                target,
                disk: fault,
            },
            t,
            dur,
        );
        true
    }

    fn failpoint(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        // A leader's point goes half the time on the leader and half on
        // any node, which reaches it only if it wins an election while
        // armed (etcd arms its gofail points on a member the same way,
        // whatever its role): a leader lost right after its election.
        // Other points go on the leader a third of the time.
        let point = *self.failpoints.choose(rng).expect("never empty");
        let leader_share = match point {
            Failpoint::BeforeLeaderSend | Failpoint::AfterLeaderSend => 0.5,
            _ => 1.0 / 3.0,
        };
        let Some(target) = self.one_down(leader_share, rng) else {
            return false;
        };
        let dur = self.duration(rng);
        self.start(Fault::Failpoint { target, point }, t, dur);
        true
    }

    fn membership(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        let fault = match rng.random_range(0..13u32) {
            10.. => return self.replace(t, rng),
            0..4 => {
                if self.budget() == 0 {
                    return false;
                }
                let Some(&node) = self.available().choose(rng) else {
                    return false;
                };
                let wipe = rng.random_bool(0.5);
                let rejoin_as = if wipe { self.fresh() } else { node };
                Fault::RemoveNode {
                    node,
                    wipe,
                    rejoin_as,
                }
            }
            4..7 => {
                if self.budget() == 0 {
                    return false;
                }
                let node = self.fresh();
                let dur = self.interval_ms / 2;
                Fault::AddNonVoter {
                    node,
                    promote_after_ms: rng.random_bool(0.7).then(|| rng.random_range(0..=dur)),
                }
            }
            7..10 => Fault::TransferLeadership {
                to: if rng.random_bool(0.5) {
                    None
                } else {
                    self.available().choose(rng).copied()
                },
            },
        };
        let dur = self.duration(rng);
        self.start(fault, t, dur);
        true
    }

    /// Replace a voter by a new server, the way operators do it (etcd's
    /// member replace, Consul autopilot replacing a failed server): the
    /// new server joins as a non-voter, and once it has had time to catch
    /// up, its promotion and the old voter's removal are asked for in the
    /// same instant, as two requests in flight together. Operators replace
    /// a server because it looks dead, which is most often a network
    /// fault: so when the profile has partitions (and none is in force),
    /// the swap comes with a partition that cuts the old voter off from
    /// the new server, the cluster splitting in halves as a zone or rack
    /// does. The two changes are an add and a removal whose heals undo
    /// them, so the limits count both nodes, as they count any removal and
    /// any newcomer: a replacement needs two nodes of down budget (a
    /// cluster of five or more).
    fn replace(&mut self, t: u64, rng: &mut ChaCha8Rng) -> bool {
        if self.budget() < 2 {
            return false;
        }
        let Some(&old) = self.available().choose(rng) else {
            return false;
        };
        // Long enough for the newcomer to take in the log, short of the
        // next slot.
        let swap_at = t + rng.random_range(self.interval_ms / 4..=self.interval_ms / 2);
        if swap_at >= self.duration_ms {
            return false;
        }
        let new = self.fresh();
        let promote_after_ms = swap_at - t;
        let dur = self.duration(rng);
        self.start(
            Fault::AddNonVoter {
                node: new,
                promote_after_ms: Some(promote_after_ms),
            },
            t,
            promote_after_ms + dur,
        );
        if self.partitions && !self.kind_active(FaultKind::Partition) {
            // The halves of the members and the newcomer: the new server
            // with a minority of the voters, the old voter on the other
            // side.
            let mut side: Vec<NodeId> =
                self.members.iter().copied().filter(|&m| m != old).collect();
            side.shuffle(rng);
            side.truncate(minority(self.members.len()));
            side.push(new);
            side.sort_unstable();
            let dur = self.duration(rng);
            self.start(
                Fault::Partition {
                    cut: Partition::Halves {
                        minority: side,
                        direction: Direction::Both,
                    },
                },
                swap_at,
                dur,
            );
        }
        let dur = self.duration(rng);
        self.start(
            Fault::RemoveNode {
                node: old,
                wipe: false,
                rejoin_as: old,
            },
            swap_at,
            dur,
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let nodes = [1, 2, 3, 4, 5];
        let a = generate(7, &Profile::all(), &nodes, 60_000, 2_000).unwrap();
        let b = generate(7, &Profile::all(), &nodes, 60_000, 2_000).unwrap();
        let c = generate(8, &Profile::all(), &nodes, 60_000, 2_000).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.items.len() > 20, "{} items", a.items.len());
    }

    #[test]
    fn empty_profile_gives_no_faults() {
        let s = generate(1, &Profile::none(), &[1, 2, 3], 10_000, 1_000).unwrap();
        assert!(s.items.is_empty());
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert_eq!(
            generate(1, &Profile::all(), &[], 10, 1),
            Err(GenerateError::NoNodes)
        );
        assert_eq!(
            generate(1, &Profile::all(), &[1, 1], 10, 1),
            Err(GenerateError::DuplicateNode(1))
        );
        assert_eq!(
            generate(1, &Profile::all(), &[1], 10, 0),
            Err(GenerateError::ZeroInterval)
        );
    }

    #[test]
    fn json_round_trip() {
        let s = generate(3, &Profile::all(), &[1, 2, 3, 4, 5], 30_000, 1_000).unwrap();
        let text = s.to_json();
        assert_eq!(Schedule::from_json(&text).unwrap(), s);
    }

    #[test]
    fn every_family_appears_over_a_long_run() {
        for n in [3u64, 5, 7] {
            let nodes: Vec<NodeId> = (1..=n).collect();
            let s = generate(11, &Profile::all(), &nodes, 600_000, 1_000).unwrap();
            let kinds: BTreeSet<FaultKind> = s
                .items
                .iter()
                .filter_map(|i| match &i.action {
                    Action::Inject { fault, .. } => Some(fault.kind()),
                    _ => None,
                })
                .collect();
            assert_eq!(kinds.len(), FaultKind::IN_ALL.len(), "n={n}: {kinds:?}");
        }
    }

    #[test]
    fn a_single_family_profile_only_yields_that_family() {
        for kind in FaultKind::ALL {
            let p = Profile {
                kinds: BTreeSet::from([kind]),
                failpoints: BTreeSet::new(),
            };
            let s = generate(5, &p, &[1, 2, 3], 100_000, 1_000).unwrap();
            assert!(!s.items.is_empty(), "{kind:?}");
            for i in &s.items {
                if let Action::Inject { fault, .. } = &i.action {
                    assert_eq!(fault.kind(), kind);
                }
            }
            s.validate().unwrap();
            assert_eq!(limits::check(&s), vec![]);
        }
    }

    #[test]
    fn every_fault_variant_and_shape_appears_over_many_seeds() {
        let mut names = BTreeSet::new();
        for seed in 0..40 {
            let s = generate(seed, &Profile::all(), &[1, 2, 3, 4, 5], 120_000, 1_000).unwrap();
            for i in &s.items {
                if let Action::Inject { fault, .. } = &i.action {
                    names.insert(fault.name().to_string());
                    match fault {
                        Fault::Partition { cut } => {
                            names.insert(format!("{}/{:?}", cut.shape_name(), direction(cut)));
                        }
                        Fault::Crash {
                            scope,
                            torn_block_bytes,
                            ..
                        } => {
                            names.insert(format!("crash/{scope:?}/{}", torn_block_bytes.is_some()));
                        }
                        Fault::RemoveNode { wipe, .. } => {
                            names.insert(format!("remove/{wipe}"));
                        }
                        _ => {}
                    }
                    if fault.targets_leader() {
                        names.insert(format!("{}@leader", fault.kind().name()));
                    }
                }
            }
        }
        let expected = [
            "partition",
            "clog",
            "chaos",
            "crash",
            "pause",
            "clock-bump",
            "clock-strobe",
            "clock-drift",
            "disk-fsync-fail",
            "disk-eio",
            "disk-stall",
            "disk-full",
            "disk-bitflip",
            "remove-node",
            "add-non-voter",
            "transfer-leadership",
            "isolate/Some(Both)",
            "isolate/Some(Inbound)",
            "isolate/Some(Outbound)",
            "isolate-leader/Some(Both)",
            "halves/Some(Both)",
            "halves/Some(Inbound)",
            "minority-third/Some(Outbound)",
            "majorities-ring/None",
            "bridge/None",
            "crash/One/true",
            "crash/Minority/false",
            "crash/Majority/true",
            "crash/All/false",
            "remove/true",
            "remove/false",
            "partition@leader",
            "crash@leader",
            "pause@leader",
            "clock@leader",
            "disk@leader",
        ];
        for name in expected {
            assert!(
                names.contains(name),
                "{name} never generated; got {names:?}"
            );
        }
    }

    #[test]
    fn failpoints_arm_every_point_on_one_node_or_the_leader_within_the_down_budget() {
        let profile: Profile = "crash,failpoint,partition".parse().unwrap();
        let (mut points, mut leader, mut named) = (BTreeSet::new(), 0, 0);
        for seed in 0..20 {
            let s = generate(seed, &profile, &[1, 2, 3, 4, 5], 60_000, 500).unwrap();
            s.validate().unwrap();
            assert_eq!(limits::check(&s), vec![], "seed {seed}");
            for i in &s.items {
                if let Action::Inject {
                    fault: fault @ Fault::Failpoint { target, point },
                    ..
                } = &i.action
                {
                    assert_eq!(target.size(), 1, "{fault}");
                    assert_eq!(fault.heal_name(), Some("failpoint-heal"));
                    points.insert(*point);
                    match target {
                        Target::Leader => leader += 1,
                        Target::Nodes(_) => named += 1,
                    }
                }
            }
        }
        assert_eq!(points, Failpoint::ALL.into_iter().collect());
        assert!(
            leader > 20 && named > 20,
            "{leader} at the leader, {named} named"
        );
        // Like crashes, failpoints on different nodes may be armed at once.
        let only: Profile = "failpoint".parse().unwrap();
        let overlap = (0..20).any(|seed| {
            let s = generate(seed, &only, &[1, 2, 3, 4, 5], 20_000, 300).unwrap();
            let mut armed = 0usize;
            s.items.iter().any(|i| {
                armed = match i.action {
                    Action::Inject { .. } => armed + 1,
                    Action::Heal { .. } => armed - 1,
                };
                armed >= 2
            })
        });
        assert!(overlap, "no two failpoints were ever armed at once");
    }

    #[test]
    fn failpoints_on_too_many_nodes_are_refused() {
        let s = Schedule {
            nodes: vec![1, 2, 3],
            end_ms: 1_000,
            items: vec![Item {
                at_ms: 10,
                action: Action::Inject {
                    id: 0,
                    fault: Fault::Failpoint {
                        target: Target::Nodes(vec![1, 2]),
                        point: Failpoint::AfterSave,
                    },
                },
            }],
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("exactly one node"), "{e}");
        let json = r#"{"nodes":[1],"end_ms":10,"items":[{"at_ms":1,"action":{"inject":{"id":0,"fault":{"fault":"failpoint","target":{"nodes":[1]},"point":"before-lunch"}}}}]}"#;
        assert!(Schedule::from_json(json).is_err());
        assert_eq!(
            "before-lunch".parse::<Failpoint>().unwrap_err(),
            "unknown failpoint \"before-lunch\"; expected one of before-save, after-save, \
             before-leader-send, after-leader-send, before-apply, before-apply-snapshot"
        );
        for p in Failpoint::ALL {
            assert_eq!(p.name().parse::<Failpoint>(), Ok(p));
        }
    }

    /// The replacements in a schedule: (add time, new node, swap time,
    /// old node), found as a removal injected at the very instant a
    /// newcomer's promotion is due (the nemesis runs one membership fault
    /// at a time otherwise).
    fn replacements(s: &Schedule) -> Vec<(u64, NodeId, u64, NodeId)> {
        let injects: Vec<(u64, &Fault)> = s
            .items
            .iter()
            .filter_map(|i| match &i.action {
                Action::Inject { fault, .. } => Some((i.at_ms, fault)),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for &(at, fault) in &injects {
            if let Fault::AddNonVoter {
                node: new,
                promote_after_ms: Some(after),
            } = fault
            {
                for &(swap, other) in &injects {
                    if let Fault::RemoveNode { node: old, .. } = other {
                        if swap == at + after {
                            out.push((at, *new, swap, *old));
                        }
                    }
                }
            }
        }
        out
    }

    /// The partition injected at `at`, if any.
    fn partition_at(s: &Schedule, at: u64) -> Option<&Partition> {
        s.items.iter().find_map(|i| match &i.action {
            Action::Inject {
                fault: Fault::Partition { cut },
                ..
            } if i.at_ms == at => Some(cut),
            _ => None,
        })
    }

    #[test]
    fn a_replacement_swaps_a_voter_for_a_newcomer_across_a_partition() {
        let profile: Profile = "membership,partition".parse().unwrap();
        let nodes = [1, 2, 3, 4, 5];
        let mut seen = 0;
        for seed in 0..40 {
            let s = generate(seed, &profile, &nodes, 60_000, 1_000).unwrap();
            s.validate().unwrap();
            assert_eq!(limits::check(&s), vec![], "seed {seed}");
            for (at, new, swap, old) in replacements(&s) {
                seen += 1;
                assert!(new > 5 && old != new, "seed {seed}");
                assert!(
                    (250..=500).contains(&(swap - at)),
                    "seed {seed}: the newcomer gets a quarter to half an interval to catch up"
                );
                // With no partition already in force, the swap comes with
                // halves that put the old voter and the newcomer apart.
                if let Some(cut) = partition_at(&s, swap) {
                    let Partition::Halves {
                        minority,
                        direction,
                    } = cut
                    else {
                        panic!("seed {seed}: {cut:?}");
                    };
                    assert_eq!(*direction, Direction::Both);
                    assert_eq!(minority.len(), 3, "seed {seed}: halves of six nodes");
                    assert!(
                        minority.contains(&new) && !minority.contains(&old),
                        "seed {seed}: {minority:?} must hold {new} and not {old}"
                    );
                }
            }
        }
        assert!(
            seen >= 20,
            "only {seen} replacements in 40 minutes of churn"
        );
    }

    #[test]
    fn without_partitions_a_replacement_comes_alone() {
        let profile: Profile = "membership".parse().unwrap();
        let mut seen = 0;
        for seed in 0..20 {
            let s = generate(seed, &profile, &[1, 2, 3, 4, 5], 60_000, 1_000).unwrap();
            s.validate().unwrap();
            assert_eq!(limits::check(&s), vec![]);
            for (_, _, swap, _) in replacements(&s) {
                seen += 1;
                assert_eq!(partition_at(&s, swap), None);
            }
        }
        assert!(seen > 0);
    }

    #[test]
    fn three_nodes_have_no_budget_for_a_replacement() {
        // Replacing needs the removed voter and the newcomer counted down
        // at once: two nodes, more than the minority of three.
        let profile: Profile = "membership,partition".parse().unwrap();
        for seed in 0..20 {
            let s = generate(seed, &profile, &[1, 2, 3], 60_000, 1_000).unwrap();
            assert_eq!(replacements(&s), vec![], "seed {seed}");
            assert_eq!(limits::check(&s), vec![]);
        }
    }

    fn direction(cut: &Partition) -> Option<Direction> {
        match cut {
            Partition::Isolate { direction, .. }
            | Partition::IsolateLeader { direction }
            | Partition::Halves { direction, .. }
            | Partition::MinorityThird { direction, .. } => Some(*direction),
            _ => None,
        }
    }
}
