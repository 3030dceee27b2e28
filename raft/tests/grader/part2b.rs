//! 2B: log replication.

use labrpc::sim;

use crate::run;
use crate::tester::{rand_int, sleep, Cmd, RaftTester, ELECTION_TIMEOUT};

/// Three commands commit, at indices 1, 2, 3, and nothing is committed before it is started.
#[test]
fn basic_agree_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): basic agreement");
        for index in 1..=3u64 {
            let (nd, _) = cfg.n_committed(index);
            assert!(nd == 0, "some have committed before Start()");
            let xindex = cfg.one(index * 100, servers, false).await;
            assert_eq!(xindex, index, "got index {xindex} but expected {index}");
        }
        cfg.end();
    });
}

/// A random string of `n` characters from the tester's stream (MIT's `randstring`).
fn rand_string(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..n)
        .map(|_| ALPHABET[sim::random_range(0..64) as usize] as char)
        .collect()
}

/// Each command goes to each follower about once: 10 commands of 5000 bytes may cost at most
/// 3 x 50,000 + 50,000 bytes of RPC traffic.
#[test]
fn rpc_bytes_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): RPC byte count");
        cfg.one(99, servers, false).await;
        let bytes0 = cfg.total_bytes();
        let mut sent = 0u64;
        for index in 2..12u64 {
            let cmd = rand_string(5000);
            sent += cmd.len() as u64;
            let xindex = cfg.one(cmd, servers, false).await;
            assert_eq!(xindex, index, "got index {xindex} but expected {index}");
        }
        let got = cfg.total_bytes() - bytes0;
        let expected = servers as u64 * sent;
        assert!(
            got <= expected + 50_000,
            "too many RPC bytes; got {got}, expected {expected}"
        );
        cfg.end();
    });
}

/// A leader and one follower agree without the other follower; with both followers gone, a
/// new command (index 4) must not commit.
#[test]
fn follower_failure_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): test progressive failure of followers");
        cfg.one(101, servers, false).await;
        let leader1 = cfg.check_one_leader().await;
        cfg.disconnect((leader1 + 1) % servers);
        cfg.one(102, servers - 1, false).await;
        sleep(ELECTION_TIMEOUT).await;
        cfg.one(103, servers - 1, false).await;
        let leader2 = cfg.check_one_leader().await;
        cfg.disconnect((leader2 + 1) % servers);
        cfg.disconnect((leader2 + 2) % servers);
        let (index, _) = cfg
            .rf(leader2)
            .start(104.into())
            .expect("leader rejected Start()");
        assert_eq!(index, 4, "expected index 4, got {index}");
        sleep(2 * ELECTION_TIMEOUT).await;
        let (n, _) = cfg.n_committed(index);
        assert!(n == 0, "{n} committed but no majority");
        cfg.end();
    });
}

/// The followers elect a new leader when the leader goes; when that one goes too, a command
/// started on every peer must not commit.
#[test]
fn leader_failure_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): test failure of leaders");
        cfg.one(101, servers, false).await;
        let leader1 = cfg.check_one_leader().await;
        cfg.disconnect(leader1);
        cfg.one(102, servers - 1, false).await;
        sleep(ELECTION_TIMEOUT).await;
        cfg.one(103, servers - 1, false).await;
        let leader2 = cfg.check_one_leader().await;
        cfg.disconnect(leader2);
        for i in 0..servers {
            cfg.rf(i).start(104.into());
        }
        sleep(2 * ELECTION_TIMEOUT).await;
        let (n, _) = cfg.n_committed(4);
        assert!(n == 0, "{n} committed but no majority");
        cfg.end();
    });
}

