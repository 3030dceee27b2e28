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
mod thread_probe;
pub mod trace;
mod watchdog;

pub use digest::{DropReason, Event, TimedEvent};
pub use failure::{Failure, FailureKind};
pub use node::{spawn, Node};
pub use random::{random_duration, random_range, random_ratio, random_u64, shuffle};
pub use rng::SimRng;
pub use runner::{test, Test};
pub use runtime::{run, Config, Outcome};

pub(crate) use context::{current_node, NodeId, Role, Shared as SimShared, Site, SiteId};
pub(crate) use node::{run_as, spawn_tracked};
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

/// The id the watchdog knows `site` by.
pub(crate) fn site(site: Site) -> SiteId {
    context::with(|s| s.site(site))
}

/// Fails the run: a thread that is not the simulation's used `what`. Reached through objects
/// that carry the simulation's shared state (a `Network` and its ends), since the foreign
/// thread has no simulation of its own to report to.
pub(crate) fn foreign_thread(shared: &SimShared, what: &str) {
    let at = Duration::from_millis(shared.virtual_ms.load(std::sync::atomic::Ordering::Relaxed));
    shared.fail(at, FailureKind::foreign_thread(what));
}

/// The shared state of the simulation running on this thread, if any.
pub(crate) fn shared() -> Option<std::sync::Arc<SimShared>> {
    context::with_state(|s| s.shared.clone())
}

/// Whether the calling thread runs a simulation.
pub(crate) fn on_simulation_thread() -> bool {
    context::active()
}

/// Fails the run: lab code broke `rule`; `detail` says what happened and how to fix it.
pub(crate) fn fail_rule(rule: &str, detail: String) {
    context::with(|s| {
        s.shared.fail(
            s.now(),
            FailureKind::Rule {
                rule: rule.into(),
                detail,
            },
        )
    });
}

/// The name of node `node`.
pub(crate) fn node_name(node: NodeId) -> String {
    context::with(|s| s.node_name(node))
}
