//! The shard master's grader suite: MIT's 2021 `shardctrler` tests (Lab 4A), by sub-step,
//! gid and operation, with the minimal-transfer check MIT's version means but never makes.
//!
//! `cargo test -p shardmaster 4a` runs them all. `tester.rs` is MIT's `config.go`,
//! `checks.rs` holds the checks on configurations as pure functions (with unit tests of their
//! own), `part4a.rs` the tests `basic_4a` (MIT's TestBasic) and `multi_4a` (TestMulti), and
//! `extra.rs` tests of rules MIT's tests never exercise.

mod checks;
mod extra;
mod masters;
mod part4a;
mod tester;

/// Runs a test body in a simulation; the replay command printed on failure builds the same
/// code (student or reference, for the shard master and for the Raft under it) as this run.
fn run<F, Fut>(body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let features = labtest::features(shardmaster::REFERENCE, &[("raft", raft::REFERENCE)]);
    labtest::run(env!("CARGO_PKG_NAME"), &features, body)
}
