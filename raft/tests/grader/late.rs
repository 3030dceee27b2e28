//! Tests that are not in MIT's suite: requests delivered late, at the worst moment. MIT's
//! network delays a request by at most 26 ms, so a request from a leader is almost never
//! overtaken by a newer one of the same term, and never delivered after the follower has moved
//! well past it. Here the tester holds a request back (`Network::hold_requests`), lets newer
//! ones overtake it, and delivers it when it does most harm; the tester's own checks (the
//! appliers' agreement on every applied index) then see the harm. Each test checks a rule the
//! handout (`raft/src/raft.rs`) states, and names the mutant it was written for.

use std::time::Duration;

use crate::run;
use crate::tester::{rand_int, sleep, RaftTester, SNAPSHOT_INTERVAL};

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
        survivors_go_on(&cfg, l, g).await;
        cfg.end();
    });
}

/// After leader `l` crashed with `g` cut off: `g` comes back and the two survivors commit a new
/// command, then `l` restarts and all three commit one. A survivor that lost a committed entry
/// lets the new command take its index, where `l` applied another: the appliers say so.
async fn survivors_go_on(cfg: &RaftTester, l: usize, g: usize) {
    let servers = cfg.n();
    cfg.connect(g);
    cfg.one(rand_int(), servers - 1, true).await;
    cfg.start1(l);
    cfg.connect(l);
    cfg.one(rand_int(), servers, true).await;
}

/// The handout's 2D rules on snapshots that arrive late, from the leader or from the service:
///
/// * Figure 13, InstallSnapshot receiver, step 6: "If existing log entry has same index and
///   term as snapshot's last included entry, retain log entries following it". A follower that
///   discards its whole log for every snapshot (mutant `raft-install-snapshot-drops-suffix`)
///   loses entries it acknowledged when an InstallSnapshot arrives after the entries that
///   follow the snapshot's last one.
/// * "Never send the service a snapshot older than what it has applied": an InstallSnapshot
///   that reaches no further than the follower's commit index must be ignored. A follower that
///   installs it anyway (mutant `raft-install-stale-snapshot`) rolls its service back; the
///   tester's snapshot applier refuses such a snapshot (MIT's accepts it).
/// * "A call whose `index` is at or behind your latest snapshot's must be ignored": a slow
///   service asks for a snapshot of an index that an InstallSnapshot has overtaken meanwhile
///   (mutants `raft-snapshot-call-behind-not-ignored`, which renumbers the log, and
///   `raft-snapshot-call-behind-replaces-snapshot`, which keeps the service's older snapshot).
///
/// MIT's tests reach none of these moments: a request is delayed at most 26 ms, a leader that
/// waits for one message's answer before sending the next is never overtaken, and the
/// services never lag. (With the tester's random service time, MIT's 2D tests reach the last
/// one on about 2 seeds in 100, and the harm heals before a check sees it: none of the four
/// mutants fails them in seeds 1-300.) 3 peers, services taking no time except when the test
/// stalls one.
///
/// Act 1. Follower `f`'s service is stalled holding command `m`, whose snapshot it will ask for
/// (the stall starts before it applies `m`, so it asks late). With `f` cut off by a hold on
/// the leader `l`'s requests to it, `l` and `g` commit more than a snapshot interval, and `l`
/// snapshots at `s1 > m`. `l`'s InstallSnapshot through `s1` is held; newer requests overtake
/// it: `f`'s Raft installs `s1` and gets a few entries after it. The service then wakes: it
/// applies `m`, asks Raft for a snapshot through `m` (behind Raft's `s1`: to be ignored), takes
/// the snapshot through `s1` and applies the entries after it. Then the held InstallSnapshot
/// arrives: its last entry is the one `f`'s snapshot ends at, below `f`'s commit index; to be
/// ignored. A new command must then reach all three peers within 2 s. Last, `f` restarts from
/// what it persisted, which must be the snapshot through `s1`.
///
/// Act 2. With fresh roles: `g` stores entries up to the next snapshot point `s`, but its
/// acknowledgement is held. `l` sends `f` one AppendEntries carrying everything from `p` (the
/// first entry `f` lacks) to `s + 2`, with a commit index below `s`; that request is held. `g`
/// is cut off and its acknowledgement let go: `l` commits and snapshots through `s`. `l`'s next
/// probe to `f` overtakes the held AppendEntries, and `f` (whose log still ends before `s`)
/// rejects it, so `l` sends an InstallSnapshot through `s`, held behind the AppendEntries. Both
/// go in send order: `f` stores `p..=s + 2` and acknowledges them (so `l` commits and applies
/// `s + 1` and `s + 2` with `f`), and then gets the snapshot through `s`, past its commit index
/// and matching its log: it must keep `s + 1` and `s + 2`. `l` crashes; `f` and `g` (whose
/// log ends at `s`) go on. A follower that dropped its log lets the next leader put a new
/// command at index `s + 1`, where `l` applied another: the appliers report two commands
/// applied at one index.
///
/// A leader that waits for each request's answer, or that sends differently, is correct too:
/// every wait here is bounded, every hold is let go, and the moment then passes harmlessly.
#[test]
fn late_install_snapshot_2d() {
    run(|| async {
        let servers = 3;
        let cfg = RaftTester::new(servers, false, true);
        // The test times the services itself.
        cfg.set_service_time(false);
        cfg.begin("Test (2D): a late InstallSnapshot, and a late snapshot from the service");
        cfg.one(rand_int(), servers, true).await;
        stale_install_snapshot(&cfg).await;
        install_snapshot_after_entries(&cfg).await;
        cfg.end();
    });
}

