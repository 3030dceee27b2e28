//! Lab 2F's membership change in the core, driven by hand (`membership.rs`).

use super::*;
use crate::{ConfigChange, ConfigCommand, ConfigError, Configuration};

/// A service's commands: numbers, and configuration entries.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Op {
    Put(u64),
    Config(Configuration),
}

impl ConfigCommand for Op {
    fn from_config(config: Configuration) -> Op {
        Op::Config(config)
    }

    fn as_config(&self) -> Option<&Configuration> {
        match self {
            Op::Config(config) => Some(config),
            Op::Put(_) => None,
        }
    }
}

fn membership(initial: &[usize]) -> Membership<Op> {
    Membership {
        initial: Configuration::of(initial.iter().copied()),
        as_config: Op::as_config,
        from_config: Op::from_config,
    }
}

fn member(
    id: usize,
    universe: usize,
    initial: &[usize],
    state: &[u8],
    snapshot: Vec<u8>,
) -> Core<Op> {
    let cfg = config(id, universe);
    Core::with_membership(
        cfg,
        random(id as u64 + 1),
        state,
        snapshot,
        membership(initial),
    )
}

/// A universe of `universe` peers whose first configuration is `initial`.
fn universe(universe: usize, initial: &[usize]) -> Cluster<Op> {
    let cores = (0..universe)
        .map(|i| member(i, universe, initial, &[], Vec::new()))
        .collect();
    Cluster::new(cores)
}

fn voters(c: &Cluster<Op>, i: usize) -> Vec<usize> {
    c.cores[i].configuration().voters.iter().copied().collect()
}

/// Elects a leader among the connected peers and commits an entry of its term.
fn leader_with_entry(c: &mut Cluster<Op>) -> usize {
    let leader = c.elect();
    c.cores[leader].propose(Op::Put(1)).unwrap();
    c.settle();
    leader
}

/// A change takes effect on every peer that appends it, committed or not; a peer whose entry
/// is cut falls back to the configuration before it.
#[test]
fn configuration_takes_effect_on_append_and_reverts_on_a_cut() {
    let mut c = universe(5, &[0, 1, 2]);
    let leader = leader_with_entry(&mut c);
    let followers: Vec<usize> = (0..3).filter(|&p| p != leader).collect();
    // Only the leader and the joining peer 3 hear of the change: it cannot commit.
    for &f in &followers {
        c.connected[f] = false;
    }
    let (index, _) = c.cores[leader]
        .change_config(ConfigChange::AddVoter(3))
        .unwrap();
    c.settle();
    assert_eq!(voters(&c, leader), vec![0, 1, 2, 3]);
    assert_eq!(
        voters(&c, 3),
        vec![0, 1, 2, 3],
        "the joining peer has it too"
    );
    assert!(c.cores[leader].commit < index);
    // The others elect a leader of a later term, which overwrites the entry on peer 3.
    c.connected[leader] = false;
    for &f in &followers {
        c.connected[f] = true;
    }
    let second = c.elect();
    c.cores[second].propose(Op::Put(2)).unwrap();
    c.settle();
    c.connected[leader] = true;
    c.tick(20);
    assert_eq!(
        voters(&c, leader),
        vec![0, 1, 2],
        "keeps a cut configuration"
    );
    // Peer 3 is in no configuration but its own, so no leader tells it: it keeps the entry,
    // and stands now and then, in vain (its log is behind). PreVote (2E) keeps it quiet.
    assert_eq!(voters(&c, 3), vec![0, 1, 2, 3]);
}

/// One change at a time, never before an entry of the leader's term commits, and none that
/// makes no sense.
#[test]
fn leader_refuses_changes_it_may_not_make() {
    let mut c = universe(5, &[0, 1, 2]);
    let leader = c.elect();
    let l = &mut c.cores[leader];
    assert_eq!(
        l.change_config(ConfigChange::AddVoter(3)),
        Err(ConfigError::NoEntryOfTerm)
    );
    l.propose(Op::Put(1)).unwrap();
    c.settle();
    let l = &mut c.cores[leader];
    assert_eq!(
        l.change_config(ConfigChange::AddVoter(1)),
        Err(ConfigError::Invalid)
    );
    assert_eq!(
        l.change_config(ConfigChange::RemoveVoter(4)),
        Err(ConfigError::Invalid)
    );
    assert_eq!(
        l.change_config(ConfigChange::AddVoter(5)),
        Err(ConfigError::Invalid)
    );
    for p in 0..5 {
        if p != leader {
            c.connected[p] = false;
        }
    }
    let l = &mut c.cores[leader];
    assert!(l.change_config(ConfigChange::AddVoter(3)).is_ok());
    assert_eq!(
        l.change_config(ConfigChange::RemoveVoter(0)),
        Err(ConfigError::ChangeInProgress)
    );
    let follower = (0..3).find(|&p| p != leader).unwrap();
    assert_eq!(
        c.cores[follower].change_config(ConfigChange::AddVoter(4)),
        Err(ConfigError::NotLeader)
    );
}

