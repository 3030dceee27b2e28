//! The kvraft lab's grader suite: MIT's 2022 tests, by name, parameters and thresholds.
//!
//! `cargo test -p kvraft 3a` runs part 3A; part 3C (`part3c.rs`) is beyond MIT; `tester.rs`
//! is MIT's `config.go`, `generic.rs` its `GenericTest`. Every GenericTest records its history
//! and checks it for linearizability.

mod generic;
mod history;
mod part3a;
mod part3b;
mod part3c;
mod tester;

/// Runs a test body in a simulation; the replay command printed on failure builds the same
/// code (student or reference, for kvraft and for the Raft under it) as this run.
fn run<F, Fut>(body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let features = labtest::features(kvraft::REFERENCE, &[("raft", raft::REFERENCE)]);
    labtest::run(env!("CARGO_PKG_NAME"), &features, body)
}
