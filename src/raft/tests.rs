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
