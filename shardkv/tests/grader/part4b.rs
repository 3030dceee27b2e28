//! 4B, the basic tests: a static sharding, Joins and Leaves with a single clerk, snapshots,
//! and servers that miss configuration changes.

use std::time::Duration;

use labrpc::sim;
use tokio::sync::mpsc;

use crate::run;
use crate::tester::{
    begin, check_all, check_and_append_all, keys_and_values, passed, put_all, ShardKvTester,
};

/// Groups 0 and 1 serve five shards each; with group 1 shut down, exactly the five Gets of
/// group 0's keys complete (each within 2 s of the previous one), which shows the data really
/// is sharded; with group 1 restarted, every key is readable. `checklogs` with maxraftstate
/// None: no server may have written a snapshot.
///
/// Beyond MIT: the five Gets that were blocked on group 1 must complete, with the right
/// values, once it is back (MIT leaves them hanging; a clerk that gives up on a key whose
/// group was down for a while is a bug all the same).
#[test]
fn static_shards_4b() {
    run(|| async {
        begin("Test: static shards ...");
        let cfg = ShardKvTester::new(false, None);
        let mut ck = cfg.make_client();
        cfg.join(0).await;
        cfg.join(1).await;

        let n = 10;
        let (ka, va) = keys_and_values(n, 20);
        put_all(&mut ck, &ka, &va).await;
        check_all(&mut ck, &ka, &va).await;

        // Make sure that the data really is sharded: shut down one group, and some Gets must
        // not succeed.
        cfg.shutdown_group(1);
        cfg.checklogs(); // no snapshots allowed

        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut gets = Vec::new();
        for i in 0..n {
            // A clerk per Get: one outstanding call per clerk.
            let mut ck1 = cfg.make_client();
            let (key, want, tx) = (ka[i].clone(), va[i].clone(), tx.clone());
            gets.push(sim::spawn(async move {
                let got = ck1.get(&key).await;
                let _ = tx.send((key, want, got));
            }));
        }
        drop(tx);
        let check_reply = |(key, want, got): (String, String, String)| {
            assert_eq!(
                got, want,
                "Get({key:?}): expected:\n{want:?}\nreceived:\n{got:?}"
            );
        };

        // Only about half the Gets should succeed: wait until none finished for 2 s.
        let mut ndone = 0;
        while let Ok(reply) = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            check_reply(reply.expect("a Get task ended without reporting"));
            ndone += 1;
        }
        assert_eq!(
            ndone, 5,
            "expected 5 completions with one shard dead; got {ndone}"
        );

        // Bring the crashed group back to life.
        cfg.start_group(1);
        check_all(&mut ck, &ka, &va).await;

        // The blocked Gets complete too.
        for get in gets {
            get.await.expect("a Get task failed");
        }
        let mut late = 0;
        while let Ok(reply) = rx.try_recv() {
            check_reply(reply);
            late += 1;
        }
        assert_eq!(
            late,
            n - 5,
            "Gets blocked on the dead group did not complete"
        );
        passed();
    });
}

/// Group 0 serves everything; group 1 joins and takes half; group 0 leaves. Every key keeps its
/// value and takes an Append through each change; after 1 s for the shards to move, no
/// snapshots (maxraftstate None), and with group 0 shut down every key is still readable from
/// group 1.
#[test]
fn join_leave_4b() {
    run(|| async {
        begin("Test: join then leave ...");
        let cfg = ShardKvTester::new(false, None);
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        let n = 10;
        let (ka, mut va) = keys_and_values(n, 5);
        put_all(&mut ck, &ka, &va).await;
        check_all(&mut ck, &ka, &va).await;

        cfg.join(1).await;
        check_and_append_all(&mut ck, &ka, &mut va, 5).await;

        cfg.leave(0).await;
        check_and_append_all(&mut ck, &ka, &mut va, 5).await;

        // Allow time for shards to transfer.
        tokio::time::sleep(Duration::from_secs(1)).await;

        cfg.checklogs();
        cfg.shutdown_group(0);

        check_all(&mut ck, &ka, &va).await;
        passed();
    });
}

/// With maxraftstate 1000: 30 keys move through Join 1, Join 2, Leave 0 and then Leave 1,
/// Join 0, taking Appends of 20 characters; every log stays under 8 x maxraftstate; after all
/// three groups restart at once (from their snapshots), every key has its value.
#[test]
fn snapshot_4b() {
    run(|| async {
        begin("Test: snapshots, join, and leave ...");
        let cfg = ShardKvTester::new(false, Some(1000));
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        let n = 30;
        let (ka, mut va) = keys_and_values(n, 20);
        put_all(&mut ck, &ka, &va).await;
        check_all(&mut ck, &ka, &va).await;

        cfg.join(1).await;
        cfg.join(2).await;
        cfg.leave(0).await;
        check_and_append_all(&mut ck, &ka, &mut va, 20).await;

        cfg.leave(1).await;
        cfg.join(0).await;
        check_and_append_all(&mut ck, &ka, &mut va, 20).await;

        tokio::time::sleep(Duration::from_secs(1)).await;
        check_all(&mut ck, &ka, &va).await;

        tokio::time::sleep(Duration::from_secs(1)).await;
        cfg.checklogs();

        for gi in 0..3 {
            cfg.shutdown_group(gi);
        }
        for gi in 0..3 {
            cfg.start_group(gi);
        }
        check_all(&mut ck, &ka, &va).await;
        passed();
    });
}

/// Server 0 of every group is down while the configuration goes through Join 2, Leave 1,
/// Leave 0 and Join 1; it restarts and must catch up (by log or snapshot, maxraftstate 1000)
/// with the changes it missed. Then server 1 of every group misses Join 0 and Leave 2. Every
/// key keeps its value and takes an Append at each step.
#[test]
fn miss_change_4b() {
    run(|| async {
        begin("Test: servers miss configuration changes...");
        let cfg = ShardKvTester::new(false, Some(1000));
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        let n = 10;
        let (ka, mut va) = keys_and_values(n, 20);
        put_all(&mut ck, &ka, &va).await;
        check_all(&mut ck, &ka, &va).await;

        cfg.join(1).await;

        for gi in 0..3 {
            cfg.shutdown_server(gi, 0);
        }

        cfg.join(2).await;
        cfg.leave(1).await;
        cfg.leave(0).await;
        check_and_append_all(&mut ck, &ka, &mut va, 20).await;

        cfg.join(1).await;
        check_and_append_all(&mut ck, &ka, &mut va, 20).await;

        for gi in 0..3 {
            cfg.start_server(gi, 0);
        }
        check_and_append_all(&mut ck, &ka, &mut va, 20).await;

        tokio::time::sleep(Duration::from_secs(2)).await;

        for gi in 0..3 {
            cfg.shutdown_server(gi, 1);
        }

        cfg.join(0).await;
        cfg.leave(2).await;
        check_and_append_all(&mut ck, &ka, &mut va, 20).await;

        for gi in 0..3 {
            cfg.start_server(gi, 1);
        }
        check_all(&mut ck, &ka, &va).await;
        passed();
    });
}
