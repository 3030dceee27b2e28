//! 2D: snapshots.

use crate::run;
use crate::tester::{rand_int, RaftTester, MAX_LOG_SIZE, SNAPSHOT_INTERVAL};

/// MIT's `snapcommon`: 30 rounds in which a victim (a follower, or every third round the leader)
/// is optionally disconnected or crashed while 5-14 commands go by, so that it must catch up
/// from a snapshot; the persisted state must stay under 2000 bytes.
async fn snapcommon(title: &str, disconnect: bool, reliable: bool, crash: bool) {
    let servers = 3;
    let cfg = RaftTester::new(servers, !reliable, true);
    cfg.begin(title);
    cfg.one(rand_int(), servers, true).await;
    let mut leader1 = cfg.check_one_leader().await;
    for i in 0..30 {
        let (mut victim, mut sender) = ((leader1 + 1) % servers, leader1);
        if i % 3 == 1 {
            sender = (leader1 + 1) % servers;
            victim = leader1;
        }
        if disconnect {
            cfg.disconnect(victim);
            cfg.one(rand_int(), servers - 1, true).await;
        }
        if crash {
            cfg.crash1(victim);
            cfg.one(rand_int(), servers - 1, true).await;
        }
        // Perhaps enough to get a snapshot.
        let nn = SNAPSHOT_INTERVAL / 2 + labrpc::sim::random_range(0..SNAPSHOT_INTERVAL);
        for _ in 0..nn {
            cfg.rf(sender).start(rand_int().into());
        }
        if !disconnect && !crash {
            // Make sure all followers caught up, so that snapshots_basic needs no InstallSnapshot.
            cfg.one(rand_int(), servers, true).await;
        } else {
            cfg.one(rand_int(), servers - 1, true).await;
        }
        let size = cfg.log_size();
        assert!(
            size < MAX_LOG_SIZE,
            "Log size too large: {size} bytes (limit {MAX_LOG_SIZE})"
        );
        if disconnect {
            // The reconnected follower may be behind and need a snapshot to catch up.
            cfg.connect(victim);
            cfg.one(rand_int(), servers, true).await;
            leader1 = cfg.check_one_leader().await;
        }
        if crash {
            cfg.start1(victim);
            cfg.connect(victim);
            cfg.one(rand_int(), servers, true).await;
            leader1 = cfg.check_one_leader().await;
        }
    }
    cfg.end();
}

/// Snapshots are taken and the log trimmed, with all peers connected.
#[test]
fn snapshot_basic_2d() {
    run(|| snapcommon("Test (2D): snapshots basic", false, true, false));
}

/// A disconnected peer catches up by InstallSnapshot.
#[test]
fn snapshot_install_2d() {
    run(|| {
        snapcommon(
            "Test (2D): install snapshots (disconnect)",
            true,
            true,
            false,
        )
    });
}

/// The same on an unreliable network.
#[test]
fn snapshot_install_unreliable_2d() {
    run(|| {
        snapcommon(
            "Test (2D): install snapshots (disconnect+unreliable)",
            true,
            false,
            false,
        )
    });
}

/// A crashed peer restarts from its snapshot and catches up.
#[test]
fn snapshot_install_crash_2d() {
    run(|| snapcommon("Test (2D): install snapshots (crash)", false, true, true));
}

/// The same on an unreliable network.
#[test]
fn snapshot_install_uncrash_2d() {
    run(|| {
        snapcommon(
            "Test (2D): install snapshots (unreliable+crash)",
            false,
            false,
            true,
        )
    });
}

/// Crashing and restarting every peer never loses or rewinds the log.
#[test]
fn snapshot_all_crash_2d() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, true);
        cfg.begin("Test (2D): crash and restart all servers");
        cfg.one(rand_int(), servers, true).await;
        for _ in 0..5 {
            let nn = SNAPSHOT_INTERVAL / 2 + labrpc::sim::random_range(0..SNAPSHOT_INTERVAL);
            for _ in 0..nn {
                cfg.one(rand_int(), servers, true).await;
            }
            let index1 = cfg.one(rand_int(), servers, true).await;
            for i in 0..servers {
                cfg.crash1(i);
            }
            for i in 0..servers {
                cfg.start1(i);
                cfg.connect(i);
            }
            let index2 = cfg.one(rand_int(), servers, true).await;
            assert!(index2 > index1, "index decreased from {index1} to {index2}");
        }
        cfg.end();
    });
}

/// A restarted peer keeps the snapshot it restored: two rounds of crashing everything after a
/// snapshot catch a Raft that persists an empty snapshot after a restart.
#[test]
fn snapshot_init_2d() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, true);
        cfg.begin("Test (2D): snapshot initialization after crash");
        cfg.one(rand_int(), servers, true).await;
        for _ in 0..SNAPSHOT_INTERVAL + 1 {
            cfg.one(rand_int(), servers, true).await;
        }
        for _ in 0..2 {
            for i in 0..servers {
                cfg.crash1(i);
            }
            for i in 0..servers {
                cfg.start1(i);
                cfg.connect(i);
            }
            // A single op, to get something written back to persistent storage.
            cfg.one(rand_int(), servers, true).await;
        }
        cfg.end();
    });
}
