//! `cargo lab stress`: selected tests over many seeds, in parallel, with a summary.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::pool::{run_jobs, Job, PoolOptions};
use crate::run::{replay_command, RunResult};
use crate::suite::{Build, GraderTest};

/// The summary of a stress run.
pub struct Summary {
    pub runs: usize,
    pub failures: Vec<(usize, RunResult)>,
    /// Per test: the slowest run in virtual ms and in wall time.
    pub slowest: BTreeMap<usize, (u64, Duration)>,
}

/// Runs every test in `tests` on seeds `first..first + seeds`.
pub fn stress(
    build: &Build,
    tests: &[GraderTest],
    first: u64,
    seeds: u64,
    opts: &PoolOptions,
) -> Summary {
    let jobs: Vec<Job> = (0..seeds)
        .flat_map(|i| {
            (0..tests.len()).map(move |test| Job {
                test,
                seed: first + i,
            })
        })
        .collect();
    let results = run_jobs(build, tests, jobs, opts);
    let mut summary = Summary {
        runs: results.len(),
        failures: Vec::new(),
        slowest: BTreeMap::new(),
    };
    for (job, result) in results {
        let slot = summary
            .slowest
            .entry(job.test)
            .or_insert((0, Duration::ZERO));
        slot.0 = slot.0.max(result.virtual_ms.unwrap_or(0));
        slot.1 = slot.1.max(result.wall);
        if !result.passed() {
            summary.failures.push((job.test, result));
        }
    }
    summary.failures.sort_by_key(|(test, r)| (*test, r.seed));
    summary
}

/// The summary as text: runs, failures with their replay commands, and the slowest tests.
pub fn report(build: &Build, tests: &[GraderTest], s: &Summary) -> String {
    let mut out = format!(
        "{} runs of {} tests: {} passed, {} failed\n",
        s.runs,
        tests.len(),
        s.runs - s.failures.len(),
        s.failures.len()
    );
    if !s.failures.is_empty() {
        out.push_str("\nfailures:\n");
        for (test, r) in &s.failures {
            let t = &tests[*test];
            out.push_str(&format!(
                "  {} seed {} ({}): {}\n    replay: {}\n",
                t.name,
                r.seed,
                r.status,
                r.message,
                replay_command(build, t, r)
            ));
        }
    }
    let mut by_virtual: Vec<_> = s.slowest.iter().collect();
    by_virtual.sort_by_key(|(_, (v, _))| std::cmp::Reverse(*v));
    out.push_str("\nslowest tests (worst run), virtual time:\n");
    for (test, (v, _)) in by_virtual.iter().take(5) {
        out.push_str(&format!(
            "  {:>8.1} s  {}\n",
            *v as f64 / 1000.0,
            tests[**test].name
        ));
    }
    let mut by_wall: Vec<_> = s.slowest.iter().collect();
    by_wall.sort_by_key(|(_, (_, w))| std::cmp::Reverse(*w));
    out.push_str("slowest tests (worst run), wall time:\n");
    for (test, (_, w)) in by_wall.iter().take(5) {
        out.push_str(&format!(
            "  {:>8.3} s  {}\n",
            w.as_secs_f64(),
            tests[**test].name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passes and failures mix in a summary: the count of each, and each failure with its
    /// diagnosis and the command that replays it (with the determinism check where it failed
    /// that).
    #[test]
    fn a_report_counts_passes_and_failures_and_replays_each_failure() {
        let build = Build {
            reference: true,
            release: true,
            root: Default::default(),
            target_dir: None,
        };
        let tests = vec![GraderTest {
            lab: "raft".into(),
            binary: Default::default(),
            name: "part2a::initial_election_2a".into(),
        }];
        let failed = |seed: u64, status: &str| RunResult {
            seed,
            status: status.into(),
            virtual_ms: Some(5000),
            wall: Duration::from_millis(10),
            message: format!("seed {seed}, virtual time 5.000 s: ..."),
            rpcs: None,
        };
        let summary = Summary {
            runs: 7,
            failures: vec![(0, failed(3, "panic")), (0, failed(6, "nondeterministic"))],
            slowest: [(0, (5000, Duration::from_millis(10)))]
                .into_iter()
                .collect(),
        };
        let text = report(&build, &tests, &summary);
        assert!(
            text.starts_with("7 runs of 1 tests: 5 passed, 2 failed\n\nfailures:\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  part2a::initial_election_2a seed 3 (panic): seed 3, virtual time 5.000 s: \
                 ...\n    replay: LAB_SEED=3 cargo test -p raft --release --features reference \
                 --test grader part2a::initial_election_2a -- --exact\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\n    replay: LAB_SEED=6 LAB_CHECK_DETERMINISM=1 cargo test -p raft --release"
            ),
            "{text}"
        );
    }
}
