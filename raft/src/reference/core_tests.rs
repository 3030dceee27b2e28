//! Unit tests of the pure core: clusters of [`Core`]s driven by hand, no network, no tasks.

use std::collections::VecDeque;

use super::super::messages::*;
use super::super::persist::HardStateRef;
use super::*;
use crate::Persister;

type Cmd = u64;

fn config(id: usize, peers: usize) -> CoreConfig {
    CoreConfig {
        id,
        peers,
        election_ticks: 30..61,
        heartbeat_ticks: 10,
        silent_heartbeat_ticks: 25,
        pre_vote: false,
        check_quorum: false,
        lease_ticks: 0,
    }
}

/// A seeded generator (an LCG): deterministic, and different per peer.
fn random(seed: u64) -> Random {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    Box::new(move |r: Range<u64>| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        r.start + (x >> 33) % (r.end - r.start)
    })
}

/// Persisted state for a peer in `term` whose log holds entries of `terms` (commands 1, 2, ...).
fn persisted(term: u64, terms: &[u64]) -> Vec<u8> {
    let mut log = Log::default();
    for (i, &t) in terms.iter().enumerate() {
        log.append(Entry {
            term: t,
            command: i as Cmd + 1,
        });
    }
    let hs = HardStateRef {
        term,
        voted_for: None,
        log: &log,
    };
    labgob::encode(&hs).unwrap()
}

fn core(id: usize, peers: usize, term: u64, terms: &[u64]) -> Core<Cmd> {
    Core::new(
        config(id, peers),
        random(id as u64 + 1),
        &persisted(term, terms),
        Vec::new(),
    )
}

fn terms(core: &Core<Cmd>) -> Vec<u64> {
    let log = &core.log;
    (log.snapshot_index() + 1..=log.last_index())
        .map(|i| log.entry(i).term)
        .collect()
}

/// Peers exchanging messages synchronously; a disconnected peer neither sends nor receives
/// (its messages fail, as a dead link does). Each peer saves every `Ready` to its persister,
/// as the driver does.
struct Cluster<C: Command = Cmd> {
    cores: Vec<Core<C>>,
    persisters: Vec<Persister>,
    connected: Vec<bool>,
    applied: Vec<Vec<ApplyMsg<C>>>,
    /// Answers to reads, per peer, in the order its Readys gave them.
    reads: Vec<Vec<(u64, Result<u64, crate::ReadError>)>>,
    /// Requests delivered so far, by kind: (votes, appends, snapshots).
    sent: (usize, usize, usize),
}

impl Cluster {
    fn fresh(n: usize) -> Cluster {
        Cluster::new((0..n).map(|i| core(i, n, 0, &[])).collect())
    }
}

impl<C: Command> Cluster<C> {
    fn new(cores: Vec<Core<C>>) -> Cluster<C> {
        let n = cores.len();
        Cluster {
            cores,
            persisters: (0..n).map(|_| Persister::new()).collect(),
            connected: vec![true; n],
            applied: vec![Vec::new(); n],
            reads: vec![Vec::new(); n],
            sent: (0, 0, 0),
        }
    }

    /// Takes peer `i`'s Ready and saves what it asks to persist, as the driver does (the
    /// driver's own code). What the persister then holds must be the whole state, byte for
    /// byte, however little the save wrote.
    fn ready(&mut self, i: usize) -> Ready<C> {
        let mut ready = self.cores[i].ready();
        if let Some(persist) = ready.persist.clone() {
            super::super::save(&self.persisters[i], persist);
            assert_eq!(
                self.persisters[i].read_raft_state(),
                self.cores[i].encode_state(),
                "peer {i} saved a change that does not add up to its state"
            );
        }
        self.applied[i].extend(std::mem::take(&mut ready.apply));
        self.reads[i].extend(std::mem::take(&mut ready.reads));
        ready
    }

