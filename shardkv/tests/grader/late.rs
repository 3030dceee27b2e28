//! Tests that are not in MIT's suite: messages between groups delivered late, and a leader
//! that loses its leadership at the worst moment and wins it back. MIT's shardkv tests never
//! partition a group, and their network delays a reply at most 26 ms, so a reply always
//! reaches the leader that asked, in the configuration it asked in, and a group changes leaders
//! only when servers crash (which ends their tasks and clears their memory). Here the tester
//! holds messages back (`Network::hold_requests` and `Network::hold_replies` on a server's ends
//! to another group), cuts a leader off from its group, moves the group on under another
//! leader, makes the first one lead again, and only then lets the messages go. Each test checks
//! a rule the handout (`shardkv/src/server.rs`) states, and names the mutant it was written
//! for.

use std::time::Duration;

use shardmaster::Gid;

use crate::run;
use crate::tester::{
    begin, check_all, check_and_append_all, keys_and_values, passed, put_all, ShardKvTester,
    TestClerk,
};

/// Group indexes: `A` serves every shard first, `B` joins, leaves and joins again.
const A: usize = 0;
const B: usize = 1;

/// The handout's rule for migration (step 3): when configuration N+1 gives the group a shard,
/// "the group must get the shard's data as of the end of configuration N from the group that
/// served it then". A reply to a Pull made for an earlier configuration holds the shard as it
/// was then, not at the end of N. A group that installs whatever pulled contents arrive while
/// the shard is being pulled, without checking which configuration they were pulled for
/// (mutant `shardkv-install-any-config`), installs a shard's old contents and loses every write
/// made since. MIT's tests miss it (it passes all of them on seeds 1-20): a reply is delayed
/// at most 26 ms, and a group changes leaders only when its servers crash, which ends the task
/// that waits for the reply.
///
/// Group A serves the 10 keys, one per shard. Group B's leader `l` pulls the shards B gains in
/// configuration 2 (B joins); A answers, but the replies are held. `l` is cut off from its
/// group, the clerks and A; B's other servers elect a leader, which pulls the shards again and
/// serves them, and every key gets a new value. B leaves (configuration 3: A takes the shards
/// back) and joins again (configuration 4), while B's other servers cannot reach A: B waits
/// for the shards. `l` comes back, catches up, and is made B's leader (by cutting off whoever
/// else leads, until `l` wins an election). Only then do the replies for configuration 2 reach
/// it; then everything goes through, and every key must have its new value. (A shard master
/// that gives B other shards in configuration 4 than in 2 leaves no shard for the late replies
/// to harm, and the test passes whatever the group does.)
#[test]
fn late_pull_reply_4b() {
    run(|| async {
        begin("Test: a late Pull reply from an earlier configuration ...");
        let cfg = ShardKvTester::new(false, None);
        let (mut ck, ka, mut va) = a_serves_ten_keys(&cfg).await;
        let l = wait_for_leader(&cfg, B, None).await;
        let gained = join_b_holding_answers(&cfg, l).await;

        // Without `l`, B elects another leader, which pulls the shards and serves them.
        let step = labtest::step(format!(
            "server {l} of group {} cut off; the others serve shards {gained:?}",
            cfg.gid(B)
        ));
        cfg.cut_off(B, l, true);
        check_and_append_all(&mut ck, &ka, &mut va, 5).await;
        sleep_ms(2000).await;
        drop(step);

        // B leaves and joins again; it gains shards again, but its servers other than `l`
        // cannot reach A for them.
        let others: Vec<usize> = (0..3).filter(|&i| i != l).collect();
        for &i in &others {
            cfg.hold_requests(B, i, A, true);
        }
        cfg.leave(B).await;
        cfg.join(B).await;
        sleep_ms(2000).await;
        let regained = shards_of(&cfg.query().await.shards, cfg.gid(B));
        let late: Vec<usize> = gained
            .iter()
            .copied()
            .filter(|s| regained.contains(s))
            .collect();

        // `l` comes back and leads B; the replies it has waited for since configuration 2
        // reach it now, while B waits for shards `late` again.
        let step = labtest::step(format!(
            "server {l} of group {} leads again; the Pull replies of configuration 2 for \
             shards {late:?} reach it",
            cfg.gid(B)
        ));
        cfg.cut_off(B, l, false);
        sleep_ms(1000).await;
        make_leader(&cfg, B, l).await;
        cfg.hold_replies(B, l, A, false);
        sleep_ms(1000).await;
        for &i in &others {
            cfg.hold_requests(B, i, A, false);
        }
        drop(step);

        check_all(&mut ck, &ka, &va).await;
        passed();
    });
}

