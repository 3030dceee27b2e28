//! 2F (beyond MIT): cluster membership change (Raft paper section 6; Ongaro's thesis chapter
//! 4): single-server changes and joint consensus, the rules that keep them safe (one change at
//! a time, none before the leader has committed an entry of its term), and the configuration
//! through crashes, restarts and snapshots.
//!
//! The tests run on a universe of peers (see `members.rs`): the first voters start, joiners
//! start when a test adds them, and removed peers are retired. Configuration entries are
//! commands (`Cmd::Config`), checked by the appliers like any other; Election Safety is checked
//! all through every test.

use std::collections::BTreeSet;
use std::time::Duration;

use labrpc::sim;
use raft::{ConfigChange, ConfigError, Configuration, Options};

use crate::members::Load;
use crate::run;
use crate::tester::{rand_int, sleep, Cmd, RaftTester};

/// No guard: MIT's elections.
const NONE: Options = Options {
    pre_vote: false,
    check_quorum: false,
    lease_reads: false,
    clock_drift: 0.0,
};
/// PreVote and CheckQuorum (2E).
const BOTH: Options = Options {
    pre_vote: true,
    check_quorum: true,
    ..NONE
};

fn set(peers: &[usize]) -> BTreeSet<usize> {
    peers.iter().copied().collect()
}

/// A leader that has committed an entry of its term (a command the tester started on it), so
/// that nothing stops it from accepting a change but the change itself.
async fn committed_leader(cfg: &RaftTester) -> usize {
    for _ in 0..5 {
        let l = cfg.check_one_leader().await;
        let rf = cfg.rf(l);
        let (term, _) = rf.get_state();
        if let Some((index, _)) = rf.start(Cmd::Int(rand_int())) {
            cfg.wait_applied(index, &[l], "a command").await;
            if rf.get_state() == (term, true) {
                return l;
            }
        }
    }
    panic!("tester: the leader kept changing, 5 times, on a reliable network");
}