/// A disconnected follower catches up after reconnecting, and the three agree again.
#[test]
fn fail_agree_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): agreement after follower reconnects");
        cfg.one(101, servers, false).await;
        let leader = cfg.check_one_leader().await;
        cfg.disconnect((leader + 1) % servers);
        cfg.one(102, servers - 1, false).await;
        cfg.one(103, servers - 1, false).await;
        sleep(ELECTION_TIMEOUT).await;
        cfg.one(104, servers - 1, false).await;
        cfg.one(105, servers - 1, false).await;
        cfg.connect((leader + 1) % servers);
        cfg.one(106, servers, true).await;
        sleep(ELECTION_TIMEOUT).await;
        cfg.one(107, servers, true).await;
        cfg.end();
    });
}

/// With 3 of 5 followers gone nothing commits; after they return, the new leader's log ends at
/// index 2 or 3, and agreement resumes.
#[test]
fn fail_no_agree_2b() {
    run(|| async {
        let servers = 5;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): no agreement if too many followers disconnect");
        cfg.one(10, servers, false).await;
        let leader = cfg.check_one_leader().await;
        for k in 1..=3 {
            cfg.disconnect((leader + k) % servers);
        }
        let (index, _) = cfg
            .rf(leader)
            .start(20.into())
            .expect("leader rejected Start()");
        assert_eq!(index, 2, "expected index 2, got {index}");
        sleep(2 * ELECTION_TIMEOUT).await;
        let (n, _) = cfg.n_committed(index);
        assert!(n == 0, "{n} committed but no majority");
        for k in 1..=3 {
            cfg.connect((leader + k) % servers);
        }
        // The disconnected majority may have chosen a leader among themselves, forgetting index 2.
        let leader2 = cfg.check_one_leader().await;
        let (index2, _) = cfg
            .rf(leader2)
            .start(30.into())
            .expect("leader2 rejected Start()");
        assert!((2..=3).contains(&index2), "unexpected index {index2}");
        cfg.one(1000, servers, true).await;
        cfg.end();
    });
}

/// Five Start()s right after one another, in one term, all commit.
#[test]
fn concurrent_starts_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): concurrent Start()s");
        let mut success = false;
        'tries: for attempt in 0..5 {
            if attempt > 0 {
                sleep(std::time::Duration::from_secs(3)).await;
            }
            let leader = cfg.check_one_leader().await;
            let Some((_, term)) = cfg.rf(leader).start(1.into()) else {
                continue;
            };
            let mut indices = Vec::new();
            for i in 0..5u64 {
                if let Some((index, term1)) = cfg.rf(leader).start((100 + i).into()) {
                    if term1 == term {
                        indices.push(index);
                    }
                }
            }
            for j in 0..servers {
                if cfg.rf(j).get_state().0 != term {
                    continue 'tries; // the term changed: cannot expect all Start()s to succeed
                }
            }
            let mut cmds = Vec::new();
            for index in indices {
                match cfg.wait(index, servers, Some(term)).await {
                    None => continue 'tries,
                    Some(Cmd::Int(x)) => cmds.push(x),
                    Some(other) => panic!("value {other:?} is not an int"),
                }
            }
            for i in 0..5u64 {
                assert!(
                    cmds.contains(&(100 + i)),
                    "cmd {} missing in {cmds:?}",
                    100 + i
                );
            }
            success = true;
            break;
        }
        assert!(success, "term changed too often");
        cfg.end();
    });
}

/// A partitioned leader with uncommitted entries rejoins; its entries are replaced.
#[test]
fn rejoin_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): rejoin of partitioned leader");
        cfg.one(101, servers, true).await;
        let leader1 = cfg.check_one_leader().await;
        cfg.disconnect(leader1);
        for c in [102u64, 103, 104] {
            cfg.rf(leader1).start(c.into());
        }
        cfg.one(103, 2, true).await;
        let leader2 = cfg.check_one_leader().await;
        cfg.disconnect(leader2);
        cfg.connect(leader1);
        cfg.one(104, 2, true).await;
        cfg.connect(leader2);
        cfg.one(105, servers, true).await;
        cfg.end();
    });
}

