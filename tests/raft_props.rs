//! Property tests of the Raft core: random schedules of message delivery,
//! loss, duplication and reordering, partitions, crashes (losing all that
//! was not fsynced) and restarts, over 3 to 5 in-memory nodes. The test
//! cluster checks election safety, log matching, leader completeness,
//! state machine safety and the per-node invariants after every step; at
//! the end every fault is healed and the cluster must converge.

use faultline::raft::rng::SplitMix64;
use faultline::raft::testing::Cluster;
use faultline::raft::{Bug, Bugs, Config, NodeId, Role};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Action {
    Deliver(usize),
    Drop(usize),
    Duplicate(usize),
    Tick(usize, u64),
    Propose(usize),
    Read(usize),
    Crash(usize),
    Restart(usize),
    Isolate(usize),
    Heal,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        30 => any::<usize>().prop_map(Action::Deliver),
        4 => any::<usize>().prop_map(Action::Drop),
        2 => any::<usize>().prop_map(Action::Duplicate),
        20 => (any::<usize>(), 1u64..200).prop_map(|(n, ms)| Action::Tick(n, ms)),
        10 => any::<usize>().prop_map(Action::Propose),
        2 => any::<usize>().prop_map(Action::Read),
        2 => any::<usize>().prop_map(Action::Crash),
        3 => any::<usize>().prop_map(Action::Restart),
        1 => any::<usize>().prop_map(Action::Isolate),
        2 => Just(Action::Heal),
    ]
}

fn config(seed: u64, pre_vote: bool, check_quorum: bool) -> Config {
    Config {
        seed,
        bugs: Bugs::NONE,
        pre_vote,
        check_quorum,
        max_append_entries: 3,
        max_inflight: 2,
        max_snapshot_chunk: 40,
        snapshot_threshold: 6,
        trailing_logs: 2,
        ..Config::default()
    }
}

fn run(n: u64, seed: u64, pre_vote: bool, check_quorum: bool, actions: &[Action]) -> Cluster {
    let c = run_with(n, &config(seed, pre_vote, check_quorum), actions);
    if let Some(v) = c.violation() {
        panic!("{v}\n{}", c.status());
    }
    c
}

/// Run the schedule; stops at the first violation, which the returned
/// cluster holds.
fn run_with(n: u64, cfg: &Config, actions: &[Action]) -> Cluster {
    let mut c = Cluster::new(n, cfg);
    c.snapshot_padding = 100;
    let ids: Vec<NodeId> = c.ids();
    let pick = |i: usize| ids[i % ids.len()];
    let mut proposals = 0u64;
    for a in actions {
        let len = c.network.len().max(1);
        match *a {
            Action::Deliver(i) => c.deliver(i % len),
            Action::Drop(i) => c.drop_message(i % len),
            Action::Duplicate(i) => c.duplicate(i % len),
            Action::Tick(i, ms) => c.tick_node(pick(i), ms),
            Action::Propose(i) => {
                let id = pick(i);
                if c.is_up(id) {
                    proposals += 1;
                    let _ = c.propose(id, format!("v{proposals}").as_bytes());
                }
            }
            Action::Read(i) => {
                let id = pick(i);
                if c.is_up(id) {
                    let _ = c.read_index(id, proposals);
                }
            }
            Action::Crash(i) => {
                // Keep a majority up so the run can make progress at all.
                let id = pick(i);
                if c.live_ids().len() as u64 > n / 2 + 1 {
                    c.crash(id);
                }
            }
            Action::Restart(i) => c.restart(pick(i)),
            Action::Isolate(i) => c.isolate(pick(i)),
            Action::Heal => c.heal(),
        }
        if c.violation().is_some() {
            break;
        }
    }
    c
}

