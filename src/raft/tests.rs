//! Behaviour tests of the core over the in-memory [`Cluster`].

use super::testing::Cluster;
use super::*;

fn cfg() -> Config {
    Config {
        seed: 42,
        ..Config::default()
    }
}

fn elect(c: &mut Cluster, id: NodeId) {
    c.fire_election_timeout(id);
    c.stabilize();
    assert_eq!(c.node(id).role(), Role::Leader, "{}", c.status());
}

#[test]
fn a_cluster_elects_one_leader_and_replicates() {
    let mut c = Cluster::new(3, &cfg());
    elect(&mut c, 1);
    let (term, index) = c.propose(1, b"x").unwrap();
    assert_eq!((term, index), (1, 2));
    c.stabilize();
    assert_eq!(c.node(1).commit_index(), 2);
    // Followers learn the commit index after the commit timeout.
    c.run_for(100, 10);
    for id in 1..=3 {
        assert_eq!(c.node(id).commit_index(), 2, "{}", c.status());
        assert_eq!(c.nodes[&id].applied_commands, vec![(2, b"x".to_vec())]);
    }
    c.assert_safe();
}

#[test]
fn randomised_timeouts_elect_a_leader_without_help() {
    let mut c = Cluster::new(5, &cfg());
    c.run_for(3_000, 10);
    let leader = c.leader().expect("a leader");
    let term = c.node(leader).term();
    for id in c.ids() {
        assert_eq!(c.node(id).leader(), Some(leader));
        assert_eq!(c.node(id).term(), term);
    }
    c.assert_safe();
}

#[test]
fn a_single_voter_commits_on_its_own_fsync() {
    let mut c = Cluster::new(1, &cfg());
    c.fire_election_timeout(1);
    assert_eq!(c.node(1).role(), Role::Leader);
    c.propose(1, b"a").unwrap();
    assert_eq!(c.node(1).commit_index(), 2);
    assert_eq!(c.nodes[&1].sm.commands, 1);
}

#[test]
fn group_commit_batches_proposals_into_one_append() {
    let mut c = Cluster::new(3, &cfg());
    elect(&mut c, 1);
    c.run_for(100, 10);
    let leader = c.node_mut(1);
    for i in 0..10u8 {
        leader.propose(vec![i], 1000).unwrap();
    }
    let rd = leader.clone().ready();
    assert_eq!(rd.entries.len(), 10);
    c.process(1);
    assert_eq!(append_sizes(&c, 2), vec![10]);
    assert_eq!(append_sizes(&c, 3), vec![10]);
}

/// Entries per AppendEntries in flight to `to`.
fn append_sizes(c: &Cluster, to: NodeId) -> Vec<usize> {
    c.network
        .iter()
        .filter(|e| e.to == to)
        .filter_map(|e| match &e.msg {
            Message::AppendEntries { entries, .. } => Some(entries.len()),
            _ => None,
        })
        .collect()
}

#[test]
fn batches_respect_max_append_entries_and_pipeline() {
    let mut c = Cluster::new(
        3,
        &Config {
            max_append_entries: 4,
            max_inflight: 2,
            ..cfg()
        },
    );
    elect(&mut c, 1);
    c.run_for(100, 10);
    let leader = c.node_mut(1);
    for i in 0..20u8 {
        leader.propose(vec![i], 1000).unwrap();
    }
    c.process(1);
    // Two in flight of four entries each; the rest waits for answers.
    assert_eq!(append_sizes(&c, 2), vec![4, 4]);
    c.stabilize();
    c.run_for(100, 10);
    assert_eq!(c.node(2).commit_index(), 21, "{}", c.status());
    c.assert_safe();
}

#[test]
fn an_isolated_leader_steps_down_and_a_new_one_takes_over() {
    let mut c = Cluster::new(3, &cfg());
    elect(&mut c, 1);
    c.isolate(1);
    c.propose(1, b"lost").unwrap();
    c.run_for(2_000, 10);
    assert_ne!(
        c.node(1).role(),
        Role::Leader,
        "check-quorum: {}",
        c.status()
    );
    let new = c.leader().expect("new leader");
    assert_ne!(new, 1);
    c.propose(new, b"kept").unwrap();
    c.heal();
    c.run_for(1_000, 10);
    for id in 1..=3 {
        let cmds: Vec<&[u8]> = c.nodes[&id]
            .applied_commands
            .iter()
            .map(|(_, d)| d.as_slice())
            .collect();
        assert_eq!(cmds, vec![b"kept".as_slice()], "node {id}: {}", c.status());
    }
    c.assert_safe();
}

