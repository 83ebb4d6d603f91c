//! The nodes' network faults, kept as counts per link so that overlapping
//! faults compose: a link stays cut while any partition cuts it, held while
//! any clog holds it, and slowed to the worst active chaos.
//!
//! turmoil knows one state per direction of a host pair (healthy, cut or
//! held), and its `hold` always holds both directions; these counts are the
//! truth, and [`NetOps`] calls bring turmoil's state in line with them.

use std::collections::{BTreeMap, BTreeSet};

use faultline_nemesis::{FaultId, Link, NodeId};

/// The network verbs of the simulation, by node id (the implementation
/// maps ids to hosts). Implemented over turmoil's `Sim` in `run`.
pub trait NetOps {
    /// Drop every message from `from` to `to` (in flight ones too).
    fn cut(&mut self, from: NodeId, to: NodeId);
    /// Deliver messages from `from` to `to` again.
    fn uncut(&mut self, from: NodeId, to: NodeId);
    /// Hold messages both ways between `a` and `b`.
    fn hold(&mut self, a: NodeId, b: NodeId);
    /// Deliver everything held between `a` and `b`, and resume delivery.
    fn release(&mut self, a: NodeId, b: NodeId);
    /// Latency up to `max_latency_ms` and a per-message chance
    /// `loss_permille / 1000` of losing the message (and what is in flight
    /// with it) between `a` and `b`; `None` restores the base network.
    fn set_chaos(&mut self, a: NodeId, b: NodeId, chaos: Option<(u64, u32)>);
}

/// An unordered pair of nodes, smaller id first.
type Pair = (NodeId, NodeId);

fn pair(a: NodeId, b: NodeId) -> Pair {
    (a.min(b), a.max(b))
}

/// Active network faults, as counts.
#[derive(Debug, Default)]
pub struct Network {
    cuts: BTreeMap<Link, u32>,
    holds: BTreeMap<Pair, u32>,
    chaos: BTreeMap<Pair, BTreeMap<FaultId, (u64, u32)>>,
}

impl Network {
    pub fn new() -> Network {
        Network::default()
    }