/// Heal everything and let the cluster settle: it must elect a leader
/// that commits a fresh entry on every node.
fn converge(c: &mut Cluster) {
    c.heal();
    for id in c.ids() {
        c.restart(id);
    }
    // Liveness is only probable: without pre-vote, each campaign by a node
    // with a stale log (which cannot win) raises the term and restarts
    // every timer, and an up-to-date node must draw the shortest timeout
    // to win. With a 300-600 ms timeout, 3 s allows about eight rounds, and
    // a shrunk 4-node schedule (below) lost all of them; 10 s allows ~25.
    c.run_for(10_000, 25);
    let leader = c
        .leader()
        .unwrap_or_else(|| panic!("no leader after heal\n{}", c.status()));
    let (_, index) = c.propose(leader, b"final").expect("leader accepts");
    c.run_for(1_000, 25);
    c.assert_safe();
    for id in c.ids() {
        let r = c.node(id);
        assert!(
            r.commit_index() >= index,
            "node {id} did not converge\n{}",
            c.status()
        );
        assert_eq!(r.role() == Role::Leader, id == leader, "{}", c.status());
    }
    let digests: Vec<u64> = c.ids().iter().map(|id| c.nodes[id].sm.digest).collect();
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "state machines differ: {digests:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn safety_under_random_faults(
        n in 3u64..=5,
        seed in any::<u64>(),
        pre_vote in any::<bool>(),
        check_quorum in any::<bool>(),
        actions in proptest::collection::vec(action(), 1..400),
    ) {
        let mut c = run(n, seed, pre_vote, check_quorum, &actions);
        converge(&mut c);
    }
}

/// A schedule drawn from a seed, with the weights of [`action`].
fn random_schedule(seed: u64, len: usize) -> Vec<Action> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| {
            let x = rng.next_u64() as usize;
            match rng.below(78) {
                0..=29 => Action::Deliver(x),
                30..=33 => Action::Drop(x),
                34..=35 => Action::Duplicate(x),
                36..=55 => Action::Tick(x, 1 + rng.below(200)),
                56..=65 => Action::Propose(x),
                66..=67 => Action::Read(x),
                68..=69 => Action::Crash(x),
                70..=72 => Action::Restart(x),
                73..=74 => Action::Isolate(x),
                _ => Action::Heal,
            }
        })
        .collect()
}

/// Search seeds until the cluster's invariants catch `bug`; returns the
/// violated invariant.
fn catch(bug: Bug, n: u64, tweak: impl Fn(&mut Config)) -> String {
    for seed in 0..400u64 {
        let mut cfg = config(seed, seed % 2 == 0, true);
        cfg.bugs = Bugs::only(bug);
        tweak(&mut cfg);
        let c = run_with(n, &cfg, &random_schedule(seed, 600));
        if let Some(v) = c.violation() {
            return v.invariant.to_string();
        }
    }
    panic!("{bug} was never caught");
}

#[test]
fn the_same_schedules_are_clean_without_bugs() {
    for seed in 0..400u64 {
        let cfg = config(seed, seed % 2 == 0, true);
        let c = run_with(3, &cfg, &random_schedule(seed, 600));
        if let Some(v) = c.violation() {
            panic!("seed {seed}: {v}\n{}", c.status());
        }
    }
}

#[test]
fn seeded_schedules_converge() {
    for seed in 0..300u64 {
        let cfg = config(seed, seed % 2 == 0, seed % 3 != 0);
        let mut c = run_with(3 + seed % 3, &cfg, &random_schedule(seed, 400));
        if let Some(v) = c.violation() {
            panic!("seed {seed}: {v}\n{}", c.status());
        }
        converge(&mut c);
    }
}

#[test]
fn minority_quorum_is_caught() {
    let inv = catch(Bug::MinorityQuorum, 3, |_| {});
    eprintln!("minority-quorum: {inv}");
}

#[test]
fn vote_without_log_check_is_caught() {
    let inv = catch(Bug::VoteWithoutLogCheck, 3, |_| {});
    eprintln!("vote-without-log-check: {inv}");
}

#[test]
fn forget_vote_on_step_down_is_caught() {
    let inv = catch(Bug::ForgetVoteOnStepDown, 3, |_| {});
    eprintln!("forget-vote-on-step-down: {inv}");
}

