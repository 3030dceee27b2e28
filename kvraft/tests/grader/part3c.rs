//! 3C (beyond MIT): Gets without the log, by ReadIndex and by leases.
//!
//! Three kinds of test, each for both ways of reading:
//!
//! * **the log is left alone**: with a steady leader, Gets add nothing to the Raft state, and
//!   cost about one heartbeat round (ReadIndex) or none (leases); the RPCs per Get are printed;
//! * **Get-heavy GenericTests** (ten Gets per Append) under partitions, restarts and an
//!   unreliable network: every history linearizable, and the Raft state no larger than the
//!   writes account for;
//! * **stale leaders**: a leader cut off in a minority right after a write, with a clerk that
//!   reads from it alone while the majority elects a new leader, reads there, and writes: no
//!   read may miss a write that returned before it began (the linearizability check says which).
//!   With leases, the clocks drift within the bound the servers are told, and in one test the
//!   network holds back a cut-off leader's heartbeat replies until the majority has moved on:
//!   a lease must allow for the drift and start when the heartbeat was sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kvraft::Reads;
use labrpc::sim;

use crate::generic::{generic_test, measure_log_per_write, reads_name, stuck_get_hint, Params};
use crate::history::check_linearizable;
use crate::run;
use crate::tester::{KvRaftTester, ELECTION_TIMEOUT};

const READ_INDEX: Reads = Reads::ReadIndex;
/// The drift of the lease tests' clocks: each runs within 10% of true time.
const LEASES: Reads = Reads::Lease { clock_drift: 0.1 };
/// A wide drift for the stale-leader test of leases, so that a lease that ignores the drift
/// (270 ms on a leader's clock running at 0.6 lasts 450 ms) outlasts by far the followers'
/// refusal to vote (300 ms on a clock running at 1.4 is 214 ms).
const LEASES_WIDE_DRIFT: Reads = Reads::Lease { clock_drift: 0.4 };

/// The Get-heavy GenericTest: five clients, ten Gets per Append, five servers on an unreliable
/// network, no snapshots (the test compares the Raft state with the writes).
const fn get_heavy(reads: Reads) -> Params {
    Params {
        part: "3C",
        clients: 5,
        servers: 5,
        unreliable: true,
        crash: false,
        partitions: true,
        max_raft_state: None,
        random_keys: false,
        gets_per_append: 10,
        reads,
    }
}

/// With a steady leader, 300 ReadIndex Gets add nothing to the Raft state and cost about one
/// heartbeat round each (at most two, checked; the figure is printed).
#[test]
fn read_index_log_alone_3c() {
    run(|| reads_leave_the_log_alone(READ_INDEX, "ReadIndex"));
}

/// With a steady leader, 300 lease Gets add nothing to the Raft state, and at most half of them
/// need a heartbeat round: a lease renewed by the 100 ms heartbeats holds nearly all the time.
#[test]
fn lease_log_alone_3c() {
    run(|| reads_leave_the_log_alone(LEASES, "lease"));
}

/// Ten Gets per Append by five clients, partitions, unreliable network, ReadIndex.
#[test]
fn read_index_partitions_3c() {
    run(|| generic_test(get_heavy(READ_INDEX)));
}

/// As `read_index_partitions_3c`, and every server restarts after every round.
#[test]
fn read_index_restarts_3c() {
    run(|| {
        generic_test(Params {
            crash: true,
            ..get_heavy(READ_INDEX)
        })
    });
}

/// Ten Gets per Append by five clients, partitions, unreliable network, leases on drifting
/// clocks.
#[test]
fn lease_partitions_3c() {
    run(|| generic_test(get_heavy(LEASES)));
}

/// As `lease_partitions_3c`, and every server restarts after every round: a restarted
/// follower must keep the promise its previous incarnation made (no vote for an election
/// timeout after it starts).
#[test]
fn lease_restarts_3c() {
    run(|| {
        generic_test(Params {
            crash: true,
            ..get_heavy(LEASES)
        })
    });
}

/// A leader cut off in a minority must not answer reads once the majority may have moved on,
/// and a new leader must not answer before it knows what its predecessor committed.
#[test]
fn read_index_stale_leader_3c() {
    run(|| stale_leader(READ_INDEX, 5, StaleRound::Partitioned));
}