    /// Whether messages from `from` to `to` are dropped.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cuts.contains_key(&Link::new(from, to))
    }

    pub fn is_held(&self, a: NodeId, b: NodeId) -> bool {
        self.holds.contains_key(&pair(a, b))
    }

    /// Whether messages flow both ways between `a` and `b` untouched: no
    /// cut either way, no clog, no chaos.
    pub fn is_sound(&self, a: NodeId, b: NodeId) -> bool {
        !self.is_cut(a, b)
            && !self.is_cut(b, a)
            && !self.is_held(a, b)
            && !self.chaos.contains_key(&pair(a, b))
    }

    /// Whether no network fault is active.
    pub fn is_clean(&self) -> bool {
        self.cuts.is_empty() && self.holds.is_empty() && self.chaos.is_empty()
    }

    pub fn cut_links(&mut self, links: &BTreeSet<Link>, ops: &mut impl NetOps) {
        for l in links {
            let n = self.cuts.entry(*l).or_insert(0);
            *n += 1;
            if *n == 1 {
                self.sync(pair(l.from, l.to), false, ops);
            }
        }
    }

    pub fn uncut_links(&mut self, links: &BTreeSet<Link>, ops: &mut impl NetOps) {
        for l in links {
            if let Some(n) = self.cuts.get_mut(l) {
                *n -= 1;
                if *n == 0 {
                    self.cuts.remove(l);
                    self.sync(pair(l.from, l.to), false, ops);
                }
            }
        }
    }

    /// Hold the pairs of `links` (turmoil holds pairs, not directions).
    pub fn hold_links(&mut self, links: &[Link], ops: &mut impl NetOps) {
        let pairs: BTreeSet<Pair> = links.iter().map(|l| pair(l.from, l.to)).collect();
        for p in pairs {
            let n = self.holds.entry(p).or_insert(0);
            *n += 1;
            if *n == 1 {
                self.sync(p, false, ops);
            }
        }
    }

    pub fn release_links(&mut self, links: &[Link], ops: &mut impl NetOps) {
        let pairs: BTreeSet<Pair> = links.iter().map(|l| pair(l.from, l.to)).collect();
        for p in pairs {
            if let Some(n) = self.holds.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    self.holds.remove(&p);
                    self.sync(p, true, ops);
                }
            }
        }
    }

    pub fn add_chaos(
        &mut self,
        id: FaultId,
        links: &[Link],
        max_latency_ms: u64,
        loss_permille: u32,
        ops: &mut impl NetOps,
    ) {
        let pairs: BTreeSet<Pair> = links.iter().map(|l| pair(l.from, l.to)).collect();
        for p in pairs {
            self.chaos
                .entry(p)
                .or_default()
                .insert(id, (max_latency_ms, loss_permille));
            self.sync_chaos(p, ops);
        }
    }

    pub fn remove_chaos(&mut self, id: FaultId, links: &[Link], ops: &mut impl NetOps) {
        let pairs: BTreeSet<Pair> = links.iter().map(|l| pair(l.from, l.to)).collect();
        for p in pairs {
            if let Some(m) = self.chaos.get_mut(&p) {
                m.remove(&id);
                if m.is_empty() {
                    self.chaos.remove(&p);
                }
            }
            self.sync_chaos(p, ops);
        }
    }

    /// The worst latency and loss of the chaos on `p`.
    fn sync_chaos(&self, p: Pair, ops: &mut impl NetOps) {
        let worst = self.chaos.get(&p).map(|m| {
            m.values()
                .fold((0, 0), |(l, d), &(l2, d2)| (l.max(l2), d.max(d2)))
        });
        ops.set_chaos(p.0, p.1, worst);
    }

    /// Bring both directions of `p` in line with the counts. Cuts win over
    /// holds (a cut direction drops, the other may hold); `released` says a
    /// hold just ended, so held messages must be delivered, not stranded.
    fn sync(&self, p: Pair, released: bool, ops: &mut impl NetOps) {
        let (a, b) = p;
        if released {
            ops.release(a, b);
        }
        if self.holds.contains_key(&p) {
            ops.hold(a, b);
        } else {
            ops.uncut(a, b);
            ops.uncut(b, a);
        }
        if self.is_cut(a, b) {
            ops.cut(a, b);
        }
        if self.is_cut(b, a) {
            ops.cut(b, a);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Models turmoil's per-direction link state, to check the calls.
    #[derive(Debug, Default)]
    pub struct FakeNet {
        pub state: BTreeMap<(NodeId, NodeId), &'static str>,
        pub releases: u32,
        pub chaos: BTreeMap<Pair, (u64, u32)>,
    }

    impl FakeNet {
        pub fn get(&self, from: NodeId, to: NodeId) -> &'static str {
            self.state.get(&(from, to)).copied().unwrap_or("ok")
        }
    }

    impl NetOps for FakeNet {
        fn cut(&mut self, from: NodeId, to: NodeId) {
            self.state.insert((from, to), "cut");
        }
        fn uncut(&mut self, from: NodeId, to: NodeId) {
            self.state.insert((from, to), "ok");
        }
        fn hold(&mut self, a: NodeId, b: NodeId) {
            self.state.insert((a, b), "hold");
            self.state.insert((b, a), "hold");
        }
        fn release(&mut self, a: NodeId, b: NodeId) {
            self.releases += 1;
            self.state.insert((a, b), "ok");
            self.state.insert((b, a), "ok");
        }
        fn set_chaos(&mut self, a: NodeId, b: NodeId, chaos: Option<(u64, u32)>) {
            match chaos {
                Some(c) => self.chaos.insert((a, b), c),
                None => self.chaos.remove(&(a, b)),
            };
        }
    }

    fn links(ls: &[(NodeId, NodeId)]) -> BTreeSet<Link> {
        ls.iter().map(|&(a, b)| Link::new(a, b)).collect()
    }

    #[test]
    fn overlapping_cuts_heal_only_when_both_are_gone() {
        let (mut net, mut t) = (Network::new(), FakeNet::default());
        net.cut_links(&links(&[(1, 2), (2, 1)]), &mut t);
        net.cut_links(&links(&[(1, 2)]), &mut t);
        net.uncut_links(&links(&[(1, 2), (2, 1)]), &mut t);
        assert_eq!(t.get(1, 2), "cut");
        assert_eq!(t.get(2, 1), "ok");
        net.uncut_links(&links(&[(1, 2)]), &mut t);
        assert_eq!(t.get(1, 2), "ok");
        assert!(net.is_clean());
    }

    #[test]
    fn a_cut_survives_a_hold_and_its_release() {
        let (mut net, mut t) = (Network::new(), FakeNet::default());
        net.cut_links(&links(&[(3, 1)]), &mut t);
        net.hold_links(&[Link::new(1, 3)], &mut t);
        assert_eq!((t.get(1, 3), t.get(3, 1)), ("hold", "cut"));
        net.release_links(&[Link::new(1, 3)], &mut t);
        assert_eq!((t.get(1, 3), t.get(3, 1)), ("ok", "cut"));
        assert_eq!(t.releases, 1);
        net.uncut_links(&links(&[(3, 1)]), &mut t);
        assert_eq!(t.get(3, 1), "ok");
    }

    #[test]
    fn repairing_a_cut_keeps_a_hold() {
        let (mut net, mut t) = (Network::new(), FakeNet::default());
        net.hold_links(&[Link::new(1, 2)], &mut t);
        net.cut_links(&links(&[(1, 2)]), &mut t);
        assert_eq!((t.get(1, 2), t.get(2, 1)), ("cut", "hold"));
        net.uncut_links(&links(&[(1, 2)]), &mut t);
        assert_eq!((t.get(1, 2), t.get(2, 1)), ("hold", "hold"));
        assert_eq!(t.releases, 0, "held messages stay held");
    }

    #[test]
    fn chaos_takes_the_worst_and_clears() {
        let (mut net, mut t) = (Network::new(), FakeNet::default());
        net.add_chaos(1, &[Link::new(1, 2)], 100, 50, &mut t);
        net.add_chaos(2, &[Link::new(2, 1)], 300, 10, &mut t);
        assert_eq!(t.chaos[&(1, 2)], (300, 50));
        net.remove_chaos(2, &[Link::new(2, 1)], &mut t);
        assert_eq!(t.chaos[&(1, 2)], (100, 50));
        net.remove_chaos(1, &[Link::new(1, 2)], &mut t);
        assert!(t.chaos.is_empty());
        assert!(net.is_clean());
    }
}
