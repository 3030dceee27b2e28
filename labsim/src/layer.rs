//! The kernel's interface for the layers built on it, such as labrpc's network. Not for lab
//! code, which uses the crate's top-level API (`labrpc::sim::spawn`, `random_range`, ...).
//!
//! A layer adds machinery to the simulation that lab code talks to: the network carries calls
//! between nodes, runs each handler as code of its server's node, draws its delays and losses
//! from a stream of its own, records what it does in the determinism digest, and fails the run
//! when lab code breaks one of its rules. Everything here exists for one of those:
//!
//! | a layer wants to | with |
//! |---|---|
//! | know which node is calling | [`current_node`], [`node_alive`], [`node_name`] |
//! | run code as a node's ([`Role`]), named for the watchdog ([`Site`]) | [`run_as`], [`spawn_tracked`], [`site`] |
//! | draw from a stream apart from the nodes' | [`random_below`] |
//! | record its events in the digest | [`record`] with a [`DigestEvent`] |
//! | fail the run | [`fail_rule`], or [`foreign_thread`] with the [`RunHandle`] of [`current_run`] from a thread that is not the simulation's |

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub use crate::context::{NodeId, Role};
pub use crate::digest::{DigestEvent, Mixer};
pub use crate::node::{run_as, spawn_tracked};
pub use crate::site::{Site, SiteId};

use crate::context::{self, Shared};
use crate::failure::FailureKind;

/// The node the calling code runs on, for `what` it is about to do (e.g. "ClientEnd::call").
/// Code outside every node breaks the rule that lab code runs on its node: the run fails with
/// that rule, and the call goes on as the tester's until the run stops.
#[inline]
pub fn current_node(what: &str) -> NodeId {
    context::current_node(what)
}

/// Whether node `node` is alive (has not crashed).
#[inline]
pub fn node_alive(node: NodeId) -> bool {
    context::with(|s| s.nodes.borrow()[node as usize].alive)
}

/// The name of node `node` ("tester" for node 0).
pub fn node_name(node: NodeId) -> String {
    context::with(|s| s.node_name(node))
}

/// The id the watchdog knows `site` by, to pass to [`run_as`] and [`spawn_tracked`].
#[inline]
pub fn site(site: Site) -> SiteId {
    context::with(|s| s.site(site))
}

/// A uniform value in `0..n` from the layers' own random stream (stream 0), apart from every
/// node's: lab code drawing more or fewer numbers does not change the network's decisions.
/// Every draw is recorded in the digest.
#[inline]
pub fn random_below(n: u64) -> u64 {
    crate::random::layer_below(n)
}

/// Records `event`, stamped with the virtual time, in the determinism digest. Allocates nothing
/// unless the run keeps its events (`LAB_CHECK_DETERMINISM=1`).
#[inline]
pub fn record<E: DigestEvent>(event: E) {
    context::with(|s| s.record(event))
}

/// Fails the run: lab code broke `rule`; `detail` says what happened and how to fix it.
pub fn fail_rule(rule: &str, detail: String) {
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

/// A handle on a running simulation, to fail it from a thread that is not its own.
#[derive(Clone)]
pub struct RunHandle(Arc<Shared>);

impl std::fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunHandle")
    }
}

/// The simulation running on this thread, if any. A layer keeps it in the objects lab code may
/// carry to another thread (a `Network` and its ends), since that thread has no simulation of
/// its own to report to.
pub fn current_run() -> Option<RunHandle> {
    context::with_state(|s| RunHandle(s.shared.clone()))
}

/// Whether the calling thread runs a simulation.
#[inline]
pub fn on_simulation_thread() -> bool {
    context::active()
}

/// Fails `run`: a thread that is not the simulation's used `what`.
pub fn foreign_thread(run: &RunHandle, what: &str) {
    let at = Duration::from_millis(run.0.virtual_ms.load(Ordering::Relaxed));
    run.0.fail(at, FailureKind::foreign_thread(what));
}
