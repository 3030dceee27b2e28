//! MIT's churn workload (2C): clients propose all the time while peers are disconnected,
//! crashed and restarted at random. The two churn tests run it for MIT's [`CHURN_ROUNDS`]; the
//! long-run benchmark (`raft/benches/long_run.rs`) runs the same code for many more rounds,
//! which is why the number of rounds is a parameter and the run reports what it did.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use labrpc::sim;
use raft::Options;

use crate::tester::{rand_int, sleep, Cmd, RaftTester, ELECTION_TIMEOUT};

/// MIT's number of churn rounds, 0.7 s each: about 16 virtual seconds in all.
pub const CHURN_ROUNDS: usize = 20;

/// What a churn run did, for the benchmark (the grader's tests read none of it).
#[allow(dead_code)]
pub struct Churned {
    /// The last index every peer applied at the end: the commands committed.
    pub committed: u64,
    /// Saves of every peer's persister, over all incarnations, and the bytes they were given.
    pub saves: u64,
    pub saved_bytes: u64,
    /// Commands the appliers checked: each peer's applications, again after every restart.
    pub applied: u64,
}

/// One churn client: proposes values to every live peer, and keeps those it saw committed.
async fn churn_client(cfg: Arc<RaftTester>, me: u64, stop: Arc<AtomicBool>) -> Vec<u64> {
    let mut values = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let x = rand_int();
        let mut index = None;
        for i in 0..cfg.n() {
            if let Some(rf) = cfg.raft(i) {
                if let Some((index1, _)) = rf.start(x.into()) {
                    index = Some(index1);
                }
            }
        }
        if let Some(index) = index {
            // Maybe the leader will commit our value, maybe not; don't wait forever.
            for to in [10, 20, 50, 100, 200] {
                let (nd, cmd) = cfg.n_committed(index);
                if nd > 0 {
                    if cmd == Some(Cmd::Int(x)) {
                        values.push(x);
                    }
                    break;
                }
                sleep(Duration::from_millis(to)).await;
            }
        } else {
            sleep(Duration::from_millis(79 + me * 17)).await;
        }
    }
    values
}

/// MIT's `internalChurn`, with `rounds` rounds of random disconnections, restarts and crashes.
pub async fn churn(unreliable: bool, rounds: usize) -> Churned {
    let title = if unreliable {
        "Test (2C): unreliable churn"
    } else {
        "Test (2C): churn"
    };
    churn_with(unreliable, rounds, Options::default(), title).await
}

/// [`churn`] with peers made with `options` (2E), under `title`.
pub async fn churn_with(unreliable: bool, rounds: usize, options: Options, title: &str) -> Churned {
    let servers = 5;
    let cfg = RaftTester::with_options(servers, unreliable, false, options);
    cfg.begin(title);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|me| sim::spawn(churn_client(cfg.clone(), me, stop.clone())))
        .collect();
    let pick = || sim::random_range(0..servers as u64) as usize;
    for _ in 0..rounds {
        if sim::random_range(0..1000) < 200 {
            cfg.disconnect(pick());
        }
        if sim::random_range(0..1000) < 500 {
            let i = pick();
            if cfg.raft(i).is_none() {
                cfg.start1(i);
            }
            cfg.connect(i);
        }
        if sim::random_range(0..1000) < 200 {
            let i = pick();
            if cfg.raft(i).is_some() {
                cfg.crash1(i);
            }
        }
        // Often enough that peers rarely settle, rarely enough that they can keep up.
        sleep(ELECTION_TIMEOUT * 7 / 10).await;
    }
    sleep(ELECTION_TIMEOUT).await;
    cfg.set_unreliable(false);
    for i in 0..servers {
        if cfg.raft(i).is_none() {
            cfg.start1(i);
        }
        cfg.connect(i);
    }
    stop.store(true, Ordering::SeqCst);
    let mut values = Vec::new();
    for c in clients {
        values.extend(c.await.expect("client failed"));
    }
    sleep(ELECTION_TIMEOUT).await;
    let last_index = cfg.one(rand_int(), servers, true).await;
    // A set, not MIT's slice: every value is looked up, and a long run commits tens of
    // thousands (searching the slice took a fifth of the benchmark's 150 s run).
    let mut really = BTreeSet::new();
    for index in 1..=last_index {
        match cfg.wait(index, servers, None).await {
            Some(Cmd::Int(v)) => really.insert(v),
            other => panic!("index {index} holds {other:?}, not an int"),
        };
    }
    for v in values {
        assert!(
            really.contains(&v),
            "didn't find a value: {v} was committed, then lost"
        );
    }
    cfg.end();
    let (saves, saved_bytes) = cfg.save_stats();
    Churned {
        committed: last_index,
        saves,
        saved_bytes,
        applied: cfg.commands_checked(),
    }
}