/// The same with leases on clocks that drift by up to 40%, and three servers, so that the
/// majority that elects a new leader is two: the sooner it can, the likelier a lease that
/// outlasts the followers' promise shows as a stale read.
#[test]
fn lease_stale_leader_3c() {
    run(|| stale_leader(LEASES_WIDE_DRIFT, 3, StaleRound::Partitioned));
}

/// Rounds of: the leader's heartbeats answered but the answers held back (in the network),
/// then the leader cut off in a minority; the majority elects a new leader and writes; the held
/// answers reach the old leader; a clerk that reaches only the old leader reads. A lease
/// counted from a reply's arrival, not from its heartbeat's sending, would let the old leader
/// answer with the value before the write (the linearizability check reports it).
#[test]
fn lease_late_replies_3c() {
    run(|| stale_leader(LEASES, 5, StaleRound::RepliesHeld));
}

const LOG_ALONE_GETS: u64 = 300;

async fn reads_leave_the_log_alone(reads: Reads, name: &str) {
    const SERVERS: usize = 3;
    let cfg = KvRaftTester::with_reads(SERVERS, false, None, reads);
    cfg.begin(&format!("Test: {name} Gets leave the log alone (3C)"));
    let mut ck = cfg.make_client(&cfg.all());
    let per_write = measure_log_per_write(&cfg, &mut ck).await;
    let expected: String = (0..10).map(|j| format!("x 0 {j} y")).collect();
    let before = cfg.log_size();
    let (rpcs, start) = (cfg.net().total_count(), sim::now());
    let gets = labtest::step(format!(
        "{LOG_ALONE_GETS} Gets of one key{}",
        stuck_get_hint(reads)
    ));
    for _ in 0..LOG_ALONE_GETS {
        let v = cfg.get(&mut ck, "calibration", None).await;
        assert!(
            v == expected,
            "Get(\"calibration\"): {}",
            labtest::describe_mismatch(&expected, &v)
        );
    }
    drop(gets);
    let per_get = (cfg.net().total_count() - rpcs) as f64 / LOG_ALONE_GETS as f64;
    let latency = (sim::now() - start) / LOG_ALONE_GETS as u32;
    println!(
        "  ({name}: {per_get:.2} RPCs per Get, the Get included; {:.2} ms per Get)",
        latency.as_secs_f64() * 1e3
    );
    let growth = cfg.log_size() - before;
    assert!(
        growth < per_write.bytes,
        "{LOG_ALONE_GETS} Gets grew the Raft state by {growth} bytes, one Append by {}: in \
         3C, Gets must not go through the log",
        per_write.bytes
    );
    // A Get is one RPC; a heartbeat round to the followers is SERVERS - 1 more.
    let round = (SERVERS - 1) as f64;
    let (limit, what) = match reads {
        Reads::Lease { .. } => (
            1.0 + round / 2.0,
            "a heartbeat round for over half the Gets",
        ),
        _ => (1.0 + 2.0 * round, "more than two heartbeat rounds per Get"),
    };
    assert!(
        per_get <= limit,
        "{name} reads: {per_get:.2} RPCs per Get (at most {limit} allowed): {what}"
    );
    cfg.end();
}

/// A stale-leader test's rounds: what happens between cutting the leader off and healing.
#[derive(Clone, Copy, PartialEq)]
enum StaleRound {
    /// The leader is cut off at once; a clerk that reaches only the old leader reads in a
    /// loop; on the majority's side, one clerk reads (the new leader may not know yet that
    /// the round's first write committed) while another writes. With leases, the clocks take
    /// the worst rates within the bound: the old leader's slow, the others' fast.
    Partitioned,
    /// The leader's heartbeats are answered but the answers held back (in the network); the
    /// leader is cut off; the majority elects a new leader and writes; the held answers reach
    /// the old leader; then a clerk that reaches only the old leader reads once.
    RepliesHeld,
}

/// Rounds of the stale-leader tests.
const STALE_ROUNDS: usize = 10;

/// How long the leader's heartbeats are answered with the answers held back, before it is cut
/// off: longer than the heartbeat interval, so that some are.
const HELD_FOR: Duration = Duration::from_millis(150);

