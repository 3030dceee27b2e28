//! Times the linearizability checker on the known-answer key/value histories, and measures what
//! its work budget costs in time.
//!
//! `cargo bench -p labtest --bench linearizability` prints, per file, the verdict, the search
//! steps it took (the same on every machine) and the best and median wall time of several checks
//! (parsing excluded), with the steps per second of the best. The target for c50-ok is under
//! 0.15 s; porcupine takes about 0.27 s. `shardkv-unreliable3-seed298` is the hardest history of
//! the reference shardkv measured, checked to the end (without a budget).
//!
//! Then it checks, with the testers' budget [`labtest::linearizability::CHECK_BUDGET`], histories
//! whose search explodes: 15 concurrent appends (as many clients as the kvraft tests have) to one
//! key and a read they cannot explain, the value starting empty or 800 bytes long (about the
//! longest value a grader's shared key reaches). Each check uses up the whole budget and comes
//! back Unknown, which is the longest a tester's check can take; nearly every step stores a new
//! state, the costliest kind of step. The budget is meant to cost about MIT's 1 s
//! `linearizabilityCheckTimeout` or less.

use labtest::linearizability::kv::{KvInput, KvModel, KvOperation};
use labtest::linearizability::{
    check_operations_counted, kv_testdata_dir, parse_edn, CheckResult, Operation, CHECK_BUDGET,
};
use std::time::{Duration, Instant};

const FILES: [(&str, bool, usize); 7] = [
    ("c01-ok", true, 11),
    ("c01-bad", false, 11),
    ("c10-ok", true, 11),
    ("c10-bad", false, 11),
    ("c50-ok", true, 11),
    ("c50-bad", false, 11),
    ("shardkv-unreliable3-seed298", true, 3),
];
/// Runs of a check that uses up the whole budget.
const EXHAUST_RUNS: usize = 3;

/// Checks `history` `runs` times; returns the steps and the sorted times. Panics unless every
/// run gives `verdict` with the same number of steps.
fn time(
    history: &[KvOperation],
    max_steps: Option<u64>,
    runs: usize,
    verdict: &str,
) -> (u64, Vec<Duration>) {
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut steps = None;
    for _ in 0..runs {
        let history = history.to_vec();
        let start = Instant::now();
        let (result, n) = check_operations_counted(&KvModel, history, max_steps);
        times.push(start.elapsed());
        let got = match result {
            CheckResult::Ok => "Ok",
            CheckResult::Illegal(_) => "Illegal",
            CheckResult::Unknown => "Unknown",
        };
        assert_eq!(got, verdict, "wrong verdict");
        assert_eq!(*steps.get_or_insert(n), n, "steps differ between runs");
    }
    times.sort();
    (steps.unwrap_or(0), times)
}

fn print_row(name: &str, ops: usize, steps: u64, times: &[Duration], verdict: &str) {
    let best = times[0];
    let per_second = steps as f64 / best.as_secs_f64().max(1e-9);
    println!(
        "{name:<27} {ops:>5} {steps:>10} {:>12.3?} {:>12.3?} {:>9.2}M  {verdict}",
        best,
        times[times.len() / 2],
        per_second / 1e6
    );
}

/// `clients` concurrent appends of distinct values to one key, after a put of `base` bytes,
/// and a concurrent get of a value they cannot produce: every order of every subset of the
/// appends is a distinct state, so the search never ends. The base makes every state (and so
/// every model step and cache lookup) `base` bytes larger.
fn exploding(clients: usize, base: usize) -> Vec<KvOperation> {
    let mut ops = vec![Operation::new(
        clients + 1,
        KvInput::Put("k".into(), "x".repeat(base)),
        String::new(),
        0,
        1,
    )];
    ops.extend((0..clients).map(|i| {
        Operation::new(
            i,
            KvInput::Append("k".into(), format!("x {i} 0 y")),
            String::new(),
            2,
            1000,
        )
    }));
    ops.push(Operation::new(
        clients,
        KvInput::Get("k".into()),
        "impossible".into(),
        2,
        1000,
    ));
    ops
}

fn main() {
    let dir = kv_testdata_dir();
    println!(
        "{:<27} {:>5} {:>10} {:>12} {:>12} {:>10}  verdict",
        "history", "ops", "steps", "best", "median", "steps/s"
    );
    for (name, linearizable, runs) in FILES {
        let path = dir.join(format!("{name}.txt"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let ops = parse_edn(&text).expect("parse");
        let verdict = if linearizable { "Ok" } else { "Illegal" };
        let (steps, times) = time(&ops, None, runs, verdict);
        print_row(name, ops.len(), steps, &times, verdict);
    }
    println!("with the testers' budget of {CHECK_BUDGET} steps:");
    for (clients, base) in [(15, 0), (15, 800)] {
        let ops = exploding(clients, base);
        let name = format!("{clients} appends to {base} bytes");
        let (steps, times) = time(&ops, Some(CHECK_BUDGET), EXHAUST_RUNS, "Unknown");
        assert_eq!(steps, CHECK_BUDGET);
        print_row(&name, ops.len(), steps, &times, "Unknown");
    }
}