/// Lets one request from `l` overtake the requests held on their way to `f`, and holds what
/// follows again: the request `l` sends on its answer (10 ms later, after it is held) is the
/// one the test wants held.
async fn overtake_once(cfg: &RaftTester, l: usize, f: usize) {
    cfg.keep_held_requests(l, f);
    next_dispatch(cfg, f).await;
    cfg.hold_requests(l, f, true);
    sleep(Duration::from_millis(10)).await;
}

/// Waits (up to 1 s) for the next request to reach peer `to`, polling every millisecond. A
/// request to a Raft peer is answered at once, and the leader's next message, sent on the
/// answer, travels 5 ms: a hold set right after this returns catches it.
async fn next_dispatch(cfg: &RaftTester, to: usize) -> bool {
    let count = cfg.rpc_count(to);
    for _ in 0..1000 {
        sleep(Duration::from_millis(1)).await;
        if cfg.rpc_count(to) > count {
            return true;
        }
    }
    false
}

/// Waits (up to 1 s, polling every millisecond) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if done() {
            return true;
        }
        sleep(Duration::from_millis(1)).await;
    }
    done()
}

/// Commits commands on all peers until the last one committed is at `index` with
/// `at(index)`; returns it.
async fn one_until(cfg: &RaftTester, at: impl Fn(u64) -> bool) -> u64 {
    loop {
        let index = cfg.one(rand_int(), cfg.n(), true).await;
        if at(index) {
            return index;
        }
    }
}