    /// Takes every peer's Ready and delivers messages until there are none left.
    fn settle(&mut self) {
        let mut queue = VecDeque::new();
        loop {
            for i in 0..self.cores.len() {
                let ready = self.ready(i);
                queue.extend(ready.messages.into_iter().map(|m| (i, m)));
            }
            let Some((from, Message { to, seq, request })) = queue.pop_front() else {
                return;
            };
            let up = self.connected[from] && self.connected[to];
            match request {
                Request::Vote(args) => {
                    self.sent.0 += 1;
                    let reply = up.then(|| self.cores[to].handle_request_vote(args.clone()));
                    self.cores[from].handle_request_vote_reply(to, &args, reply);
                }
                Request::PreVote(args) => {
                    self.sent.0 += 1;
                    let reply = up.then(|| self.cores[to].handle_pre_vote(args.clone()));
                    self.cores[from].handle_pre_vote_reply(to, &args, reply);
                }
                Request::Append(args) => {
                    self.sent.1 += 1;
                    let reply = up.then(|| self.cores[to].handle_append_entries(args.clone()));
                    self.cores[from].handle_append_entries_reply(to, seq, &args, reply);
                }
                Request::Snapshot(args) => {
                    self.sent.2 += 1;
                    let reply = up.then(|| self.cores[to].handle_install_snapshot(args.clone()));
                    self.cores[from].handle_install_snapshot_reply(to, seq, &args, reply);
                }
            }
        }
    }

    fn tick(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for (i, c) in self.cores.iter_mut().enumerate() {
                if self.connected[i] {
                    c.tick();
                }
            }
            self.settle();
        }
    }

    fn leaders(&self) -> Vec<usize> {
        (0..self.cores.len())
            .filter(|&i| self.connected[i] && self.cores[i].is_leader())
            .collect()
    }

    /// Ticks until exactly one connected leader exists; returns it.
    fn elect(&mut self) -> usize {
        for _ in 0..1000 {
            self.tick(1);
            if let [leader] = self.leaders()[..] {
                return leader;
            }
        }
        panic!("no leader");
    }

    fn commands(&self, peer: usize) -> Vec<(u64, C)> {
        self.applied[peer]
            .iter()
            .filter_map(|m| match m {
                ApplyMsg::Command { index, command } => Some((*index, command.clone())),
                ApplyMsg::Snapshot { .. } => None,
            })
            .collect()
    }
}

/// What a peer persists is byte for byte what labgob makes of its state, after a restore and
/// after the log changed.
#[test]
fn persisted_state_is_labgob_of_the_hard_state() {
    let mut c = core(0, 3, 4, &[1, 1, 2, 4]);
    assert_eq!(c.encode_state(), persisted(4, &[1, 1, 2, 4]));
    c.voted_for = Some(0);
    c.log.append(Entry {
        term: 4,
        command: 5,
    });
    let expected = HardStateRef {
        term: 4,
        voted_for: Some(0),
        log: &c.log,
    };
    assert_eq!(c.encode_state(), labgob::encode(&expected).unwrap());
}

#[test]
fn elects_one_leader_and_stays_quiet() {
    let mut c = Cluster::fresh(3);
    let leader = c.elect();
    let term = c.cores[leader].term();
    assert!(c.cores.iter().all(|core| core.term() == term));
    // An idle leader: one heartbeat per follower per heartbeat interval, and no new election.
    let before = c.sent;
    c.tick(100);
    assert_eq!(c.leaders(), vec![leader]);
    assert_eq!(c.cores[leader].term(), term);
    assert_eq!(c.sent.0, before.0);
    assert_eq!(c.sent.1 - before.1, 2 * 10);
}

#[test]
fn new_leader_after_leader_disconnects() {
    let mut c = Cluster::fresh(5);
    let old = c.elect();
    c.connected[old] = false;
    let new = c.elect();
    assert_ne!(new, old);
    assert!(c.cores[new].term() > c.cores[old].term());
    // The old leader steps down as soon as it hears of the newer term.
    c.connected[old] = true;
    c.tick(20);
    assert_eq!(c.leaders(), vec![new]);
}

#[test]
fn vote_restriction_and_one_vote_per_term() {
    let mut voter = core(0, 3, 2, &[1, 1, 2]);
    let ask = |candidate, last_log_index, last_log_term| RequestVoteArgs {
        term: 3,
        candidate,
        last_log_index,
        last_log_term,
    };
    // A longer log with an older last term is less up to date.
    let reply = voter.handle_request_vote(ask(1, 9, 1));
    assert_eq!((reply.term, reply.vote_granted), (3, false));
    // The same last term but a shorter log: also refused.
    assert!(!voter.handle_request_vote(ask(1, 2, 2)).vote_granted);
    // As up to date: granted, and persisted before the reply leaves.
    assert!(voter.handle_request_vote(ask(1, 3, 2)).vote_granted);
    assert!(voter.ready().persist.is_some());
    assert_eq!(voter.voted_for, Some(1));
    // Again to the same candidate (a retry), but never to another in that term.
    assert!(voter.handle_request_vote(ask(1, 3, 2)).vote_granted);
    assert!(!voter.handle_request_vote(ask(2, 5, 3)).vote_granted);
    // A stale term is refused outright.
    let stale = RequestVoteArgs {
        term: 2,
        ..ask(2, 5, 3)
    };
    assert_eq!(voter.handle_request_vote(stale).term, 3);
}

