//! How Raft's cost grows with the length of a run: the grader's own churn workload (2C: five
//! peers, no snapshots, clients proposing all the time while peers are disconnected, crashed
//! and restarted), run for more and more rounds.
//!
//! ```text
//! cargo bench -p raft --features reference --bench long_run
//! ```
//!
//! Without snapshots the log only grows, so anything Raft or the tester does per operation in
//! proportion to the log's length (persisting the whole log, re-checking what was applied)
//! shows as a CPU cost per virtual second that grows with the run. Each run prints its virtual
//! time, the CPU time of the simulation thread, the commands committed, the persister's saves
//! and the bytes they were given, and the run's determinism digest (equal for two builds whose
//! Raft and tester behave the same). Nothing here is asserted on time: the figures are printed.
//!
//! The tester is the grader's (`tests/grader/`: the peers, the appliers that check every
//! applied command, Election Safety sampled every 5 ms, and the churn workload itself), compiled
//! into this binary from its source files.
//!
//! Settings (environment):
//!
//! * `RAFT_BENCH_SECS`: nominal run lengths in virtual seconds, comma-separated (default
//!   `15,45,150,450`); a run of S seconds makes `S * 4 / 3` rounds of 0.7 s, so 15 is the
//!   grader's own 20 rounds (about 16 s with the final agreement);
//! * `RAFT_BENCH_SEED` (default 1) and `RAFT_BENCH_UNRELIABLE=1` (the unreliable churn);
//! * `RAFT_BENCH_REPEAT` (default 1): runs of each length, interleaved (15, 45, ..., 15, ...).
//!
//! Run without `--bench` (as `cargo test --benches` does), it makes one short run only.

// The grader's modules, shared with `tests/grader/main.rs`; this binary uses part of them (and
// their unit tests do not run here).
#[allow(dead_code)]
#[path = "../tests/grader/appliers.rs"]
mod appliers;
#[allow(dead_code)]
#[path = "../tests/grader/churn.rs"]
mod churn;
#[allow(dead_code, unused_imports)]
#[path = "../tests/grader/leaders.rs"]
mod leaders;
#[allow(dead_code)]
#[path = "../tests/grader/peers.rs"]
mod peers;
#[allow(dead_code)]
#[path = "../tests/grader/tester.rs"]
mod tester;

use std::time::Duration;

use labrpc::sim;

/// What one run measured.
struct Measure {
    virtual_time: Duration,
    cpu: Duration,
    committed: u64,
    saves: u64,
    saved_bytes: u64,
    applied: u64,
    digest: u64,
}

/// CPU time the calling thread has used so far, from `/proc/thread-self/schedstat` (Linux;
/// nanoseconds). The simulation runs on a fresh thread, so read at the end of the run it is
/// the run's CPU time: setup and the whole workload, without the teardown.
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("long_run: needs Linux's /proc/thread-self/schedstat for CPU time");
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("long_run: unreadable schedstat");
    Duration::from_nanos(ns)
}

/// One churn run of `rounds` rounds.
fn run(seed: u64, unreliable: bool, rounds: usize) -> Measure {
    let mut settings = sim::RunSettings::new(seed);
    // Far above any run here: the limits are for grader tests (MIT's 120 s), and the final
    // check of a long run (thousands of indices at one virtual instant) is not a busy loop.
    settings.time_limit = Duration::from_secs(100_000);
    settings.busy_after = Duration::from_secs(3600);
    settings.thread_name = "long_run".to_string();
    let outcome = sim::run(&settings, move || async move {
        let churned = churn::churn(unreliable, rounds).await;
        (churned, thread_cpu_time())
    })
    .unwrap_or_else(|failure| panic!("long_run: the churn run failed: {failure}"));
    let (churned, cpu) = outcome.value;
    Measure {
        virtual_time: outcome.virtual_time,
        cpu,
        committed: churned.committed,
        saves: churned.saves,
        saved_bytes: churned.saved_bytes,
        applied: churned.applied,
        digest: outcome.digest,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}")),
        Err(_) => default,
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let secs: Vec<u64> = match std::env::var("RAFT_BENCH_SECS") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().parse().expect("RAFT_BENCH_SECS: virtual seconds"))
            .collect(),
        Err(_) if bench => vec![15, 45, 150, 450],
        Err(_) => vec![3],
    };
    let seed = env_or("RAFT_BENCH_SEED", 1u64);
    let unreliable = env_or("RAFT_BENCH_UNRELIABLE", 0u8) != 0;
    let repeat = env_or("RAFT_BENCH_REPEAT", 1usize);
    let workload = if unreliable {
        "unreliable churn"
    } else {
        "churn"
    };
    println!(
        "long_run: {workload}, 5 peers, no snapshots, seed {seed}, reference={}",
        raft::REFERENCE
    );
    println!(
        "{:>6} {:>6} {:>9} {:>8} {:>10} {:>6} {:>9} {:>9} {:>8} {:>6} {:>9} {:>14} {:>18}",
        "secs",
        "rounds",
        "virtual",
        "cpu",
        "cpu/virt",
        "norm",
        "committed",
        "applied",
        "cpu/appl",
        "norm",
        "saves",
        "saved bytes",
        "digest"
    );
    // CPU per virtual second, and per command applied, of the first length, which the others
    // are compared with.
    let mut base: Option<(f64, f64)> = None;
    for _ in 0..repeat {
        for &s in &secs {
            let rounds = (s * 4 / 3).max(1) as usize;
            let m = run(seed, unreliable, rounds);
            let per_virtual = m.cpu.as_secs_f64() / m.virtual_time.as_secs_f64();
            let per_applied = m.cpu.as_secs_f64() / m.applied.max(1) as f64;
            let (base_virtual, base_applied) = *base.get_or_insert((per_virtual, per_applied));
            println!(
                "{s:>6} {rounds:>6} {:>8.1}s {:>7.3}s {:>9.5}s {:>6.2} {:>9} {:>9} {:>6.2}us {:>6.2} {:>9} {:>14} {:>18x}",
                m.virtual_time.as_secs_f64(),
                m.cpu.as_secs_f64(),
                per_virtual,
                per_virtual / base_virtual,
                m.committed,
                m.applied,
                per_applied * 1e6,
                per_applied / base_applied,
                m.saves,
                m.saved_bytes,
                m.digest
            );
        }
    }
}
