//! The Raft lab's grader suite: MIT's 2022/2023 tests, by name, parameters and thresholds.
//!
//! `cargo test -p raft 2a` runs part 2A, and so on; `tester.rs` is MIT's `config.go`. Every
//! test is a deterministic simulation with its own seed (see `labrpc::sim`).

mod appliers;
mod churn;
mod extra;
mod late;
mod leaders;
mod members;
mod part2a;
mod part2b;
mod part2c;
mod part2d;
mod part2e;
mod part2f;
mod part2f_rules;
mod peers;
mod tester;

/// Runs a test body in a simulation; the replay command printed on failure builds the same
/// Raft (skeleton or reference) as this run.
fn run<F, Fut>(body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let features = labtest::features(raft::REFERENCE, &[]);
    labtest::run(env!("CARGO_PKG_NAME"), &features, body)
}
