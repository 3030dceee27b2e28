//! The entry point of every grader test: seeds from the environment, failure reports with the
//! command that replays them, runs over many seeds, and the determinism check.
//!
//! | variable | effect |
//! |---|---|
//! | `LAB_SEED=N` | run with seed N (default: a fresh seed per test, printed on failure) |
//! | `LAB_SEEDS=K` | run K consecutive seeds from `LAB_SEED` (or a fresh one); stop at the first failure |
//! | `LAB_CHECK_DETERMINISM=1` | run every seed twice and fail, naming the first divergent event, if the runs differ |
//! | `LAB_WATCHDOG_SECS=S` | let the simulation thread use S seconds of CPU time while virtual time stands still before calling it a busy loop (default 5; also caps the 2 s a run may spend blocked) |
//! | `LAB_TRACE=1` | print every traced event (elections, votes, commits, crashes, drops...) as it happens; `LAB_TRACE=html` writes every run's timeline; by default a failed run is replayed with a trace and leaves its timeline under `target/lab-reports/` |
//! | `LAB_RESULT_LINES=1` | also print `lab-result seed=N status=ok\|panic\|... virtual_ms=T` per seed on stdout, for tools, followed on a passed run by its result fields (`rpcs=R`, see [`add_to_result`](super::add_to_result)) |

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::trace::Trace;

use super::failure::{Failure, FailureKind};
use super::runtime::{self, Config, Outcome};

/// A grader test: how to run it, and how to tell the student to replay it.
#[derive(Clone, Debug)]
pub struct Test {
    time_limit: Duration,
    package: Option<String>,
    cargo_args: String,
    check_determinism: bool,
}

impl Default for Test {
    fn default() -> Self {
        Test {
            time_limit: Duration::from_secs(120),
            package: None,
            cargo_args: String::new(),
            check_determinism: false,
        }
    }
}

/// Runs `body` as a grader test with the defaults of [`Test`]. Call it from a `#[test]` function.
pub fn test<F, Fut>(body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    Test::new().run(body)
}

impl Test {
    /// MIT's limit of 120 virtual seconds, no extra cargo arguments.
    pub fn new() -> Self {
        Self::default()
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

    /// Extra arguments for the replay command, e.g. `--features reference`.
    pub fn cargo_args(mut self, args: impl Into<String>) -> Self {
        self.cargo_args = args.into();
        self
    }

    /// Runs every seed twice and fails if the runs differ, as `LAB_CHECK_DETERMINISM=1` does.
    pub fn check_determinism(mut self, on: bool) -> Self {
        self.check_determinism = on;
        self
    }

    /// Runs the test as the environment asks (see the module docs). Panics with a report that
    /// holds the seed, the virtual time, the diagnosis and the replay command when it fails.
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
            let trace = match env.trace {
                TraceMode::Print => Some(Trace::new(true)),
                TraceMode::Html => Some(Trace::new(false)),
                TraceMode::OnFailure | TraceMode::Off => None,
            };
            let result = self.run_seed(seed, &env, body.clone(), trace.clone());
            if env.result_lines {
                print_result_line(seed, &result);
            }
            let failure = result.as_ref().err();
            let mut replayed = None;
            let timeline = match (failure, env.trace, trace) {
                (_, TraceMode::Html, Some(trace)) => write_timeline(seed, &trace, failure),
                // A thread that never came back to the scheduler may still be spinning or
                // blocked: a second run would only wait as long again.
                (Some(failure), TraceMode::OnFailure, _) if failure.kind.stuck_thread() => None,
                // A failed run is deterministic: run it again with a trace for its timeline,
                // and see that it fails the same way.
                (Some(failure), TraceMode::OnFailure, _) => {
                    let trace = Trace::new(false);
                    replayed = Some(self.run_seed(seed, &env, body.clone(), Some(trace.clone())));
                    write_timeline(seed, &trace, Some(failure))
                }
                _ => None,
            };
            if let (Ok(_), Some(path)) = (&result, &timeline) {
                println!("timeline: {path}");
            }
            if let Err(failure) = result {
                let reproduced = replayed.as_ref().is_none_or(|r| same_failure(&failure, r));
                let replay = if reproduced {
                    self.replay(
                        seed,
                        matches!(failure.kind, FailureKind::Nondeterministic { .. }),
                    )
                } else {
                    self.replay(seed, true)
                };
                let mut report = format!("\n\n{failure}\n");
                if !reproduced {
                    let again = match &replayed {
                        Some(Ok(_)) => "the same seed passed".to_string(),
                        Some(Err(other)) => {
                            let other = other.to_string();
                            let first_line = other.lines().next().unwrap_or_default();
                            format!("it failed differently: {first_line}")
                        }
                        None => unreachable!(),
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
                if env.seeds > 1 {
                    report.push_str(&format!("  ({i} seeds passed before this one)\n"));
                }
                panic!("{report}");
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

    fn config(&self, seed: u64, env: &Env, trace: Option<Trace>) -> Config {
        let mut config = Config::new(seed);
        config.trace = trace;
        config.time_limit = self.time_limit;
        config.record_events = env.check_determinism;
        config.busy_after = env.watchdog;
        config.blocked_after = env.watchdog.min(config.blocked_after);
        config
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
        let first = runtime::run(&self.config(seed, env, trace), body.clone())?;
        if env.check_determinism {
            let second = runtime::run(&self.config(seed, env, None), body)?;
            compare(&first, &second)?;
        }
        Ok(Passed {
            virtual_time: first.virtual_time,
            results: first.results,
        })
    }

    /// The one-line command that replays `seed` of this test, with the determinism check when
    /// `check_determinism` (a failure that only shows in two runs replays only with it).
    pub fn replay(&self, seed: u64, check_determinism: bool) -> String {
        let package = self.package.clone().unwrap_or_else(|| {
            std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "<package>".into())
        });
        let name = std::thread::current().name().unwrap_or("main").to_string();
        let filter = if name == "main" {
            "<test name>".to_string()
        } else {
            name
        };
        let args = if self.cargo_args.is_empty() {
            String::new()
        } else {
            format!(" {}", self.cargo_args)
        };
        let check = if check_determinism || self.check_determinism {
            "LAB_CHECK_DETERMINISM=1 "
        } else {
            ""
        };
        format!("LAB_SEED={seed} {check}cargo test -p {package}{args} {filter} -- --exact")
    }
}

/// What a passed run reports: its virtual time and its result fields.
struct Passed {
    virtual_time: Duration,
    results: BTreeMap<&'static str, u64>,
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

/// The settings read from the environment.
struct Env {
    seed: Option<u64>,
    seeds: u64,
    check_determinism: bool,
    watchdog: Duration,
    /// `LAB_RESULT_LINES=1`: print a machine-readable line per seed (for `cargo lab`).
    result_lines: bool,
    trace: TraceMode,
}

/// What `LAB_TRACE` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TraceMode {
    /// Unset: a failed run is run again with a trace, and leaves its timeline.
    OnFailure,
    /// `LAB_TRACE=1`: print every event as it happens (and the timeline on failure).
    Print,
    /// `LAB_TRACE=html`: write the timeline of every run.
    Html,
    /// `LAB_TRACE=0`: no trace, not even on failure.
    Off,
}

impl Env {
    fn read() -> Result<Env, String> {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        }
        fn number(name: &str) -> Result<Option<u64>, String> {
            var(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        format!("{name}={v:?} is not a number; expected e.g. {name}=1234")
                    })
                })
                .transpose()
        }
        let seeds = number("LAB_SEEDS")?.unwrap_or(1);
        if seeds == 0 {
            return Err("LAB_SEEDS=0 runs nothing; expected at least 1".into());
        }
        let check = var("LAB_CHECK_DETERMINISM");
        let watchdog = number("LAB_WATCHDOG_SECS")?.unwrap_or(5).max(1);
        Ok(Env {
            seed: number("LAB_SEED")?,
            seeds,
            check_determinism: matches!(check.as_deref(), Some(v) if v != "0"),
            watchdog: Duration::from_secs(watchdog),
            result_lines: var("LAB_RESULT_LINES").is_some_and(|v| v != "0"),
            trace: match var("LAB_TRACE").as_deref().map(str::trim) {
                None => TraceMode::OnFailure,
                Some("0" | "off") => TraceMode::Off,
                Some("html") => TraceMode::Html,
                Some(_) => TraceMode::Print,
            },
        })
    }
}

