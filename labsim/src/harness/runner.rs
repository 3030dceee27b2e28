//! The entry point of every grader test: seeds from the environment, failure reports with the
//! command that replays them, runs over many seeds, and the determinism check.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::panic::Location;
use std::time::Duration;

use super::env::{Env, TraceMode};
use super::replay::{build_of, ReplayCommand};
use super::reports::write_timeline;
use super::result_line::{result_line, Passed};
use super::trace::Trace;
use crate::failure::{Failure, FailureKind};
use crate::runtime::{self, Outcome, RunSettings};

/// A grader test: how to run it, and how to tell the student to replay it.
#[derive(Clone, Debug)]
pub struct Test {
    time_limit: Duration,
    package: Option<String>,
    features: String,
    check_determinism: bool,
    /// The source file that started the test, to tell a library's unit tests from an
    /// integration test of the same name (see [`build_of`]).
    caller: &'static Location<'static>,
}

/// Runs `body` as a grader test with the defaults of [`Test`]. Call it from a `#[test]` function.
#[track_caller]
pub fn test<F, Fut>(body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    Test::new().run(body)
}

impl Default for Test {
    #[track_caller]
    fn default() -> Self {
        Test::new()
    }
}

impl Test {
    /// MIT's limit of 120 virtual seconds, no cargo features.
    #[track_caller]
    pub fn new() -> Self {
        Test {
            time_limit: Duration::from_secs(120),
            package: None,
            features: String::new(),
            check_determinism: false,
            caller: Location::caller(),
        }
    }

    /// Sets the virtual-time limit.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// The package the replay command tests (default: `CARGO_PKG_NAME` at run time, which
    /// `cargo test` sets; pass `env!("CARGO_PKG_NAME")` to name it when the test binary runs
    /// on its own).
    pub fn package(mut self, package: impl Into<String>) -> Self {
        self.package = Some(package.into());
        self
    }

    /// The cargo features the test was built with, for the replay command (e.g.
    /// `reference,raft/reference`; empty for none).
    pub fn features(mut self, features: impl Into<String>) -> Self {
        self.features = features.into();
        self
    }

    /// Runs every seed twice and fails if the runs differ, as `LAB_CHECK_DETERMINISM=1` does.
    pub fn check_determinism(mut self, on: bool) -> Self {
        self.check_determinism = on;
        self
    }

