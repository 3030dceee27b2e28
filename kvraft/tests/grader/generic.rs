//! MIT's `GenericTest` and `GenericTestSpeed`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kvraft::Reads;
use labrpc::sim;

use crate::history::check_linearizable;
use crate::tester::{check_clnt_appends, KvRaftTester, TestClerk, ELECTION_TIMEOUT};

/// The parameters of one GenericTest variant.
#[derive(Clone, Copy, Default)]
pub struct Params {
    pub part: &'static str,
    pub clients: usize,
    pub servers: usize,
    pub unreliable: bool,
    pub crash: bool,
    pub partitions: bool,
    pub max_raft_state: Option<usize>,
    pub random_keys: bool,
    /// Gets per Append in the clients' random mix: MIT's 1, the 3C tests' 10.
    pub gets_per_append: u64,
    /// How the servers answer Gets: 3C's tests read without the log, and check that Gets do
    /// not grow it.
    pub reads: Reads,
}

/// MIT's title: "Test: " + the optional pieces + "many clients"/"one client" + " (3A)".
fn title(p: &Params) -> String {
    let mut t = String::from("Test: ");
    if p.unreliable {
        t += "unreliable net, ";
    }
    if p.crash {
        t += "restarts, ";
    }
    if p.partitions {
        t += "partitions, ";
    }
    if p.max_raft_state.is_some() {
        t += "snapshots, ";
    }
    if p.random_keys {
        t += "random keys, ";
    }
    if p.gets_per_append > 1 {
        t += &format!("{} Gets per Append, ", p.gets_per_append);
    }
    if p.reads != Reads::Log {
        t += &format!("{}, ", reads_name(p.reads));
    }
    t += if p.clients > 1 {
        "many clients"
    } else {
        "one client"
    };
    format!("{t} ({})", p.part)
}

/// One GenericTest client: appends, puts (random keys only) and gets until told to stop;
/// without random keys every Get must return exactly what this client appended so far.
async fn client(cfg: Arc<KvRaftTester>, cli: usize, p: Params, done: Arc<AtomicBool>) -> u64 {
    let mut ck = cfg.make_client(&cfg.all());
    let mut j = 0u64;
    let mut last = String::new();
    if !p.random_keys {
        cfg.put(&mut ck, &cli.to_string(), &last, Some(cli)).await;
    }
    while !done.load(Ordering::SeqCst) {
        let key = if p.random_keys {
            sim::random_range(0..p.clients as u64).to_string()
        } else {
            cli.to_string()
        };
        let nv = format!("x {cli} {j} y");
        if sim::random_range(0..1000) < 1000 / (1 + p.gets_per_append) {
            cfg.append(&mut ck, &key, &nv, Some(cli)).await;
            if !p.random_keys {
                last += &nv;
            }
            j += 1;
        } else if p.random_keys && sim::random_range(0..1000) < 100 {
            // Only with random keys: it would break the check of Get below.
            cfg.put(&mut ck, &key, &nv, Some(cli)).await;
            j += 1;
        } else {
            let v = cfg.get(&mut ck, &key, Some(cli)).await;
            if !p.random_keys {
                assert!(
                    v == last,
                    "get wrong value, key {key:?}: {}",
                    labtest::describe_mismatch(&last, &v)
                );
            }
        }
    }
    j
}

/// MIT's partitioner: a random split of the servers every 1-1.2 s until told to stop.
async fn partitioner(cfg: Arc<KvRaftTester>, done: Arc<AtomicBool>) {
    while !done.load(Ordering::SeqCst) {
        let sides: Vec<u64> = (0..cfg.n()).map(|_| sim::random_range(0..2)).collect();
        let p0: Vec<usize> = (0..cfg.n()).filter(|&i| sides[i] == 0).collect();
        let p1: Vec<usize> = (0..cfg.n()).filter(|&i| sides[i] == 1).collect();
        cfg.partition(&p0, &p1);
        tokio::time::sleep(ELECTION_TIMEOUT + Duration::from_millis(sim::random_range(0..200)))
            .await;
    }
}

/// MIT's `GenericTest`: 3 rounds of clients working for 5 s under the chosen faults, each
/// followed by a check of every client's appends and of the log and snapshot sizes; then the
/// whole history must be linearizable.
pub async fn generic_test(p: Params) {
    let cfg = KvRaftTester::with_reads(p.servers, p.unreliable, p.max_raft_state, p.reads);
    cfg.begin(&title(&p));
    let mut ck = cfg.make_client(&cfg.all());
    let log_per_write = match p.reads {
        Reads::Log => None,
        _ => Some(measure_log_per_write(&cfg, &mut ck).await),
    };
    for round in 1..=3 {
        let working = labtest::step(format!(
            "round {round} of 3: {} client{} working for 5 s",
            p.clients,
            if p.clients == 1 { "" } else { "s" }
        ));
        let done_clients = Arc::new(AtomicBool::new(false));
        let done_partitioner = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..p.clients)
            .map(|cli| sim::spawn(client(cfg.clone(), cli, p, done_clients.clone())))
            .collect();
        let mut part = None;
        if p.partitions {
            // Let the clients work without interruption for a while.
            tokio::time::sleep(Duration::from_secs(1)).await;
            part = Some(sim::spawn(partitioner(
                cfg.clone(),
                done_partitioner.clone(),
            )));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        done_clients.store(true, Ordering::SeqCst);
        done_partitioner.store(true, Ordering::SeqCst);
        drop(working);
        if let Some(part) = part {
            part.await.expect("partitioner failed");
            // A request may be stuck in a minority until a new term starts.
            cfg.connect_all();
            tokio::time::sleep(ELECTION_TIMEOUT).await;
        }
        if p.crash {
            for i in 0..p.servers {
                cfg.shutdown_server(i);
            }
            tokio::time::sleep(ELECTION_TIMEOUT).await;
            for i in 0..p.servers {
                cfg.start_server(i);
            }
            cfg.connect_all();
        }
        for (i, c) in clients.into_iter().enumerate() {
            let waiting = labtest::step(format!(
                "round {round} of 3: waiting for client {i} (key {:?}) to finish its last \
                 operation{}",
                i.to_string(),
                stuck_get_hint(p.reads)
            ));
            let j = c.await.expect("client failed");
            drop(waiting);
            let _step = labtest::step(format!(
                "round {round} of 3: reading client {i}'s key{}",
                stuck_get_hint(p.reads)
            ));
            let v = cfg.get(&mut ck, &i.to_string(), Some(0)).await;
            if !p.random_keys {
                check_clnt_appends(i, &v, j);
            }
        }
        if let Some(per_write) = &log_per_write {
            check_log_grows_with_writes(&cfg, per_write);
        }
        match p.max_raft_state {
            Some(max) => {
                let size = cfg.log_size();
                assert!(size <= 8 * max, "logs were not trimmed ({size} > 8*{max})");
            }
            None => {
                let size = cfg.snapshot_size();
                assert!(
                    size == 0,
                    "snapshot too large ({size}), should not be used when maxraftstate = -1"
                );
            }
        }
    }
    {
        let _step = labtest::step("checking the history for linearizability");
        check_linearizable(cfg.take_history());
    }
    cfg.end();
}

