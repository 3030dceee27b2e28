//! 4B challenges: garbage collection of shards that moved away (challenge 1), and serving the
//! shards a reconfiguration leaves in place, or has already delivered, while the rest of it is
//! stuck on a dead group (challenge 2).

use std::time::Duration;

use shardkv::key2shard;
use shardmaster::NSHARDS;

use crate::run;
use crate::tester::{begin, check, keys_and_values, passed, put_all, ShardKvTester};

/// With maxraftstate 1 (a snapshot after every entry), 30 keys of 1000 random bytes go twice
/// around all three groups (Join 1, Leave 0, Join 2, 3 s, Leave 1, Join 0, Leave 2, 3 s,
/// checking three keys after each half), then are spread over all three groups (Join 1, Join
/// 2) and checked for 3 s. The persisted Raft state plus snapshot of all 9 servers must then be
/// at most 3 x ((30 - 3) x 1000 + 2 x 3 x 1000 + 6000) = 117,000 bytes: each value stored
/// once per replica, three of them also in duplicate tables, plus slop. A group that kept the
/// shards it handed over would hold several copies of the 30,000 bytes. Finally every key
/// still has its value.
#[test]
fn challenge1_delete_4b() {
    run(|| async {
        begin("Test: shard deletion (challenge 1) ...");
        let cfg = ShardKvTester::new(false, Some(1));
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        // 30,000 bytes of values in all.
        let n = 30;
        let (ka, va) = keys_and_values(n, 1000);
        put_all(&mut ck, &ka, &va).await;
        for i in 0..3 {
            check(&mut ck, &ka[i], &va[i]).await;
        }

        for _ in 0..2 {
            cfg.join(1).await;
            cfg.leave(0).await;
            cfg.join(2).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            for i in 0..3 {
                check(&mut ck, &ka[i], &va[i]).await;
            }
            cfg.leave(1).await;
            cfg.join(0).await;
            cfg.leave(2).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            for i in 0..3 {
                check(&mut ck, &ka[i], &va[i]).await;
            }
        }

        cfg.join(1).await;
        cfg.join(2).await;
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for i in 0..3 {
                check(&mut ck, &ka[i], &va[i]).await;
            }
        }

        let total = cfg.total_persisted();
        // 27 keys stored once, 3 keys also in client duplicate tables, everything on 3
        // replicas, plus slop.
        let expected = 3 * ((n - 3) * 1000 + 2 * 3 * 1000 + 6000);
        assert_eq!(expected, 117_000);
        assert!(
            total <= expected,
            "snapshot + persisted Raft state are too big: {total} > {expected}"
        );

        for i in 0..n {
            check(&mut ck, &ka[i], &va[i]).await;
        }
        passed();
    });
}

/// On an unreliable network (maxraftstate 100): group 100 serves all 10 keys; group 101 joins
/// and takes five shards; 1 s later every key in 101's shards gets the value "101". Then group
/// 100 is killed and leaves, so 101 is given 100's shards but can never fetch them. After 1 s,
/// Gets and Puts of the keys in the shards 101 already had must still work.
///
/// Differs from MIT, whose loop that writes "101" tests `owned[i]` for key i instead of the
/// key's shard (key i is in shard (i + 8) % 10): it writes "101" to some of 100's keys and
/// leaves some of 101's at "100". The check stays consistent either way, but only half of it
/// tests what it means to; here every key of 101's shards is written through 101.
#[test]
fn challenge2_unaffected_4b() {
    run(|| async {
        begin("Test: unaffected shard access (challenge 2) ...");
        let cfg = ShardKvTester::new(true, Some(100));
        let mut ck = cfg.make_client();

        // Join 100.
        cfg.join(0).await;

        // Puts to keys in every shard.
        let n = 10;
        let ka: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let mut va: Vec<String> = vec!["100".to_string(); n];
        put_all(&mut ck, &ka, &va).await;

        // Join 101, and find the shards it now owns.
        cfg.join(1).await;
        let config = cfg.query().await;
        let gid101 = cfg.gid(1);
        let owned: [bool; NSHARDS] = std::array::from_fn(|s| config.shards[s] == gid101);

        // Wait for the migration to finish and for clerks to use the new configuration: the
        // keys in owned shards are now served by 101.
        tokio::time::sleep(Duration::from_secs(1)).await;
        for i in 0..n {
            if owned[key2shard(&ka[i])] {
                va[i] = "101".to_string();
                ck.put(&ka[i], &va[i]).await;
            }
        }

        // Kill 100, then make it leave: 101 never gets to fetch 100's old shards.
        cfg.shutdown_group(0);
        cfg.leave(0).await;

        // Let clerks see the new configuration.
        tokio::time::sleep(Duration::from_secs(1)).await;

        // The keys 101 already served still work.
        for i in 0..n {
            if owned[key2shard(&ka[i])] {
                check(&mut ck, &ka[i], &va[i]).await;
                let v1 = format!("{}-1", va[i]);
                ck.put(&ka[i], &v1).await;
                check(&mut ck, &ka[i], &v1).await;
            }
        }
        passed();
    });
}

/// On an unreliable network (maxraftstate 100): all three groups join at once; 1 s later every
/// key gets the value "100"; note 102's shards. Then group 100 is killed, and 100 and 102 leave
/// at once: 101 is given every shard, and can fetch 102's but never 100's. After 1 s, Gets and
/// Puts of the keys in 102's former shards must work, served by 101 as soon as each shard has
/// arrived, although the configuration change as a whole never completes.
#[test]
fn challenge2_partial_4b() {
    run(|| async {
        begin("Test: partial migration shard access (challenge 2) ...");
        let cfg = ShardKvTester::new(true, Some(100));
        let mut ck = cfg.make_client();

        // Join 100, 101 and 102 in one Join, and give them time to reconfigure.
        cfg.join_many(&[0, 1, 2]).await;
        tokio::time::sleep(Duration::from_secs(1)).await;

        // Puts to keys in every shard.
        let n = 10;
        let ka: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let va: Vec<String> = vec!["100".to_string(); n];
        put_all(&mut ck, &ka, &va).await;

        // The shards 102 owns.
        let config = cfg.query().await;
        let gid102 = cfg.gid(2);
        let owned: [bool; NSHARDS] = std::array::from_fn(|s| config.shards[s] == gid102);

        // Kill 100; 100 and 102 leave in one Leave. 101 can get 102's old shards but not
        // 100's, and should serve 102's as soon as they arrive.
        cfg.shutdown_group(0);
        cfg.leave_many(&[0, 2]).await;

        // Time to start the reconfiguration and move 102's shards to 101.
        tokio::time::sleep(Duration::from_secs(1)).await;

        // The keys of 102's former shards work.
        for i in 0..n {
            if owned[key2shard(&ka[i])] {
                check(&mut ck, &ka[i], &va[i]).await;
                let v2 = format!("{}-2", va[i]);
                ck.put(&ka[i], &v2).await;
                check(&mut ck, &ka[i], &v2).await;
            }
        }
        passed();
    });
}
