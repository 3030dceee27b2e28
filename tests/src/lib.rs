//! labtest: tester support shared by the labs' grader suites.
//!
//! * [`report`]: the "Test (2A): ... / ... Passed --" lines, in virtual time.
//! * [`linearizability`]: porcupine-style linearizability checking of client histories, with a
//!   key/value model and HTML reports.
//! * [`run`]: runs a grader test in a simulation, with the replay command of the calling lab.
//!
//! The simulation itself (seeds, virtual time, watchdog) lives in `labrpc::sim`.

pub mod linearizability;
pub mod report;

use std::future::Future;

/// Runs a grader test of a lab crate in a simulation (see `labrpc::sim::Test`). `reference`
/// says whether the lab was built with its `reference` feature, so the replay command printed
/// on failure builds the same code.
pub fn run<F, Fut>(reference: bool, body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let args = if reference {
        "--features reference"
    } else {
        ""
    };
    labrpc::sim::Test::new().cargo_args(args).run(body)
}
