//! labtest: tester support shared by the labs' grader suites.
//!
//! * [`EndMaker`]: fresh client ends for every peer incarnation and clerk.
//! * [`describe_mismatch`]: where a wrong value parts from the expected one, in one line.
//! * [`report`]: the "Test (2A): ... / ... Passed --" lines, in virtual time.
//! * [`linearizability`]: porcupine-style linearizability checking of client histories, with a
//!   key/value model and HTML reports.
//! * [`run`]: runs a grader test in a simulation, with the replay command of the calling lab.
//!
//! The simulation itself (seeds, virtual time, watchdog) lives in `labrpc::sim`.

mod diff;
mod ends;
pub mod linearizability;
pub mod report;

pub use diff::describe_mismatch;
pub use ends::EndMaker;

use std::future::Future;

/// Runs a grader test of lab crate `package` in a simulation (see `labrpc::sim::Test`).
/// `features` are the cargo features the lab was built with (`"reference"`,
/// `"raft/reference"`, or none: `""`), so that the replay command printed on failure builds
/// the same code. Call it as `labtest::run(env!("CARGO_PKG_NAME"), features, body)`.
pub fn run<F, Fut>(package: &str, features: &str, body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let args = if features.is_empty() {
        String::new()
    } else {
        format!("--features {features}")
    };
    // `LAB_INJECT_FAILURE=k` fails every run whose seed is a multiple of k, at its start: for
    // testing tools that run tests (`cargo lab stress` must report those seeds, and their replay
    // commands must fail again), never for grading.
    let inject = std::env::var("LAB_INJECT_FAILURE")
        .ok()
        .and_then(|k| k.trim().parse::<u64>().ok())
        .filter(|&k| k > 0);
    labrpc::sim::Test::new()
        .package(package)
        .cargo_args(args)
        .run(move || {
            let body = body.clone();
            async move {
                if let Some(k) = inject {
                    let seed = labrpc::sim::seed();
                    assert!(seed % k != 0, "injected failure (LAB_INJECT_FAILURE={k})");
                }
                body().await
            }
        })
}