/// Peer `peer`, removed, claims no leadership for `d` (checked every 10 ms).
async fn never_leads(cfg: &RaftTester, peer: usize, d: Duration, why: &str) {
    let until = sim::now() + d;
    while sim::now() < until {
        let (term, leader) = cfg.rf(peer).get_state();
        assert!(!leader, "peer {peer} claims to lead term {term} {why}");
        sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `cond` every 10 ms for up to `d`; whether it held.
async fn within(d: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = sim::now() + d;
    loop {
        if cond() {
            return true;
        }
        if sim::now() >= until {
            return false;
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// A peer joins a running cluster and must receive the whole log; then the leader removes
/// itself. Checks the thesis's rule for that case (section 4.2.2): the leader keeps leading
/// until the entry commits (it replicates the change without counting itself), then steps down
/// within a second and, no longer a voter, never stands again, while the three voters left
/// elect a leader and go on committing. A background load commits commands all through.
/// Catches a leader that steps down at once (the change may then never commit), one that
/// keeps leading a cluster it is no longer part of, and a joiner given only the new entries.
#[test]
fn add_peer_then_remove_leader_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(5, &[0, 1, 2], false, false, NONE);
        cfg.begin("Test (2F): add a peer, then remove the leader");
        cfg.one(rand_int(), 3, true).await;
        let load = Load::start(&cfg);
        load.progress(5, "before any change").await;

        cfg.add_peer(3);
        let add = cfg
            .change("AddVoter(3)", |_| ConfigChange::AddVoter(3), &[0, 1, 2, 3])
            .await;
        cfg.check_holds(3, add.index);
        load.progress(5, "after peer 3 joined").await;

        let remove = cfg
            .propose("RemoveVoter(the leader)", ConfigChange::RemoveVoter)
            .await;
        let old = remove.leader;
        let rest: Vec<usize> = (0..4).filter(|&i| i != old).collect();
        let what = format!("RemoveVoter({old})");
        assert!(
            within(Duration::from_secs(10), || cfg.n_committed(remove.index).0
                > 0)
            .await,
            "{what}, which peer {old} accepted at index {}, did not commit within 10 s",
            remove.index
        );
        assert_eq!(
            cfg.n_committed(remove.index).1,
            Some(Cmd::Config(remove.config.clone())),
            "tester: the leader changed before {what} committed, on a reliable network"
        );
        let rule = "(a leader that removed itself must step down once the removal commits)";
        assert!(
            within(Duration::from_secs(1), || !cfg.rf(old).get_state().1).await,
            "peer {old} still claims to lead 1 s after {what} committed {rule}"
        );
        let why = format!(
            "after {what} committed and it stepped down {rule}: a peer that is not in its \
             configuration never stands for election"
        );
        never_leads(&cfg, old, Duration::from_secs(2), &why).await;
        let new = cfg.check_one_leader().await;
        assert!(
            rest.contains(&new),
            "peer {new} leads, not one of the voters {rest:?} left after {what}"
        );
        cfg.wait_applied(remove.index, &rest, &what).await;
        load.progress(5, &format!("after {what}")).await;
        never_leads(&cfg, old, Duration::from_secs(1), &why).await;
        cfg.retire(old);
        load.progress(5, &format!("after peer {old} was retired"))
            .await;
        load.stop().await;
        cfg.one(rand_int(), 3, true).await;
        cfg.end();
    });
}

/// The whole cluster moves from peers {0, 1, 2} to {3, 4, 5} by single-server changes, one at
/// a time (add 3, remove 0, add 4, remove 1, add 5, remove 2), each removed peer retired at
/// once, under a background load. At the end only the new peers run: they must hold every
/// committed command (each joiner got the whole log) and go on committing. Catches a leader
/// that counts votes or acknowledgements of peers outside its configuration (or forgets the new
/// ones), and a joiner that starts from an empty log.
#[test]
fn replace_every_peer_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(6, &[0, 1, 2], false, false, NONE);
        cfg.begin("Test (2F): replace every peer, one change at a time");
        cfg.one(rand_int(), 3, true).await;
        let load = Load::start(&cfg);
        let mut voters = set(&[0, 1, 2]);
        for (new, old) in [(3, 0), (4, 1), (5, 2)] {
            cfg.add_peer(new);
            voters.insert(new);
            let members: Vec<usize> = voters.iter().copied().collect();
            let what = format!("AddVoter({new})");
            let add = cfg
                .change(&what, |_| ConfigChange::AddVoter(new), &members)
                .await;
            cfg.check_holds(new, add.index);
            load.progress(3, &format!("after {what}")).await;
            voters.remove(&old);
            let members: Vec<usize> = voters.iter().copied().collect();
            let what = format!("RemoveVoter({old})");
            cfg.change(&what, |_| ConfigChange::RemoveVoter(old), &members)
                .await;
            cfg.retire(old);
            load.progress(3, &format!("after {what}, peer {old} retired"))
                .await;
        }
        load.stop().await;
        let last = cfg.one(rand_int(), 3, true).await;
        for i in [3, 4, 5] {
            cfg.check_holds(i, last);
        }
        let config = cfg.check_same_configuration(&[3, 4, 5]);
        assert_eq!(
            config,
            Configuration::of([3, 4, 5]),
            "peers 3, 4, 5 go by the wrong configuration after every change committed"
        );
        cfg.end();
    });
}

/// The same move, {0, 1, 2} to {3, 4, 5}, in one joint-consensus change under a background
/// load: the leader appends the joint configuration (new voters, and the old ones as outgoing),
/// and once that commits it appends the new configuration by itself (paper section 6). Checks
/// both entries as they commit, then retires the old peers: the new ones go on alone. Catches a
/// leader that never completes the change (the old peers then can never be retired), a joint
/// entry that is not what `Joint` asks, and decisions that do not need both majorities.
#[test]
fn joint_replace_every_peer_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(6, &[0, 1, 2], false, false, NONE);
        cfg.begin("Test (2F): replace every peer, one joint change");
        cfg.one(rand_int(), 3, true).await;
        let load = Load::start(&cfg);
        load.progress(5, "before any change").await;
        for i in [3, 4, 5] {
            cfg.add_peer(i);
        }
        let new = set(&[3, 4, 5]);
        let joint = cfg
            .change(
                "Joint({3, 4, 5})",
                |_| ConfigChange::Joint(new.clone()),
                &[3, 4, 5],
            )
            .await;
        let expected = Configuration {
            voters: new.clone(),
            outgoing: Some(set(&[0, 1, 2])),
        };
        assert_eq!(
            joint.config, expected,
            "peer {} appended the wrong joint configuration for Joint({{3, 4, 5}}) from \
             {{0, 1, 2}}: the new voters, with the old ones as outgoing",
            joint.leader
        );
        let leave = cfg
            .wait_config(
                joint.index,
                &Configuration::of(new.clone()),
                &[3, 4, 5],
                "once the joint entry commits, the leader must append the new configuration \
                 (voters {3, 4, 5}, outgoing None) by itself, and commit it",
            )
            .await;
        for i in [3, 4, 5] {
            cfg.check_holds(i, leave);
        }
        for i in [0, 1, 2] {
            cfg.retire(i);
        }
        load.progress(5, "after peers 0, 1, 2 were retired").await;
        load.stop().await;
        cfg.one(rand_int(), 3, true).await;
        let config = cfg.check_same_configuration(&[3, 4, 5]);
        assert_eq!(config, Configuration::of(new), "after the joint change");
        cfg.end();
    });
}

