//! 2C: persistence.

use std::time::Duration;

use labrpc::sim;
use raft::Options;

use crate::churn::{churn, CHURN_ROUNDS};
use crate::run;
use crate::tester::{rand_int, sleep, RaftTester, ELECTION_TIMEOUT};

/// Commits survive restarts of all peers, of the leader, and of a follower.
#[test]
fn persist1_2c() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2C): basic persistence");
        cfg.one(11, servers, true).await;
        for i in 0..servers {
            cfg.start1(i);
        }
        for i in 0..servers {
            cfg.disconnect(i);
            cfg.connect(i);
        }
        cfg.one(12, servers, true).await;
        let leader1 = cfg.check_one_leader().await;
        cfg.disconnect(leader1);
        cfg.start1(leader1);
        cfg.connect(leader1);
        cfg.one(13, servers, true).await;
        let leader2 = cfg.check_one_leader().await;
        cfg.disconnect(leader2);
        cfg.one(14, servers - 1, true).await;
        cfg.start1(leader2);
        cfg.connect(leader2);
        cfg.wait(4, servers, None).await; // wait for leader2 to join before killing i3
        let i3 = (cfg.check_one_leader().await + 1) % servers;
        cfg.disconnect(i3);
        cfg.one(15, servers - 1, true).await;
        cfg.start1(i3);
        cfg.connect(i3);
        cfg.one(16, servers, true).await;
        cfg.end();
    });
}

/// Five rounds of partitions and restarts of 5 peers, with commits in between.
#[test]
fn persist2_2c() {
    run(|| async {
        let servers = 5;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2C): more persistence");
        let mut index = 1;
        for _ in 0..5 {
            cfg.one(10 + index, servers, true).await;
            index += 1;
            let leader1 = cfg.check_one_leader().await;
            cfg.disconnect((leader1 + 1) % servers);
            cfg.disconnect((leader1 + 2) % servers);
            cfg.one(10 + index, servers - 2, true).await;
            index += 1;
            cfg.disconnect(leader1 % servers);
            cfg.disconnect((leader1 + 3) % servers);
            cfg.disconnect((leader1 + 4) % servers);
            cfg.start1((leader1 + 1) % servers);
            cfg.start1((leader1 + 2) % servers);
            cfg.connect((leader1 + 1) % servers);
            cfg.connect((leader1 + 2) % servers);
            sleep(ELECTION_TIMEOUT).await;
            cfg.start1((leader1 + 3) % servers);
            cfg.connect((leader1 + 3) % servers);
            cfg.one(10 + index, servers - 2, true).await;
            index += 1;
            cfg.connect((leader1 + 4) % servers);
            cfg.connect(leader1 % servers);
        }
        cfg.one(1000, servers, true).await;
        cfg.end();
    });
}

/// A partitioned leader and a follower crash; the leader restarts and must not lose what the
/// majority committed.
#[test]
fn persist3_2c() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2C): partitioned leader and one follower crash, leader restarts");
        cfg.one(101, 3, true).await;
        let leader = cfg.check_one_leader().await;
        cfg.disconnect((leader + 2) % servers);
        cfg.one(102, 2, true).await;
        cfg.crash1(leader % servers);
        cfg.crash1((leader + 1) % servers);
        cfg.connect((leader + 2) % servers);
        cfg.start1(leader % servers);
        cfg.connect(leader % servers);
        cfg.one(103, 2, true).await;
        cfg.start1((leader + 1) % servers);
        cfg.connect((leader + 1) % servers);
        cfg.one(104, servers, true).await;
        cfg.end();
    });
}

/// MIT's sleep between Figure 8 iterations: 10% of the time up to half an election timeout,
/// otherwise 0-12 ms.
async fn figure8_pause() {
    let half = ELECTION_TIMEOUT.as_millis() as u64 / 2;
    let ms = if sim::random_range(0..1000) < 100 {
        sim::random_range(0..half)
    } else {
        sim::random_range(0..13)
    };
    sleep(Duration::from_millis(ms)).await;
}

