//! The simulation's contract with lab code, tried on deliberately misbehaving peers.
//!
//! The handout states rules for lab code (spawn with `labrpc::sim::spawn`, never block the
//! simulation thread, no wall clock, no thread RNG...). A grader is judged on code its authors
//! did not write, so for each rule the tests in `tests/` run a small peer that breaks it and
//! check the verdict: that the run fails, that the diagnosis names the rule and the peer, and
//! that it comes within a bound of wall time that holds on a loaded 2-core machine.
//!
//! This library holds what those tests share: a ping RPC, a peer that serves it, and a way to
//! run a body and time its verdict.

use std::time::{Duration, Instant}; // allowed: the tests bound how long a verdict takes

use labrpc::sim::{self, Failure, Node};
use labrpc::{ClientEnd, Network, Rpc, Server, Service};
use serde::{Deserialize, Serialize};

/// The RPC every peer serves: answers with its argument.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ping(pub u64);

impl Rpc for Ping {
    type Reply = u64;
    const NAME: &'static str = "Peer.Ping";
}

/// A peer: a node with a `Peer` service registered under its name on `net`, and an end from the
/// caller's side, connected and enabled.
pub struct Peer {
    /// The peer's node.
    pub node: Node,
    /// An end to the peer.
    pub end: ClientEnd,
}

/// Starts peer `name` on `net`, serving `Ping` with `handler` (which runs on the peer's node).
pub fn peer<F, Fut>(net: &Network, name: &str, handler: F) -> Peer
where
    F: Fn(Ping) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let node = Node::new(name);
    let server = node.enter(|| {
        let mut server = Server::new();
        server.add_service(Service::new("Peer").handle(handler));
        server
    });
    net.add_server(name, server);
    let end_name = format!("to-{name}");
    let end = net.make_end(end_name.clone());
    net.connect(&end_name, name);
    net.enable(&end_name, true);
    Peer { node, end }
}

/// A serving peer that answers at once.
pub fn echo_peer(net: &Network, name: &str) -> Peer {
    peer(net, name, |Ping(n)| async move { n })
}

/// The run settings of contract tests: the usual limits, with the watchdog's budgets cut to
/// one second so that the suite stays short (the defaults are 5 s of CPU and 2 s blocked).
pub fn settings(seed: u64) -> sim::RunSettings {
    let mut settings = sim::RunSettings::new(seed);
    settings.busy_after = Duration::from_secs(1);
    settings.blocked_after = Duration::from_secs(1);
    settings
}

/// Runs `body` and returns its failure (panicking if it passed) and the wall time it took.
pub fn failure_of<F, Fut>(settings: &sim::RunSettings, body: F) -> (Failure, Duration)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let started = Instant::now();
    let result = sim::run(settings, body);
    let wall = started.elapsed();
    match result {
        Ok(outcome) => panic!(
            "the run passed (virtual time {:?}), but it breaks a rule",
            outcome.virtual_time
        ),
        Err(failure) => (failure, wall),
    }
}

/// Asserts that `text` holds every one of `words`.
#[track_caller]
pub fn assert_mentions(text: &str, words: &[&str]) {
    for word in words {
        assert!(text.contains(word), "expected {word:?} in:\n{text}");
    }
}

/// The wall time a verdict may take on a loaded 2-core machine: the watchdog's budget of 1 s
/// (CPU or blocked), its 2 s grace for a thread that does not come back, and a margin for a
/// machine that gives the simulation thread a third of a core.
pub const VERDICT_WITHIN: Duration = Duration::from_secs(20);
