//! Tests that are not in MIT's suite. Each was added because a classic student bug passed all
//! of MIT's tests (the mutant named in its doc comment, under `mutants/`); each arranges the
//! moment at which that bug does harm, and lets the tester's checks see the harm.

use std::time::Duration;

use crate::run;
use crate::tester::{rand_int, sleep, RaftTester};

/// Rounds of [`persist_vote_2c`]. A round exposes a lost vote when the restarted candidate
/// stands before the restarted voter, which it does in most rounds.
const VOTE_ROUNDS: usize = 8;

/// A peer that voted, crashed and restarted must not vote again in the same term: that is why
/// Figure 2 lists votedFor with the persistent state. MIT's tests never restart a voter while
/// another candidate of the same term is still to come, so a Raft that does not persist
/// votedFor passes all of them (mutant `raft-votedfor-not-persisted`).
///
/// Each round arranges that moment with 3 peers. One peer, `c`, is crashed, so its term stays
/// behind. The leader is restarted, so the two others elect a leader `w` in the next term, one
/// voting for the other. Then `w` is cut off (it stays leader of that term), the voter `v`
/// restarts, and `c` comes back a little before `v`, so it most likely stands first. Its first
/// election is in the term `w` won, and it asks `v` for a vote. A `v` that forgot its vote
/// grants it, and `c` becomes the second leader of the term; the tester's Election Safety check
/// reports it.
#[test]
fn persist_vote_2c() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2C): a restarted peer does not vote twice in a term");
        for _ in 0..VOTE_ROUNDS {
            let (c, w, v) = elect_behind_crashed(&cfg).await;
            // Cut the new leader off, restart its voter, and bring `c` back just before it.
            cfg.disconnect(w);
            cfg.crash1(v);
            // `c` and `v` elect a leader: of a newer term than `w`'s, if `v` remembers its vote.
            stand_first_then(&cfg, c, v).await;
            cfg.connect(w);
        }
        cfg.one(rand_int(), servers, true).await;
        cfg.end();
    });
}

/// The start of a round of [`persist_vote_2c`] and [`fresh_leader_crash_2c`], with 3 peers: once
/// all hold the same log, one peer, `c`, is crashed, so that its term stays behind, and the
/// leader is restarted, so that the two others elect a leader of a newer term, one voting for
/// the other. Returns `c`, the new leader and its voter.
async fn elect_behind_crashed(cfg: &RaftTester) -> (usize, usize, usize) {
    let servers = cfg.n();
    let leader = cfg.check_one_leader().await;
    cfg.one(rand_int(), servers, true).await;
    let c = (leader + 1) % servers;
    cfg.crash1(c);
    cfg.start1(leader);
    cfg.connect(leader);
    let w = cfg.check_one_leader().await;
    let v = (0..servers)
        .find(|&i| i != w && i != c)
        .expect("three peers");
    (c, w, v)
}

/// The end of a round of [`persist_vote_2c`] and [`fresh_leader_crash_2c`]: the crashed `c`
/// restarts 100 ms before `other`, so that it most likely stands first, in the term it missed;
/// the two elect a leader, and the tester checks that no term had two.
async fn stand_first_then(cfg: &RaftTester, c: usize, other: usize) {
    cfg.start1(c);
    cfg.connect(c);
    sleep(Duration::from_millis(100)).await;
    cfg.start1(other);
    cfg.connect(other);
    cfg.check_one_leader().await;
    cfg.check_election_safety();
}

/// A leader must act only on replies to requests of its current term. A success that
/// arrives late, after the leader lost leadership and won it back, vouches for the log the
/// leader had then; the follower's log may have been rewritten since by another leader. A
/// leader that counts it sets matchIndex to entries the follower does not hold; a rejection
/// from below matchIndex then looks stale, and the follower is never repaired (mutant
/// `raft-stale-reply-updates-progress`). MIT's network holds a reply for at most 2.2 s,
/// too short for the two elections this takes; the tester holds it back instead.
///
/// The moment is [`rewrite_follower_then_reelect`]'s, with `f`'s reply held back until `l`
/// leads again.
#[test]
fn late_append_reply_2b() {
    run(|| rewrite_follower_then_reelect("a late AppendEntries reply from an earlier term", true));
}

