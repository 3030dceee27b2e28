//! Running one grader test on a few seeds, in one process, and reading what happened.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labsim::harness::{Profile, ReplayCommand, TestTarget};

use crate::suite::{Build, GraderTest, GRADER_BINARY};

/// A run that takes longer than this in wall time (a process running several seeds: with no
/// seed finishing for this long) is killed. The simulation's own watchdog
/// stops deadlocks and busy loops much sooner; this only guards against what it cannot see.
const WALL_LIMIT: Duration = Duration::from_secs(600);

/// What one run of one test on one seed gave.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub seed: u64,
    /// `ok`, or how it failed: `panic`, `time-limit`, `deadlock`, `busy`, `blocked`, `rule`,
    /// `nondeterministic`, `crashed` (the process died without a verdict), `killed` (past the
    /// wall limit).
    pub status: String,
    /// Virtual time at the end of the run (or at the failure).
    pub virtual_ms: Option<u64>,
    pub wall: Duration,
    /// For a failure: the diagnosis line (seed, virtual time, what went wrong).
    pub message: String,
    /// RPCs, from MIT's "Passed" line when the test prints one.
    pub rpcs: Option<u64>,
}

impl RunResult {
    /// A run of `seed` that has given no verdict (yet): `crashed` unless its output says more.
    fn without_verdict(seed: u64) -> RunResult {
        RunResult {
            seed,
            status: "crashed".into(),
            virtual_ms: None,
            wall: Duration::ZERO,
            message: String::new(),
            rpcs: None,
        }
    }

    pub fn passed(&self) -> bool {
        self.status == "ok"
    }
}

/// Runs `test` on seeds `first..first + count` in one process (`LAB_SEEDS`: one process per
/// seed costs a third more CPU than the runs themselves on the short tests); with
/// `check_determinism`, runs each seed twice and compares. Returns the seeds' results in
/// order, as far as the process got: it stops at the first failing seed (the harness does), so
/// the seeds after a failure are missing from the result and the caller runs them again.
pub fn run_seeds(
    test: &GraderTest,
    first: u64,
    count: u64,
    check_determinism: bool,
) -> Vec<RunResult> {
    // allowed: the tool times child processes, outside any simulation
    let start = Instant::now();
    let mut cmd = Command::new(&test.binary);
    cmd.args(["--exact", &test.name, "--test-threads=1", "--nocapture"])
        .env("LAB_SEED", first.to_string())
        .env("LAB_SEEDS", count.to_string())
        .env("LAB_RESULT_LINES", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if check_determinism {
        cmd.env("LAB_CHECK_DETERMINISM", "1");
    } else {
        cmd.env_remove("LAB_CHECK_DETERMINISM");
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let mut result = RunResult::without_verdict(first);
            result.message = format!("cannot run {}: {e}", test.binary.display());
            return vec![result];
        }
    };
    // allowed: progress of a child process, for the tool's wall limit
    let progress = Arc::new(Mutex::new(Instant::now()));
    let stdout = read_in_background(child.stdout.take(), Some(progress.clone()));
    let stderr = read_in_background(child.stderr.take(), None);
    let mut exited_ok = false;
    let killed = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                exited_ok = status.success();
                break false;
            }
            Ok(None) if progress.lock().expect("progress lock").elapsed() > WALL_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break true;
            }
            // allowed: the tool polls a child process, outside any simulation
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break false,
        }
    };
    let wall = start.elapsed();
    let out = stdout.join().unwrap_or_default() + &stderr.join().unwrap_or_default();
    let mut results = parse_runs(&out, first, count);
    if results.len() as u64 == count && !exited_ok && results.iter().all(RunResult::passed) {
        // Every seed passed, yet the process failed: say so on the last one.
        let last = results.last_mut().expect("count >= 1");
        last.status = "crashed".into();
        last.message = "the test process failed after its last seed passed".into();
    }
    if results.is_empty() && exited_ok && out.contains("test result: ok. 1 passed") {
        // A grader test that does not run in a simulation prints no verdict line, and the seed
        // does not matter to it. (None does today; the graders' unit tests, which do not, are
        // not grader tests: see `suite::classify`.)
        results = (first..first + count)
            .map(|seed| RunResult {
                status: "ok".into(),
                ..RunResult::without_verdict(seed)
            })
            .collect();
    }
    let finished = results.len() as u64;
    if finished < count {
        // The process ended (or was killed) before the next seed's verdict.
        let mut result = RunResult::without_verdict(first + finished);
        result.message = first_error_line(&out);
        if killed {
            result.status = "killed".into();
            result.message = format!("no verdict after {} s of wall time", WALL_LIMIT.as_secs());
        }
        results.push(result);
    }
    // Each seed's share of the process's wall time (the tool does not time seeds one by one).
    let share = wall / results.len().max(1) as u32;
    for result in &mut results {
        result.wall = share;
    }
    results
}

