//! Runs many (test, seed) jobs on worker threads, with a progress bar.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};

use crate::run::{failure_report, run_test, RunResult};
use crate::suite::{Build, GraderTest};

/// One job: a test and a seed.
#[derive(Clone)]
pub struct Job {
    pub test: usize,
    pub seed: u64,
}

/// Options for a batch of runs.
pub struct PoolOptions {
    pub workers: usize,
    pub fail_fast: bool,
    pub check_determinism: bool,
    pub progress: bool,
}

/// Runs `jobs` (indices into `tests`) and returns `(job, result)` pairs in completion order.
/// With `fail_fast`, stops handing out jobs after the first failure. Each failure is printed
/// (to stderr) as it comes in, with its replay command, even without a progress bar.
pub fn run_jobs(
    build: &Build,
    tests: &[GraderTest],
    jobs: Vec<Job>,
    opts: &PoolOptions,
) -> Vec<(Job, RunResult)> {
    let bar = if opts.progress {
        let bar = ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40.cyan/blue}] {pos}/{len} runs, {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_message("0 failed");
        bar
    } else {
        ProgressBar::hidden()
    };
    let queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let stop = Arc::new(AtomicBool::new(false));
    let tests = Arc::new(tests.to_vec());
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..opts.workers.max(1))
        .map(|_| {
            let (queue, stop, tests, tx) = (queue.clone(), stop.clone(), tests.clone(), tx.clone());
            let (fail_fast, determinism) = (opts.fail_fast, opts.check_determinism);
            std::thread::spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Some(job) = queue.lock().expect("queue lock").pop_front() else {
                    return;
                };
                let result = run_test(&tests[job.test], job.seed, determinism);
                if fail_fast && !result.passed() {
                    stop.store(true, Ordering::SeqCst);
                }
                if tx.send((job, result)).is_err() {
                    return;
                }
            })
        })
        .collect();
    drop(tx);
    let mut results = Vec::new();
    let mut failed = 0;
    for (job, result) in rx {
        if !result.passed() {
            failed += 1;
            bar.set_message(format!("{failed} failed"));
            let report = failure_report(build, &tests[job.test], &result);
            // Not `bar.println`: a hidden bar (--quiet, or stderr not a terminal) prints nothing.
            bar.suspend(|| eprintln!("{report}"));
        }
        bar.inc(1);
        results.push((job, result));
    }
    for worker in workers {
        let _ = worker.join();
    }
    bar.finish_and_clear();
    results
}

/// The number of workers to use by default: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