/// At the end of the first instant at which one of `peers` leads a term after `term`, asks it
/// for `change` (nothing of its term can have committed yet: a round trip takes at least a
/// millisecond). The new leader, its term and its answer.
async fn ask_new_leader(
    cfg: &RaftTester,
    peers: &[usize],
    term: u64,
    change: ConfigChange,
) -> (usize, u64, Result<(u64, u64), ConfigError>) {
    let t0 = sim::now();
    loop {
        sim::settled(Duration::ZERO).await;
        for &i in peers {
            if let Some(rf) = cfg.raft(i) {
                if let (t, true) = rf.get_state() {
                    if t > term {
                        return (i, t, rf.change_config(change));
                    }
                }
            }
        }
        assert!(
            sim::now() - t0 < Duration::from_secs(10),
            "no peer of {peers:?} was elected leader within 10 s of the leader's departure"
        );
    }
}

/// The rules that keep changes apart, asked directly. (i) A leader refuses a change at the
/// instant it is elected (`NoEntryOfTerm`): it cannot know yet whether an earlier leader's
/// change is still in progress. (ii) A leader cut off from its followers accepts one change and
/// refuses a second (`ChangeInProgress`) while the first cannot commit: two uncommitted
/// single-server changes can make disjoint majorities. (iii) During joint consensus, both while
/// the joint entry is uncommitted and while the leader's own leave entry is, it refuses any
/// change. (iv) Nonsense is `Invalid`: adding a voter, removing a non-voter, a peer outside the
/// universe, no voters at all.
#[test]
fn one_change_at_a_time_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(4, &[0, 1, 2], false, false, NONE);
        cfg.begin("Test (2F): one change at a time");
        cfg.one(rand_int(), 3, true).await;

        // (i) A new leader, asked at the instant it is elected.
        let old = cfg.check_one_leader().await;
        let (term, _) = cfg.rf(old).get_state();
        cfg.disconnect(old);
        let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
        let (l, t, answer) = ask_new_leader(&cfg, &others, term, ConfigChange::AddVoter(3)).await;
        assert!(
            answer == Err(ConfigError::NoEntryOfTerm),
            "peer {l} answered {answer:?} to AddVoter(3) at the instant it was elected leader of \
             term {t}, before any entry of its term could commit: it must answer NoEntryOfTerm \
             (a leader changes the configuration only once it has committed an entry of its own \
             term; until then an earlier leader's change may still be in progress)"
        );
        cfg.connect(old);
        cfg.one(rand_int(), 3, true).await;

        // (iv) Nonsense, asked of a leader that may change the configuration.
        let l = committed_leader(&cfg).await;
        let rf = cfg.rf(l);
        let voter = (0..3).find(|&i| i != l).unwrap();
        let invalid = [
            (ConfigChange::AddVoter(voter), "it adds a voter"),
            (
                ConfigChange::RemoveVoter(3),
                "it removes a peer that does not vote",
            ),
            (
                ConfigChange::AddVoter(cfg.n()),
                "the peer is outside the universe",
            ),
            (ConfigChange::Joint(BTreeSet::new()), "it leaves no voters"),
        ];
        for (change, why) in invalid {
            let answer = rf.change_config(change.clone());
            assert!(
                answer == Err(ConfigError::Invalid),
                "peer {l}, a leader with an entry of its term committed and no change in \
                 progress, answered {answer:?} to {change:?}, which makes no sense ({why}, in \
                 configuration {:?}): it must answer Invalid and append nothing",
                rf.configuration()
            );
        }

        // (ii) A change that cannot commit, then a second one.
        let followers: Vec<usize> = (0..3).filter(|&i| i != l).collect();
        for &f in &followers {
            cfg.disconnect(f);
        }
        let first = rf.change_config(ConfigChange::AddVoter(3));
        assert!(
            first.is_ok(),
            "peer {l}, a leader with an entry of its term committed and no change in progress, \
             answered {first:?} to AddVoter(3): it must accept a valid change"
        );
        let second = ConfigChange::RemoveVoter(followers[0]);
        for when in ["at once", "0.5 s later"] {
            if when != "at once" {
                sleep(Duration::from_millis(500)).await;
            }
            let answer = rf.change_config(second.clone());
            assert!(
                answer == Err(ConfigError::ChangeInProgress),
                "peer {l} accepted AddVoter(3) at {first:?}, which cannot commit (its followers \
                 are cut off), and {when} answered {answer:?} to {second:?}: it must answer \
                 ChangeInProgress (one change at a time: no configuration entry while the \
                 latest one is uncommitted)"
            );
        }
        for &f in &followers {
            cfg.connect(f);
        }
        cfg.one(rand_int(), 3, true).await;

        // (iii) Joint consensus: the joint entry, then the leave entry, uncommitted.
        let l = committed_leader(&cfg).await;
        let rf = cfg.rf(l);
        cfg.add_peer(3);
        let others: Vec<usize> = (0..3).filter(|&i| i != l).collect();
        let (g, f) = (others[0], others[1]);
        let new = set(&[l, g, 3]);
        let joint = ConfigChange::Joint(new.clone());
        let answer = rf.change_config(joint.clone());
        let Ok((j, _)) = answer else {
            panic!(
                "peer {l}, a leader with an entry of its term committed and no change in \
                 progress, answered {answer:?} to {joint:?}: it must accept a valid change"
            );
        };
        let further = ConfigChange::RemoveVoter(g);
        let answer = rf.change_config(further.clone());
        assert!(
            answer == Err(ConfigError::ChangeInProgress),
            "peer {l} appended {joint:?} at index {j} and, before it could commit, answered \
             {answer:?} to {further:?}: it must answer ChangeInProgress (no change during joint \
             consensus)"
        );
        let leave = Configuration::of(new.clone());
        let t0 = sim::now();
        while rf.configuration() != leave {
            assert!(
                sim::now() - t0 < Duration::from_secs(5),
                "peer {l} appended {joint:?} at index {j}, but 5 s later goes by {:?}, not \
                 {leave:?}: once the joint entry commits, the leader appends the new \
                 configuration by itself",
                rf.configuration()
            );
            sim::settled(Duration::ZERO).await;
        }
        // The leave entry was appended at this instant: it cannot have committed.
        let answer = rf.change_config(further.clone());
        assert!(
            answer == Err(ConfigError::ChangeInProgress),
            "peer {l} had just appended the leave entry {leave:?} (after index {j}) and \
             answered {answer:?} to {further:?}: it must answer ChangeInProgress until the leave \
             entry commits (a joint change is complete only then)"
        );
        let members: Vec<usize> = new.iter().copied().collect();
        let why = "the leader appended it (it went by it), but it never committed";
        cfg.wait_config(j, &leave, &members, why).await;
        cfg.retire(f);
        cfg.one(rand_int(), 3, true).await;
        cfg.end();
    });
}