/// Leaders back up quickly over long runs of conflicting entries (50 at a time).
#[test]
fn backup_2b() {
    run(|| async {
        let servers = 5;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): leader backs up quickly over incorrect follower logs");
        cfg.one(rand_int(), servers, true).await;
        // Put the leader and one follower in a partition, and give them entries that can't commit.
        let leader1 = cfg.check_one_leader().await;
        for k in 2..=4 {
            cfg.disconnect((leader1 + k) % servers);
        }
        for _ in 0..50 {
            cfg.rf(leader1).start(rand_int().into());
        }
        sleep(ELECTION_TIMEOUT / 2).await;
        cfg.disconnect(leader1 % servers);
        cfg.disconnect((leader1 + 1) % servers);
        // The other partition recovers and commits a lot.
        for k in 2..=4 {
            cfg.connect((leader1 + k) % servers);
        }
        for _ in 0..50 {
            cfg.one(rand_int(), 3, true).await;
        }
        // Another partitioned leader with one follower and uncommitted entries.
        let leader2 = cfg.check_one_leader().await;
        let mut other = (leader1 + 2) % servers;
        if leader2 == other {
            other = (leader2 + 1) % servers;
        }
        cfg.disconnect(other);
        for _ in 0..50 {
            cfg.rf(leader2).start(rand_int().into());
        }
        sleep(ELECTION_TIMEOUT / 2).await;
        // Bring the original leader's group back.
        for i in 0..servers {
            cfg.disconnect(i);
        }
        cfg.connect(leader1 % servers);
        cfg.connect((leader1 + 1) % servers);
        cfg.connect(other);
        for _ in 0..50 {
            cfg.one(rand_int(), 3, true).await;
        }
        for i in 0..servers {
            cfg.connect(i);
        }
        cfg.one(rand_int(), servers, true).await;
        cfg.end();
    });
}

/// Elections take 1-30 RPCs, 12 commands at most (10+1+3)x3 RPCs, and a second of idleness at
/// most 3x20 RPCs (this is what enforces "at most 10 heartbeats per second").
#[test]
fn count_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): RPC counts aren't too high");
        let rpcs = || (0..servers).map(|j| cfg.rpc_count(j)).sum::<u64>();
        cfg.check_one_leader().await;
        let total1 = rpcs();
        assert!(
            (1..=30).contains(&total1),
            "too many or few RPCs ({total1}) to elect initial leader"
        );
        let mut total2 = 0;
        let mut success = false;
        'tries: for attempt in 0..5 {
            if attempt > 0 {
                sleep(std::time::Duration::from_secs(3)).await;
            }
            let leader = cfg.check_one_leader().await;
            let total1 = rpcs();
            let iters = 10u64;
            let Some((starti, term)) = cfg.rf(leader).start(1.into()) else {
                continue;
            };
            let mut cmds = Vec::new();
            for i in 1..iters + 2 {
                let x = sim::random_u64() >> 33;
                cmds.push(x);
                match cfg.rf(leader).start(x.into()) {
                    Some((index1, term1)) if term1 == term => {
                        assert_eq!(starti + i, index1, "Start() failed")
                    }
                    _ => continue 'tries,
                }
            }
            for i in 1..iters + 1 {
                match cfg.wait(starti + i, servers, Some(term)).await {
                    None => continue 'tries,
                    Some(cmd) => assert_eq!(
                        cmd,
                        Cmd::Int(cmds[i as usize - 1]),
                        "wrong value committed for index {}; expected {cmds:?}",
                        starti + i
                    ),
                }
            }
            if (0..servers).any(|j| cfg.rf(j).get_state().0 != term) {
                continue 'tries;
            }
            total2 = rpcs();
            let used = total2 - total1;
            assert!(
                used <= (iters + 1 + 3) * 3,
                "too many RPCs ({used}) for {iters} entries"
            );
            success = true;
            break;
        }
        assert!(success, "term changed too often");
        sleep(ELECTION_TIMEOUT).await;
        let total3 = rpcs();
        let idle = total3 - total2;
        assert!(
            idle <= 3 * 20,
            "too many RPCs ({idle}) for 1 second of idleness"
        );
        cfg.end();
    });
}