/// Rounds of: a write through the leader; the leader cut off with a minority, and what `kind`
/// says; an election timeout later, the partition heals. Then every history must be
/// linearizable: no read may miss a write that returned before it began.
async fn stale_leader(reads: Reads, servers: usize, kind: StaleRound) {
    let cfg = KvRaftTester::with_reads(servers, false, None, reads);
    let late = if kind == StaleRound::RepliesHeld {
        ", late replies"
    } else {
        ""
    };
    cfg.begin(&format!(
        "Test: reads from a stale leader, {}{late} (3C)",
        reads_name(reads)
    ));
    let all = cfg.all();
    let mut writer = cfg.make_client(&all);
    cfg.put(&mut writer, "k", "v0", Some(0)).await;
    for round in 1..=STALE_ROUNDS {
        let _round = labtest::step(format!("round {round} of {STALE_ROUNDS}"));
        cfg.put(&mut writer, "k", &format!("v{round}a"), Some(0))
            .await;
        let (majority, minority) = cfg.make_partition();
        let old_leader = *minority.last().expect("a minority");
        let clients = [3 * round - 2, 3 * round - 1, 3 * round];
        let stale = match kind {
            StaleRound::Partitioned => {
                if let Reads::Lease { clock_drift } = reads {
                    for i in cfg.all() {
                        let sign = if i == old_leader { -1.0 } else { 1.0 };
                        cfg.set_clock_rate(i, 1.0 + sign * clock_drift);
                    }
                }
                cfg.partition(&majority, &minority);
                let stale = StaleReader::start(&cfg, old_leader, clients[0]);
                let _step = labtest::step(format!(
                    "a read and a write on the majority's side, server {old_leader} cut off{}",
                    stuck_get_hint(reads)
                ));
                let read = {
                    let (cfg, mut ck) = (cfg.clone(), cfg.make_client(&majority));
                    sim::spawn(async move { cfg.get(&mut ck, "k", Some(clients[1])).await })
                };
                let mut ck = cfg.make_client(&majority);
                let value = format!("v{round}b");
                cfg.put(&mut ck, "k", &value, Some(clients[2])).await;
                read.await.expect("the majority's reader failed");
                stale
            }
            StaleRound::RepliesHeld => {
                let followers = all.iter().copied().filter(|&f| f != old_leader);
                for f in followers.clone() {
                    cfg.hold_replies(old_leader, f, true);
                }
                tokio::time::sleep(HELD_FOR).await;
                cfg.partition(&majority, &minority);
                {
                    let _step = labtest::step(format!(
                        "a write on the majority's side, server {old_leader} cut off, its \
                         replies held"
                    ));
                    let mut ck = cfg.make_client(&majority);
                    let value = format!("v{round}b");
                    cfg.put(&mut ck, "k", &value, Some(clients[2])).await;
                }
                for f in followers {
                    cfg.hold_replies(old_leader, f, false);
                }
                let stale = StaleReader::start(&cfg, old_leader, clients[0]);
                stale.stop();
                stale
            }
        };
        tokio::time::sleep(ELECTION_TIMEOUT).await;
        stale.stop();
        cfg.connect_all();
        cfg.connect_client_ends(&stale.ends, &all);
        let _step = labtest::step(format!(
            "healed: waiting for the last Get through server {old_leader}{}",
            stuck_get_hint(reads)
        ));
        stale.task.await.expect("the stale leader's reader failed");
    }
    {
        let _step = labtest::step("checking the history for linearizability");
        check_linearizable(cfg.take_history());
    }
    cfg.end();
}

/// A clerk that reaches only one server (a leader about to be cut off), reading `k`: once,
/// and again until stopped.
struct StaleReader {
    ends: Vec<String>,
    done: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StaleReader {
    fn start(cfg: &Arc<KvRaftTester>, server: usize, client: usize) -> StaleReader {
        let mut ck = cfg.make_client(&[server]);
        let ends = ck.ends.clone();
        let done = Arc::new(AtomicBool::new(false));
        let task = {
            let (cfg, done) = (cfg.clone(), done.clone());
            sim::spawn(async move {
                loop {
                    cfg.get(&mut ck, "k", Some(client)).await;
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                }
            })
        };
        StaleReader { ends, done, task }
    }

    fn stop(&self) {
        self.done.store(true, Ordering::SeqCst);
    }
}