/// The single-server bug of 2015 (Ongaro, raft-dev, "bug in single-server membership
/// changes"), which the thesis's errata fix with the rule that a leader changes the
/// configuration only once an entry of its term has committed. Configuration {0, 1, 2, 3}:
/// leader L, cut off with joiner 4, appends AddVoter(4) (uncommitted: L and 4 go by five
/// voters); the other three elect L2, which removes x. With the rule, L2 first commits an entry
/// of its term, which x must hold; without it, L2's removal reaches no one but L2 and y. Then
/// {L, 4, x} against {L2, y}: a correct x refuses L (its log holds a newer term), so only L2's
/// side commits; a buggy x elects L, with a majority of L's five voters, while L2 commits with
/// a majority of its three, and the appliers see two commands at one index (and the explicit
/// check below sees L elected). Healed, all must converge on L2's configuration.
#[test]
fn first_change_waits_for_term_commit_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(5, &[0, 1, 2, 3], false, false, NONE);
        cfg.begin("Test (2F): a new leader's first change waits for an entry of its term");
        cfg.one(rand_int(), 4, true).await;
        let l = committed_leader(&cfg).await;
        let (t1, _) = cfg.rf(l).get_state();
        let others: Vec<usize> = (0..4).filter(|&i| i != l).collect();
        cfg.add_peer(4);
        cfg.partition(&[l, 4], &others);
        let answer = cfg.rf(l).change_config(ConfigChange::AddVoter(4));
        assert!(
            answer.is_ok(),
            "peer {l}, a leader with an entry of its term committed and no change in progress, \
             answered {answer:?} to AddVoter(4): it must accept a valid change"
        );
        assert!(
            within(Duration::from_secs(1), || cfg
                .rf(4)
                .configuration()
                .contains(4))
            .await,
            "peer 4, linked to leader {l} only, does not go by the configuration AddVoter(4) \
             1 s after {l} appended it (a leader replicates to every voter of the configuration \
             in its log; a peer goes by a configuration from the moment it appends its entry)"
        );

        let l2 = cfg
            .leader_among(&others, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("peers {others:?} elected no leader within 10 s"));
        let (t2, _) = cfg.rf(l2).get_state();
        let rest: Vec<usize> = others.iter().copied().filter(|&i| i != l2).collect();
        let (x, y) = (rest[0], rest[1]);
        let removal = ConfigChange::RemoveVoter(x);
        let c2 = match cfg.rf(l2).change_config(removal.clone()) {
            Ok((index, _)) => index,
            Err(ConfigError::NoEntryOfTerm) => {
                let (index, _) = cfg
                    .rf(l2)
                    .start(Cmd::Int(rand_int()))
                    .unwrap_or_else(|| panic!("peer {l2} refused a command as leader"));
                cfg.wait_applied(index, &[l2, x, y], "a command of the new leader")
                    .await;
                let answer = cfg.rf(l2).change_config(removal.clone());
                let Ok((c2, _)) = answer else {
                    panic!(
                        "peer {l2} leads term {t2} and has committed an entry of it, but \
                         answered {answer:?} to {removal:?}: it must accept a valid change"
                    );
                };
                c2
            }
            Err(e) => panic!(
                "peer {l2}, new leader of term {t2}, answered {e:?} to {removal:?}: it must \
                 accept it, or refuse it with NoEntryOfTerm until an entry of its term commits"
            ),
        };
        cfg.wait_applied(c2, &[l2, y], &format!("{removal:?}"))
            .await;

        cfg.partition(&[l, 4, x], &[l2, y]);
        let rule = "(a leader must not change the configuration before it has committed an \
                    entry of its term: that entry, on a majority of the old configuration, is \
                    what stops a leader of an earlier configuration from being elected)";
        let until = sim::now() + Duration::from_secs(3);
        let mut last = None;
        while sim::now() < until {
            for i in [l, 4, x] {
                let (t, leader) = cfg.rf(i).get_state();
                assert!(
                    !(leader && t > t1),
                    "peer {i} was elected leader of term {t} with only peers {l}, 4, {x} \
                     reachable, while peer {l2} leads the configuration without {x} {rule}"
                );
            }
            for i in [l, 4, x, l2, y] {
                if let Some((index, _)) = cfg.rf(i).start(Cmd::Int(rand_int())) {
                    if i == l2 {
                        last = Some(index);
                    }
                }
            }
            sleep(Duration::from_millis(50)).await;
        }
        let last = last.unwrap_or_else(|| panic!("peer {l2} stopped leading, with peer {y}"));
        cfg.wait_applied(last, &[l2, y], "a command").await;

        // Peer 4 never joined a committed configuration, and x was removed: both retire.
        cfg.retire(4);
        cfg.retire(x);
        cfg.connect(l);
        cfg.one(rand_int(), 3, true).await;
        let config = cfg.check_same_configuration(&[l, l2, y]);
        assert_eq!(
            config,
            Configuration::of([l, l2, y]),
            "after {removal:?} committed and the partition healed"
        );
        cfg.end();
    });
}

