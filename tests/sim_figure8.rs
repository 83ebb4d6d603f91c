//! Raft's Figure 8 in a full simulation (five real nodes, the KV store,
//! clients, the monitor), as a scripted run of seed 3: the chain that makes
//! a leader's by-count commit of an earlier-term entry unsafe, fault by
//! fault, with times read off the seed's trace.
//!
//! 1. `OLD_MINORITY` {1, 2} is cut from the rest while node 1 leads term 1:
//!    client writes give nodes 1 and 2 a backlog of term-1 entries nobody
//!    else has, the first of them `e`, until check-quorum steps node 1 down.
//! 2. Node 5, armed with `before-leader-send`, wins term 3 on the majority
//!    side and crashes before sending anything: its term-3 entry at `e`'s
//!    index is on its disk alone, and nodes 3 and 4 have no quorum left.
//! 3. The cut heals; only node 1 or 2 can win (their logs are longer), and
//!    node 2 wins term 4. Latency on the links to the lagging nodes 3 and 4
//!    stretches their catch-up: a buggy leader commits `e` by count as soon
//!    as node 4 acknowledges it, a round trip before node 4 gets the term-4
//!    no-op.
//! 4. Inside that round trip, nodes 1 and 2 are cut off again (a cut drops
//!    what is in flight; a crash would not: the no-op already sent would
//!    still arrive and make node 4 too up to date to vote for node 5).
//! 5. Node 5 restarts and wins term 5 with the votes of nodes 3 and 4, whose
//!    last term (1) is older than its own (3), and replicates its entry over
//!    `e`. On the correct build that is Raft working as it should (`e` was
//!    never committed); with `commit-old-term-by-count` it overwrites a
//!    committed entry, and the monitor must say so.

mod suite_support;
use suite_support::{leader_at, scripted_config};

use faultline::bugs::{Bug, Bugs};
use faultline::harness::run::judge;
use faultline::harness::verdict::{Checker, Verdict, Verdicts};
use faultline::raft::Role;
use faultline::sim::{self, NodeState, RunConfig, RunOutcome};
use faultline_nemesis::{CrashScope, Direction, Failpoint, Fault, Link, Partition, Target};

const SEED: u64 = 3;
const DURATION_MS: u64 = 5_000;
/// Nodes 1 and 2, cut off from the rest twice.
const OLD_MINORITY: [u64; 2] = [1, 2];
/// The two followers that lag behind the backlog and vote for node 5.
const LAGGING: [u64; 2] = [3, 4];
/// The node elected in term 3 that crashes before sending its entry.
const LATER_TERM: u64 = 5;

/// Fault times (ms) from seed 3's trace.
const FIRST_CUT: (u64, u64) = (1_000, 2_000);
const CRASH_ARMED: (u64, u64) = (1_000, 2_700);
const SLOW_LINKS: (u64, u64) = (2_000, 3_400);
/// Node 2 leads term 4 from 2578 ms; node 4 acknowledges `e` at 2607 and
/// gets the term-4 no-op between 2663 and 2694: the cut falls in between.
const SECOND_CUT: (u64, u64) = (2_650, 4_000);

fn old_minority_cut() -> Fault {
    Fault::Partition {
        cut: Partition::Halves {
            minority: OLD_MINORITY.to_vec(),
            direction: Direction::Both,
        },
    }
}

/// Nodes 1, 2 and 4: the nodes that had seen `e` committed when the
/// second cut fell (the buggy leader, its partner, and the lagging node
/// that acknowledged `e`).
const WITNESSES: [u64; 3] = [1, 2, 4];
/// All of them crash just after the second cut and restart at once.
const WITNESSES_RESTART: (u64, u64) = (2_700, 2_750);

/// The script, optionally with every witness of `e`'s commit restarted
/// before node 5's election.
fn script(bugs: Bugs, restart_witnesses: bool) -> RunConfig {
    let slow: Vec<Link> = OLD_MINORITY
        .iter()
        .flat_map(|&a| LAGGING.iter().map(move |&b| Link::new(a, b)))
        .collect();
    let mut faults = vec![
        (FIRST_CUT.0, Some(FIRST_CUT.1), old_minority_cut()),
        (
            CRASH_ARMED.0,
            Some(CRASH_ARMED.1),
            Fault::Failpoint {
                target: Target::node(LATER_TERM),
                point: Failpoint::BeforeLeaderSend,
            },
        ),
        (
            SLOW_LINKS.0,
            Some(SLOW_LINKS.1),
            Fault::Chaos {
                links: slow,
                min_latency_ms: 50,
                max_latency_ms: 100,
                loss_permille: 0,
            },
        ),
        (SECOND_CUT.0, Some(SECOND_CUT.1), old_minority_cut()),
    ];
    if restart_witnesses {
        faults.push((
            WITNESSES_RESTART.0,
            Some(WITNESSES_RESTART.1),
            Fault::Crash {
                targets: Target::Nodes(WITNESSES.to_vec()),
                scope: CrashScope::Majority,
                torn_block_bytes: None,
            },
        ));
    }
    let mut config = scripted_config(SEED, DURATION_MS, faults);
    // One entry per AppendEntries: the lagging nodes get the backlog entry
    // by entry, `e` well before the no-op at its end.
    config.raft.max_append_entries = 1;
    config.bugs = bugs;
    config.validate().unwrap();
    config
}