/// Act 1 of `late_install_snapshot_2d`: a stale InstallSnapshot after the follower moved past
/// it, and a snapshot call from a slow service behind an installed snapshot.
async fn stale_install_snapshot(cfg: &RaftTester) {
    let servers = cfg.n();
    let l = cfg.check_one_leader().await;
    let f = (l + 1) % servers;
    // `m` is the next index whose snapshot the services ask for; `f`'s service stalls before
    // it handles `m`.
    let m = one_until(cfg, |i| (i + 2) % SNAPSHOT_INTERVAL == 0).await + 1;
    cfg.stall_service(f, Duration::from_secs(30));
    cfg.one(rand_int(), servers - 1, true).await;
    // `f`'s Raft learns that `m` is committed from the next heartbeat.
    sleep(Duration::from_millis(150)).await;

    // `f` is cut off while `l` and `g` go a snapshot interval and more past `m`.
    cfg.hold_requests(l, f, true);
    for _ in 0..SNAPSHOT_INTERVAL + 2 {
        cfg.rf(l).start(rand_int().into());
    }
    let s1 = m + SNAPSHOT_INTERVAL;
    until(|| cfg.persisted_snapshot_index(l) >= s1).await;

    // `l`'s next probe reaches `f`, which lacks `s1`: its answer makes `l` send the
    // InstallSnapshot through `s1`, which is held. Newer requests overtake it: `f` installs `s1`
    // and stores the entries after it.
    overtake_once(cfg, l, f).await;
    cfg.keep_held_requests(l, f);
    let mut last = 0;
    for _ in 0..3 {
        last = cfg.one(rand_int(), servers - 1, true).await;
    }
    until(|| cfg.persisted_snapshot_index(f) >= s1).await;

    // `f`'s service wakes behind its Raft: it applies `m`, asks for a snapshot through `m`,
    // takes the snapshot through `s1` and applies what follows.
    cfg.stall_service(f, Duration::ZERO);
    cfg.wait(last, servers, None).await;

    // The old InstallSnapshot through `s1` reaches `f`, whose commit index is past it. With a
    // leader in place, the next command reaches every peer in 2 s (MIT's `one()` without
    // retries): a follower whose log lost its numbering cannot take it.
    cfg.hold_requests(l, f, false);
    sleep(Duration::from_millis(10)).await;
    cfg.check_one_leader().await;
    cfg.one(rand_int(), servers, false).await;

    // `f` restarts from what it persisted: its snapshot must still be the one through `s1`.
    cfg.crash1(f);
    cfg.start1(f);
    cfg.connect(f);
    cfg.one(rand_int(), servers, true).await;
}

/// Act 2 of `late_install_snapshot_2d`: an InstallSnapshot past the follower's commit index
/// that arrives after entries that follow it.
async fn install_snapshot_after_entries(cfg: &RaftTester) {
    let servers = cfg.n();
    let l = cfg.check_one_leader().await;
    let (f, g) = ((l + 1) % servers, (l + 2) % servers);
    // All peers hold `p - 1`; the next snapshot point `s` is at least `p + 1`.
    let p = one_until(cfg, |i| (i + 2) % SNAPSHOT_INTERVAL != 0).await + 1;
    let s = (p / SNAPSHOT_INTERVAL + 1) * SNAPSHOT_INTERVAL - 1;

    // `g` stores `p..=s` (first `p`, then the rest in one request); its answers are held.
    cfg.hold_replies(l, g, true);
    cfg.hold_requests(l, f, true);
    for _ in p..=s {
        cfg.rf(l).start(rand_int().into());
    }
    sleep(Duration::from_millis(6)).await;
    cfg.hold_replies(l, g, false);
    sleep(Duration::from_millis(1)).await;
    cfg.hold_replies(l, g, true);
    sleep(Duration::from_millis(5)).await;

    // Entries past `s`, which `g` does not get.
    for _ in 0..2 {
        cfg.rf(l).start(rand_int().into());
    }
    // `l`'s next probe to `f` overtakes the held request; on its answer `l` sends `f` the
    // AppendEntries carrying `p..=s + 2`, which is held.
    overtake_once(cfg, l, f).await;

    // `g` is cut off, and its answers reach `l`, which commits through `s` and snapshots.
    cfg.disconnect(g);
    cfg.hold_replies(l, g, false);
    until(|| cfg.persisted_snapshot_index(l) >= s).await;

    // `l`'s next probe to `f` is rejected (`f`'s log ends before `s`), and `l` sends the
    // InstallSnapshot through `s`, held behind the AppendEntries.
    overtake_once(cfg, l, f).await;

    // Both reach `f` in send order; `l` commits `s + 2` with `f` and crashes once it applied it.
    cfg.hold_requests(l, f, false);
    until(|| cfg.n_committed(s + 2).0 > 0).await;
    cfg.crash1(l);

    // `f` and `g` go on: the entries `l` applied are committed, and must stay.
    survivors_go_on(cfg, l, g).await;
}