/// A removed peer that never learned of its removal (it was cut off) comes back and keeps
/// timing out: the leader no longer sends it anything. With PreVote and CheckQuorum its
/// elections reach no one (peers that hear a leader refuse pre-votes, and its log is behind),
/// so for 5 s the leader keeps its term while commands commit. Without the guards, such a peer
/// deposes the leader every election timeout (thesis section 4.2.3).
#[test]
fn removed_peer_does_not_disrupt_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(4, &[0, 1, 2], false, false, BOTH);
        cfg.begin("Test (2F): a removed peer does not disrupt (PreVote, CheckQuorum)");
        cfg.one(rand_int(), 3, true).await;
        cfg.add_peer(3);
        cfg.change("AddVoter(3)", |_| ConfigChange::AddVoter(3), &[0, 1, 2, 3])
            .await;
        let l = committed_leader(&cfg).await;
        let f = (l + 1) % 4;
        let rest: Vec<usize> = (0..4).filter(|&i| i != f).collect();
        cfg.disconnect(f);
        let what = format!("RemoveVoter({f})");
        let removal = cfg
            .change(&what, |_| ConfigChange::RemoveVoter(f), &rest)
            .await;
        cfg.connect(f);
        let leader = removal.leader;
        let (term, _) = cfg.rf(leader).get_state();
        let rule = "(a peer removed from the configuration, which never learned of it, must \
                    not disrupt the cluster: with PreVote, peers that hear from a leader refuse \
                    its pre-votes; with CheckQuorum, they ignore its RequestVotes)";
        let until = sim::now() + Duration::from_secs(5);
        let mut next_command = sim::now();
        while sim::now() < until {
            let state = cfg.rf(leader).get_state();
            assert!(
                state == (term, true),
                "peer {leader}, leader of term {term}, is now (term, leader) {state:?}, after \
                 peer {f} came back, removed by {what} {rule}"
            );
            if sim::now() >= next_command {
                cfg.one(rand_int(), 3, true).await;
                next_command = sim::now() + Duration::from_millis(500);
            }
            sleep(Duration::from_millis(10)).await;
        }
        cfg.retire(f);
        cfg.one(rand_int(), 3, true).await;
        cfg.end();
    });
}

