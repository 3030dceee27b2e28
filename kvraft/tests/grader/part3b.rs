//! 3B: the key/value service with snapshots (maxraftstate 1000).

use kvraft::Reads;

use crate::generic::{generic_test, generic_test_speed, Params};
use crate::run;
use crate::tester::{KvRaftTester, ELECTION_TIMEOUT};

const MAX_RAFT_STATE: usize = 1000;

const fn params(clients: usize, servers: usize) -> Params {
    Params {
        part: "3B",
        clients,
        servers,
        unreliable: false,
        crash: false,
        partitions: false,
        max_raft_state: Some(MAX_RAFT_STATE),
        random_keys: false,
        gets_per_append: 1,
        reads: Reads::Log,
    }
}

/// A server that missed 50 Puts behind a partition catches up through InstallSnapshot, while
/// the majority keeps its log under 8 x maxraftstate.
#[test]
fn snapshot_rpc_3b() {
    run(|| async {
        let cfg = KvRaftTester::new(3, false, Some(MAX_RAFT_STATE));
        let mut ck = cfg.make_client(&cfg.all());
        cfg.begin("Test: InstallSnapshot RPC (3B)");
        cfg.put(&mut ck, "a", "A", None).await;
        cfg.check(&mut ck, "a", "A").await;
        // A bunch of puts into the majority partition.
        cfg.partition(&[0, 1], &[2]);
        {
            let mut ck1 = cfg.make_client(&[0, 1]);
            for i in 0..50 {
                cfg.put(&mut ck1, &i.to_string(), &i.to_string(), None)
                    .await;
            }
            tokio::time::sleep(ELECTION_TIMEOUT).await;
            cfg.put(&mut ck1, "b", "B", None).await;
        }
        // The majority has thrown away most of its log.
        let size = cfg.log_size();
        assert!(
            size <= 8 * MAX_RAFT_STATE,
            "logs were not trimmed ({size} > 8*{MAX_RAFT_STATE})"
        );
        // A group that needs the lagging server, which must catch up.
        cfg.partition(&[0, 2], &[1]);
        {
            let mut ck1 = cfg.make_client(&[0, 2]);
            cfg.put(&mut ck1, "c", "C", None).await;
            cfg.put(&mut ck1, "d", "D", None).await;
            cfg.check(&mut ck1, "a", "A").await;
            cfg.check(&mut ck1, "b", "B").await;
            cfg.check(&mut ck1, "1", "1").await;
            cfg.check(&mut ck1, "49", "49").await;
        }
        // Everybody.
        cfg.partition(&[0, 1, 2], &[]);
        cfg.put(&mut ck, "e", "E", None).await;
        cfg.check(&mut ck, "c", "C").await;
        cfg.check(&mut ck, "e", "E").await;
        cfg.check(&mut ck, "1", "1").await;
        cfg.end();
    });
}

/// 800 operations on one key: the log stays under 8 x maxraftstate and the snapshot under 500
/// bytes (the state is tiny, so a big snapshot holds something it should not).
#[test]
fn snapshot_size_3b() {
    run(|| async {
        const MAX_SNAPSHOT_STATE: usize = 500;
        let cfg = KvRaftTester::new(3, false, Some(MAX_RAFT_STATE));
        let mut ck = cfg.make_client(&cfg.all());
        cfg.begin("Test: snapshot size is reasonable (3B)");
        for _ in 0..200 {
            cfg.put(&mut ck, "x", "0", None).await;
            cfg.check(&mut ck, "x", "0").await;
            cfg.put(&mut ck, "x", "1", None).await;
            cfg.check(&mut ck, "x", "1").await;
        }
        let size = cfg.log_size();
        assert!(
            size <= 8 * MAX_RAFT_STATE,
            "logs were not trimmed ({size} > 8*{MAX_RAFT_STATE})"
        );
        let snap = cfg.snapshot_size();
        assert!(
            snap <= MAX_SNAPSHOT_STATE,
            "snapshot too large ({snap} > {MAX_SNAPSHOT_STATE})"
        );
        cfg.end();
    });
}

/// 1000 sequential appends average under 33.3 ms each, with snapshots.
#[test]
fn speed_3b() {
    run(|| generic_test_speed("3B", Some(MAX_RAFT_STATE)));
}

/// One client; all servers restart after every round.
#[test]
fn snapshot_recover_3b() {
    run(|| {
        generic_test(Params {
            crash: true,
            ..params(1, 5)
        })
    });
}

/// Twenty clients; all servers restart after every round.
#[test]
fn snapshot_recover_many_clients_3b() {
    run(|| {
        generic_test(Params {
            crash: true,
            ..params(20, 5)
        })
    });
}

/// Five clients on an unreliable network.
#[test]
fn snapshot_unreliable_3b() {
    run(|| {
        generic_test(Params {
            unreliable: true,
            ..params(5, 5)
        })
    });
}

/// Five clients, unreliable network, restarts.
#[test]
fn snapshot_unreliable_recover_3b() {
    run(|| {
        generic_test(Params {
            unreliable: true,
            crash: true,
            ..params(5, 5)
        })
    });
}

/// Five clients, unreliable network, restarts and partitions.
#[test]
fn snapshot_unreliable_recover_concurrent_partition_3b() {
    run(|| {
        generic_test(Params {
            unreliable: true,
            crash: true,
            partitions: true,
            ..params(5, 5)
        })
    });
}

/// 15 clients on random keys, 7 servers, every fault.
#[test]
fn snapshot_unreliable_recover_concurrent_partition_linearizable_3b() {
    run(|| {
        generic_test(Params {
            unreliable: true,
            crash: true,
            partitions: true,
            random_keys: true,
            ..params(15, 7)
        })
    });
}