/// Joint consensus: the joint entry needs majorities of both halves, and once it commits the
/// leader appends the new configuration by itself.
#[test]
fn joint_change_needs_both_majorities_then_leaves_by_itself() {
    let mut c = universe(6, &[0, 1, 2]);
    let leader = leader_with_entry(&mut c);
    let others: Vec<usize> = (0..3).filter(|&p| p != leader).collect();
    // The new voters all hear the leader, but of the old ones only the leader itself: a
    // majority of the new configuration, not of the old.
    for &p in &others {
        c.connected[p] = false;
    }
    let new: std::collections::BTreeSet<usize> = [3, 4, 5].into();
    let (joint, _) = c.cores[leader]
        .change_config(ConfigChange::Joint(new.clone()))
        .unwrap();
    c.tick(30);
    assert!(
        c.cores[leader].commit < joint,
        "committed without the old majority"
    );
    assert_eq!(c.cores[3].configuration().outgoing, Some([0, 1, 2].into()));
    // With one more old voter, both majorities hold: the joint entry commits, then the new.
    c.connected[others[0]] = true;
    c.tick(30);
    let leave = joint + 1;
    assert!(c.cores[leader].commit >= joint);
    assert_eq!(
        c.commands(3).last(),
        Some(&(leave, Op::Config(Configuration::of(new.clone()))))
    );
    // The old leader is not a voter of the new configuration: it has stepped down, and one of
    // the new voters leads.
    assert!(!c.cores[leader].is_leader());
    let next = c.elect();
    assert!(
        new.contains(&next),
        "peer {next} leads outside the configuration"
    );
}

/// A leader that removes itself leads until the removal commits, without counting itself.
#[test]
fn leader_that_removes_itself_steps_down_once_committed() {
    let mut c = universe(3, &[0, 1, 2]);
    let leader = leader_with_entry(&mut c);
    let (index, _) = c.cores[leader]
        .change_config(ConfigChange::RemoveVoter(leader))
        .unwrap();
    assert!(
        c.cores[leader].is_leader(),
        "steps down before the removal commits"
    );
    c.settle();
    assert!(c.cores[leader].commit >= index);
    assert!(!c.cores[leader].is_leader());
    // Not a voter: it never stands again, and the two others elect one of themselves.
    let next = c.elect();
    assert_ne!(next, leader);
    let term = c.cores[leader].term();
    c.tick(200);
    assert_eq!(c.leaders(), vec![next]);
    assert_eq!(c.cores[leader].term(), term, "the removed peer stood");
}

/// The configuration as of the snapshot is persisted with it and sent with InstallSnapshot:
/// a restarted peer, and one that catches up from a snapshot, know who votes.
#[test]
fn configuration_survives_snapshots_and_restarts() {
    let mut c = universe(4, &[0, 1, 2]);
    let leader = leader_with_entry(&mut c);
    c.connected[3] = false;
    c.cores[leader]
        .change_config(ConfigChange::AddVoter(3))
        .unwrap();
    c.settle();
    c.cores[leader].propose(Op::Put(2)).unwrap();
    c.settle();
    let last = c.cores[leader].log.last_index();
    for p in 0..3 {
        c.cores[p].compact(last, vec![last as u8]);
        c.ready(p);
    }
    assert_eq!(c.cores[leader].log.snapshot_index(), last);
    c.connected[3] = true;
    c.tick(30);
    assert_eq!(c.cores[3].log.snapshot_index(), last, "no InstallSnapshot");
    for p in 0..4 {
        let persister = &c.persisters[p];
        let restarted = member(
            p,
            4,
            &[0, 1, 2],
            &persister.read_raft_state(),
            persister.read_snapshot(),
        );
        assert_eq!(
            voters_of(&restarted),
            vec![0, 1, 2, 3],
            "peer {p} after a restart"
        );
    }
}

fn voters_of(core: &Core<Op>) -> Vec<usize> {
    core.configuration().voters.iter().copied().collect()
}

/// A peer outside its configuration never stands, however long it hears nothing.
#[test]
fn peer_outside_the_configuration_never_stands() {
    let mut c = universe(4, &[0, 1, 2]);
    for p in 0..3 {
        c.connected[p] = false;
    }
    for _ in 0..500 {
        c.cores[3].tick();
        c.settle();
    }
    assert_eq!(c.cores[3].term(), 0);
}