/// A configuration is the latest in the log, not the latest committed, and it is persisted
/// with the log. Leader L, cut off with joiner 3 only, appends AddVoter(3): L and then 3 go by
/// it at once, though it cannot commit. L crashes and restarts: it must still go by it. Healed
/// (L and 3, then one follower, then the other), the entry must survive (L or 3, whose logs are
/// the most up to date, win) and every peer converge on {0, 1, 2, 3}. Catches a configuration
/// taken from the commit index, one kept in memory only, and one that is not restored at
/// startup.
#[test]
fn crash_during_change_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(4, &[0, 1, 2], false, false, NONE);
        cfg.begin("Test (2F): a change survives its leader's crash");
        cfg.one(rand_int(), 3, true).await;
        let l = committed_leader(&cfg).await;
        let followers: Vec<usize> = (0..3).filter(|&i| i != l).collect();
        for &f in &followers {
            cfg.disconnect(f);
        }
        cfg.add_peer(3); // Linked to L only: the followers are disconnected.
        let answer = cfg.rf(l).change_config(ConfigChange::AddVoter(3));
        let Ok((index, _)) = answer else {
            panic!(
                "peer {l}, a leader with an entry of its term committed and no change in \
                 progress, answered {answer:?} to AddVoter(3): it must accept a valid change"
            );
        };
        let config = cfg.rf(l).configuration();
        assert!(
            config.contains(3),
            "peer {l} appended AddVoter(3) at index {index}, and goes by {config:?}: a peer \
             goes by the latest configuration in its log, committed or not"
        );
        assert!(
            within(Duration::from_secs(1), || cfg
                .rf(3)
                .configuration()
                .contains(3))
            .await,
            "peer 3, linked to leader {l}, does not go by the configuration with peer 3 1 s \
             after {l} appended it (the leader replicates to every voter of the configuration \
             in its log; a peer goes by a configuration from the moment it appends its entry)"
        );

        cfg.crash1(l);
        cfg.start1(l);
        assert!(
            within(Duration::from_secs(1), || cfg
                .rf(l)
                .configuration()
                .contains(3))
            .await,
            "peer {l} restarted and goes by {:?}, without peer 3, though its log holds \
             AddVoter(3) (at index {index}): the configuration must be restored from the \
             persisted log",
            cfg.rf(l).configuration()
        );
        cfg.connect(l);
        cfg.connect(followers[0]);
        cfg.one(rand_int(), 3, true).await;
        cfg.connect(followers[1]);
        cfg.one(rand_int(), 4, true).await;
        let config = cfg.check_same_configuration(&[0, 1, 2, 3]);
        assert_eq!(
            config,
            Configuration::of([0, 1, 2, 3]),
            "AddVoter(3), in the logs of {l} and 3 (the most up to date), must have survived"
        );
        cfg.end();
    });
}

