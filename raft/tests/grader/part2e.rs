//! 2E (beyond MIT): PreVote and CheckQuorum, the guards etcd and TiKV add to elections (the
//! handout: the 2E section of `src/raft.rs`).
//!
//! Each directed test sets up the moment its guard exists for and fails an implementation
//! without it: a term that moves when it must not, or a leader that keeps claiming a term it
//! cannot serve. Then MIT's election and churn tests run with both guards on: the guards must
//! not cost Election Safety (checked all through every test) or liveness.

use std::sync::Arc;
use std::time::Duration;

use labrpc::sim;
use raft::Options;

use crate::churn::{churn_with, CHURN_ROUNDS};
use crate::part2a::re_election;
use crate::part2c::figure8_unreliable;
use crate::run;
use crate::tester::{sleep, RaftTester, BOTH, ELECTION_TIMEOUT, NONE};

const PRE_VOTE: Options = Options {
    pre_vote: true,
    ..NONE
};
const CHECK_QUORUM: Options = Options {
    check_quorum: true,
    ..NONE
};

/// A reliable cluster of `servers` peers made with `options`, its measured part begun as
/// `title`, once a first command has committed on every peer: the tester, the leader, and
/// the term every peer is in.
async fn with_a_leader(
    servers: usize,
    options: Options,
    title: &str,
) -> (Arc<RaftTester>, usize, u64) {
    let cfg = RaftTester::with_options(servers, false, false, options);
    cfg.begin(title);
    cfg.one(101, servers, false).await;
    let leader = cfg.check_one_leader().await;
    let term = cfg.check_terms();
    (cfg, leader, term)
}