/// The moment of [`late_append_reply_2b`] and [`reelected_leader_2b`], with 5 peers. The leader
/// `l`, with only follower `f` connected, appends `x` at index k and `f` stores it (its reply
/// held back if `hold_reply`). The three others elect a leader `w`, which puts its own entry at
/// index k on `f` alone. Then `l` comes back with the two peers that lack index k and wins a
/// new term (its log is the longest of the three), and only then does a held reply reach it.
/// With everyone back, a new command must reach all 5 peers, `f` included: `f` must be
/// repaired by the leader of the new term.
async fn rewrite_follower_then_reelect(title: &str, hold_reply: bool) {
    let servers = 5;
    let cfg = RaftTester::new(servers, false, false);
    cfg.begin(&format!("Test (2B): {title}"));
    cfg.one(rand_int(), servers, true).await;
    let l = cfg.check_one_leader().await;
    let f = (l + 1) % servers;
    let others: Vec<usize> = (2..servers).map(|d| (l + d) % servers).collect();

    // `l` appends x at index k, and `f` stores it.
    for &o in &others {
        cfg.disconnect(o);
    }
    if hold_reply {
        cfg.hold_replies(l, f, true);
    }
    assert!(
        cfg.rf(l).start(rand_int().into()).is_some(),
        "leader {l} refused Start()"
    );
    sleep(Duration::from_millis(100)).await;

    // The others elect `w`, which puts its own entry at index k on `f` alone.
    cfg.disconnect(l);
    cfg.disconnect(f);
    for &o in &others {
        cfg.connect(o);
    }
    let w = cfg.check_one_leader().await;
    for &o in &others {
        if o != w {
            cfg.disconnect(o);
        }
    }
    cfg.connect(f);
    assert!(
        cfg.rf(w).start(rand_int().into()).is_some(),
        "leader {w} refused Start()"
    );
    sleep(Duration::from_millis(100)).await;

    // `l` comes back with the two peers that lack index k, wins a newer term and commits an
    // entry of it. `f` is down meanwhile rather than cut off: cut off, it would stand in ever
    // newer terms, and when back depose `l`, ending the term `l` leads again.
    cfg.crash1(f);
    cfg.disconnect(w);
    for &o in &others {
        if o != w {
            cfg.connect(o);
        }
    }
    cfg.connect(l);
    cfg.one(rand_int(), servers - 2, true).await;

    // Only now does a held reply from the earlier term reach `l`.
    if hold_reply {
        cfg.hold_replies(l, f, false);
        sleep(Duration::from_millis(100)).await;
    }
    cfg.start1(f);
    cfg.connect(f);
    cfg.connect(w);
    cfg.one(rand_int(), servers, true).await;
    cfg.end();
}

/// Rounds of [`late_vote_2a`]. A round exposes the bug when the late vote arrives during the
/// cut-off candidate's next election, which it does in about one round in five.
const LATE_VOTE_ROUNDS: usize = 20;