/// Snapshots and membership. A joiner arrives after 100 commands, when the leader has
/// compacted its log: it must catch up through InstallSnapshot while its addition commits.
/// Then the cluster moves to {3, 4, 5} (joint), the old peers retire, and 50 more commands
/// let snapshots cover every configuration entry. All three restart: the configuration must
/// come back from the snapshot (a peer that forgets it goes back to {0, 1, 2}, where it is not
/// a voter, and no one ever stands again).
#[test]
fn snapshot_catch_up_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(6, &[0, 1, 2], false, true, NONE);
        cfg.begin("Test (2F): a joiner catches up by snapshot, configurations in snapshots");
        for _ in 0..100 {
            cfg.one(rand_int(), 3, true).await;
        }
        cfg.add_peer(3);
        let add = cfg
            .change("AddVoter(3)", |_| ConfigChange::AddVoter(3), &[0, 1, 2, 3])
            .await;
        assert!(
            cfg.persisted_snapshot_index(3) > 0,
            "peer 3 joined after 100 commands, when the leader's log was compacted, and applied \
             AddVoter(3) at index {} without persisting a snapshot: it must catch up through \
             InstallSnapshot (and persist the snapshot it installs)",
            add.index
        );
        cfg.check_holds(3, add.index);

        cfg.add_peer(4);
        cfg.add_peer(5);
        let new = set(&[3, 4, 5]);
        let joint = cfg
            .change(
                "Joint({3, 4, 5})",
                |_| ConfigChange::Joint(new.clone()),
                &[3, 4, 5],
            )
            .await;
        let why = "once the joint entry commits, the leader must append the new configuration";
        let leave = cfg
            .wait_config(
                joint.index,
                &Configuration::of(new.clone()),
                &[3, 4, 5],
                why,
            )
            .await;
        for i in [0, 1, 2] {
            cfg.retire(i);
        }
        for _ in 0..50 {
            cfg.one(rand_int(), 3, true).await;
        }
        for i in [3, 4, 5] {
            assert!(
                within(Duration::from_secs(5), || cfg.persisted_snapshot_index(i)
                    > leave)
                .await,
                "peer {i} persisted no snapshot past index {leave} 50 commands later: Raft \
                 must persist the snapshots its service gives it"
            );
        }

        for i in [3, 4, 5] {
            cfg.crash1(i);
        }
        let rule = "(the configuration must be persisted with the snapshot: the log no longer \
                    holds the configuration entries, and a peer that forgets it goes back to \
                    its initial configuration {0, 1, 2})";
        for i in [3, 4, 5] {
            cfg.start1(i);
            let rf = cfg.rf(i);
            assert!(
                within(Duration::from_secs(1), || rf.configuration().voters == new).await,
                "peer {i} restarted from a snapshot through index {} and goes by {:?}, not \
                 voters {{3, 4, 5}} {rule}",
                cfg.persisted_snapshot_index(i),
                rf.configuration()
            );
        }
        for i in [3, 4, 5] {
            cfg.connect(i);
        }
        if cfg
            .leader_among(&[3, 4, 5], Duration::from_secs(5))
            .await
            .is_none()
        {
            panic!("peers 3, 4, 5 restarted and elected no leader within 5 s {rule}");
        }
        cfg.one(rand_int(), 3, true).await;
        let config = cfg.check_same_configuration(&[3, 4, 5]);
        assert_eq!(config, Configuration::of(new), "after the restarts");
        cfg.end();
    });
}
