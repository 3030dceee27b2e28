//! 2A: leader election.

use raft::Options;

use crate::run;
use crate::tester::{sleep, RaftTester, ELECTION_TIMEOUT};

/// One leader is elected among 3 reliable peers, in a term of at least 1, and stays leader
/// while nothing fails (a changed term is only a warning, as in MIT).
#[test]
fn initial_election_2a() {
    run(|| async {
        let cfg = RaftTester::new(3, false, false);
        cfg.begin("Test (2A): initial election");
        cfg.check_one_leader().await;
        // Let followers learn of the election before checking that they agree on the term.
        sleep(std::time::Duration::from_millis(50)).await;
        let term1 = cfg.check_terms();
        assert!(term1 >= 1, "term is {term1}, but should be at least 1");
        // Without failures, the leader and term should stay as they are.
        sleep(2 * ELECTION_TIMEOUT).await;
        let term2 = cfg.check_terms();
        if term1 != term2 {
            println!("warning: term changed even though there were no failures");
        }
        cfg.check_one_leader().await;
        cfg.end();
    });
}

/// A new leader takes over when the leader is cut off; the old one rejoining does not disturb
/// it; without a majority no leader is elected; with one again, a leader appears.
#[test]
fn re_election_2a() {
    run(|| {
        re_election(
            Options::default(),
            "Test (2A): election after network failure",
        )
    });
}

/// The body of [`re_election_2a`], with peers made with `options` (2E).
pub async fn re_election(options: Options, title: &str) {
    let servers = 3;
    let cfg = RaftTester::with_options(servers, false, false, options);
    cfg.begin(title);
    let leader1 = cfg.check_one_leader().await;
    cfg.disconnect(leader1);
    cfg.check_one_leader().await;
    cfg.connect(leader1);
    let leader2 = cfg.check_one_leader().await;
    cfg.disconnect(leader2);
    cfg.disconnect((leader2 + 1) % servers);
    sleep(2 * ELECTION_TIMEOUT).await;
    cfg.check_no_leader();
    cfg.connect((leader2 + 1) % servers);
    cfg.check_one_leader().await;
    cfg.connect(leader2);
    cfg.check_one_leader().await;
    cfg.end();
}

/// 7 peers, 9 rounds of disconnecting 3 random peers (repeats allowed): each time the rest
/// must have exactly one leader.
#[test]
fn many_elections_2a() {
    run(|| async {
        let servers = 7;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2A): multiple elections");
        cfg.check_one_leader().await;
        for _ in 1..10 {
            let pick = || labrpc::sim::random_range(0..servers as u64) as usize;
            let (i1, i2, i3) = (pick(), pick(), pick());
            cfg.disconnect(i1);
            cfg.disconnect(i2);
            cfg.disconnect(i3);
            cfg.check_one_leader().await;
            cfg.connect(i1);
            cfg.connect(i2);
            cfg.connect(i3);
        }
        cfg.check_one_leader().await;
        cfg.end();
    });
}