/// Makes `c` the leader of its next term by hand (all other peers vote for it).
fn win_election(c: &mut Core<Cmd>) {
    stand(c);
    let ready = c.ready();
    elect(c, ready);
}

/// Ticks `c` until it stands for election.
fn stand(c: &mut Core<Cmd>) {
    while c.role != Role::Candidate {
        c.tick();
    }
}

/// Grants the candidate `c` every other peer's vote for the request in `ready`.
fn elect(c: &mut Core<Cmd>, mut ready: Ready<Cmd>) {
    let args = match ready.messages.remove(0).request {
        Request::Vote(args) => args,
        other => panic!("expected a vote request, got {other:?}"),
    };
    let granted = RequestVoteReply {
        term: args.term,
        vote_granted: true,
    };
    for peer in 1..c.cfg.peers {
        c.handle_request_vote_reply(peer, &args, Some(granted.clone()));
    }
    assert!(c.is_leader());
}

/// The appends in `ready`, with their sequence numbers.
fn appends(ready: Ready<Cmd>) -> Vec<(usize, u64, AppendEntriesArgs<Cmd>)> {
    ready
        .messages
        .into_iter()
        .filter_map(|m| match m.request {
            Request::Append(args) => Some((m.to, m.seq, args)),
            _ => None,
        })
        .collect()
}

fn ok(term: u64) -> Option<AppendEntriesReply> {
    Some(AppendEntriesReply {
        term,
        success: true,
        ..Default::default()
    })
}

#[test]
fn figure_8_commits_only_entries_of_the_current_term_by_counting() {
    // Peer 0 holds an entry of term 2 that was never committed; it becomes leader in term 4.
    let mut leader = core(0, 5, 3, &[1, 2]);
    win_election(&mut leader);
    let term = leader.term();
    let heartbeat = appends(leader.ready());
    // Every follower acknowledges holding index 2 (term 2): a majority, but not of this term.
    for (to, seq, args) in &heartbeat {
        assert_eq!(args.prev_log_index, 2);
        leader.handle_append_entries_reply(*to, *seq, args, ok(term));
    }
    assert_eq!(
        leader.commit, 0,
        "an old-term entry was committed by counting"
    );
    // An entry of the current term, replicated on a majority, commits both.
    assert_eq!(leader.propose(7), Some((3, term)));
    let sent = appends(leader.ready());
    for (to, seq, args) in sent.iter().take(2) {
        leader.handle_append_entries_reply(*to, *seq, args, ok(term));
    }
    assert_eq!(leader.commit, 3);
    let applied: Vec<u64> = leader
        .ready()
        .apply
        .iter()
        .map(|m| match m {
            ApplyMsg::Command { index, .. } => *index,
            ApplyMsg::Snapshot { .. } => panic!("unexpected snapshot"),
        })
        .collect();
    assert_eq!(applied, vec![1, 2, 3]);
}

#[test]
fn follower_rejects_with_conflict_hint_and_leader_skips_the_term() {
    // Follower 1 has a long tail of term 2 that leader 0 (term 3) never had.
    let leader = core(0, 3, 3, &[1, 1, 1, 3, 3]);
    let follower = core(1, 3, 2, &[1, 1, 1, 2, 2, 2, 2, 2, 2]);
    let other = core(2, 3, 3, &[1, 1, 1, 3, 3]);
    let mut c = Cluster::new(vec![leader, follower, other]);
    c.connected[1] = false;
    // As `win_election`, with the candidate's Ready saved by the cluster.
    stand(&mut c.cores[0]);
    let ready = c.ready(0);
    elect(&mut c.cores[0], ready);
    c.settle();
    c.connected[1] = true;

    // Probe at 5 (term 3): the follower holds term 2 there, first at index 4; the leader has
    // no term 2, so it goes straight to 4 and the next message repairs the log.
    let appends_before = c.sent.1;
    let term = c.cores[0].term();
    c.cores[0].propose(6);
    c.settle();
    assert_eq!(terms(&c.cores[1]), vec![1, 1, 1, 3, 3, term]);
    assert!(
        c.sent.1 - appends_before <= 2 + 2,
        "backup took too many round trips"
    );
    // Direct check of the hint itself.
    let mut f = core(1, 3, 2, &[1, 1, 1, 2, 2, 2]);
    let reply = f.handle_append_entries(AppendEntriesArgs {
        term: 3,
        leader: 0,
        prev_log_index: 5,
        prev_log_term: 3,
        entries: vec![],
        leader_commit: 0,
    });
    assert_eq!(
        (reply.success, reply.conflict_term, reply.conflict_index),
        (false, Some(2), 4)
    );
    let short = f.handle_append_entries(AppendEntriesArgs {
        term: 3,
        leader: 0,
        prev_log_index: 9,
        prev_log_term: 3,
        entries: vec![],
        leader_commit: 0,
    });
    assert_eq!((short.conflict_term, short.conflict_index), (None, 7));
}