fn figure8(bugs: Bugs, restart_witnesses: bool) -> (RunOutcome, Verdicts) {
    let config = script(bugs, restart_witnesses);
    let out = sim::run(&config, None);
    let verdicts = judge(&config, &out);
    (out, verdicts)
}

/// `node`'s traced state at `ms` (its last line at or before it).
fn state_at(out: &RunOutcome, node: u64, ms: u64) -> NodeState {
    out.trace
        .iter()
        .rev()
        .find(|l| l.node == node && l.time_ns <= ms * 1_000_000)
        .unwrap_or_else(|| panic!("node {node} has no trace line by {ms} ms"))
        .state
}

/// The terms `node` led in `from_ms..to_ms`, in order.
fn terms_led(out: &RunOutcome, node: u64, from_ms: u64, to_ms: u64) -> Vec<u64> {
    let mut terms: Vec<u64> = out
        .trace
        .iter()
        .filter(|l| l.node == node && l.state.role == Some(Role::Leader))
        .filter(|l| (from_ms * 1_000_000..to_ms * 1_000_000).contains(&l.time_ns))
        .map(|l| l.state.term)
        .collect();
    terms.dedup();
    terms
}

/// The first old-term entry `e` and its term: the first index the leader
/// of term 1 had not committed when the first cut fell.
fn old_entry(out: &RunOutcome) -> (u64, u64) {
    let leader = leader_at(out, FIRST_CUT.0 - 1).expect("a leader before the first cut");
    assert!(
        OLD_MINORITY.contains(&leader),
        "the first cut must keep the leader (node {leader}) on the minority side"
    );
    let s = state_at(out, leader, FIRST_CUT.0);
    (s.commit + 1, s.term)
}

/// The links of the chain that happen on both builds, because the two runs
/// are the same until the buggy leader's first by-count commit: node 5 won
/// term 3 and crashed there, node 1 or 2 then led a later term before the
/// second cut, and node 5, restarted, led a term after that. Were one of
/// them missing, a valid verdict would prove nothing.
fn assert_chain(out: &RunOutcome) -> (u64, u64) {
    let (e, e_term) = old_entry(out);
    let backlog = OLD_MINORITY
        .iter()
        .map(|&n| state_at(out, n, FIRST_CUT.1).last_index)
        .max()
        .unwrap();
    assert!(
        backlog > e,
        "the old minority must hold a backlog past {e}, holds up to {backlog}"
    );
    // `before-leader-send` is reached only by a leader with new entries:
    // node 5 won a term in the first cut and went down before sending them
    // (won and crashed within one step, so the trace never shows it lead).
    let crash = out
        .faults_applied
        .iter()
        .find(|r| r.f == "failpoint-crash")
        .expect("node 5's failpoint crashed it");
    assert_eq!(crash.nodes, vec![LATER_TERM]);
    assert!(
        (FIRST_CUT.0..FIRST_CUT.1).contains(&crash.time_ms),
        "node 5 crashed at {} ms, not in the first cut",
        crash.time_ms
    );
    let x_term = state_at(out, LATER_TERM, crash.time_ms).term;
    assert!(x_term > e_term, "node 5 crashed in term {x_term}");
    assert_eq!(
        state_at(out, LATER_TERM, FIRST_CUT.1).role,
        None,
        "node 5 stays down until its failpoint heals"
    );
    let restarted = state_at(out, LATER_TERM, CRASH_ARMED.1 + 1);
    assert!(
        restarted.role.is_some() && restarted.last_index >= e,
        "node 5 must come back holding its own entry at {e}: {restarted:?}"
    );
    let catch_up: Vec<u64> = OLD_MINORITY
        .iter()
        .flat_map(|&n| terms_led(out, n, FIRST_CUT.1, SECOND_CUT.0))
        .collect();
    assert!(
        catch_up.len() == 1 && catch_up[0] > x_term,
        "one node of the old minority must lead a term after node 5's before the second cut, led {catch_up:?}"
    );
    for n in LAGGING {
        assert!(
            state_at(out, n, SECOND_CUT.0).last_index <= backlog,
            "node {n} must not have the new leader's entries when the second cut falls"
        );
    }
    let overwrite = terms_led(out, LATER_TERM, CRASH_ARMED.1, SECOND_CUT.1);
    assert!(
        overwrite.first().is_some_and(|&t| t > catch_up[0]),
        "node 5 must lead a term after {} before the second cut heals, led {overwrite:?}",
        catch_up[0]
    );
    (e, e_term)
}