/// Reads `pipe` to its end on a thread of its own; with `progress`, notes the moment of each
/// `lab-result` line (a seed finished), for the wall limit.
fn read_in_background<R: Read + Send + 'static>(
    pipe: Option<R>,
    progress: Option<Arc<Mutex<Instant>>>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let Some(pipe) = pipe else {
            return text;
        };
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let piece = String::from_utf8_lossy(&line);
            if let (Some(progress), true) = (&progress, piece.contains("lab-result ")) {
                // allowed: progress of a child process, for the tool's wall limit
                *progress.lock().expect("progress lock") = Instant::now();
            }
            text.push_str(&piece);
            line.clear();
        }
        text
    })
}

/// The runs of seeds `first..first + count` in one process's output, in order: one per
/// `lab-result` line, each with the diagnosis and the RPC count printed before it.
fn parse_runs(out: &str, first: u64, count: u64) -> Vec<RunResult> {
    let mut results = Vec::new();
    let mut lines = Vec::new();
    for line in out.lines() {
        lines.push(line);
        if let Some(at) = line.find("lab-result ") {
            let seed = line[at..]
                .split_whitespace()
                .find_map(|f| f.strip_prefix("seed=")?.parse().ok())
                .unwrap_or(first + results.len() as u64);
            let mut result = RunResult::without_verdict(seed);
            parse_output(&lines.join("\n"), &mut result);
            if !result.passed() {
                // The diagnosis is in the panic message, on stderr, after every result line.
                let diagnosis = format!("seed {seed}, virtual time");
                if let Some(found) = out.lines().find(|l| l.starts_with(&diagnosis)) {
                    result.message = found.to_string();
                }
            }
            results.push(result);
            lines.clear();
            if results.len() as u64 == count {
                break;
            }
        }
    }
    results
}

/// Reads the `lab-result` line, the failure's diagnosis and the RPC count: the `rpcs` field
/// of the `lab-result` line (which every lab's tester reports, see `labtest::report`), or else
/// MIT's "Passed" line (Raft: time, peers, RPCs, bytes, commands; kvraft: time, peers, RPCs,
/// ops).
fn parse_output(out: &str, result: &mut RunResult) {
    let mut passed_line_rpcs = None;
    let mut result_line_rpcs = None;
    for line in out.lines() {
        // libtest prints "test name ... " without a newline before the test's own output.
        if let Some(rest) = line.find("lab-result ").map(|at| &line[at + 11..]) {
            for field in rest.split_whitespace() {
                match field.split_once('=') {
                    Some(("status", v)) => result.status = v.to_string(),
                    Some(("virtual_ms", v)) => result.virtual_ms = v.parse().ok(),
                    Some(("rpcs", v)) => result_line_rpcs = v.parse().ok(),
                    _ => {}
                }
            }
        } else if line.starts_with(&format!("seed {}, virtual time", result.seed)) {
            result.message = line.to_string();
        } else if let Some(rest) = line.trim_start().strip_prefix("... Passed --") {
            // time, peers, RPCs, ...
            passed_line_rpcs = rest.split_whitespace().nth(2).and_then(|v| v.parse().ok());
        }
    }
    result.rpcs = result_line_rpcs.or(passed_line_rpcs);
    if result.status != "ok" && result.message.is_empty() {
        result.message = first_error_line(out);
    }
}

/// The line of `out` that best says why a run gave no verdict of its own.
fn first_error_line(out: &str) -> String {
    out.lines()
        .find(|l| l.contains("panicked at") || l.contains("error"))
        .unwrap_or("the test process ended without a verdict")
        .to_string()
}

/// What a failed run prints the moment it fails, progress bar or not: a run interrupted later
/// must not lose the failures it already found.
pub fn failure_report(build: &Build, test: &GraderTest, result: &RunResult) -> String {
    format!(
        "FAILED {} seed {} ({}): {}\n  replay: {}",
        test.name,
        result.seed,
        result.status,
        result.message,
        replay_command(build, test, result)
    )
}