#[test]
fn delayed_append_matching_a_prefix_does_not_truncate() {
    let mut f = core(1, 3, 1, &[]);
    let append = |prev, n| AppendEntriesArgs {
        term: 1,
        leader: 0,
        prev_log_index: prev,
        prev_log_term: if prev == 0 { 0 } else { 1 },
        entries: (prev + 1..=prev + n)
            .map(|i| Entry {
                term: 1,
                command: i,
            })
            .collect(),
        leader_commit: 0,
    };
    assert!(f.handle_append_entries(append(0, 5)).success);
    assert!(f.ready().persist.is_some());
    // The same prefix again, arriving late: accepted, nothing cut, nothing to persist.
    assert!(f.handle_append_entries(append(0, 3)).success);
    assert_eq!(f.log.last_index(), 5);
    assert!(f.ready().persist.is_none());
    // Commit follows the leader only as far as this message proves agreement.
    let mut late = append(0, 2);
    late.leader_commit = 5;
    f.handle_append_entries(late);
    assert_eq!(f.commit, 2);
}

#[test]
fn stale_replies_never_move_progress_backwards() {
    let mut leader = core(0, 3, 1, &[1, 1, 1]);
    win_election(&mut leader);
    let term = leader.term();
    let heartbeat = appends(leader.ready());
    let (to, seq, hb) = heartbeat[0].clone();
    assert_eq!(to, 1);
    // Follower 1 reports matching through 3.
    leader.handle_append_entries_reply(1, seq, &hb, ok(term));
    assert_eq!(
        (leader.progress[1].matched, leader.progress[1].next),
        (3, 4)
    );
    // A late success for an older, shorter request changes nothing.
    let older = AppendEntriesArgs {
        prev_log_index: 1,
        ..hb.clone()
    };
    leader.handle_append_entries_reply(1, seq, &older, ok(term));
    assert_eq!(
        (leader.progress[1].matched, leader.progress[1].next),
        (3, 4)
    );
    // A late rejection of a probe at or below what matches is ignored.
    let reject = AppendEntriesReply {
        term,
        success: false,
        conflict_index: 1,
        conflict_term: None,
    };
    leader.handle_append_entries_reply(1, seq, &older, Some(reject.clone()));
    assert_eq!(leader.progress[1].next, 4);
    // A reply in an older term, or the neutral reply of a killed peer, is ignored.
    let old_term = AppendEntriesArgs {
        term: term - 1,
        prev_log_index: 5,
        ..hb.clone()
    };
    leader.handle_append_entries_reply(1, seq, &old_term, Some(reject));
    leader.handle_append_entries_reply(1, seq, &hb, Some(AppendEntriesReply::default()));
    assert_eq!(
        (leader.progress[1].matched, leader.progress[1].next),
        (3, 4)
    );
    assert!(leader.is_leader());
    // A reply with a newer term deposes the leader.
    let newer = AppendEntriesReply {
        term: term + 1,
        ..Default::default()
    };
    leader.handle_append_entries_reply(1, seq, &hb, Some(newer));
    assert_eq!((leader.role, leader.term()), (Role::Follower, term + 1));
}

#[test]
fn proposals_batch_behind_one_message_in_flight() {
    let mut leader = core(0, 3, 0, &[]);
    win_election(&mut leader);
    let term = leader.term();
    for (to, seq, args) in appends(leader.ready()) {
        leader.handle_append_entries_reply(to, seq, &args, ok(term));
    }
    leader.propose(1);
    let first = appends(leader.ready());
    assert_eq!(first.len(), 2, "the first proposal goes out at once");
    for cmd in 2..=6 {
        leader.propose(cmd);
    }
    assert!(
        leader.ready().messages.is_empty(),
        "sent while a message was in flight"
    );
    // The answer releases everything proposed meanwhile, in one message.
    let (to, seq, args) = &first[0];
    leader.handle_append_entries_reply(*to, *seq, args, ok(term));
    let batch = appends(leader.ready());
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].2.entries.len(), 5);
    // A heartbeat while data is in flight is an empty probe, not a resend.
    for _ in 0..10 {
        leader.tick();
    }
    let probes = appends(leader.ready());
    assert_eq!(probes.len(), 2);
    assert!(probes.iter().all(|(_, _, a)| a.entries.is_empty()));
    // Its reply shows the link works: the lost data is resent at once.
    let (to, seq, probe) = probes.iter().find(|p| p.0 == 1).unwrap();
    leader.handle_append_entries_reply(*to, *seq, probe, ok(term));
    let resent = appends(leader.ready());
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].2.entries.len(), 5);
}

