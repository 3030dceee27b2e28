//! Times the linearizability checker on the six known-answer key/value histories.
//!
//! `cargo bench -p labtest --bench linearizability` prints, per file, the verdict and the best
//! and median wall time of several checks (parsing excluded). The target for c50-ok is under
//! 0.15 s; porcupine takes about 0.27 s.

use labtest::linearizability::{check_operations, kv::KvModel, kv_testdata_dir, parse_edn};
use std::time::{Duration, Instant};

const FILES: [(&str, bool); 6] = [
    ("c01-ok", true),
    ("c01-bad", false),
    ("c10-ok", true),
    ("c10-bad", false),
    ("c50-ok", true),
    ("c50-bad", false),
];
const RUNS: usize = 11;

fn main() {
    let dir = kv_testdata_dir();
    println!(
        "{:<8} {:>5} {:>12} {:>12}  verdict",
        "file", "ops", "best", "median"
    );
    for (name, linearizable) in FILES {
        let path = dir.join(format!("{name}.txt"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let ops = parse_edn(&text).expect("parse");
        let n = ops.len();
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        let mut verdict = String::new();
        for _ in 0..RUNS {
            let history = ops.clone();
            let start = Instant::now();
            let result = check_operations(&KvModel, history, None);
            times.push(start.elapsed());
            assert_eq!(result.is_ok(), linearizable, "{name}: wrong verdict");
            assert_eq!(result.is_illegal(), !linearizable, "{name}: wrong verdict");
            verdict = if linearizable { "Ok" } else { "Illegal" }.to_string();
        }
        times.sort();
        println!(
            "{name:<8} {n:>5} {:>12.3?} {:>12.3?}  {verdict}",
            times[0],
            times[RUNS / 2]
        );
    }
}