    /// Runs the test as the environment asks (see [`super`]). Panics with a report that holds
    /// the seed, the virtual time, the diagnosis and the replay command when it fails.
    pub fn run<F, Fut>(self, body: F)
    where
        F: Fn() -> Fut + Send + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let mut env = Env::read().unwrap_or_else(|e| panic!("{e}"));
        env.check_determinism |= self.check_determinism;
        let first = env.seed.unwrap_or_else(fresh_seed);
        for i in 0..env.seeds {
            let seed = first.wrapping_add(i);
            if let Err(report) = self.run_one(seed, &env, &body) {
                let passed_before = if env.seeds > 1 {
                    format!("  ({i} seeds passed before this one)\n")
                } else {
                    String::new()
                };
                panic!("{report}{passed_before}");
            }
        }
        if env.seeds > 1 {
            println!(
                "passed {} seeds ({first}..={})",
                env.seeds,
                first.wrapping_add(env.seeds - 1)
            );
        }
    }

    /// Runs `seed` as the environment asks, with its result line and timeline; on failure,
    /// returns the report: the diagnosis, whether a traced replay reproduced it, the replay
    /// command and the timeline.
    fn run_one<F, Fut>(&self, seed: u64, env: &Env, body: &F) -> Result<(), String>
    where
        F: Fn() -> Fut + Send + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let trace = match env.trace {
            TraceMode::Print => Some(Trace::new(true)),
            TraceMode::Html => Some(Trace::new(false)),
            TraceMode::OnFailure | TraceMode::Off => None,
        };
        let result = self.run_seed(seed, env, body.clone(), trace.clone());
        if env.result_lines {
            println!("{}", result_line(seed, &result));
        }
        let failure = result.as_ref().err();
        let mut replayed = None;
        let timeline = match (failure, env.trace, trace) {
            (_, TraceMode::Html, Some(trace)) => Some(write_timeline(seed, &trace, failure)),
            // A thread that never came back to the scheduler may still be spinning or
            // blocked: a second run would only wait as long again.
            (Some(failure), TraceMode::OnFailure, _) if failure.kind.stuck_thread() => None,
            // A failed run is deterministic: run it again with a trace for its timeline, and
            // see that it fails the same way.
            (Some(failure), TraceMode::OnFailure, _) => {
                let trace = Trace::new(false);
                replayed = Some(self.run_seed(seed, env, body.clone(), Some(trace.clone())));
                Some(write_timeline(seed, &trace, Some(failure)))
            }
            _ => None,
        };
        let failure = match result {
            Ok(_) => {
                if let Some(path) = &timeline {
                    println!("timeline: {path}");
                }
                return Ok(());
            }
            Err(failure) => failure,
        };
        let reproduced = replayed.as_ref().is_none_or(|r| same_failure(&failure, r));
        let nondeterministic = matches!(failure.kind, FailureKind::Nondeterministic { .. });
        let replay = self.replay(seed, nondeterministic || !reproduced);
        let mut report = format!("\n\n{failure}\n");
        if !reproduced {
            let again = match &replayed {
                Some(Err(other)) => {
                    let other = other.to_string();
                    let first_line = other.lines().next().unwrap_or_default();
                    format!("it failed differently: {first_line}")
                }
                _ => "the same seed passed".to_string(),
            };
            report.push_str(&format!(
                "\n  did not reproduce on replay ({again}): the code under test is \
                 nondeterministic, so this diagnosis may not be the whole story; the \
                 replay below checks determinism and names the first event where two \
                 runs differ\n"
            ));
        }
        report.push_str(&format!("\n  replay: {replay}\n"));
        if let Some(path) = timeline {
            report.push_str(&format!("  timeline: {path}\n"));
        }
        Err(report)
    }

    fn settings(&self, seed: u64, env: &Env, trace: Option<Trace>) -> RunSettings {
        let mut settings = RunSettings::new(seed);
        settings.subscriber = trace.map(Into::into);
        settings.time_limit = self.time_limit;
        settings.record_events = env.check_determinism;
        settings.busy_after = env.watchdog;
        settings.blocked_after = env.watchdog.min(settings.blocked_after);
        settings
    }

    fn run_seed<F, Fut>(
        &self,
        seed: u64,
        env: &Env,
        body: F,
        trace: Option<Trace>,
    ) -> Result<Passed, Failure>
    where
        F: Fn() -> Fut + Send + Clone + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let first = runtime::run(&self.settings(seed, env, trace), body.clone())?;
        if env.check_determinism {
            let second = runtime::run(&self.settings(seed, env, None), body)?;
            compare(&first, &second)?;
        }
        Ok(Passed {
            virtual_time: first.virtual_time,
            results: first.results,
        })
    }

    /// The one-line command that replays `seed` of this test from the workspace root, with the
    /// determinism check when `check_determinism` (a failure that only shows in two runs
    /// replays only with it). Call it on the test's own thread, whose name is the test's.
    pub fn replay(&self, seed: u64, check_determinism: bool) -> ReplayCommand {
        let package = self.package.clone().unwrap_or_else(|| {
            std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "<package>".into())
        });
        let exe = std::env::current_exe().unwrap_or_default();
        let (profile, target) = build_of(&exe, &package.replace('-', "_"), self.caller.file());
        let test = match std::thread::current().name() {
            Some(name) if name != "main" => name.to_string(),
            _ => "<test name>".to_string(),
        };
        ReplayCommand {
            seed,
            check_determinism: check_determinism || self.check_determinism,
            package,
            profile,
            features: self.features.clone(),
            target,
            test,
        }
    }
}

/// Whether a replay failed as the first run did: the same kind of failure at the same virtual
/// time (messages may differ where they name wall or CPU time). Two runs that each found
/// nondeterminism agree, wherever they found it.
fn same_failure(first: &Failure, replay: &Result<Passed, Failure>) -> bool {
    match replay {
        Ok(_) => false,
        Err(again) => match (&first.kind, &again.kind) {
            (FailureKind::Nondeterministic { .. }, FailureKind::Nondeterministic { .. }) => true,
            (a, b) => again.at == first.at && a.short_name() == b.short_name(),
        },
    }
}

/// Fails with the first event where two runs of the same seed differ.
fn compare(first: &Outcome<()>, second: &Outcome<()>) -> Result<(), Failure> {
    if first.digest == second.digest && first.events == second.events {
        return Ok(());
    }
    let (a, b) = (
        first.log.as_deref().unwrap_or(&[]),
        second.log.as_deref().unwrap_or(&[]),
    );
    let index = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let at = a
        .get(index)
        .or(b.get(index))
        .map(|e| e.at)
        .unwrap_or_default();
    Err(Failure {
        seed: first.seed,
        at,
        kind: FailureKind::Nondeterministic {
            index,
            first: a.get(index).cloned().map(Box::new),
            second: b.get(index).cloned().map(Box::new),
        },
        context: Vec::new(),
    })
}

/// A seed for a run that was given none: drawn from the process's hash randomness, outside any
/// simulation (allowed: this is the one place the framework wants a different value each time).
fn fresh_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5EED);
    hasher.finish() % 1_000_000_000
}