/// The command that replays a failed run: the one the test itself prints when it fails
/// ([`ReplayCommand`], which also formats the graders' own), for a failure the tool found. A
/// run that failed the determinism check replays with it.
pub fn replay_command(build: &Build, test: &GraderTest, result: &RunResult) -> String {
    ReplayCommand {
        seed: result.seed,
        check_determinism: result.status == "nondeterministic",
        package: test.lab.clone(),
        profile: if build.release {
            Profile::Release
        } else {
            Profile::Dev
        },
        features: build.features(&test.lab),
        target: TestTarget::Test(GRADER_BINARY.into()),
        test: test.name.clone(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rpcs_from_the_result_line_for_every_lab_shape() {
        // kvraft: MIT's 3A line (time, peers, RPCs, ops) in several measured parts; the result
        // line carries their sum, and wins over the last human line.
        let mut r = RunResult::without_verdict(3);
        let out = "test part3a::one_partition_3a ... Test: progress in majority (3A) ...\n  \
                   ... Passed --   1.2  5   300   12\nTest: completion after heal (3A) ...\n  \
                   ... Passed --   2.0  5   400   10\n\
                   lab-result seed=3 status=ok virtual_ms=3200 rpcs=700\nok\n";
        parse_output(out, &mut r);
        assert_eq!(
            (r.status.as_str(), r.virtual_ms, r.rpcs),
            ("ok", Some(3200), Some(700))
        );
        // kvraft without a result field (an older labtest): the 3A line's third column.
        let mut r = RunResult::without_verdict(3);
        parse_output(
            "Test: basic (3A) ...\n  ... Passed --  15.3  5  9001  355\n\
             lab-result seed=3 status=ok virtual_ms=15300\n",
            &mut r,
        );
        assert_eq!(r.rpcs, Some(9001));
        // shardmaster / shardkv: MIT's bare "... Passed", the count only on the result line.
        let mut r = RunResult::without_verdict(4);
        parse_output(
            "Test: Basic leave/join ...\n  ... Passed\nTest: Move ...\n  ... Passed\n\
             test part4a::basic_4a ... lab-result seed=4 status=ok virtual_ms=9000 rpcs=1234\n",
            &mut r,
        );
        assert_eq!((r.status.as_str(), r.rpcs), ("ok", Some(1234)));
        let mut r = RunResult::without_verdict(4);
        parse_output(
            "Test: static shards ...\n  ... Passed\nlab-result seed=4 status=ok virtual_ms=9\n",
            &mut r,
        );
        assert_eq!((r.status.as_str(), r.rpcs), ("ok", None));
    }

    #[test]
    fn reads_each_seed_of_a_process_that_ran_several() {
        // Seeds 5 and 6 pass, seed 7 fails: its diagnosis is in the panic message on stderr,
        // after the result lines; seed 8 never ran.
        let out = "Test (2A): initial election ...\n  ... Passed --   3.1  3   58     572    0\n\
                   lab-result seed=5 status=ok virtual_ms=3100\n\
                   Test (2A): initial election ...\n  ... Passed --   3.0  3   60     580    0\n\
                   lab-result seed=6 status=ok virtual_ms=3000\n\
                   Test (2A): initial election ...\n\
                   lab-result seed=7 status=deadlock virtual_ms=1000\n\
                   thread 'x' panicked at src/lib.rs:1:1:\n\
                   seed 7, virtual time 1.000 s: deadlock: every task waits\n";
        let runs = parse_runs(out, 5, 4);
        let seen: Vec<_> = runs
            .iter()
            .map(|r| (r.seed, r.status.as_str(), r.rpcs))
            .collect();
        assert_eq!(
            seen,
            [
                (5, "ok", Some(58)),
                (6, "ok", Some(60)),
                (7, "deadlock", None)
            ]
        );
        assert_eq!(
            runs[2].message,
            "seed 7, virtual time 1.000 s: deadlock: every task waits"
        );
    }

    #[test]
    fn reads_verdict_diagnosis_and_rpcs() {
        let mut r = RunResult::without_verdict(7);
        let out = "Test (2A): initial election ...\n  ... Passed --   3.1  3   58     572    0\n\
                   lab-result seed=7 status=ok virtual_ms=3100\n";
        parse_output(out, &mut r);
        assert_eq!(
            (r.status.as_str(), r.virtual_ms, r.rpcs),
            ("ok", Some(3100), Some(58))
        );
        let build = Build {
            reference: true,
            release: false,
            root: Default::default(),
            target_dir: None,
        };
        let test = GraderTest {
            lab: "raft".into(),
            binary: Default::default(),
            name: "part2a::x_2a".into(),
        };
        let out = "seed 7, virtual time 1.000 s: deadlock: ...\n\
                   test part2a::x ... lab-result seed=7 status=deadlock virtual_ms=1000\n";
        parse_output(out, &mut r);
        assert_eq!(r.status, "deadlock");
        assert_eq!(r.rpcs, None);
        assert!(r
            .message
            .starts_with("seed 7, virtual time 1.000 s: deadlock"));
        assert_eq!(
            failure_report(&build, &test, &r),
            "FAILED part2a::x_2a seed 7 (deadlock): seed 7, virtual time 1.000 s: deadlock: ...\n  \
             replay: LAB_SEED=7 cargo test -p raft --features reference --test grader \
             part2a::x_2a -- --exact"
        );
        // A failure of the determinism check replays with the check, in the build it ran in.
        r.status = "nondeterministic".into();
        let release = Build {
            release: true,
            ..build
        };
        assert_eq!(
            replay_command(&release, &test, &r),
            "LAB_SEED=7 LAB_CHECK_DETERMINISM=1 cargo test -p raft --release --features \
             reference --test grader part2a::x_2a -- --exact"
        );
    }
}
