//! `cargo lab grade`: every test of the selected parts on K seeds, a score table, and JSON for
//! a course's grading system.
//!
//! A test earns its points only if it passed on every seed: a test that passes on some seeds
//! and fails on others is shown as flaky, with the seeds that failed, and earns nothing (a
//! grader must not reward a solution that is wrong one time in five).

use serde::Serialize;

use crate::pool::{run_jobs, Job, PoolOptions};
use crate::run::replay_command;
use crate::suite::{Build, GraderTest};
use crate::weights::Weights;

/// One test's grade.
#[derive(Serialize)]
pub struct TestGrade {
    pub test: String,
    pub lab: String,
    pub part: String,
    pub points: u32,
    pub earned: u32,
    pub runs: usize,
    pub passed: usize,
    /// `pass`, `fail` (no seed passed) or `flaky`.
    pub verdict: String,
    pub failing_seeds: Vec<u64>,
    /// The command that replays the first failing seed.
    pub replay: Option<String>,
    /// The diagnosis of the first failing seed (seed, virtual time, what went wrong).
    pub message: Option<String>,
    pub mean_virtual_secs: f64,
    /// Mean wall-clock seconds per run (machine-dependent, unlike everything else here).
    pub mean_wall_secs: f64,
    pub mean_rpcs: Option<f64>,
}

/// The whole grade.
#[derive(Serialize)]
pub struct Grade {
    pub selection: String,
    pub seeds: Vec<u64>,
    pub points: u32,
    pub earned: u32,
    /// Wall-clock seconds the whole grade took.
    pub wall_secs: f64,
    pub tests: Vec<TestGrade>,
}

/// Runs `tests` on `seeds` seeds starting at `first`.
pub fn grade(
    build: &Build,
    selection: &str,
    tests: &[GraderTest],
    weights: &Weights,
    first: u64,
    seeds: u64,
    opts: &PoolOptions,
) -> Grade {
    // allowed: the tool times the whole grade for reports, outside any simulation
    let start = std::time::Instant::now();
    let jobs: Vec<Job> = (0..tests.len())
        .flat_map(|test| {
            (0..seeds).map(move |i| Job {
                test,
                seed: first + i,
            })
        })
        .collect();
    let mut by_test: Vec<Vec<crate::run::RunResult>> = vec![Vec::new(); tests.len()];
    for (job, result) in run_jobs(build, tests, jobs, opts) {
        by_test[job.test].push(result);
    }
    let mut grades = Vec::new();
    for (test, mut results) in tests.iter().zip(by_test) {
        results.sort_by_key(|r| r.seed);
        let passed = results.iter().filter(|r| r.passed()).count();
        let failing_seeds: Vec<u64> = results
            .iter()
            .filter(|r| !r.passed())
            .map(|r| r.seed)
            .collect();
        let verdict = match (passed, failing_seeds.len()) {
            (_, 0) => "pass",
            (0, _) => "fail",
            _ => "flaky",
        };
        let points = weights.points(test);
        let n = results.len().max(1) as f64;
        let rpcs: Vec<u64> = results.iter().filter_map(|r| r.rpcs).collect();
        grades.push(TestGrade {
            test: test.short_name().to_string(),
            lab: test.lab.clone(),
            part: test.part().to_uppercase(),
            points,
            earned: if verdict == "pass" { points } else { 0 },
            runs: results.len(),
            passed,
            verdict: verdict.to_string(),
            replay: results
                .iter()
                .find(|r| !r.passed())
                .map(|r| replay_command(build, test, r)),
            message: results
                .iter()
                .find(|r| !r.passed())
                .map(|r| r.message.clone()),
            failing_seeds,
            mean_virtual_secs: results
                .iter()
                .map(|r| r.virtual_ms.unwrap_or(0) as f64 / 1000.0)
                .sum::<f64>()
                / n,
            mean_wall_secs: results.iter().map(|r| r.wall.as_secs_f64()).sum::<f64>() / n,
            mean_rpcs: (!rpcs.is_empty())
                .then(|| rpcs.iter().sum::<u64>() as f64 / rpcs.len() as f64),
        });
    }
    Grade {
        selection: selection.to_string(),
        seeds: (first..first + seeds).collect(),
        points: grades.iter().map(|g| g.points).sum(),
        earned: grades.iter().map(|g| g.earned).sum(),
        wall_secs: start.elapsed().as_secs_f64(),
        tests: grades,
    }
}

