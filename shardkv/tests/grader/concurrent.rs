//! 4B, concurrency: clerks keep appending while groups join, leave, crash and restart. Every
//! Append must land exactly once, in order, whichever group it reached.

use std::time::Duration;

use labrpc::sim;

use crate::run;
use crate::tester::{
    begin, check_all, keys_and_values, ms, passed, put_all, Appenders, ShardKvTester,
};

/// Ten clerks append 5 characters to their keys every 10 ms (maxraftstate 100) while groups
/// 1 and 2 join and group 0 leaves, all three groups are shut down one after the other, group
/// 2 leaves while they are all down, all restart, and group 0 joins, 1 leaves and joins again.
/// Afterwards every key holds exactly its clerk's Appends.
#[test]
fn concurrent1_4b() {
    run(|| async {
        begin("Test: concurrent puts and configuration changes...");
        let cfg = ShardKvTester::new(false, Some(100));
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        let n = 10;
        let (ka, va) = keys_and_values(n, 5);
        put_all(&mut ck, &ka, &va).await;

        let appenders = Appenders::start(&cfg, &ka, &va, 5, ms(10));

        tokio::time::sleep(ms(150)).await;
        cfg.join(1).await;
        tokio::time::sleep(ms(500)).await;
        cfg.join(2).await;
        tokio::time::sleep(ms(500)).await;
        cfg.leave(0).await;

        cfg.shutdown_group(0);
        tokio::time::sleep(ms(100)).await;
        cfg.shutdown_group(1);
        tokio::time::sleep(ms(100)).await;
        cfg.shutdown_group(2);

        cfg.leave(2).await;

        tokio::time::sleep(ms(100)).await;
        for gi in 0..3 {
            cfg.start_group(gi);
        }

        tokio::time::sleep(ms(100)).await;
        cfg.join(0).await;
        cfg.leave(1).await;
        tokio::time::sleep(ms(500)).await;
        cfg.join(1).await;

        tokio::time::sleep(Duration::from_secs(1)).await;

        let va = appenders.stop().await;
        check_all(&mut ck, &ka, &va).await;
        passed();
    });
}

/// Ten clerks append 1 character every 50 ms (no snapshots) while the groups go through three
/// rounds of Leaves and Joins 3 s apart, ending with group 1 alone; then groups 1 and 2 are
/// shut down for 1 s and restarted. Afterwards every key holds exactly its clerk's Appends.
#[test]
fn concurrent2_4b() {
    run(|| async {
        begin("Test: more concurrent puts and configuration changes...");
        let cfg = ShardKvTester::new(false, None);
        let mut ck = cfg.make_client();
        cfg.join(1).await;
        cfg.join(0).await;
        cfg.join(2).await;

        let n = 10;
        let (ka, va) = keys_and_values(n, 1);
        put_all(&mut ck, &ka, &va).await;

        let appenders = Appenders::start(&cfg, &ka, &va, 1, ms(50));

        cfg.leave(0).await;
        cfg.leave(2).await;
        tokio::time::sleep(ms(3000)).await;
        cfg.join(0).await;
        cfg.join(2).await;
        cfg.leave(1).await;
        tokio::time::sleep(ms(3000)).await;
        cfg.join(1).await;
        cfg.leave(0).await;
        cfg.leave(2).await;
        tokio::time::sleep(ms(3000)).await;

        cfg.shutdown_group(1);
        cfg.shutdown_group(2);
        tokio::time::sleep(ms(1000)).await;
        cfg.start_group(1);
        cfg.start_group(2);

        tokio::time::sleep(Duration::from_secs(2)).await;

        let va = appenders.stop().await;
        check_all(&mut ck, &ka, &va).await;
        passed();
    });
}

/// Ten clerks append 1 character as fast as they can (maxraftstate 300) while, for 12 s,
/// groups 2 and 1 join, all three groups crash and restart at once, and groups 1 and 2 leave,
/// with random pauses of 0-899 ms in between. Afterwards (2 s later) every key holds exactly
/// its clerk's Appends: migrations must survive the restart of both their ends.
#[test]
fn concurrent3_4b() {
    run(|| async {
        begin("Test: concurrent configuration change and restart...");
        let cfg = ShardKvTester::new(false, Some(300));
        let mut ck = cfg.make_client();
        cfg.join(0).await;

        let n = 10;
        let (ka, va) = keys_and_values(n, 1);
        put_all(&mut ck, &ka, &va).await;

        let appenders = Appenders::start(&cfg, &ka, &va, 1, Duration::ZERO);

        let random_pause = || ms(sim::random_range(0..900));
        let t0 = sim::now();
        while sim::now() - t0 < Duration::from_secs(12) {
            cfg.join(2).await;
            cfg.join(1).await;
            tokio::time::sleep(random_pause()).await;
            for gi in 0..3 {
                cfg.shutdown_group(gi);
            }
            for gi in 0..3 {
                cfg.start_group(gi);
            }
            tokio::time::sleep(random_pause()).await;
            cfg.leave(1).await;
            cfg.leave(2).await;
            tokio::time::sleep(random_pause()).await;
        }

        tokio::time::sleep(Duration::from_secs(2)).await;

        let va = appenders.stop().await;
        check_all(&mut ck, &ka, &va).await;
        passed();
    });
}
