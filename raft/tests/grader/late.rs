//! Tests that are not in MIT's suite: requests delivered late, at the worst moment. MIT's
//! network delays a request by at most 26 ms, so a request from a leader is almost never
//! overtaken by a newer one of the same term, and never delivered after the follower has moved
//! well past it. Here the tester holds a request back (`Network::hold_requests`), lets newer
//! ones overtake it, and delivers it when it does most harm; the tester's own checks (the
//! appliers' agreement on every applied index) then see the harm. Each test checks a rule the
//! handout (`raft/src/raft.rs`) states, and names the mutant it was written for.

use std::time::Duration;

use crate::run;
use crate::tester::{rand_int, sleep, RaftTester};

/// The handout's 2B rule: "A follower truncates its log only at the first *conflicting* entry:
/// an AppendEntries that matches a prefix of your log, perhaps a delayed one, must not cut off
/// entries after it" (Figure 2, AppendEntries receiver, step 3). A follower that cuts its log
/// at the end of every AppendEntries that carries entries (mutant
/// `raft-truncate-at-end-of-stale-append`) loses entries it acknowledged when an old request
/// of the current term arrives after newer ones, and those may be committed. MIT's tests miss
/// it: a request is delayed at most 26 ms, a leader that waits for one message's answer before
/// sending the next is never overtaken, and when it is, the leader repairs the follower at
/// once unless it fails at that very moment.
///
/// 3 peers. With `g` cut off, the leader `l` appends `x` at index k; its request carrying `x`
/// to `f` is held. Newer requests overtake it: `f` stores `x` and two more entries, which `l`
/// and `f` commit and apply. Then the old request, whose entries end at `x`, reaches `f`, and
/// `l` crashes at once, before it can repair `f`. `f` and `g` elect a leader (`f`: its log is
/// the longer), which commits a new entry. A follower that cut its log after `x` lets that entry
/// take index k+1, where a different, committed command was applied: the appliers report two
/// commands applied at one index.
#[test]
fn late_append_entries_2b() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, false);
        cfg.begin("Test (2B): a late AppendEntries carrying a prefix of the follower's log");
        cfg.one(rand_int(), servers, true).await;
        let l = cfg.check_one_leader().await;
        let (f, g) = ((l + 1) % servers, (l + 2) % servers);
        cfg.disconnect(g);

        // `l`'s request carrying `x` reaches `f`'s hold (5 ms) and stays there; newer requests
        // overtake it.
        cfg.hold_requests(l, f, true);
        assert!(
            cfg.rf(l).start(rand_int().into()).is_some(),
            "leader {l} refused Start()"
        );
        sleep(Duration::from_millis(10)).await;
        cfg.keep_held_requests(l, f);
        // A leader that waits for each request's answer before sending the next one to the
        // same peer is correct too, and stuck behind the held request: after 3 s the test lets
        // the request go, and the moment passes harmlessly.
        let overtake = async {
            cfg.one(rand_int(), servers - 1, true).await;
            cfg.one(rand_int(), servers - 1, true).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), overtake).await;

        // The old request reaches `f` now; `l` crashes before its next request can arrive.
        cfg.hold_requests(l, f, false);
        sleep(Duration::from_millis(1)).await;
        cfg.crash1(l);

        // `f` and `g` go on: the entries `f` holds are committed, and must stay.
        cfg.connect(g);
        cfg.one(rand_int(), servers - 1, true).await;
        cfg.start1(l);
        cfg.connect(l);
        cfg.one(rand_int(), servers, true).await;
        cfg.end();
    });
}