#[test]
fn a_restarted_follower_recovers_from_its_disk_and_catches_up() {
    let mut c = Cluster::new(3, &cfg());
    elect(&mut c, 1);
    for i in 0..5u8 {
        c.propose(1, &[i]).unwrap();
    }
    c.run_for(200, 10);
    c.crash(3);
    for i in 5..10u8 {
        c.propose(1, &[i]).unwrap();
    }
    c.run_for(200, 10);
    c.restart(3);
    assert_eq!(c.node(3).last_index(), 6);
    c.run_for(500, 10);
    assert_eq!(c.node(3).commit_index(), 11);
    assert_eq!(c.nodes[&3].sm.commands, 10);
    c.assert_safe();
}

fn small_snapshots() -> Config {
    Config {
        snapshot_threshold: 5,
        trailing_logs: 1,
        max_snapshot_chunk: 16,
        ..cfg()
    }
}

#[test]
fn a_follower_behind_the_compacted_log_catches_up_by_chunked_snapshot() {
    let mut c = Cluster::new(3, &small_snapshots());
    c.snapshot_padding = 40;
    elect(&mut c, 1);
    c.crash(3);
    for i in 0..20u8 {
        c.propose(1, &[i]).unwrap();
        c.stabilize();
    }
    assert!(c.node(1).snapshot_meta().is_some_and(|m| m.index > 5));
    c.restart(3);
    c.run_for(1_000, 10);
    assert_eq!(
        c.node(3).commit_index(),
        c.node(1).commit_index(),
        "{}",
        c.status()
    );
    assert_eq!(c.nodes[&3].sm.digest, c.nodes[&1].sm.digest);
    c.assert_safe();
}

/// A copy of the last snapshot chunk arrives again after the follower has
/// applied past it.
fn stale_snapshot_replay(bugs: Bugs) -> Cluster {
    let mut c = Cluster::new(
        3,
        &Config {
            bugs,
            ..small_snapshots()
        },
    );
    elect(&mut c, 1);
    c.crash(3);
    for i in 0..20u8 {
        c.propose(1, &[i]).unwrap();
        c.stabilize();
    }
    c.restart(3);
    let mut copies = Vec::new();
    for _ in 0..200 {
        c.advance(10);
        while !c.network.is_empty() {
            let e = &c.network[0];
            if e.to == 3 && matches!(e.msg, Message::InstallSnapshot { .. }) {
                copies.push(e.clone());
            }
            c.deliver(0);
        }
    }
    for i in 20..30u8 {
        c.propose(1, &[i]).unwrap();
    }
    c.run_for(200, 10);
    assert!(!copies.is_empty(), "a snapshot was sent");
    for copy in copies {
        c.network.push(copy);
        c.stabilize();
    }
    c
}

#[test]
fn a_replayed_snapshot_at_or_below_applied_is_never_installed() {
    let c = stale_snapshot_replay(Bugs::NONE);
    c.assert_safe();
    let bad = stale_snapshot_replay(Bugs::only(Bug::InstallStaleSnapshot));
    let v = bad.violation().expect("the stale install is caught");
    // Either the state machine goes back, or storage (which, like the
    // real one, refuses an older snapshot) stops the node.
    assert!(
        ["monotonic applied", "storage accepts what the core asks"].contains(&v.invariant),
        "{v}"
    );
}