/// With the bug, node 2 commits `e` by count; node 5's election over it is
/// caught by the monitor as the moment a leader lacks a committed entry,
/// and the explanation names the entry.
#[test]
fn a_by_count_commit_of_an_old_term_entry_is_caught_when_a_later_term_overwrites_it() {
    let (out, verdicts) = figure8(Bugs::only(Bug::CommitOldTermByCount), false);
    let (e, e_term) = assert_chain(&out);
    assert!(
        OLD_MINORITY
            .iter()
            .any(|&n| state_at(&out, n, SECOND_CUT.0).commit >= e),
        "the old minority must have committed {e} before the second cut"
    );
    assert_eq!(verdicts.overall, Verdict::Invalid, "{}", verdicts.explain());
    assert_eq!(
        verdicts.caught_by,
        vec![Checker::Invariant],
        "{}",
        verdicts.explain()
    );
    let why = out.invariant_violation.clone().unwrap_or_default();
    let entry = format!("lacks entry {e} of term {e_term} committed at node");
    assert!(
        why.contains("leader completeness violated") && why.contains(&entry),
        "expected node 5's election to break leader completeness on entry {e}: {why}"
    );
    assert!(
        why.contains(&format!("leader {LATER_TERM} of term")),
        "{why}"
    );
}

/// The same script on the correct build: node 2 commits nothing of term 1
/// before its no-op reaches a majority, which the second cut prevents, so
/// node 5 overwriting the backlog is legal and every verdict is valid.
#[test]
fn the_same_script_on_the_correct_build_is_valid() {
    let (out, verdicts) = figure8(Bugs::NONE, false);
    let (e, _) = assert_chain(&out);
    assert_eq!(verdicts.overall, Verdict::Valid, "{}", verdicts.explain());
    for n in OLD_MINORITY {
        assert!(
            state_at(&out, n, SECOND_CUT.0).commit < e,
            "node {n} must not have committed {e} on the correct build"
        );
    }
}

/// The first time (ms) node 5 leads after its restart.
fn later_term_elected(out: &RunOutcome) -> u64 {
    out.trace
        .iter()
        .find(|l| {
            l.node == LATER_TERM
                && l.state.role == Some(Role::Leader)
                && l.time_ns > CRASH_ARMED.1 * 1_000_000
        })
        .map(|l| l.time_ns / 1_000_000)
        .expect("node 5 leads after its restart")
}

/// The overwrite stays visible when every node that saw `e` committed
/// restarts before node 5's election: a commit index is volatile, so by
/// then no node's state holds `e` as committed (as the trace shows), and
/// only a record of what was ever committed can tell. Before the monitor
/// kept one, this run was judged valid by every verdict: the overwritten
/// writes were clients' timed-out (`info`) operations, and the replicas
/// agree in the end.
#[test]
fn the_overwrite_is_caught_after_every_witness_of_the_commit_restarted() {
    let (out, verdicts) = figure8(Bugs::only(Bug::CommitOldTermByCount), true);
    let (e, e_term) = assert_chain(&out);
    let saw_commit: Vec<u64> = (1..=5)
        .filter(|&n| state_at(&out, n, WITNESSES_RESTART.0).commit >= e)
        .collect();
    assert!(
        !saw_commit.is_empty() && saw_commit.iter().all(|n| WITNESSES.contains(n)),
        "the witnesses of {e}'s commit were {saw_commit:?}, the script restarts {WITNESSES:?}"
    );
    let elected = later_term_elected(&out);
    for n in 1..=5 {
        let s = state_at(&out, n, elected);
        assert!(
            s.commit < e,
            "node {n} still holds commit {} >= {e} when node 5 leads at {elected} ms",
            s.commit
        );
    }
    assert_eq!(verdicts.overall, Verdict::Invalid, "{}", verdicts.explain());
    assert_eq!(
        verdicts.caught_by,
        vec![Checker::Invariant],
        "{}",
        verdicts.explain()
    );
    let why = out.invariant_violation.clone().unwrap_or_default();
    assert!(
        why.contains(&format!("entry {e} of term {e_term}"))
            || why.contains(&format!("entry {e} was committed as term {e_term}")),
        "expected the overwrite of entry {e} to be named: {why}"
    );
}

/// The restart variant on the correct build stays valid: nothing of the
/// old term was committed, so there is nothing to remember.
#[test]
fn the_restart_variant_on_the_correct_build_is_valid() {
    let (out, verdicts) = figure8(Bugs::NONE, true);
    assert_chain(&out);
    assert_eq!(verdicts.overall, Verdict::Valid, "{}", verdicts.explain());
}