/// The handout's rule "Decide everything from the log: an RPC handler or a polling task only
/// *proposes*; the state changes when the entry is applied" (and "a group that restarts must
/// continue a migration where it left off"): what a leader proposed may never commit, and a
/// leader must go on from the log's state, not from its memory of what it proposed. A leader
/// that remembers which shards it pulled and proposed until they stop being pulled, even
/// across a loss of leadership (mutant `shardkv-pull-marked-across-terms`), never pulls again
/// a shard whose Install was lost with its leadership if it leads again: the group waits for
/// the shard for ever. MIT's tests miss it: their groups change leaders only when servers crash,
/// which clears the leader's memory.
///
/// Group A serves the 10 keys, one per shard. Group B joins (configuration 2); its leader `l`
/// pulls the shards B gains, and A's answers are held. `l` is cut off from its group, the
/// clerks and A, and then gets the answers: it proposes them, but cannot commit them. B's other
/// servers elect a leader, whose Pulls are held, and overwrite `l`'s proposals. `l` comes back,
/// catches up, and is made B's leader (by cutting off whoever else leads until `l` wins an
/// election); everything goes through again, and every key must be read within 30 s.
#[test]
fn lost_install_4b() {
    run(|| async {
        begin("Test: a leader that lost an Install pulls the shard again ...");
        let cfg = ShardKvTester::new(false, None);
        let (mut ck, ka, va) = a_serves_ten_keys(&cfg).await;
        // The other servers of B cannot reach A.
        let l = wait_for_leader(&cfg, B, None).await;
        let others: Vec<usize> = (0..3).filter(|&i| i != l).collect();
        for &i in &others {
            cfg.hold_requests(B, i, A, true);
        }
        let gained = join_b_holding_answers(&cfg, l).await;

        // `l`, cut off, gets A's answers and proposes them; another leader takes over.
        let step = labtest::step(format!(
            "server {l} of group {} cut off with the contents of shards {gained:?}",
            cfg.gid(B)
        ));
        cfg.cut_off(B, l, true);
        cfg.hold_replies(B, l, A, false);
        sleep_ms(1500).await;
        wait_for_leader(&cfg, B, Some(l)).await;
        drop(step);

        // `l` leads again; then B's other servers can reach A again.
        cfg.cut_off(B, l, false);
        sleep_ms(1000).await;
        make_leader(&cfg, B, l).await;
        sleep_ms(500).await;
        for &i in &others {
            cfg.hold_requests(B, i, A, false);
        }

        let read = check_all(&mut ck, &ka, &va);
        if tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .is_err()
        {
            panic!(
                "the keys of shards {gained:?} could not be read within 30 s after server {l} \
                 of group {} led again: the group never got the shards it lost with its \
                 leader's proposals",
                cfg.gid(B)
            );
        }
        passed();
    });
}

/// Group A joins and serves 10 keys, one per shard; returns a clerk, the keys and their values.
async fn a_serves_ten_keys(cfg: &ShardKvTester) -> (TestClerk, Vec<String>, Vec<String>) {
    let mut ck = cfg.make_client();
    cfg.join(A).await;
    let (ka, va) = keys_and_values(10, 5);
    put_all(&mut ck, &ka, &va).await;
    (ck, ka, va)
}

/// Group B joins (configuration 2). Its leader `l`'s Pulls wait at a hold until both groups
/// have applied configuration 2, then go: A's servers answer with the shards as of
/// configuration 1, and the answers are held at `l`. Returns the shards B gains.
async fn join_b_holding_answers(cfg: &ShardKvTester, l: usize) -> Vec<usize> {
    cfg.hold_requests(B, l, A, true);
    cfg.join(B).await;
    sleep_ms(1000).await;
    cfg.hold_replies(B, l, A, true);
    cfg.hold_requests(B, l, A, false);
    sleep_ms(100).await;
    shards_of(&cfg.query().await.shards, cfg.gid(B))
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// The shards `shards` assigns to `gid`.
fn shards_of(shards: &[Gid], gid: Gid) -> Vec<usize> {
    (0..shards.len()).filter(|&s| shards[s] == gid).collect()
}

/// The server of group index `gi` that leads in the highest term, once there is one other than
/// `not`; fails the test after 10 s without one.
async fn wait_for_leader(cfg: &ShardKvTester, gi: usize, not: Option<usize>) -> usize {
    for _ in 0..200 {
        match cfg.leader(gi) {
            Some(i) if Some(i) != not => return i,
            _ => sleep_ms(50).await,
        }
    }
    panic!("group {} elected no leader within 10 s", cfg.gid(gi));
}

/// Makes server `l` of group index `gi` its leader: while another server leads, cuts that one
/// off until a new leader is elected, then connects it again. Gives up after 20 elections (each
/// one `l` wins with a chance of about one half), leaving the test nothing late to deliver.
async fn make_leader(cfg: &ShardKvTester, gi: usize, l: usize) {
    let _step = labtest::step(format!(
        "making server {l} of group {} its leader",
        cfg.gid(gi)
    ));
    for _ in 0..20 {
        let leader = wait_for_leader(cfg, gi, None).await;
        if leader == l {
            return;
        }
        cfg.cut_off(gi, leader, true);
        wait_for_leader(cfg, gi, Some(leader)).await;
        cfg.cut_off(gi, leader, false);
        sleep_ms(200).await;
    }
}
