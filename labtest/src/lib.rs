//! labtest: tester support shared by the labs' grader suites.
//!
//! * [`Cluster`]: a group of servers through crashes, restarts and partitions (MIT's
//!   `ServerGrp`), for every lab's tester; [`OnNode`]: a server or clerk with its node.
//! * [`EndMaker`]: fresh client ends for every peer incarnation and clerk.
//! * [`describe_mismatch`]: where a wrong value parts from the expected one, in one line.
//! * [`fail_without_a_leader`]: a service's Raft that never elects a leader, said at once.
//! * [`report`]: the "Test (2A): ... / ... Passed --" lines, in virtual time.
//! * [`step`] and [`clerk_call`]: what the tester is doing (its step, the clerk calls in
//!   flight), named by the report of a run that fails meanwhile (time limit, deadlock, busy
//!   loop, blocked thread, panic).
//! * [`linearizability`]: porcupine-style linearizability checking of client histories, with a
//!   key/value model and HTML reports.
//! * [`run`]: runs a grader test in a simulation, with the replay command of the calling lab.
//!
//! The simulation itself (seeds, virtual time, watchdog) lives in `labrpc::sim`.

mod cluster;
mod diff;
mod ends;
mod leader_watch;
pub mod linearizability;
mod on_node;
pub mod report;

pub use cluster::{Boot, Cluster, ServerKind, ServerName};
pub use diff::describe_mismatch;
pub use ends::{EndMaker, Links};
/// The tester's step and clerk calls in flight (kept by `labrpc::sim`, whose watchdog reports
/// them from its own thread when the simulation thread is stuck). Guards: `let _step =
/// labtest::step("waiting for one leader");`, `let _call = labtest::clerk_call("clerk3", "Get",
/// &format!("{key:?}"));`; for testers that print a title and later "Passed",
/// `labtest::section(title)` and `labtest::end_section()`.
pub use labrpc::sim::{clerk_call, end_section, section, step, Registered};
pub use leader_watch::{fail_without_a_leader, FIRST_LEADER_WITHIN};
pub use on_node::OnNode;

use std::future::Future;

/// The cargo features a lab's build was made with, for its replay command: `reference` when
/// the lab itself is the reference solution, and `<layer>/reference` for each layer below it
/// that is (`features(kvraft::REFERENCE, &[("raft", raft::REFERENCE)])` is
/// `"reference,raft/reference"` on the reference layers, `"raft/reference"` for a student's
/// kvraft on the reference Raft, `""` for the student's own code throughout).
pub fn features(reference: bool, layers_below: &[(&str, bool)]) -> String {
    let own = reference.then(|| "reference".to_string());
    let below = layers_below
        .iter()
        .filter(|(_, reference)| *reference)
        .map(|(layer, _)| format!("{layer}/reference"));
    own.into_iter().chain(below).collect::<Vec<_>>().join(",")
}

/// Runs a grader test of lab crate `package` in a simulation (see `labrpc::sim::Test`).
/// `features` are the cargo features the lab was built with (see [`features`]), so that the
/// replay command printed on failure builds the same code; the profile and the test binary
/// (`--test grader`) it reads from the running executable. Call it as
/// `labtest::run(env!("CARGO_PKG_NAME"), &features, body)`.
#[track_caller]
pub fn run<F, Fut>(package: &str, features: &str, body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    labrpc::sim::Test::new()
        .package(package)
        .features(features)
        .run(body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn features_name_the_lab_and_each_reference_layer_below() {
        let f = super::features;
        assert_eq!(f(false, &[("raft", false)]), "");
        assert_eq!(f(true, &[]), "reference");
        assert_eq!(f(false, &[("raft", true)]), "raft/reference");
        assert_eq!(
            f(true, &[("shardmaster", true), ("raft", true)]),
            "reference,shardmaster/reference,raft/reference"
        );
        assert_eq!(f(true, &[("raft", false)]), "reference");
    }
}