/// Writes a run's timeline under `lab-reports/`, named after the test and the seed; returns its
/// path (or says why it could not).
fn write_timeline(seed: u64, trace: &Trace, failure: Option<&Failure>) -> Option<String> {
    let stem = super::trace::report_stem(seed);
    let name = format!("{stem}-timeline");
    let title = stem.replacen("-seed", ", seed ", 1);
    let mut events = trace.events();
    if let Some(failure) = failure {
        events.push(super::trace::TraceEvent {
            at: failure.at,
            node: "tester".into(),
            kind: "failure".into(),
            text: std::iter::once(failure.kind.to_string())
                .chain(failure.context.iter().cloned())
                .collect::<Vec<_>>()
                .join(". "),
        });
    }
    Some(match super::trace::write_html(&name, &title, &events) {
        Ok(path) => path.display().to_string(),
        Err(e) => format!("(could not write the timeline: {e})"),
    })
}

/// With `LAB_RESULT_LINES=1`, each seed's outcome as one line on stdout, e.g.
/// `lab-result seed=7 status=ok virtual_ms=15230 rpcs=9001` or `... status=deadlock
/// virtual_ms=3000`, which tools read to summarise many runs without parsing messages meant for
/// people. A passed run adds its result fields (`labrpc::sim::add_to_result`), by name.
fn print_result_line(seed: u64, result: &Result<Passed, Failure>) {
    println!("{}", result_line(seed, result));
}

fn result_line(seed: u64, result: &Result<Passed, Failure>) -> String {
    let (status, at) = match result {
        Ok(passed) => ("ok", passed.virtual_time),
        Err(failure) => (failure.kind.short_name(), failure.at),
    };
    let mut line = format!(
        "lab-result seed={seed} status={status} virtual_ms={}",
        at.as_millis()
    );
    if let Ok(passed) = result {
        for (key, value) in &passed.results {
            line.push_str(&format!(" {key}={value}"));
        }
    }
    line
}

/// A seed for a run that was given none: drawn from the process's hash randomness, outside any
/// simulation (allowed: this is the one place the framework wants a different value each time).
fn fresh_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5EED);
    hasher.finish() % 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_carries_a_passed_runs_fields() {
        let passed = Passed {
            virtual_time: Duration::from_millis(15_230),
            results: [("rpcs", 9001), ("ops", 12)].into_iter().collect(),
        };
        assert_eq!(
            result_line(7, &Ok(passed)),
            "lab-result seed=7 status=ok virtual_ms=15230 ops=12 rpcs=9001"
        );
        let failed = Failure {
            seed: 7,
            at: Duration::from_secs(3),
            kind: FailureKind::Deadlock {
                waiting: Vec::new(),
            },
            context: vec!["tester step: x (since 0.000 s)".into()],
        };
        assert_eq!(
            result_line(7, &Err(failed)),
            "lab-result seed=7 status=deadlock virtual_ms=3000"
        );
    }
}