/// 1000 rounds of crashing whichever peer just became leader (Figure 8 of the paper): a peer
/// that commits an earlier term's entry by counting replicas loses committed entries here.
#[test]
fn figure8_2c() {
    run(|| async {
        let servers = 5;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2C): Figure 8");
        cfg.one(rand_int(), 1, true).await;
        let mut nup = servers;
        for _ in 0..1000 {
            let mut leader = None;
            for i in 0..servers {
                if let Some(rf) = cfg.raft(i) {
                    if rf.start(rand_int().into()).is_some() {
                        leader = Some(i);
                    }
                }
            }
            figure8_pause().await;
            if let Some(leader) = leader {
                cfg.crash1(leader);
                nup -= 1;
            }
            if nup < 3 {
                let s = sim::random_range(0..servers as u64) as usize;
                if cfg.raft(s).is_none() {
                    cfg.start1(s);
                    cfg.connect(s);
                    nup += 1;
                }
            }
        }
        for i in 0..servers {
            if cfg.raft(i).is_none() {
                cfg.start1(i);
                cfg.connect(i);
            }
        }
        cfg.one(rand_int(), servers, true).await;
        cfg.end();
    });
}

/// 245 commands submitted concurrently over an unreliable network all commit.
#[test]
fn unreliable_agree_2c() {
    run(|| async {
        let servers = 5;
        let cfg = RaftTester::new(servers, true, false);
        cfg.begin("Test (2C): unreliable agreement");
        let mut clients = Vec::new();
        for iters in 1..50u64 {
            for j in 0..4u64 {
                let cfg = cfg.clone();
                clients.push(sim::spawn(async move {
                    cfg.one(100 * iters + j, 1, true).await;
                }));
            }
            cfg.one(iters, 1, true).await;
        }
        cfg.set_unreliable(false);
        for c in clients {
            c.await.expect("client task failed");
        }
        cfg.one(100, servers, true).await;
        cfg.end();
    });
}

/// Figure 8 on an unreliable network, with long reordering from iteration 200 on: the final
/// agreement must fit in `one()`'s 10 s, which needs fast log backup.
#[test]
fn figure8_unreliable_2c() {
    run(|| figure8_unreliable(Options::default(), "Test (2C): Figure 8 (unreliable)"));
}

/// The body of [`figure8_unreliable_2c`], with peers made with `options` (2E).
pub async fn figure8_unreliable(options: Options, title: &str) {
    let servers = 5;
    let cfg = RaftTester::with_options(servers, true, false, options);
    cfg.begin(title);
    cfg.one(rand_int() % 10000, 1, true).await;
    let mut nup = servers;
    for iters in 0..1000 {
        if iters == 200 {
            cfg.set_long_reordering(true);
        }
        let mut leader = None;
        for i in 0..servers {
            if cfg.rf(i).start((rand_int() % 10000).into()).is_some() && cfg.is_connected(i) {
                leader = Some(i);
            }
        }
        figure8_pause().await;
        let half = ELECTION_TIMEOUT.as_millis() as u64 / 2;
        if let Some(leader) = leader {
            if sim::random_range(0..1000) < half {
                cfg.disconnect(leader);
                nup -= 1;
            }
        }
        if nup < 3 {
            let s = sim::random_range(0..servers as u64) as usize;
            if !cfg.is_connected(s) {
                cfg.connect(s);
                nup += 1;
            }
        }
    }
    for i in 0..servers {
        if !cfg.is_connected(i) {
            cfg.connect(i);
        }
    }
    cfg.one(rand_int() % 10000, servers, true).await;
    cfg.end();
}

/// Three clients propose while peers are disconnected, crashed and restarted at random;
/// every value a client saw committed must be in the final log.
#[test]
fn reliable_churn_2c() {
    run(|| async {
        churn(false, CHURN_ROUNDS).await;
    });
}

/// The same churn on an unreliable network.
#[test]
fn unreliable_churn_2c() {
    run(|| async {
        churn(true, CHURN_ROUNDS).await;
    });
}
