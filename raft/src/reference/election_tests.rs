//! Lab 2E's guards in the core: PreVote and CheckQuorum, driven by hand (`election.rs`).

use super::*;

fn guarded(n: usize, pre_vote: bool, check_quorum: bool) -> Cluster {
    let cores = (0..n)
        .map(|i| {
            let cfg = CoreConfig {
                pre_vote,
                check_quorum,
                ..config(i, n)
            };
            Core::new(cfg, random(i as u64 + 1), &[], Vec::new())
        })
        .collect();
    Cluster::new(cores)
}

/// Ticks every peer, cut off or not (`Cluster::tick` ticks only the connected ones), and
/// delivers what can be delivered.
fn tick_all(c: &mut Cluster, ticks: usize) {
    for _ in 0..ticks {
        for core in &mut c.cores {
            core.tick();
        }
        c.settle();
    }
}

fn term_of(c: &Cluster, i: usize) -> u64 {
    c.cores[i].term()
}

fn vote_request(term: u64, candidate: usize, last: (u64, u64)) -> RequestVoteArgs {
    RequestVoteArgs {
        term,
        candidate,
        last_log_index: last.0,
        last_log_term: last.1,
    }
}

/// A follower cut off for a long time keeps its term (it only asks), and on its return the
/// leader and term stay. Without PreVote its term climbs and the leader falls.
#[test]
fn a_cut_off_peer_keeps_its_term_and_rejoins_without_an_election() {
    for pre_vote in [true, false] {
        let mut c = guarded(3, pre_vote, false);
        let leader = c.elect();
        let term = term_of(&c, leader);
        let away = (leader + 1) % 3;
        c.connected[away] = false;
        tick_all(&mut c, 1000);
        assert_eq!(term_of(&c, away) == term, pre_vote, "pre_vote {pre_vote}");
        c.connected[away] = true;
        tick_all(&mut c, 200);
        let steady = c.leaders() == vec![leader] && (0..3).all(|i| term_of(&c, i) == term);
        assert_eq!(steady, pre_vote, "pre_vote {pre_vote}");
    }
}

/// A pre-vote is granted only for a higher term, an up-to-date log, and no leader heard within
/// the minimum election timeout; answering one changes nothing.
#[test]
fn pre_votes_need_a_newer_term_an_up_to_date_log_and_no_leader() {
    let mut c = Core::<Cmd>::new(
        CoreConfig {
            pre_vote: true,
            ..config(0, 3)
        },
        random(1),
        &persisted(2, &[1, 2]),
        Vec::new(),
    );
    let ask = |c: &mut Core<Cmd>, term, last| {
        let reply = c.handle_pre_vote(PreVoteArgs(vote_request(term, 1, last)));
        assert_eq!(
            (c.term(), c.voted_for),
            (2, None),
            "a pre-vote changed the voter"
        );
        reply.0.vote_granted
    };
    assert!(ask(&mut c, 3, (2, 2)));
    assert!(!ask(&mut c, 2, (2, 2)), "granted for the voter's own term");
    assert!(!ask(&mut c, 3, (1, 2)), "granted to a shorter log");
    assert!(!ask(&mut c, 3, (5, 1)), "granted to an older last term");

    // Heard from the leader of term 2: no pre-vote until a minimum election timeout passed.
    let heartbeat = AppendEntriesArgs {
        term: 2,
        leader: 2,
        prev_log_index: 2,
        prev_log_term: 2,
        entries: Vec::new(),
        leader_commit: 0,
    };
    assert!(c.handle_append_entries(heartbeat).success);
    assert!(
        !ask(&mut c, 3, (2, 2)),
        "granted while hearing from a leader"
    );
    for _ in 0..30 {
        c.tick();
    }
    assert!(ask(&mut c, 3, (2, 2)));
}

/// A peer whose log is behind cannot stand through peers that would not vote for it: with
/// PreVote nobody's term moves, however long it keeps asking.
#[test]
fn a_stale_peer_moves_no_term() {
    let mut c = guarded(3, true, false);
    let leader = c.elect();
    let stale = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    c.connected[stale] = false;
    c.cores[leader].propose(7);
    c.tick(20);
    let term = term_of(&c, leader);
    // The leader goes; the stale peer and the up-to-date one remain, and the up-to-date one
    // never gets to ask (its requests would elect it).
    c.connected[leader] = false;
    c.connected[stale] = true;
    for _ in 0..300 {
        for i in [stale, other] {
            c.cores[i].tick();
        }
        // Deliver only the stale peer's requests.
        let ready = c.ready(stale);
        for Message { to, request, .. } in ready.messages {
            if let (Request::PreVote(args), true) = (request, to == other) {
                let reply = c.cores[other].handle_pre_vote(args.clone());
                c.cores[stale].handle_pre_vote_reply(other, &args, Some(reply));
            }
        }
        let _ = c.ready(other);
    }
    assert_eq!((term_of(&c, stale), term_of(&c, other)), (term, term));
}

/// A leader that hears from no majority for a round steps down, in its term; one that does
/// stays, however long.
#[test]
fn check_quorum_deposes_a_leader_cut_off_with_a_minority() {
    let mut c = guarded(5, false, true);
    let leader = c.elect();
    c.tick(1000);
    assert_eq!(c.leaders(), vec![leader]);
    let term = term_of(&c, leader);
    let with = (leader + 1) % 5;
    for i in 0..5 {
        c.connected[i] = i == leader || i == with;
    }
    // Two rounds at most: the one running when the cut came, and the next.
    c.tick(2 * 61);
    assert!(!c.cores[leader].is_leader(), "still leads with 2 of 5");
    assert_eq!(term_of(&c, leader), term);
}

/// With CheckQuorum, a peer hearing from its leader refuses a RequestVote of a newer term and
/// keeps its own; once the leader is silent for a minimum election timeout, it takes part.
#[test]
fn check_quorum_ignores_disruptive_vote_requests() {
    let mut c = guarded(3, false, true);
    let leader = c.elect();
    let follower = (leader + 1) % 3;
    let term = term_of(&c, leader);
    let last = (
        c.cores[follower].log.last_index(),
        c.cores[follower].log.last_term(),
    );
    let disruptive = vote_request(term + 5, (leader + 2) % 3, last);
    let reply = c.cores[follower].handle_request_vote(disruptive.clone());
    assert!(!reply.vote_granted);
    assert_eq!(term_of(&c, follower), term);
    for _ in 0..30 {
        c.cores[follower].tick();
    }
    let _ = c.ready(follower);
    let reply = c.cores[follower].handle_request_vote(disruptive);
    assert!(reply.vote_granted);
    assert_eq!(term_of(&c, follower), term + 5);
}

/// With CheckQuorum a peer refuses votes for a minimum election timeout after it boots: before
/// a crash it may have answered a leader's heartbeat, and lease reads rely on that promise.
#[test]
fn check_quorum_refuses_votes_right_after_boot() {
    let mut c = guarded(3, false, true);
    let request = vote_request(1, 1, (0, 0));
    let reply = c.cores[0].handle_request_vote(request.clone());
    assert!(!reply.vote_granted);
    assert_eq!(term_of(&c, 0), 0);
    for _ in 0..30 {
        c.cores[0].tick();
    }
    let _ = c.ready(0);
    assert!(c.cores[0].handle_request_vote(request).vote_granted);
}
