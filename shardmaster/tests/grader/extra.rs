//! Tests that are not in MIT's suite: rules of MIT's lab text and of the handout
//! (`shardmaster/src/server.rs`) that MIT's 4A tests never exercise. Each names the mutant it
//! was written for.

use crate::checks::check_config;
use crate::part4a::{group, join, leave, ok, passed, step, title};
use crate::run;
use crate::tester::ShardMasterTester;

/// MIT's lab text allows a gid to be used again: a group may Join, Leave, then Join again
/// (shardkv's tests do it all the time, `join(0)` after `leave(0)`). MIT's 4A tests never join
/// a gid that was a group before, so a shard master that takes such a Join for a repeated one
/// and ignores it (mutant `shardmaster-rejoin-ignored`) passes all of them, and the group it
/// ignores never gets a shard.
///
/// Join 1, Join 2, Leave 1, Join 1 again (with other servers), then Leave 1 and 2, and Join 2
/// again into a configuration with no groups; then Join 1 and 3 together. Each step is checked
/// against the configuration before it as in `basic_4a` (one new configuration, the groups
/// with their server lists, every shard on a group, balance, minimal moves).
#[test]
fn rejoin_4a() {
    run(|| async {
        let cfg = ShardMasterTester::new(3, false);
        let mut ck = cfg.make_client(&cfg.all());

        title("Test: Join, Leave, and Join again");
        let c = ck.query(None).await;
        let c = step(&mut ck, &c, join([group(1, &["x", "y", "z"])])).await;
        let c = step(&mut ck, &c, join([group(2, &["a", "b", "c"])])).await;
        let c = step(&mut ck, &c, leave(&[1])).await;
        let c = step(&mut ck, &c, join([group(1, &["u", "v", "w"])])).await;
        ok(check_config(&c, &[1, 2]));
        let c = step(&mut ck, &c, leave(&[1, 2])).await;
        ok(check_config(&c, &[]));
        let c = step(&mut ck, &c, join([group(2, &["d", "e", "f"])])).await;
        ok(check_config(&c, &[2]));
        let groups = [group(1, &["x", "y", "z"]), group(3, &["j", "k", "l"])];
        let c = step(&mut ck, &c, join(groups)).await;
        ok(check_config(&c, &[1, 2, 3]));
        passed();
    });
}