/// How a test title names the reads.
pub fn reads_name(reads: Reads) -> String {
    match reads {
        Reads::Lease { clock_drift } => format!("leases, drift {clock_drift}"),
        Reads::ReadIndex => "ReadIndex".into(),
        Reads::Log => "log".into(),
    }
}

/// What a step that waits for Gets adds in 3C, where a Get that never returns has two usual
/// causes (the failure shows the step, and the Gets in flight).
pub fn stuck_get_hint(reads: Reads) -> &'static str {
    match reads {
        Reads::Log => "",
        _ => {
            " (3C: a Get that never returns? Does the Raft implement read_index (and \
             lease_read_index), and does a new leader that answers NoEntryOfTerm get an entry \
             of its term committed, a no-op?)"
        }
    }
}

/// How the Raft state grows with writes (3C): before the clients start, the bytes that one
/// Append of the size the clients send adds to the largest persisted Raft state, over ten
/// Appends with a steady leader; and what the state held before them.
pub struct LogPerWrite {
    pub before: usize,
    pub bytes: usize,
}

const CALIBRATION_APPENDS: usize = 10;

/// Measures [`LogPerWrite`] with Appends by `ck` (recorded as client 0's, on a key of their
/// own) once a first Put has found a leader.
pub async fn measure_log_per_write(cfg: &KvRaftTester, ck: &mut TestClerk) -> LogPerWrite {
    let _step = labtest::step("measuring the bytes a write adds to the Raft state");
    cfg.put(ck, "calibration", "", Some(0)).await;
    let before = cfg.log_size();
    for j in 0..CALIBRATION_APPENDS {
        cfg.append(ck, "calibration", &format!("x 0 {j} y"), Some(0))
            .await;
    }
    let bytes = (cfg.log_size() - before).div_ceil(CALIBRATION_APPENDS);
    LogPerWrite { before, bytes }
}

/// Fails if the Raft state grew by more than three times what the writes recorded so far
/// account for. Gets must not go through the log in 3C: with ten Gets per Append they would
/// add about ten entries per write; duplicates of retried writes and the no-ops of new leaders
/// stay well inside the margin.
pub fn check_log_grows_with_writes(cfg: &KvRaftTester, per_write: &LogPerWrite) {
    let writes = cfg.writes_recorded();
    let size = cfg.log_size();
    let limit = per_write.before + 3 * writes * per_write.bytes;
    assert!(
        size <= limit,
        "the Raft state grew to {size} bytes for {writes} Puts and Appends ({} bytes each, \
         measured with a steady leader, from {} bytes): more than three times what the writes \
         account for. In 3C, Gets must not go through the log",
        per_write.bytes,
        per_write.before
    );
}

/// MIT's `GenericTestSpeed`: 1000 sequential appends on one key must average under 33.3 ms
/// (virtual): at least 3 operations per 100 ms heartbeat interval.
pub async fn generic_test_speed(part: &'static str, max_raft_state: Option<usize>) {
    const OPS: u64 = 1000;
    let cfg = KvRaftTester::new(3, false, max_raft_state);
    let mut ck: TestClerk = cfg.make_client(&cfg.all());
    cfg.begin(&format!("Test: ops complete fast enough ({part})"));
    // Wait for a leader and servers ready to serve.
    let first = labtest::step("a first Get, which waits for a leader");
    cfg.get(&mut ck, "x", None).await;
    drop(first);
    let start = sim::now();
    let appends = labtest::step(format!("{OPS} sequential appends"));
    for i in 0..OPS {
        cfg.append(&mut ck, "x", &format!("x 0 {i} y"), None).await;
    }
    drop(appends);
    let dur = sim::now() - start;
    let v = cfg.get(&mut ck, "x", None).await;
    check_clnt_appends(0, &v, OPS);
    let per_op = dur / OPS as u32;
    let limit = Duration::from_millis(100) / 3;
    println!(
        "  ({part} speed: {:.2} ms/op, limit {:.2} ms/op)",
        per_op.as_secs_f64() * 1e3,
        limit.as_secs_f64() * 1e3
    );
    assert!(
        per_op <= limit,
        "Operations completed too slowly {per_op:?}/op > {limit:?}/op"
    );
    cfg.end();
}