/// For `d`, every 10 ms: each peer of `peers` is still in `term`, and `leader` (if any) still
/// leads it.
/// `why` says what the moment is and which rule keeps the term.
async fn steady(
    cfg: &RaftTester,
    peers: &[usize],
    leader: Option<usize>,
    term: u64,
    d: Duration,
    why: &str,
) {
    let until = sim::now() + d;
    while sim::now() < until {
        for &i in peers {
            let (t, is_leader) = cfg.rf(i).get_state();
            assert!(
                t == term,
                "peer {i} went from term {term} to term {t} {why}"
            );
            assert!(
                Some(i) != leader || is_leader,
                "peer {i} stopped leading term {term} {why}"
            );
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// A follower cut off for 5 s (more than ten election timeouts), then back: with PreVote its
/// term never moves, so neither the leader nor the term changes, whether the others committed
/// entries while it was away (its log is behind) or not (only the leader's presence stops
/// them from helping it stand).
#[test]
fn rejoin_2e() {
    run(|| async {
        let servers = 5;
        let all: Vec<usize> = (0..servers).collect();
        let (cfg, leader, term) = with_a_leader(
            servers,
            PRE_VOTE,
            "Test (2E): a cut-off peer rejoins without an election",
        )
        .await;
        let rule = "(PreVote: a peer whose election timer fires asks for pre-votes before it \
                    starts a new term, and peers refuse one while they hear from a leader or when \
                    the asker's log is behind theirs; a pre-vote changes no term)";

        let away = (leader + 1) % servers;
        cfg.disconnect(away);
        for k in 0..5 {
            cfg.one(200 + k, servers - 1, false).await;
        }
        let why = format!("while peer {away} was cut off {rule}");
        steady(&cfg, &all, Some(leader), term, Duration::from_secs(5), &why).await;
        cfg.connect(away);
        let why = format!("after peer {away}, whose log was behind, rejoined {rule}");
        steady(&cfg, &all, Some(leader), term, 2 * ELECTION_TIMEOUT, &why).await;
        cfg.one(300, servers, true).await;

        let away = (leader + 2) % servers;
        cfg.disconnect(away);
        let why = format!("while peer {away} was cut off {rule}");
        steady(&cfg, &all, Some(leader), term, Duration::from_secs(5), &why).await;
        cfg.connect(away);
        let why = format!("after peer {away}, whose log was up to date, rejoined {rule}");
        steady(&cfg, &all, Some(leader), term, 2 * ELECTION_TIMEOUT, &why).await;
        cfg.one(301, servers, true).await;
        cfg.end();
    });
}

/// The leader's link to one follower fails one way: the follower hears nothing from the leader
/// while its own requests reach everyone. First for 3 s, then flapping on and off every 50-400
/// ms for 5 s. Its log is up to date, so only the others' hearing the leader stops them from
/// granting its pre-votes: the term must not move.
#[test]
fn one_way_link_2e() {
    let rule = "(PreVote: a peer that hears from a leader within the minimum election timeout \
                refuses pre-votes, so a follower that misses heartbeats cannot start a new term)";
    run(move || one_way_link(PRE_VOTE, "PreVote", rule));
}

/// [`one_way_link_2e`] with CheckQuorum instead of PreVote, for the 3 s of the failed link: the
/// follower that misses heartbeats does stand, in newer and newer terms, but the peers that
/// hear the leader ignore its RequestVotes. (Not the flapping: once the link works, the
/// leader's next AppendEntries meets the follower's newer term and the leader must step down.
/// Only PreVote keeps that term from climbing.)
#[test]
fn one_way_link_check_quorum_2e() {
    let rule = "(CheckQuorum: a peer that hears from a leader within the minimum election \
                timeout ignores a RequestVote of a newer term, neither adopting the term nor \
                voting)";
    run(move || one_way_link(CHECK_QUORUM, "CheckQuorum", rule));
}

async fn one_way_link(options: Options, guard: &str, rule: &str) {
    let servers = 3;
    let all: Vec<usize> = (0..servers).collect();
    let title = format!("Test (2E): a follower that misses heartbeats does not disrupt ({guard})");
    let (cfg, leader, term) = with_a_leader(servers, options, &title).await;
    let deaf = (leader + 1) % servers;
    let others: Vec<usize> = all.iter().copied().filter(|&i| i != deaf).collect();
    // With PreVote the deaf follower's term stays too; with CheckQuorum alone it climbs.
    let watched = if options.pre_vote { &all } else { &others };
    let why = format!("while peer {leader}'s link to peer {deaf} failed one way {rule}");

    cfg.set_link(leader, deaf, false);
    steady(
        &cfg,
        watched,
        Some(leader),
        term,
        Duration::from_secs(3),
        &why,
    )
    .await;
    let mut on = false;
    let flapping = Duration::from_secs(if options.pre_vote { 5 } else { 0 });
    let until = sim::now() + flapping;
    while sim::now() < until {
        cfg.set_link(leader, deaf, on);
        on = !on;
        let d = Duration::from_millis(sim::random_range(50..400));
        steady(&cfg, watched, Some(leader), term, d, &why).await;
    }
    cfg.set_link(leader, deaf, true);
    cfg.one(102, servers, true).await;
    cfg.end();
}

/// A peer whose log is behind asks a peer that would not vote for it. The leader is cut off
/// and the up-to-date peer can only listen (its own requests are lost), so for 3 s the stale
/// peer keeps timing out and asking, and the up-to-date one, which no longer hears a leader,
/// must refuse on the log alone: no term may move.
#[test]
fn stale_log_2e() {
    run(|| async {
        let servers = 3;
        let (cfg, leader, term) = with_a_leader(
            servers,
            PRE_VOTE,
            "Test (2E): a peer with a stale log cannot start a term",
        )
        .await;
        let (stale, current) = ((leader + 1) % servers, (leader + 2) % servers);
        cfg.disconnect(stale);
        for k in 0..3 {
            cfg.one(200 + k, servers - 1, false).await;
        }
        cfg.disconnect(leader);
        cfg.connect(stale);
        cfg.set_link(current, stale, false);
        let why = format!(
            "while peer {stale}, whose log is behind, asked peer {current} for pre-votes \
             (PreVote: grant a pre-vote only to a log at least as up-to-date as yours, as a \
             vote; and a pre-vote changes no term)"
        );
        steady(
            &cfg,
            &[stale, current],
            None,
            term,
            Duration::from_secs(3),
            &why,
        )
        .await;
        cfg.set_link(current, stale, true);
        cfg.connect(leader);
        cfg.one(300, servers, true).await;
        cfg.end();
    });
}

/// The leader and one follower are cut off from the other three: within 2 s (two of the
/// tester's election timeouts) the leader stops claiming leadership and refuses commands, while
/// the three elect a leader of their own.
#[test]
fn check_quorum_2e() {
    run(|| async {
        let servers = 5;
        let (cfg, leader, term) = with_a_leader(
            servers,
            CHECK_QUORUM,
            "Test (2E): a leader without a majority steps down",
        )
        .await;
        let with = (leader + 1) % servers;
        let rest: Vec<usize> = (0..servers).filter(|&i| i != leader && i != with).collect();
        cfg.partition(&[leader, with], &rest);
        let cut = sim::now();
        while cfg.rf(leader).get_state() == (term, true) {
            assert!(
                sim::now() - cut < 2 * ELECTION_TIMEOUT,
                "peer {leader} still claims to lead term {term} 2 s after it was cut off with \
                 one follower of 5 (CheckQuorum: once per election timeout a leader counts the \
                 peers that answered it, itself once, and steps down without a majority)"
            );
            sleep(Duration::from_millis(10)).await;
        }
        assert!(
            cfg.rf(leader).start(999.into()).is_none(),
            "peer {leader} stepped down but still accepts commands"
        );
        let new = cfg.check_one_leader().await;
        assert!(
            rest.contains(&new),
            "the leader is peer {new}, not one of the majority {rest:?}"
        );
        cfg.connect(leader);
        cfg.connect(with);
        cfg.one(102, servers, true).await;
        cfg.end();
    });
}

/// MIT's 2A election-after-failure test with both guards on.
#[test]
fn re_election_2e() {
    run(|| {
        re_election(
            BOTH,
            "Test (2E): election after network failure, PreVote and CheckQuorum on",
        )
    });
}

/// MIT's unreliable Figure 8 test with both guards on.
#[test]
fn figure8_unreliable_2e() {
    run(|| {
        figure8_unreliable(
            BOTH,
            "Test (2E): Figure 8 (unreliable), PreVote and CheckQuorum on",
        )
    });
}

/// MIT's unreliable churn with both guards on.
#[test]
fn unreliable_churn_2e() {
    run(|| async {
        let title = "Test (2E): unreliable churn, PreVote and CheckQuorum on";
        churn_with(true, CHURN_ROUNDS, BOTH, title).await;
    });
}
