//! Runs many (test, seed) jobs on worker threads, with a progress bar. Consecutive seeds of a
//! test run in one process (a batch), which saves the cost of starting one per seed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};

use crate::run::{failure_report, run_seeds, RunResult};
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

/// Seeds one process runs at most. Enough to make the cost of starting a process small (a
/// short Raft test runs in about a millisecond; a process starts in a few), few enough that
/// the workers share a stress run's last jobs evenly.
const MAX_BATCH: usize = 16;

/// Consecutive seeds of one test, run in one process.
struct Batch {
    test: usize,
    first: u64,
    count: u64,
}

/// `jobs` as batches: consecutive seeds of a test, up to `size` of them, in the order of the
/// jobs' first seeds.
fn batches(mut jobs: Vec<Job>, size: usize) -> VecDeque<Batch> {
    jobs.sort_by_key(|j| (j.seed, j.test));
    let mut open: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut out: Vec<Batch> = Vec::new();
    for job in jobs {
        match open.get(&job.test).map(|&at| &mut out[at]) {
            Some(b) if b.first + b.count == job.seed && (b.count as usize) < size => b.count += 1,
            _ => {
                open.insert(job.test, out.len());
                out.push(Batch {
                    test: job.test,
                    first: job.seed,
                    count: 1,
                });
            }
        }
    }
    out.into()
}

/// How many seeds a batch holds for `jobs` jobs on `workers` workers: small enough that each
/// worker gets several batches, so that they finish together.
fn batch_size(jobs: usize, workers: usize) -> usize {
    (jobs / (4 * workers.max(1))).clamp(1, MAX_BATCH)
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
    let size = batch_size(jobs.len(), opts.workers);
    let queue = Arc::new(Mutex::new(batches(jobs, size)));
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
                let Some(batch) = queue.lock().expect("queue lock").pop_front() else {
                    return;
                };
                let results = run_seeds(&tests[batch.test], batch.first, batch.count, determinism);
                let done = results.len() as u64;
                if done < batch.count {
                    // The process stopped at a failure: the seeds after it go back in line.
                    queue.lock().expect("queue lock").push_front(Batch {
                        test: batch.test,
                        first: batch.first + done,
                        count: batch.count - done,
                    });
                }
                for result in results {
                    if fail_fast && !result.passed() {
                        stop.store(true, Ordering::SeqCst);
                    }
                    let job = Job {
                        test: batch.test,
                        seed: result.seed,
                    };
                    if tx.send((job, result)).is_err() {
                        return;
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_seeds_of_a_test_share_a_batch() {
        let jobs: Vec<Job> = (1..=5)
            .flat_map(|seed| (0..2).map(move |test| Job { test, seed }))
            .chain([Job { test: 0, seed: 9 }])
            .collect();
        let got: Vec<_> = batches(jobs, 2)
            .iter()
            .map(|b| (b.test, b.first, b.count))
            .collect();
        assert_eq!(
            got,
            [
                (0, 1, 2),
                (1, 1, 2),
                (0, 3, 2),
                (1, 3, 2),
                (0, 5, 1),
                (1, 5, 1),
                (0, 9, 1)
            ]
        );
        assert_eq!(batch_size(10, 2), 1);
        assert_eq!(batch_size(400, 2), 16);
        assert_eq!(batch_size(80, 2), 10);
    }
}