#[test]
fn truncate_on_every_append_is_caught() {
    let inv = catch(Bug::TruncateOnEveryAppend, 3, |_| {});
    eprintln!("truncate-on-every-append: {inv}");
}

/// A schedule proptest shrank to from a random run (4 nodes, no pre-vote,
/// no check-quorum): nodes 1 and 2 hold a longer log than 3 and 4, which
/// campaign in turn and cannot win; each of their campaigns restarts every
/// timer, and 1 and 2 lost the draw for the first timeout eight rounds in
/// a row, so a 3 s convergence budget ended without a leader.
#[test]
fn regression_no_leader_after_heal_four_nodes() {
    let actions = vec![
        Action::Crash(9909456364234484382),
        Action::Tick(13586016619620665092, 74),
        Action::Tick(14818275165030899108, 111),
        Action::Tick(7924823515328612176, 148),
        Action::Tick(1465814933325708384, 94),
        Action::Deliver(14167916489023631673),
        Action::Drop(6370512455855590877),
        Action::Deliver(0),
        Action::Tick(6325905436821830613, 10),
        Action::Tick(2465065776349899001, 89),
        Action::Deliver(0),
        Action::Restart(6231401437755225430),
        Action::Tick(3904726157414564725, 169),
        Action::Deliver(0),
        Action::Tick(5406840732666375521, 161),
        Action::Deliver(54998785706089),
        Action::Deliver(0),
        Action::Deliver(6778931428384565317),
        Action::Deliver(1373315590311618691),
        Action::Deliver(10643964492163209384),
        Action::Deliver(129542761717577932),
        Action::Deliver(10774641641366849216),
        Action::Deliver(30862581995065800),
        Action::Crash(9421097161725552773),
        Action::Tick(8275976075167104919, 56),
        Action::Restart(16871413618549576717),
        Action::Tick(3050360486271131788, 195),
        Action::Tick(17594922926124980543, 85),
        Action::Tick(14052334869595919632, 109),
        Action::Tick(9797151947245701139, 141),
        Action::Isolate(13198445979203984827),
        Action::Tick(17512740413874769296, 141),
        Action::Tick(10593747981978903583, 117),
        Action::Tick(5366226838205408063, 141),
        Action::Deliver(15693918098348260023),
        Action::Deliver(18121742199536818539),
        Action::Deliver(7802888853190978107),
        Action::Tick(1640969733585528764, 120),
        Action::Deliver(12716382119261152255),
        Action::Tick(9498134027109544866, 190),
        Action::Tick(143253731942615179, 102),
        Action::Deliver(1144253676736466756),
        Action::Deliver(7926947854804938210),
        Action::Deliver(16406089330786691193),
        Action::Tick(8784429956893523026, 93),
        Action::Crash(9051481145403936740),
        Action::Tick(8188677508515073615, 163),
        Action::Tick(3791737544445561762, 193),
        Action::Deliver(5234051034892786961),
        Action::Deliver(3068168134128362818),
        Action::Deliver(9896337347030075460),
        Action::Tick(12024076277386218858, 159),
        Action::Tick(8238783822254513203, 104),
        Action::Deliver(5669117032540572314),
        Action::Tick(2979869492444705570, 138),
        Action::Tick(956786207663995042, 124),
        Action::Drop(14788597269769040333),
        Action::Deliver(11591936560830743133),
        Action::Tick(6894751628908081698, 47),
        Action::Drop(10959143455213571608),
        Action::Tick(5616945382159480303, 175),
        Action::Deliver(5635667832298690442),
        Action::Deliver(10622609149047435912),
        Action::Deliver(18036676718864516634),
        Action::Deliver(2054311497924578989),
        Action::Deliver(4401116910828758162),
        Action::Deliver(13792298505352997634),
        Action::Tick(13099767870308195562, 115),
        Action::Deliver(3927580306791887460),
        Action::Tick(4835508455569845031, 161),
        Action::Deliver(17275442340313872305),
        Action::Deliver(7543170733835616285),
    ];
    let mut c = run(4, 3020946807865516114, false, false, &actions);
    converge(&mut c);
}