/// A candidate must count only the votes granted in its current election. A grant that
/// arrives late, after the candidate timed out and stood again, is a vote for an earlier term;
/// counting it lets the candidate win a term in which its voter may have voted for someone
/// else (mutant `raft-candidate-counts-stale-votes`). MIT's only test with late replies,
/// `figure8_unreliable_2c`, almost never has another candidate win that same term.
///
/// Each round arranges it with 3 peers. The leader is cut off; the first peer to stand, `c`,
/// asks the other, `p`, for a vote, and the network holds most replies back for 0.2-2.2 s
/// (MIT's long reordering, on for this moment only). As soon as `p` has granted, `c` is cut
/// off and the old leader comes back. `c`, alone, stands again in the next term; `p` and the
/// old leader elect one of them in that same term. If `p`'s grant reaches `c` during that
/// election, a candidate that counts it becomes a second leader of the term, which the
/// tester's Election Safety check reports.
#[test]
fn late_vote_2a() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2A): a late vote from an earlier election");
        for _ in 0..LATE_VOTE_ROUNDS {
            let leader = cfg.check_one_leader().await;
            let term = cfg.rf(leader).get_state().0;
            cfg.set_long_reordering(true);
            cfg.disconnect(leader);
            let c = first_to_stand(&cfg, term).await;
            // Let `c`'s RequestVote reach the other peer (5 ms), then cut `c` off.
            sleep(Duration::from_millis(6)).await;
            cfg.disconnect(c);
            cfg.set_long_reordering(false);
            cfg.connect(leader);
            // Every held-back reply arrives within 2.2 s.
            sleep(Duration::from_millis(2500)).await;
            cfg.check_one_leader().await;
            cfg.check_election_safety();
            cfg.connect(c);
        }
        cfg.check_one_leader().await;
        cfg.end();
    });
}

/// Waits for the first connected peer to move past `term` (it timed out and stands), watching
/// every millisecond. Gives up, like `check_one_leader`, if none does within 5 s.
async fn first_to_stand(cfg: &RaftTester, term: u64) -> usize {
    for _ in 0..5000 {
        sleep(Duration::from_millis(1)).await;
        for i in 0..cfg.n() {
            if cfg.is_connected(i) && cfg.raft(i).is_some_and(|rf| rf.get_state().0 > term) {
                return i;
            }
        }
    }
    panic!("no connected peer started an election within 5 s of the leader being cut off");
}

/// A leader's matchIndex is about its current term: Figure 2 lists it with the volatile state
/// on leaders, "reinitialized after election" to 0. A peer that led an earlier term and wins a
/// new one must not keep what it knew then: the followers' logs may have been rewritten by
/// another leader in between. A leader that keeps an old matchIndex takes a rejection from at
/// or below it for a stale one, and never repairs that follower (mutant
/// `raft-match-index-kept-across-terms`). MIT's tests re-elect an earlier leader over a
/// rewritten follower only by chance (`figure8_unreliable_2c` catches the mutant on about one
/// seed in 150); this test does it on purpose.
///
/// The moment is [`rewrite_follower_then_reelect`]'s, with nothing held back: `l` learns that
/// `f` holds `x` in the earlier term.
#[test]
fn reelected_leader_2b() {
    run(|| {
        rewrite_follower_then_reelect(
            "a leader re-elected after another rewrote a follower",
            false,
        )
    });
}

/// Rounds of [`fresh_leader_crash_2c`]. A round exposes the bug when the restarted peer that
/// did not lead stands before the restarted leader, which it does in most rounds.
const FRESH_LEADER_ROUNDS: usize = 8;

/// A candidate's new term and its vote for itself are persistent state, to be saved "every time
/// one of them changes, *before* answering an RPC or sending one that depends on the change"
/// (the handout's 2C; Figure 2): its RequestVotes carry the new term, and if it wins it leads
/// that term. A peer that sends its RequestVotes first and persists its term and vote only later
/// (with its next command, say) forgets, if it crashes as a fresh leader, both the term it led
/// and its vote in it; restarted, it grants its vote in that term to another candidate, which
/// becomes a second leader of the term (mutant `raft-election-not-persisted`). MIT's tests
/// crash leaders nearly always after they took a command (persisting it saves the term too),
/// and never arrange for another peer to stand in the term a crashed fresh leader led.
///
/// Each round arranges that moment with 3 peers. One peer, `c`, is crashed, so its term stays
/// behind. The leader is restarted, so the two others elect a fresh leader `a` of the next term,
/// with the vote of the third, `v`. Before `a` gets any command, `a` and `v` crash; `c`
/// restarts, and `a` a little after it, so `c` most likely stands first. Its first election is
/// in the term `a` led, and it asks `a` for a vote. An `a` that forgot its term and vote grants
/// it, and `c` becomes the second leader of the term; the tester's Election Safety check
/// reports it.
#[test]
fn fresh_leader_crash_2c() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2C): a fresh leader crashes before its first command");
        for _ in 0..FRESH_LEADER_ROUNDS {
            let (c, a, v) = elect_behind_crashed(&cfg).await;
            // The fresh leader crashes before its first command, and so does its voter; `c`
            // comes back just before `a`.
            cfg.crash1(a);
            cfg.crash1(v);
            // `c` and `a` elect a leader: of a newer term than the one `a` led, if `a`
            // remembers it.
            stand_first_then(&cfg, c, a).await;
            cfg.start1(v);
            cfg.connect(v);
        }
        cfg.one(rand_int(), servers, true).await;
        cfg.end();
    });
}

