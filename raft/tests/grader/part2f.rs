//! 2F (beyond MIT): cluster membership change (Raft paper section 6; Ongaro's thesis chapter
//! 4). This file moves clusters: peers join and leave under load, by single-server changes and
//! by joint consensus, and joiners catch up by snapshot; `part2f_rules.rs` asks for the rules
//! that keep changes safe (one change at a time, none before the leader has committed an entry
//! of its term), and the configuration through crashes.
//!
//! The tests run on a universe of peers (see `members.rs`): the first voters start, joiners
//! start when a test adds them, and removed peers are retired. Configuration entries are
//! commands (`Cmd::Config`), checked by the appliers like any other; Election Safety is checked
//! all through every test.

use std::time::Duration;

use raft::{ConfigChange, Configuration};

use crate::members::{set, within, Load};
use crate::run;
use crate::tester::{rand_int, sleep, Cmd, RaftTester, ELECTION_TIMEOUT, NONE};

/// A peer joins a running cluster and must receive the whole log; then the leader removes
/// itself. Checks the thesis's rule for that case (section 4.2.2): the leader keeps leading
/// until the entry commits (it replicates the change without counting itself), then steps down
/// within a second and, no longer a voter, never stands again, while the three voters left
/// elect a leader and go on committing. A background load commits commands all through.
/// Catches a leader that keeps leading a cluster it is no longer part of, a removed peer that
/// stands for election again, and a joiner that does not get the whole log.
#[test]
fn add_peer_then_remove_leader_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(5, &[0, 1, 2], false, false, NONE);
        cfg.begin("Test (2F): add a peer, then remove the leader");
        cfg.first_leader(&[0, 1, 2]).await;
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
        let committed = || cfg.n_committed(remove.index).0 > 0;
        assert!(
            within(Duration::from_secs(10), committed).await,
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
        cfg.never_leads(old, Duration::from_secs(2), &why).await;
        let new = cfg.check_one_leader().await;
        assert!(
            rest.contains(&new),
            "peer {new} leads, not one of the voters {rest:?} left after {what}"
        );
        cfg.wait_applied(remove.index, &rest, &what).await;
        load.progress(5, &format!("after {what}")).await;
        cfg.never_leads(old, Duration::from_secs(1), &why).await;
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
        cfg.first_leader(&[0, 1, 2]).await;
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
/// and once that commits it appends the new configuration by itself (paper section 6). While
/// the leader's two old followers are cut off, the joint entry must not commit: the new voters
/// are a majority of the new configuration, and of all six peers, but a decision needs a
/// majority of the old voters too. One old follower back, it commits; the leave entry follows;
/// the old peers retire and the new ones go on alone. Catches a joint entry that is not what
/// `Joint` asks, a joint configuration counted as one set (or as its new half only), and a
/// leader that never completes the change (the old peers then can never be retired).
#[test]
fn joint_replace_every_peer_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(6, &[0, 1, 2], false, false, NONE);
        cfg.begin("Test (2F): replace every peer, one joint change");
        cfg.first_leader(&[0, 1, 2]).await;
        cfg.one(rand_int(), 3, true).await;
        let load = Load::start(&cfg);
        load.progress(5, "before any change").await;
        for i in [3, 4, 5] {
            cfg.add_peer(i);
        }
        let new = set(&[3, 4, 5]);
        let joint = ConfigChange::Joint(new.clone());
        let expected = Configuration {
            voters: new.clone(),
            outgoing: Some(set(&[0, 1, 2])),
        };

        let l = cfg.committed_leader().await;
        let old: Vec<usize> = (0..3).filter(|&i| i != l).collect();
        for &f in &old {
            cfg.disconnect(f);
        }
        let rf = cfg.rf(l);
        let answer = rf.change_config(joint.clone());
        let Ok((j, _)) = answer else {
            panic!(
                "peer {l}, a leader with an entry of its term committed and no change in \
                 progress, answered {answer:?} to {joint:?}: it must accept a valid change"
            );
        };
        let config = rf.configuration();
        assert_eq!(
            config, expected,
            "peer {l} appended the wrong joint configuration for {joint:?} from {{0, 1, 2}}: \
             the new voters, with the old ones as outgoing"
        );
        sleep(ELECTION_TIMEOUT).await;
        assert!(
            cfg.n_committed(j).0 == 0,
            "the joint entry {expected:?} at index {j} committed while peers {old:?}, two of \
             the three old voters, were cut off: during joint consensus a decision needs a \
             majority of the new voters and a majority of the old voters"
        );
        cfg.connect(old[0]);
        let committed = || cfg.n_committed(j).0 > 0;
        assert!(
            within(Duration::from_secs(10), committed).await,
            "nothing committed at index {j} within 10 s after peer {} came back (with peer \
             {l}, a majority of the old voters)",
            old[0]
        );
        let j = if cfg.n_committed(j).1 == Some(Cmd::Config(expected.clone())) {
            j
        } else {
            // Lost to a new leader: ask again.
            let members = [3, 4, 5];
            cfg.change(&format!("{joint:?}"), |_| joint.clone(), &members)
                .await
                .index
        };
        let leave = cfg
            .wait_config(
                j,
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

/// Snapshots and membership. A joiner arrives after 100 commands, when the leader has
/// compacted its log: it must catch up through InstallSnapshot while its addition commits.
/// Then the cluster moves to {3, 4, 5} in one joint change while peer 5, started, stays cut
/// off; the old peers retire, and 50 more commands let snapshots cover every configuration
/// entry. Peer 5 then catches up by a snapshot past all of them: it must go by the snapshot's
/// configuration (InstallSnapshot carries it). Last, all three restart: the configuration must
/// come back from the persisted snapshot (a peer that forgets it goes back to {0, 1, 2}, where
/// it is not a voter: no one stands, no leader).
#[test]
fn snapshot_catch_up_2f() {
    run(|| async {
        let cfg = RaftTester::with_membership(6, &[0, 1, 2], false, true, NONE);
        cfg.begin("Test (2F): joiners catch up by snapshot, configurations in snapshots");
        cfg.first_leader(&[0, 1, 2]).await;
        cfg.commit_many(100, 3).await;
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
        cfg.start1(5); // Cut off until the move is over.
        let new = set(&[3, 4, 5]);
        let joint = cfg
            .change(
                "Joint({3, 4, 5})",
                |_| ConfigChange::Joint(new.clone()),
                &[3, 4],
            )
            .await;
        let why = "once the joint entry commits, the leader must append the new configuration";
        let leave = cfg
            .wait_config(joint.index, &Configuration::of(new.clone()), &[3, 4], why)
            .await;
        for i in [0, 1, 2] {
            cfg.retire(i);
        }
        cfg.commit_many(50, 2).await;
        for i in [3, 4] {
            let past = || cfg.persisted_snapshot_index(i) > leave;
            assert!(
                within(Duration::from_secs(5), past).await,
                "peer {i} persisted no snapshot past index {leave} 50 commands later: Raft \
                 must persist the snapshots its service gives it"
            );
        }
        cfg.connect(5);
        let last = cfg.one(rand_int(), 3, true).await;
        cfg.check_holds(5, last);
        let config = cfg.rf(5).configuration();
        assert_eq!(
            config,
            Configuration::of(new.clone()),
            "peer 5 caught up by a snapshot through index {}, past every configuration entry \
             (the latest, {{3, 4, 5}}, at index {leave}), and goes by {config:?}: InstallSnapshot \
             must carry the snapshot's configuration, and the follower go by it",
            cfg.persisted_snapshot_index(5)
        );

        for i in [3, 4, 5] {
            cfg.crash1(i);
        }
        let rule = "(the configuration must be persisted with the snapshot: the log no longer \
                    holds the configuration entries, and a peer that forgets it goes back to \
                    its initial configuration {0, 1, 2})";
        for i in [3, 4, 5] {
            cfg.start1(i);
            let rf = cfg.rf(i);
            let leave = Configuration::of(new.clone());
            assert!(
                within(Duration::from_secs(1), || rf.configuration() == leave).await,
                "peer {i} restarted from a snapshot through index {} and goes by {:?}, not \
                 {leave:?} {rule}",
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
