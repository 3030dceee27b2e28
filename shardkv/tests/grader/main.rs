//! The shardkv lab's grader suite: MIT's Lab 4B tests (2021-2023), by name, parameters and
//! thresholds, challenges included.
//!
//! `cargo test -p shardkv` runs them all; `tester.rs` is MIT's `shardkv/config.go`. Every
//! sleep and deadline is in the simulation's virtual time, so the whole suite takes about a
//! second of wall time in release builds.
//!
//! | file | tests |
//! |---|---|
//! | `part4b.rs` | static shards, join then leave, snapshots, missed configuration changes |
//! | `concurrent.rs` | clerks appending during configuration changes and restarts |
//! | `unreliable.rs` | the same on an unreliable network, with a linearizability check |
//! | `challenge.rs` | shard deletion (challenge 1), unaffected and partial shard access (2) |
//! | `late.rs` | not MIT's: a Pull reply delivered late, after the group moved on |

mod challenge;
mod concurrent;
mod late;
/// The shard masters as the shardmaster tester starts them: one copy for both testers.
#[path = "../../../shardmaster/tests/grader/masters.rs"]
mod masters;
mod part4b;
mod tester;
mod unreliable;

/// Runs a test body in a simulation; the replay command printed on failure builds the same
/// code (student or reference shardkv, shard master and Raft) as this run.
fn run<F, Fut>(body: F)
where
    F: Fn() -> Fut + Send + Clone + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let features = labtest::features(
        shardkv::REFERENCE,
        &[
            ("shardmaster", shardmaster::REFERENCE),
            ("raft", raft::REFERENCE),
        ],
    );
    labtest::run(env!("CARGO_PKG_NAME"), &features, body)
}