/// The score table.
pub fn table(grade: &Grade) -> String {
    let width = grade
        .tests
        .iter()
        .map(|t| t.test.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<width$}  part  points  passed  virtual s      RPCs  verdict\n",
        "test"
    );
    for t in &grade.tests {
        let rpcs = t.mean_rpcs.map_or("-".to_string(), |r| format!("{r:.0}"));
        let mut verdict = t.verdict.clone();
        if !t.failing_seeds.is_empty() {
            verdict.push_str(&format!(" (seeds {:?})", t.failing_seeds));
        }
        out.push_str(&format!(
            "{:<width$}  {:<4}  {:>2}/{:<3}  {:>3}/{:<2}  {:>9.1}  {:>8}  {verdict}\n",
            t.test, t.part, t.earned, t.points, t.passed, t.runs, t.mean_virtual_secs, rpcs
        ));
    }
    out.push_str(&format!(
        "\nscore: {}/{} points ({} tests, {} seeds each)\n",
        grade.earned,
        grade.points,
        grade.tests.len(),
        grade.seeds.len()
    ));
    for t in grade.tests.iter().filter(|t| t.replay.is_some()) {
        out.push_str(&format!(
            "  replay {}: {}\n",
            t.test,
            t.replay.as_deref().unwrap_or("")
        ));
    }
    out
}

/// What a test's grade says in words, for the formats a course's tools show: the verdict with
/// the seeds that failed, the first failure's diagnosis and the command that replays it.
pub fn explain(t: &TestGrade) -> String {
    let mut out = format!(
        "{}: passed {} of {} seeds, {}/{} points",
        t.verdict, t.passed, t.runs, t.earned, t.points
    );
    if !t.failing_seeds.is_empty() {
        out.push_str(&format!("\nfailing seeds: {:?}", t.failing_seeds));
    }
    if let Some(message) = t.message.as_deref().filter(|m| !m.is_empty()) {
        out.push_str(&format!("\nfirst failure: {message}"));
    }
    if let Some(replay) = &t.replay {
        out.push_str(&format!("\nreplay: {replay}"));
    }
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn test(name: &str, part: &str, points: u32, failing: &[u64], runs: usize) -> TestGrade {
        let passed = runs - failing.len();
        let verdict = match (passed, failing.len()) {
            (_, 0) => "pass",
            (0, _) => "fail",
            _ => "flaky",
        };
        let seed = failing.first().copied();
        TestGrade {
            test: name.into(),
            lab: "raft".into(),
            part: part.into(),
            points,
            earned: if failing.is_empty() { points } else { 0 },
            runs,
            passed,
            verdict: verdict.into(),
            failing_seeds: failing.to_vec(),
            replay: seed.map(|s| {
                format!("LAB_SEED={s} cargo test -p raft --release --test grader part{}::{name} -- --exact", part.to_lowercase())
            }),
            message: seed.map(|s| {
                format!(
                    "seed {s}, virtual time 4.966 s: panic in tester at raft/tests/grader/tester.rs:411:9: \
                     expected one leader, got none <&\"'> \u{1b}[31m"
                )
            }),
            mean_virtual_secs: 4.5,
            mean_wall_secs: 0.25,
            mean_rpcs: Some(58.0),
        }
    }

    /// A grade of three tests: one passed, one failed on every seed, one flaky (weight 3).
    pub fn sample() -> Grade {
        let tests = vec![
            test("initial_election_2a", "2A", 1, &[], 3),
            test("reelection_2a", "2A", 1, &[1, 2, 3], 3),
            test("figure8_2c", "2C", 3, &[2], 3),
        ];
        Grade {
            selection: "raft".into(),
            seeds: vec![1, 2, 3],
            points: tests.iter().map(|t| t.points).sum(),
            earned: tests.iter().map(|t| t.earned).sum(),
            wall_secs: 12.5,
            tests,
        }
    }

    #[test]
    fn explains_verdict_seeds_diagnosis_and_replay() {
        let g = sample();
        assert_eq!(
            explain(&g.tests[0]),
            "pass: passed 3 of 3 seeds, 1/1 points"
        );
        let flaky = explain(&g.tests[2]);
        assert!(flaky.starts_with("flaky: passed 2 of 3 seeds, 0/3 points\nfailing seeds: [2]\nfirst failure: seed 2, virtual time"), "{flaky}");
        assert!(flaky.ends_with("\nreplay: LAB_SEED=2 cargo test -p raft --release --test grader part2c::figure8_2c -- --exact"), "{flaky}");
    }
}