/// Rounds of [`vote_resets_timer_2a`]. A round exposes a voter that keeps counting from before
/// the election when its timer was due within the deaf spell, which happens in only a few
/// rounds in a hundred: with 30 rounds the test catches such a voter on most seeds.
const VOTE_TIMER_ROUNDS: usize = 30;

/// How long the voter hears nothing from the leader it just elected. Shorter than any sensible
/// election timeout (the handout's range starts at 300 ms, the paper's at 150 ms), so that a
/// voter that reset its timer when it granted its vote cannot time out meanwhile.
const DEAF_SPELL: Duration = Duration::from_millis(100);

/// Granting a vote resets the election timer (Figure 2; the 2A hints). A voter that does not
/// keeps counting from before the election: if its timer was nearly due, it fires right after
/// the election, before the new leader's first heartbeat arrives, and it stands against the
/// leader it just elected (mutant `raft-timer-not-reset-on-vote`). MIT's tests see this only
/// when a heartbeat happens to be lost at that moment, on about one seed in twenty.
///
/// Each round cuts the leader off; the two others elect one of them, `l`, with the other's vote.
/// At the end of the instant `l` wins (its first heartbeat is still 5 ms away on the wire),
/// `l`'s link to the voter is cut one way for [`DEAF_SPELL`]: the voter, which reset its timer
/// when it voted, must not stand meanwhile.
#[test]
fn vote_resets_timer_2a() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2A): granting a vote resets the election timer");
        for _ in 0..VOTE_TIMER_ROUNDS {
            let old = cfg.check_one_leader().await;
            let term = cfg.rf(old).get_state().0;
            sleep(Duration::from_millis(rand_int() % 300)).await;
            cfg.disconnect(old);
            let (l, new_term) = next_leader(&cfg, term).await;
            let voter = (0..servers).find(|&i| i != old && i != l).unwrap();
            cfg.set_link(l, voter, false);
            let until = labrpc::sim::now() + DEAF_SPELL;
            while labrpc::sim::now() < until {
                let (t, _) = cfg.rf(voter).get_state();
                assert!(
                    t == new_term && cfg.rf(l).get_state() == (new_term, true),
                    "peer {voter} stood for election (term {t}) less than {} ms after it voted \
                     for peer {l} in term {new_term}: reset your election timer when you grant \
                     a vote, or a voter whose timer was nearly due fires right after the \
                     election, before the new leader's first heartbeat arrives",
                    DEAF_SPELL.as_millis()
                );
                sleep(Duration::from_millis(1)).await;
            }
            cfg.set_link(l, voter, true);
            cfg.connect(old);
        }
        cfg.check_one_leader().await;
        cfg.end();
    });
}

/// Waits, looking at the end of every instant, for a connected peer to lead a term past
/// `term`; returns it and its term. Gives up, like `check_one_leader`, after 5 s.
async fn next_leader(cfg: &RaftTester, term: u64) -> (usize, u64) {
    let until = labrpc::sim::now() + Duration::from_secs(5);
    while labrpc::sim::now() < until {
        labrpc::sim::settled(Duration::ZERO).await;
        for i in 0..cfg.n() {
            if !cfg.is_connected(i) {
                continue;
            }
            if let Some((t, true)) = cfg.raft(i).map(|rf| rf.get_state()) {
                if t > term {
                    return (i, t);
                }
            }
        }
    }
    panic!("no connected peer won an election within 5 s of the leader being cut off");
}
