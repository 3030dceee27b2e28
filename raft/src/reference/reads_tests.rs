//! Lab 3C's reads in the core: ReadIndex and lease reads, driven by hand (`reads.rs`).

use super::*;
use crate::ReadError;

fn with_lease(n: usize, lease_ticks: u64) -> Cluster {
    let cores = (0..n)
        .map(|i| {
            let cfg = CoreConfig {
                check_quorum: true,
                lease_ticks,
                ..config(i, n)
            };
            Core::new(cfg, random(i as u64 + 1), &[], Vec::new())
        })
        .collect();
    Cluster::new(cores)
}

/// Elects a leader and commits one entry of its term; returns the leader and that index.
fn leader_with_entry(c: &mut Cluster) -> (usize, u64) {
    let leader = c.elect();
    let (index, _) = c.cores[leader].propose(1).unwrap();
    c.settle();
    assert_eq!(c.cores[leader].commit, index);
    (leader, index)
}

/// Ticks the leader alone until its next heartbeats, and takes them undelivered.
fn heartbeats(c: &mut Cluster, leader: usize) -> Vec<Message<Cmd>> {
    for _ in 0..10 {
        c.cores[leader].tick();
        let messages = c.ready(leader).messages;
        if !messages.is_empty() {
            assert_eq!(messages.len(), 2);
            return messages;
        }
    }
    panic!("no heartbeats in 10 ticks");
}

/// Followers refuse, a new leader refuses until an entry of its term commits, then a read is
/// answered with the commit index once the others answered the round it started.
#[test]
fn read_index_needs_leadership_an_entry_of_the_term_and_a_round() {
    let mut c = Cluster::fresh(3);
    let leader = c.elect();
    let follower = (leader + 1) % 3;
    c.cores[follower].read_index(1);
    c.cores[leader].read_index(2);
    let _ = (c.ready(follower), c.ready(leader));
    assert_eq!(c.reads[follower], vec![(1, Err(ReadError::NotLeader))]);
    assert_eq!(c.reads[leader], vec![(2, Err(ReadError::NoEntryOfTerm))]);

    let (index, _) = c.cores[leader].propose(7).unwrap();
    c.settle();
    let appends = c.sent.1;
    c.cores[leader].read_index(3);
    assert!(c.reads[leader].len() == 1, "answered before the round");
    c.settle();
    assert_eq!(c.reads[leader][1], (3, Ok(index)));
    assert_eq!(c.sent.1 - appends, 2, "one heartbeat per follower");
}

/// Only answers to messages sent after the read arrived confirm it: a reply to an earlier
/// message might predate a newer leader's election.
#[test]
fn answers_to_earlier_messages_do_not_confirm_a_read() {
    let mut c = Cluster::fresh(3);
    let (leader, index) = leader_with_entry(&mut c);
    // A heartbeat round goes out and stays unanswered for now.
    let early = heartbeats(&mut c, leader);
    c.cores[leader].read_index(9);
    let round = c.ready(leader).messages;
    // The early heartbeats' answers arrive: not enough.
    for Message { to, seq, request } in early {
        let Request::Append(args) = request else {
            panic!()
        };
        let reply = c.cores[to].handle_append_entries(args.clone());
        c.cores[leader].handle_append_entries_reply(to, seq, &args, Some(reply));
    }
    let _ = c.ready(leader);
    assert!(
        c.reads[leader].is_empty(),
        "confirmed by answers sent before it"
    );
    // One answer to the round makes a majority with the leader.
    let Message { to, seq, request } = round.into_iter().next().unwrap();
    let Request::Append(args) = request else {
        panic!()
    };
    let reply = c.cores[to].handle_append_entries(args.clone());
    c.cores[leader].handle_append_entries_reply(to, seq, &args, Some(reply));
    let _ = c.ready(leader);
    assert_eq!(c.reads[leader], vec![(9, Ok(index))]);
}

/// A leader cut off from the majority cannot confirm a read: it fails within the longest
/// election timeout (or when the leader steps down), rather than waiting for ever.
#[test]
fn an_unconfirmed_read_fails() {
    let mut c = Cluster::fresh(3);
    let (leader, _) = leader_with_entry(&mut c);
    for i in 0..3 {
        c.connected[i] = i == leader;
    }
    c.cores[leader].read_index(4);
    c.tick(60);
    assert!(c.reads[leader].is_empty());
    c.tick(1);
    assert_eq!(c.reads[leader], vec![(4, Err(ReadError::NotLeader))]);
}

/// The lease runs from the send time of heartbeats a majority answered, for `lease_ticks`.
#[test]
fn a_lease_runs_from_the_send_time_of_answered_heartbeats() {
    let mut c = with_lease(3, 20);
    let (leader, index) = leader_with_entry(&mut c);
    assert_eq!(c.cores[leader].lease_read_index(), Ok(index));
    // Cut off: the last answered heartbeats were sent at most 10 ticks ago.
    for i in 0..3 {
        c.connected[i] = i == leader;
    }
    c.tick(9);
    assert_eq!(c.cores[leader].lease_read_index(), Ok(index));
    c.tick(11);
    assert_eq!(
        c.cores[leader].lease_read_index(),
        Err(ReadError::LeaseExpired)
    );
    let follower = (leader + 1) % 3;
    assert_eq!(
        c.cores[follower].lease_read_index(),
        Err(ReadError::NotLeader)
    );
}

/// A late answer to an old heartbeat does not renew the lease past that heartbeat's send time.
#[test]
fn a_late_answer_extends_no_lease() {
    let mut c = with_lease(3, 20);
    let (leader, _) = leader_with_entry(&mut c);
    let old = heartbeats(&mut c, leader);
    for i in 0..3 {
        c.connected[i] = i == leader;
    }
    c.tick(30);
    assert_eq!(
        c.cores[leader].lease_read_index(),
        Err(ReadError::LeaseExpired)
    );
    // The answers to the heartbeats sent 30 ticks ago arrive now.
    for Message { to, seq, request } in old {
        let Request::Append(args) = request else {
            panic!()
        };
        let reply = c.cores[to].handle_append_entries(args.clone());
        c.cores[leader].handle_append_entries_reply(to, seq, &args, Some(reply));
    }
    assert_eq!(
        c.cores[leader].lease_read_index(),
        Err(ReadError::LeaseExpired)
    );
}
