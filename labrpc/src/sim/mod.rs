//! The deterministic simulation every lab test runs in.
//!
//! One run is one fresh OS thread with one `current_thread` tokio runtime whose clock is paused:
//! whenever no task can run, the clock jumps to the next timer, so `tokio::time::sleep` costs no
//! wall time and a test of 120 virtual seconds finishes in a fraction of a second. All
//! randomness comes from one seed, so a run can be replayed exactly.
//!
//! ```
//! use std::time::Duration;
//! use labrpc::sim;
//!
//! let config = sim::Config::new(42);
//! let outcome = sim::run(&config, || async {
//!     let node = sim::Node::new("server");
//!     let task = node.spawn(async {
//!         tokio::time::sleep(Duration::from_secs(30)).await; // virtual: instant
//!         sim::random_range(0..100)
//!     });
//!     task.await.unwrap()
//! })
//! .unwrap();
//! assert_eq!(outcome.virtual_time, Duration::from_secs(30));
//! # let again = sim::run(&config, || async {
//! #     let node = sim::Node::new("server");
//! #     node.spawn(async { tokio::time::sleep(Duration::from_secs(30)).await; sim::random_range(0..100) }).await.unwrap()
//! # }).unwrap();
//! # assert_eq!((again.value, again.digest), (outcome.value, outcome.digest));
//! ```
//!
//! Grader tests use [`test`] (or [`Test`]), which takes the seed from `LAB_SEED`, runs many
//! seeds with `LAB_SEEDS`, checks determinism with `LAB_CHECK_DETERMINISM=1`, and on failure
//! panics with the seed, the virtual time, a diagnosis and the one-line replay command.
//!
//! # Rules for code that runs in a simulation
//!
//! | instead of | use |
//! |---|---|
//! | `tokio::spawn`, `std::thread`, `spawn_blocking` | [`spawn`] (or [`Node::spawn`]) |
//! | `rand::thread_rng`, `rand::random` | [`random_range`], [`random_duration`], ... |
//! | `std::time::Instant`, `SystemTime`, `std::thread::sleep` | `tokio::time` (virtual) |
//! | `tokio::select!` without `biased;` | `tokio::select! { biased; ... }` |
//! | iterating a `HashMap`/`HashSet` where order matters | `BTreeMap`/`BTreeSet` |
//!
//! What goes wrong otherwise: a task spawned with `tokio::spawn` survives its node's crash; the
//! others make a failing seed impossible to replay.

mod context;
mod digest;
mod failure;
mod node;
mod random;
mod rng;
mod runner;
mod runtime;
pub mod trace;

pub use digest::{DropReason, Event, TimedEvent};
pub use failure::{Failure, FailureKind};
pub use node::{spawn, Node};
pub use random::{random_duration, random_range, random_ratio, random_u64, shuffle};
pub use rng::SimRng;
pub use runner::{test, Test};
pub use runtime::{run, Config, Outcome};

pub(crate) use context::{current_node, NodeId};
pub(crate) use node::{report_panic, spawn_on};
pub(crate) use random::network_below;

use std::time::Duration;

/// Virtual time since the start of the run.
pub fn now() -> Duration {
    context::with(|s| s.now())
}

/// The seed of the running simulation.
pub fn seed() -> u64 {
    context::with(|s| s.seed)
}

/// Records an event in the determinism digest (the network does this for its own events).
pub(crate) fn record(event: Event) {
    context::with(|s| s.record(event))
}

/// Whether node `node` is alive.
pub(crate) fn node_alive(node: NodeId) -> bool {
    context::with(|s| s.nodes.borrow()[node as usize].alive)
}

/// Runs `f` as code of node `node` (what it spawns lands on that node).
pub(crate) fn on_node<R>(node: NodeId, f: impl FnOnce() -> R) -> R {
    context::CURRENT_NODE.sync_scope(node, f)
}