#[test]
fn snapshot_trims_log_and_installs_on_a_lagging_follower() {
    let mut c = Cluster::fresh(3);
    let leader = c.elect();
    let lagging = (leader + 1) % 3;
    c.connected[lagging] = false;
    for cmd in 1..=12 {
        c.cores[leader].propose(cmd);
        c.settle();
    }
    c.tick(10); // the follower learns the last commit from the next heartbeat
    let up = (leader + 2) % 3;
    for peer in [leader, up] {
        assert_eq!(c.cores[peer].commit, 12);
        c.cores[peer].compact(10, vec![10]);
        let ready = c.ready(peer);
        let persist = ready.persist.expect("a snapshot is persisted");
        assert_eq!(persist.snapshot, Some(vec![10]));
        assert_eq!(c.cores[peer].log.snapshot_index(), 10);
        assert_eq!(c.cores[peer].log.last_index(), 12);
    }
    c.connected[lagging] = true;
    c.tick(10);
    assert_eq!(c.sent.2, 1, "one InstallSnapshot");
    let f = &c.cores[lagging];
    // The snapshot, then the entries after it in the same round trip.
    assert_eq!(
        (f.log.snapshot_index(), f.log.last_index(), f.commit),
        (10, 12, 12)
    );
    let snapshot = ApplyMsg::Snapshot {
        index: 10,
        term: c.cores[leader].term(),
        data: vec![10],
    };
    assert_eq!(c.applied[lagging][0], snapshot);
    // Commands after the snapshot are applied from 11 on, never those it covers.
    c.cores[leader].propose(13);
    c.tick(10);
    assert_eq!(c.commands(lagging), vec![(11, 11), (12, 12), (13, 13)]);
    // An older snapshot, e.g. a delayed message, is ignored.
    let term = c.cores[lagging].term();
    c.cores[lagging].handle_install_snapshot(InstallSnapshotArgs {
        term,
        leader,
        last_included_index: 5,
        last_included_term: 1,
        data: vec![5],
        config: None,
    });
    let ready = c.ready(lagging);
    assert!(ready.apply.is_empty() && ready.persist.is_none());
}

#[test]
fn restart_restores_state_and_snapshot() {
    let mut c = Cluster::fresh(3);
    let leader = c.elect();
    for cmd in 1..=5 {
        c.cores[leader].propose(cmd);
    }
    c.settle();
    c.cores[leader].compact(3, vec![3]);
    assert!(c.ready(leader).persist.is_some());
    let persister = &c.persisters[leader];
    let restarted: Core<Cmd> = Core::new(
        config(leader, 3),
        random(9),
        &persister.read_raft_state(),
        persister.read_snapshot(),
    );
    let old = &c.cores[leader];
    assert_eq!(
        (restarted.term(), restarted.voted_for, &restarted.log),
        (old.term(), old.voted_for, &old.log)
    );
    assert_eq!(restarted.snapshot, vec![3]);
    // The service restores the snapshot itself: Raft starts applying after it.
    assert_eq!((restarted.commit, restarted.applied), (3, 3));
    assert!(!restarted.is_leader());
}

#[test]
fn compaction_ignores_stale_or_unapplied_indices() {
    let mut c = Cluster::fresh(3);
    let leader = c.elect();
    for cmd in 1..=4 {
        c.cores[leader].propose(cmd);
    }
    c.settle();
    let l = &mut c.cores[leader];
    l.compact(9, vec![9]); // never handed out
    assert_eq!(l.log.snapshot_index(), 0);
    l.compact(3, vec![3]);
    l.compact(2, vec![2]); // older than the current snapshot
    assert_eq!((l.log.snapshot_index(), l.snapshot.clone()), (3, vec![3]));
}

#[path = "election_tests.rs"]
mod election_tests;

#[path = "reads_tests.rs"]
mod reads_tests;

#[path = "membership_tests.rs"]
mod membership_tests;