#[test]
fn membership_learner_promote_and_removing_the_leader() {
    let mut c = Cluster::new(3, &cfg());
    elect(&mut c, 1);
    c.add_node(4, &cfg());
    // Not before the leader has committed an entry of its term.
    c.run_for(100, 10);
    c.propose_conf_change(1, ConfChange::AddLearner(4)).unwrap();
    assert_eq!(
        c.propose_conf_change(1, ConfChange::Promote(4)),
        Err(ProposeError::ConfChangeInProgress)
    );
    c.run_for(300, 10);
    assert_eq!(c.node(4).config().learners.len(), 1);
    c.propose_conf_change(1, ConfChange::Promote(4)).unwrap();
    c.run_for(300, 10);
    assert_eq!(c.node(4).config().voters.len(), 4);
    c.propose_conf_change(1, ConfChange::Remove(1)).unwrap();
    c.run_for(3_000, 10);
    assert_ne!(c.node(1).role(), Role::Leader);
    let leader = c.leader().expect("a new leader");
    assert!([2, 3, 4].contains(&leader));
    c.propose(leader, b"after").unwrap();
    c.run_for(300, 10);
    assert!(c.nodes[&4]
        .applied_commands
        .iter()
        .any(|(_, d)| d == b"after"));
    c.assert_safe();
}

#[test]
fn concurrent_config_changes_are_refused_unless_the_bug_is_on() {
    for (bugs, accepted) in [
        (Bugs::NONE, false),
        (Bugs::only(Bug::ConcurrentConfigChanges), true),
    ] {
        let mut c = Cluster::new(3, &Config { bugs, ..cfg() });
        elect(&mut c, 1);
        c.run_for(100, 10);
        c.node_mut(1)
            .propose_conf_change(ConfChange::AddLearner(4), 1000)
            .unwrap();
        let second = c
            .node_mut(1)
            .propose_conf_change(ConfChange::AddLearner(5), 1000);
        assert_eq!(second.is_ok(), accepted);
    }
}

#[test]
fn leadership_transfer_hands_over_and_refuses_proposals_meanwhile() {
    let mut c = Cluster::new(3, &cfg());
    elect(&mut c, 1);
    c.run_for(100, 10);
    c.transfer_leadership(1, 3).unwrap();
    assert_eq!(c.propose(1, b"x"), Err(ProposeError::TransferInProgress));
    c.stabilize();
    assert_eq!(c.node(3).role(), Role::Leader, "{}", c.status());
    assert_eq!(c.node(1).leader(), Some(3));
    c.assert_safe();
}

#[test]
fn read_index_waits_for_a_term_commit_and_a_quorum_round() {
    let mut c = Cluster::new(3, &cfg());
    c.fire_election_timeout(1);
    // Deliver the votes but nothing the new leader sends afterwards.
    while c.node(1).role() != Role::Leader {
        c.deliver(0);
    }
    c.read_index(1, 7).unwrap();
    assert!(
        c.nodes[&1].reads.is_empty(),
        "no read before the term's first commit"
    );
    c.stabilize();
    c.run_for(100, 10);
    assert_eq!(c.nodes[&1].reads, vec![ReadState { id: 7, index: 1 }]);
    // A cut-off leader cannot confirm a read; it fails when it steps down.
    c.isolate(1);
    c.read_index(1, 8).unwrap();
    c.run_for(1_000, 10);
    assert!(c.nodes[&1].reads.iter().all(|r| r.id != 8));
    assert!(c.nodes[&1].failed_reads.contains(&8));
    c.assert_safe();
}

#[test]
fn local_reads_bug_answers_without_a_round() {
    let mut c = Cluster::new(
        3,
        &Config {
            bugs: Bugs::only(Bug::LocalReads),
            ..cfg()
        },
    );
    elect(&mut c, 1);
    c.run_for(100, 10);
    c.isolate(1);
    c.read_index(1, 9).unwrap();
    assert_eq!(c.nodes[&1].reads.len(), 1, "served at once, unconfirmed");
}

#[test]
fn lease_reads_skip_the_round_while_the_lease_holds() {
    let mut c = Cluster::new(
        3,
        &Config {
            lease_reads: true,
            ..cfg()
        },
    );
    c.run_for(2_000, 10);
    let l = c.leader().unwrap();
    c.read_index(l, 1).unwrap();
    assert_eq!(c.nodes[&l].reads.len(), 1, "served from the lease");
    c.isolate(l);
    c.run_for(c.node(l).raft_config().election_timeout, 10);
    c.read_index(l, 2).ok();
    assert!(
        c.nodes[&l].reads.iter().all(|r| r.id != 2),
        "the lease expired"
    );
}
